/// One `Listen` socket of the `HTTP_Listener` with the settings it serves under (docs/http-api.md):
/// who may use it and how much one client may send.
public struct HTTPListen: Sendable, Equatable {
    public var address: ListenAddress
    public var settings: HTTPListenerSettings

    public init(address: ListenAddress, settings: HTTPListenerSettings) {
        self.address = address
        self.settings = settings
    }
}

/// The options of an `HTTP_Listener` or one of its `Listen` scopes (a Listen inherits the
/// listener's and may override them).
public struct HTTPListenerSettings: Sendable, Equatable {
    /// Momentum's `enable_authentication`: every request must carry credentials (HTTP Basic
    /// checked against `AuthBasicParameters`, or a bearer token from `AuthBearerParameters`).
    /// Without it only loopback clients may inject; everyone may read /metrics and /stats.
    public var enableAuthentication = false
    /// `AuthBasicParameters = [ uri = "file://…" ]`: users and passwords (clear or crypt(3)).
    public var basicUsers: PasswordFile?
    /// `AuthBearerParameters = [ uri = "file://…" ]`: `label:token` lines; the token may be
    /// stored as `sha256:<hex>` of the token.
    public var bearerTokens: PasswordFile?
    /// Momentum's `max_request_size`: the largest request body, in octets.
    public var maxRequestSize = 16 << 20
    /// Momentum's `idle_time`: seconds a connection may stay idle (not while a request is answered).
    public var idleTime = 30
    /// `request_rate`: requests a listener socket serves per interval, across clients.
    public var requestRate = ThrottleRate(count: 1000, seconds: 1)

    public init() {}
}
