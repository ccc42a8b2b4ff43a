import Datasource
import Delivery
import Foundation
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
import Spool

/// Policy generations: the scheduler's state, one state per event loop and the thread pools,
/// built from the configuration's scriptlet stanza, wired to the effect executor, and installed
/// for new sessions (at start and on reload).
extension ImpulseServer {
    /// Loads the policy of `configuration` and installs it (start).
    func loadPolicy() throws {
        install(try makePolicy(configuration), configuration)
    }

    /// The configuration's datasources (msys.db, and SMTP AUTH's ecauth://), their threads sized
    /// by the thread pool each names.
    func makeDatasources(_ configuration: ImpulseConfiguration) -> Datasources {
        Datasources(configuration.datasources) { name in
            let pool = configuration.threadPools.first { $0.name.lowercased() == name.lowercased() }
            return max(pool?.concurrency ?? 4, 1)
        }
    }

    /// One configuration's Lua policy: the scheduler's state (init/deinit), a state per event
    /// loop, and the thread pools whose states run msys.runInPool jobs.
    struct PolicyGeneration {
        let scheduler: PolicyState
        let states: [ObjectIdentifier: NIOLoopBound<PolicyState>]
        let pools: LuaThreadPools
        /// msys.db's datasources; made before init, which may query them.
        let datasources: Datasources
        let scriptCount: Int
    }

    /// Loads the scripts into a new scheduler state and runs `init` there (a module whose init
    /// does not return true fails it: the configuration is not applied), then into one state per
    /// event loop. Nothing is installed; nil without a scriptlet stanza.
    func makePolicy(_ configuration: ImpulseConfiguration) throws -> PolicyGeneration? {
        guard let scriptlet = configuration.scriptlet else { return nil }
        let sources = scriptlet.scripts.compactMap { script in
            script.resolvedPath.map { ScriptSource(name: script.name, path: $0) }
        }
        for script in scriptlet.scripts where script.resolvedPath == nil {
            logger.info(
                """
                scriptlet: \(script.location): script \"\(script.name)\" names Momentum's built-in \
                \(script.source); nothing to load
                """
            )
        }
        let scriptLogger = logger
        let printer: @Sendable (String) -> Void = { scriptLogger.notice("scriptlet: \($0)") }
        let shared = SharedPolicyData(namedThrottleCapacity: configuration.namedThrottleCapacity)
        let bindings = configuration.bindings.map { (name: $0.name, group: $0.group) }
        let limiter = services.limiter
        let metrics: ServerMetrics? = configuration.httpListens.isEmpty ? nil : services.metrics
        let gc = (pause: scriptlet.gcPause, stepMultiplier: scriptlet.gcStepMultiplier)
        let maxMemory = scriptlet.maxMemory
        let datasources = makeDatasources(configuration)
        // Every state of a generation: the same scripts, shared data, bindings and session counts.
        let executor = services.effects
        let waitLoop = group.next()
        let manager = queueManager
        let query = configuration.query
        let classification = deliveryLog.classification
        let hostname = configuration.hostname
        let adaptiveRegistrar: @Sendable (Bool, [AdaptiveRuleText], [String: String]) -> String? = {
            replace, texts, aliases in
            var rules: [AdaptiveRules.Rule] = []
            for text in texts {
                do throws(AdaptiveRuleError) {
                    rules.append(
                        try AdaptiveRules.rule(
                            domain: text.domain, code: text.code, trigger: text.trigger, message: text.message,
                            actions: text.actions, origin: "script"))
                } catch {
                    return "\(text.domain): \(error.description)"
                }
            }
            manager.adaptiveRules.register(rules: rules, aliases: aliases, replace: replace)
            return nil
        }
        let newState: @Sendable () throws -> PolicyState = {
            let state = try PolicyState(
                scripts: sources, shared: shared, memoryLimit: maxMemory, printer: printer,
                adaptiveRegistrar: adaptiveRegistrar)
            state.configureBindings(bindings)
            state.blockingEffects = { executor.performBlocking($0, datasources: datasources, loop: waitLoop) }
            state.queueDelayer = { domain, reason in manager.delay(domain: domain, reason: reason) }
            state.configQuery = { query.answer($0) }
            state.bounceClassifier = { classification.classify($0, domain: $1) }
            state.hostname = hostname
            state.immediateEffects = { executor.immediate($0) }
            state.sessionCounter = { block in limiter.sessions(in: block) }
            if gc != (200, 200) { state.tuneGarbageCollector(pause: gc.pause, stepMultiplier: gc.stepMultiplier) }
            if let metrics {
                state.enableModuleTiming { module, callout, seconds in
                    metrics.module(module, callout: callout, seconds: seconds)
                }
            }
            return state
        }
        let scheduler: PolicyState
        do {
            scheduler = try newState()
        } catch {
            throw StartError(description: "\(scriptlet.location): \(error)")
        }
        for warning in scheduler.warnings { logger.warning("\(warning)") }
        let pools = LuaThreadPools(configuration.threadPools, makeState: newState)
        // The scheduler's state lives on the control queue: its timers and its pool jobs'
        // completions run there (init and its timers may use the pools too).
        let controlQueue = control
        let schedulerRef = ControlQueueBound(WeakReference(scheduler), on: controlQueue)
        scheduler.timerScheduler = { seconds, body in
            let confined = ControlQueueBound(body, on: controlQueue)
            let item = DispatchWorkItem { confined.value() }
            controlQueue.asyncAfter(deadline: .now() + seconds, execute: item)
            return { item.cancel() }
        }
        // What the scheduler's Lua waits for (timers, delivery hooks) is carried out by the
        // effect executor on an event loop; the answer comes back on the control queue.
        let effects = services.effects
        let effectLoop = group.next()
        scheduler.effectPerformer = { effect, resume in
            let confined = ControlQueueBound(resume, on: controlQueue)
            effects.perform(effect, origin: .init(label: "scheduler", limits: SMTPLimits()), on: effectLoop).whenSuccess
            { result in
                controlQueue.async { confined.value(result) }
            }
        }
        scheduler.poolInfo = { operation, pool in pools.info(operation, pool) }
        scheduler.poolSubmitter = Self.poolSubmitter(pools, loop: group.next()) { completion, results in
            controlQueue.async { schedulerRef.value.object?.runPoolCompletion(completion, results: results) }
        }
        if let failure = scheduler.runInit() {
            throw StartError(
                description:
                    """
                    \(scriptlet.location): scriptlet: module \(failure.module) (\(failure.script)): init failed: \
                    \(failure.message); configuration not applied
                    """
            )
        }
        var states: [ObjectIdentifier: NIOLoopBound<PolicyState>] = [:]
        do {
            for loop in group.makeIterator() {
                let bound = try loop.submit { () throws -> NIOLoopBound<PolicyState> in
                    let state = try newState()
                    state.poolInfo = { operation, pool in pools.info(operation, pool) }
                    state.effectPerformer = { effect, resume in
                        let bound = NIOLoopBound(resume, eventLoop: loop)
                        effects.perform(effect, origin: .init(label: "timer", limits: SMTPLimits()), on: loop)
                            .whenSuccess { bound.value($0) }
                    }
                    state.timerScheduler = { seconds, body in
                        let bound = NIOLoopBound(body, eventLoop: loop)
                        let task = loop.scheduleTask(in: .nanoseconds(Int64(seconds * 1_000_000_000))) { bound.value() }
                        return { task.cancel() }
                    }
                    // A job's scheduler-side completion runs on this loop (where its future completes).
                    let stateRef = NIOLoopBound(WeakReference(state), eventLoop: loop)
                    state.poolSubmitter = Self.poolSubmitter(pools, loop: loop) { completion, results in
                        stateRef.value.object?.runPoolCompletion(completion, results: results)
                    }
                    return NIOLoopBound(state, eventLoop: loop)
                }.wait()
                states[ObjectIdentifier(loop)] = bound
            }
        } catch {
            _ = scheduler.runDeinit()
            throw StartError(description: "\(scriptlet.location): \(error)")
        }
        logger.notice(
            """
            scriptlet: \(sources.count) script(s) loaded; callouts: \
            \(scheduler.callouts.map(\.rawValue).sorted().joined(separator: ", "))
            """
        )
        return PolicyGeneration(
            scheduler: scheduler, states: states, pools: pools, datasources: datasources, scriptCount: sources.count)
    }

    /// msys.runInPool jobs nobody waits for (`true` or a completion function): queued in `pools`,
    /// their futures completing on `loop`; `complete` runs a scheduler-side completion.
    static func poolSubmitter(
        _ pools: LuaThreadPools, loop: EventLoop,
        complete: @escaping @Sendable (_ completion: [UInt8], _ results: [UInt8]) -> Void
    )
        -> (String, [UInt8], [UInt8]?) -> String?
    {
        { pool, payload, completion in
            guard pools.find(pool) != nil else { return "no thread pool named '\(pool)'" }
            pools.run(pool, payload: payload, on: loop).whenComplete { result in
                guard let completion else { return }
                complete(completion, (try? result.get()) ?? PolicyState.failedJob("\(result)"))
            }
            return nil
        }
    }

    /// Makes `generation` the policy of new sessions (sessions already open keep theirs); on the
    /// control queue. Without a policy, `configuration`'s datasources still serve SMTP AUTH.
    func install(_ generation: PolicyGeneration?, _ configuration: ImpulseConfiguration) {
        services.setPolicyStates(generation?.states ?? [:])
        services.setThreadPools(generation?.pools)
        services.effects.setDatasources(
            generation?.datasources ?? (configuration.datasources.isEmpty ? nil : makeDatasources(configuration)))
        let hooks = [
            "core_log_delivery_v1", "core_log_transient_failure_v1", "core_log_permanent_failure_v1",
            "core_ec_message_enqueue", "core_pre_mailq_message_requeue", "core_get_outbound_tls_parameters"
        ]
        deliveryHookNames.withLockedValue { names in
            names = Set(hooks.filter { generation?.scheduler.implementsHook($0) == true })
        }
        policy.value = generation
    }
}
