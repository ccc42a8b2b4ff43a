import Foundation
import Logging
import NIOConcurrencyHelpers

/// The last paniclog-level entries (notice and up), for the console's `paniclog` command; kept
/// whether or not a paniclog file is configured.
public struct RecentLogHandler: LogHandler {
    /// The process-wide ring of entries, `<epoch>:<text>` like the paniclog.
    public final class Ring: Sendable {
        private let entries = NIOLockedValueBox<[String]>([])
        let capacity: Int

        public init(capacity: Int = 200) { self.capacity = capacity }

        func append(_ entry: String) {
            entries.withLockedValue { entries in
                entries.append(entry)
                if entries.count > capacity { entries.removeFirst(entries.count - capacity) }
            }
        }

        /// The newest `count` entries, oldest first.
        public func last(_ count: Int) -> [String] { entries.withLockedValue { Array($0.suffix(count)) } }
    }

    public static let shared = Ring()

    package let ring: Ring
    public var logLevel: Logger.Level = .notice
    public var metadata: Logger.Metadata = [:]

    public init(ring: Ring = RecentLogHandler.shared) { self.ring = ring }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        ring.append(PanicLogHandler.entry(event, metadata: metadata))
    }
}
