import LuaBridge

/// One msys.http.client request as Impulse's Lua sends it: method, URL, header fields, body and
/// time-out (docs/lua/library.md, "HTTP").
public struct HTTPCall: Equatable, Sendable {
    public var method: String
    public var url: String
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]?
    /// Seconds, at most `PolicyLimits.maxHTTPTimeout`.
    public var timeout: Double

    public init(method: String, url: String, headers: [(name: String, value: String)], body: [UInt8]?, timeout: Double)
    {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
    }

    public static func == (lhs: HTTPCall, rhs: HTTPCall) -> Bool {
        lhs.method == rhs.method && lhs.url == rhs.url && lhs.body == rhs.body && lhs.timeout == rhs.timeout
            && lhs.headers.map(\.name) == rhs.headers.map(\.name)
            && lhs.headers.map(\.value) == rhs.headers.map(\.value)
    }

    private static let methods: Set<String> = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]

    /// Decodes `(method, url, timeout, body or nil, name, value, …)` from argument `first` on.
    static func decode(_ arguments: LuaArguments, from first: Int) -> Result<HTTPCall, EffectDecodingError> {
        guard let method = arguments.string(first)?.uppercased(), methods.contains(method) else {
            return .failure(
                EffectDecodingError("msys.http: the method must be one of \(methods.sorted().joined(separator: ", "))"))
        }
        guard let url = arguments.string(first + 1), url.utf8.count <= 8192,
            url.lowercased().hasPrefix("http://") || url.lowercased().hasPrefix("https://")
        else { return .failure(EffectDecodingError("msys.http: the URL must be http:// or https://")) }
        guard case .number(let timeout) = arguments[first + 2], timeout.isFinite, timeout > 0 else {
            return .failure(EffectDecodingError("msys.http: bad time-out"))
        }
        let body = arguments.octets(first + 3)
        guard (body?.count ?? 0) <= PolicyLimits.maxHTTPBody else {
            return .failure(
                EffectDecodingError("msys.http: the request body is larger than \(PolicyLimits.maxHTTPBody) octets"))
        }
        var headers: [(name: String, value: String)] = []
        var index = first + 4
        while index <= arguments.count {
            guard let name = arguments.string(index), let value = arguments.string(index + 1),
                !name.isEmpty,
                name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }),
                !value.contains(where: { $0 == "\r" || $0 == "\n" || $0 == "\0" })
            else { return .failure(EffectDecodingError("msys.http: a header field that cannot be sent")) }
            headers.append((name, value))
            index += 2
        }
        guard headers.count <= PolicyLimits.maxHTTPHeaders else {
            return .failure(EffectDecodingError("msys.http: more than \(PolicyLimits.maxHTTPHeaders) header fields"))
        }
        return .success(
            HTTPCall(
                method: method, url: url, headers: headers, body: body,
                timeout: min(timeout, PolicyLimits.maxHTTPTimeout)))
    }

    /// What do_request gets back: the status, the header fields (`name: value` lines), the body.
    public static func success(status: Int, headers: [(String, String)], body: [UInt8]) -> EffectResult {
        let lines = headers.map { "\($0.0): \($0.1)\r\n" }.joined()
        return .ok([.number(Double(status)), .string(lines), .bytes(body)])
    }
}
