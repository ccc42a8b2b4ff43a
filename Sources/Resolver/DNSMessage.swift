#if canImport(Glibc)
    import Glibc
#endif

/// What one DNS response (RFC 1035 §4.1) says about a question: the records of the asked type
/// (following any CNAME chain in the answer section) with the smallest TTL among them, or a
/// negative answer with how long it may be cached (RFC 2308 §5: the SOA record's TTL, at most its
/// MINIMUM field; without an SOA it is not cached), or the name server's failure.
/// Everything in the message is untrusted: every length and pointer is checked, compression
/// pointers may only point backwards, and at most `DNSLimits.maxAnswerRecords` records are kept.
package struct DNSMessage {
    package enum Outcome: Equatable {
        case records([DNSRecord], ttl: UInt32)
        case nxdomain(cacheFor: UInt32?)
        case noData(cacheFor: UInt32?)
        case failure(rcode: Int)
    }

    private let bytes: UnsafeRawBufferPointer

    /// Reads the response in `bytes` to a question of `type`.
    package static func parse(_ bytes: UnsafeRawBufferPointer, type: DNSRecordType) -> Result<Outcome, DNSLookupError> {
        do {
            return .success(try DNSMessage(bytes: bytes).outcome(for: type))
        } catch {
            return .failure(error)
        }
    }

    private init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    private func outcome(for type: DNSRecordType) throws(DNSLookupError) -> Outcome {
        guard bytes.count >= 12 else { throw .badAnswer("message shorter than its header") }
        let rcode = Int(bytes[3] & 0x0F)
        let questions = u16(4), answers = u16(6), authorities = u16(8)
        var offset = 12
        for _ in 0..<questions {
            offset = try skipName(at: offset) + 4
            guard offset <= bytes.count else { throw .badAnswer("truncated question") }
        }
        var records: [DNSRecord] = []
        var ttl = UInt32.max
        for _ in 0..<answers {
            let record = try resourceRecord(at: offset)
            offset = record.end
            guard record.class == 1 else { continue }
            if record.type == type.code {
                guard records.count < DNSLimits.maxAnswerRecords else {
                    throw .badAnswer("more than \(DNSLimits.maxAnswerRecords) \(type.rawValue) records")
                }
                records.append(try decode(type, rdata: record.rdata))
                ttl = min(ttl, record.ttl)
            } else if record.type == 5 { // CNAME: its TTL bounds the answer's too
                ttl = min(ttl, record.ttl)
            }
        }
        if rcode != 0 && rcode != 3 { return .failure(rcode: rcode) }
        if rcode == 0 && !records.isEmpty {
            if type == .mx { records.sort { ($0.preference ?? 0, $0.value) < ($1.preference ?? 0, $1.value) } }
            return .records(records, ttl: ttl)
        }
        var negativeTTL: UInt32?
        for _ in 0..<authorities {
            let record = try resourceRecord(at: offset)
            offset = record.end
            guard record.type == 6, record.class == 1 else { continue }
            // SOA RDATA: MNAME, RNAME, then SERIAL REFRESH RETRY EXPIRE MINIMUM (RFC 1035 §3.3.13).
            let fields = try skipName(at: try skipName(at: record.rdata.lowerBound))
            guard fields + 20 <= record.rdata.upperBound else { throw .badAnswer("short SOA record") }
            negativeTTL = min(record.ttl, u32(fields + 16))
        }
        return rcode == 3 ? .nxdomain(cacheFor: negativeTTL) : .noData(cacheFor: negativeTTL)
    }

    private struct ResourceRecord {
        var type: UInt16
        var `class`: UInt16
        var ttl: UInt32
        var rdata: Range<Int>
        var end: Int
    }

    private func resourceRecord(at start: Int) throws(DNSLookupError) -> ResourceRecord {
        let fixed = try skipName(at: start)
        guard fixed + 10 <= bytes.count else { throw .badAnswer("truncated resource record") }
        let length = Int(u16(fixed + 8))
        guard fixed + 10 + length <= bytes.count else { throw .badAnswer("resource record data past the message") }
        // RFC 2181 §8: a TTL with the top bit set is read as zero.
        let ttl = u32(fixed + 4)
        return ResourceRecord(
            type: u16(fixed), class: u16(fixed + 2), ttl: ttl > Int32.max ? 0 : ttl,
            rdata: (fixed + 10)..<(fixed + 10 + length), end: fixed + 10 + length)
    }

    private func decode(_ type: DNSRecordType, rdata: Range<Int>) throws(DNSLookupError) -> DNSRecord {
        switch type {
        case .a:
            guard rdata.count == 4 else { throw .badAnswer("A record of \(rdata.count) octets") }
            return DNSRecord(value: rdata.map { String(bytes[$0]) }.joined(separator: "."))
        case .aaaa:
            guard rdata.count == 16 else { throw .badAnswer("AAAA record of \(rdata.count) octets") }
            var address = in6_addr()
            withUnsafeMutableBytes(of: &address) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[rdata])) }
            var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            guard inet_ntop(AF_INET6, &address, &text, socklen_t(text.count)) != nil else {
                throw .badAnswer("AAAA record")
            }
            return DNSRecord(
                value: String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        case .tlsa:
            guard rdata.count >= 4, rdata.count <= 1024 else {
                throw .badAnswer("TLSA record of \(rdata.count) octets")
            }
            let start = rdata.lowerBound
            let hex = bytes[(start + 3)..<rdata.upperBound].map { String(format: "%02x", $0) }.joined()
            return DNSRecord(value: "\(bytes[start]) \(bytes[start + 1]) \(bytes[start + 2]) \(hex)")
        case .mx:
            guard rdata.count >= 3 else { throw .badAnswer("MX record of \(rdata.count) octets") }
            let (name, end) = try readName(at: rdata.lowerBound + 2)
            guard end <= rdata.upperBound else { throw .badAnswer("MX exchange past its record") }
            return DNSRecord(value: name, preference: Int(u16(rdata.lowerBound)))
        case .ptr, .ns:
            let (name, end) = try readName(at: rdata.lowerBound)
            guard end <= rdata.upperBound else { throw .badAnswer("\(type.rawValue) name past its record") }
            return DNSRecord(value: name)
        case .txt:
            // One or more <length><text> strings, joined (RFC 7208 §3.3 does the same).
            var text: [UInt8] = []
            var index = rdata.lowerBound
            while index < rdata.upperBound {
                let length = Int(bytes[index])
                guard index + 1 + length <= rdata.upperBound else { throw .badAnswer("TXT string past its record") }
                text += bytes[(index + 1)..<(index + 1 + length)]
                index += 1 + length
            }
            return DNSRecord(value: String(decoding: text, as: UTF8.self))
        }
    }

    /// The offset after the name that starts at `start` (a compression pointer ends it).
    private func skipName(at start: Int) throws(DNSLookupError) -> Int {
        var index = start
        while index < bytes.count {
            let length = Int(bytes[index])
            if length == 0 { return index + 1 }
            if length & 0xC0 == 0xC0 { return index + 2 }
            guard length < 64 else { throw .badAnswer("bad label type") }
            index += 1 + length
        }
        throw .badAnswer("name past the message")
    }

    /// The name at `start` in text (no final dot; the root is "."), following compression
    /// pointers (RFC 1035 §4.1.4) only backwards, at most 255 octets; and the offset after it.
    private func readName(at start: Int) throws(DNSLookupError) -> (String, Int) {
        var labels: [String] = []
        var index = start, end: Int?, octets = 1
        while true {
            guard index < bytes.count else { throw .badAnswer("name past the message") }
            let length = Int(bytes[index])
            if length == 0 {
                return (labels.isEmpty ? "." : labels.joined(separator: "."), end ?? index + 1)
            }
            if length & 0xC0 == 0xC0 {
                guard index + 1 < bytes.count else { throw .badAnswer("name past the message") }
                let target = (length & 0x3F) << 8 | Int(bytes[index + 1])
                guard target < index else { throw .badAnswer("compression pointer loop") }
                if end == nil { end = index + 2 }
                index = target
                continue
            }
            guard length < 64, index + 1 + length <= bytes.count else { throw .badAnswer("bad label") }
            octets += 1 + length
            guard octets <= 255 else { throw .badAnswer("name longer than 255 octets") }
            labels.append(String(decoding: bytes[(index + 1)..<(index + 1 + length)], as: UTF8.self))
            index += 1 + length
        }
    }

    private func u16(_ offset: Int) -> UInt16 { UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1]) }

    private func u32(_ offset: Int) -> UInt32 { UInt32(u16(offset)) << 16 | UInt32(u16(offset + 2)) }
}
