import Foundation

/// The scopes beyond listeners, domains and logs: thread pools, the control listener, modules
/// that only take common options, and the scriptlet stanza with its scripts.
extension Binder {
    /// `ThreadPool "name" { Concurrency = N  Backlog = N  Stack_Size = N }`: a new pool, or new
    /// values for a standard one (names compare without case, as Momentum's do).
    mutating func bindThreadPool(_ scope: ConfigScope, into pools: inout [ThreadPoolDefinition]) {
        guard let name = scope.instance, !name.isEmpty, !name.contains(where: { $0 == " " || $0 == ":" }) else {
            error(scope.location, "ThreadPool needs a name: ThreadPool \"name\" { Concurrency = 4 }")
            return
        }
        let index = pools.firstIndex { $0.name.lowercased() == name.lowercased() }
        var pool = index.map { pools[$0] } ?? ThreadPoolDefinition(name: name, concurrency: 1)
        for option in scope.options {
            do {
                switch option.name {
                case "concurrency": pool.concurrency = try OptionReader.integer(option, in: 0...1024)
                case "backlog": pool.backlog = try OptionReader.integer(option, in: 0...1_000_000)
                case "stack_size": _ = try OptionReader.integer(option, in: 0...(1 << 30))
                default:
                    error(
                        option.location,
                        "unknown option '\(option.spelling)' in \(scope.displayName) (Concurrency, Backlog, Stack_Size)"
                    )
                }
            } catch { record(error) }
        }
        for child in scope.scopes {
            error(child.location, "'\(child.spelling)' is not valid inside \(scope.displayName)")
        }
        if let index { pools[index] = pool } else { pools.append(pool) }
    }

    /// `Control_Listener`: Unix sockets (`File_Mode`, default 0600: the server's user only) and
    /// loopback TCP addresses; the console has no login yet, so nothing else may reach it.
    mutating func bindControlListener(_ scope: ConfigScope) -> ControlListenerConfiguration {
        var control = ControlListenerConfiguration(location: scope.location)
        for option in scope.options {
            do {
                switch option.name {
                case "timeout": control.timeout = try OptionReader.integer(option, in: 1...86400)
                case "enable", "listen_backlog": _ = try OptionReader.scalar(option)
                case "enable_authentication", "authdigestmd5parameters", "authloginparameters", "authcrammd5parameters",
                    "enable_authorization", "authorizationparameters":
                    error(
                        option.location,
                        """
                        '\(option.spelling)' is not supported yet: Impulse's console has no login; keep it on a \
                        Unix socket or loopback
                        """
                    )
                default:
                    error(
                        option.location, "unknown option '\(option.spelling)' in \(scope.displayName) (Listen, Timeout)"
                    )
                }
            } catch { record(error) }
        }
        for child in scope.scopes {
            guard child.keyword == "listen", let instance = child.instance else {
                error(child.location, "'\(child.spelling)' is not valid inside \(scope.displayName) (expected Listen)")
                continue
            }
            var mode = 0o600
            for option in child.options {
                do {
                    switch option.name {
                    case "file_mode": mode = try OptionReader.octal(option)
                    case "enable_authentication", "always_allow", "always_deny":
                        error(
                            option.location, "'\(option.spelling)' is not supported yet: Impulse's console has no login"
                        )
                    default:
                        error(
                            option.location, "unknown option '\(option.spelling)' in \(child.displayName) (File_Mode)")
                    }
                } catch { record(error) }
            }
            for inner in child.scopes {
                error(inner.location, "'\(inner.spelling)' is not valid inside \(child.displayName)")
            }
            if instance.hasPrefix("/") {
                control.endpoints.append(.unix(path: instance, mode: mode))
            } else if instance.hasPrefix("./") || instance.hasPrefix("../") || !instance.contains(":") {
                control.endpoints.append(
                    .unix(path: OptionReader.resolve(path: instance, relativeTo: child.location.file), mode: mode))
            } else {
                switch ListenAddress.parse(instance) {
                case .success(let address)
                where address.host == "127.0.0.1" || address.host == "::1" || address.host.hasPrefix("127."):
                    control.endpoints.append(.tcp(address))
                case .success:
                    error(
                        child.location,
                        """
                        the control listener only listens on loopback (127.0.0.1 or ::1) or a Unix socket: it has \
                        no login or TLS yet
                        """
                    )
                case .failure(let failure):
                    error(child.location, "\(failure.reason)")
                }
            }
        }
        if control.endpoints.isEmpty {
            warning(scope.location, "Control_Listener has no Listen stanza; no control socket is opened")
        }
        return control
    }

    static func validBindingName(_ name: String) -> Bool {
        !name.isEmpty && !name.contains(where: { $0 == " " || $0 == ":" || $0 == "\t" })
    }

    mutating func bindModuleOptionsOnly(_ scope: ConfigScope) {
        for option in scope.options {
            if ConfigurationLoader.moduleCommonOptions.contains(option.name) { continue }
            warning(
                option.location, "option '\(option.spelling)' of \(scope.displayName) is not supported yet (ignored)")
        }
    }

    /// scriptlet "name" { script_ttl = 300  script "boot" { source = "msys.boot" } … }
    mutating func bindScriptlet(_ scopes: [ConfigScope]) -> ScriptletConfiguration? {
        let first = scopes[0]
        let instance = first.instance ?? "scriptlet"
        var configuration = ScriptletConfiguration(instance: instance, location: first.location)
        let configDirectory = (sourcePath as NSString).deletingLastPathComponent
        configuration.searchPath = [configDirectory]
        var names: [String: SourceLocation] = [:]
        for scope in scopes {
            if (scope.instance ?? "scriptlet") != instance {
                error(
                    scope.location,
                    """
                    only one scriptlet instance may be configured: \"\(instance)\" is already defined at \
                    \(first.location)
                    """
                )
                continue
            }
            for option in scope.options {
                do {
                    switch option.name {
                    case "gc_pause": configuration.gcPause = try OptionReader.integer(option, in: 50...10000)
                    case "gc_stepmul": configuration.gcStepMultiplier = try OptionReader.integer(option, in: 50...10000)
                    case "max_memory":
                        configuration.maxMemory = try OptionReader.integer(option, in: 1_048_576...Int(Int32.max) * 8)
                    case "script_ttl", "max_spare_per_master", "reap_interval":
                        _ = try OptionReader.integer(option, in: 1...Int(Int32.max))
                    case "always_gc": _ = try OptionReader.bool(option)
                    case "enabled", "debug_level": _ = try OptionReader.scalar(option)
                    default: error(option.location, "scriptlet: invalid configuration option '\(option.spelling)'")
                    }
                } catch { record(error) }
            }
            for child in scope.scopes {
                guard child.keyword == "script" else {
                    error(
                        child.location,
                        """
                        '\(child.spelling)' is not valid inside \(scope.displayName) (expected script \"name\" { \
                        source = \"…\" })
                        """
                    )
                    continue
                }
                guard let name = child.instance else {
                    error(child.location, "script needs a name: script \"policy\" { source = \"policy\" }")
                    continue
                }
                if let previous = names[name] {
                    error(child.location, "script \"\(name)\" is already defined at \(previous)")
                    continue
                }
                names[name] = child.location
                var source: String?
                for option in child.options {
                    if option.name == "source" {
                        do { source = try OptionReader.scalar(option) } catch { record(error) }
                    } else {
                        error(
                            option.location,
                            "'\(option.spelling)' is not valid in script \"\(name)\": source is the only option")
                    }
                }
                for nested in child.scopes {
                    error(nested.location, "'\(nested.spelling)' is not valid inside script \"\(name)\"")
                }
                guard let source, !source.isEmpty else {
                    error(child.location, "script \"\(name)\" has no source = \"…\"")
                    continue
                }
                let resolved = Self.resolveScript(source, searchPath: configuration.searchPath)
                if resolved == nil && !source.hasPrefix("msys.") && !source.hasPrefix("msys/") {
                    error(
                        child.location,
                        """
                        script \"\(name)\": source \"\(source)\" not found (searched \
                        \(configuration.searchPath.joined(separator: ", ")))
                        """
                    )
                    continue
                }
                configuration.scripts.append(
                    .init(name: name, source: source, resolvedPath: resolved, location: child.location))
            }
        }
        return configuration
    }

    /// A module path (`policies.main`, `policies/main`) becomes `policies/main.lua` on the search
    /// path; an absolute path is used as given (with or without `.lua`).
    static func resolveScript(_ source: String, searchPath: [String]) -> String? {
        let fileManager = FileManager.default
        if source.hasPrefix("/") {
            for candidate in [source, source + ".lua"] where fileManager.fileExists(atPath: candidate) {
                return candidate
            }
            return nil
        }
        let relative = source.replacingOccurrences(of: ".", with: "/") + ".lua"
        for directory in searchPath {
            let candidate = directory + "/" + relative
            if fileManager.fileExists(atPath: candidate) { return candidate }
        }
        return nil
    }
}
