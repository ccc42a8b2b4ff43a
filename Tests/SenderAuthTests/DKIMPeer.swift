import Foundation
import XCTest

/// Keys made with openssl and checks made with dkimpy (tests/tools/dkim_peer.py), an
/// implementation independent of Impulse's, in a temporary directory of their own.
struct DKIMPeer {
    let directory: URL
    private static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("tests/tools/dkim_peer.py").path

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("dkim-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    func remove() { try? FileManager.default.removeItem(at: directory) }

    @discardableResult
    func run(_ arguments: [String]) throws -> (status: Int32, output: [UInt8]) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, Array(data))
    }

    /// A fresh key pair: the private key's path and the TXT record that publishes it.
    func makeKey(ed25519: Bool, bits: Int = 1024) throws -> (path: String, record: String) {
        let path = directory.appendingPathComponent(ed25519 ? "ed.pem" : "rsa\(bits).pem").path
        if ed25519 {
            try run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", path])
            let der = try run(["openssl", "pkey", "-in", path, "-pubout", "-outform", "DER"]).output
            return (path, "v=DKIM1; k=ed25519; p=" + Data(der.suffix(32)).base64EncodedString())
        }
        try run(["openssl", "genrsa", "-traditional", "-out", path, String(bits)])
        let der = try run(["openssl", "rsa", "-in", path, "-pubout", "-outform", "DER"]).output
        return (path, "v=DKIM1; k=rsa; p=" + Data(der).base64EncodedString())
    }

    /// Whether dkimpy finds every DKIM-Signature of `signed` good with `keys` (key name → record).
    func verifies(_ signed: [UInt8], keys: [String: String]) throws -> Bool {
        let messagePath = directory.appendingPathComponent("signed.eml").path
        let keysPath = directory.appendingPathComponent("keys.json").path
        _ = FileManager.default.createFile(atPath: messagePath, contents: Data(signed))
        _ = FileManager.default.createFile(atPath: keysPath, contents: try JSONEncoder().encode(keys))
        return try run(["python3", Self.script, "verify", messagePath, keysPath]).status == 0
    }

    /// `message` signed by dkimpy.
    func sign(_ message: [UInt8], key: String, algorithm: String, canon: String) throws -> [UInt8] {
        let messagePath = directory.appendingPathComponent("plain.eml").path
        _ = FileManager.default.createFile(atPath: messagePath, contents: Data(message))
        let result = try run(["python3", Self.script, "sign", messagePath, key, "sel", "example.test", algorithm, canon]
        )
        XCTAssertEqual(result.status, 0, "dkimpy could not sign")
        return result.output
    }
}
