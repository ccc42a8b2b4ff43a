import NIOCore
import XCTest

@testable import SMTPProtocol

final class CommandLineFramerTests: XCTestCase {
    func lines(_ input: String, limit: Int = 512, byteByByte: Bool) -> [String] {
        var framer = CommandLineFramer(maxLineLength: limit)
        var buffer = ByteBuffer()
        var output: [String] = []
        let bytes = Array(input.utf8)
        let chunks = byteByByte ? bytes.map { [$0] } : [bytes]
        for chunk in chunks {
            buffer.writeBytes(chunk)
            while let next = framer.next(&buffer) {
                switch next {
                case .line(let line): output.append(String(buffer: line))
                case .tooLong: output.append("<too long>")
                }
            }
        }
        return output
    }

    func testOnlyCRLFEndsALine() {
        for byteByByte in [false, true] {
            XCTAssertEqual(lines("EHLO a\r\nMAIL FROM:<>\r\n", byteByByte: byteByByte), ["EHLO a", "MAIL FROM:<>"])
            XCTAssertEqual(lines("NOOP\nRSET\r\n", byteByByte: byteByByte), ["NOOP\nRSET"])
            XCTAssertEqual(lines("NOOP\rRSET\r\n", byteByByte: byteByByte), ["NOOP\rRSET"])
            XCTAssertEqual(lines("NOOP\r\r\n", byteByByte: byteByByte), ["NOOP\r"])
            XCTAssertEqual(lines("NOOP", byteByByte: byteByByte), [])
        }
    }

    func testOverlongLineGetsExactlyOneReportAndTheNextLineSurvives() {
        let long = String(repeating: "x", count: 5000)
        for byteByByte in [false, true] {
            XCTAssertEqual(lines("NOOP \(long)\r\nQUIT\r\n", byteByByte: byteByByte), ["<too long>", "QUIT"])
            // 510 octets + CRLF = 512 is allowed; one more is not.
            XCTAssertEqual(lines(String(repeating: "y", count: 510) + "\r\n", byteByByte: byteByByte).first?.count, 510)
            XCTAssertEqual(lines(String(repeating: "y", count: 511) + "\r\n", byteByByte: byteByByte), ["<too long>"])
        }
    }

    func testBufferStaysBoundedWhileDiscarding() {
        var framer = CommandLineFramer(maxLineLength: 512)
        var buffer = ByteBuffer()
        for _ in 0..<1000 {
            buffer.writeString(String(repeating: "z", count: 1000))
            XCTAssertNil(framer.next(&buffer))
            XCTAssertLessThanOrEqual(buffer.readableBytes, 1)
        }
        buffer.writeString("\r\nNOOP\r\n")
        XCTAssertEqual(framer.next(&buffer), .tooLong)
        XCTAssertEqual(framer.next(&buffer), .line(ByteBuffer(string: "NOOP")))
    }
}

final class DotStuffedDataDecoderTests: XCTestCase {
    struct Outcome {
        var message: String
        var result: DotStuffedDataDecoder.Result?
        var leftover: String
    }

    func decode(
        _ input: [UInt8], policy: BareLineEndingPolicy = .reject, maxSize: Int = 1 << 20, byteByByte: Bool = false
    ) -> Outcome {
        var decoder = DotStuffedDataDecoder(maxMessageSize: maxSize, maxLineLength: 1000, policy: policy)
        var buffer = ByteBuffer()
        var result: DotStuffedDataDecoder.Result?
        for chunk in byteByByte ? input.map({ [$0] }) : [input] {
            buffer.writeBytes(chunk)
            if result == nil { result = decoder.decode(&buffer) }
        }
        return Outcome(message: String(buffer: decoder.message), result: result, leftover: String(buffer: buffer))
    }

    func decode(_ input: String, policy: BareLineEndingPolicy = .reject, byteByByte: Bool = false) -> Outcome {
        decode(Array(input.utf8), policy: policy, byteByByte: byteByByte)
    }

    func testUnstuffingAndEnd() {
        for byteByByte in [false, true] {
            let outcome = decode("Subject: x\r\n\r\n..leading dot\r\n.\r\nQUIT\r\n", byteByByte: byteByByte)
            XCTAssertEqual(outcome.message, "Subject: x\r\n\r\n.leading dot\r\n")
            XCTAssertEqual(outcome.leftover, "QUIT\r\n")
            XCTAssertNotNil(outcome.result)
            XCTAssertEqual(outcome.result?.size, outcome.message.utf8.count)
        }
    }

    func testEmptyMessageAndDotOnlyLines() {
        XCTAssertEqual(decode(".\r\n").message, "")
        XCTAssertNotNil(decode(".\r\n").result)
        XCTAssertEqual(decode("a\r\n..\r\n.\r\n").message, "a\r\n.\r\n")
        XCTAssertNil(decode("a\r\n").result)
    }

    /// SMTP smuggling: none of these end the data; the real end comes later.
    func testSmugglingVariantsNeverEndData() {
        let variants = [
            "\n.\n", "\r.\r", "\n.\r\n", "\r\n.\n", "\r\n.\r", "\r.\r\n", "\n.\r", "\r\n\n.\r\n", "\r\n\r.\r\n",
            "\r\n\n.\n"
        ]
        for variant in variants {
            for policy in [BareLineEndingPolicy.reject, .normalize, .accept] {
                for byteByByte in [false, true] {
                    let input =
                        """
                        Subject: a\r\n\r\nbody\(variant)MAIL FROM:<evil@example.com>\r\nRCPT \
                        TO:<x@y>\r\nDATA\r\n\r\nsmuggled\r\n.\r\nQUIT\r\n
                        """
                    let outcome = decode(input, policy: policy, byteByByte: byteByByte)
                    XCTAssertEqual(outcome.leftover, "QUIT\r\n", "\(variant.debugDescription) \(policy)")
                    let result = try? XCTUnwrap(outcome.result)
                    XCTAssertTrue(result?.sawBareCR == true || result?.sawBareLF == true, "\(variant.debugDescription)")
                    if policy != .reject { XCTAssertTrue(outcome.message.contains("smuggled")) }
                }
            }
        }
    }

    func testNormalizeRewritesBareLineEndsAsCRLF() {
        XCTAssertEqual(decode("a\nb\rc\r\n.\r\n", policy: .normalize).message, "a\r\nb\r\nc\r\n")
        XCTAssertEqual(decode("a\nb\rc\r\n.\r\n", policy: .accept).message, "a\nb\rc\r\n")
        XCTAssertEqual(decode("a\r\r\n.\r\n", policy: .normalize).message, "a\r\n\r\n")
    }

    func testNULAndBinaryPassThrough() {
        let input: [UInt8] = Array("a".utf8) + [0, 0xFF, 0x80] + Array("\r\n.\r\n".utf8)
        let outcome = decode(input)
        XCTAssertEqual(
            Array(outcome.message.utf8), Array("a".utf8) + [0] + Array("\u{FFFD}\u{FFFD}".utf8) + Array("\r\n".utf8))
        XCTAssertEqual(outcome.result?.size, 6)
    }

    func testSizeLimitStopsStoringButKeepsFraming() {
        let body = String(repeating: "0123456789\r\n", count: 100)
        let outcome = decode(Array((body + ".\r\nNOOP\r\n").utf8), maxSize: 100)
        XCTAssertEqual(outcome.result?.exceededSize, true)
        XCTAssertLessThanOrEqual(outcome.message.utf8.count, 100)
        XCTAssertEqual(outcome.leftover, "NOOP\r\n")
        XCTAssertEqual(outcome.result?.size, 1200)
    }

    func testLongLinesAreReported() {
        XCTAssertEqual(decode(String(repeating: "x", count: 998) + "\r\n.\r\n").result?.sawLongLine, false)
        XCTAssertEqual(decode(String(repeating: "x", count: 999) + "\r\n.\r\n").result?.sawLongLine, true)
        XCTAssertEqual(
            decode(String(repeating: "x", count: 5000) + "\r\n.\r\n", byteByByte: true).result?.sawLongLine, true)
    }
}

extension DotStuffedDataDecoderTests {
    func testAbandonStopsStoringButNotFraming() {
        var decoder = DotStuffedDataDecoder(maxMessageSize: 1 << 20, maxLineLength: 1000, policy: .reject)
        var buffer = ByteBuffer(string: "first\r\n")
        XCTAssertNil(decoder.decode(&buffer))
        decoder.abandon()
        buffer.writeString("second\r\n.\r\nNOOP\r\n")
        let result = decoder.decode(&buffer)
        XCTAssertEqual(result?.abandoned, true)
        XCTAssertEqual(decoder.message.readableBytes, 0)
        XCTAssertEqual(String(buffer: buffer), "NOOP\r\n")
    }
}

extension DotStuffedDataDecoderTests {
    /// Whole-buffer decoding (which copies runs of lines at once) must agree with octet-by-octet
    /// decoding (which never can) on every input: seeded random messages of CR, LF, dots and text.
    func testChunkedAndOctetByOctetDecodingAgree() {
        var seed: UInt64 = 0x1D2C3B4A
        func next() -> UInt64 {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            return seed >> 33
        }
        let alphabet: [[UInt8]] = [
            Array("\r\n".utf8), Array("\r\n".utf8), Array("\r\n.".utf8), [UInt8(ascii: ".")], [UInt8(ascii: "\r")],
            [UInt8(ascii: "\n")], Array("abc".utf8), Array(String(repeating: "x", count: 400).utf8), [0]
        ]
        for policy in [BareLineEndingPolicy.reject, .normalize, .accept] {
            for _ in 0..<150 {
                var input: [UInt8] = []
                for _ in 0..<(Int(next() % 40)) { input += alphabet[Int(next() % UInt64(alphabet.count))] }
                input += Array("\r\n.\r\nNEXT".utf8)
                let whole = decode(input, policy: policy, byteByByte: false)
                let octets = decode(input, policy: policy, byteByByte: true)
                XCTAssertEqual(whole.message, octets.message, "\(input)")
                XCTAssertEqual(whole.result, octets.result, "\(input)")
                XCTAssertEqual(whole.leftover, octets.leftover, "\(input)")
            }
        }
    }
}
