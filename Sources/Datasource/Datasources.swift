import ImpulseConfig

/// The datasources of one configuration, by name (msys.db's `cache` argument). A reload makes a
/// new set; the old one closes its connections when the last query using it is done.
public final class Datasources: Sendable {
    private let byName: [String: Datasource]

    /// `threadCount(pool)`: the size of the named thread pool (a datasource's `pool`).
    public init(_ definitions: [DatasourceDefinition], threadCount: (String) -> Int) {
        var byName: [String: Datasource] = [:]
        for definition in definitions {
            byName[definition.name] = Datasource(definition, threadCount: threadCount(definition.pool))
        }
        self.byName = byName
    }

    public subscript(_ name: String) -> Datasource? { byName[name] }

    public var names: [String] { byName.keys.sorted() }

    /// `ds_core flush <cache>`: the console's answer.
    public func flush(_ name: String) -> String {
        guard let datasource = byName[name] else { return "ds_core: no datasource named '\(name)'\n" }
        datasource.flush()
        return "ds_core: flushed the cache of \(name)\n"
    }

    /// `ds_core stats`: one line per datasource.
    public func statisticsText() -> String {
        guard !byName.isEmpty else { return "ds_core: no datasources configured\n" }
        return names.map { name in
            let stats = byName[name]!.statistics
            return
                "\(name): queries=\(stats.queries) cache_hits=\(stats.cacheHits) errors=\(stats.errors) "
                + "connections=\(stats.connections) connect_failures=\(stats.connectFailures) "
                + "cached=\(stats.cachedResults) cached_octets=\(stats.cachedOctets)\n"
        }.joined()
    }
}
