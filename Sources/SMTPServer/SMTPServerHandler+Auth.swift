import Datasource
import ImpulseConfig
import Logging
import NIOCore
import SMTPProtocol

/// SMTP AUTH's credentials checked (docs/smtp-auth.md): a `file://` password file (hashes on the
/// blocking-work threads) or a msys.registerAuth scheme in the policy state. A success sets the
/// connection context (auth_user, auth_name, auth_status, can_relay); a failure is logged without
/// the password and answered later the more often the address failed (AuthFailureTracker).
extension SMTPServerHandler {
    func authenticate(_ mechanism: SASLMechanism, _ credentials: SASLCredentials, context: ChannelHandlerContext) {
        mode = .waiting
        context.flush()
        let loop = context.eventLoop
        let bound = NIOLoopBound(self, eventLoop: loop)
        let finish: @Sendable (SMTPSessionStateMachine.AuthVerdict, String?) -> Void = { verdict, reason in
            loop.execute { bound.value.authenticationFinished(verdict, mechanism, credentials.user, reason: reason) }
        }
        guard let backend = machine.policy.authBackends[mechanism] else {
            finish(.temporaryFailure, "no credentials configured")
            return
        }
        switch backend.source {
        case .file(let file):
            if case .password = credentials.proof, case .hashed? = file.entries[credentials.user] {
                services.effects.blockingWork.runIfActive(eventLoop: loop) {
                    PasswordCheck.verify(credentials, in: file)
                }.whenComplete { result in
                    finish((try? result.get()) ?? .temporaryFailure, nil)
                }
            } else {
                finish(PasswordCheck.verify(credentials, in: file), nil)
            }
        case .datasource(let name, let query):
            guard let datasource = services.effects.datasources?[name] else {
                finish(.temporaryFailure, "no datasource named '\(name)'")
                return
            }
            var parameters: [String: SQLStatement.Value] = ["username": credentials.user]
            let checksPassword = query.contains(":password")
            if checksPassword {
                // The database compares: only a password itself can be handed to it.
                guard case .password(let password) = credentials.proof else {
                    finish(.rejected(tooWeak: true), nil)
                    return
                }
                parameters["password"] = password
            }
            let request = DatasourceRequest(
                operation: .fetchRow, statement: SQLStatement(query), parameters: .named(parameters), noCache: true)
            let blockingWork = services.effects.blockingWork
            datasource.run(request, on: loop).whenSuccess { result in
                switch result {
                case .failure(let error): finish(.temporaryFailure, "datasource \(name): \(error.message)")
                case .success(let answer) where answer.rows.isEmpty: finish(.rejected(tooWeak: false), nil)
                case .success where checksPassword: finish(.accepted(user: credentials.user), nil)
                case .success(let answer):
                    guard let stored = answer.rows[0].first ?? nil else {
                        return finish(.rejected(tooWeak: false), nil)
                    }
                    let file = PasswordFile(
                        path: "ecauth://\(name)",
                        entries: [credentials.user: stored.hasPrefix("$") ? .hashed(stored) : .clear(stored)])
                    // A crypt(3) hash costs CPU: not on the event loop.
                    blockingWork.runIfActive(eventLoop: loop) { PasswordCheck.verify(credentials, in: file) }
                        .whenComplete { finish((try? $0.get()) ?? .temporaryFailure, nil) }
                }
            }
        case .script(let scheme, let path):
            guard let policyState, policySessionOpen, case .password(let password) = credentials.proof else {
                finish(.temporaryFailure, "no policy is loaded to answer for \(scheme)://")
                return
            }
            policyState.authenticate(
                scheme: scheme, path: path, parameters: backend.parameters, user: credentials.user,
                password: password
            ) { decision in
                switch decision {
                case .ok: finish(.accepted(user: credentials.user), nil)
                case .fail: finish(.rejected(tooWeak: false), nil)
                case .error(let why): finish(.temporaryFailure, why)
                }
            }
        }
    }

    private func authenticationFinished(
        _ verdict: SMTPSessionStateMachine.AuthVerdict, _ mechanism: SASLMechanism, _ user: String, reason: String?
    ) {
        guard let context, case .waiting = mode else { return }
        let client = machine.clientAddress
        var delay = 0.0
        var metadata: Logger.Metadata = [
            "client": "\(clientLabel)", "mechanism": "\(mechanism.rawValue)", "user": "\(user)"
        ]
        if let reason { metadata["reason"] = "\(reason)" }
        switch verdict {
        case .accepted(let name):
            services.authFailures.succeeded(client)
            policyState?.setContexts(
                sessionID,
                [
                    PolicyContextUpdate(message: false, key: "auth_user", value: name),
                    PolicyContextUpdate(message: false, key: "auth_name", value: mechanism.rawValue),
                    PolicyContextUpdate(message: false, key: "auth_status", value: "pass"),
                    PolicyContextUpdate(message: false, key: "can_relay", value: "true")
                ])
            if machine.policy.authBackends[mechanism]?.logAuthentication == true {
                logger.notice("auth: authenticated", metadata: metadata)
            }
        case .rejected:
            delay = services.authFailures.failed(client)
            policyState?.setContext(sessionID, message: false, "auth_status", "fail")
            logger.warning("auth: authentication failed", metadata: metadata)
        case .temporaryFailure:
            policyState?.setContext(sessionID, message: false, "auth_status", "error")
            logger.error("auth: credentials could not be checked", metadata: metadata)
        }
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let answer: @Sendable () -> Void = {
            let handler = bound.value
            guard let context = handler.context, case .waiting = handler.mode else { return }
            handler.mode = .command
            handler.lastActivity = .now()
            handler.perform(handler.machine.authenticationDecided(verdict, mechanism: mechanism), context: context)
            handler.process(context: context)
            context.flush()
            if context.channel.isWritable { handler.resumeReading(context: context) }
        }
        if delay > 0 {
            context.eventLoop.scheduleTask(in: .milliseconds(Int64(delay * 1000)), answer)
        } else {
            answer()
        }
    }
}
