/// The bounds of the injection API in one place (docs/http-api.md, limits). The request body is
/// bounded by the listener's `max_request_size`; these bound what one request may ask for.
package enum InjectionLimits {
    /// Recipients in one transmission (each becomes a message of its own).
    package static let maxRecipients = 10_000
    /// Extra header fields in `content.headers`.
    package static let maxHeaders = 100
    /// Octets of one rendered message (a template can grow with its substitutions).
    package static let maxMessageSize = 64 << 20
    /// Octets of a header field name, and of one address.
    package static let maxFieldName = 76
    package static let maxAddress = 320
    /// `{{ … }}` substitutions rendered per message (a template cannot make endless work).
    package static let maxSubstitutions = 100_000
    /// Octets of a request body for an endpoint a script registered (msys.httpsrv.register).
    package static let maxScriptEndpointBody = 1 << 20
    /// Transmissions being spooled at once across all HTTP listeners; more wait for a 503.
    package static let maxInFlight = 64
}
