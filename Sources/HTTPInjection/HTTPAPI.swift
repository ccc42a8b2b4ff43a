import Delivery
import Dispatch
import Foundation
import ImpulseConfig
import ImpulseMetrics
import Logging
import NIOCore
import SMTPServer
import Synchronization
import TransmissionFormat

/// The HTTP_Listener's routes (docs/http-api.md; the OpenAPI description is docs/http-api.yaml):
/// `POST /api/v1/transmissions` injects, `GET /stats/summary` and `GET /stats/queues/mailq`
/// answer JSON, `GET /metrics` Prometheus' text; other paths go to the endpoints scripts
/// registered (msys.httpsrv.register). Every request first meets its Listen's rate and, where
/// configured, authentication.
package final class HTTPAPI: Sendable {
    private let access: [HTTPAccess]
    private let services: ServerServices
    private let queueManager: QueueManager
    private let scrape: @Sendable () -> [UInt8]
    private let scriptEndpoint: @Sendable (EndpointRequest, @escaping EndpointAnswer) -> Void
    private let logger: Logger
    private let inFlight = Atomic<Int>(0)

    package init(
        listens: [HTTPListen], services: ServerServices, queueManager: QueueManager, logger: Logger,
        scrape: @escaping @Sendable () -> [UInt8],
        scriptEndpoint: @escaping @Sendable (EndpointRequest, @escaping EndpointAnswer) -> Void
    ) {
        access = listens.map { HTTPAccess(settings: $0.settings) }
        self.services = services
        self.queueManager = queueManager
        self.logger = logger
        self.scrape = scrape
        self.scriptEndpoint = scriptEndpoint
    }

    package func handle(_ request: EndpointRequest, _ answer: @escaping EndpointAnswer) {
        guard access.indices.contains(request.listenIndex) else { return answer(nil) }
        let access = access[request.listenIndex]
        guard access.admit() else {
            return answer(Self.error(429, "Too Many Requests", "request_rate exceeded", headers: ["Retry-After: 1"]))
        }
        let authorization = request.header("Authorization")
        let client = request.remoteAddress?.ipAddress.flatMap { IPAddress($0) }
        // A client that keeps failing is not given more password checks (each may cost a crypt(3)
        // hash) until its failures age out (the same count and window as SMTP AUTH's).
        if authorization != nil, let client, services.authFailures.recentFailures(client) >= Self.maxFailures {
            return answer(
                Self.error(
                    429, "Too Many Requests", "too many failed authentications from this address; try later",
                    headers: ["Retry-After: 60"]))
        }
        // Credentials may be a crypt(3) hash to check, and the body JSON to read: off the loop.
        DispatchQueue.global().async { [self] in
            let identity = access.identify(authorization: authorization)
            if let client {
                if identity == .refused {
                    // Answered later the more often this address failed, as SMTP AUTH's 535.
                    let delay = services.authFailures.failed(client)
                    DispatchQueue.global().asyncAfter(deadline: .now() + delay) { [self] in
                        route(request, identity: identity, access, answer)
                    }
                    return
                }
                if case .user = identity { services.authFailures.succeeded(client) }
            }
            route(request, identity: identity, access, answer)
        }
    }

    /// Failed authentications from one address (within AuthFailureTracker.window) after which its
    /// requests with credentials are refused unchecked.
    static let maxFailures = 20

    private func route(
        _ request: EndpointRequest, identity: HTTPAccess.Identity, _ access: HTTPAccess,
        _ answer: @escaping EndpointAnswer
    ) {
        let challenge = ["WWW-Authenticate: Basic realm=\"impulse\"", "WWW-Authenticate: Bearer realm=\"impulse\""]
        if identity == .refused || (access.settings.enableAuthentication && identity == .anonymous) {
            logger.warning(
                "http: \(identity == .refused ? "authentication failed" : "no credentials")",
                metadata: ["client": "\(request.remoteAddress?.ipAddress ?? "?")", "path": "\(request.path)"])
            return answer(Self.error(401, "Unauthorized", "authentication required", headers: challenge))
        }
        switch (request.method, request.path) {
        case ("GET", "/metrics"):
            answer((200, "OK", "text/plain; version=0.0.4; charset=utf-8", scrape(), []))
        case ("GET", "/stats/summary"):
            answer(Self.json(200, "OK", StatsReport.summary(services: services, queueManager: queueManager)))
        case ("GET", "/stats/queues/mailq"):
            answer(Self.json(200, "OK", StatsReport.mailq(queueManager: queueManager, query: request.uri)))
        case (_, "/api/v1/transmissions"):
            guard request.method == "POST" else {
                return answer(Self.error(405, "Method Not Allowed", "use POST", headers: ["Allow: POST"]))
            }
            if case .anonymous = identity, !access.mayInjectAnonymously(from: request.remoteAddress?.ipAddress) {
                return answer(
                    Self.error(
                        403, "Forbidden",
                        "injection from a non-loopback client needs enable_authentication and credentials"))
            }
            inject(request, identity: identity, answer)
        case (_, let path) where path.hasPrefix("/stats/") || path.hasPrefix("/api/"):
            answer(Self.error(404, "Not Found", "no such endpoint"))
        default:
            // Scripts' endpoints run in the scheduler's Lua state: their bodies stay small.
            guard request.body.count <= InjectionLimits.maxScriptEndpointBody else {
                return answer(Self.error(413, "Payload Too Large", "request body too large for a script endpoint"))
            }
            scriptEndpoint(request, answer)
        }
    }

    private func inject(_ request: EndpointRequest, identity: HTTPAccess.Identity, _ answer: @escaping EndpointAnswer) {
        if let type = request.header("Content-Type"), !type.lowercased().hasPrefix("application/json") {
            return answer(Self.error(415, "Unsupported Media Type", "send application/json"))
        }
        let transmission: Transmission
        do {
            transmission = try Transmission(try JSONParser.parse(request.body))
        } catch let error as JSONParser.SyntaxError {
            return answer(
                Self.error(
                    400, "Bad Request", "invalid JSON", location: "line \(error.line), column \(error.column)",
                    description: error.reason))
        } catch let error as Transmission.FieldError {
            return answer(
                Self.error(
                    400, "Bad Request", "invalid transmission", location: error.location, description: error.reason))
        } catch {
            return answer(Self.error(400, "Bad Request", "\(error)"))
        }
        guard inFlight.add(1, ordering: .relaxed).newValue <= InjectionLimits.maxInFlight else {
            inFlight.subtract(1, ordering: .relaxed)
            return answer(
                Self.error(503, "Service Unavailable", "too many injections in progress", headers: ["Retry-After: 1"]))
        }
        guard let loop = request.eventLoop, !services.isDraining else {
            inFlight.subtract(1, ordering: .relaxed)
            return answer(Self.error(503, "Service Unavailable", "shutting down"))
        }
        var user: (String, String)?
        if case .user(let name, let scheme) = identity { user = (name, scheme) }
        let local = request.localAddress
        let client = TransmissionInjector.Client(
            address: request.remoteAddress?.ipAddress ?? "unknown", port: request.remoteAddress?.port ?? 0,
            listener: (local?.ipAddress ?? "0.0.0.0", local?.port ?? 0), identity: user.map { ($0.0, $0.1) })
        let transmissionID = services.idGenerator.next()
        loop.execute { [self] in
            let injector = TransmissionInjector(
                transmission, client: client, services: services, loop: loop, logger: logger,
                connectionContext: [("can_relay", "true")])
            injector.run { [self] results in
                inFlight.subtract(1, ordering: .relaxed)
                answer(Self.report(transmissionID, transmission, results, client: client.address, logger: logger))
            }
        }
    }

    /// The answer to an injection: 200 when a recipient was accepted; when none was, 503 if a
    /// refusal was temporary (the client should retry), else 422.
    static func report(
        _ id: String, _ transmission: Transmission, _ results: [RecipientResult], client: String, logger: Logger
    ) -> EndpointResponse {
        var accepted = 0
        var temporary = false
        var rows: [JSONValue] = []
        for (recipient, result) in zip(transmission.recipients, results) {
            if case .accepted = result { accepted += 1 }
            if case .rejected(let code, _) = result, code < 500 { temporary = true }
            rows.append(.object([("address", .string(recipient.address))] + result.json))
        }
        let rejected = results.count - accepted
        logger.info(
            "http: transmission \(id): \(accepted) accepted, \(rejected) rejected", metadata: ["client": "\(client)"])
        let body = JSONValue.object([
            (
                "results",
                .object([
                    ("id", .string(id)), ("total_accepted_recipients", .number(Double(accepted))),
                    ("total_rejected_recipients", .number(Double(rejected))), ("recipients", .array(rows))
                ])
            )
        ])
        if accepted > 0 || results.isEmpty { return json(200, "OK", body) }
        return temporary ? json(503, "Service Unavailable", body) : json(422, "Unprocessable Entity", body)
    }

    static func json(_ status: Int, _ reason: String, _ body: JSONValue, headers: [String] = []) -> EndpointResponse {
        (status, reason, "application/json", Array((body.serialized + "\n").utf8), headers)
    }

    /// `{"errors":[{"message", "location"?, "description"?}]}`.
    static func error(
        _ status: Int, _ reason: String, _ message: String, location: String? = nil, description: String? = nil,
        headers: [String] = []
    ) -> EndpointResponse {
        var entry: [(String, JSONValue)] = [("message", .string(message))]
        if let location { entry.append(("location", .string(location))) }
        if let description { entry.append(("description", .string(description))) }
        return json(status, reason, .object([("errors", .array([.object(entry)]))]), headers: headers)
    }
}
