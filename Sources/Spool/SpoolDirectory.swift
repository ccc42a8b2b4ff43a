import Foundation
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// The spool's directories under `spoolbase`:
///
///     IMPULSE-SPOOL-VERSION     "2" (a version 1 spool is read and restamped)
///     queue/<segment>.seg       append-only segment files; each holds whole message records
///     quarantine/               damaged bytes moved aside at start-up, never deleted
///
/// Messages are appended to the current segment and a whole batch is made durable with one
/// fdatasync (group commit). No file is created per message: on ext4 without a journal, inode
/// allocation and per-file fsync dominated the cost of a file-per-message spool.
public struct SpoolDirectory: Sendable {
    public let base: String
    public let mode: Int
    public var queue: String { base + "/queue" }
    public var quarantine: String { base + "/quarantine" }
    public static let segmentSuffix = ".seg"

    public init(base: String, mode: Int = 0o640) {
        self.base = base
        self.mode = mode
    }

    public func segmentPath(_ name: String) -> String { queue + "/" + name + Self.segmentSuffix }

    /// Creates the layout if needed and checks the version stamp.
    public func prepare() throws(SpoolError) {
        for directory in [base, queue, quarantine] {
            if mkdir(directory, 0o750) != 0 && errno != EEXIST { throw SpoolError("mkdir", directory, errno: errno) }
        }
        let stamp = base + "/IMPULSE-SPOOL-VERSION"
        if let existing = FileManager.default.contents(atPath: stamp) {
            let text = String(decoding: existing, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard SpoolFileFormat.readableVersions.contains(Substring(text)) else {
                throw SpoolError("unsupported spool version '\(text)' in", stamp, errno: EINVAL)
            }
            // A version 1 spool is read as it is; records written from now on are version 2,
            // which an older Impulse cannot read, so the stamp says 2.
            if text != "\(SpoolFileFormat.version)",
                !FileManager.default.createFile(atPath: stamp, contents: Data("\(SpoolFileFormat.version)\n".utf8))
            {
                throw SpoolError("create", stamp, errno: errno)
            }
        } else if !FileManager.default.createFile(atPath: stamp, contents: Data("\(SpoolFileFormat.version)\n".utf8)) {
            throw SpoolError("create", stamp, errno: errno)
        }
    }

    /// One accepted message found on disk.
    public struct Entry: Sendable {
        public var envelope: SpoolEnvelope
        /// The segment file and where the record's data starts in it.
        public var path: String
        public var recordOffset: Int
        public var dataOffset: Int
        public var dataLength: Int
        /// What the delivery journal says of each recipient (by index); absent: never tried.
        public var recipientStates: [Int: DeliveryJournal.RecipientState] = [:]

        public init(
            envelope: SpoolEnvelope, path: String, recordOffset: Int, dataOffset: Int, dataLength: Int,
            recipientStates: [Int: DeliveryJournal.RecipientState] = [:]
        ) {
            self.envelope = envelope
            self.path = path
            self.recordOffset = recordOffset
            self.dataOffset = dataOffset
            self.dataLength = dataLength
            self.recipientStates = recipientStates
        }

        /// Every recipient is delivered or failed for good.
        public var isSettled: Bool {
            envelope.recipients.indices.allSatisfy { recipientStates[$0]?.settled == true }
        }

        /// The message's octets as stored (read with pread; page-cache fast for recent mail).
        public func readData() throws(SpoolError) -> [UInt8] {
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw SpoolError("open", path, errno: errno) }
            defer { close(fd) }
            return try readData(from: fd)
        }

        /// The octets through `fd`, an open descriptor of the segment (a reader of many messages
        /// keeps one open rather than opening the file for each).
        public func readData(from fd: Int32) throws(SpoolError) -> [UInt8] {
            try readData(from: fd, range: 0..<dataLength)
        }

        /// Octets `range` of the message data (offsets within the data) through `fd`: a
        /// delivery reads a large message a piece at a time.
        public func readData(from fd: Int32, range: Range<Int>) throws(SpoolError) -> [UInt8] {
            let wanted = min(range.upperBound, dataLength) - range.lowerBound
            guard wanted > 0 else { return [] }
            var bytes = [UInt8](repeating: 0, count: wanted)
            var done = 0
            while done < wanted {
                let count = bytes.withUnsafeMutableBytes {
                    pread(fd, $0.baseAddress! + done, wanted - done, off_t(dataOffset + range.lowerBound + done))
                }
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else { throw SpoolError("read", path, errno: count < 0 ? errno : EIO) }
                done += count
            }
            return bytes
        }
    }

    /// A damaged region of a segment.
    public struct Damage: Sendable {
        public var path: String
        public var offset: Int
        public var length: Int
        public var reason: String
        /// Where the bytes were moved, when they were.
        public var quarantinedTo: String?
    }

    /// Names of the segment files, oldest first.
    public func segmentNames() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: queue)) ?? [])
            .filter { $0.hasSuffix(Self.segmentSuffix) }
            .map { String($0.dropLast(Self.segmentSuffix.count)) }
            .sorted()
    }

    /// Every intact message with a recipient still to settle, oldest first, with its journal
    /// state. A damaged tail of a segment (a batch cut short by a crash, never acknowledged) or
    /// any other damaged region is copied to quarantine/, logged and cut from the segment, and a
    /// segment whose every message is settled is deleted with its journal (unless `readOnly`,
    /// when both are only reported).
    public func scan(readOnly: Bool, logger: Logger?) -> (entries: [Entry], damaged: [Damage]) {
        var entries: [Entry] = []
        var damaged: [Damage] = []
        for name in segmentNames() {
            let path = segmentPath(name)
            let result = SpoolFileFormat.readSegment(path: path)
            let journal = DeliveryJournal.read(segment: path)
            var intact: [SpoolFileFormat.Record] = []
            for record in result.records {
                guard let reason = record.checksumFailure else {
                    intact.append(record)
                    continue
                }
                // Framed correctly, content damaged: never delivered; a copy goes to quarantine/.
                var damage = Damage(
                    path: path, offset: record.recordOffset, length: record.recordLength, reason: reason)
                if !readOnly {
                    damage.quarantinedTo = quarantineCopy(of: path, name: name, damage: damage, logger: logger)
                }
                damaged.append(damage)
            }
            let live = intact.map {
                Entry(
                    envelope: $0.envelope, path: path, recordOffset: $0.recordOffset, dataOffset: $0.dataOffset,
                    dataLength: $0.dataLength,
                    recipientStates: journal[$0.envelope.id] ?? [:])
            }.filter { !$0.isSettled }
            entries += live
            if live.isEmpty && result.damage == nil && !readOnly {
                unlink(path)
                unlink(DeliveryJournal.path(forSegment: path))
                logger?.info(
                    "spool: removed a segment whose messages are all delivered or failed",
                    metadata: ["segment": "\(path)"])
                continue
            }
            if let zeroTail = result.zeroTail, !readOnly {
                // The writer's preallocated zeros of a segment that was open at a crash.
                let fd = open(path, O_WRONLY | O_CLOEXEC)
                if fd >= 0 {
                    _ = ftruncate(fd, off_t(zeroTail))
                    close(fd)
                }
            }
            if var damage = result.damage {
                if !readOnly {
                    damage.quarantinedTo = quarantineTail(of: path, name: name, damage: damage, logger: logger)
                }
                damaged.append(damage)
            }
        }
        entries.sort { $0.envelope.receivedAtMicros < $1.envelope.receivedAtMicros }
        return (entries, damaged)
    }

    /// Copies one record whose checksum failed to quarantine/ (fsync'd); the segment keeps it,
    /// and every start-up finds it again and skips it.
    func quarantineCopy(of path: String, name: String, damage: Damage, logger: Logger?) -> String? {
        do {
            let target = try copyToQuarantine(path, name: name, offset: damage.offset, length: damage.length)
            logger?.error(
                "spool: quarantined a record whose checksum failed; it is not delivered",
                metadata: [
                    "segment": "\(path)", "offset": "\(damage.offset)", "octets": "\(damage.length)",
                    "reason": "\(damage.reason)", "copied_to": "\(target)"
                ])
            return target
        } catch {
            logger?.critical(
                "spool: cannot copy a damaged record to quarantine",
                metadata: ["segment": "\(path)", "error": "\(error)"])
            return nil
        }
    }

    /// Copies `[offset, end)` of a segment to quarantine/, fsyncs the copy, then truncates the segment.
    func quarantineTail(of path: String, name: String, damage: Damage, logger: Logger?) -> String? {
        do {
            let target = try copyToQuarantine(path, name: name, offset: damage.offset, length: nil)
            let segment = open(path, O_WRONLY | O_CLOEXEC)
            guard segment >= 0, ftruncate(segment, off_t(damage.offset)) == 0 else {
                throw SpoolError("truncate", path, errno: errno)
            }
            fsync(segment)
            close(segment)
            logger?.error(
                "spool: quarantined damaged bytes",
                metadata: [
                    "segment": "\(path)", "offset": "\(damage.offset)", "octets": "\(damage.length)",
                    "reason": "\(damage.reason)", "moved_to": "\(target)"
                ])
            return target
        } catch {
            logger?.critical(
                "spool: cannot quarantine damaged bytes; segment left as it is",
                metadata: ["segment": "\(path)", "offset": "\(damage.offset)", "error": "\(error)"])
            return nil
        }
    }

    /// Writes `length` octets (or all) of the segment from `offset` to quarantine/<name>@<offset>
    /// and fsyncs the copy; returns its path.
    func copyToQuarantine(_ path: String, name: String, offset: Int, length: Int?) throws -> String {
        let target = quarantine + "/" + name + "@" + String(offset)
        guard let handle = FileHandle(forReadingAtPath: path) else { throw SpoolError("open", path, errno: errno) }
        defer { try? handle.close() }
        try handle.seek(toOffset: UInt64(offset))
        let bytes = try (length.map { try handle.read(upToCount: $0) } ?? handle.readToEnd()) ?? Data()
        guard FileManager.default.createFile(atPath: target, contents: bytes) else {
            throw SpoolError("create", target, errno: errno)
        }
        let copy = open(target, O_RDONLY | O_CLOEXEC)
        if copy >= 0 {
            fsync(copy)
            close(copy)
        }
        return target
    }
}
