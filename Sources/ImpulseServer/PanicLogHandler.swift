import Foundation
import Logging
import NIOConcurrencyHelpers
#if canImport(Glibc)
import Glibc
#endif

/// Writes notices, warnings and errors to the `ec_logger` paniclog in Momentum's line shape,
/// `<epoch>:<text>` (spec logs.md §7), continuation lines indented with a tab so a reader keyed
/// on `^[0-9]+:` still finds each entry. Used next to the stderr handler.
public struct PanicLogHandler: LogHandler {
    /// The open file, shared by every logger of the process.
    public final class File: Sendable {
        let fd: Int32
        let lock = NIOLock()

        /// Opens (creating directories and the file, mode 0644) for appending.
        public init(path: String) throws {
            let directory = (path as NSString).deletingLastPathComponent
            if !directory.isEmpty {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            }
            fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
            if fd < 0 { throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: path]) }
        }

        deinit { close(fd) }

        func append(_ line: String) {
            var bytes = Array(line.utf8)
            bytes.append(UInt8(ascii: "\n"))
            lock.withLock {
                _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            }
        }
    }

    let file: File
    /// Notices too: start-up lines and what scripts `print`, as Momentum's paniclog has them.
    public var logLevel: Logger.Level = .notice
    public var metadata: Logger.Metadata = [:]

    public init(file: File) { self.file = file }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        file.append(Self.entry(event, metadata: metadata))
    }

    /// `<epoch>:<message> (key=value …)`, continuation lines indented with a tab.
    static func entry(_ event: LogEvent, metadata: Logger.Metadata) -> String {
        var text = event.message.description
        let merged = metadata.merging(event.metadata ?? [:]) { _, new in new }
        if !merged.isEmpty {
            text += " (" + merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ") + ")"
        }
        return "\(Int(Date().timeIntervalSince1970)):" + text.replacingOccurrences(of: "\n", with: "\n\t")
    }
}
