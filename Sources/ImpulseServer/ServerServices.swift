import Logging
import NIOConcurrencyHelpers
import Spool

/// What every session shares: the spool writer, id generator, limits bookkeeping and the
/// shutdown flag.
final class ServerServices: Sendable {
    let spoolWriter: SpoolWriter
    let idGenerator: MessageIDGenerator
    let limiter: ConnectionLimiter
    let sessions: SessionRegistry
    let hostname: String
    let memory: ReceptionMemoryBudget
    private let draining = NIOLockedValueBox(false)

    init(spoolWriter: SpoolWriter, idGenerator: MessageIDGenerator, hostname: String, receptionMemoryLimit: Int) {
        self.memory = ReceptionMemoryBudget(limit: receptionMemoryLimit)
        self.spoolWriter = spoolWriter
        self.idGenerator = idGenerator
        self.limiter = ConnectionLimiter()
        self.sessions = SessionRegistry()
        self.hostname = hostname
    }

    var isDraining: Bool { draining.withLockedValue { $0 } }

    func startDraining() { draining.withLockedValue { $0 = true } }
}
