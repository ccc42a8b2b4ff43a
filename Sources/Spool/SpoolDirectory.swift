import Foundation
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// The spool's directories under `spoolbase`:
///
///     IMPULSE-SPOOL-VERSION   "1"
///     tmp/                    files being written (never acknowledged)
///     queue/0 … queue/f/      one file per accepted message, named by its id
///     quarantine/             damaged files moved aside at start-up, never deleted
public struct SpoolDirectory: Sendable {
    public static let shardCount = 16

    public let base: String
    public let mode: Int
    public var tmp: String { base + "/tmp" }
    public var queue: String { base + "/queue" }
    public var quarantine: String { base + "/quarantine" }

    public init(base: String, mode: Int = 0o640) {
        self.base = base
        self.mode = mode
    }

    /// The shard a message id lives in: its last hex digit.
    public func shard(for id: String) -> String {
        queue + "/" + String(id.last.map { $0.lowercased() } ?? "0")
    }

    public func path(for id: String) -> String { shard(for: id) + "/" + id }

    /// Creates the layout if needed and checks the version stamp.
    public func prepare() throws(SpoolError) {
        var directories = [base, tmp, queue, quarantine]
        for index in 0..<Self.shardCount { directories.append(queue + "/" + String(index, radix: 16)) }
        for directory in directories {
            if mkdir(directory, 0o750) != 0 && errno != EEXIST { throw SpoolError("mkdir", directory, errno: errno) }
        }
        let stamp = base + "/IMPULSE-SPOOL-VERSION"
        if let existing = FileManager.default.contents(atPath: stamp) {
            let text = String(decoding: existing, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard text == "\(SpoolFileFormat.version)" else { throw SpoolError("unsupported spool version '\(text)' in", stamp, errno: EINVAL) }
        } else if !FileManager.default.createFile(atPath: stamp, contents: Data("\(SpoolFileFormat.version)\n".utf8)) {
            throw SpoolError("create", stamp, errno: errno)
        }
    }

    /// One accepted message found on disk.
    public struct Entry: Sendable {
        public var envelope: SpoolEnvelope
        public var path: String
        public var dataLength: Int
    }

    /// Every intact message in the queue, oldest first. Damaged files, and anything left in tmp/,
    /// are moved to quarantine/ and logged (unless `readOnly`, when they are only reported).
    public func scan(readOnly: Bool, logger: Logger?) -> (entries: [Entry], damaged: [(path: String, reason: String)]) {
        var entries: [Entry] = []
        var damaged: [(String, String)] = []
        let fileManager = FileManager.default
        for index in 0..<Self.shardCount {
            let shard = queue + "/" + String(index, radix: 16)
            for name in (try? fileManager.contentsOfDirectory(atPath: shard)) ?? [] {
                let path = shard + "/" + name
                switch SpoolFileFormat.inspect(path: path, expectedID: name) {
                case .success(let (envelope, _, dataLength)):
                    entries.append(Entry(envelope: envelope, path: path, dataLength: dataLength))
                case .failure(let damage):
                    damaged.append((path, damage.reason))
                    if !readOnly { quarantine(path: path, reason: damage.reason, logger: logger) }
                }
            }
        }
        for name in (try? fileManager.contentsOfDirectory(atPath: tmp)) ?? [] {
            let path = tmp + "/" + name
            damaged.append((path, "left in tmp/ by an interrupted write (never acknowledged)"))
            if !readOnly { quarantine(path: path, reason: "interrupted write", logger: logger) }
        }
        entries.sort { $0.envelope.receivedAtMicros < $1.envelope.receivedAtMicros }
        return (entries, damaged)
    }

    func quarantine(path: String, reason: String, logger: Logger?) {
        let name = (path as NSString).lastPathComponent
        var target = quarantine + "/" + name
        var attempt = 1
        while FileManager.default.fileExists(atPath: target) {
            attempt += 1
            target = quarantine + "/" + name + "." + String(attempt)
        }
        if rename(path, target) == 0 {
            logger?.error("spool: quarantined damaged file", metadata: ["file": "\(path)", "reason": "\(reason)", "moved_to": "\(target)"])
        } else {
            logger?.critical("spool: cannot quarantine damaged file; left in place and not served",
                             metadata: ["file": "\(path)", "reason": "\(reason)", "errno": "\(errno)"])
        }
    }
}
