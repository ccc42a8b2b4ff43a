import LuaBridge

/// msys.registerControl: console commands written in Lua (the Lua half is in
/// Lua/impulse-library.lua). The server runs them in the scheduler's state.
extension PolicyState {
    /// Console commands scripts registered (msys.registerControl), sorted.
    public func controlCommands() -> [String] {
        guard case .string(let names)? = try? lua.callInternal(.controls).first, !names.isEmpty else { return [] }
        return names.split(separator: "\n").map(String.init)
    }

    /// Runs the registered command that `words` starts with; nil when there is none. What the
    /// command prints is its output.
    public func runControl(_ words: [String]) -> (ok: Bool, text: String)? {
        lua.setWatchdog(instructions: instructionBudget)
        defer { lua.setWatchdog(instructions: 0) }
        guard let results = try? lua.callInternal(.runControl, words.map { .string($0) }),
            case .boolean(let ok)? = results.first
        else { return nil }
        return (ok, results.dropFirst().first?.description ?? "")
    }

}
