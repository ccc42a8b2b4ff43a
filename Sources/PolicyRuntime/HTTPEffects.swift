import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import Scriptlet

/// msys.http.client's requests, made by AsyncHTTPClient on the server's event loops: bounded in
/// time (the script's time-out, at most `PolicyLimits.maxHTTPTimeout`) and in the response body
/// it keeps (`PolicyLimits.maxHTTPBody`); redirects followed at most three times.
package enum HTTPEffects {
    /// The client's settings: connecting within 5 seconds, no decompression (a compressed body
    /// could expand past any bound), three redirects at most.
    package static var configuration: HTTPClient.Configuration {
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .follow(max: 3, allowCycles: false),
            timeout: .init(connect: .seconds(5), read: .seconds(Int64(PolicyLimits.maxHTTPTimeout))))
        configuration.decompression = .disabled
        return configuration
    }

    static func perform(_ call: HTTPCall, client: HTTPClient?, on loop: EventLoop) -> EventLoopFuture<EffectResult> {
        guard let client else { return loop.makeSucceededFuture(.failed("no HTTP client here")) }
        let request: HTTPClient.Request
        do {
            var headers = HTTPHeaders()
            for (name, value) in call.headers { headers.add(name: name, value: value) }
            request = try HTTPClient.Request(
                url: call.url, method: HTTPMethod(rawValue: call.method), headers: headers,
                body: call.body.map { .bytes($0) })
        } catch {
            return loop.makeSucceededFuture(.failed("msys.http: \(error)"))
        }
        let accumulator = ResponseAccumulator(request: request, maxBodySize: PolicyLimits.maxHTTPBody)
        let deadline = NIODeadline.now() + .milliseconds(Int64(call.timeout * 1000))
        return client.execute(
            request: request, delegate: accumulator, eventLoop: .delegate(on: loop), deadline: deadline
        )
        .futureResult
        .map { response in
            HTTPCall.success(
                status: Int(response.status.code), headers: response.headers.map { ($0.name, $0.value) },
                body: response.body.map { Array($0.readableBytesView) } ?? [])
        }
        .recover { error in
            if error is ResponseAccumulator.ResponseTooBigError {
                return .failed("the response is larger than \(PolicyLimits.maxHTTPBody) octets")
            }
            if let clientError = error as? HTTPClientError, clientError == .deadlineExceeded {
                return .failed("no response within \(call.timeout) seconds")
            }
            return .failed("\(error)")
        }
    }
}
