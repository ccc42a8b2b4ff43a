import Datasource
import NIOCore
import NIOPosix
import Scriptlet

/// msys.db's calls carried out on the configuration's datasources: translated to a
/// `DatasourceRequest`, run on the datasource's threads (or, outside a coroutine, on the calling
/// thread when it is not an event loop), and answered as the `EffectResult` Impulse's Lua decodes.
package enum DatabaseEffects {
    static func request(_ call: DatabaseCall) -> DatasourceRequest {
        let parameters: SQLStatement.Parameters
        switch call.parameters {
        case .positional(let values): parameters = .positional(values)
        case .named(let values): parameters = .named(values)
        }
        let operation: DatasourceRequest.Operation
        switch call.operation {
        case .query: operation = .query
        case .fetchRow: operation = .fetchRow
        case .execute: operation = .execute
        }
        return DatasourceRequest(
            operation: operation, statement: SQLStatement(call.sql), parameters: parameters, noCache: call.noCache)
    }

    static func result(_ outcome: Result<QueryResult, DatasourceError>) -> EffectResult {
        switch outcome {
        case .success(let result):
            return DatabaseCall.success(columns: result.columns, rows: result.rows, affectedRows: result.affectedRows)
        case .failure(let error):
            return .failed(error.message)
        }
    }

    /// The cached answer to `call`, if its datasource has one.
    static func cached(_ call: DatabaseCall, in datasources: Datasources?) -> EffectResult? {
        guard let datasource = datasources?[call.cache], let result = datasource.cached(request(call)) else {
            return nil
        }
        return Self.result(.success(result))
    }

    /// Carries `call` out; completes on `loop`.
    static func perform(_ call: DatabaseCall, in datasources: Datasources?, on loop: EventLoop)
        -> EventLoopFuture<EffectResult>
    {
        guard let datasource = datasources?[call.cache] else {
            return loop.makeSucceededFuture(.failed("no datasource named '\(call.cache)'"))
        }
        return datasource.run(request(call), on: loop).map(result)
    }

    /// Runs `call` on this thread, which may block (the datasource's own connection, no hop).
    static func runBlocking(_ call: DatabaseCall, in datasources: Datasources?) -> EffectResult {
        guard let datasource = datasources?[call.cache] else {
            return .failed("no datasource named '\(call.cache)'")
        }
        return result(datasource.runBlocking(request(call)))
    }
}
