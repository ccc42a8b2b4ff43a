import Foundation
import Resolver

/// `make bench-dns`: what one DNS look-up costs the server, in CPU time of this process (user +
/// system, every thread: the callers' and the resolver thread's), for look-ups that go to the
/// name server and for cache hits. Arguments: NAMESERVER (ip@port) MODE (miss | hit) COUNT.
/// Names for `miss` are `n<i>.<zone>` with ZONE the fourth argument (default wild.itest), each
/// asked once; `hit` asks one name COUNT times.
let arguments = CommandLine.arguments
guard arguments.count >= 4, let count = Int(arguments[3]), ["miss", "hit"].contains(arguments[2]) else {
    FileHandle.standardError.write(Data("usage: DNSBench NAMESERVER miss|hit COUNT [ZONE]\n".utf8))
    exit(2)
}
let zone = arguments.count > 4 ? arguments[4] : "wild.itest"
let resolver = try DNSResolver(nameservers: [arguments[1]], resolvConf: nil)
let hit = arguments[2] == "hit"
if hit { _ = resolver.lookup("n0.\(zone)", type: .a) }

func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
        + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1_000_000
}

let failures = FailureCount()
let startCPU = cpuSeconds()
let startWall = Date()
// Waves of 64 look-ups, as from 64 sessions at once; the next wave starts when all are answered.
var next = 0
while next < count {
    let wave = DispatchGroup()
    for index in next..<min(count, next + 64) {
        wave.enter()
        resolver.lookup(hit ? "n0.\(zone)" : "n\(index + 1).\(zone)", type: .a) { answer in
            if case .failure = answer { failures.add() }
            wave.leave()
        }
    }
    wave.wait()
    next += 64
}
let cpu = cpuSeconds() - startCPU
let wall = Date().timeIntervalSince(startWall)
let statistics = resolver.statistics
print(
    String(
        format:
            "%@: %d look-ups, %.2f µs CPU each, %.0f look-ups/s, %d failed; queries %d, cache hits %d, coalesced %d",
        arguments[2], count, cpu / Double(count) * 1_000_000, Double(count) / wall, failures.value,
        statistics.queries, statistics.cacheHits, statistics.coalesced))
resolver.shutdown()

final class FailureCount: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func add() { lock.withLock { count += 1 } }
    var value: Int { lock.withLock { count } }
}
