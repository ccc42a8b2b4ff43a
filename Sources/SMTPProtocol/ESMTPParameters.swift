/// `BODY=` values (RFC 6152 §2, <https://www.rfc-editor.org/rfc/rfc6152>).
public enum BodyType: String, Sendable, Equatable {
    case sevenBit = "7BIT"
    case eightBitMIME = "8BITMIME"
}

/// `RET=` of RFC 3461 §4.3 (<https://www.rfc-editor.org/rfc/rfc3461#section-4.3>).
public enum DSNReturn: String, Sendable, Equatable {
    case full = "FULL"
    case headers = "HDRS"
}

/// `NOTIFY=` of RFC 3461 §4.1: `NEVER`, or a set of `SUCCESS`, `FAILURE`, `DELAY`.
public struct DSNNotify: Sendable, Equatable, CustomStringConvertible {
    public var never: Bool
    public var success: Bool
    public var failure: Bool
    public var delay: Bool

    public init(never: Bool = false, success: Bool = false, failure: Bool = false, delay: Bool = false) {
        self.never = never
        self.success = success
        self.failure = failure
        self.delay = delay
    }

    public var description: String {
        if never { return "NEVER" }
        var parts: [String] = []
        if success { parts.append("SUCCESS") }
        if failure { parts.append("FAILURE") }
        if delay { parts.append("DELAY") }
        return parts.joined(separator: ",")
    }
}

/// Parameters of `MAIL FROM` that Impulse advertises and honours.
public struct MailParameters: Sendable, Equatable {
    /// RFC 1870 declared size.
    public var size: Int?
    public var body: BodyType?
    /// RFC 6531 §3.4.
    public var smtpUTF8: Bool = false
    /// RFC 3461 §4.3, §4.4. `envelopeID` is kept as the xtext the client sent.
    public var ret: DSNReturn?
    public var envelopeID: String?
    /// RFC 4954 §5 `AUTH=`: the mailbox that submitted the message, as the xtext sent, or `<>`.
    public var auth: String?

    public init() {}
}

/// Parameters of `RCPT TO` (RFC 3461 §4.1, §4.2).
public struct RecipientParameters: Sendable, Equatable {
    public var notify: DSNNotify?
    /// `ORCPT=addr-type;xtext`, kept as sent.
    public var originalRecipient: String?

    public init() {}
}

/// Splits and checks `esmtp-param *(SP esmtp-param)` (RFC 5321 §4.1.2).
enum ESMTPParameterList {
    /// esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-"); esmtp-value = 1*(%d33-60 / %d62-126)
    static func split(_ text: Substring, allowUTF8: Bool) throws(SMTPCommandError) -> [(
        keyword: String, value: String?
    )] {
        var result: [(String, String?)] = []
        for item in text.split(separator: " ") {
            let keyword: Substring
            let value: Substring?
            if let equals = item.firstIndex(of: "=") {
                keyword = item[..<equals]
                value = item[item.index(after: equals)...]
            } else {
                keyword = item
                value = nil
            }
            guard let first = keyword.unicodeScalars.first, first.isASCIIAlphanumeric,
                keyword.unicodeScalars.allSatisfy({ $0.isASCIIAlphanumeric || $0 == "-" })
            else {
                throw .init(.invalidParameterKeyword)
            }
            if let value {
                guard !value.isEmpty,
                    value.utf8.allSatisfy({ ($0 >= 33 && $0 <= 126 && $0 != 61) || (allowUTF8 && $0 >= 0x80) })
                else {
                    throw .init(.invalidParameterValue("value for \(keyword.uppercased())"))
                }
            }
            result.append((keyword.uppercased(), value.map(String.init)))
        }
        return result
    }

    /// xtext (RFC 3461 §4): "+" HEXCHAR HEXCHAR or %d33-42 / %d44-60 / %d62-126.
    static func isXtext(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "+") {
                guard index + 2 < bytes.count, isUpperHex(bytes[index + 1]), isUpperHex(bytes[index + 2]) else {
                    return false
                }
                index += 3
                continue
            }
            guard byte >= 33, byte <= 126, byte != UInt8(ascii: "=") else { return false }
            index += 1
        }
        return true
    }

    /// The text an xtext stands for (`+XX` decoded); nil when it is not xtext or not UTF-8.
    static func decodeXtext(_ text: String) -> String? {
        guard isXtext(text) else { return nil }
        var out: [UInt8] = []
        let bytes = Array(text.utf8)
        var index = 0
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "+"),
                let value = UInt8(String(decoding: bytes[(index + 1)...(index + 2)], as: UTF8.self), radix: 16)
            {
                out.append(value)
                index += 3
            } else {
                out.append(bytes[index])
                index += 1
            }
        }
        return String(validating: out, as: UTF8.self)
    }

    static func isUpperHex(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(byte)
    }
}

extension Unicode.Scalar {
    var isASCIIAlphanumeric: Bool {
        isASCII && (properties.isAlphabetic || ("0"..."9").contains(self))
    }
}
