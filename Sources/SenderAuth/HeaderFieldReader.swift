/// Reads header fields from a message's header section (RFC 5322 §2.2): the unfolded value of
/// the first field with a name, without the name and colon. Works on the octets (a field name is
/// ASCII; the value is decoded as UTF-8 only once found).
struct HeaderFieldReader {
    private let octets: [UInt8]

    init(_ headerSection: [UInt8]) {
        octets = headerSection
    }

    /// The first `name` field's value (`name` lower-case ASCII), unfolded and trimmed; nil when
    /// there is none.
    func value(of name: String) -> String? {
        let wanted = Array(name.utf8)
        var value: [UInt8]?
        var start = 0
        while start < octets.count {
            var end = start
            while end < octets.count && octets[end] != 10 { end += 1 }
            var line = octets[start..<end]
            if line.last == 13 { line = line.dropLast() }
            start = end + 1
            if line.isEmpty { break } // the end of the header section
            if line.first == 32 || line.first == 9 {
                if value != nil { value! += line }
                continue
            }
            if value != nil { break } // the next field: the one found is complete
            guard line.count > wanted.count, line[line.startIndex + wanted.count] == UInt8(ascii: ":") else { continue }
            let matches = zip(line.prefix(wanted.count), wanted).allSatisfy { octet, letter in
                (octet >= 65 && octet <= 90 ? octet + 32 : octet) == letter
            }
            if matches { value = Array(line.dropFirst(wanted.count + 1)) }
        }
        guard var found = value else { return nil }
        while let first = found.first, first == 32 || first == 9 { found.removeFirst() }
        while let last = found.last, last == 32 || last == 9 { found.removeLast() }
        return String(decoding: found, as: UTF8.self)
    }
}
