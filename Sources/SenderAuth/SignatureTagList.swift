/// A DKIM-style tag list (RFC 6376 §3.2): `tag=value` pairs separated by semicolons, white
/// space around either ignored. DKIM keys, ARC-Message-Signature and ARC-Seal use it.
struct SignatureTagList {
    private(set) var tags: [String: String] = [:]

    /// Nil when a tag appears twice or a pair has no `=` or no name (RFC 6376 §3.2: invalid).
    init?(_ octets: ArraySlice<UInt8>) {
        let text = String(decoding: octets, as: UTF8.self)
        for pair in text.split(separator: ";", omittingEmptySubsequences: false) {
            let trimmed = pair.trimmingFoldingWhiteSpace()
            if trimmed.isEmpty { continue }
            guard let equals = trimmed.firstIndex(of: "=") else { return nil }
            let name = trimmed[..<equals].trimmingFoldingWhiteSpace()
            guard !name.isEmpty, tags[String(name)] == nil else { return nil }
            tags[String(name)] = String(trimmed[trimmed.index(after: equals)...].trimmingFoldingWhiteSpace())
        }
    }

    subscript(_ name: String) -> String? { tags[name] }

    /// A value with all folding white space removed (b=, bh=, p=: base64 may be folded anywhere).
    func compact(_ name: String) -> String? {
        tags[name].map { String($0.filter { !$0.isWhitespace }) }
    }

    /// `field` with the value of its `b=` tag removed, everything else as it was (RFC 6376
    /// §3.7: the signature's own field is hashed with an empty b=).
    static func removingSignature(_ field: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        guard let colon = field.firstIndex(of: UInt8(ascii: ":")) else { return field }
        var start = colon + 1
        while start < field.endIndex {
            var end = start
            while end < field.endIndex && field[end] != UInt8(ascii: ";") { end += 1 }
            let pair = field[start..<end]
            if let equals = pair.firstIndex(of: UInt8(ascii: "=")) {
                let name = pair[pair.startIndex..<equals].filter { !$0.isWhitespaceASCII }
                if name == [UInt8(ascii: "b")] {
                    return field[field.startIndex...equals] + field[end...]
                }
            }
            start = end + 1
        }
        return field
    }
}

extension StringProtocol {
    func trimmingFoldingWhiteSpace() -> Substring {
        let text = Substring(self)
        guard let first = text.firstIndex(where: { !$0.isWhitespace }),
            let last = text.lastIndex(where: { !$0.isWhitespace })
        else { return text[text.endIndex...] }
        return text[first...last]
    }
}
