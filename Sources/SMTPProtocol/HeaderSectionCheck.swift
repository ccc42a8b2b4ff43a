/// What a received message's header section (RFC 5322 §2.2, up to the first empty line) says
/// about limits Impulse enforces before it acknowledges the message: the count of `Received:`
/// fields (a mail loop, RFC 5321 §6.3), the count of fields and the section's size. One linear
/// pass over the octets, stopping at the end of the header section.
public struct HeaderSectionCheck: Sendable, Equatable {
    public var receivedFields = 0
    public var fields = 0
    public var size = 0

    /// Scans `message` (CRLF or bare-LF line ends) up to its first empty line. The scan stops as
    /// soon as any count passes its limit in `limits` (the counts then stand one past the limit).
    public init<Octets: Collection<UInt8>>(_ message: Octets, limits: SMTPLimits) {
        var atLineStart = true
        var lineStart = message.startIndex
        var index = message.startIndex
        while index != message.endIndex {
            let octet = message[index]
            if atLineStart {
                // An empty line (CRLF or LF) ends the header section.
                if octet == 0x0A { break }
                if octet == 0x0D, let next = message.index(index, offsetBy: 1, limitedBy: message.endIndex),
                    next != message.endIndex, message[next] == 0x0A
                {
                    break
                }
                atLineStart = false
                lineStart = index
                if octet != 0x20 && octet != 0x09 {
                    fields += 1
                    if Self.startsWithReceived(message, at: lineStart) { receivedFields += 1 }
                }
                if fields > limits.maxHeaderFields || receivedFields > limits.maxReceivedHeaders { break }
            }
            if octet == 0x0A { atLineStart = true }
            size += 1
            if size > limits.maxHeaderSectionSize { break }
            index = message.index(after: index)
        }
    }

    /// The reply that refuses the message, or nil when it is within every limit.
    public func refusal(limits: SMTPLimits) -> SMTPReply? {
        if receivedFields > limits.maxReceivedHeaders {
            return .tooManyHops(limit: limits.maxReceivedHeaders)
        }
        if size > limits.maxHeaderSectionSize {
            return .headerSectionTooLarge(limit: limits.maxHeaderSectionSize)
        }
        if fields > limits.maxHeaderFields {
            return .tooManyHeaderFields(limit: limits.maxHeaderFields)
        }
        return nil
    }

    static let received = Array("received:".utf8)

    /// True when the line at `start` begins with `Received:` (any case; RFC 5322 field names
    /// are case-insensitive).
    static func startsWithReceived<Octets: Collection<UInt8>>(_ message: Octets, at start: Octets.Index) -> Bool {
        var index = start
        for expected in received {
            guard index != message.endIndex else { return false }
            var octet = message[index]
            if octet >= 0x41 && octet <= 0x5A { octet += 0x20 }
            guard octet == expected else { return false }
            index = message.index(after: index)
        }
        return true
    }
}
