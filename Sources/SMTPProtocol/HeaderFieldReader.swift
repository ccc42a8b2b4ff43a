/// Reads header fields from a message's header section (RFC 5322 §2.2): the unfolded values of
/// the fields with a name, without the name and colon. Works on the octets (a field name is
/// ASCII; a value is decoded as UTF-8 only once found); reading stops at the empty line.
public struct HeaderFieldReader: Sendable {
    private let octets: [UInt8]

    public init(_ headerSection: [UInt8]) {
        octets = headerSection
    }

    /// The first `name` field's value (`name` lower-case ASCII), unfolded and trimmed; nil when
    /// there is none.
    public func value(of name: String) -> String? { values(of: name, first: true).first }

    /// Every `name` field's value, in order, unfolded and trimmed.
    public func values(of name: String, first: Bool = false) -> [String] {
        let wanted = Array(name.utf8)
        var values: [String] = []
        var value: [UInt8]?
        func finish() {
            guard var found = value else { return }
            while let octet = found.first, octet == 32 || octet == 9 { found.removeFirst() }
            while let octet = found.last, octet == 32 || octet == 9 { found.removeLast() }
            values.append(String(decoding: found, as: UTF8.self))
            value = nil
        }
        var start = 0
        while start < octets.count {
            var end = start
            while end < octets.count && octets[end] != 10 { end += 1 }
            var line = octets[start..<end]
            if line.last == 13 { line = line.dropLast() }
            start = end + 1
            if line.isEmpty { break } // the end of the header section
            if line.first == 32 || line.first == 9 {
                value? += line
                continue
            }
            finish()
            if first && !values.isEmpty { return values }
            guard line.count > wanted.count, line[line.startIndex + wanted.count] == UInt8(ascii: ":") else { continue }
            let matches = zip(line.prefix(wanted.count), wanted).allSatisfy { octet, letter in
                (octet >= 65 && octet <= 90 ? octet + 32 : octet) == letter
            }
            if matches { value = Array(line.dropFirst(wanted.count + 1)) }
        }
        finish()
        return values
    }
}
