import Foundation
import XCTest

@testable import SMTPProtocol

/// The reply catalogue: typed codes that agree, and docs/inbound-smtp.md's reply table holds only
/// replies the catalogue has.
final class ReplyCatalogueTests: XCTestCase {
    func testEnhancedCodesAgreeWithReplyCodes() {
        for reply in SMTPReply.catalogue {
            guard let enhanced = reply.enhancedCode else {
                XCTAssertTrue([220, 250, 334, 354].contains(reply.code), "\(reply)")
                continue
            }
            XCTAssertEqual(enhanced.first.map(String.init), String(reply.code / 100), "\(reply)")
            XCTAssertEqual(enhanced.split(separator: ".").count, 3, "\(reply)")
        }
        XCTAssertEqual(SMTPReply(.transactionFailed, .routingLoop, "x").enhancedCode, "5.4.6")
        XCTAssertNil(SMTPReply(.startMailInput, .undefined, "x").enhancedCode, "3xx carries no enhanced code")
    }

    func testTheDocumentedRepliesAreInTheCatalogue() throws {
        let page = try String(
            contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent()
                .appendingPathComponent("../../docs/inbound-smtp.md").standardized, encoding: .utf8)
        let known = Set(SMTPReply.catalogue.map { "\($0.code) \($0.enhancedCode ?? "")" })
        let expression = try NSRegularExpression(pattern: "`([2-5][0-9][0-9]) ([245]\\.[0-9]{1,3}\\.[0-9]{1,3})")
        let documented = expression.matches(in: page, range: NSRange(page.startIndex..., in: page)).map { match in
            String(page[Range(match.range(at: 1), in: page)!]) + " "
                + String(page[Range(match.range(at: 2), in: page)!])
        }
        XCTAssertGreaterThan(documented.count, 20, "the reply table is found")
        for reply in documented {
            XCTAssertTrue(known.contains(reply), "documented but not in the catalogue: \(reply)")
        }
    }
}
