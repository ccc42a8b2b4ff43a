import Foundation
import NIOCore

#if canImport(Glibc)
    import Glibc
#endif

/// The `Received:` trace header Impulse prepends (RFC 5321 §4.4,
/// <https://www.rfc-editor.org/rfc/rfc5321#section-4.4>; protocol keywords from RFC 3848):
///
///     Received: from client.example ([192.0.2.1])
///             by mx.example (Impulse) with ESMTPS id 18C0F2A1B3C4D-0000002A
///             for <user@example.com>; Wed, 25 Nov 2026 18:40:22 +0000
package enum ReceivedHeader {
    package static func make(
        helo: String, client: String, byHost: String, protocolName: String, id: String,
        recipient: String?, tls: String?, date: Date
    ) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(256)
        buffer.writeString(
            "Received: from \(sanitize(helo)) ([\(client)])\r\n\tby \(byHost) (Impulse) with \(protocolName) id \(id)")
        if let tls { buffer.writeString("\r\n\t(\(tls))") }
        if let recipient { buffer.writeString("\r\n\tfor <\(recipient)>") }
        buffer.writeString("; \(rfc5322Date(date))\r\n")
        return buffer
    }

    /// The HELO name is client text: keep it to printable ASCII without comment or clause syntax.
    package static func sanitize(_ text: String) -> String {
        let cleaned = String(
            String.UnicodeScalarView(
                text.unicodeScalars.map {
                    ($0.value > 32 && $0.value < 127 && $0 != "(" && $0 != ")" && $0 != ";") ? $0 : "_"
                }))
        return cleaned.isEmpty ? "unknown" : String(cleaned.prefix(255))
    }

    package static let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    package static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// RFC 5322 §3.3 date-time in UTC: `Wed, 25 Nov 2026 18:40:22 +0000`.
    package static func rfc5322Date(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(days[Int(parts.tm_wday)]), \(parts.tm_mday) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) +0000"
    }
}
