/// `config get` / `config eval`: an option's value in the configuration as last read.
enum ConfigQueryCommand: ConsoleCommand {
    static let help = [
        (
            "config get [scope [name] …] <option>",
            "the option as set in that scope (e.g. config get domain example.com retry_interval)"
        ),
        ("config eval [scope [name] …] <option>", "the option as set in that scope or the nearest enclosing one")
    ]
    static func takes(_ first: String, _ second: String?) -> Bool {
        first == "config" && (second == "get" || second == "eval")
    }
    static func run(_ words: [String], in console: ConsoleContext) -> (ok: Bool, text: String) {
        let answer = console.configQuery(Array(words.dropFirst()))
        return (answer.value != nil, answer.text)
    }
}
