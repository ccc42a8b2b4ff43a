import Foundation
import NIOConcurrencyHelpers
import SMTPProtocol

#if canImport(Glibc)
    import Glibc
#endif

/// Momentum's mainlog and bouncelog (Momentum's log manual; docs/delivery.md): `@`-separated records, one
/// event per line, the free-text reply last. IDs: Impulse's message id stands for Momentum's
/// message id and batch id; the connection id is Impulse's outbound connection number
/// (inbound: the session number). Files are opened in append mode and reopened by `reopen()`
/// (`reopen logs` after rotation). Lines are written whole with one write(2) each, so
/// concurrent writers never interleave inside a line.
public final class DeliveryLog: Sendable {
    private struct Files {
        var mainlog: Int32 = -1
        var bouncelog: Int32 = -1
        var rejectlog: Int32 = -1
        var adaptivelog: Int32 = -1
    }

    public let mainlogPath: String?
    public let bouncelogPath: String?
    public let rejectlogPath: String?
    /// The adaptive log: what back-off rules did (Momentum's adaptive log layout).
    public let adaptivelogPath: String?
    /// bounce_logger's log_transient_failures: T records in the bounce log too.
    public let bouncelogTransientFailures: Bool
    /// The classification codes of bounce records.
    public let classification: BounceClassification
    private let files = NIOLockedValueBox(Files())

    public init(
        mainlog: String?, bouncelog: String?, rejectlog: String? = nil, bouncelogTransientFailures: Bool = true,
        classification: BounceClassification = BounceClassification(), adaptivelog: String? = nil
    ) {
        adaptivelogPath = adaptivelog
        mainlogPath = mainlog
        bouncelogPath = bouncelog
        rejectlogPath = rejectlog
        self.bouncelogTransientFailures = bouncelogTransientFailures
        self.classification = classification
    }

    /// Opens (again) every configured file, creating missing directories; after `ec_rotate`
    /// renamed them, new lines go to new files. Returns what could not be opened (path: reason).
    @discardableResult
    public func reopen() -> [String] {
        var failures: [String] = []
        func openLog(_ path: String?) -> Int32 {
            guard let path else { return -1 }
            let directory = (path as NSString).deletingLastPathComponent
            if !directory.isEmpty {
                try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            }
            let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
            if fd < 0 { failures.append("\(path): \(String(cString: strerror(errno)))") }
            return fd
        }
        files.withLockedValue { files in
            for fd in [files.mainlog, files.bouncelog, files.rejectlog, files.adaptivelog] where fd >= 0 {
                Glibc.close(fd)
            }
            files.mainlog = openLog(mainlogPath)
            files.bouncelog = openLog(bouncelogPath)
            files.rejectlog = openLog(rejectlogPath)
            files.adaptivelog = openLog(adaptivelogPath)
        }
        return failures
    }

    public func close() {
        files.withLockedValue { files in
            for fd in [files.mainlog, files.bouncelog, files.rejectlog] where fd >= 0 { Glibc.close(fd) }
            files = Files()
        }
    }

    /// What the delivery records have in common.
    public struct Attempt: Sendable {
        public var messageID: String
        public var connectionID: Int
        public var domain: String
        public var bindingGroup: String
        public var binding: String
        public var bytes: Int
        public var retries: Int
        public var receivedAtMicros: Int64
        public var remoteAddress: String

        public init(
            messageID: String, connectionID: Int, domain: String, bindingGroup: String, binding: String, bytes: Int,
            retries: Int, receivedAtMicros: Int64, remoteAddress: String
        ) {
            self.messageID = messageID
            self.connectionID = connectionID
            self.domain = domain
            self.bindingGroup = bindingGroup
            self.binding = binding
            self.bytes = bytes
            self.retries = retries
            self.receivedAtMicros = receivedAtMicros
            self.remoteAddress = remoteAddress
        }

        func secondsSinceReception(_ now: Date) -> String {
            String(format: "%.3f", max(0, now.timeIntervalSince1970 - Double(receivedAtMicros) / 1_000_000))
        }
    }

    /// `R`: one line per recipient of an accepted message.
    public func reception(
        messageID: String, sessionID: Int, recipient: String, sender: String, clientIP: String, size: Int,
        protocolName: String, bindingGroup: String, binding: String, now: Date = Date()
    ) {
        guard mainlogPath != nil else { return }
        let (rcptLocal, rcptDomain) = Self.split(recipient)
        let (senderLocal, senderDomain) = Self.split(sender)
        writeMain(
            Self.fields([
                Self.time(now), messageID, messageID, String(sessionID), "R", rcptLocal, rcptDomain, senderLocal,
                senderDomain, clientIP, String(size), protocolName, bindingGroup, binding
            ]))
    }

    /// `D`: delivered.
    public func delivery(_ attempt: Attempt, now: Date = Date()) {
        guard mainlogPath != nil else { return }
        writeMain(
            Self.fields([
                Self.time(now), attempt.messageID, attempt.messageID, String(attempt.connectionID), "D", attempt.domain,
                String(attempt.bytes), attempt.bindingGroup, attempt.binding, String(attempt.retries),
                attempt.secondsSinceReception(now), attempt.remoteAddress
            ]))
    }

    /// `T` (transient) or `P` (permanent) in the mainlog; the bounce log gets a `B` for a
    /// permanent failure (and a `T` when it logs transient failures).
    public func failure(
        _ attempt: Attempt, permanent: Bool, stage: Int, response: String, recipient: String, sender: String,
        now: Date = Date()
    ) {
        guard mainlogPath != nil || bouncelogPath != nil else { return }
        let text = Self.oneLine(response)
        writeMain(
            Self.fields([
                Self.time(now), attempt.messageID, attempt.messageID, String(attempt.connectionID),
                permanent ? "P" : "T",
                attempt.domain, String(attempt.bytes), attempt.bindingGroup, attempt.binding, String(stage),
                String(attempt.retries), attempt.secondsSinceReception(now), attempt.remoteAddress
            ]) + "@" + text)
        guard permanent || bouncelogTransientFailures else { return }
        let (rcptLocal, rcptDomain) = Self.split(recipient)
        let (senderLocal, senderDomain) = Self.split(sender)
        let code =
            permanent
            ? classification.classify(text, domain: rcptDomain)
            : classification.classifyTransient(text, domain: rcptDomain)
        writeBounce(
            Self.fields([
                Self.time(now), attempt.messageID, attempt.messageID, String(attempt.connectionID),
                permanent ? "B" : "T",
                rcptLocal, rcptDomain, senderLocal, senderDomain, attempt.bindingGroup, attempt.binding, String(stage),
                String(code), String(attempt.bytes), attempt.remoteAddress
            ]) + "@" + text)
    }

    /// An adaptive log record: `time@1@G@binding@domain@LEVEL@text` (the text may hold `@`).
    public func adaptive(_ line: AdaptiveLogLine, now: Date = Date()) {
        guard adaptivelogPath != nil else { return }
        write(
            Self.fields([Self.time(now), "1", "G", line.binding, line.domain, line.level]) + "@"
                + Self.oneLine(line.text), \.adaptivelog)
    }

    /// A rejectlog line (Momentum's rejectlog layout) for a 4xx/5xx reply to a client: `time: R="ip:port"
    /// L="ip:port" C="id" PATH="default" PATH_GRP="default" P="phase" E=code M=module
    /// CTXCONN=[] CTXMESS=[] reason`. Impulse has no pathways; the context lists stay empty.
    public func rejection(
        remote: String, local: String, sessionID: Int, phase: String, code: Int, module: String, reason: String,
        now: Date = Date()
    ) {
        guard rejectlogPath != nil else { return }
        func quoted(_ text: String) -> String {
            "\"" + Self.oneLine(text).replacingOccurrences(of: "\"", with: "'") + "\""
        }
        write(
            "\(Self.time(now)): R=\(quoted(remote)) L=\(quoted(local)) C=\(quoted(String(sessionID))) PATH=\"default\" "
                + """
                PATH_GRP=\"default\" P=\(quoted(phase)) E=\(code) M=\(module) CTXCONN=[] CTXMESS=[] \
                \(Self.oneLine(reason))
                """,
            \.rejectlog)
    }

    static func time(_ date: Date) -> String { String(Int(date.timeIntervalSince1970)) }

    /// `@` and line ends cannot appear inside a field; they are replaced.
    static func fields(_ values: [String]) -> String {
        values.map {
            $0.replacingOccurrences(of: "@", with: "_").replacingOccurrences(of: "\n", with: " ").replacingOccurrences(
                of: "\r", with: " ")
        }
        .joined(separator: "@")
    }

    static func oneLine(_ text: String) -> String {
        String(text.unicodeScalars.map { $0.value < 32 ? " " : Character($0) })
    }

    /// `local@domain` → (local, domain); `""` → ("", "").
    static func split(_ address: String) -> (String, String) {
        guard let at = address.lastIndex(of: "@") else { return (address, "") }
        return (String(address[..<at]), String(address[address.index(after: at)...]))
    }

    private func writeMain(_ line: String) { write(line, \.mainlog) }
    private func writeBounce(_ line: String) { write(line, \.bouncelog) }

    private func write(_ line: String, _ file: KeyPath<Files, Int32>) {
        let bytes = Array((line + "\n").utf8)
        files.withLockedValue { files in
            let fd = files[keyPath: file]
            guard fd >= 0 else { return }
            _ = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        }
    }
}
