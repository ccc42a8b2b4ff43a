import Foundation
import XCTest

@testable import SMTPProtocol

/// The command parser against Fixtures/command-parser.txt: input → command or reply.
final class CommandParserFixtureTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures/command-parser.txt")

    /// A short, stable text for a parsed command.
    private func summary(_ command: SMTPCommand) -> String {
        switch command {
        case .helo(let name): return "HELO \(name)"
        case .ehlo(let name): return "EHLO \(name)"
        case .mail(let sender, let parameters):
            var text = "MAIL <\(sender.map { "\($0.localPart)@\($0.domain)" } ?? "")>"
            if let size = parameters.size { text += " SIZE=\(size)" }
            if let body = parameters.body { text += " BODY=\(body.rawValue)" }
            if parameters.smtpUTF8 { text += " SMTPUTF8" }
            if let ret = parameters.ret { text += " RET=\(ret.rawValue)" }
            if let id = parameters.envelopeID { text += " ENVID=\(id)" }
            if let auth = parameters.auth { text += " AUTH=\(auth)" }
            if sender?.hadSourceRoute == true { text += " source-routed" }
            return text
        case .rcpt(let recipient, _):
            return
                "RCPT <\(recipient.domain.isEmpty ? recipient.localPart : "\(recipient.localPart)@\(recipient.domain)")>"
        case .data: return "DATA"
        case .bdat(let size, let last): return "BDAT \(size)\(last ? " LAST" : "")"
        case .rset: return "RSET"
        case .noop: return "NOOP"
        case .quit: return "QUIT"
        case .vrfy(let argument): return "VRFY \(argument)"
        case .expn(let argument): return "EXPN \(argument)"
        case .help: return "HELP"
        case .startTLS: return "STARTTLS"
        case .auth(let mechanism, let initial): return "AUTH \(mechanism)\(initial.map { " [\($0)]" } ?? "")"
        case .xclient(let attributes):
            return "XCLIENT " + attributes.map { "\($0.name)=\($0.value)" }.joined(separator: " ")
        }
    }

    func testEveryFixture() throws {
        let text = try String(contentsOf: Self.fixtures, encoding: .utf8)
        var count = 0
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let fields = line.split(separator: "\t", maxSplits: 1).map(String.init)
            guard fields.count == 2 else {
                XCTFail("malformed fixture: \(line)")
                continue
            }
            var input = fields[0].replacingOccurrences(of: "\\t", with: "\t").replacingOccurrences(
                of: "\\0", with: "\u{0}")
            var extended = true
            if input.hasPrefix("helo-mode:") {
                input.removeFirst("helo-mode:".count)
                extended = false
            }
            let context = SMTPParseContext(extendedMode: extended, transactionUTF8: false, limits: SMTPLimits())
            let got: String
            do {
                got = summary(try SMTPCommandParser.parse(Array(input.utf8), context: context))
            } catch {
                got = String(error.reply.description.dropLast()) // "\r\n" is one Character
            }
            XCTAssertEqual(got, fields[1], "input: \(input)")
            count += 1
        }
        XCTAssertGreaterThan(count, 40)
    }
}
