/// The key records a message's DKIM signatures need (`s=` and `d=` of each DKIM-Signature field,
/// RFC 6376 §3.6.2.1), read before verification so they can be looked up without blocking and
/// the verification then finds them at hand.
public enum DKIMKeyNames {
    /// `selector._domainkey.domain` for the first `limit` DKIM-Signature fields of the message
    /// (its header section is read, up to the empty line), in order, without repeats.
    public static func of(message: [UInt8], limit: Int = SenderAuthLimits.maxSignaturesChecked) -> [String] {
        var names: [String] = []
        var field: [UInt8]?
        var start = 0
        func finish() {
            guard let text = field, names.count < limit, let name = keyName(tagList: text), !names.contains(name)
            else { return }
            names.append(name)
        }
        let prefix = Array("dkim-signature:".utf8)
        while start < message.count {
            var end = start
            while end < message.count && message[end] != 10 { end += 1 }
            var line = message[start..<end]
            if line.last == 13 { line = line.dropLast() }
            start = end + 1
            if line.isEmpty { break }
            if line.first == 32 || line.first == 9 {
                field? += line
                continue
            }
            finish()
            field = nil
            if line.count > prefix.count,
                zip(line.prefix(prefix.count), prefix).allSatisfy({ ($0 >= 65 && $0 <= 90 ? $0 + 32 : $0) == $1 })
            {
                field = Array(line.dropFirst(prefix.count))
            }
        }
        finish()
        return names
    }

    /// The key record's name from a signature's tag list, nil when `s=` or `d=` is missing or not
    /// a plausible DNS name.
    static func keyName(tagList: [UInt8]) -> String? {
        var selector: String?
        var domain: String?
        for tag in tagList.split(separator: UInt8(ascii: ";")) {
            let text = String(decoding: tag.filter { $0 != 32 && $0 != 9 && $0 != 13 && $0 != 10 }, as: UTF8.self)
            if text.hasPrefix("s=") { selector = String(text.dropFirst(2)) }
            if text.hasPrefix("d=") { domain = String(text.dropFirst(2)) }
        }
        guard let selector, let domain else { return nil }
        let name = "\(selector)._domainkey.\(domain)"
        guard name.utf8.count <= 253, !selector.isEmpty, !domain.isEmpty,
            name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == "_") })
        else { return nil }
        return name
    }

    /// What a key look-up's answer means for verification.
    public static func record(from answer: Result<[String], DNSKeyLookupFailure>) -> DKIMKeyRecord {
        switch answer {
        // RFC 6376 §3.6.2.2: one record is expected; several make the key unusable.
        case .success(let records): return records.count == 1 ? .found(records[0]) : .notFound
        case .failure(.noRecord): return .notFound
        case .failure(.temporary): return .temporaryFailure
        }
    }
}

/// Why a key look-up found nothing: no such name or no TXT record, or a failure for now.
public enum DNSKeyLookupFailure: Error, Sendable {
    case noRecord
    case temporary
}
