import Delivery
import ImpulseMetrics
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import PolicyRuntime
import Resolver
import Scriptlet
import SenderAuth
import Spool
import Synchronization

/// What every session shares: the spool writer, id generator, limits bookkeeping and the
/// shutdown flag.
package final class ServerServices: Sendable {
    package let spoolWriter: SpoolWriter
    package let idGenerator: MessageIDGenerator
    package let limiter: ConnectionLimiter
    package let metrics: ServerMetrics
    package let statistics: ServerStatistics
    package let sessions: SessionRegistry
    package let hostname: String
    package let memory: ReceptionMemoryBudget
    /// Failed SMTP AUTH attempts per client address (they slow its next failures down).
    package let authFailures = AuthFailureTracker()
    /// Carries out what policies wait for (sleep, DNS, file reads, injection, pool jobs).
    package let effects: PolicyEffectExecutor
    /// mainlog, bouncelog and rejectlog.
    package let recordLog: DeliveryLog
    /// DKIM signing at reception (the opendkim stanza), when configured.
    package let signing = SharedSetting<ReceptionSigning>()
    /// SPF, DKIM verification and DMARC at reception, when configured.
    package let authentication = SharedSetting<ReceptionAuthentication>()
    /// `impulse policy test`'s observer; nil when serving.
    package let trace: PolicyTrace?
    /// An HTTP_Listener serves the metrics: only then are callouts timed.
    package var metricsServed: Bool { metrics.served }
    /// One policy state per event loop (empty without a scriptlet stanza); replaced on reload.
    private let policyStates = NIOLockedValueBox([ObjectIdentifier: NIOLoopBound<PolicyState>]())
    private let nextSessionID = Atomic<Int>(1)
    private let draining = NIOLockedValueBox(false)

    package init(
        spoolWriter: SpoolWriter, idGenerator: MessageIDGenerator, hostname: String, receptionMemoryLimit: Int,
        blockingWork: NIOThreadPool, resolver: DNSResolver?, recordLog: DeliveryLog, metricsServed: Bool,
        trace: PolicyTrace? = nil, substituteEffects: (@Sendable (PolicyEffect) -> EffectResult?)? = nil
    ) {
        self.trace = trace
        self.effects = PolicyEffectExecutor(
            blockingWork: blockingWork, resolver: resolver, spoolWriter: spoolWriter,
            idGenerator: idGenerator, substitute: substituteEffects)
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

    package func setPolicyStates(_ states: [ObjectIdentifier: NIOLoopBound<PolicyState>]) {
        policyStates.withLockedValue { $0 = states }
    }

    /// The policy state of `loop`; call on that loop.
    package func policyState(for loop: EventLoop) -> PolicyState? {
        policyStates.withLockedValue { $0[ObjectIdentifier(loop)] }?.value
    }

    package func setThreadPools(_ pools: LuaThreadPools?) { effects.setThreadPools(pools) }
    package var threadPools: LuaThreadPools? { effects.threadPools }

    package func makeSessionID() -> Int { nextSessionID.wrappingAdd(1, ordering: .relaxed).oldValue }

    package var isDraining: Bool { draining.withLockedValue { $0 } }

    package func startDraining() { draining.withLockedValue { $0 = true } }
}
