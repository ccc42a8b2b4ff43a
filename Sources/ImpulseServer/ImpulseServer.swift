import AsyncHTTPClient
import Control
import Delivery
import Foundation
import HTTPInjection
import ImpulseConfig
import ImpulseMetrics
import Logging
import Logs
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import PolicyRuntime
import Resolver
import SMTPProtocol
import SMTPServer
import Scriptlet
import SenderAuth
import SharedThrottles
import Spool

/// The running inbound server: spool recovery, one socket per `Listen`, sessions, and an orderly
/// stop that lets in-flight transactions finish within `shutdown_timeout`.
public final class ImpulseServer: Sendable {
    public let configuration: ImpulseConfiguration
    /// The file the configuration came from (for `config reload` and SIGHUP).
    public let configurationPath: String?
    let logger: Logger
    let group: MultiThreadedEventLoopGroup
    let services: ServerServices
    let spool: SpoolDirectory
    let blockingWork: NIOThreadPool
    /// The delivery side's blocking work (MX and address look-ups).
    let deliveryWork: NIOThreadPool
    /// The server's DNS resolver and cache (nil when it could not be set up: look-ups fail).
    let resolver: DNSResolver?
    /// Console commands, reloads, the scheduler's Lua state and the shutdown run one at a time here.
    public let control = DispatchQueue(label: "impulse.control")
    /// The policy new sessions get (nil without a scriptlet stanza); read and replaced on the
    /// control queue.
    let policy: ControlQueueBound<PolicyGeneration?>
    /// What `start()` opened, for `shutdown()` to close.
    let opened = NIOLockedValueBox(Opened())
    /// The listeners' inbound settings (Listen, Peer) and TLS contexts new sessions take:
    /// `config reload` replaces them (what is bound stays: address, backlog, implicit TLS).
    let inbound = SharedSetting<InboundListeners>()
    /// The configuration as last read (start or reload), for `config get` / `config eval`.
    let configurationQuery: NIOLockedValueBox<ConfigQuery>
    /// What the console's `shutdown` calls (the service group's graceful shutdown).
    let shutdownRequest = NIOLockedValueBox<(@Sendable () -> Void)?>(nil)
    var statistics: ServerStatistics { services.statistics }
    public static let version = "0.3.0"
    /// Outbound delivery.
    let queueManager: QueueManager
    let journal: DeliveryJournal
    let deliveryLog: DeliveryLog
    /// The delivery hooks the installed policy implements (fired only then).
    let deliveryHookNames = NIOLockedValueBox<Set<String>>([])
    var deliveryHooks: Set<String> { deliveryHookNames.withLockedValue { $0 } }

    /// The sockets and servers `start()` opened, and the messages it found in the spool.
    struct Opened {
        var listeners: [Channel] = []
        var controlServer: ControlServer?
        var metricsServer: HTTPListenerServer?
        var recovered: [SpoolDirectory.Entry] = []
    }

    /// Asks `body` to run when the console's `shutdown` is typed.
    public func onShutdownRequest(_ body: @escaping @Sendable () -> Void) {
        shutdownRequest.withLockedValue { $0 = body }
    }

    /// `trace` and `substituteEffects` are `impulse policy test`'s (docs/policy-test.md): what it
    /// watches, and the answers that stand in for DNS, msys.db and msys.http.
    package init(
        configuration: ImpulseConfiguration, configurationPath: String? = nil, logger: Logger,
        threads: Int = System.coreCount, trace: PolicyTrace? = nil,
        substituteEffects: (@Sendable (PolicyEffect) -> EffectResult?)? = nil
    ) {
        self.configuration = configuration
        self.configurationPath = configurationPath
        self.configurationQuery = NIOLockedValueBox(configuration.query)
        self.policy = ControlQueueBound(nil, on: control)
        self.logger = logger
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, threads))
        self.spool = SpoolDirectory(base: configuration.spoolbase, mode: configuration.spoolMode)
        let resolver: DNSResolver?
        do {
            resolver = try DNSResolver(
                nameservers: configuration.dnsNameservers, resolvConf: configuration.resolvConf,
                trustAnchors: configuration.dnssecTrustAnchors, trustAnchorFile: configuration.dnssecTrustAnchorFile)
        } catch {
            logger.error("dns: \(error); DNS lookups will fail")
            resolver = nil
        }
        self.resolver = resolver
        // Scripts' blocking waits (msys.readfile) and delivery's routing (which waits for the
        // resolver thread) each have their own threads: neither can stall the other.
        let pool = NIOThreadPool(numberOfThreads: 8)
        pool.start()
        self.blockingWork = pool
        let deliveryPool = NIOThreadPool(numberOfThreads: 8)
        deliveryPool.start()
        self.deliveryWork = deliveryPool
        let recordLog = DeliveryLog(
            mainlog: configuration.logs.mainlog, bouncelog: configuration.logs.bouncelog,
            rejectlog: configuration.logs.rejectlog,
            bouncelogTransientFailures: configuration.logs.bouncelogTransientFailures,
            classification: BounceClassification(configuration.bounceClassifier),
            adaptivelog: configuration.logs.adaptivelog)
        deliveryLog = recordLog
        let services = ServerServices(
            spoolWriter: SpoolWriter(directory: spool, logger: logger),
            idGenerator: MessageIDGenerator(), hostname: configuration.hostname,
            receptionMemoryLimit: configuration.receptionMemoryLimit,
            blockingWork: pool, resolver: resolver, recordLog: recordLog,
            metricsServed: !configuration.httpListens.isEmpty, trace: trace, substituteEffects: substituteEffects)
        self.services = services
        // Policies' named throttles share the cluster's store (their own connection to it).
        services.effects.setNamedThrottles(
            NamedThrottles(
                capacity: configuration.namedThrottleCapacity,
                store: configuration.outbound.clusterThrottleStore.map {
                    RedisThrottleStore(host: $0.host, port: $0.port ?? 6379, logger: logger)
                }))
        journal = DeliveryJournal(logger: logger)
        queueManager = QueueManager(
            settings: .init(
                hostname: configuration.hostname, outbound: configuration.outbound, bindings: configuration.bindings,
                shutdownTimeout: configuration.shutdownTimeout),
            group: group, resolver: resolver, blockingWork: deliveryPool, spoolWriter: services.spoolWriter,
            journal: journal,
            log: deliveryLog, idGenerator: services.idGenerator, logger: logger)
    }

    /// A start-up failure, with where it comes from.
    public struct StartError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Prepares the spool, recovers what is in it, loads TLS material and binds every listener.
    /// Returns the bound addresses (port 0 in the config becomes the real port).
    /// Starts the server. Started as root, it binds its sockets, hands the spool, logs and
    /// control sockets to the configured `user` and gives up root before it loads a script or
    /// accepts mail; without `user` it refuses unless `allowRoot` (PrivilegeDrop).
    public func start(allowRoot: Bool = false) throws -> [SocketAddress] {
        services.signing.replace(try Self.receptionSigning(configuration))
        services.authentication.replace(try Self.receptionAuthentication(configuration))
        services.effects.scriptSigning.withLockedValue {
            $0 = (configuration.dkimSigning?.defaults, DKIMKeyCache(), Self.authservID(configuration))
        }
        services.statistics.signing.setGranularity(.init(rawValue: configuration.signingStats) ?? .all)
        do { try spool.prepare() } catch {
            throw StartError(description: "spoolbase \(configuration.spoolbase): \(error)")
        }
        let logFailures = deliveryLog.reopen()
        guard logFailures.isEmpty else {
            let logs = configuration.logs
            throw StartError(
                description: logFailures.map { failure in
                    let path = logs.locations.keys.first { failure.hasPrefix($0 + ":") } ?? ""
                    return "\(logs.placeOf(path))cannot open log file \(failure)"
                }.joined(separator: "; "))
        }
        let drop: PrivilegeDrop?
        do {
            drop = try PrivilegeDrop.plan(configuration, allowRoot: allowRoot)
            if let drop {
                try drop.hand(configuration.spoolbase, recursive: true)
                for path in configuration.logs.locations.keys where FileManager.default.fileExists(atPath: path) {
                    try drop.hand(path, recursive: false)
                }
            } else if geteuid() != 0, configuration.user != nil {
                logger.notice("not started as root: user and group have no effect")
            }
        } catch {
            throw StartError(description: "\(error)")
        }
        // The sockets first (ports under 1024 need root); they accept nothing until the policy
        // is loaded and delivery runs.
        let bound = try bindListeners()
        try openHTTPAndControl(handingTo: drop)
        if let drop {
            do { try drop.apply() } catch { throw StartError(description: "\(error)") }
            logger.notice("running as \(drop.user) (uid \(drop.uid), gid \(drop.gid))")
        }
        let scan = spool.scan(readOnly: false, logger: logger)
        opened.withLockedValue { $0.recovered = scan.entries }
        for entry in scan.entries {
            logger.info(
                "spool: recovered message",
                metadata: [
                    "id": "\(entry.envelope.id)", "from": "<\(entry.envelope.mailFrom)>",
                    "rcpts": "\(entry.envelope.recipients.count)", "size": "\(entry.dataLength)"
                ])
        }
        logger.notice("spool: \(scan.entries.count) message(s) recovered, \(scan.damaged.count) quarantined")
        // msys.http's client, on the server's event loops (made before init, which may use it);
        // shut down again if the start fails from here on.
        services.effects.setHTTPClient(
            HTTPClient(eventLoopGroupProvider: .shared(group), configuration: HTTPEffects.configuration))
        do {
            // The scheduler's Lua state lives on the control queue: init there, then console
            // commands, timers, reloads and deinit.
            try control.sync { try loadPolicy() }
            startDelivery(recovered: scan.entries)
        } catch {
            try? services.effects.httpClient?.syncShutdown()
            services.effects.setHTTPClient(nil)
            throw error
        }
        for channel in opened.withLockedValue({ $0.listeners }) {
            channel.setOption(ChannelOptions.autoRead, value: true).whenFailure { _ in }
        }
        return bound
    }

    /// The rest of `start`: the policy (its init), delivery, the listeners, metrics and console.
    /// Binds every Listen socket, not yet accepting (`start` turns accepting on at the end).
    private func bindListeners() throws -> [SocketAddress] {
        inbound.replace(try inboundListeners(configuration))
        var bound: [SocketAddress] = []
        for listener in configuration.listeners {
            let channel: Channel
            do {
                channel = try bootstrap(for: listener)
                    .bind(host: listener.address.host, port: listener.address.port).wait()
            } catch {
                throw StartError(description: "\(listener.location): cannot listen on \(listener.address): \(error)")
            }
            opened.withLockedValue { $0.listeners.append(channel) }
            if let address = channel.localAddress { bound.append(address) }
        }
        return bound
    }

    /// The HTTP_Listener (metrics, msys.httpsrv) and the control listener, whose Unix sockets go
    /// to the user Impulse is about to become.
    private func openHTTPAndControl(handingTo drop: PrivilegeDrop?) throws {
        if !configuration.httpListens.isEmpty {
            let services = services
            let manager = queueManager
            let spoolQueue = configuration.spoolbase + "/queue"
            do {
                // msys.httpsrv.register's endpoints run in the scheduler's state, on the control
                // queue; the answer goes back from there (no thread waits for the queue).
                let policy = self.policy
                let controlQueue = control
                let endpoint: @Sendable (EndpointRequest, @escaping EndpointAnswer) -> Void = { request, answer in
                    controlQueue.async {
                        let response = policy.value?.scheduler.runHTTPEndpoint(
                            method: request.method, url: request.uri, body: request.body, headers: request.headers)
                        answer(response.map { ($0.status, $0.reason, $0.contentType, $0.body, $0.headers) })
                    }
                }
                let scrape: @Sendable () -> [UInt8] = {
                    let spoolBytes = ((try? FileManager.default.contentsOfDirectory(atPath: spoolQueue)) ?? []).reduce(
                        0
                    ) { total, name in
                        total
                            + ((try? FileManager.default.attributesOfItem(atPath: spoolQueue + "/" + name)[.size]
                                as? Int) ?? 0)
                    }
                    let pools =
                        services.threadPools?.pools.map { pool in
                            (
                                name: pool.definition.name, queued: pool.statistics.queued,
                                running: pool.statistics.running
                            )
                        } ?? []
                    return services.metrics.scrape(
                        sessions: services.sessions.count, spoolBytes: spoolBytes, pools: pools,
                        queue: manager.totals(), throttles: manager.throttles(),
                        adaptive: manager.adaptiveTotals())
                }
                let api = HTTPAPI(
                    listens: configuration.httpListeners, services: services, queueManager: manager, logger: logger,
                    scrape: scrape, scriptEndpoint: endpoint)
                let metricsServer = try HTTPListenerServer(
                    configuration.httpListeners.map {
                        ($0.address.host, $0.address.port, $0.settings.maxRequestSize, $0.settings.idleTime)
                    }, group: group, endpoint: api.handle)
                opened.withLockedValue { $0.metricsServer = metricsServer }
                for channel in metricsServer.channels {
                    let address = channel.localAddress.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? "?"
                    logger.notice("HTTP listener on http://\(address) (/metrics, /api/v1/transmissions, /stats)")
                }
            } catch {
                throw StartError(description: "HTTP_Listener: cannot listen: \(error)")
            }
        }
        if let control = configuration.control {
            do {
                let controlServer = try ControlServer(control, group: group, logger: logger) { [unowned self] line in
                    runControl(line)
                }
                opened.withLockedValue { $0.controlServer = controlServer }
                for case .unix(let path, _) in control.endpoints { try drop?.hand(path, recursive: false) }
            } catch {
                throw StartError(description: "\(control.location): cannot open the control listener: \(error)")
            }
        }
    }

    /// `config reload` / SIGHUP: re-reads the policy parts of `newConfiguration` (scripts,
    /// bindings, thread pools) and the inbound settings of the listeners already bound (relay
    /// control, limits, TLS certificates, SMTP AUTH and its password files). On any error — syntax, a failing require, init not returning true —
    /// nothing changes and the error is thrown. Otherwise new sessions get the new policy, the
    /// retired configuration's `deinit` runs, and its thread pools stop once their jobs are done.
    /// Other options need a restart; they are reported, not applied.
    public func reload(_ newConfiguration: ImpulseConfiguration) throws {
        let signing = try Self.receptionSigning(newConfiguration)
        let authentication = try Self.receptionAuthentication(newConfiguration)
        let listeners = try inboundListeners(newConfiguration)
        let generation = try makePolicy(newConfiguration)
        inbound.replace(listeners)
        services.signing.replace(signing)
        services.authentication.replace(authentication)
        services.effects.scriptSigning.withLockedValue {
            $0 = (
                newConfiguration.dkimSigning?.defaults, DKIMKeyCache(),
                Self.authservID(newConfiguration)
            )
        }
        services.statistics.signing.setGranularity(.init(rawValue: newConfiguration.signingStats) ?? .all)
        let retired = policy.value
        install(generation, newConfiguration)
        configurationQuery.withLockedValue { $0 = newConfiguration.query }
        if let retired {
            retired.scheduler.cancelTimers()
            for bound in retired.states.values {
                bound.eventLoop.execute { bound.value.cancelTimers() }
            }
            if let failure = retired.scheduler.runDeinit() {
                logger.error(
                    "scriptlet: module \(failure.module) (\(failure.script)): deinit failed: \(failure.message)")
            }
            // Sessions opened before the reload may still run jobs in the old pools for a while.
            let grace = TimeInterval(configuration.shutdownTimeout)
            let pools = retired.pools
            DispatchQueue.global().asyncAfter(deadline: .now() + grace) { pools.shutdown() }
        }
        if newConfiguration.listeners.map(\.name) != configuration.listeners.map(\.name)
            || newConfiguration.spoolbase != configuration.spoolbase
            || newConfiguration.hostname != configuration.hostname
        {
            logger.warning(
                """
                config reload: new or removed Listen addresses, spoolbase and hostname changes need a restart; \
                the policy and the existing listeners' settings were reloaded
                """)
        }
        logger.notice("config reload: \(generation?.scriptCount ?? 0) script(s) now serve new sessions")
    }

    /// The opendkim stanza's signing, its keys loaded and checked (an unreadable or unusable key
    /// is an error at the line that names it).
    static func receptionSigning(_ configuration: ImpulseConfiguration) throws -> ReceptionSigning? {
        guard let dkim = configuration.dkimSigning else { return nil }
        do {
            return ReceptionSigning(
                policy: try DKIMSigningPolicy(dkim), outbound: configuration.outbound, bindings: configuration.bindings)
        } catch {
            throw StartError(description: error.diagnostics.map { "\($0)" }.joined(separator: "\n"))
        }
    }

    /// SPF, DKIM verification and DMARC at reception; DMARC's public suffix list read (an
    /// unreadable one is an error at the dmarc stanza).
    static func receptionAuthentication(_ configuration: ImpulseConfiguration) throws -> ReceptionAuthentication? {
        if let dmarc = configuration.dmarc {
            do { try DMARCEvaluator.loadPublicSuffixList(dmarc.publicSuffixList) } catch {
                throw StartError(description: "\(dmarc.location): \(error)")
            }
        }
        return ReceptionAuthentication(configuration)
    }

    /// Loads the certificate and key `policy` names into `contexts` (once per pair of files).
    func loadTLS(for policy: InboundPolicy, into tlsContexts: inout [String: NIOSSLContext]) throws {
        guard let certificate = policy.tlsCertificate else { return }
        let key = policy.tlsKey ?? certificate
        guard let cacheKey = Self.tlsKey(for: policy), tlsContexts[cacheKey] == nil else { return }
        do {
            let chain = try NIOSSLCertificate.fromPEMFile(certificate).map { NIOSSLCertificateSource.certificate($0) }
            let privateKey = try NIOSSLPrivateKey(file: key, format: .pem)
            var tls = TLSConfiguration.makeServerConfiguration(
                certificateChain: chain, privateKey: .privateKey(privateKey))
            tls.minimumTLSVersion = .tlsv12
            tlsContexts[cacheKey] = try NIOSSLContext(configuration: tls)
        } catch {
            let location = policy.tlsLocation.map { "\($0): " } ?? ""
            throw StartError(
                description: "\(location)cannot load TLS certificate '\(certificate)' / key '\(key)': \(error)")
        }
    }

    /// The key a policy's TLS context is kept under: its certificate and key files.
    static func tlsKey(for policy: InboundPolicy) -> String? {
        policy.tlsCertificate.map { $0 + "\u{0}" + (policy.tlsKey ?? $0) }
    }

    /// Every listener's settings by name, and the TLS contexts their policies name (a certificate
    /// that cannot be loaded is an error).
    func inboundListeners(_ configuration: ImpulseConfiguration) throws -> InboundListeners {
        var tlsContexts: [String: NIOSSLContext] = [:]
        for listener in configuration.listeners {
            try loadTLS(for: listener.policy, into: &tlsContexts)
            for peer in listener.peers { try loadTLS(for: peer.policy, into: &tlsContexts) }
        }
        return InboundListeners(
            listeners: Dictionary(
                configuration.listeners.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first }),
            tlsContexts: tlsContexts)
    }

    func bootstrap(for bound: ListenerConfiguration) -> ServerBootstrap {
        let inbound = self.inbound
        let services = self.services
        let logger = self.logger
        let hostname = configuration.hostname
        return ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: Int32(bound.backlog))
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.autoRead, value: false)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: false)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    // The settings in force now (a reload may have replaced them); what the
                    // socket was bound with stays.
                    let current = inbound.value
                    var listener = current?.listeners[bound.name] ?? bound
                    listener.implicitTLS = bound.implicitTLS
                    try Self.initialize(
                        channel: channel, listener: listener, services: services, hostname: hostname,
                        contexts: current?.tlsContexts ?? [:], logger: logger)
                }
            }
    }

    static func initialize(
        channel: Channel, listener: ListenerConfiguration, services: ServerServices, hostname: String,
        contexts: [String: NIOSSLContext], logger: Logger
    ) throws {
        guard let remote = channel.remoteAddress, let ipText = remote.ipAddress, let ip = IPAddress(ipText) else {
            channel.close(promise: nil)
            return
        }
        let (peerPolicy, _) = listener.policy(for: ip)
        guard peerPolicy.proxyProtocol else {
            try startSession(
                channel: channel, client: (ip, remote.port ?? 0), listener: listener, services: services,
                hostname: hostname, contexts: contexts, logger: logger)
            return
        }
        // A load balancer in front: the session is the client's its PROXY header names.
        try channel.pipeline.syncOperations.addHandler(
            ProxyProtocolHandler(timeoutSeconds: peerPolicy.proxyProtocolTimeout, peer: "\(ip)", logger: logger) {
                channel, client in
                try startSession(
                    channel: channel, client: client ?? (ip, remote.port ?? 0), listener: listener,
                    services: services, hostname: hostname, contexts: contexts, logger: logger)
            })
    }

    /// The session of `client` (the connection's peer, or the client a PROXY header named): its
    /// Peer policy, its share of the listener's limits, TLS, and the SMTP handler.
    static func startSession(
        channel: Channel, client: (address: IPAddress, port: Int), listener: ListenerConfiguration,
        services: ServerServices, hostname: String, contexts: [String: NIOSSLContext], logger: Logger
    ) throws {
        let ip = client.address
        let (policy, block) = listener.policy(for: ip)
        let listenerName = listener.name
        guard let ticket = services.limiter.acquire(listener: listenerName, block: block, address: ip, policy: policy)
        else {
            try channel.pipeline.syncOperations.addHandler(RefusingHandler(reply: .concurrencyLimit))
            return
        }
        channel.closeFuture.whenComplete { _ in services.limiter.release(ticket) }
        let tlsContext = tlsKey(for: policy).flatMap { contexts[$0] }
        if listener.implicitTLS, let tlsContext {
            try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tlsContext))
        }
        let policyState = services.policyState(for: channel.eventLoop)
        let machine = SMTPSessionStateMachine(
            policy: policy, hostname: hostname, clientAddress: ip, clientPort: client.port,
            listener: listenerName, tlsAvailable: tlsContext != nil && !listener.implicitTLS,
            tlsActive: listener.implicitTLS, idGenerator: services.idGenerator,
            policyCallouts: policyState?.callouts ?? [])
        let handler = SMTPServerHandler(
            machine: machine, services: services, tlsContext: listener.implicitTLS ? nil : tlsContext, logger: logger,
            policyState: policyState, sessionID: services.makeSessionID())
        handler.policyForClient = { listener.policy(for: $0).0 }
        try channel.pipeline.syncOperations.addHandler(handler)
    }

    /// Stops accepting, lets sessions finish their transaction (at most `shutdown_timeout`
    /// seconds), closes the rest, and waits for the spool writer to finish. Runs on the control queue.
    public func shutdown() {
        dispatchPrecondition(condition: .onQueue(control))
        services.startDraining()
        let opened = self.opened.withLockedValue { $0 }
        opened.controlServer?.close(unlinking: configuration.control)
        opened.metricsServer?.close()
        for channel in opened.listeners { try? channel.close().wait() }
        services.sessions.drainAll()
        if !services.sessions.waitUntilEmpty(seconds: Double(configuration.shutdownTimeout)) {
            logger.warning(
                """
                shutdown: closing \(services.sessions.count) session(s) still open after \
                \(configuration.shutdownTimeout)s
                """
            )
            services.sessions.closeAll()
            _ = services.sessions.waitUntilEmpty(seconds: 1)
        }
        queueManager.stop()
        services.spoolWriter.stop()
        journal.stop()
        deliveryLog.close()
        policy.value?.scheduler.cancelTimers()
        if let failure = policy.value?.scheduler.runDeinit() {
            logger.error("scriptlet: module \(failure.module) (\(failure.script)): deinit failed: \(failure.message)")
        }
        try? services.effects.httpClient?.syncShutdown()
        services.effects.setHTTPClient(nil)
        try? group.syncShutdownGracefully()
        try? blockingWork.syncShutdownGracefully()
        try? deliveryWork.syncShutdownGracefully()
        resolver?.shutdown()
        services.threadPools?.shutdown()
    }
}

/// Answers once and closes: used for connections over a session limit.
final class RefusingHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let reply: SMTPReply

    init(reply: SMTPReply) { self.reply = reply }

    func channelActive(context: ChannelHandlerContext) {
        var buffer = context.channel.allocator.buffer(capacity: 64)
        reply.write(into: &buffer)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { _ in channel.close(promise: nil) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
}

extension ImpulseServer {
    /// The authserv-id of Authentication-Results and ARC-Authentication-Results fields: the one
    /// a stanza names, else the host name.
    static func authservID(_ configuration: ImpulseConfiguration) -> String {
        configuration.dkimSigning?.authservID ?? configuration.spf?.authservID ?? configuration.dmarc?.authservID
            ?? configuration.hostname
    }
}

/// The inbound settings new sessions take, by listener name, and the TLS contexts they use.
struct InboundListeners: Sendable {
    var listeners: [String: ListenerConfiguration]
    var tlsContexts: [String: NIOSSLContext]
}
