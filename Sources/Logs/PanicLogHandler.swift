import Foundation
import Logging
import NIOConcurrencyHelpers

#if canImport(Glibc)
    import Glibc
#endif

/// Writes notices, warnings and errors to the `ec_logger` paniclog in Momentum's line shape,
/// `<epoch>:<text>` (Momentum's paniclog layout), continuation lines indented with a tab so a reader keyed
/// on `^[0-9]+:` still finds each entry. Used next to the stderr handler.
public struct PanicLogHandler: LogHandler {
    /// The open file, shared by every logger of the process.
    public final class File: Sendable {
        let path: String
        let fd: NIOLockedValueBox<Int32>
        /// Every paniclog opened in this process (the console's `reopen logs` reopens them).
        static let opened = NIOLockedValueBox<[File]>([])

        /// Opens (creating directories and the file, mode 0640) for appending.
        public init(path: String) throws {
            self.path = path
            let directory = (path as NSString).deletingLastPathComponent
            if !directory.isEmpty {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            }
            let opened = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
            if opened < 0 { throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: path]) }
            fd = NIOLockedValueBox(opened)
            Self.opened.withLockedValue { $0.append(self) }
        }

        deinit { fd.withLockedValue { _ = close($0) } }

        /// Opens the path again (after a rotation renamed the file); false when it cannot.
        func reopen() -> Bool {
            let fresh = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
            guard fresh >= 0 else { return false }
            fd.withLockedValue { current in
                close(current)
                current = fresh
            }
            return true
        }

        /// Reopens every paniclog; returns the paths that could not be opened.
        package static func reopenAll() -> [String] {
            opened.withLockedValue { $0 }.filter { !$0.reopen() }.map(\.path)
        }

        func append(_ line: String) {
            var bytes = Array(line.utf8)
            bytes.append(UInt8(ascii: "\n"))
            fd.withLockedValue { fd in
                _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            }
        }
    }

    package let file: File
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
    package static func entry(_ event: LogEvent, metadata: Logger.Metadata) -> String {
        var text = event.message.description
        let merged = metadata.merging(event.metadata ?? [:]) { _, new in new }
        if !merged.isEmpty {
            text +=
                " (" + merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ") + ")"
        }
        return "\(Int(Date().timeIntervalSince1970)):" + text.replacingOccurrences(of: "\n", with: "\n\t")
    }
}
