import CIDN2
import Foundation
import ImpulseConfig
import LuaBridge
import LuaShim
import OutboundSMTP
import SMTPProtocol

/// The Swift half of the msys library (Lua/impulse-library.lua is the Lua half): what needs data
/// shared between states, a C library, or the server.
extension PolicyState {
    func installLibrary(printer: (@Sendable (String) -> Void)?) {
        if impulse_lua_open_cjson(lua.pointer, ScriptletABI.SwiftValue.cjson.rawValue) == 0 {
            warnings.append(
                "scriptlet: lua-cjson (liblua5.1-cjson) is not installed: the json package is not available")
        }
        lua.setInternal(.log) { arguments in
            let text = arguments.string(2) ?? ""
            if let printer { printer(text) } else { print(text) }
            return .values([])
        }
        installGaugesAndCounters()
        installAuditSeries()
        installNamedThrottles()
        lua.setInternal(.queueDelayDomain) { [unowned self] arguments in
            guard let domain = arguments.string(1), !domain.isEmpty, domain.utf8.count <= 255 else {
                return .error("msys.core.mail_queue_delay_domain: expected a domain record or name")
            }
            let delayed = queueDelayer?(domain, arguments.string(2) ?? "delayed by policy") ?? 0
            return .values([.number(Double(delayed))])
        }
        lua.setInternal(.rfc3464Report) { [unowned self] arguments in
            guard let actionName = arguments.string(1),
                let action = DeliveryStatusNotification.Action(rawValue: actionName),
                let sender = arguments.string(2), let recipient = arguments.string(3)
            else { return .error("msys.rfc3464: expected an action (msys.core.FAILED …), a sender and a recipient") }
            let report = DeliveryStatusNotification(
                reportingMTA: hostname, originalSender: sender, arrivalDate: Date(),
                recipients: [
                    .init(
                        address: recipient, action: action, status: arguments.string(4) ?? "5.0.0",
                        diagnostic: arguments.string(5) ?? "", lastAttempt: Date())
                ],
                returnFullMessage: false, original: arguments.octets(6) ?? [])
            let id = UUID().uuidString.lowercased()
            return .values([.bytes(report.render(messageID: id, boundary: "=_impulse_\(id)"))])
        }
        lua.setInternal(.config) { [unowned self] arguments in
            let words = (1...max(min(arguments.count, 32), 1)).compactMap { arguments.string($0) }
            guard let answer = configQuery?(words) else { return .values([.nil, .string("config: not available\n")]) }
            return .values([answer.value.map { .string($0) } ?? .nil, .string(answer.text)])
        }
        lua.setInternal(.bounceClassify) { [unowned self] arguments in
            let reply = arguments.string(1) ?? ""
            let domain = arguments.string(2).flatMap { $0.isEmpty ? nil : $0 }
            let code = bounceClassifier?(reply, domain) ?? BounceClassifier.classify(reply)
            return .values([.number(Double(code))])
        }
        lua.setInternal(.adaptiveRegister) { [unowned self] arguments in
            let replace = arguments.string(1) == "replace"
            var rules: [AdaptiveRuleText] = []
            var aliases: [String: String] = [:]
            for record in (arguments.string(2) ?? "").split(separator: "\u{1E}") {
                let fields = record.split(separator: "\u{1F}", omittingEmptySubsequences: false).map(String.init)
                if fields.first == "alias", fields.count == 3 {
                    aliases[fields[1].lowercased()] = fields[2].lowercased()
                } else if fields.first == "rule", fields.count >= 5, fields.count % 2 == 1 {
                    let pairs = stride(from: 5, to: fields.count, by: 2).map { (fields[$0], fields[$0 + 1]) }
                    rules.append(
                        AdaptiveRuleText(
                            domain: fields[1], code: fields[2], trigger: fields[3], message: fields[4], actions: pairs))
                } else {
                    return .values([.string("a rule could not be read")])
                }
            }
            guard let registrar = adaptiveRegistrar else { return .values([.nil]) }
            return .values([registrar(replace, rules, aliases).map { .string($0) } ?? .nil])
        }
        lua.setInternal(.mimeParse) { arguments in
            guard let message = arguments.octets(1) else { return .error("msg:mime: no message") }
            var values: [LuaValue] = []
            for part in MIMEStructure(message).parts {
                values += [
                    .number(Double(part.parent + 1)), .number(Double(part.start + 1)),
                    .number(Double(part.bodyStart + 1)), .number(Double(part.end)),
                    part.boundary.map { .string($0) } ?? .nil, .number(Double(part.preambleEnd + 1)),
                    .number(Double(part.epilogueStart + 1)), .boolean(part.closed)
                ]
            }
            return .values(values)
        }
        installCIDR()
        lua.setInternal(.idn) { arguments in
            guard let direction = arguments.string(1), let text = arguments.string(2) else {
                return .error("msys.idn: expected a string")
            }
            var output: UnsafeMutablePointer<CChar>?
            let status =
                direction == "ascii"
                ? idn2_to_ascii_8z(
                    text, &output, Int32(IDN2_NONTRANSITIONAL.rawValue | IDN2_USE_STD3_ASCII_RULES.rawValue))
                : idn2_to_unicode_8z8z(text, &output, 0)
            guard status == IDN2_OK.rawValue, let output else {
                return .values([.nil, .string(String(cString: idn2_strerror(status)))])
            }
            defer { free(output) }
            return .values([.string(String(cString: output))])
        }
        lua.setInternal(.sessionCount) { [unowned self] arguments in
            guard let text = arguments.string(1), let block = CIDRBlock(text) else {
                return .error("expected an address or CIDR block")
            }
            return .values([.number(Double(sessionCounter?(block) ?? 0))])
        }
    }

    /// `gc_pause` / `gc_stepmul`: how eagerly this state's garbage collector runs (percent).
    public func tuneGarbageCollector(pause: Int, stepMultiplier: Int) {
        lua.tuneGarbageCollector(pause: pause, stepMultiplier: stepMultiplier)
    }

    /// Times every module's method for each callout and hands (module, callout, seconds) to
    /// `record` (the metrics' per-module histograms). Off unless called: two clock reads per
    /// module per callout.
    public func enableModuleTiming(_ record: @escaping @Sendable (String, String, Double) -> Void) {
        lua.setInternal(.moduleTime) { arguments in
            if case .number(let seconds) = arguments[3] {
                record(arguments.string(1) ?? "?", arguments.string(2) ?? "?", seconds)
            }
            return .values([])
        }
        _ = try? lua.callInternal(.enableModuleTiming)
    }

    private func installGaugesAndCounters() {
        lua.setInternal(.gauge) { [shared] arguments in
            guard let operation = arguments.string(1), let name = arguments.string(2) else {
                return .error("msys.gauge_cache: expected a cache name")
            }
            if operation == "define" {
                guard let maxItems = arguments[3].integer(in: 1...10_000_000) else {
                    return .error("msys.gauge_cache.define: maxelems must be a number from 1 to 10000000")
                }
                guard let ttl = arguments[4] == .nil ? 0 : arguments[4].finiteNumber, ttl >= 0,
                    ttl <= PolicyLimits.maxTimerDelay
                else {
                    return .error("msys.gauge_cache.define: ttl must be a number of seconds from 0 to 31536000")
                }
                shared.defineGauge(name, maxItems: maxItems, ttl: ttl)
                return .values([.boolean(true)])
            }
            guard shared.gaugeExists(name) else {
                return .error("msys.gauge_cache: no cache named '\(name)' (define it first)")
            }
            let key = arguments.string(3) ?? ""
            switch operation {
            case "inc", "dec":
                guard
                    let amount = arguments[4] == .nil
                        ? 1 : arguments[4].integer(in: -PolicyLimits.maxGaugeStep...PolicyLimits.maxGaugeStep)
                else {
                    return .error("msys.gauge_cache.\(operation): the amount must be a number from -1e9 to 1e9")
                }
                let value = shared.adjustGauge(name, key: key, by: operation == "inc" ? amount : -amount) ?? 0
                return .values([.number(Double(value))])
            case "get":
                return .values([shared.gaugeValue(name, key: key).map { .number(Double($0)) } ?? .nil])
            case "remove":
                shared.removeGaugeItem(name, key: key)
                return .values([.boolean(true)])
            default:
                return .error("msys.gauge_cache: unknown operation \(operation)")
            }
        }
        lua.setInternal(.counter) { [shared] arguments in
            guard let operation = arguments.string(1), let path = arguments.string(2) else {
                return .error("msys.counter: expected a counter")
            }
            guard
                let amount = arguments[3] == .nil
                    ? 0 : arguments[3].integer(in: -1_000_000_000_000...1_000_000_000_000).map(Int64.init)
            else {
                return .error("msys.counter.add: the amount must be a number from -1e12 to 1e12")
            }
            let value: Int64
            switch operation {
            case "add": value = shared.counter(path, add: amount)
            case "read": value = shared.counter(path, add: 0)
            case "reset": value = shared.counter(path, add: 0, reset: true)
            case "unlink": value = shared.counter(path, add: 0, remove: true)
            default: return .error("msys.counter: unknown operation \(operation)")
            }
            return .values([.number(Double(value))])
        }
    }

    /// msys.shared_throttle's names and rates (Lua/impulse-library.lua waits for the clock through
    /// the `throttle` effect): `create` checks and records a rate, `rate` answers it as count
    /// and seconds before a wait.
    private func installNamedThrottles() {
        lua.setInternal(.namedThrottle) { [shared] arguments in
            guard let operation = arguments.string(1), let name = arguments.string(2), !name.isEmpty,
                name.utf8.count <= PolicyLimits.maxThrottleName
            else {
                return .error(
                    "msys.shared_throttle: the name must be a string of 1 to \(PolicyLimits.maxThrottleName) octets")
            }
            switch operation {
            case "create":
                guard let text = arguments.string(3), let rate = ThrottleRate(text), rate.count > 0 else {
                    return .error(
                        "msys.shared_throttle.create: the rate must be \"N\" or \"N/S\" "
                            + "(N events in S seconds, N from 1 to 10000000, S from 1 to 86400)")
                }
                shared.defineThrottle(name, rate: rate)
                return .values([.boolean(true)])
            case "rate":
                guard let rate = shared.throttleRate(name) else { return .values([.nil]) }
                return .values([.number(Double(rate.count)), .number(Double(rate.seconds))])
            default:
                return .error("msys.shared_throttle: unknown operation \(operation)")
            }
        }
    }

    /// msys.audit_series: the Lua side (Lua/impulse-library.lua) turns the script's key (nil, an
    /// accept construct, an address, `addr/mask` or `/mask`) into text; this side parses it.
    private func installAuditSeries() {
        lua.setInternal(.auditSeries) { [shared] arguments in
            guard let operation = arguments.string(1), let name = arguments.string(2) else {
                return .error("msys.audit_series: expected a series name")
            }
            if operation == "define" {
                guard let kind = arguments.string(3).flatMap(AuditSeries.Kind.init(rawValue:)) else {
                    return .error("msys.audit_series.define: the type must be cidr, cidr_ipv6 or string")
                }
                guard let interval = arguments[4].integer(in: 1...PolicyLimits.maxAuditSeriesInterval),
                    let windows = arguments[5].integer(in: 1...PolicyLimits.maxAuditSeriesWindows)
                else {
                    return .error(
                        "msys.audit_series.define: interval must be 1 to \(PolicyLimits.maxAuditSeriesInterval) seconds, "
                            + "num_windows 1 to \(PolicyLimits.maxAuditSeriesWindows)")
                }
                guard shared.defineAuditSeries(name, kind: kind, interval: interval, windows: windows) else {
                    return .error("msys.audit_series.define: '\(name)' is already a series of another type")
                }
                return .values([.boolean(true)])
            }
            guard let kind = shared.auditSeriesKind(name) else {
                return .error("msys.audit_series: no series named '\(name)' (define it first)")
            }
            if operation == "kind" { return .values([.string(kind.rawValue)]) }
            guard let key = arguments.string(3), !key.isEmpty else {
                return .error("msys.audit_series.\(operation): a string series needs a key")
            }
            // An address series counts one family; an address of the other is not counted.
            func address(_ text: String) -> IPAddress? {
                guard let address = IPAddress(text), address.isIPv4 == (kind == .cidr) else { return nil }
                return address
            }
            switch operation {
            case "add":
                guard let count = arguments[4].integer(in: -PolicyLimits.maxGaugeStep...PolicyLimits.maxGaugeStep)
                else {
                    return .error("msys.audit_series.add: count must be a number from -1e9 to 1e9")
                }
                if kind == .string {
                    shared.addToAuditSeries(name, key: key, address: nil, count: count)
                } else if let address = address(key) {
                    shared.addToAuditSeries(name, key: address.description, address: address, count: count)
                } else {
                    return .values([.boolean(false)])
                }
                return .values([.boolean(true)])
            case "count":
                guard let start = arguments[4].integer(in: 0...PolicyLimits.maxAuditSeriesWindows),
                    let end = arguments[5].integer(in: 0...PolicyLimits.maxAuditSeriesWindows)
                else { return .error("msys.audit_series.count: startv and endv must be window numbers") }
                var total = 0
                if kind == .string {
                    total = shared.countAuditSeries(name, key: key, block: nil, start: start, end: end)
                } else if key.contains("/") {
                    guard let block = CIDRBlock(key) else {
                        return .error("msys.audit_series.count: '\(key)' is not an address/mask")
                    }
                    total = shared.countAuditSeries(name, key: nil, block: block, start: start, end: end)
                } else if let address = address(key) {
                    total = shared.countAuditSeries(name, key: address.description, block: nil, start: start, end: end)
                }
                return .values([.number(Double(total))])
            case "remove":
                shared.removeFromAuditSeries(name, key: kind == .string ? key : (IPAddress(key)?.description ?? key))
                return .values([.boolean(true)])
            default:
                return .error("msys.audit_series: unknown operation \(operation)")
            }
        }
    }

    private func installCIDR() {
        lua.setInternal(.cidrDefine) { [shared] arguments in
            guard let name = arguments.string(1) else { return .error("msys.cidr.define: the name must be a string") }
            let path = arguments.string(2)
            let defaultValue = arguments.string(4)
            let text: String
            if let path {
                guard let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int,
                    size <= 64 << 20,
                    let data = FileManager.default.contents(atPath: path)
                else {
                    return .error("msys.cidr.define: cannot read \(path) (missing, unreadable or over 64 MiB)")
                }
                text = String(decoding: data, as: UTF8.self)
            } else {
                text = arguments.string(3) ?? ""
            }
            let recordTypeA = arguments.string(5)?.uppercased() == "A"
            let interpolate = arguments[6] == .boolean(true)
            let (entries, datasetDefault, problems) = Self.parseRbldnsd(text, addressValues: recordTypeA)
            shared.defineCIDR(
                name, entries: entries, defaultValue: defaultValue ?? datasetDefault, source: path,
                interpolate: interpolate, recordTypeA: recordTypeA)
            return .values([.boolean(true), .number(Double(entries.count))] + problems.prefix(5).map { .string($0) })
        }
        lua.setInternal(.cidrQuery) { [shared] arguments in
            guard let name = arguments.string(1), let text = arguments.string(2) else {
                return .error("msys.cidr.query: expected (name, address)")
            }
            let host = text.hasPrefix("[") ? String(text.dropFirst().prefix { $0 != "]" }) : text
            guard let address = IPAddress(host) else { return .values([.nil, .string("not an IP address: \(text)")]) }
            guard let result = shared.queryCIDR(name, address: address) else {
                return .error("msys.cidr.query: no table named '\(name)' (define it first)")
            }
            return .values([result.map { .string($0) } ?? .nil])
        }
        lua.setInternal(.cidrSource) { [shared] arguments in
            guard let name = arguments.string(1), let source = shared.cidrSource(name) else { return .values([.nil]) }
            return .values([
                source.source.map { .string($0) } ?? .nil, source.defaultValue.map { .string($0) } ?? .nil,
                .boolean(source.interpolate), source.recordTypeA ? .string("A") : .nil
            ])
        }
    }

    /// An rbldnsd ip4set/ip6set dataset: `block [value]` lines, `:A:TXT` default lines, `#`
    /// comments. A value of the `:A:TXT` form gives its text (or its A value when it has none);
    /// with `addressValues` (`record_type = "A"`), its A value.
    static func parseRbldnsd(_ text: String, addressValues: Bool = false) -> (
        entries: [(CIDRBlock, String)], defaultValue: String?, problems: [String]
    ) {
        var entries: [(CIDRBlock, String)] = []
        var defaultValue: String?
        var problems: [String] = []
        func value(_ field: Substring) -> String {
            guard field.hasPrefix(":") else { return String(field) }
            let parts = field.dropFirst().split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            if addressValues, let address = parts.first, !address.isEmpty { return String(address) }
            if parts.count > 1, !parts[1].isEmpty { return String(parts[1]) }
            return String(parts.first ?? "")
        }
        for (number, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix("$") || line.hasPrefix("!") { continue }
            let fields = line.split(maxSplits: 1, whereSeparator: { $0 == " " || $0 == "\t" })
            // `:A:TXT` sets the default value; an IPv6 block such as `::1/128` starts with ':' too.
            if line.hasPrefix(":"), fields.first.flatMap({ CIDRBlock(String($0)) }) == nil {
                defaultValue = value(Substring(line))
                continue
            }
            guard let first = fields.first, let block = CIDRBlock(String(first)) else {
                problems.append("line \(number + 1): not an address or CIDR block: \(line.prefix(60))")
                continue
            }
            let entryValue =
                fields.count > 1 ? value(fields[1].drop { $0 == " " || $0 == "\t" }) : (defaultValue ?? "1")
            entries.append((block, entryValue))
        }
        return (entries, defaultValue, problems)
    }
}
