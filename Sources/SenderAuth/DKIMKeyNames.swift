import Resolver
import SMTPProtocol

/// The key records a message's DKIM signatures need (`s=` and `d=` of each DKIM-Signature field,
/// RFC 6376 §3.6.2.1), read before verification so they can be looked up without blocking and
/// the verification then finds them at hand.
public enum DKIMKeyNames {
    /// `selector._domainkey.domain` for the first `limit` DKIM-Signature fields of the message
    /// (its header section is read, up to the empty line), in order, without repeats.
    public static func of(message: [UInt8], limit: Int = SenderAuthLimits.maxSignaturesChecked) -> [String] {
        var names: [String] = []
        for tagList in HeaderFieldReader(message).values(of: "dkim-signature") where names.count < limit {
            if let name = keyName(tagList: Array(tagList.utf8)), !names.contains(name) { names.append(name) }
        }
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

    /// `selector._domainkey.domain`, nil when that is no plausible DNS name.
    static func keyName(domain: String, selector: String) -> String? {
        guard (domain + selector).allSatisfy({ $0 != ";" && !$0.isWhitespace }) else { return nil }
        return keyName(tagList: Array("s=\(selector); d=\(domain)".utf8))
    }

    /// What the resolver's TXT answer for a key record means for verification.
    public static func record(from answer: Result<[DNSRecord], DNSLookupError>) -> DKIMKeyRecord {
        switch answer {
        // RFC 6376 §3.6.2.2: one record is expected; several make the key unusable.
        case .success(let records): return records.count == 1 ? .found(records[0].value) : .notFound
        case .failure(.nxdomain), .failure(.noData): return .notFound
        case .failure: return .temporaryFailure
        }
    }
}
