import LuaBridge

/// Hook points fired outside the callout sequence (docs/lua/README.md, hooks): marshalled by their
/// prototypes (HookRegistry), fired in a session's step or, when they may wait, in a coroutine of
/// their own.
extension PolicyState {
    /// A value for one hook argument (HookPrototype.Parameter), from the firing side.
    public enum HookValue: Sendable {
        case message, accept, validationContext
        case buffer(String)
        case text(String)
        case number(Double)
        case opaque([String: String])
    }

    /// Fires hook `name` (every module that implements it, in order) with `values` marshalled by
    /// its prototype; `session` gives the msg/accept/vctx objects. Returns the first buffer's
    /// text as the modules left it, or the failure. The hook cannot wait (it runs inside a
    /// session's own step); see `fireHookWaiting` for hooks that may.
    @discardableResult
    public func fireHook(_ name: String, session: Int?, _ values: [HookValue]) -> Result<String?, ScriptletFailure> {
        let arguments: [LuaValue]
        switch hookArguments(name, session: session, values) {
        case .success(let marshalled): arguments = marshalled
        case .failure(let failure): return .failure(failure)
        }
        lua.setWatchdog(instructions: instructionBudget)
        defer { lua.setWatchdog(instructions: 0) }
        do {
            return Self.hookResult(try lua.callInternal(.fireHook, arguments), hook: name)
        } catch {
            return .failure(ScriptletFailure(module: "?", script: "?", callout: name, message: error.message))
        }
    }

    /// `fireHook` for hooks fired outside a session step (the delivery log hooks): the modules
    /// may wait (msys.dnsLookup …) through `effectPerformer`; `completion` runs on this state's
    /// thread.
    public func fireHookWaiting(
        _ name: String, session: Int?, _ values: [HookValue],
        completion: @escaping (Result<String?, ScriptletFailure>) -> Void
    ) {
        switch hookArguments(name, session: session, values) {
        case .failure(let failure):
            completion(.failure(failure))
        case .success(let arguments):
            runWaiting(.fireHook, arguments) { run in
                switch run {
                case .finished(let results): completion(Self.hookResult(results, hook: name))
                case .failed(let message):
                    completion(.failure(ScriptletFailure(module: "?", script: "?", callout: name, message: message)))
                }
            }
        }
    }

    private static func hookResult(_ results: [LuaValue], hook: String) -> Result<String?, ScriptletFailure> {
        if case .failed(let failure) = CalloutReport(results[...], callout: hook).outcome { return .failure(failure) }
        if case .string(let text)? = results.dropFirst().first { return .success(text) }
        return .success(nil)
    }

    /// The arguments of `__impulse_fire_hook` for hook `name`, marshalled by its prototype.
    private func hookArguments(_ name: String, session: Int?, _ values: [HookValue]) -> Result<
        [LuaValue], ScriptletFailure
    > {
        guard let prototype = HookRegistry.prototypes[name] else {
            return .failure(ScriptletFailure(module: "?", script: "?", callout: name, message: "no such hook point"))
        }
        guard prototype.parameters.count == values.count else {
            return .failure(
                ScriptletFailure(
                    module: "?", script: "?", callout: name,
                    message: "\(values.count) arguments for a prototype of \(prototype.parameters.count)"))
        }
        var arguments: [LuaValue] = [session.map { .number(Double($0)) } ?? .nil, .string(name)]
        for value in values {
            switch value {
            case .message: arguments += [.string("msg"), .nil]
            case .accept: arguments += [.string("accept"), .nil]
            case .validationContext: arguments += [.string("vctx"), .nil]
            case .buffer(let text): arguments += [.string("buffer"), .string(text)]
            case .text(let text): arguments += [.string("text"), .string(text)]
            case .number(let number): arguments += [.string("number"), .number(number)]
            case .opaque(let fields):
                arguments += [
                    .string("opaque"),
                    .string(fields.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "\n"))
                ]
            }
        }
        return .success(arguments)
    }

    /// True when some module implements the hook `name` (`core_log_delivery_v1` …).
    public func implementsHook(_ name: String) -> Bool {
        if case .boolean(true)? = try? lua.callInternal(.hookImplemented, [.string(name)]).first { return true }
        return false
    }
}
