import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import XCTest

@testable import Spool

final class SpoolTests: XCTestCase {
    var base = ""
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)

    override func setUp() {
        base = FileManager.default.temporaryDirectory.appendingPathComponent("impulse-spool-\(UUID())").path
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: base)
        try? group.syncShutdownGracefully()
    }

    func envelope(_ id: String, recipients: Int = 1) -> SpoolEnvelope {
        var envelope = SpoolEnvelope(
            id: id, receivedAtMicros: 1_700_000_000_000_000 + Int64(recipients), mailFrom: "s\"q@example.com",
            recipients: (0..<recipients).map {
                .init(
                    address: "r\($0)@example.net", notify: "SUCCESS,FAILURE",
                    originalRecipient: "rfc822;r\($0)@example.net")
            },
            peerAddress: "192.0.2.1", peerPort: 4242, helo: "client\n\u{1}example",
            receivedProtocol: "ESMTPS", listener: "127.0.0.1:25", context: ["trusted": "yes", "ü": "\\"])
        envelope.declaredSize = 99
        envelope.body = "8BITMIME"
        envelope.smtpUTF8 = true
        envelope.dsnReturn = "HDRS"
        envelope.dsnEnvelopeID = "abc+2B"
        envelope.tls = "TLSv1.3"
        return envelope
    }

    func store(_ writer: SpoolWriter, _ items: [(SpoolEnvelope, String)]) throws {
        let futures = items.map { item -> EventLoopFuture<Void> in
            let promise = group.next().makePromise(of: Void.self)
            writer.submit(
                .init(
                    envelope: item.0, data: [ByteBuffer(string: "Received: x\r\n"), ByteBuffer(string: item.1)],
                    promise: promise))
            return promise.futureResult
        }
        for future in futures { try future.wait() }
    }

    func testEnvelopeJSONRoundTrip() {
        let original = envelope("ID-1", recipients: 3)
        XCTAssertFalse(original.jsonLine().contains("\n"))
        XCTAssertEqual(SpoolEnvelope(jsonLine: Data(original.jsonLine().utf8)), original)
    }

    func testRecipientsOwnSenderRoutingAndBindingRoundTripAndAreSharedWhenEqual() {
        var original = envelope("ID-2", recipients: 3)
        original.recipients[0].mailFrom = "bounces+0@example.com"
        original.recipients[1].mailFrom = ""
        original.recipients[1].routingDomain = "relay.example"
        original.recipients[2].binding = "vip"
        XCTAssertEqual(SpoolEnvelope(jsonLine: Data(original.jsonLine().utf8)), original)
        XCTAssertEqual(original.sender(of: 0), "bounces+0@example.com")
        XCTAssertEqual(original.sender(of: 1), "")
        XCTAssertEqual(original.sender(of: 2), original.mailFrom)
        XCTAssertEqual(original.routingDomain(of: 1), "relay.example")
        XCTAssertNil(original.routingDomain(of: 2))
        XCTAssertEqual(original.binding(of: 2).binding, "vip")
        XCTAssertNil(original.binding(of: 0).binding)
        // What differs stays per recipient.
        var differing = original
        differing.shareCommonRecipientValues()
        XCTAssertEqual(differing, original)
        // What every recipient shares is stored once, as the message's.
        var shared = envelope("ID-3", recipients: 2)
        for index in 0..<2 {
            shared.recipients[index].mailFrom = "verp@example.com"
            shared.recipients[index].binding = "vip"
        }
        shared.shareCommonRecipientValues()
        XCTAssertEqual(shared.mailFrom, "verp@example.com")
        XCTAssertEqual(shared.binding, "vip")
        XCTAssertFalse(shared.hasRecipientOverrides)
        XCTAssertEqual(shared.jsonLine().components(separatedBy: "verp@example.com").count, 2)
    }

    func testMessagesAreDurableAndFoundAgain() throws {
        let directory = SpoolDirectory(base: base)
        try directory.prepare()
        let writer = SpoolWriter(directory: directory, logger: Logger(label: "test"))
        writer.start()
        let bodies = (0..<200).map {
            (
                "ID-\(String(format: "%04d", $0))",
                "Subject: \($0)\r\n\r\n" + String(repeating: "x", count: $0 * 37) + "\r\n"
            )
        }
        try store(writer, bodies.map { (envelope($0.0, recipients: 1 + $0.1.count % 4), $0.1) })
        writer.stop()
        let scan = directory.scan(readOnly: true, logger: nil)
        XCTAssertTrue(scan.damaged.isEmpty)
        XCTAssertEqual(Set(scan.entries.map(\.envelope.id)), Set(bodies.map(\.0)))
        let contents = FileManager.default.contents(atPath: scan.entries[0].path)!
        for entry in scan.entries {
            let data = contents[entry.dataOffset..<(entry.dataOffset + entry.dataLength)]
            let expected = bodies.first { $0.0 == entry.envelope.id }!.1
            XCTAssertEqual(String(decoding: data, as: UTF8.self), "Received: x\r\n" + expected)
        }
    }

    /// The writer reports where each record went; the journal's outcomes come back at the next
    /// scan; a segment whose messages are all settled is deleted with its journal.
    func testCommittedLocationsJournalAndRemovalOfSettledSegments() throws {
        let directory = SpoolDirectory(base: base)
        try directory.prepare()
        let writer = SpoolWriter(directory: directory, logger: Logger(label: "test"))
        let committed = NIOLockedValueBox<[SpoolDirectory.Entry]>([])
        writer.onCommit = { entries in committed.withLockedValue { $0 += entries } }
        writer.start()
        try store(writer, [(envelope("ID-A", recipients: 2), "one\r\n"), (envelope("ID-B"), "two\r\n")])
        writer.stop()
        let entries = committed.withLockedValue { $0 }
        XCTAssertEqual(entries.map(\.envelope.id), ["ID-A", "ID-B"])
        XCTAssertEqual(try entries[1].readData(), Array("Received: x\r\ntwo\r\n".utf8))
        let segment = entries[0].path

        let journal = DeliveryJournal(logger: Logger(label: "test"))
        journal.start()
        journal.settled(segment: segment, id: "ID-A", index: 0)
        journal.deferred(segment: segment, id: "ID-A", index: 1, attempts: 2, nextAttemptMicros: 1_800_000_000_000_000)
        journal.settled(segment: segment, id: "ID-B", index: 0)
        journal.stop()
        // A torn last line (a crash mid-write) is ignored.
        let handle = try XCTUnwrap(FileHandle(forWritingAtPath: DeliveryJournal.path(forSegment: segment)))
        handle.seekToEndOfFile()
        handle.write(Data("S ID-A 1".utf8))
        try handle.close()

        let scan = directory.scan(readOnly: false, logger: nil)
        XCTAssertEqual(scan.entries.map(\.envelope.id), ["ID-A"], "ID-B is settled")
        XCTAssertEqual(scan.entries[0].recipientStates[0]?.settled, true)
        XCTAssertEqual(scan.entries[0].recipientStates[1]?.attempts, 2)
        XCTAssertEqual(scan.entries[0].recipientStates[1]?.nextAttemptMicros, 1_800_000_000_000_000)

        let journal2 = DeliveryJournal(logger: Logger(label: "test"))
        journal2.start()
        journal2.settled(segment: segment, id: "ID-A", index: 1)
        journal2.stop()
        XCTAssertEqual(directory.scan(readOnly: true, logger: nil).entries.count, 0)
        XCTAssertTrue(FileManager.default.fileExists(atPath: segment), "read-only scans delete nothing")
        _ = directory.scan(readOnly: false, logger: nil)
        XCTAssertFalse(FileManager.default.fileExists(atPath: segment))
        XCTAssertFalse(FileManager.default.fileExists(atPath: DeliveryJournal.path(forSegment: segment)))
    }

    func testTruncatedTailIsQuarantinedAndIntactRecordsSurvive() throws {
        let directory = SpoolDirectory(base: base)
        try directory.prepare()
        let writer = SpoolWriter(directory: directory, logger: Logger(label: "test"))
        writer.start()
        try store(writer, [(envelope("A"), "one\r\n"), (envelope("B"), "two\r\n")])
        writer.stop()
        let segment = directory.segmentPath(directory.segmentNames()[0])
        let intactSize = try FileManager.default.attributesOfItem(atPath: segment)[.size] as! Int
        // A batch cut short by a crash: a record header and half an envelope.
        let handle = FileHandle(forWritingAtPath: segment)!
        handle.seekToEndOfFile()
        handle.write(Data("IMPULSE-SPOOL 1 500 10\n{\"version\":1,\"id\":\"C".utf8))
        handle.closeFile()

        let readOnly = directory.scan(readOnly: true, logger: nil)
        XCTAssertEqual(readOnly.entries.map(\.envelope.id), ["A", "B"].sorted())
        XCTAssertEqual(readOnly.damaged.count, 1)
        XCTAssertNil(readOnly.damaged[0].quarantinedTo)

        let scan = directory.scan(readOnly: false, logger: nil)
        XCTAssertEqual(scan.entries.count, 2)
        let moved = try XCTUnwrap(scan.damaged.first?.quarantinedTo)
        XCTAssertEqual(
            String(decoding: FileManager.default.contents(atPath: moved)!, as: UTF8.self),
            "IMPULSE-SPOOL 1 500 10\n{\"version\":1,\"id\":\"C")
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: segment)[.size] as? Int, intactSize)
        XCTAssertTrue(directory.scan(readOnly: false, logger: nil).damaged.isEmpty)
    }

    /// The open segment is zero-filled ahead of its records (its batches overwrite blocks the file
    /// already has); closing cuts the zeros off; a segment left open by a crash has a zero tail,
    /// which start-up cuts without calling it damage, while non-zero bytes after zeros are damage.
    func testPreallocatedZeroTailIsCutAtCloseAndAfterACrash() throws {
        let directory = SpoolDirectory(base: base)
        try directory.prepare()
        let writer = SpoolWriter(directory: directory, logger: Logger(label: "test"))
        writer.start()
        try store(writer, [(envelope("A"), "one\r\n"), (envelope("B"), "two\r\n")])
        let segment = directory.segmentPath(directory.segmentNames()[0])
        let open = try XCTUnwrap(FileManager.default.contents(atPath: segment))
        XCTAssertEqual(open.count, SpoolLimits.preallocationChunk, "zero-filled to the next chunk boundary")
        let recordsEnd = try XCTUnwrap(open.lastIndex { $0 != 0 }) + 1
        XCTAssertTrue(open[recordsEnd...].allSatisfy { $0 == 0 })
        // What start-up sees after a crash now: both records, a zero tail, no damage.
        let crashed = SpoolFileFormat.readSegment(path: segment)
        XCTAssertEqual(crashed.records.map(\.envelope.id), ["A", "B"])
        XCTAssertNil(crashed.damage)
        XCTAssertEqual(crashed.zeroTail, recordsEnd)
        writer.stop()
        XCTAssertEqual(
            try FileManager.default.attributesOfItem(atPath: segment)[.size] as? Int, recordsEnd,
            "closing cuts the zeros")

        // A crash image: records, zeros, and a torn write further on (non-zero bytes after zeros).
        let handle = try XCTUnwrap(FileHandle(forWritingAtPath: segment))
        handle.seekToEndOfFile()
        handle.write(Data(count: 4096) + Data("IMPULSE".utf8))
        try handle.close()
        let torn = directory.scan(readOnly: false, logger: nil)
        XCTAssertEqual(torn.entries.count, 2)
        XCTAssertEqual(torn.damaged.first?.offset, recordsEnd, "zeros followed by data are damage, quarantined")

        // A plain zero tail is cut without being called damage.
        let again = try XCTUnwrap(FileHandle(forWritingAtPath: segment))
        again.seekToEndOfFile()
        again.write(Data(count: 10000))
        try again.close()
        let scan = directory.scan(readOnly: false, logger: nil)
        XCTAssertEqual(scan.entries.count, 2)
        XCTAssertTrue(scan.damaged.isEmpty)
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: segment)[.size] as? Int, recordsEnd)
    }

    /// A power loss can leave a record's header and trailer on disk with other pages between
    /// them lost: the checksum finds it; it is copied to quarantine and never delivered, and the
    /// records around it still are.
    func testARecordWhoseChecksumFailsIsQuarantinedAndNotDelivered() throws {
        let directory = SpoolDirectory(base: base)
        try directory.prepare()
        let writer = SpoolWriter(directory: directory, logger: Logger(label: "test"))
        writer.start()
        try store(
            writer,
            [(envelope("A"), "first message\r\n"), (envelope("B"), "second message\r\n"), (envelope("C"), "third\r\n")])
        writer.stop()
        let segment = directory.segmentPath(directory.segmentNames()[0])
        var bytes = try XCTUnwrap(FileManager.default.contents(atPath: segment))
        let second = try XCTUnwrap(bytes.range(of: Data("second message".utf8)))
        bytes[second.lowerBound] = UInt8(ascii: "S") // one flipped octet in B's data
        XCTAssertTrue(FileManager.default.createFile(atPath: segment, contents: bytes))

        let scan = directory.scan(readOnly: false, logger: nil)
        XCTAssertEqual(scan.entries.map(\.envelope.id).sorted(), ["A", "C"])
        XCTAssertEqual(scan.damaged.count, 1)
        XCTAssertTrue(scan.damaged[0].reason.hasPrefix("checksum mismatch"), scan.damaged[0].reason)
        let copy = try XCTUnwrap(scan.damaged[0].quarantinedTo)
        let quarantined = String(decoding: try XCTUnwrap(FileManager.default.contents(atPath: copy)), as: UTF8.self)
        XCTAssertTrue(
            quarantined.hasPrefix("IMPULSE-SPOOL 2 ") && quarantined.contains("Second message")
                && quarantined.hasSuffix("\n"))
        XCTAssertTrue(quarantined.contains("IMPULSE-END B "))
        XCTAssertEqual(directory.scan(readOnly: false, logger: nil).entries.count, 2, "found again, skipped again")
    }

    /// Version 1 records (no checksum) written by an earlier Impulse still load; the spool's stamp
    /// becomes 2, since new records are version 2.
    func testAVersionOneSpoolStillLoads() throws {
        let directory = SpoolDirectory(base: base)
        try directory.prepare()
        let stamp = base + "/IMPULSE-SPOOL-VERSION"
        XCTAssertTrue(FileManager.default.createFile(atPath: stamp, contents: Data("1\n".utf8)))
        let line = envelope("OLD").jsonLine() + "\n"
        let data = "Subject: old\r\n\r\nbody\r\n"
        let record = "IMPULSE-SPOOL 1 \(line.utf8.count) \(data.utf8.count)\n" + line + data + "IMPULSE-END OLD\n"
        XCTAssertTrue(
            FileManager.default.createFile(
                atPath: directory.segmentPath("0000000000001-00000000"), contents: Data(record.utf8)))
        try directory.prepare()
        XCTAssertEqual(String(decoding: FileManager.default.contents(atPath: stamp)!, as: UTF8.self), "2\n")
        let scan = directory.scan(readOnly: true, logger: nil)
        XCTAssertEqual(scan.entries.map(\.envelope.id), ["OLD"])
        XCTAssertTrue(scan.damaged.isEmpty)
        XCTAssertEqual(scan.entries[0].dataLength, data.utf8.count)
    }

    func testCorruptRecordIsReported() throws {
        let directory = SpoolDirectory(base: base)
        try directory.prepare()
        _ = FileManager.default.createFile(
            atPath: directory.segmentPath("0000000000000-00000000"),
            contents: Data("garbage that is not a record\n".utf8))
        let scan = directory.scan(readOnly: true, logger: nil)
        XCTAssertEqual(scan.entries.count, 0)
        XCTAssertEqual(scan.damaged.first?.reason, "not an Impulse spool record")
    }

    func testWriteFailureFailsTheBatchCutsItOffAndTheNextBatchGoesToANewSegment() throws {
        let directory = SpoolDirectory(base: base)
        try directory.prepare()
        let writer = SpoolWriter(directory: directory, logger: Logger(label: "test"))
        writer.start()
        defer { writer.stop() }
        try store(writer, [(envelope("A"), "one\r\n")])
        let segment = directory.segmentPath(directory.segmentNames()[0])
        // Where the records end (the open segment is zero-filled beyond them).
        let size = try XCTUnwrap(FileManager.default.contents(atPath: segment)?.lastIndex { $0 != 0 }) + 1

        // A real I/O error: a file-size limit makes the next append fail with EFBIG.
        signal(SIGXFSZ, SIG_IGN)
        var saved = rlimit()
        getrlimit(Int32(RLIMIT_FSIZE.rawValue), &saved)
        var limited = saved
        limited.rlim_cur = rlim_t(size + 100)
        setrlimit(Int32(RLIMIT_FSIZE.rawValue), &limited)
        XCTAssertThrowsError(try store(writer, [(envelope("B"), String(repeating: "b", count: 1000))])) { error in
            XCTAssertEqual((error as? SpoolError)?.errno, EFBIG, "\(error)")
        }
        setrlimit(Int32(RLIMIT_FSIZE.rawValue), &saved)
        XCTAssertEqual(
            try FileManager.default.attributesOfItem(atPath: segment)[.size] as? Int, size,
            "the failed batch is cut off")

        try store(writer, [(envelope("C"), "three\r\n")])
        XCTAssertEqual(directory.segmentNames().count, 2)
        let scan = directory.scan(readOnly: true, logger: nil)
        XCTAssertEqual(scan.entries.map(\.envelope.id).sorted(), ["A", "C"])
        XCTAssertTrue(scan.damaged.isEmpty)
    }

    func testMissingQueueDirectoryIsReportedNotIgnored() throws {
        let directory = SpoolDirectory(base: base)
        try directory.prepare()
        try FileManager.default.removeItem(atPath: directory.queue)
        _ = FileManager.default.createFile(atPath: directory.queue, contents: Data())
        let writer = SpoolWriter(directory: directory, logger: Logger(label: "test"))
        writer.start()
        defer { writer.stop() }
        XCTAssertThrowsError(try store(writer, [(envelope("B"), "two\r\n")])) { error in
            XCTAssertTrue("\(error)".contains("create segment"), "\(error)")
        }
    }

    func testIDsAreUniqueAndSortByTime() {
        let generator = MessageIDGenerator()
        let ids = (0..<10000).map { _ in generator.next() }
        XCTAssertEqual(Set(ids).count, ids.count)
        let early = generator.next(now: Date(timeIntervalSince1970: 1_000_000_000))
        let late = generator.next(now: Date(timeIntervalSince1970: 2_000_000_000))
        XCTAssertLessThan(early, late)
        XCTAssertTrue(ids.allSatisfy { $0.count == 22 && !$0.contains("/") })
    }
}
