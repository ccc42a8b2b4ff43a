import Foundation

/// `HTTP_Listener { … Listen "addr:port" { … } }`: metrics, the injection API and /stats.
extension Binder {
    mutating func bindHTTPListener(_ scope: ConfigScope, into listens: inout [HTTPListen]) {
        var shared = HTTPListenerSettings()
        for option in scope.options { apply(option, to: &shared) }
        for child in scope.scopes {
            guard child.keyword == "listen", let instance = child.instance else {
                error(child.location, "'\(child.spelling)' is not valid inside \(scope.displayName) (expected Listen)")
                continue
            }
            var settings = shared
            for option in child.options { apply(option, to: &settings) }
            for grandchild in child.scopes {
                error(grandchild.location, "'\(grandchild.spelling)' is not valid inside \(child.displayName)")
            }
            if settings.enableAuthentication, settings.basicUsers == nil, settings.bearerTokens == nil {
                error(
                    child.location,
                    """
                    enable_authentication needs AuthBasicParameters or AuthBearerParameters \
                    (uri = "file:///path") in \(child.displayName) or \(scope.displayName)
                    """)
            }
            switch ListenAddress.parse(instance) {
            case .success(let address): listens.append(HTTPListen(address: address, settings: settings))
            case .failure(let failure): error(child.location, failure.reason)
            }
        }
    }

    private mutating func apply(_ option: ConfigOption, to settings: inout HTTPListenerSettings) {
        do throws(ConfigError) {
            switch option.name {
            case "enable_authentication": settings.enableAuthentication = try OptionReader.bool(option)
            case "authbasicparameters": settings.basicUsers = try passwordFile(option)
            case "authbearerparameters":
                let file = try passwordFile(option)
                if file.entries.values.contains(where: { if case .hashed = $0 { true } else { false } }) {
                    throw ConfigError(
                        option.value.location,
                        """
                        '\(option.spelling)': \(file.path) holds a crypt(3) hash; bearer tokens are stored as the \
                        token or as sha256:<hex of the token>
                        """)
                }
                settings.bearerTokens = file
            case "max_request_size": settings.maxRequestSize = try OptionReader.integer(option, in: 1024...(1 << 30))
            case "request_rate":
                let rate = try OptionReader.rate(option)
                guard rate.count > 0 else {
                    throw ConfigError(option.value.location, "'\(option.spelling)' must allow at least one request")
                }
                settings.requestRate = rate
            case "always_allow", "always_deny", "tls_verified_peer_is_authorized", "tls_certificate", "tls_key",
                "tls_client_ca", "tls_ciphers", "tls_protocols", "enable_authorization", "authorizationparameters",
                "authdigestmd5parameters", "authloginparameters":
                // Ignoring these would serve the API to clients the operator meant to refuse, or
                // in the clear where TLS was asked for.
                error(
                    option.location,
                    """
                    '\(option.spelling)' is not supported on the HTTP_Listener yet: keep it on loopback or put a \
                    TLS proxy in front (docs/http-api.md)
                    """)
            case "idle_time": settings.idleTime = try OptionReader.integer(option, in: 1...86400)
            case "event_loop", "listen_backlog":
                warning(
                    option.location, "option '\(option.spelling)' is not supported on the HTTP_Listener yet (ignored)")
            default:
                error(
                    option.location,
                    """
                    unknown option '\(option.spelling)' for the HTTP_Listener (enable_authentication, \
                    AuthBasicParameters, AuthBearerParameters, max_request_size, request_rate, idle_time)
                    """)
            }
        } catch { record(error) }
    }

    private func passwordFile(_ option: ConfigOption) throws(ConfigError) -> PasswordFile {
        let backend = try AuthBackend.parse(option)
        guard case .file(let file) = backend.source else {
            throw ConfigError(option.value.location, "'\(option.spelling)' needs uri = \"file:///path\"")
        }
        return file
    }
}
