import Foundation
import SMTPProtocol

/// Momentum's `bounce_classifier_override` module: operator rules that classify replies before
/// the built-in set (docs/delivery.md, Bounce classification).
public struct BounceClassifierConfiguration: Sendable {
    /// `user_smtp_classification_override`: the rules file, absolute.
    public var rulesFile: String?
    /// `refresh`: seconds between re-reads of the file (0: only on `bounce_classifier_override reload`).
    public var refresh = 900
    /// `custom_classes = [ 99 = "profanity" ]`: codes rules may use beyond the built-in ones.
    public var customClasses: [Int: String] = [:]
    /// The rules as read when the configuration was loaded.
    public var rules = BounceRules()

    public init() {}

    /// The codes a rule may name.
    public var codes: Set<Int> { BounceClassifier.codes.union(customClasses.keys) }
}

extension Binder {
    /// `bounce_classifier_override { user_smtp_classification_override = "file" refresh = 900
    /// custom_classes = [ 99 = "profanity" ] }`. The file is read now: a line it cannot use is an
    /// error at that file's line.
    mutating func bindBounceClassifierOverride(_ scope: ConfigScope) -> BounceClassifierConfiguration {
        var configuration = BounceClassifierConfiguration()
        var fileOption: ConfigOption?
        for option in scope.options {
            do throws(ConfigError) {
                switch option.name {
                case "user_smtp_classification_override":
                    let text = try OptionReader.scalar(option)
                    if text.hasPrefix(":datasource:") {
                        error(
                            option.value.location,
                            "rules from a datasource are not supported yet: give the path of a domain,bounce_code,rule file"
                        )
                        continue
                    }
                    configuration.rulesFile = try OptionReader.path(option)
                    fileOption = option
                case "refresh": configuration.refresh = try OptionReader.integer(option, in: 0...86400)
                case "custom_classes":
                    guard case .dictionary(let entries, _) = option.value else {
                        throw ConfigError(
                            option.value.location, "'\(option.spelling)' expects [ code = \"name\" … ]")
                    }
                    for entry in entries {
                        guard let code = Int(entry.key), (1...999).contains(code),
                            case .scalar(let name, _, _) = entry.value
                        else {
                            throw ConfigError(
                                entry.value.location,
                                "'\(option.spelling)' entries are code = \"name\" with a code 1-999, found '\(entry.key)'"
                            )
                        }
                        configuration.customClasses[code] = name
                    }
                case "user_mdn_classification_override":
                    warning(option.location, "'\(option.spelling)' is not supported yet (out-of-band bounces)")
                case "enabled", "debug_level": _ = try OptionReader.scalar(option)
                default: error(option.location, "unknown option '\(option.spelling)' in \(scope.displayName)")
                }
            } catch { record(error) }
        }
        for child in scope.scopes {
            error(child.location, "'\(child.spelling)' is not valid inside \(scope.displayName)")
        }
        if let path = configuration.rulesFile, let option = fileOption {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                error(option.value.location, "cannot read the bounce classification rules \(path)")
                return configuration
            }
            let (rules, errors) = BounceRules.parse(text, codes: configuration.codes)
            for lineError in errors {
                error(SourceLocation(file: path, line: lineError.line, column: 1), lineError.reason)
            }
            configuration.rules = rules
        }
        return configuration
    }
}
