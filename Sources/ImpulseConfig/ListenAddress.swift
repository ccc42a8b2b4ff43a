/// The address of a `Listen` stanza: `"127.0.0.1:25"`, `"[::1]:25"`, `"*:25"` or `":25"` (all
/// IPv4 addresses), `"[*]:25"` (all IPv6 addresses).
public struct ListenAddress: Sendable, Hashable, CustomStringConvertible {
    /// A numeric host (`0.0.0.0` and `::` for the wildcards).
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses the stanza's instance name; nil with a reason on failure.
    public static func parse(_ text: String) -> Result<ListenAddress, ParseError> {
        guard let colon = text.lastIndex(of: ":") else {
            if text.hasPrefix("/") {
                return .failure(ParseError(reason: "unix-domain sockets are not supported for ESMTP listeners yet"))
            }
            return .failure(ParseError(reason: "expected \"address:port\", \"[IPv6]:port\" or \":port\""))
        }
        let hostPart = String(text[..<colon])
        let portPart = String(text[text.index(after: colon)...])
        guard let port = Int(portPart), (0...65535).contains(port) else {
            return .failure(ParseError(reason: "'\(portPart)' is not a port number (0-65535)"))
        }
        var host: String
        if hostPart.hasPrefix("[") {
            guard hostPart.hasSuffix("]") else { return .failure(ParseError(reason: "missing ']' after IPv6 address")) }
            host = String(hostPart.dropFirst().dropLast())
            if host == "*" { host = "::" }
            guard let address = IPAddress(host), !address.isIPv4 || host.contains(":") else {
                return .failure(ParseError(reason: "'\(host)' is not an IPv6 address"))
            }
        } else {
            host = hostPart.isEmpty || hostPart == "*" ? "0.0.0.0" : hostPart
            guard let address = IPAddress(host), address.isIPv4, !host.contains(":") else {
                return .failure(
                    ParseError(
                        reason: "'\(hostPart)' is not an IPv4 address (IPv6 addresses go in brackets: \"[::1]:25\")"))
            }
        }
        return .success(ListenAddress(host: host, port: port))
    }

    /// Why a Listen address could not be read.
    public struct ParseError: Error, Sendable { public var reason: String }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
