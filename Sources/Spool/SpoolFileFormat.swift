import CZlib
import Foundation
import NIOCore

/// The on-disk layout of one message record (version 2; see docs/spool-format.md). A segment file
/// is a sequence of records:
///
///     IMPULSE-SPOOL 2 <envelope-octets> <data-octets>\n
///     <envelope JSON, one line>\n
///     <message data, exactly data-octets octets>
///     IMPULSE-END <id> <crc>\n
///
/// `<crc>` is the CRC-32 (ISO-HDLC, zlib's) of the envelope line and the data, as 8 lower-case
/// hex digits: a record whose header and trailer survived a crash with other pages between them
/// lost is found out. Version 1 records (no checksum) are still read.
public enum SpoolFileFormat {
    public static let version = 2
    /// Record versions this build reads.
    static let readableVersions: Set<Substring> = ["1", "2"]
    static let magic = "IMPULSE-SPOOL"
    static let trailerPrefix = "IMPULSE-END "

    /// The record's bytes before and after the message data.
    static func encode(envelope: SpoolEnvelope, data: [ByteBuffer]) -> (head: ByteBuffer, trailer: ByteBuffer) {
        let envelopeLine = envelope.jsonLine() + "\n"
        let dataLength = data.reduce(0) { $0 + $1.readableBytes }
        var head = ByteBuffer()
        head.reserveCapacity(envelopeLine.utf8.count + 48)
        head.writeString("\(magic) \(version) \(envelopeLine.utf8.count) \(dataLength)\n")
        head.writeString(envelopeLine)
        var checksum = CRC32()
        checksum.update(head.readableBytesView.dropFirst(head.readableBytes - envelopeLine.utf8.count))
        for part in data { checksum.update(part.readableBytesView) }
        var trailer = ByteBuffer()
        trailer.writeString("\(trailerPrefix)\(envelope.id) \(checksum.hex)\n")
        return (head, trailer)
    }

    public struct Record: Sendable {
        public var envelope: SpoolEnvelope
        public var recordOffset: Int
        public var dataOffset: Int
        public var dataLength: Int
        /// Set when the record is framed correctly but its checksum does not match its content:
        /// pages lost or damaged between its header and trailer. Such a record is quarantined,
        /// never delivered.
        public var checksumFailure: String?
        public var recordLength: Int = 0
    }

    /// Reads every record of a segment; stops at the first damaged one and reports it (with
    /// everything after it, which cannot be trusted to be framed correctly). Zeros from a record
    /// boundary to the end are the writer's preallocated space (a segment open at a crash), not
    /// damage: `zeroTail` is where they start.
    public static func readSegment(path: String) -> (records: [Record], damage: SpoolDirectory.Damage?, zeroTail: Int?)
    {
        guard let data = FileManager.default.contents(atPath: path) else {
            return ([], SpoolDirectory.Damage(path: path, offset: 0, length: 0, reason: "cannot read segment"), nil)
        }
        var records: [Record] = []
        var offset = 0
        while offset < data.count {
            if data[data.startIndex + offset] == 0, data[(data.startIndex + offset)...].allSatisfy({ $0 == 0 }) {
                return (records, nil, offset)
            }
            switch parseRecord(data, at: offset) {
            case .success(var record):
                record.0.recordLength = record.next - offset
                records.append(record.0)
                offset = record.next
            case .failure(let reason):
                return (
                    records,
                    SpoolDirectory.Damage(
                        path: path, offset: offset, length: data.count - offset, reason: reason.reason), nil
                )
            }
        }
        return (records, nil, nil)
    }

    struct Reason: Error { var reason: String }

    static func parseRecord(_ data: Data, at start: Int) -> Result<(Record, next: Int), Reason> {
        let base = data.startIndex
        let limit = min(data.count, start + 64)
        guard let newline = data[(base + start)..<(base + limit)].firstIndex(of: 0x0A) else {
            return .failure(Reason(reason: "no record header (truncated write?)"))
        }
        let header = String(decoding: data[(base + start)..<newline], as: UTF8.self).split(separator: " ")
        guard header.count == 4, header[0] == magic else {
            return .failure(Reason(reason: "not an Impulse spool record"))
        }
        guard readableVersions.contains(header[1]) else {
            return .failure(Reason(reason: "unknown spool format version \(header[1])"))
        }
        let checksummed = header[1] != "1"
        guard let envelopeLength = Int(header[2]), let dataLength = Int(header[3]), envelopeLength > 1, dataLength >= 0
        else {
            return .failure(Reason(reason: "bad lengths in record header"))
        }
        let envelopeStart = newline - base + 1
        let dataOffset = envelopeStart + envelopeLength
        guard dataOffset <= data.count, data[base + dataOffset - 1] == 0x0A else {
            return .failure(Reason(reason: "envelope truncated"))
        }
        guard let envelope = SpoolEnvelope(jsonLine: data[(base + envelopeStart)..<(base + dataOffset - 1)]) else {
            return .failure(Reason(reason: "envelope is not valid JSON of version 1"))
        }
        let trailerStart = dataOffset + dataLength
        guard trailerStart <= data.count else { return .failure(Reason(reason: "record truncated")) }
        let prefix = Data("\(trailerPrefix)\(envelope.id)".utf8)
        let trailerLength = prefix.count + (checksummed ? 10 : 1) // " " + 8 hex digits + "\n", or "\n"
        guard trailerStart + trailerLength <= data.count else { return .failure(Reason(reason: "record truncated")) }
        let trailer = data[(base + trailerStart)..<(base + trailerStart + trailerLength)]
        guard trailer.prefix(prefix.count) == prefix, trailer.last == 0x0A else {
            return .failure(Reason(reason: "record trailer missing or wrong"))
        }
        var record = Record(envelope: envelope, recordOffset: start, dataOffset: dataOffset, dataLength: dataLength)
        if checksummed {
            var checksum = CRC32()
            checksum.update(data[(base + envelopeStart)..<(base + trailerStart)])
            let stored = String(decoding: trailer.dropFirst(prefix.count + 1).dropLast(), as: UTF8.self)
            if trailer[trailer.startIndex + prefix.count] != 0x20 || stored != checksum.hex {
                record.checksumFailure = "checksum mismatch (stored \(stored), computed \(checksum.hex))"
            }
        }
        return .success((record, trailerStart + trailerLength))
    }
}

/// CRC-32 as zlib computes it (the ISO-HDLC polynomial, hardware-independent and well kept).
struct CRC32 {
    private(set) var value: UInt = crc32(0, nil, 0)

    mutating func update<Octets: Collection<UInt8>>(_ octets: Octets) {
        let done: Void? = octets.withContiguousStorageIfAvailable { buffer in
            value = Self.crc(value, buffer)
        }
        if done == nil { value = Array(octets).withUnsafeBufferPointer { Self.crc(value, $0) } }
    }

    private static func crc(_ value: UInt, _ buffer: UnsafeBufferPointer<UInt8>) -> UInt {
        var value = value
        var rest = UnsafeRawBufferPointer(buffer)
        while !rest.isEmpty {
            let chunk = min(rest.count, Int(UInt32.max >> 1))
            value = crc32(value, rest.baseAddress?.assumingMemoryBound(to: Bytef.self), uInt(chunk))
            rest = UnsafeRawBufferPointer(rebasing: rest[chunk...])
        }
        return value
    }

    var hex: String {
        let text = String(value & 0xFFFF_FFFF, radix: 16)
        return String(repeating: "0", count: 8 - text.count) + text
    }
}
