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
    /// Momentum's "IO" pool: blocking work (DNS lookups) off the event loops.
    let blockingWork: NIOThreadPool
    /// The DNS resolver (nil when it could not be set up; lookups then fail with a reason).
    let resolver: DNSResolver?
    /// mainlog, bouncelog and rejectlog.
    let recordLog: DeliveryLog
    /// An HTTP_Listener serves the metrics: only then are callouts timed.
    var metricsServed: Bool { metrics.served }
    /// One policy state per event loop (empty without a scriptlet stanza); replaced on reload.
    private let policyStates = NIOLockedValueBox([ObjectIdentifier: NIOLoopBound<PolicyState>]())
    private let nextSessionID = Atomic<Int>(1)
    /// msys.runInPool's pools (nil without a scriptlet stanza); replaced on reload.
    private let luaPools = NIOLockedValueBox<LuaThreadPools?>(nil)
    private let draining = NIOLockedValueBox(false)

    init(spoolWriter: SpoolWriter, idGenerator: MessageIDGenerator, hostname: String, receptionMemoryLimit: Int,
         blockingWork: NIOThreadPool, resolver: DNSResolver?, recordLog: DeliveryLog, metricsServed: Bool) {
        self.blockingWork = blockingWork
        self.recordLog = recordLog
        self.resolver = resolver
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

    func setThreadPools(_ pools: LuaThreadPools?) { luaPools.withLockedValue { $0 = pools } }
    var threadPools: LuaThreadPools? { luaPools.withLockedValue { $0 } }

    func makeSessionID() -> Int { nextSessionID.wrappingAdd(1, ordering: .relaxed).oldValue }

    var isDraining: Bool { draining.withLockedValue { $0 } }

    func startDraining() { draining.withLockedValue { $0 = true } }
}
