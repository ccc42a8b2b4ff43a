/// One connection- or message-context key to set (`message` false: the connection context).
public struct ContextUpdate: Equatable, Sendable {
    public var message: Bool
    public var key: String
    public var value: String

    public init(message: Bool, key: String, value: String) {
        self.message = message
        self.key = key
        self.value = value
    }
}
