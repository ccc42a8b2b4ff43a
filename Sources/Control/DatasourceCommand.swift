/// Momentum's ds_core commands: `ds_core stats` (queries, cache hits, errors, connections and
/// what each datasource's cache holds) and `ds_core flush <cache>` (forget a datasource's cached
/// results, e.g. after changing the table behind it).
enum DatasourceCommand: ConsoleCommand {
    static let help = [
        ("ds_core stats", "queries, cache hits, errors and cached results per datasource"),
        ("ds_core flush <cache>", "forget the cached results of datasource <cache>")
    ]
    static func takes(_ first: String, _ second: String?) -> Bool {
        first == "ds_core" && (second == "stats" || second == "flush")
    }
    static func run(_ words: [String], in console: ConsoleContext) -> (ok: Bool, text: String) {
        if words[1] == "stats" { return (true, console.datasourceCommand(nil)) }
        guard words.count == 3 else { return (false, "usage: ds_core flush <cache>\n") }
        let text = console.datasourceCommand(words[2])
        return (!text.contains("no datasource"), text)
    }
}
