/// A mailbox from a MAIL or RCPT path, as RFC 5321 §4.1.2 defines it
/// (<https://www.rfc-editor.org/rfc/rfc5321#section-4.1.2>), with RFC 6531 UTF-8 extensions.
///
/// A source route (`<@a,@b:user@example.com>`) is parsed and dropped, as RFC 5321 §4.1.1.3
/// asks of servers; `hadSourceRoute` records that one was given.
public struct Mailbox: Sendable, Equatable, Hashable, CustomStringConvertible {
    /// The local part exactly as sent (a quoted string keeps its quotes).
    public var localPart: String
    /// The domain or address literal (`[192.0.2.1]`); empty only for the special `<postmaster>`.
    public var domain: String
    public var hadSourceRoute: Bool

    public init(localPart: String, domain: String, hadSourceRoute: Bool = false) {
        self.localPart = localPart
        self.domain = domain
        self.hadSourceRoute = hadSourceRoute
    }

    /// `local@domain` (or `postmaster`).
    public var description: String { domain.isEmpty ? localPart : "\(localPart)@\(domain)" }

    /// True when the local part carries sender-specified routing (`%`, `!` or a quoted `@`),
    /// the "%-hack" and bang-path forms an open relay would honour.
    public var hasRoutingCharacters: Bool {
        localPart.utf8.contains { $0 == UInt8(ascii: "%") || $0 == UInt8(ascii: "!") || $0 == UInt8(ascii: "@") }
    }

    /// True when any octet is outside US-ASCII (needs SMTPUTF8, RFC 6531 §3.3).
    public var isInternationalized: Bool {
        localPart.utf8.contains { $0 >= 0x80 } || domain.utf8.contains { $0 >= 0x80 }
    }
}

/// Errors in a path, each mapping to the reply RFC 5321 / RFC 3463 prescribe.
public enum MailPathError: Error, Equatable, Sendable {
    case syntax(String)
    case tooLong(String)
    case nonASCIIWithoutSMTPUTF8

    public var reply: SMTPReply {
        switch self {
        case .syntax(let what): return .badAddressSyntax(what)
        case .tooLong(let what): return .addressPartTooLong(what)
        case .nonASCIIWithoutSMTPUTF8:
            return .nonASCIIWithoutSMTPUTF8
        }
    }
}

/// Parses `Path` / `Reverse-path` (RFC 5321 §4.1.2). Input is the text from `<` to `>` inclusive.
public struct MailPathParser {
    public var limits: SMTPLimits
    public var allowUTF8: Bool

    public init(limits: SMTPLimits, allowUTF8: Bool) {
        self.limits = limits
        self.allowUTF8 = allowUTF8
    }

    /// Reverse-path = Path / "<>"; returns nil for the null reverse path.
    public func parseReversePath(_ text: Substring) throws(MailPathError) -> Mailbox? {
        if text == "<>" { return nil }
        return try parsePath(text)
    }

    /// Forward-path = Path, plus the case-insensitive `<Postmaster>` RFC 5321 §4.5.1 requires.
    public func parseForwardPath(_ text: Substring) throws(MailPathError) -> Mailbox {
        if text.count == 12, text.lowercased() == "<postmaster>" {
            return Mailbox(localPart: String(text.dropFirst().dropLast()), domain: "")
        }
        return try parsePath(text)
    }

    /// Path = "<" [ A-d-l ":" ] Mailbox ">"
    func parsePath(_ text: Substring) throws(MailPathError) -> Mailbox {
        guard text.utf8.count <= limits.maxPathLength else { throw .tooLong("Path") }
        guard text.first == "<", text.last == ">", text.count >= 2 else {
            throw .syntax("path must be enclosed in <>")
        }
        var inner = text.dropFirst().dropLast()
        var hadSourceRoute = false
        if inner.first == "@" {
            // A-d-l = At-domain *( "," At-domain ); At-domain = "@" Domain
            guard let colon = inner.firstIndex(of: ":") else { throw .syntax("source route without ':'") }
            for hop in inner[..<colon].split(separator: ",", omittingEmptySubsequences: false) {
                guard hop.first == "@", isDomain(hop.dropFirst()) else { throw .syntax("bad source route") }
            }
            inner = inner[inner.index(after: colon)...]
            hadSourceRoute = true
        }
        var mailbox = try parseMailbox(inner)
        mailbox.hadSourceRoute = hadSourceRoute
        return mailbox
    }

    /// Mailbox = Local-part "@" ( Domain / address-literal )
    func parseMailbox(_ text: Substring) throws(MailPathError) -> Mailbox {
        let utf8 = Array(text.utf8)
        if !allowUTF8, utf8.contains(where: { $0 >= 0x80 }) { throw .nonASCIIWithoutSMTPUTF8 }
        var index = 0
        if utf8.first == UInt8(ascii: "\"") {
            // Quoted-string = DQUOTE *QcontentSMTP DQUOTE
            index = 1
            var closed = false
            while index < utf8.count {
                let byte = utf8[index]
                if byte == UInt8(ascii: "\\") {
                    guard index + 1 < utf8.count, (32...126).contains(utf8[index + 1]) else {
                        throw .syntax("bad quoted pair")
                    }
                    index += 2
                    continue
                }
                if byte == UInt8(ascii: "\"") {
                    closed = true
                    index += 1
                    break
                }
                guard byte >= 32, byte != 127 else { throw .syntax("control character in local part") }
                index += 1
            }
            guard closed else { throw .syntax("unterminated quoted local part") }
        } else {
            // Dot-string = Atom *("." Atom)
            var atomLength = 0
            while index < utf8.count, utf8[index] != UInt8(ascii: "@") {
                let byte = utf8[index]
                if byte == UInt8(ascii: ".") {
                    guard atomLength > 0 else { throw .syntax("empty atom in local part") }
                    atomLength = 0
                } else {
                    guard Self.isAtext(byte) else { throw .syntax("invalid character in local part") }
                    atomLength += 1
                }
                index += 1
            }
            guard atomLength > 0 else { throw .syntax("empty atom in local part") }
        }
        guard index < utf8.count, utf8[index] == UInt8(ascii: "@") else { throw .syntax("missing @domain") }
        let localPart = String(decoding: utf8[..<index], as: UTF8.self)
        guard index <= limits.maxLocalPartLength else { throw .tooLong("Local part") }
        let domainBytes = utf8[(index + 1)...]
        let domain = String(decoding: domainBytes, as: UTF8.self)
        guard domainBytes.count <= limits.maxDomainLength else { throw .tooLong("Domain") }
        if domain.first == "[" {
            guard Self.isAddressLiteral(Substring(domain)) else { throw .syntax("bad address literal") }
        } else {
            guard isDomain(Substring(domain)) else { throw .syntax("bad domain") }
        }
        return Mailbox(localPart: localPart, domain: domain)
    }

    /// atext (RFC 5322 §3.2.3), extended with UTF8-non-ascii by RFC 6531 §3.3.
    static func isAtext(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
            UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "/"),
            UInt8(ascii: "="), UInt8(ascii: "?"), UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"),
            UInt8(ascii: "{"), UInt8(ascii: "|"), UInt8(ascii: "}"), UInt8(ascii: "~"):
            return true
        default: return byte >= 0x80
        }
    }

    /// Domain = sub-domain *("." sub-domain); sub-domain = Let-dig [Ldh-str] (U-labels allowed
    /// when SMTPUTF8 is in effect).
    func isDomain(_ text: Substring) -> Bool {
        Self.isDomainName(text, allowUTF8: allowUTF8)
    }

    public static func isDomainName(_ text: Substring, allowUTF8: Bool) -> Bool {
        guard !text.isEmpty, text.utf8.count <= 255 else { return false }
        for label in text.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false) {
            guard !label.isEmpty, label.count <= 63 else { return false }
            guard let first = label.first, let last = label.last,
                first != UInt8(ascii: "-"), last != UInt8(ascii: "-")
            else { return false }
            for byte in label {
                switch byte {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                    UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"):
                    continue
                default:
                    if allowUTF8, byte >= 0x80 { continue }
                    return false
                }
            }
        }
        return true
    }

    /// address-literal = "[" ( IPv4-address-literal / IPv6-address-literal / General-address-literal ) "]"
    static func isAddressLiteral(_ text: Substring) -> Bool {
        guard text.first == "[", text.last == "]", text.count > 2 else { return false }
        let inner = text.dropFirst().dropLast()
        if inner.lowercased().hasPrefix("ipv6:") {
            let address = inner.dropFirst(5)
            return !address.isEmpty && address.allSatisfy { $0.isHexDigit || $0 == ":" || $0 == "." }
        }
        let octets = inner.split(separator: ".", omittingEmptySubsequences: false)
        if octets.count == 4,
            octets.allSatisfy({
                !$0.isEmpty && $0.count <= 3 && $0.allSatisfy(\.isASCIIDigit) && (Int($0) ?? 256) <= 255
            })
        {
            return true
        }
        // General-address-literal = Standardized-tag ":" 1*dcontent; we know no other tags.
        return false
    }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}
