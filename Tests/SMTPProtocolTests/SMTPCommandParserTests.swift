import NIOCore
import XCTest

@testable import SMTPProtocol

final class SMTPCommandParserTests: XCTestCase {
    let extended = SMTPParseContext(extendedMode: true, transactionUTF8: false, limits: SMTPLimits())

    func parse(_ line: String, _ context: SMTPParseContext? = nil) throws -> SMTPCommand {
        try SMTPCommandParser.parse(Array(line.utf8), context: context ?? extended)
    }

    func reply(_ line: String, _ context: SMTPParseContext? = nil) -> SMTPReply? {
        do {
            _ = try SMTPCommandParser.parse(Array(line.utf8), context: context ?? extended)
            return nil
        } catch { return error.reply }
    }

    func testSimpleCommandsAreCaseInsensitive() throws {
        XCTAssertEqual(try parse("ehlo client.example"), .ehlo("client.example"))
        XCTAssertEqual(try parse("HELO [192.0.2.1]"), .helo("[192.0.2.1]"))
        XCTAssertEqual(try parse("DaTa"), .data)
        XCTAssertEqual(try parse("RSET"), .rset)
        XCTAssertEqual(try parse("NOOP anything"), .noop)
        XCTAssertEqual(try parse("QUIT"), .quit)
        XCTAssertEqual(try parse("STARTTLS"), .startTLS)
        XCTAssertEqual(try parse("VRFY bob"), .vrfy("bob"))
        XCTAssertEqual(try parse("HELP"), .help(nil))
        XCTAssertEqual(try parse("BDAT 100 LAST"), .bdat(size: 100, last: true))
        XCTAssertEqual(try parse("bdat 0"), .bdat(size: 0, last: false))
    }

    func testMailWithEveryParameter() throws {
        let command = try parse("MAIL FROM:<a@b.example> SIZE=1000 BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=QQ+2B1")
        guard case .mail(let sender, let parameters) = command else { return XCTFail("\(command)") }
        XCTAssertEqual(sender, Mailbox(localPart: "a", domain: "b.example"))
        XCTAssertEqual(parameters.size, 1000)
        XCTAssertEqual(parameters.body, .eightBitMIME)
        XCTAssertTrue(parameters.smtpUTF8)
        XCTAssertEqual(parameters.ret, .headers)
        XCTAssertEqual(parameters.envelopeID, "QQ+2B1")
    }

    func testNullSenderAndSpaceAfterColon() throws {
        XCTAssertEqual(try parse("MAIL FROM:<>"), .mail(nil, MailParameters()))
        XCTAssertEqual(
            try parse("MAIL FROM: <x@y.example>"), .mail(Mailbox(localPart: "x", domain: "y.example"), MailParameters())
        )
    }

    func testRcptWithDSN() throws {
        let command = try parse("RCPT TO:<u@d.example> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;u+40d.example")
        guard case .rcpt(let recipient, let parameters) = command else { return XCTFail("\(command)") }
        XCTAssertEqual(recipient.description, "u@d.example")
        XCTAssertEqual(parameters.notify?.description, "SUCCESS,DELAY")
        XCTAssertEqual(parameters.originalRecipient, "rfc822;u+40d.example")
        XCTAssertEqual(try parse("RCPT TO:<u@d.example> NOTIFY=never").rcptNotify, "NEVER")
    }

    func testBadParametersMapToTheRightReplies() {
        XCTAssertEqual(reply("RCPT TO:<u@d.example> NOTIFY=NEVER,SUCCESS")?.code, 501)
        XCTAssertEqual(reply("RCPT TO:<u@d.example> NOTIFY=SUCCESS,SUCCESS")?.code, 501)
        XCTAssertEqual(reply("RCPT TO:<u@d.example> ORCPT=nosemicolon")?.code, 501)
        XCTAssertEqual(reply("MAIL FROM:<a@b.example> SIZE=abc")?.code, 501)
        XCTAssertEqual(reply("MAIL FROM:<a@b.example> SIZE=999999999999")?.code, 552)
        XCTAssertEqual(reply("MAIL FROM:<a@b.example> BODY=BINARYMIME")?.code, 501)
        XCTAssertEqual(reply("MAIL FROM:<a@b.example> FOO=bar")?.code, 555)
        XCTAssertEqual(reply("MAIL FROM:<a@b.example> SIZE=1 SIZE=2")?.code, 501)
        XCTAssertEqual(reply("MAIL FROM:<a@b.example> ENVID=has=equals")?.code, 501)
        let helo = SMTPParseContext(extendedMode: false, transactionUTF8: false, limits: SMTPLimits())
        XCTAssertEqual(reply("MAIL FROM:<a@b.example> SIZE=10", helo)?.code, 555)
        XCTAssertEqual(try? SMTPCommandParser.parse(Array("BDAT 10".utf8), context: helo), .bdat(size: 10, last: false))
    }

    func testSyntaxErrors() {
        XCTAssertEqual(reply("FOO"), SMTPReply(500, "5.5.1", "Command unrecognized"))
        XCTAssertEqual(reply("EHLO")?.code, 501)
        XCTAssertEqual(reply("DATA now")?.code, 501)
        XCTAssertEqual(reply("MAIL TO:<a@b>")?.code, 501)
        XCTAssertEqual(reply("MAIL FROM:a@b.example")?.code, 501)
        XCTAssertEqual(reply("MAIL FROM:<a@b.example")?.code, 501)
        XCTAssertEqual(reply("MAIL FROM:<a@b.example>junk")?.code, 501)
        XCTAssertEqual(reply("BDAT -1")?.code, 501)
        XCTAssertEqual(reply("BDAT 10 NOTLAST")?.code, 501)
        XCTAssertEqual(reply("BDAT 99999999999999999999999")?.code, 501)
    }

    func testControlCharactersAndNULAreRejected() {
        XCTAssertEqual(reply("NOOP\u{0}x")?.code, 500)
        XCTAssertEqual(reply("NOOP\nRSET")?.code, 500)
        XCTAssertEqual(reply("NOOP\rRSET")?.code, 500)
        XCTAssertEqual(try? SMTPCommandParser.parse([0x4E, 0x4F, 0x4F, 0x50, 0x20, 0xFF], context: extended), nil)
    }

    func testPaths() throws {
        let parser = MailPathParser(limits: SMTPLimits(), allowUTF8: false)
        XCTAssertEqual(try parser.parseForwardPath("<\"john doe\"@example.com>").localPart, "\"john doe\"")
        let routed = try parser.parseForwardPath("<@relay.one,@relay.two:user@example.com>")
        XCTAssertEqual(routed.description, "user@example.com")
        XCTAssertTrue(routed.hadSourceRoute)
        XCTAssertTrue(try parser.parseForwardPath("<user%other.example@example.com>").hasRoutingCharacters)
        XCTAssertTrue(try parser.parseForwardPath("<host!user@example.com>").hasRoutingCharacters)
        XCTAssertEqual(try parser.parseForwardPath("<PostMaster>").domain, "")
        XCTAssertEqual(try parser.parseForwardPath("<u@[192.0.2.1]>").domain, "[192.0.2.1]")
        XCTAssertEqual(try parser.parseForwardPath("<u@[IPv6:2001:db8::1]>").domain, "[IPv6:2001:db8::1]")
        for bad in [
            "<u@[300.1.1.1]>", "<u@-bad.example>", "<u@bad-.example>", "<.u@example.com>", "<u..v@example.com>",
            "<u@>", "<@example.com>", "<u@exa mple.com>", "<\"unterminated@example.com>", "<u@a..b>"
        ] {
            XCTAssertThrowsError(try parser.parseForwardPath(Substring(bad)), bad)
        }
    }

    func testPathLengthLimits() {
        let parser = MailPathParser(limits: SMTPLimits(), allowUTF8: false)
        let local65 = String(repeating: "a", count: 65)
        XCTAssertEqual(
            Self.error { try parser.parseForwardPath(Substring("<\(local65)@example.com>")) }, .tooLong("Local part"))
        let longDomain = (0..<40).map { _ in "abcdef" }.joined(separator: ".")
        XCTAssertEqual(Self.error { try parser.parseForwardPath(Substring("<u@\(longDomain)>")) }, .tooLong("Path"))
    }

    func testUTF8AddressesNeedSMTPUTF8() throws {
        XCTAssertEqual(reply("MAIL FROM:<用户@例子.广告>")?.code, 553)
        guard case .mail(let sender, _) = try parse("MAIL FROM:<用户@例子.广告> SMTPUTF8") else { return XCTFail() }
        XCTAssertEqual(sender?.isInternationalized, true)
        let utf8 = SMTPParseContext(extendedMode: true, transactionUTF8: true, limits: SMTPLimits())
        XCTAssertNoThrow(try parse("RCPT TO:<josé@example.com>", utf8))
        XCTAssertEqual(reply("RCPT TO:<josé@example.com>")?.code, 553)
    }

    func testReplyFormatting() {
        XCTAssertEqual(SMTPReply(250, "2.0.0", "Ok").description, "250 2.0.0 Ok\r\n")
        XCTAssertEqual(SMTPReply(250, nil, ["a", "b", "c"]).description, "250-a\r\n250-b\r\n250 c\r\n")
        XCTAssertEqual(SMTPReply(550, "5.7.1", ["one", "two"]).description, "550-5.7.1 one\r\n550 5.7.1 two\r\n")
    }

    static func error(_ body: () throws -> Mailbox) -> MailPathError? {
        do {
            _ = try body()
            return nil
        } catch { return error as? MailPathError }
    }
}

extension SMTPCommand {
    var rcptNotify: String? {
        if case .rcpt(_, let parameters) = self { return parameters.notify?.description }
        return nil
    }
}
