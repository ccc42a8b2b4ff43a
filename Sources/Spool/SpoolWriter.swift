import Foundation
import Logging
import NIOCore
#if canImport(Glibc)
import Glibc
#endif

/// Writes accepted messages durably with group commit.
///
/// Each message goes to `tmp/<id>`, is fsync'd, renamed into its queue shard, and the shard
/// directory is fsync'd; only then is its promise succeeded (and the SMTP layer may answer 250).
/// One writer thread takes every request waiting when it wakes and handles them as one batch, so
/// concurrent sessions share the cost of the journal commits (on ext4 the first fsync of a batch
/// commits the others' metadata too).
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

    /// Requests handled in one batch at most.
    public static let maxBatch = 512

    public let directory: SpoolDirectory
    private let logger: Logger
    private let condition = NSCondition()
    private var pending: [Request] = []
    private var stopping = false
    private var thread: Thread?
    private var finished = false

    public init(directory: SpoolDirectory, logger: Logger) {
        self.directory = directory
        self.logger = logger
    }

    public func start() {
        let thread = Thread { [self] in run() }
        thread.name = "impulse-spool-writer"
        self.thread = thread
        thread.start()
    }

    /// Queues a message; its promise completes once it is durable (or fails with `SpoolError`).
    public func submit(_ request: Request) {
        condition.lock()
        if stopping {
            condition.unlock()
            request.promise.fail(SpoolError("spool writer stopped; not writing", request.envelope.id, errno: ECANCELED))
            return
        }
        pending.append(request)
        condition.signal()
        condition.unlock()
    }

    /// Finishes every queued write, then stops the thread.
    public func stop() {
        condition.lock()
        stopping = true
        condition.broadcast()
        while !finished && thread != nil { condition.wait() }
        condition.unlock()
    }

    private func run() {
        while true {
            condition.lock()
            while pending.isEmpty && !stopping { condition.wait() }
            if pending.isEmpty && stopping {
                finished = true
                condition.broadcast()
                condition.unlock()
                return
            }
            let count = min(pending.count, Self.maxBatch)
            let batch = Array(pending.prefix(count))
            pending.removeFirst(count)
            condition.unlock()
            commit(batch)
        }
    }

    private struct Staged {
        var request: Request
        var tmpPath: String
        var finalPath: String
        var fd: Int32
        var error: SpoolError?
    }

    private func commit(_ batch: [Request]) {
        var staged: [Staged] = []
        staged.reserveCapacity(batch.count)
        for request in batch {
            let id = request.envelope.id
            var item = Staged(request: request, tmpPath: directory.tmp + "/" + id, finalPath: directory.path(for: id), fd: -1)
            item.fd = open(item.tmpPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode_t(directory.mode))
            if item.fd < 0 {
                item.error = SpoolError("open", item.tmpPath, errno: errno)
            } else {
                let (head, trailer) = SpoolFileFormat.encode(envelope: request.envelope, data: request.data)
                for part in [head] + request.data + [trailer] where item.error == nil {
                    item.error = Self.writeAll(item.fd, part, path: item.tmpPath)
                }
            }
            staged.append(item)
        }
        // fsync every file, then publish it under its final name.
        var directoriesToSync = Set<String>()
        for index in staged.indices {
            if staged[index].error == nil, fsync(staged[index].fd) != 0 {
                staged[index].error = SpoolError("fsync", staged[index].tmpPath, errno: errno)
            }
            if staged[index].fd >= 0 { close(staged[index].fd) }
            if staged[index].error == nil {
                if rename(staged[index].tmpPath, staged[index].finalPath) != 0 {
                    staged[index].error = SpoolError("rename", staged[index].finalPath, errno: errno)
                } else {
                    directoriesToSync.insert(directory.shard(for: staged[index].request.envelope.id))
                }
            }
        }
        var failedDirectories: [String: SpoolError] = [:]
        for path in directoriesToSync {
            let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            if fd < 0 || fsync(fd) != 0 { failedDirectories[path] = SpoolError("fsync directory", path, errno: errno) }
            if fd >= 0 { close(fd) }
        }
        for item in staged {
            var error = item.error
            if error == nil, let directoryError = failedDirectories[directory.shard(for: item.request.envelope.id)] {
                error = directoryError
                unlink(item.finalPath)
            }
            if let error {
                unlink(item.tmpPath)
                logger.error("spool: write failed; answering 451", metadata: ["id": "\(item.request.envelope.id)", "error": "\(error)"])
                item.request.promise.fail(error)
            } else {
                item.request.promise.succeed()
            }
        }
    }

    private static func writeAll(_ fd: Int32, _ buffer: ByteBuffer, path: String) -> SpoolError? {
        buffer.withUnsafeReadableBytes { bytes -> SpoolError? in
            var offset = 0
            while offset < bytes.count {
                let written = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
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
