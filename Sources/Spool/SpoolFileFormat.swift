import Foundation
import NIOCore

/// The on-disk layout of one message record (version 1; see docs/spool-format.md). A segment file
/// is a sequence of records:
///
///     IMPULSE-SPOOL 1 <envelope-octets> <data-octets>\n
///     <envelope JSON, one line>\n
///     <message data, exactly data-octets octets>
///     IMPULSE-END <id>\n
public enum SpoolFileFormat {
    public static let version = 1
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
        var trailer = ByteBuffer()
        trailer.writeString("\(trailerPrefix)\(envelope.id)\n")
        return (head, trailer)
    }

    public struct Record: Sendable {
        public var envelope: SpoolEnvelope
        public var recordOffset: Int
        public var dataOffset: Int
        public var dataLength: Int
    }

    /// Reads every record of a segment; stops at the first damaged one and reports it (with
    /// everything after it, which cannot be trusted to be framed correctly). Zeros from a record
    /// boundary to the end are the writer's preallocated space (a segment open at a crash), not
    /// damage: `zeroTail` is where they start.
    public static func readSegment(path: String) -> (records: [Record], damage: SpoolDirectory.Damage?, zeroTail: Int?) {
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
            case .success(let record):
                records.append(record.0)
                offset = record.next
            case .failure(let reason):
                return (records, SpoolDirectory.Damage(path: path, offset: offset, length: data.count - offset, reason: reason.reason), nil)
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
        guard header.count == 4, header[0] == magic else { return .failure(Reason(reason: "not an Impulse spool record")) }
        guard header[1] == "\(version)" else { return .failure(Reason(reason: "unknown spool format version \(header[1])")) }
        guard let envelopeLength = Int(header[2]), let dataLength = Int(header[3]), envelopeLength > 1, dataLength >= 0 else {
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
        let trailer = Data("\(trailerPrefix)\(envelope.id)\n".utf8)
        let trailerStart = dataOffset + dataLength
        guard trailerStart + trailer.count <= data.count else { return .failure(Reason(reason: "record truncated")) }
        guard data[(base + trailerStart)..<(base + trailerStart + trailer.count)] == trailer else {
            return .failure(Reason(reason: "record trailer missing or wrong"))
        }
        return .success((Record(envelope: envelope, recordOffset: start, dataOffset: dataOffset, dataLength: dataLength),
                         trailerStart + trailer.count))
    }
}
