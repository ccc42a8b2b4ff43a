/// `Datasource "name" { uri = ( … ) cache_size cache_life max_rows no_cache pool serialized }`.
extension Binder {
    mutating func bindDatasource(_ scope: ConfigScope, into datasources: inout [DatasourceDefinition]) {
        guard let name = scope.instance, !name.isEmpty else {
            error(scope.location, "Datasource needs a name: Datasource \"name\" { uri = ( \"sqlite:/path\" ) }")
            return
        }
        if datasources.contains(where: { $0.name == name }) {
            error(scope.location, "Datasource \"\(name)\" is defined twice")
            return
        }
        var datasource = DatasourceDefinition(name: name, location: scope.location)
        for option in scope.options {
            do {
                switch option.name {
                case "uri":
                    for (text, location) in try OptionReader.list(option) {
                        switch DatasourceDefinition.URI.parse(text, location: location) {
                        case .success(var uri):
                            // A relative database file is found beside the configuration file.
                            if uri.driver == .sqlite, let file = uri.parameters["dbname"], file != ":memory:" {
                                uri.parameters["dbname"] = OptionReader.resolve(path: file, relativeTo: location.file)
                            }
                            datasource.uris.append(uri)
                        case .failure(let failure): record(failure)
                        }
                    }
                case "cache_size": datasource.cacheSize = try OptionReader.integer(option, in: 0...10_000_000)
                case "cache_life": datasource.cacheLife = try OptionReader.integer(option, in: 0...31_536_000)
                case "max_rows": datasource.maxRows = try OptionReader.integer(option, in: -1...1_000_000)
                case "no_cache": datasource.noCache = try OptionReader.bool(option)
                case "pool": datasource.pool = try OptionReader.scalar(option)
                case "serialized": datasource.serialized = try OptionReader.bool(option)
                case "assume_charset": _ = try OptionReader.scalar(option)
                default:
                    error(
                        option.location,
                        "unknown option '\(option.spelling)' in \(scope.displayName) "
                            + "(uri, cache_size, cache_life, max_rows, no_cache, pool, serialized, assume_charset)")
                }
            } catch { record(error) }
        }
        for child in scope.scopes {
            error(child.location, "'\(child.spelling)' is not valid inside \(scope.displayName)")
        }
        if datasource.uris.isEmpty {
            error(scope.location, "Datasource \"\(name)\" needs a uri, e.g. uri = ( \"sqlite:/var/db/lookups.db\" )")
            return
        }
        datasources.append(datasource)
    }
}
