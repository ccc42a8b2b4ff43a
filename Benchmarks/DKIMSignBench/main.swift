import Foundation
import SenderAuth

/// `make bench-dkim`: what one DKIM signature of a 1 KiB message costs, in CPU time of this
/// process, with the key decoded once as the server keeps it. Arguments: KEY (PEM path) COUNT
/// [ALGORITHM: rsa-sha256 | ed25519-sha256].
let arguments = CommandLine.arguments
guard arguments.count >= 3, let count = Int(arguments[2]) else {
    FileHandle.standardError.write(Data("usage: DKIMSignBench KEY COUNT [ALGORITHM]\n".utf8))
    exit(2)
}
let algorithm = DKIMAlgorithm(rawValue: arguments.count > 3 ? arguments[3] : "rsa-sha256") ?? .rsaSHA256
let key = try DKIMPrivateKey.load(path: arguments[1])
let line = "The quick brown fox jumps over the lazy dog, again and again, for the benchmark.\r\n"
let message = Array(
    ("Received: from client.example ([127.0.0.1])\r\n\tby impulse.example; Sat, 5 Dec 2026 06:00:00 +0000\r\n"
        + "From: Alice <alice@example.test>\r\nTo: bob@example.net\r\nSubject: benchmark\r\n"
        + "Date: Sat, 05 Dec 2026 06:00:00 +0000\r\nMessage-ID: <bench@example.test>\r\n\r\n"
        + String(repeating: line, count: 12)).utf8)
let request = DKIMSigningRequest(
    domain: "example.test", selector: "bench", key: key, headerCanonicalization: .relaxed,
    bodyCanonicalization: .relaxed, algorithm: algorithm)

func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
        + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1_000_000
}

let start = cpuSeconds()
var octets = 0
for _ in 0..<count { octets += try DKIMSigner.sign(message, with: request).utf8.count }
let spent = cpuSeconds() - start
if count > 0 {
    print(
        String(
            format: "%@: %.1f µs of CPU per signature (%d signatures of a %d-octet message)", algorithm.rawValue,
            spent / Double(count) * 1_000_000, count, message.count))
}
