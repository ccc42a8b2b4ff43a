import Foundation
import NIOCore

/// The on-disk layout of one spooled message (version 1; see docs/spool-format.md):
///
///     IMPULSE-SPOOL 1 <envelope-octets> <data-octets>\n
///     <envelope JSON, one line>\n
///     <message data, exactly data-octets octets>
///     IMPULSE-END <id>\n
public enum SpoolFileFormat {
    public static let version = 1
    static let magic = "IMPULSE-SPOOL"
    static let trailerPrefix = "IMPULSE-END "

    /// The parts to write, in order, for one message.
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

    /// What is wrong with a spool file, for the quarantine log.
    public struct Damage: Error, Sendable, CustomStringConvertible {
        public var reason: String
        public var description: String { reason }
    }

    /// Reads the header and envelope of a file and checks that the data and trailer are complete,
    /// without reading the data itself.
    public static func inspect(path: String, expectedID: String?) -> Result<(SpoolEnvelope, dataOffset: Int, dataLength: Int), Damage> {
        guard let handle = FileHandle(forReadingAtPath: path) else { return .failure(Damage(reason: "cannot open")) }
        defer { try? handle.close() }
        guard let fileSize = try? handle.seekToEnd() else { return .failure(Damage(reason: "cannot seek")) }
        try? handle.seek(toOffset: 0)
        let prefix = (try? handle.read(upToCount: 64)) ?? Data()
        guard let newline = prefix.firstIndex(of: 0x0A) else { return .failure(Damage(reason: "no header line")) }
        let header = String(decoding: prefix[..<newline], as: UTF8.self).split(separator: " ")
        guard header.count == 4, header[0] == magic else { return .failure(Damage(reason: "not an Impulse spool file")) }
        guard header[1] == "\(version)" else { return .failure(Damage(reason: "unknown spool format version \(header[1])")) }
        guard let envelopeLength = Int(header[2]), let dataLength = Int(header[3]), envelopeLength > 0, dataLength >= 0 else {
            return .failure(Damage(reason: "bad lengths in header"))
        }
        let headerLength = newline - prefix.startIndex + 1
        try? handle.seek(toOffset: UInt64(headerLength))
        guard let envelopeData = try? handle.read(upToCount: envelopeLength), envelopeData.count == envelopeLength,
              envelopeData.last == 0x0A else {
            return .failure(Damage(reason: "envelope truncated"))
        }
        guard let envelope = SpoolEnvelope(jsonLine: envelopeData.dropLast()) else {
            return .failure(Damage(reason: "envelope is not valid JSON of version 1"))
        }
        if let expectedID, envelope.id != expectedID { return .failure(Damage(reason: "envelope id \(envelope.id) does not match file name")) }
        let trailer = "\(trailerPrefix)\(envelope.id)\n"
        let dataOffset = headerLength + envelopeLength
        let expectedSize = UInt64(dataOffset + dataLength + trailer.utf8.count)
        guard fileSize == expectedSize else {
            return .failure(Damage(reason: fileSize < expectedSize ? "truncated (\(fileSize) of \(expectedSize) octets)" : "\(fileSize - expectedSize) octets of trailing garbage"))
        }
        try? handle.seek(toOffset: UInt64(dataOffset + dataLength))
        guard let trailerData = try? handle.read(upToCount: trailer.utf8.count), trailerData == Data(trailer.utf8) else {
            return .failure(Damage(reason: "trailer missing or wrong"))
        }
        return .success((envelope, dataOffset, dataLength))
    }
}
