/// A message's MIME structure (RFC 2045, RFC 2046): where each part's header section and body
/// are, and for a multipart its boundary, preamble and epilogue. Best-effort and bounded: the
/// parse is one pass over each level (at most `maxDepth` levels deep, at most `maxParts` parts), a multipart whose delimiters are missing is a leaf, a
/// missing close delimiter ends the last part at the end of its parent — never an error.
public struct MIMEStructure: Sendable {
    public struct Part: Equatable, Sendable {
        /// The index of the enclosing part (-1 for the message itself).
        public var parent: Int
        /// Offsets into the message: the part's first header octet, its body's first octet, and
        /// the end of its body (the CRLF before the next delimiter belongs to the delimiter).
        public var start: Int
        public var bodyStart: Int
        public var end: Int
        /// A multipart's boundary, the end of its preamble (where the first delimiter line
        /// starts) and the start of its epilogue (right after the close delimiter's `--`, so the
        /// epilogue holds the rest of that line); nil for a leaf.
        public var boundary: String?
        public var preambleEnd = 0
        public var epilogueStart = 0
        /// Whether the close delimiter was there.
        public var closed = false
    }

    /// The most parts and levels a parse looks at (msg:mime's limits, and the 8-bit downgrade's).
    public static let maxParts = 500
    public static let maxDepth = 20

    public private(set) var parts: [Part] = []

    /// Takes `message` apart.
    public init(_ message: [UInt8]) {
        parse(message, start: 0, end: message.count, parent: -1, depth: 0)
    }

    private mutating func parse(_ message: [UInt8], start: Int, end: Int, parent: Int, depth: Int) {
        guard parts.count < Self.maxParts else { return }
        let bodyStart = Self.bodyStart(message, from: start, to: end)
        let index = parts.count
        parts.append(Part(parent: parent, start: start, bodyStart: bodyStart, end: end))
        guard depth < Self.maxDepth,
            let boundary = Self.multipartBoundary(Array(message[start..<bodyStart]))
        else { return }
        // Delimiter lines: "--boundary" (or "--boundary--") at a line's start, then white space.
        let delimiter = Array(("--" + boundary).utf8)
        var lines: [(lineStart: Int, after: Int, close: Bool, dashesEnd: Int)] = []
        var position = bodyStart
        while position < end {
            var lineEnd = position
            while lineEnd < end && message[lineEnd] != 10 { lineEnd += 1 }
            let next = min(lineEnd + 1, end)
            if lineEnd - position >= delimiter.count && message[position] == 45
                && Array(message[position..<(position + delimiter.count)]) == delimiter
            {
                var rest = position + delimiter.count
                let close = rest + 1 < lineEnd && message[rest] == 45 && message[rest + 1] == 45
                if close { rest += 2 }
                if message[rest..<lineEnd].allSatisfy({ $0 == 32 || $0 == 9 || $0 == 13 }) {
                    lines.append((position, next, close, rest))
                    if close { break }
                }
            }
            position = next
        }
        guard let first = lines.first, !first.close else { return }
        parts[index].boundary = boundary
        parts[index].preambleEnd = first.lineStart
        parts[index].closed = lines.last?.close == true
        parts[index].epilogueStart = lines.last?.close == true ? lines.last!.dashesEnd : end
        for (number, line) in lines.enumerated() where !line.close {
            let childStart = line.after
            var childEnd = number + 1 < lines.count ? lines[number + 1].lineStart : end
            if number + 1 < lines.count {
                // The line end before a delimiter is the delimiter's.
                if childEnd > childStart && message[childEnd - 1] == 10 { childEnd -= 1 }
                if childEnd > childStart && message[childEnd - 1] == 13 { childEnd -= 1 }
            }
            parse(message, start: childStart, end: max(childStart, childEnd), parent: index, depth: depth + 1)
        }
    }

    /// Where the body starts: after the first empty line (CRLF or LF), or `end` without one.
    public static func bodyStart(_ message: [UInt8], from start: Int, to end: Int) -> Int {
        var position = start
        while position < end {
            var lineEnd = position
            while lineEnd < end && message[lineEnd] != 10 { lineEnd += 1 }
            let line = lineEnd > position && message[lineEnd - 1] == 13 ? lineEnd - 1 : lineEnd
            if line == position { return min(lineEnd + 1, end) }
            position = lineEnd + 1
        }
        return end
    }

    /// The boundary of a `multipart/*` Content-Type in this header section, nil otherwise.
    public static func multipartBoundary(_ header: [UInt8]) -> String? {
        guard let value = HeaderFieldReader(header).value(of: "content-type") else { return nil }
        let lower = value.lowercased()
        guard lower.hasPrefix("multipart/") else { return nil }
        return parameter("boundary", in: value).flatMap { $0.isEmpty || $0.utf8.count > 200 ? nil : $0 }
    }

    /// A `name=value` or `name="value"` parameter of a header field value (RFC 2045 §5.1).
    public static func parameter(_ name: String, in value: String) -> String? {
        var rest = Substring(value)
        while let semicolon = rest.firstIndex(of: ";") {
            rest = rest[rest.index(after: semicolon)...].drop { $0 == " " || $0 == "\t" }
            guard let equals = rest.firstIndex(of: "=") else { continue }
            let key = String(rest[..<equals].filter { $0 != " " && $0 != "\t" }).lowercased()
            var after = rest[rest.index(after: equals)...].drop { $0 == " " || $0 == "\t" }
            var found = ""
            if after.first == "\"" {
                after = after.dropFirst()
                var escaped = false
                for character in after {
                    if escaped {
                        found.append(character)
                        escaped = false
                    } else if character == "\\" {
                        escaped = true
                    } else if character == "\"" {
                        break
                    } else {
                        found.append(character)
                    }
                }
            } else {
                found = String(after.prefix { $0 != ";" && $0 != " " && $0 != "\t" })
            }
            if key == name { return found }
        }
        return nil
    }
}
