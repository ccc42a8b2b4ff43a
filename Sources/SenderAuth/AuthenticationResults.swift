import Foundation

/// The Authentication-Results header field (RFC 8601) Impulse adds for what it verified, and the
/// removal of fields that claim to come from Impulse's own authserv-id (RFC 8601 §5: a receiver
/// must not trust, and should delete, such fields arriving from outside).
public enum AuthenticationResults {
    /// `Authentication-Results: <authserv-id>; …` with one result per method checked (RFC 8601
    /// §2.7): `dkim=` for each signature (`dkim=none` for an unsigned message) with header.d,
    /// header.s, header.i and header.a; `spf=` with smtp.mailfrom (smtp.helo for a null sender);
    /// `dmarc=` with header.from and the policy in a comment.
    public static func field(
        authservID: String, dkim: DKIMVerification?, spf: SPFReport? = nil, dmarc: DMARCOutcome? = nil
    ) -> String {
        var results: [String] = []
        if let dkim {
            for signature in dkim.signatures {
                var result = "dkim=\(signature.result)"
                if !signature.passed && signature.errorCode > 0 {
                    result += " (\(commentSafe(signature.errorText)))"
                }
                result += " header.d=\(propertyValue(signature.domain)) header.s=\(propertyValue(signature.selector))"
                result +=
                    " header.i=\(propertyValue(signature.identity)) header.a=\(propertyValue(signature.algorithm))"
                results.append(result)
            }
            if dkim.malformed {
                results.append("dkim=permerror (malformed DKIM-Signature field)")
            } else if dkim.signatures.isEmpty {
                results.append("dkim=none")
            }
        }
        if let spf {
            let property = spf.fromHelo ? "smtp.helo" : "smtp.mailfrom"
            results.append("spf=\(spf.result.result) \(property)=\(propertyValue(spf.identity))")
        }
        if let dmarc {
            var result = "dmarc=\(dmarc.result)"
            if !dmarc.policy.isEmpty { result += " (p=\(dmarc.policy) dis=\(dmarc.disposition))" }
            if !dmarc.fromDomain.isEmpty { result += " header.from=\(propertyValue(dmarc.fromDomain))" }
            results.append(result)
        }
        if results.isEmpty { results = ["none"] }
        return "Authentication-Results: \(authservID);\r\n\t" + results.joined(separator: ";\r\n\t") + "\r\n"
    }

    /// `message` without the Authentication-Results fields whose authserv-id is `authservID`
    /// (compared without case), or nil when it has none.
    public static func removingForged(_ message: [UInt8], authservID: String) -> [UInt8]? {
        let wanted = authservID.lowercased()
        var kept: [UInt8] = []
        kept.reserveCapacity(message.count)
        var removed = false
        var index = 0
        var dropping = false
        while index < message.count {
            // One line (through its LF) at a time, in the header section only.
            var end = index
            while end < message.count && message[end] != 10 { end += 1 }
            end = min(end + 1, message.count)
            let line = message[index..<end]
            if line.first == 13 || line.first == 10 { // the empty line: the body follows unchanged
                kept += message[index...]
                break
            }
            let continuation = line.first == 32 || line.first == 9
            if !continuation {
                dropping = false
                let text = String(decoding: line.prefix(200), as: UTF8.self)
                if let colon = text.firstIndex(of: ":"),
                    text[..<colon].trimmingCharacters(in: .whitespaces).lowercased() == "authentication-results"
                {
                    let value = text[text.index(after: colon)...]
                    let id = value.split(whereSeparator: { $0 == ";" || $0 == " " || $0 == "\t" || $0 == "\r" })
                        .first.map { String($0).lowercased() }
                    if id == wanted { dropping = true }
                }
            }
            if dropping { removed = true } else { kept += line }
            index = end
        }
        return removed ? kept : nil
    }

    /// A property value (RFC 8601 §2.2: a value, else a quoted string).
    static func propertyValue(_ text: String) -> String {
        if !text.isEmpty,
            text.allSatisfy({ $0.isASCII && !$0.isWhitespace && !"()<>,;:\\\"[]?=".contains($0) })
                || text.allSatisfy({ $0.isASCII && !$0.isWhitespace && !"()\\\";".contains($0) }) && text.contains("@")
        {
            return text
        }
        return "\"" + text.filter { $0 != "\"" && $0 != "\\" && $0 != "\r" && $0 != "\n" } + "\""
    }

    static func commentSafe(_ text: String) -> String {
        text.filter { $0 != "(" && $0 != ")" && $0 != "\\" && $0 != "\r" && $0 != "\n" }
    }
}
