import Foundation

/// Every size and time the spool keeps to, with why (docs/spool-format.md).
public enum SpoolLimits {
    /// Messages made durable by one fdatasync at most: a batch answers its clients together, and a
    /// bigger one would make the first of them wait for the last.
    public static let maxBatch = 512
    /// A segment is closed and a new one started past this size, so a segment whose messages are
    /// all delivered can be removed (and start-up scans no huge file).
    public static let segmentLimit = 64 * 1024 * 1024
    /// How far ahead of its records a segment is zero-filled (and made durable with a batch): the
    /// next batches then write without changing the file's size, so fdatasync skips the inode.
    public static let preallocationChunk = 1 << 20
    /// A segment older than this is closed at the next write, so delivered mail's segments can be
    /// removed even when little mail flows.
    public static let segmentMaxAge: TimeInterval = 60
    /// The delivery journal is fdatasync'd at most this often: a crash loses at most the outcomes
    /// of this long (those recipients are delivered again), and the journal does not compete
    /// with the spool's own syncs.
    public static let journalSyncInterval: TimeInterval = 0.2
}
