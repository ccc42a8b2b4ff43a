import Foundation

/// Reads header fields from a message's header section (RFC 5322 §2.2): the unfolded value of
/// the first field with a name, without the name and colon.
struct HeaderFieldReader {
    private let text: String

    init(_ headerSection: [UInt8]) {
        text = String(decoding: headerSection, as: UTF8.self)
    }

    /// The first `name` field's value, unfolded and trimmed (nil when there is none).
    func value(of name: String) -> String? {
        var current: String?
        var matched = false
        for line in text.split(separator: "\r\n", omittingEmptySubsequences: false) {
            if line.isEmpty { break }
            if line.first == " " || line.first == "\t" {
                if matched { current? += line }
                continue
            }
            if matched { break }
            guard let colon = line.firstIndex(of: ":") else { continue }
            if line[..<colon].trimmingCharacters(in: .whitespaces).lowercased() == name {
                matched = true
                current = String(line[line.index(after: colon)...])
            }
        }
        return current?.trimmingCharacters(in: .whitespaces)
    }
}
