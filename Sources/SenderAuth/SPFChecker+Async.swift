import NIOConcurrencyHelpers
import NIOCore
import Resolver

extension SPFChecker {
    /// check_host() without holding any thread while DNS answers: libspf2 evaluates on `loop`
    /// with the answers known so far; every name it asked for and did not have is then looked up
    /// through the resolver (asynchronously, all at once) and the evaluation starts again. An
    /// evaluation is a few microseconds of CPU, a look-up milliseconds, so re-evaluating costs
    /// nothing next to waiting; the rounds are bounded by the look-up limit and the check's time
    /// by `SenderAuthLimits.spfCheckTime` (past it the answer is temperror).
    public static func check(
        ip: String, sender: String, helo: String, receiver: String, resolver: DNSResolver?, on loop: EventLoop
    ) -> EventLoopFuture<SPFResult?> {
        let answers = NIOLockedValueBox<[AnswerKey: SPFLookupAnswer]>([:])
        let deadline = NIODeadline.now() + .milliseconds(Int64(SenderAuthLimits.spfCheckTime * 1000))

        @Sendable func round(_ number: Int) -> EventLoopFuture<SPFResult?> {
            var missing: [AnswerKey] = []
            let result = check(ip: ip, sender: sender, helo: helo, receiver: receiver) { name, type in
                let key = AnswerKey(name: name.lowercased(), type: type)
                if let known = answers.withLockedValue({ $0[key] }) { return known }
                guard let resolver else { return .temporaryFailure }
                if let cached = resolver.cachedAnswer(name, type: type) {
                    let answer = SPFLookupAnswer(cached)
                    answers.withLockedValue { $0[key] = answer }
                    return answer
                }
                missing.append(key)
                return .temporaryFailure
            }
            guard let resolver, !missing.isEmpty, number < SenderAuthLimits.maxSPFLookups, NIODeadline.now() < deadline
            else { return loop.makeSucceededFuture(result) }
            let lookups = missing.map { key -> EventLoopFuture<Void> in
                let promise = loop.makePromise(of: Void.self)
                resolver.lookup(key.name, type: key.type) { answer in
                    answers.withLockedValue { $0[key] = SPFLookupAnswer(answer) }
                    promise.succeed()
                }
                return promise.futureResult
            }
            return EventLoopFuture.andAllSucceed(lookups, on: loop).flatMap { round(number + 1) }
        }
        return round(0)
    }

    struct AnswerKey: Hashable {
        var name: String
        var type: DNSRecordType
    }
}

extension SPFLookupAnswer {
    /// What the resolver's answer means to SPF (RFC 7208 §5: NXDOMAIN and an empty answer are
    /// both "void"; a server failure or time-out is a temporary error).
    init(_ answer: Result<[DNSRecord], DNSLookupError>) {
        switch answer {
        case .success(let records): self = records.isEmpty ? .noRecord : .records(records.map(\.value))
        case .failure(.nxdomain): self = .nxdomain
        case .failure(.noData): self = .noRecord
        case .failure: self = .temporaryFailure
        }
    }
}
