import Foundation
import ImpulseConfig
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// What msys.db asks of a datasource.
public struct DatasourceRequest: Sendable, Equatable {
    public enum Operation: String, Sendable {
        /// msys.db.query: every row (up to max_rows); cached.
        case query
        /// msys.db.fetch_row: the first row; cached.
        case fetchRow = "fetch_row"
        /// msys.db.execute: a statement that changes something; never cached.
        case execute
    }

    public var operation: Operation
    public var statement: SQLStatement
    public var parameters: SQLStatement.Parameters
    /// The `nocache` option: neither use nor keep a cached result.
    public var noCache: Bool

    public init(
        operation: Operation, statement: SQLStatement, parameters: SQLStatement.Parameters, noCache: Bool = false
    ) {
        self.operation = operation
        self.statement = statement
        self.parameters = parameters
        self.noCache = noCache
    }
}

/// One `Datasource "name"` (Momentum's ds_core): its URIs tried round-robin with fail-over, its
/// connections (one per thread at most; one in all when `serialized`), its own threads, so a slow
/// database holds no event loop and no other datasource, and its result cache.
public final class Datasource: Sendable {
    public let definition: DatasourceDefinition
    private let threads: NIOThreadPool
    private let state: NIOLockedValueBox<State>

    private struct State {
        var idle: [Int: [ConnectionBox]] = [:]
        var downUntil: [Int: Double] = [:]
        var nextURI = 0
        var cache: QueryCache
        var statistics = DatasourceStatistics()
    }

    /// A connection handed from thread to thread through the lock; only one thread uses it at once.
    private final class ConnectionBox: @unchecked Sendable {
        let connection: any DatabaseConnection
        init(_ connection: any DatabaseConnection) { self.connection = connection }
    }

    /// `threadCount`: how many queries may run at once (1 when the datasource is serialized).
    public init(_ definition: DatasourceDefinition, threadCount: Int) {
        self.definition = definition
        threads = NIOThreadPool(numberOfThreads: definition.serialized ? 1 : max(1, min(threadCount, 64)))
        threads.start()
        state = NIOLockedValueBox(
            State(
                cache: QueryCache(
                    capacity: definition.noCache ? 0 : definition.cacheSize, lifetime: definition.cacheLife)))
    }

    deinit { threads.shutdownGracefully { _ in } }

    public var name: String { definition.name }

    private var maxRows: Int {
        definition.maxRows < 0 ? DatasourceLimits.maxRows : min(definition.maxRows, DatasourceLimits.maxRows)
    }

    private func cacheKey(_ request: DatasourceRequest) -> String? {
        guard request.operation != .execute, !request.noCache, !definition.noCache else { return nil }
        return QueryCache.key(request.statement, request.parameters)
    }

    /// The cached result of `request`, when there is one (cheap: answered where it is asked).
    public func cached(_ request: DatasourceRequest) -> QueryResult? {
        guard let key = cacheKey(request) else { return nil }
        let now = Date().timeIntervalSince1970
        return state.withLockedValue { state in
            let found = state.cache.result(for: key, now: now)
            if found != nil { state.statistics.cacheHits += 1 }
            return found
        }
    }

    /// Runs `request` on the datasource's threads; completes on `loop` (a cached result at once).
    public func run(_ request: DatasourceRequest, on loop: EventLoop) -> EventLoopFuture<
        Result<QueryResult, DatasourceError>
    > {
        if let result = cached(request) { return loop.makeSucceededFuture(.success(result)) }
        let queued = Date().timeIntervalSince1970
        return threads.runIfActive(eventLoop: loop) { self.runHere(request, queuedAt: queued) }
            .recover { _ in .failure(DatasourceError(.connection, "datasource \(self.name) is shut down")) }
    }

    /// Runs `request` on the calling thread, which may block (the console, a thread pool's job).
    public func runBlocking(_ request: DatasourceRequest) -> Result<QueryResult, DatasourceError> {
        if let result = cached(request) { return .success(result) }
        return runHere(request, queuedAt: Date().timeIntervalSince1970)
    }

    private func runHere(_ request: DatasourceRequest, queuedAt: Double) -> Result<QueryResult, DatasourceError> {
        let now = Date().timeIntervalSince1970
        if now - queuedAt > Double(DatasourceLimits.queryTimeout) {
            return fail(
                DatasourceError(
                    .connection, "\(name): no connection free within \(DatasourceLimits.queryTimeout) seconds"))
        }
        // Another thread may have fetched it while this request waited.
        if let key = cacheKey(request), let result = state.withLockedValue({ $0.cache.result(for: key, now: now) }) {
            return .success(result)
        }
        let uriCount = definition.uris.count
        let first = state.withLockedValue { state -> Int in
            state.statistics.queries += 1
            defer { state.nextURI = (state.nextURI + 1) % uriCount }
            return state.nextURI
        }
        var lastError = DatasourceError(.connection, "\(name): no usable uri")
        var attempts = (0..<uriCount).map { (first + $0) % uriCount }
        var retried: Set<Int> = []
        while !attempts.isEmpty {
            let index = attempts.removeFirst()
            let box: ConnectionBox
            let reused: Bool
            switch connection(for: index, now: now) {
            case .success(let found): (box, reused) = found
            case .failure(let error):
                lastError = error
                continue
            }
            do {
                let limit = request.operation == .fetchRow ? 1 : maxRows
                let result = try box.connection.run(request.statement, request.parameters, maxRows: limit)
                giveBack(box, uri: index)
                if let key = cacheKey(request) {
                    state.withLockedValue { $0.cache.store(result, for: key, now: Date().timeIntervalSince1970) }
                }
                return .success(result)
            } catch {
                if box.connection.isUsable { giveBack(box, uri: index) }
                guard error.kind == .connection else { return fail(error) }
                lastError = error
                // A kept connection the server has since closed: one new connection to the same URI.
                if reused && !retried.contains(index) {
                    retried.insert(index)
                    attempts.insert(index, at: 0)
                }
            }
        }
        return fail(lastError)
    }

    private func fail(_ error: DatasourceError) -> Result<QueryResult, DatasourceError> {
        state.withLockedValue { $0.statistics.errors += 1 }
        return .failure(error)
    }

    /// An idle connection to URI `index`, or a new one; a URI that failed to connect is skipped
    /// for `DatasourceLimits.retryAfterFailure` seconds.
    private func connection(for index: Int, now: Double) -> Result<(ConnectionBox, reused: Bool), DatasourceError> {
        let taken = state.withLockedValue { state -> Result<ConnectionBox?, DatasourceError> in
            if let until = state.downUntil[index], until > now {
                return .failure(
                    DatasourceError(.connection, "\(name): \(definition.uris[index].redacted) is down (retrying soon)"))
            }
            return .success(state.idle[index]?.popLast())
        }
        switch taken {
        case .failure(let error): return .failure(error)
        case .success(let idle?): return .success((idle, true))
        case .success(nil): break
        }
        do {
            let made = ConnectionBox(try Self.connect(definition.uris[index]))
            state.withLockedValue { $0.statistics.connections += 1 }
            return .success((made, false))
        } catch {
            state.withLockedValue { state in
                state.downUntil[index] = now + Double(DatasourceLimits.retryAfterFailure)
                state.statistics.connectFailures += 1
            }
            return .failure(DatasourceError(.connection, "\(name): \(error.message)"))
        }
    }

    private func giveBack(_ box: ConnectionBox, uri index: Int) {
        state.withLockedValue { $0.idle[index, default: []].append(box) }
    }

    static func connect(_ uri: DatasourceDefinition.URI) throws(DatasourceError) -> any DatabaseConnection {
        switch uri.driver {
        case .sqlite: return try SQLiteConnection(path: uri.parameters["dbname"] ?? "")
        case .pgsql: return try PostgreSQLConnection(parameters: uri.parameters)
        case .mysql: return try MySQLConnection(parameters: uri.parameters)
        }
    }

    /// `ds_core flush`: forgets every cached result.
    public func flush() { state.withLockedValue { $0.cache.removeAll() } }

    /// `ds_core stats`.
    public var statistics: DatasourceStatistics {
        state.withLockedValue { state in
            var statistics = state.statistics
            statistics.cachedResults = state.cache.count
            statistics.cachedOctets = state.cache.octets
            return statistics
        }
    }
}

/// Counters of one datasource (`ds_core stats`).
public struct DatasourceStatistics: Sendable, Equatable {
    /// Statements sent to the database.
    public var queries = 0
    /// Answers from the cache.
    public var cacheHits = 0
    public var errors = 0
    public var connections = 0
    public var connectFailures = 0
    public var cachedResults = 0
    public var cachedOctets = 0
}
