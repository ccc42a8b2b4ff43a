import AsyncHTTPClient
import Datasource
import Foundation
import ImpulseConfig
import LuaBridge
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Resolver
import SMTPProtocol
import Scriptlet
import SenderAuth
import SharedThrottles
import Spool

/// Carries out every wait a policy asks for (`PolicyEffect`: sleep, DNS, file reads, injection,
/// thread-pool jobs) without blocking the thread the policy runs on: the answer comes back on the
/// event loop the caller names, as the `EffectResult` the suspended callout resumes with. The one
/// place where msys functions that wait are implemented (docs/lua/abi.md, "Waits").
package final class PolicyEffectExecutor: Sendable {
    /// Momentum's "IO" pool: blocking work (file reads) off the event loops.
    package let blockingWork: NIOThreadPool
    /// The DNS resolver (nil when it could not be set up; look-ups then fail with a reason).
    package let resolver: DNSResolver?
    package let spoolWriter: SpoolWriter
    package let idGenerator: MessageIDGenerator
    /// msys.runInPool's pools (nil without a scriptlet stanza); replaced on reload.
    private let luaPools = NIOLockedValueBox<LuaThreadPools?>(nil)

    /// Answers that stand in for DNS, msys.db and msys.http (`impulse policy test`'s transcript):
    /// when set, those effects are answered by it, at once, and never reach the network.
    package let substitute: (@Sendable (PolicyEffect) -> EffectResult?)?

    package init(
        blockingWork: NIOThreadPool, resolver: DNSResolver?, spoolWriter: SpoolWriter, idGenerator: MessageIDGenerator,
        substitute: (@Sendable (PolicyEffect) -> EffectResult?)? = nil
    ) {
        self.substitute = substitute
        self.blockingWork = blockingWork
        self.resolver = resolver
        self.spoolWriter = spoolWriter
        self.idGenerator = idGenerator
    }

    package func setThreadPools(_ pools: LuaThreadPools?) { luaPools.withLockedValue { $0 = pools } }

    /// msys.http's client (nil until the server makes one on its event loops).
    private let httpClientBox = NIOLockedValueBox<HTTPClient?>(nil)
    package func setHTTPClient(_ client: HTTPClient?) { httpClientBox.withLockedValue { $0 = client } }
    package var httpClient: HTTPClient? { httpClientBox.withLockedValue { $0 } }

    /// msys.shared_throttle's clocks: kept for the life of the process (a reload keeps them), so
    /// set once at start, with the cluster's throttle store when there is one.
    private let namedThrottleClocks = NIOLockedValueBox(NamedThrottles(capacity: 1000, store: nil))
    package func setNamedThrottles(_ throttles: NamedThrottles) {
        namedThrottleClocks.withLockedValue { $0 = throttles }
    }
    package var namedThrottles: NamedThrottles { namedThrottleClocks.withLockedValue { $0 } }

    /// msys.db's datasources (nil without any); replaced on reload.
    private let datasourceSet = NIOLockedValueBox<Datasources?>(nil)
    package func setDatasources(_ datasources: Datasources?) { datasourceSet.withLockedValue { $0 = datasources } }
    package var datasources: Datasources? { datasourceSet.withLockedValue { $0 } }
    package var threadPools: LuaThreadPools? { luaPools.withLockedValue { $0 } }

    /// Where an effect comes from: what a message a script injects records as its origin, and
    /// the limits its addresses and size must keep (the listener's).
    package struct Origin: Sendable {
        package var label: String
        package var limits: SMTPLimits

        package init(label: String, limits: SMTPLimits) {
            self.label = label
            self.limits = limits
        }
    }

    /// The result of `effect` when it is there without waiting — a DNS answer in the resolver's
    /// cache — so the script goes on at once; nil when it must be carried out (`perform`).
    package func immediate(_ effect: PolicyEffect) -> EffectResult? {
        if let substitute, let answer = substitute(effect) { return answer }
        if case .database(let call) = effect { return DatabaseEffects.cached(call, in: datasources) }
        guard case .dnsLookup(let name, let typeName) = effect, let resolver,
            let type = DNSRecordType(rawValue: typeName), let answer = resolver.cachedAnswer(name, type: type)
        else { return nil }
        return Self.result(of: answer)
    }

    /// msys.dnsLookup's answer as the script gets it (MX as "preference host").
    static func result(of answer: Result<[DNSRecord], DNSLookupError>) -> EffectResult {
        switch answer {
        case .success(let records):
            .ok(records.map { record in .string((record.preference.map { "\($0) " } ?? "") + record.value) })
        case .failure(let error):
            .failed(error.description)
        }
    }

    /// Carries out `effect`; the future completes on `loop`, always on a later turn of it (never
    /// inside this call, whatever the effect: the waiter resumes the script from the future's
    /// callback, which must not recurse into the script that asked), and never fails (a failure
    /// is an `EffectResult.failed` with its reason).
    package func perform(_ effect: PolicyEffect, origin: Origin, on loop: EventLoop) -> EventLoopFuture<EffectResult> {
        let promise = loop.makePromise(of: EffectResult.self)
        carryOut(effect, origin: origin, on: loop).whenComplete { result in
            loop.execute { promise.completeWith(result) }
        }
        return promise.futureResult
    }

    /// The opendkim stanza's options, the defaults msys.validate.opendkim.sign's options override,
    /// and the keys scripts sign with, read once per configuration (set by the server at start
    /// and on reload, which starts a new key cache).
    package let scriptSigning = NIOLockedValueBox<
        (defaults: DKIMSigningConfiguration.Options?, keys: DKIMKeyCache, authservID: String)
    >((nil, DKIMKeyCache(), "localhost"))

    /// Looks up, without blocking, the keys `message`'s DKIM signatures name (at most as many as
    /// are checked), so verification then finds them at hand instead of holding a blocking-work
    /// thread while name servers answer. Completes on `loop`; never fails.
    package func prefetchDKIMKeys(_ message: [UInt8], on loop: EventLoop) -> EventLoopFuture<[String: DKIMKeyRecord]> {
        prefetchKeys(DKIMKeyNames.of(message: message), on: loop)
    }

    /// Looks the key records `names` up without blocking; completes on `loop`, never fails.
    package func prefetchKeys(_ names: [String], on loop: EventLoop) -> EventLoopFuture<[String: DKIMKeyRecord]> {
        guard let resolver, !names.isEmpty else { return loop.makeSucceededFuture([:]) }
        let answers = names.map { name -> EventLoopFuture<(String, DKIMKeyRecord)> in
            let promise = loop.makePromise(of: (String, DKIMKeyRecord).self)
            resolver.lookup(name, type: .txt) { answer in
                promise.succeed((name.lowercased(), DKIMKeyNames.record(from: answer)))
            }
            return promise.futureResult
        }
        return EventLoopFuture.whenAllSucceed(answers, on: loop).map { pairs in
            Dictionary(pairs, uniquingKeysWith: { first, _ in first })
        }
    }

    /// msys.validate.opendkim.verify's answer: the overall status and its text, then twelve
    /// values per signature (docs/lua/abi.md).
    static func verification(
        _ message: [UInt8], resolver: DNSResolver?, prefetched: [String: DKIMKeyRecord]
    ) -> EffectResult {
        switch ScriptDKIM.verify(message, resolver: resolver, prefetched: prefetched) {
        case .failure(let error): return .failed(error.message)
        case .success(let outcome):
            var values: [LuaValue] = [.number(Double(outcome.status)), .string(outcome.statusText)]
            for signature in outcome.signatures {
                values += [
                    .string(signature.domain), .string(signature.selector), .string(signature.identity),
                    .string(signature.algorithm),
                    .number(signature.headerCanonicalization == .relaxed ? 1 : 0),
                    .number(signature.bodyCanonicalization == .relaxed ? 1 : 0), .number(Double(signature.flags)),
                    .number(Double(signature.errorCode)), .string(signature.errorText),
                    .number(Double(signature.keyBits)), .string(signature.result),
                    .string(signature.signedHeaders.joined(separator: ":"))
                ]
            }
            return .ok(values)
        }
    }

    private func carryOut(_ effect: PolicyEffect, origin: Origin, on loop: EventLoop) -> EventLoopFuture<EffectResult> {
        if let substitute, let answer = substitute(effect) { return loop.makeSucceededFuture(answer) }
        switch effect {
        case .sleep(let seconds):
            return loop.scheduleTask(in: .nanoseconds(Int64(seconds * 1_000_000_000))) { EffectResult.ok([]) }
                .futureResult
        case .readFile(let path):
            return blockingWork.runIfActive(eventLoop: loop) { PolicyEffect.readFile(path) }
                .recover { _ in .failed("thread pool stopped") }
        case .inject(let sender, let recipients, let content):
            return inject(sender: sender, recipients: recipients, content: content, origin: origin, on: loop)
        case .runInPool(let pool, let payload):
            guard let pools = threadPools else { return loop.makeSucceededFuture(.failed("no thread pools")) }
            return pools.run(pool, payload: payload, on: loop)
                .map { EffectResult.ok([.bytes($0)]) }
                .recover { .failed("\($0)") }
        case .dkimVerify(let message):
            let resolver = self.resolver
            let blockingWork = self.blockingWork
            return prefetchDKIMKeys(message, on: loop).flatMap { keys in
                blockingWork.runIfActive(eventLoop: loop) {
                    Self.verification(message, resolver: resolver, prefetched: keys)
                }
            }.recover { _ in .failed("thread pool stopped") }
        case .dkimSign(let message, let options):
            let signing = scriptSigning.withLockedValue { $0 }
            return blockingWork.runIfActive(eventLoop: loop) { () -> EffectResult in
                switch ScriptDKIM.sign(message, options: options, defaults: signing.defaults, keys: signing.keys) {
                case .success(let field): return .ok([.string(field)])
                case .failure(let failure): return .failed(failure.description)
                }
            }.recover { _ in .failed("thread pool stopped") }
        case .arcVerify(let message):
            let resolver = self.resolver
            let blockingWork = self.blockingWork
            return prefetchKeys(ARCVerifier.keyNames(of: message), on: loop).flatMap { keys in
                blockingWork.runIfActive(eventLoop: loop) { () -> EffectResult in
                    let chain = ScriptARC.verify(message, resolver: resolver, prefetched: keys)
                    return .ok([.string(chain.result), .number(Double(chain.instances)), .string(chain.reason)])
                }
            }.recover { _ in .failed("thread pool stopped") }
        case .arcSign(let message, let options):
            let signing = scriptSigning.withLockedValue { $0 }
            let resolver = self.resolver
            let blockingWork = self.blockingWork
            return prefetchKeys(ARCVerifier.keyNames(of: message), on: loop).flatMap { keys in
                blockingWork.runIfActive(eventLoop: loop) { () -> EffectResult in
                    switch ScriptARC.seal(
                        message, options: options, defaults: signing.defaults, keys: signing.keys,
                        authservID: signing.authservID, resolver: resolver, prefetched: keys)
                    {
                    case .success(let outcome):
                        return .ok([
                            .string(outcome.chain.result), .string(outcome.fields ?? ""), .string(outcome.reason)
                        ])
                    case .failure(let failure):
                        return .failed("ARC sealing for \(failure.domain) failed: \(failure.message)")
                    }
                }
            }.recover { _ in .failed("thread pool stopped") }
        case .database(let call):
            return DatabaseEffects.perform(call, in: datasources, on: loop)
        case .http(let call):
            return HTTPEffects.perform(call, client: httpClient, on: loop)
        case .namedThrottle(let operation, let name, let count, let seconds):
            let throttles = namedThrottles
            let step: @Sendable () -> EffectResult = {
                guard let operation = NamedThrottles.Operation(rawValue: operation) else {
                    return .failed("unknown throttle operation")
                }
                let wait = throttles.perform(
                    operation, name: name, rate: ThrottleRate(count: count, seconds: seconds))
                return .ok([.number(Double(wait) / 1_000_000)])
            }
            // Without a store the clock is this process's: nothing to wait for.
            guard throttles.blocks else { return loop.makeSucceededFuture(step()) }
            return blockingWork.runIfActive(eventLoop: loop, step).recover { _ in .failed("thread pool stopped") }
        case .dnsLookup(let name, let typeName):
            guard let type = DNSRecordType(rawValue: typeName) else {
                return loop.makeSucceededFuture(.failed("unsupported type"))
            }
            guard let resolver else { return loop.makeSucceededFuture(.failed("no resolver configured")) }
            // A cached answer completes at once; any other arrives from the resolver thread.
            let promise = loop.makePromise(of: EffectResult.self)
            resolver.lookup(name, type: type) { promise.succeed(Self.result(of: $0)) }
            return promise.futureResult
        }
    }

    /// A message a script built: spooled like any other, durable before the script goes on.
    private func inject(
        sender: String, recipients: [String], content: [UInt8], origin: Origin,
        on loop: EventLoop
    ) -> EventLoopFuture<EffectResult> {
        let parser = MailPathParser(limits: origin.limits, allowUTF8: true)
        let valid = recipients.compactMap { try? parser.parseForwardPath(Substring("<\($0)>")) }.filter {
            !$0.domain.isEmpty
        }
        guard valid.count == recipients.count, recipients.count <= origin.limits.maxRecipientsPerMessage,
            sender.isEmpty || (try? parser.parseReversePath(Substring("<\(sender)>"))) != nil
        else {
            return loop.makeSucceededFuture(.failed("invalid sender or recipient address"))
        }
        guard content.count <= origin.limits.maxMessageSize else {
            return loop.makeSucceededFuture(.failed("message larger than \(origin.limits.maxMessageSize) octets"))
        }
        let now = Date()
        let id = idGenerator.next(now: now)
        let envelope = SpoolEnvelope(
            id: id, receivedAtMicros: Int64(now.timeIntervalSince1970 * 1_000_000), mailFrom: sender,
            recipients: recipients.map { SpoolEnvelope.Recipient(address: $0) },
            peerAddress: "", peerPort: 0, helo: "", receivedProtocol: "LOCAL", listener: "scriptlet",
            context: ["injected_by": origin.label])
        let promise = loop.makePromise(of: Void.self)
        spoolWriter.submit(.init(envelope: envelope, data: [ByteBuffer(bytes: content)], promise: promise))
        return promise.futureResult.map { EffectResult.ok([.string(id)]) }.recover { .failed("spool: \($0)") }
    }
}

extension PolicyEffectExecutor {
    /// Carries out `effect` on the calling thread, waiting for it (msys.db and msys.http where no
    /// coroutine can suspend: the console, thread-pool jobs, init). msys.db goes to `datasources`
    /// (the policy's own, which init may use before they are installed). Refused on an event loop,
    /// where waiting would stop every session the loop serves.
    package func performBlocking(_ effect: PolicyEffect, datasources: Datasources?, loop: EventLoop) -> EffectResult {
        guard MultiThreadedEventLoopGroup.currentEventLoop == nil else {
            return .failed("cannot wait here (an event loop); call it from a callout, a timer or a hook")
        }
        if let substitute, let answer = substitute(effect) { return answer }
        if case .database(let call) = effect { return DatabaseEffects.runBlocking(call, in: datasources) }
        let origin = Origin(label: "blocking", limits: SMTPLimits())
        return (try? perform(effect, origin: origin, on: loop).wait()) ?? .failed("the server is stopping")
    }
}
