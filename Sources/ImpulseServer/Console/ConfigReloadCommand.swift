import Foundation
import ImpulseConfig
import Logging
import Logs
import Spool

/// `config reload` (and SIGHUP): read the configuration again and reload the Lua policy.
enum ConfigReloadCommand: ConsoleCommand {
    static let help = [
        (
            "config reload",
            "re-read the configuration and reload the Lua policy; on any error the running configuration stays"
        )
    ]
    static func takes(_ first: String, _ second: String?) -> Bool { first == "config" && second == "reload" }
    static func run(_ words: [String], on server: ImpulseServer) -> (ok: Bool, text: String) {
        guard let path = server.configurationPath else {
            return (false, "config reload: the configuration file is not known\n")
        }
        return server.reload(from: path)
    }
}

extension ImpulseServer {
    /// Reloads from `path` (SIGHUP and `config reload`); the text says what happened.
    @discardableResult
    public func reload(from path: String) -> (ok: Bool, text: String) {
        logger.notice("config reload: reading \(path)")
        let fresh: ImpulseConfiguration
        do {
            fresh = try ConfigurationLoader().load(path: path)
        } catch {
            let text = error.diagnostics.map { "\($0)" }.joined(separator: "\n")
            logger.error("config reload failed: \(text); the running configuration stays")
            return (false, "config reload failed; the running configuration stays:\n\(text)\n")
        }
        do {
            try reload(fresh)
            return (true, "Configuration reloaded.\n")
        } catch {
            logger.error("config reload failed: \(error); the running configuration stays")
            return (false, "config reload failed; the running configuration stays:\n\(error)\n")
        }
    }
}
