import LuaBridge

/// msys.httpsrv.register's endpoints, run in the scheduler's state (the Lua half is in
/// Lua/impulse-http.lua).
extension PolicyState {
    /// What an endpoint answered.
    public struct HTTPEndpointResponse: Sendable, Equatable {
        public var status: Int
        public var reason: String
        public var contentType: String
        public var body: [UInt8]
        /// Extra header fields, `Name: value` each.
        public var headers: [String]
    }

    /// Runs the endpoint registered for `method` and `url`'s path; nil when there is none. An
    /// endpoint that fails answers 500 with the error.
    public func runHTTPEndpoint(method: String, url: String, body: [UInt8], headers: [(String, String)])
        -> HTTPEndpointResponse?
    {
        lua.setWatchdog(instructions: instructionBudget)
        defer { lua.setWatchdog(instructions: 0) }
        let lines = headers.map { "\($0.0): \($0.1)\r\n" }.joined()
        guard
            let results = try? lua.callInternal(
                .httpEndpoint, [.string(method), .string(url), .bytes(body), .string(lines)]),
            let status = results.first?.integer(in: 100...599)
        else { return nil }
        func text(_ index: Int) -> String { results.count > index ? results[index].description : "" }
        return HTTPEndpointResponse(
            status: status, reason: text(1), contentType: text(2),
            body: results.count > 3 ? (results[3].octets ?? []) : [],
            headers: text(4).split(separator: "\r\n").map(String.init))
    }
}
