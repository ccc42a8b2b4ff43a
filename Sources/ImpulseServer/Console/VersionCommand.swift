import Foundation
import ImpulseConfig
import Logging
import Logs
import Spool

/// `version`: the server's version.
enum VersionCommand: ConsoleCommand {
    static let help = [("version", "the server's version")]
    static func takes(_ first: String, _ second: String?) -> Bool { first == "version" }
    static func run(_ words: [String], on server: ImpulseServer) -> (ok: Bool, text: String) {
        (true, "Impulse version \(ImpulseServer.version) (Momentum-compatible policy engine, LuaJIT)\n")
    }
}
