import Delivery
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Resolver
import Scriptlet
import Spool
import Synchronization

/// What every session shares: the spool writer, id generator, limits bookkeeping and the
/// shutdown flag.
final class ServerServices: Sendable {
    let spoolWriter: SpoolWriter
    let idGenerator: MessageIDGenerator
    let limiter: ConnectionLimiter
    let metrics: ServerMetrics
    let statistics: ServerStatistics
    let sessions: SessionRegistry
    let hostname: String
    let memory: ReceptionMemoryBudget
    /// Carries out what policies wait for (sleep, DNS, file reads, injection, pool jobs).
    let effects: PolicyEffectExecutor
    /// mainlog, bouncelog and rejectlog.
    let recordLog: DeliveryLog
    /// An HTTP_Listener serves the metrics: only then are callouts timed.
    var metricsServed: Bool { metrics.served }
    /// One policy state per event loop (empty without a scriptlet stanza); replaced on reload.
    private let policyStates = NIOLockedValueBox([ObjectIdentifier: NIOLoopBound<PolicyState>]())
    private let nextSessionID = Atomic<Int>(1)
    private let draining = NIOLockedValueBox(false)

    init(
        spoolWriter: SpoolWriter, idGenerator: MessageIDGenerator, hostname: String, receptionMemoryLimit: Int,
        blockingWork: NIOThreadPool, resolver: DNSResolver?, recordLog: DeliveryLog, metricsServed: Bool
    ) {
        self.effects = PolicyEffectExecutor(
            blockingWork: blockingWork, resolver: resolver, spoolWriter: spoolWriter,
            idGenerator: idGenerator)
        self.recordLog = recordLog
        self.memory = ReceptionMemoryBudget(limit: receptionMemoryLimit)
        self.spoolWriter = spoolWriter
        self.idGenerator = idGenerator
        self.limiter = ConnectionLimiter()
        let metrics = ServerMetrics(served: metricsServed)
        self.metrics = metrics
        self.statistics = ServerStatistics(metrics: metrics)
        self.sessions = SessionRegistry()
        self.hostname = hostname
    }

    func setPolicyStates(_ states: [ObjectIdentifier: NIOLoopBound<PolicyState>]) {
        policyStates.withLockedValue { $0 = states }
    }

    /// The policy state of `loop`; call on that loop.
    func policyState(for loop: EventLoop) -> PolicyState? {
        policyStates.withLockedValue { $0[ObjectIdentifier(loop)] }?.value
    }

    func setThreadPools(_ pools: LuaThreadPools?) { effects.setThreadPools(pools) }
    var threadPools: LuaThreadPools? { effects.threadPools }

    func makeSessionID() -> Int { nextSessionID.wrappingAdd(1, ordering: .relaxed).oldValue }

    var isDraining: Bool { draining.withLockedValue { $0 } }

    func startDraining() { draining.withLockedValue { $0 = true } }
}
