import LuaBridge

/// SMTP AUTH through a scheme a script registered with msys.registerAuth (docs/smtp-auth.md).
extension PolicyState {
    /// What a registered scheme decided.
    public enum AuthDecision: Sendable, Equatable {
        case ok
        case fail
        /// EC_AUTH_ERROR, an unknown scheme, or the script failed: why.
        case error(String)
    }

    /// Runs `scheme`'s `authenticate(path, parameters, user, password)` in a coroutine of its own
    /// (it may wait); `completion` runs on this state's thread, at once when nothing waited.
    public func authenticate(
        scheme: String, path: String, parameters: [String: String], user: String, password: String,
        completion: @escaping (AuthDecision) -> Void
    ) {
        var arguments: [LuaValue] = [.string(scheme), .string(path), .string(user), .string(password)]
        for (key, value) in parameters.sorted(by: { $0.key < $1.key }) { arguments += [.string(key), .string(value)] }
        runWaiting(.authenticate, arguments) { run in
            switch run {
            case .failed(let message): completion(.error(message))
            case .finished(let values):
                switch values.first {
                case .string("ok"): completion(.ok)
                case .string("fail"): completion(.fail)
                default: completion(.error(values.dropFirst().first?.description ?? "no answer"))
                }
            }
        }
    }
}
