import CUnbound
import Foundation
import NIOConcurrencyHelpers

#if canImport(Glibc)
    import Glibc
#endif

/// The resolver thread: a libevent base running libunbound's event-driven resolution
/// (`ub_resolve_event`), fed questions through a locked inbox and an eventfd. The libunbound
/// context, the event base and the table of outstanding questions are touched only on this
/// thread (the inbox and the counters are locked), which is what makes it safe to share.
final class ResolverLoop: @unchecked Sendable {
    struct Question {
        var key: DNSCache.Key
        var completion: DNSResolver.Completion
    }

    /// One question at the name servers and everyone waiting for its answer.
    final class Outstanding {
        let key: DNSCache.Key
        var waiters: [DNSResolver.Completion]
        let deadline: UInt64
        var asyncID: Int32 = 0
        unowned let loop: ResolverLoop

        init(key: DNSCache.Key, waiter: @escaping DNSResolver.Completion, deadline: UInt64, loop: ResolverLoop) {
            self.key = key
            self.waiters = [waiter]
            self.deadline = deadline
            self.loop = loop
        }
    }

    private struct Inbox {
        var questions: [Question] = []
        var wakePending = false
        var stopping = false
        /// The resolver thread, once it runs.
        var thread: pthread_t?
    }

    private let base: OpaquePointer
    private let context: OpaquePointer
    private let wakeFD: Int32
    private var wakeEvent: OpaquePointer?
    private var sweepEvent: OpaquePointer?
    private let inbox = NIOLockedValueBox(Inbox())
    private let finished = DispatchSemaphore(value: 0)
    private let timeout: Double
    /// Resolver thread only.
    private var outstanding: [DNSCache.Key: Outstanding] = [:]
    private var cache: DNSCache?
    private var counters: NIOLockedValueBox<DNSResolver.Statistics>?

    init(
        nameservers: [String], resolvConf: String?, timeout: Double, trustAnchors: [String] = [],
        trustAnchorFile: String? = nil
    ) throws {
        self.timeout = timeout
        guard let base = event_base_new() else {
            throw DNSResolver.SetupError(description: "cannot create an event base")
        }
        guard let context = ub_ctx_create_event(base) else {
            event_base_free(base)
            throw DNSResolver.SetupError(description: "cannot create a libunbound context")
        }
        self.base = base
        self.context = context
        wakeFD = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        func fail(_ text: String) -> DNSResolver.SetupError {
            ub_ctx_delete(context)
            event_base_free(base)
            if wakeFD >= 0 { close(wakeFD) }
            return DNSResolver.SetupError(description: text)
        }
        guard wakeFD >= 0 else { throw fail("eventfd: \(String(cString: strerror(errno)))") }
        if nameservers.isEmpty {
            let status = ub_ctx_resolvconf(context, resolvConf)
            if status != 0 {
                throw fail("resolv.conf \(resolvConf ?? "/etc/resolv.conf"): \(String(cString: ub_strerror(status)))")
            }
        } else {
            for server in nameservers {
                let status = ub_ctx_set_fwd(context, server)
                if status != 0 { throw fail("name server '\(server)': \(String(cString: ub_strerror(status)))") }
            }
        }
        for anchor in trustAnchors {
            let status = ub_ctx_add_ta(context, anchor)
            if status != 0 { throw fail("trust anchor '\(anchor)': \(String(cString: ub_strerror(status)))") }
        }
        if let trustAnchorFile {
            let status = ub_ctx_add_ta_file(context, trustAnchorFile)
            if status != 0 {
                throw fail("trust anchor file \(trustAnchorFile): \(String(cString: ub_strerror(status)))")
            }
        }
    }

    /// Starts the thread (once).
    func start(cache: DNSCache, counters: NIOLockedValueBox<DNSResolver.Statistics>) {
        self.cache = cache
        self.counters = counters
        let me = Unmanaged.passUnretained(self).toOpaque()
        wakeEvent = event_new(base, wakeFD, Int16(IMPULSE_EV_READ | IMPULSE_EV_PERSIST), resolverWake, me)
        event_add(wakeEvent, nil)
        sweepEvent = event_new(base, -1, Int16(IMPULSE_EV_PERSIST), resolverSweep, me)
        var interval = timeval(tv_sec: 0, tv_usec: Int(DNSLimits.sweepInterval * 1_000_000))
        event_add(sweepEvent, &interval)
        let thread = Thread { [self] in
            inbox.withLockedValue { $0.thread = pthread_self() }
            event_base_loop(base, 0)
            finish()
            finished.signal()
        }
        thread.name = "impulse-dns"
        thread.start()
    }

    /// Stops the thread and waits for it (idempotent). Called on the resolver thread itself (the
    /// last reference to the resolver let go in a completion), it stops the loop without waiting.
    func stop() {
        let (first, onLoop) = inbox.withLockedValue { inbox -> (Bool, Bool) in
            let onLoop = inbox.thread.map { pthread_equal($0, pthread_self()) != 0 } ?? false
            guard !inbox.stopping else { return (false, onLoop) }
            inbox.stopping = true
            return (true, onLoop)
        }
        guard first else { return }
        guard wakeEvent != nil else {
            finish()
            return
        }
        wake()
        if !onLoop { finished.wait() }
    }

    /// Hands a question to the resolver thread (any thread).
    func submit(_ question: Question) {
        let state = inbox.withLockedValue { inbox -> (refused: Bool, wake: Bool) in
            if inbox.stopping { return (true, false) }
            inbox.questions.append(question)
            defer { inbox.wakePending = true }
            return (false, !inbox.wakePending)
        }
        if state.refused {
            question.completion(.failure(Self.stopped))
        } else if state.wake {
            wake()
        }
    }

    private func wake() {
        var one: UInt64 = 1
        _ = write(wakeFD, &one, 8)
    }

    /// Resolver thread: takes the inbox and starts what is not cached or already asked.
    fileprivate func drainInbox() {
        var count: UInt64 = 0
        _ = read(wakeFD, &count, 8)
        let (questions, stopping) = inbox.withLockedValue { inbox in
            defer {
                inbox.questions = []
                inbox.wakePending = false
            }
            return (inbox.questions, inbox.stopping)
        }
        if stopping {
            event_base_loopbreak(base)
            for question in questions { question.completion(.failure(Self.stopped)) }
            return
        }
        for question in questions { start(question) }
    }

    private func start(_ question: Question) {
        if let answer = cache?.answer(for: question.key) {
            counters?.withLockedValue { $0.cacheHits += 1 }
            question.completion(answer)
            return
        }
        if let pending = outstanding[question.key] {
            pending.waiters.append(question.completion)
            counters?.withLockedValue { $0.coalesced += 1 }
            return
        }
        guard outstanding.count < DNSLimits.maxQueriesInFlight else {
            counters?.withLockedValue { $0.refused += 1 }
            question.completion(
                .failure(.serverFailure("more than \(DNSLimits.maxQueriesInFlight) DNS queries outstanding")))
            return
        }
        let deadline = DNSCache.now() + UInt64(timeout * 1_000_000_000)
        let entry = Outstanding(key: question.key, waiter: question.completion, deadline: deadline, loop: self)
        outstanding[question.key] = entry
        counters?.withLockedValue { $0.queries += 1 }
        // The callback owns one reference to the entry until libunbound calls it (or it is cancelled).
        let token = Unmanaged.passRetained(entry).toOpaque()
        var asyncID: Int32 = 0
        let status = ub_resolve_event(
            context, question.key.name, Int32(question.key.type.code), 1, token, resolverAnswered, &asyncID)
        if status != 0 {
            Unmanaged<Outstanding>.fromOpaque(token).release()
            complete(entry, .failure(.serverFailure(String(cString: ub_strerror(status)))))
            return
        }
        entry.asyncID = asyncID
    }

    /// Resolver thread: libunbound's answer for `entry`.
    fileprivate func answered(
        _ entry: Outstanding, rcode: Int32, packet: UnsafeRawBufferPointer?, secure: Bool = false, bogus: String? = nil
    ) {
        guard outstanding[entry.key] === entry else { return } // timed out meanwhile
        if let bogus {
            // DNSSEC says the answer is forged or broken: never used, never cached.
            complete(entry, .failure(.serverFailure("DNSSEC validation failed: \(bogus)")))
            return
        }
        guard rcode == 0, let packet else {
            complete(entry, .failure(.serverFailure(rcode == 2 || rcode == 0 ? "no answer" : "rcode \(rcode)")))
            return
        }
        // The answer, and how long the cache may keep it (nil: not at all).
        let (answer, keep): (Result<[DNSRecord], DNSLookupError>, UInt32?) =
            switch DNSMessage.parse(packet, type: entry.key.type) {
            case .failure(let error): (.failure(error), nil)
            case .success(.records(let records, let ttl)):
                (
                    .success(
                        records.map {
                            var record = $0
                            record.secure = secure
                            return record
                        }), min(ttl, DNSLimits.maxTTL)
                )
            case .success(.nxdomain(let ttl)): (.failure(.nxdomain), ttl.map { min($0, DNSLimits.maxNegativeTTL) })
            case .success(.noData(let ttl)): (.failure(.noData), ttl.map { min($0, DNSLimits.maxNegativeTTL) })
            case .success(.failure(let code)): (.failure(.serverFailure("rcode \(code)")), nil)
            }
        if let keep { cache?.store(answer, for: entry.key, seconds: keep) }
        complete(entry, answer)
    }

    private func complete(_ entry: Outstanding, _ answer: Result<[DNSRecord], DNSLookupError>) {
        if outstanding[entry.key] === entry { outstanding[entry.key] = nil }
        let waiters = entry.waiters
        entry.waiters = []
        for waiter in waiters { waiter(answer) }
    }

    /// What waiters hear once the resolver has stopped.
    static let stopped = DNSLookupError.serverFailure("resolver stopped")

    /// Resolver thread: cancels `entry`'s query; libunbound will not call back, so the reference
    /// its callback owned is let go here.
    private func cancel(_ entry: Outstanding) {
        if ub_cancel(context, entry.asyncID) == 0 { Unmanaged.passUnretained(entry).release() }
    }

    /// Resolver thread: fails look-ups past their time and cancels their queries.
    fileprivate func sweep() {
        let now = DNSCache.now()
        for entry in outstanding.values where entry.deadline <= now {
            cancel(entry)
            counters?.withLockedValue { $0.timeouts += 1 }
            complete(entry, .failure(.serverFailure("timed out after \(String(format: "%g", timeout)) s")))
        }
    }

    /// After the loop ended: fails what is still outstanding and frees libunbound and libevent.
    private func finish() {
        for entry in Array(outstanding.values) {
            cancel(entry)
            complete(entry, .failure(Self.stopped))
        }
        let late = inbox.withLockedValue { inbox -> [Question] in
            defer { inbox.questions = [] }
            return inbox.questions
        }
        for question in late { question.completion(.failure(Self.stopped)) }
        if let wakeEvent { event_free(wakeEvent) }
        if let sweepEvent { event_free(sweepEvent) }
        ub_ctx_delete(context)
        event_base_free(base)
        close(wakeFD)
    }
}

/// libevent: the inbox's eventfd is readable.
private func resolverWake(_ fd: Int32, _ events: Int16, _ argument: UnsafeMutableRawPointer?) {
    guard let argument else { return }
    Unmanaged<ResolverLoop>.fromOpaque(argument).takeUnretainedValue().drainInbox()
}

/// libevent: the sweep timer fired.
private func resolverSweep(_ fd: Int32, _ events: Int16, _ argument: UnsafeMutableRawPointer?) {
    guard let argument else { return }
    Unmanaged<ResolverLoop>.fromOpaque(argument).takeUnretainedValue().sweep()
}

/// libunbound: a question's answer (`ub_event_callback_type`).
private func resolverAnswered(
    _ token: UnsafeMutableRawPointer?, _ rcode: Int32, _ packet: UnsafeMutableRawPointer?, _ length: Int32,
    _ security: Int32, _ whyBogus: UnsafeMutablePointer<CChar>?, _ rateLimited: Int32
) {
    guard let token else { return }
    let entry = Unmanaged<Outstanding>.fromOpaque(token).takeRetainedValue()
    let bytes = packet.map { UnsafeRawBufferPointer(start: $0, count: Int(max(0, length))) }
    // libunbound's security: 0 insecure, 1 bogus, 2 secure.
    let why = security == 1 ? (whyBogus.map { String(cString: $0) } ?? "bogus") : nil
    entry.loop.answered(entry, rcode: rcode, packet: bytes, secure: security == 2, bogus: why)
}

private typealias Outstanding = ResolverLoop.Outstanding
