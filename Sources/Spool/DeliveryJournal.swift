import Foundation
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// What happened to each recipient of the messages in one segment, appended to
/// `queue/<segment>.jnl` beside it (docs/spool-format.md). One line per event:
///
///     S <id> <recipient index>                       settled: delivered, failed or bounced
///     T <id> <recipient index> <attempts> <next-us>  temporary failure; next attempt (µs since epoch)
///
/// A line without its newline (a crash mid-write) is ignored. Segments are append-only, so
/// the journal is how a restart knows which recipients are done and when to try the others; a
/// segment whose every recipient is settled is deleted with its journal.
///
/// Appends are batched by one thread and written within a couple of milliseconds (a crash of
/// the process loses at most those); fdatasync follows at most every `SpoolLimits.journalSyncInterval`, so the journal
/// does not compete with the
/// spool's own fsyncs on every batch. What a power loss takes (the last fraction of a second)
/// only means those recipients are tried again: delivery is at least once, never lost.
public final class DeliveryJournal: @unchecked Sendable {
    /// One recipient's recorded state.
    public struct RecipientState: Sendable, Equatable {
        public var settled = false
        public var attempts = 0
        /// Next attempt, µs since the epoch (0: now).
        public var nextAttemptMicros: Int64 = 0
        /// Whether the sender was told the recipient is delayed (a delay DSN is sent once).
        public var delayNotified = false
        public init() {}
    }

    public static let suffix = ".jnl"

    private let logger: Logger
    private let condition = NSCondition()
    private var pending: [(path: String, line: String)] = []
    private var removals: [String] = []
    private var removed: Set<String> = []
    private var stopping = false
    private var running = false
    private var files: [String: Int32] = [:]
    /// Journals written since their last fdatasync.
    private var dirty: Set<String> = []
    private var lastSync = Date.distantPast

    public init(logger: Logger) { self.logger = logger }

    /// The journal of a segment file.
    public static func path(forSegment segment: String) -> String {
        (segment.hasSuffix(SpoolDirectory.segmentSuffix)
            ? String(segment.dropLast(SpoolDirectory.segmentSuffix.count)) : segment) + suffix
    }

    public func start() {
        condition.lock()
        running = true
        condition.unlock()
        let thread = Thread { [self] in run() }
        thread.name = "impulse-journal"
        thread.start()
    }

    /// Records that recipient `index` of message `id` (stored in `segment`) is settled.
    public func settled(segment: String, id: String, index: Int) {
        append(segment, "S \(id) \(index)\n")
    }

    /// Records that the sender was sent a delay DSN for the recipient.
    public func delayNotified(segment: String, id: String, index: Int) {
        append(segment, "W \(id) \(index)\n")
    }

    /// Records a temporary failure and when the recipient is tried next.
    public func deferred(segment: String, id: String, index: Int, attempts: Int, nextAttemptMicros: Int64) {
        append(segment, "T \(id) \(index) \(attempts) \(nextAttemptMicros)\n")
    }

    /// Deletes a segment and its journal once the records before this call are written.
    public func removeSegment(_ segment: String) {
        condition.lock()
        removals.append(segment)
        condition.signal()
        condition.unlock()
    }

    private func append(_ segment: String, _ line: String) {
        condition.lock()
        // The thread only waits when nothing is pending: one wake-up per batch, not per line.
        if pending.isEmpty { condition.signal() }
        pending.append((segment, line))
        condition.unlock()
    }

    /// Writes what is queued, then stops the thread.
    public func stop() {
        condition.lock()
        guard running else {
            condition.unlock()
            return
        }
        stopping = true
        condition.broadcast()
        while running { condition.wait() }
        condition.unlock()
    }

    private func run() {
        while true {
            condition.lock()
            while pending.isEmpty && removals.isEmpty && !stopping {
                if dirty.isEmpty {
                    condition.wait()
                } else if !condition.wait(until: lastSync.addingTimeInterval(SpoolLimits.journalSyncInterval)) {
                    break
                }
            }
            if !stopping && !pending.isEmpty && pending.count < 64 {
                // Let a few more outcomes arrive: fewer wake-ups and writes under load. A crash
                // of the process loses at most these milliseconds of records (tried again).
                condition.unlock()
                usleep(2000)
                condition.lock()
            }
            let batch = pending
            let segmentsToRemove = removals
            pending.removeAll(keepingCapacity: true)
            removals.removeAll()
            let finished = stopping && batch.isEmpty && segmentsToRemove.isEmpty
            condition.unlock()
            if finished || Date().timeIntervalSince(lastSync) >= SpoolLimits.journalSyncInterval { syncDirty() }
            if finished {
                for fd in files.values { close(fd) }
                files.removeAll()
                condition.lock()
                running = false
                condition.broadcast()
                condition.unlock()
                return
            }
            write(batch)
            for segment in segmentsToRemove { remove(segment) }
        }
    }

    private func write(_ batch: [(path: String, line: String)]) {
        var byFile: [String: String] = [:]
        var order: [String] = []
        for (segment, line) in batch where !removed.contains(segment) {
            if byFile[segment] == nil { order.append(segment) }
            byFile[segment, default: ""] += line
        }
        for segment in order {
            let path = Self.path(forSegment: segment)
            let fd: Int32
            if let open = files[segment] {
                fd = open
            } else {
                fd = Glibc.open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
                guard fd >= 0 else {
                    logger.error(
                        "spool: cannot open delivery journal; recipients may be tried again after a restart",
                        metadata: ["journal": "\(path)", "errno": "\(errno)"])
                    continue
                }
                files[segment] = fd
                // A torn last line (a crash mid-write) must not swallow the next record.
                let size = lseek(fd, 0, SEEK_END)
                var last: UInt8 = 0x0A
                if size > 0, pread(fd, &last, 1, size - 1) == 1, last != 0x0A {
                    byFile[segment] = "\n" + (byFile[segment] ?? "")
                }
            }
            let text = byFile[segment] ?? ""
            let failed =
                text.utf8.withContiguousStorageIfAvailable { bytes -> Bool in
                    var offset = 0
                    while offset < bytes.count {
                        let written = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
                        if written < 0 {
                            if errno == EINTR { continue }
                            return true
                        }
                        offset += written
                    }
                    return false
                } ?? true
            if failed {
                logger.error(
                    "spool: cannot write delivery journal; recipients may be tried again after a restart",
                    metadata: ["journal": "\(path)", "errno": "\(errno)"])
            }
            dirty.insert(segment)
        }
    }

    /// fdatasync of every journal written since the last one; then only the newest few stay open.
    private func syncDirty() {
        for segment in dirty {
            if let fd = files[segment], fdatasync(fd) != 0 {
                logger.error(
                    "spool: cannot sync delivery journal",
                    metadata: ["journal": "\(Self.path(forSegment: segment))", "errno": "\(errno)"])
            }
        }
        dirty.removeAll()
        lastSync = Date()
        if files.count > 8 {
            for (segment, fd) in files {
                close(fd)
                files[segment] = nil
                if files.count <= 2 { break }
            }
        }
    }

    private func remove(_ segment: String) {
        if let fd = files.removeValue(forKey: segment) { close(fd) }
        dirty.remove(segment)
        removed.insert(segment)
        unlink(segment)
        unlink(Self.path(forSegment: segment))
    }

    /// Reads a segment's journal: the state of each recipient it mentions, by message id and
    /// recipient index. A missing journal means nothing happened yet.
    public static func read(segment: String) -> [String: [Int: RecipientState]] {
        guard let data = FileManager.default.contents(atPath: path(forSegment: segment)) else { return [:] }
        var states: [String: [Int: RecipientState]] = [:]
        var lineStart = data.startIndex
        while let newline = data[lineStart...].firstIndex(of: 0x0A) {
            let fields = String(decoding: data[lineStart..<newline], as: UTF8.self).split(separator: " ")
            lineStart = data.index(after: newline)
            guard fields.count >= 3, let index = Int(fields[2]), index >= 0 else { continue }
            let id = String(fields[1])
            var state = states[id]?[index] ?? RecipientState()
            switch fields[0] {
            case "S": state.settled = true
            case "W": state.delayNotified = true
            case "T":
                guard fields.count == 5, let attempts = Int(fields[3]), let next = Int64(fields[4]) else { continue }
                if !state.settled {
                    state.attempts = max(state.attempts, attempts)
                    state.nextAttemptMicros = next
                }
            default: continue
            }
            states[id, default: [:]][index] = state
        }
        return states
    }
}
