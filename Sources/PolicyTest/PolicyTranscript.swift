import TransmissionFormat

/// A policy test's transcript (docs/policy-test.md): the answers that stand in for DNS, msys.db
/// and msys.http, one or more SMTP conversations (`> ` lines sent, `< ` lines expected), and
/// expectations about what was spooled and what the scripts left in the context.
package struct PolicyTranscript: Sendable {
    package enum Step: Sendable, Equatable {
        /// Start a new connection as this client address (sent in a PROXY header).
        case connect(client: String)
        /// Send this line (a command, or a message line after DATA was accepted).
        case send(String)
        /// The last reply must have this code, and start with this text when given.
        case expectReply(code: Int, text: String?)
        /// The last spooled message has this field (with this value when given), or does not.
        case expectHeader(name: String, value: String?)
        case expectNoHeader(name: String)
        /// The context key has this value (nil: is not set) after the callouts so far.
        case expectContext(message: Bool, key: String, value: String?)
        /// The last spooled message's recipients were bound to this binding.
        case expectBinding(String)
        /// No message was spooled since the session began (all refused, or none sent).
        case expectNothingSpooled
    }

    /// One step and the line it came from.
    package struct Line: Sendable, Equatable {
        package var number: Int
        package var step: Step
    }

    /// A DNS answer: records (MX as "pref host"), or a failure ("NXDOMAIN", "NODATA", "SERVFAIL").
    package enum DNSAnswer: Sendable, Equatable {
        case records([String])
        case failure(String)
    }

    package struct DatabaseAnswer: Sendable, Equatable {
        package var datasource: String
        package var sql: String
        /// nil: any parameters.
        package var parameters: [String?]?
        package var columns: [String]
        package var rows: [[String?]]
    }

    package struct HTTPAnswer: Sendable, Equatable {
        package var method: String
        package var url: String
        package var status: Int
        package var body: String
    }

    package var path: String
    package var steps: [Line] = []
    /// By "TYPE name" (name lowercased, no final dot).
    package var dns: [String: DNSAnswer] = [:]
    package var databases: [DatabaseAnswer] = []
    package var http: [HTTPAnswer] = []

    /// A line that is not a transcript line: where and why.
    package struct SyntaxError: Error, CustomStringConvertible {
        package var path: String
        package var line: Int
        package var reason: String
        package var description: String { "\(path):\(line):1: error: \(reason)" }
    }

    /// Reads `text`; errors name the file and line.
    package init(path: String, text: String) throws(SyntaxError) {
        self.path = path
        var inData = false
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        if lines.last?.isEmpty == true { lines.removeLast() } // the final newline ends a line
        for (index, raw) in lines.enumerated() {
            let number = index + 1
            var line = String(raw.hasSuffix("\r") ? raw.dropLast() : raw)
            func fail(_ reason: String) -> SyntaxError { SyntaxError(path: path, line: number, reason: reason) }
            if inData {
                // Message lines go as written, up to the lone "> .".
                guard line.hasPrefix(">") else {
                    throw fail("inside DATA every line starts with '> ' (end with '> .')")
                }
                let content = line.hasPrefix("> ") ? String(line.dropFirst(2)) : String(line.dropFirst())
                steps.append(Line(number: number, step: .send(content)))
                if content == "." { inData = false }
                continue
            }
            let trimmed = line.trimmingWhitespace
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            line = trimmed
            if line.hasPrefix(">") {
                let command = line.dropFirst().trimmingWhitespace
                guard !command.isEmpty else { throw fail("'>' needs a command") }
                steps.append(Line(number: number, step: .send(command)))
                continue
            }
            if line.hasPrefix("<") {
                let reply = line.dropFirst().trimmingWhitespace
                let parts = reply.split(separator: " ", maxSplits: 1)
                guard let first = parts.first, let code = Int(first), (200...599).contains(code) else {
                    throw fail("'<' needs a reply code (200-599), then optionally the start of the text")
                }
                steps.append(
                    Line(number: number, step: .expectReply(code: code, text: parts.count > 1 ? String(parts[1]) : nil))
                )
                if code == 354 { inData = true }
                continue
            }
            let words = line.split(separator: " ", maxSplits: 1).map(String.init)
            let rest = words.count > 1 ? words[1] : ""
            switch words[0].lowercased() {
            case "client":
                guard !rest.isEmpty, rest.allSatisfy({ $0.isHexDigit || $0 == "." || $0 == ":" }) else {
                    throw fail("client needs an IPv4 or IPv6 address")
                }
                steps.append(Line(number: number, step: .connect(client: rest)))
            case "dns": try addDNS(rest, fail)
            case "db": try addDatabase(rest, fail)
            case "http": try addHTTP(rest, fail)
            case "expect": steps.append(Line(number: number, step: try Self.expectation(rest, fail)))
            default:
                throw fail(
                    "unknown line '\(words[0])' (client, dns, db, http, expect, '> ' to send, '< ' to expect a reply)")
            }
        }
        if inData {
            throw SyntaxError(path: path, line: text.split(separator: "\n").count, reason: "DATA not ended with '> .'")
        }
    }

    private mutating func addDNS(_ rest: String, _ fail: (String) -> SyntaxError) throws(SyntaxError) {
        let words = rest.split(separator: " ", maxSplits: 2).map(String.init)
        let types: Set<String> = ["A", "AAAA", "MX", "TXT", "PTR", "NS", "CNAME"]
        guard words.count == 3, types.contains(words[0].uppercased()) else {
            throw fail("dns TYPE NAME ANSWER (TYPE: A, AAAA, MX, TXT, PTR, NS, CNAME; ANSWER: values or NXDOMAIN)")
        }
        let key = Self.dnsKey(words[0], words[1])
        let answer = words[2]
        switch answer.uppercased() {
        case "NXDOMAIN", "NODATA", "SERVFAIL":
            dns[key] = .failure(answer.uppercased())
        default:
            var values: [String] = []
            if case .records(let earlier)? = dns[key] { values = earlier }
            if words[0].uppercased() == "TXT", answer.hasPrefix("\""), answer.hasSuffix("\""), answer.count >= 2 {
                values.append(String(answer.dropFirst().dropLast()))
            } else {
                values.append(answer)
            }
            dns[key] = .records(values)
        }
    }

    package static func dnsKey(_ type: String, _ name: String) -> String {
        var name = name.lowercased()
        if name.hasSuffix(".") { name.removeLast() }
        return type.uppercased() + " " + name
    }

    /// `db NAME "SQL" [PARAMS] => [[COLUMNS], [ROW], …]`: the SQL and the rest are JSON.
    private mutating func addDatabase(_ rest: String, _ fail: (String) -> SyntaxError) throws(SyntaxError) {
        let usage = #"db NAME "SQL" [["param", …]] => [["column", …], ["value", …], …]"#
        guard let arrow = rest.range(of: "=>") else { throw fail(usage) }
        let head = rest[..<arrow.lowerBound].trimmingWhitespace
        let rows = rest[arrow.upperBound...].trimmingWhitespace
        guard let space = head.firstIndex(of: " ") else { throw fail(usage) }
        let name = String(head[..<space])
        let query = head[space...].trimmingWhitespace
        // The SQL is a JSON string; parameters, when given, a JSON array after it.
        guard query.hasPrefix("\""), let end = Self.endOfJSONString(query) else { throw fail(usage) }
        let sqlText = String(query[..<end])
        let parametersText = query[end...].trimmingWhitespace
        guard case .string(let sql)? = try? JSONParser.parse(Array(sqlText.utf8)) else { throw fail(usage) }
        var parameters: [String?]?
        if !parametersText.isEmpty {
            guard case .array(let items)? = try? JSONParser.parse(Array(parametersText.utf8)) else {
                throw fail("the parameters must be a JSON array")
            }
            parameters = items.map(Self.text)
        }
        guard case .array(let table)? = try? JSONParser.parse(Array(rows.utf8)), case .array(let header)? = table.first
        else { throw fail("the answer must be a JSON array: the column names first, then the rows") }
        let columns = header.compactMap(Self.text)
        var values: [[String?]] = []
        for row in table.dropFirst() {
            guard case .array(let cells) = row, cells.count == columns.count else {
                throw fail("every row needs \(columns.count) values, as many as the columns")
            }
            values.append(cells.map(Self.text))
        }
        databases.append(
            DatabaseAnswer(datasource: name, sql: sql, parameters: parameters, columns: columns, rows: values))
    }

    private static func endOfJSONString(_ text: String) -> String.Index? {
        var escaped = false
        var index = text.index(after: text.startIndex)
        while index < text.endIndex {
            let character = text[index]
            if escaped {
                escaped = false
            } else if character == "\\" {
                escaped = true
            } else if character == "\"" {
                return text.index(after: index)
            }
            index = text.index(after: index)
        }
        return nil
    }

    private static func text(_ value: JSONValue) -> String? {
        switch value {
        case .null: return nil
        case .string(let text): return text
        default: return value.serialized
        }
    }

    /// `http METHOD URL => STATUS [BODY]`.
    private mutating func addHTTP(_ rest: String, _ fail: (String) -> SyntaxError) throws(SyntaxError) {
        let usage = "http METHOD URL => STATUS [BODY]"
        guard let arrow = rest.range(of: " => ") else { throw fail(usage) }
        let request = rest[..<arrow.lowerBound].split(separator: " ").map(String.init)
        let answer = rest[arrow.upperBound...].split(separator: " ", maxSplits: 1).map(String.init)
        guard request.count == 2, let status = answer.first.flatMap({ Int($0) }), (100...599).contains(status) else {
            throw fail(usage)
        }
        http.append(
            HTTPAnswer(
                method: request[0].uppercased(), url: request[1], status: status,
                body: answer.count > 1 ? answer[1] : ""))
    }

    private static func expectation(_ rest: String, _ fail: (String) -> SyntaxError) throws(SyntaxError) -> Step {
        let words = rest.split(separator: " ", maxSplits: 1).map(String.init)
        let argument = words.count > 1 ? words[1].trimmingWhitespace : ""
        switch words.first?.lowercased() {
        case "header":
            guard let colon = argument.firstIndex(of: ":") else {
                guard !argument.isEmpty else { throw fail("expect header NAME[: VALUE]") }
                return .expectHeader(name: argument, value: nil)
            }
            return .expectHeader(
                name: String(argument[..<colon]).trimmingWhitespace,
                value: argument[argument.index(after: colon)...].trimmingWhitespace)
        case "no":
            let parts = argument.split(separator: " ", maxSplits: 1).map(String.init)
            if parts.first?.lowercased() == "header", parts.count == 2 { return .expectNoHeader(name: parts[1]) }
            if argument.lowercased() == "message" { return .expectNothingSpooled }
            throw fail("expect no header NAME, or expect no message")
        case "context":
            // expect context connection|message KEY = VALUE  (or "KEY unset")
            let parts = argument.split(separator: " ", maxSplits: 1).map(String.init)
            guard parts.count == 2, ["connection", "message"].contains(parts[0].lowercased()) else {
                throw fail("expect context connection|message KEY = VALUE (or KEY unset)")
            }
            let message = parts[0].lowercased() == "message"
            if let equals = parts[1].range(of: "=") {
                return .expectContext(
                    message: message, key: parts[1][..<equals.lowerBound].trimmingWhitespace,
                    value: parts[1][equals.upperBound...].trimmingWhitespace)
            }
            let keyWords = parts[1].split(separator: " ")
            guard keyWords.count == 2, keyWords[1] == "unset" else {
                throw fail("expect context connection|message KEY = VALUE (or KEY unset)")
            }
            return .expectContext(message: message, key: String(keyWords[0]), value: nil)
        case "binding":
            guard !argument.isEmpty else { throw fail("expect binding NAME") }
            return .expectBinding(argument)
        default:
            throw fail("expect header, expect no header, expect no message, expect context or expect binding")
        }
    }
}

extension StringProtocol {
    var trimmingWhitespace: String {
        var slice = Substring(self)
        while let first = slice.first, first == " " || first == "\t" { slice.removeFirst() }
        while let last = slice.last, last == " " || last == "\t" { slice.removeLast() }
        return String(slice)
    }
}
