import NIOConcurrencyHelpers

/// A setting every session reads and `config reload` replaces as a whole (reception signing,
/// sender authentication); nil when the configuration does not ask for it.
package final class SharedSetting<Value: Sendable>: Sendable {
    private let current = NIOLockedValueBox<Value?>(nil)

    package init() {}

    package var value: Value? { current.withLockedValue { $0 } }

    package func replace(_ value: Value?) { current.withLockedValue { $0 = value } }
}
