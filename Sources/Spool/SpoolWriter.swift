import Foundation
import Logging
import NIOCore

#if canImport(Glibc)
    import Glibc
#endif

/// Writes accepted messages durably with group commit.
///
/// One writer thread takes every request waiting when it wakes, appends them as records to the
/// current segment in one write, and makes them durable with one `fdatasync` (plus an fsync of
/// the queue directory when the segment is new). Only then are their promises succeeded, and
/// only then may the SMTP layer answer 250. A failed batch is cut back off the segment and every
/// request in it fails (451 4.3.0); the next batch starts a new segment.
///
/// The segment is kept zero-filled a little ahead of its records (`SpoolLimits.preallocationChunk`), so most
/// batches overwrite blocks the file already has: their `fdatasync` then writes the data alone,
/// not also the inode for a new file size (one device write fewer per batch, docs/spool-format.md).
/// The zero tail is cut off when the segment is closed; after a crash, start-up recognises it.
public final class SpoolWriter: @unchecked Sendable {
    /// A message to store: its envelope and its content as one or more buffers, written in order.
    public struct Request: Sendable {
        public var envelope: SpoolEnvelope
        public var data: [ByteBuffer]
        public var promise: EventLoopPromise<Void>

        public init(envelope: SpoolEnvelope, data: [ByteBuffer], promise: EventLoopPromise<Void>) {
            self.envelope = envelope
            self.data = data
            self.promise = promise
        }
    }

    private static let zeros = [UInt8](repeating: 0, count: 64 * 1024)

    public let directory: SpoolDirectory
    private let logger: Logger
    private let names = MessageIDGenerator()
    private let condition = NSCondition()
    private var pending: [Request] = []
    private var stopping = false
    private var running = false
    /// The open segment: `size` octets of records, then zeros up to `allocated` (nil when zero-
    /// filling failed, e.g. a file size limit: the segment then simply grows).
    private var segment: (fd: Int32, path: String, size: Int, allocated: Int?, synced: Bool, opened: Date)?
    /// Called on the writer thread after each durable batch, with where each message now is
    /// (the queue manager queues them from there). Set before `start()`.
    public var onCommit: (@Sendable ([SpoolDirectory.Entry]) -> Void)?
    /// Called on the writer thread when a segment is closed: no more records will be added to it.
    public var onSegmentClosed: (@Sendable (String) -> Void)?

    public init(directory: SpoolDirectory, logger: Logger) {
        self.directory = directory
        self.logger = logger
    }

    public func start() {
        running = true
        let thread = Thread { [self] in run() }
        thread.name = "impulse-spool-writer"
        thread.start()
    }

    /// Queues a message; its promise completes once it is durable (or fails with `SpoolError`).
    public func submit(_ request: Request) {
        condition.lock()
        if stopping || !running {
            condition.unlock()
            request.promise.fail(
                SpoolError("spool writer not running; not writing", request.envelope.id, errno: ECANCELED))
            return
        }
        // The thread only waits when nothing is pending: one wake-up per batch.
        if pending.isEmpty { condition.signal() }
        pending.append(request)
        condition.unlock()
    }

    /// Finishes every queued write, then stops the thread.
    public func stop() {
        condition.lock()
        stopping = true
        condition.broadcast()
        while running { condition.wait() }
        condition.unlock()
    }

    private func run() {
        while true {
            condition.lock()
            while pending.isEmpty && !stopping { condition.wait() }
            if pending.isEmpty && stopping {
                closeSegment()
                running = false
                condition.broadcast()
                condition.unlock()
                return
            }
            let count = min(pending.count, SpoolLimits.maxBatch)
            let batch = Array(pending.prefix(count))
            pending.removeFirst(count)
            condition.unlock()
            let (error, entries) = commit(batch)
            if let error {
                logger.error(
                    "spool: batch write failed; answering 451",
                    metadata: ["messages": "\(batch.count)", "error": "\(error)"])
            } else {
                onCommit?(entries)
            }
            Self.complete(batch.map(\.promise), with: error)
        }
    }

    /// Completes the promises with one hop onto each event loop rather than one per promise: every
    /// hop from this thread wakes that loop.
    static func complete(_ promises: [EventLoopPromise<Void>], with error: SpoolError?) {
        var byLoop: [ObjectIdentifier: (EventLoop, [EventLoopPromise<Void>])] = [:]
        for promise in promises {
            let loop = promise.futureResult.eventLoop
            byLoop[ObjectIdentifier(loop), default: (loop, [])].1.append(promise)
        }
        for (loop, group) in byLoop.values {
            loop.execute {
                for promise in group {
                    if let error { promise.fail(error) } else { promise.succeed() }
                }
            }
        }
    }

    /// Appends the batch and makes it durable; nil on success, with where each record went.
    private func commit(_ batch: [Request]) -> (SpoolError?, [SpoolDirectory.Entry]) {
        if let current = segment,
            current.size >= SpoolLimits.segmentLimit
                || Date().timeIntervalSince(current.opened) > SpoolLimits.segmentMaxAge
        {
            closeSegment()
        }
        if segment == nil, let error = rotate() { return (error, []) }
        guard let current = segment else { return (SpoolError("open segment", directory.queue, errno: EIO), []) }
        var buffer = ByteBuffer()
        buffer.reserveCapacity(batch.reduce(0) { $0 + $1.data.reduce(256) { $0 + $1.readableBytes } })
        var entries: [SpoolDirectory.Entry] = []
        entries.reserveCapacity(batch.count)
        for request in batch {
            var (head, trailer) = SpoolFileFormat.encode(envelope: request.envelope, data: request.data)
            let recordOffset = current.size + buffer.writerIndex
            let dataOffset = recordOffset + head.readableBytes
            buffer.writeBuffer(&head)
            let dataStart = buffer.writerIndex
            for var part in request.data { buffer.writeBuffer(&part) }
            entries.append(
                SpoolDirectory.Entry(
                    envelope: request.envelope, path: current.path, recordOffset: recordOffset,
                    dataOffset: dataOffset, dataLength: buffer.writerIndex - dataStart))
            buffer.writeBuffer(&trailer)
        }
        let end = current.size + buffer.readableBytes
        var failure = Self.writeAll(current.fd, buffer, at: current.size, path: current.path)
        var allocated = current.allocated
        if failure == nil, let zeroedTo = allocated, end > zeroedTo {
            allocated = preallocate(current.fd, from: end, path: current.path)
        }
        if failure == nil, fdatasync(current.fd) != 0 { failure = SpoolError("fdatasync", current.path, errno: errno) }
        if failure == nil, !current.synced {
            // A new segment's directory entry must be durable before anything in it is acknowledged.
            let fd = open(directory.queue, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            if fd < 0 || fsync(fd) != 0 { failure = SpoolError("fsync directory", directory.queue, errno: errno) }
            if fd >= 0 { close(fd) }
        }
        if let failure {
            // Cut the partial batch off so the segment stays a clean sequence of records, and start
            // a new segment next time whatever happens.
            if ftruncate(current.fd, off_t(current.size)) != 0 {
                logger.critical(
                    "spool: cannot cut a failed batch off its segment; start-up will quarantine it",
                    metadata: ["segment": "\(current.path)", "errno": "\(errno)"])
            }
            closeSegment()
            return (failure, [])
        }
        segment = (current.fd, current.path, end, allocated, true, current.opened)
        return (nil, entries)
    }

    /// Zero-fills from `end` to the next chunk boundary past it; returns the new end of the zeros,
    /// or nil (after cutting the partial zeros off) when the file may not grow that far: the
    /// records already written fit, so the segment goes on without preallocation.
    private func preallocate(_ fd: Int32, from end: Int, path: String) -> Int? {
        let target = (end / SpoolLimits.preallocationChunk + 1) * SpoolLimits.preallocationChunk
        var offset = end
        while offset < target {
            let count = min(Self.zeros.count, target - offset)
            let written = Self.zeros.withUnsafeBytes { pwrite(fd, $0.baseAddress!, count, off_t(offset)) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else {
                logger.debug("spool: segment not preallocated", metadata: ["segment": "\(path)", "errno": "\(errno)"])
                _ = ftruncate(fd, off_t(end))
                return nil
            }
            offset += written
        }
        return target
    }

    private func closeSegment() {
        guard let current = segment else { return }
        // The zero tail goes; not synced: start-up recognises a zero tail as well.
        if let allocated = current.allocated, allocated > current.size {
            _ = ftruncate(current.fd, off_t(current.size))
        }
        close(current.fd)
        segment = nil
        onSegmentClosed?(current.path)
    }

    private func rotate() -> SpoolError? {
        closeSegment()
        let path = directory.segmentPath(names.next())
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode_t(directory.mode))
        guard fd >= 0 else { return SpoolError("create segment", path, errno: errno) }
        segment = (fd, path, 0, 0, false, Date())
        return nil
    }

    private static func writeAll(_ fd: Int32, _ buffer: ByteBuffer, at position: Int, path: String) -> SpoolError? {
        buffer.withUnsafeReadableBytes { bytes -> SpoolError? in
            var offset = 0
            while offset < bytes.count {
                let written = pwrite(fd, bytes.baseAddress! + offset, bytes.count - offset, off_t(position + offset))
                if written < 0 {
                    if errno == EINTR { continue }
                    return SpoolError("write", path, errno: errno)
                }
                offset += written
            }
            return nil
        }
    }
}
