import Foundation

/// Typed reads of option values, each failing with the option's location and what was expected.
enum OptionReader {
    static func scalar(_ option: ConfigOption) throws(ConfigError) -> String {
        guard case .scalar(let text, _, _) = option.value else {
            throw ConfigError(
                option.value.location, "'\(option.spelling)' expects a single value, found \(option.value.kindName)")
        }
        return text
    }

    /// ec_atobool: true/false, on/off, enabled/disabled, yes/no, 1/0.
    static func bool(_ option: ConfigOption) throws(ConfigError) -> Bool {
        switch try scalar(option).lowercased() {
        case "true", "on", "enabled", "enable", "yes", "1": return true
        case "false", "off", "disabled", "disable", "no", "0": return false
        case let other:
            throw ConfigError(
                option.value.location,
                "'\(option.spelling)' expects a boolean (true/false, on/off, enabled/disabled, 1/0), found '\(other)'")
        }
    }

    /// A rate: `"N"` (per second) or `"N/S"` (N per S seconds).
    static func rate(_ option: ConfigOption) throws(ConfigError) -> ThrottleRate {
        let text = try scalar(option)
        guard let rate = ThrottleRate(text) else {
            throw ConfigError(
                option.value.location,
                """
                '\(option.spelling)' expects a rate "N" (N per second) or "N/S" (N per S seconds; N 0-10000000, \
                0 meaning no limit; S 1-86400), found '\(text)'
                """)
        }
        return rate
    }

    /// Integers as C's strtol with base 0 reads them: decimal, `0x` hex, leading-0 octal.
    static func integer(_ option: ConfigOption, in range: ClosedRange<Int>) throws(ConfigError) -> Int {
        let text = try scalar(option)
        guard let value = parseInteger(text) else {
            throw ConfigError(option.value.location, "'\(option.spelling)' expects an integer, found '\(text)'")
        }
        guard range.contains(value) else {
            throw ConfigError(
                option.value.location,
                "'\(option.spelling)' must be between \(range.lowerBound) and \(range.upperBound), found \(value)")
        }
        return value
    }

    static func parseInteger(_ text: String) -> Int? {
        var body = Substring(text)
        var negative = false
        if body.first == "-" {
            negative = true
            body = body.dropFirst()
        }
        let value: Int?
        if body.lowercased().hasPrefix("0x") {
            value = Int(body.dropFirst(2), radix: 16)
        } else if body.count > 1, body.first == "0" {
            value = Int(body.dropFirst(), radix: 8)
        } else {
            value = Int(body, radix: 10)
        }
        guard let value else { return nil }
        return negative ? -value : value
    }

    /// File modes are octal whatever their spelling (`0640`).
    static func octal(_ option: ConfigOption) throws(ConfigError) -> Int {
        let text = try scalar(option)
        guard let value = Int(text, radix: 8), (0...0o7777).contains(value) else {
            throw ConfigError(
                option.value.location, "'\(option.spelling)' expects an octal file mode such as 0640, found '\(text)'")
        }
        return value
    }

    static func choice<T>(_ option: ConfigOption, _ choices: [(String, T)]) throws(ConfigError) -> T {
        let text = try scalar(option).lowercased()
        if let match = choices.first(where: { $0.0 == text }) { return match.1 }
        throw ConfigError(
            option.value.location,
            "'\(option.spelling)' expects one of \(choices.map(\.0).joined(separator: ", ")), found '\(text)'")
    }

    /// A list of scalars; a single scalar counts as a one-item list.
    static func list(_ option: ConfigOption) throws(ConfigError) -> [(String, SourceLocation)] {
        switch option.value {
        case .scalar(let text, _, let location): return [(text, location)]
        case .list(let items, _):
            var result: [(String, SourceLocation)] = []
            for item in items {
                guard case .scalar(let text, _, let location) = item else {
                    throw ConfigError(
                        item.location, "'\(option.spelling)' expects a list of single values, found \(item.kindName)")
                }
                result.append((text, location))
            }
            return result
        case .dictionary(_, let location):
            throw ConfigError(location, "'\(option.spelling)' expects a list ( … ), found a dictionary [ … ]")
        }
    }

    /// `[ k = v … ]` (a list of `k = v`-free pairs is not accepted).
    static func dictionary(_ option: ConfigOption) throws(ConfigError) -> [(String, String)] {
        guard case .dictionary(let entries, _) = option.value else {
            throw ConfigError(
                option.value.location,
                "'\(option.spelling)' expects a dictionary [ key = value … ], found \(option.value.kindName)")
        }
        var result: [(String, String)] = []
        for entry in entries {
            guard case .scalar(let text, _, _) = entry.value else {
                throw ConfigError(
                    entry.value.location,
                    "'\(entry.key)' in '\(option.spelling)' expects a single value, found \(entry.value.kindName)")
            }
            result.append((entry.key, text))
        }
        return result
    }

    static func cidrList(_ option: ConfigOption) throws(ConfigError) -> [CIDRBlock] {
        var blocks: [CIDRBlock] = []
        for (text, location) in try list(option) {
            guard let block = CIDRBlock(text) else {
                throw ConfigError(
                    location,
                    "'\(text)' in '\(option.spelling)' is not an IP address or CIDR block (e.g. 127.0.0.0/8, ::1)")
            }
            blocks.append(block)
        }
        return blocks
    }

    /// A path, resolved against the directory of the file that set it.
    static func path(_ option: ConfigOption) throws(ConfigError) -> String {
        let text = try scalar(option)
        guard !text.isEmpty else {
            throw ConfigError(option.value.location, "'\(option.spelling)' expects a path, found an empty string")
        }
        return resolve(path: text, relativeTo: option.location.file)
    }

    /// A path to a file that must be readable now (a certificate, a CA bundle).
    static func readablePath(_ option: ConfigOption) throws(ConfigError) -> String {
        let path = try self.path(option)
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw ConfigError(option.value.location, "'\(option.spelling)': cannot read '\(path)'")
        }
        return path
    }

    static func resolve(path: String, relativeTo file: String) -> String {
        if path.hasPrefix("/") { return path }
        let directory = file.contains("/") ? String(file[..<file.lastIndex(of: "/")!]) : "."
        return directory + "/" + path
    }
}
