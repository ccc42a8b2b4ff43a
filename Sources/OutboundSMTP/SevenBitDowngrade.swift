import Foundation
import SMTPProtocol

/// Makes an 8-bit message 7-bit for a next hop without 8BITMIME (RFC 6152 §3; Momentum's
/// `transform_8bitmime_content`): every leaf MIME part whose body has octets over 127 is
/// re-encoded — text parts quoted-printable (RFC 2045 §6.7), others base64 (§6.8) — and its
/// Content-Transfer-Encoding says so. A message that is not MIME is treated as one text part
/// (it gains MIME-Version, and `text/plain; charset=unknown-8bit` (RFC 1428) when it has no
/// Content-Type). Header fields and message/rfc822 parts are not re-encoded: with `strict`, 8-bit
/// octets left there make the conversion fail; `strip` clears the high bit instead of encoding.
public enum SevenBitDowngrade {
    public enum Mode: Sendable {
        /// Encode what can be encoded; send the rest as it is.
        case ifNeeded
        /// Encode, and fail when 8-bit octets remain.
        case strict
        /// Clear the eighth bit of body octets (lossy).
        case strip
    }

    /// Why a message could not be made 7-bit (`strict`).
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// The 7-bit message.
    public static func convert(_ message: [UInt8], mode: Mode) throws(Failure) -> [UInt8] {
        let parts = MIMEStructure(message).parts
        guard let top = parts.first else { return message }
        var out: [UInt8] = []
        out.reserveCapacity(message.count + message.count / 3)
        var copied = 0
        for (index, part) in parts.enumerated() where part.boundary == nil {
            let header = Array(message[part.start..<part.bodyStart])
            let body = message[part.bodyStart..<part.end]
            guard body.contains(where: { $0 > 127 }) else { continue }
            let fields = HeaderFieldReader(header)
            let type = (fields.value(of: "content-type") ?? "text/plain").lowercased()
            if type.hasPrefix("message/") {
                if mode == .strict {
                    throw Failure(description: "an attached message (\(type)) has 8-bit octets and cannot be encoded")
                }
                continue
            }
            let encoding = (fields.value(of: "content-transfer-encoding") ?? "7bit").lowercased()
            if encoding.contains("quoted-printable") || encoding.contains("base64") {
                if mode == .strict {
                    throw Failure(description: "a part declared \(encoding) has 8-bit octets")
                }
                continue
            }
            out += message[copied..<part.start]
            var newHeader = removing("content-transfer-encoding", from: header)
            if index == 0 && top.boundary == nil {
                if fields.value(of: "mime-version") == nil { newHeader = adding("MIME-Version: 1.0", to: newHeader) }
                if fields.value(of: "content-type") == nil {
                    newHeader = adding("Content-Type: text/plain; charset=unknown-8bit", to: newHeader)
                }
            }
            switch mode {
            case .strip:
                out += adding("Content-Transfer-Encoding: 7bit", to: newHeader)
                out += body.map { $0 & 0x7F }
            case .ifNeeded, .strict:
                if type.hasPrefix("text/") {
                    out += adding("Content-Transfer-Encoding: quoted-printable", to: newHeader)
                    out += quotedPrintable(body)
                } else {
                    out += adding("Content-Transfer-Encoding: base64", to: newHeader)
                    out += base64(body)
                }
            }
            copied = part.end
        }
        out += message[copied...]
        if mode == .strict {
            if message[..<top.bodyStart].contains(where: { $0 > 127 }) {
                throw Failure(description: "the header has 8-bit octets")
            }
            if out.contains(where: { $0 > 127 }) {
                throw Failure(description: "8-bit octets remain outside the parts that could be encoded")
            }
        }
        return out
    }

    /// A header section without the fields named `name` (with their continuation lines).
    static func removing(_ name: String, from header: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var skipping = false
        var position = 0
        let prefix = Array(name.utf8)
        while position < header.count {
            var end = position
            while end < header.count && header[end] != 10 { end += 1 }
            let line = header[position..<min(end + 1, header.count)]
            let continuation = line.first == 32 || line.first == 9
            if !continuation {
                skipping =
                    line.count > prefix.count
                    && zip(line.prefix(prefix.count), prefix).allSatisfy { lower($0) == $1 }
                    && line[line.startIndex + prefix.count] == 58
            }
            if !skipping { out += line }
            position = end + 1
        }
        return out
    }

    /// A header section with `field` added before its empty line.
    static func adding(_ field: String, to header: [UInt8]) -> [UInt8] {
        var header = header
        var ending: [UInt8] = []
        // The empty line that ends the section (CRLF, or LF), kept after the new field.
        if header.suffix(4) == [13, 10, 13, 10] {
            header.removeLast(2)
            ending = [13, 10]
        } else if header.suffix(2) == [10, 10] {
            header.removeLast(1)
            ending = [10]
        } else if header.isEmpty {
            ending = [13, 10]
        }
        return header + Array(field.utf8) + [13, 10] + ending
    }

    static func lower(_ octet: UInt8) -> UInt8 { octet >= 65 && octet <= 90 ? octet + 32 : octet }

    /// Quoted-printable (RFC 2045 §6.7): line breaks kept as CRLF, lines at most 76 octets with
    /// soft breaks, `=`, controls and octets over 126 as `=XX`, white space before a line end
    /// encoded.
    static func quotedPrintable(_ body: ArraySlice<UInt8>) -> [UInt8] {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(body.count + body.count / 2)
        var lineLength = 0
        var index = body.startIndex
        while index < body.endIndex {
            let octet = body[index]
            if octet == 13 || octet == 10 {
                // CRLF, or a bare CR or LF, is a line break.
                if octet == 13 && index + 1 < body.endIndex && body[index + 1] == 10 { index += 1 }
                out += [13, 10]
                lineLength = 0
                index += 1
                continue
            }
            let atLineEnd =
                index + 1 == body.endIndex || body[index + 1] == 13 || body[index + 1] == 10
            let literal = (octet >= 33 && octet <= 126 && octet != 61) || ((octet == 32 || octet == 9) && !atLineEnd)
            let encoded: [UInt8] = literal ? [octet] : [61, hex[Int(octet >> 4)], hex[Int(octet & 15)]]
            if lineLength + encoded.count > 75 {
                out += [61, 13, 10]
                lineLength = 0
            }
            out += encoded
            lineLength += encoded.count
            index += 1
        }
        return out
    }

    /// Base64 (RFC 2045 §6.8) in CRLF-ended lines of 76 characters (Foundation's encoder).
    static func base64(_ body: ArraySlice<UInt8>) -> [UInt8] {
        let text = Data(body).base64EncodedString(options: [
            .lineLength76Characters, .endLineWithCarriageReturn, .endLineWithLineFeed
        ])
        return Array(text.utf8) + (text.isEmpty ? [] : [13, 10])
    }
}
