import Logging
import NIOConcurrencyHelpers

/// Log levels per area, settable from the console (`log level …`). An area is the Swift module a
/// message comes from, lowercased: `impulseserver` (SMTP sessions, the policy, the console),
/// `spool`, `resolver`, `impulse` (start and stop). Unset areas use the default level.
public final class LogLevels: Sendable {
    public static let shared = LogLevels()
    public static let areas = ["impulse", "impulseserver", "spool", "resolver"]

    private struct State {
        var `default` = Logger.Level.info
        var areas: [String: Logger.Level] = [:]
        /// The lowest level any area lets through, kept with the levels (every log call reads it).
        var minimum = Logger.Level.info

        mutating func update() { minimum = ([`default`] + areas.values).min() ?? `default` }
    }

    private let state = NIOLockedValueBox(State())

    public var defaultLevel: Logger.Level {
        get { state.withLockedValue { $0.default } }
        set {
            state.withLockedValue {
                $0.default = newValue
                $0.update()
            }
        }
    }

    public func level(for area: String) -> Logger.Level {
        state.withLockedValue { $0.areas[area.lowercased()] ?? $0.default }
    }

    public func set(_ level: Logger.Level?, for area: String) {
        state.withLockedValue {
            $0.areas[area.lowercased()] = level
            $0.update()
        }
    }

    /// The lowest level any area lets through (what loggers must pass on to the handler).
    package var minimum: Logger.Level { state.withLockedValue { $0.minimum } }
}

/// Filters by the area's level, then hands the entry to `wrapped` (stderr, paniclog, the recent
/// entries), which apply their own levels too.
public struct AreaLevelLogHandler: LogHandler {
    package var wrapped: LogHandler
    package let levels: LogLevels

    public init(wrapping handler: LogHandler, levels: LogLevels = .shared) {
        wrapped = handler
        self.levels = levels
    }

    public var logLevel: Logger.Level {
        get { levels.minimum }
        set { levels.defaultLevel = newValue }
    }

    public var metadata: Logger.Metadata {
        get { wrapped.metadata }
        set { wrapped.metadata = newValue }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { wrapped[metadataKey: key] }
        set { wrapped[metadataKey: key] = newValue }
    }

    public func log(event: LogEvent) {
        guard event.level >= levels.level(for: event.source) else { return }
        wrapped.log(event: event)
    }
}
