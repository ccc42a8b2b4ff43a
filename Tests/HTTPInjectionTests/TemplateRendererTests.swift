import XCTest

@testable import TransmissionFormat

final class TemplateRendererTests: XCTestCase {
    let transmission = JSONValue.object([
        ("name", .string("Shop")), ("n", .number(3)), ("shop", .object([("city", .string("Oslo"))]))
    ])

    func testRecipientDataComesFirst() throws {
        var renderer = TemplateRenderer(recipient: .object([("name", .string("Ann"))]), transmission: transmission)
        XCTAssertEqual(
            try renderer.render("{{name}} {{ n }} {{shop.city}} [{{missing}}] {{unclosed", .text),
            "Ann 3 Oslo [] {{unclosed")
    }

    func testHTMLEscapingAndTripleBraces() throws {
        var renderer = TemplateRenderer(recipient: .object([("x", .string("<b>&'\""))]), transmission: nil)
        XCTAssertEqual(try renderer.render("{{x}}|{{{x}}}", .html), "&lt;b&gt;&amp;&#39;&quot;|<b>&'\"")
    }

    func testHeadersGetNoLineBreaks() throws {
        var renderer = TemplateRenderer(recipient: .object([("x", .string("a\r\nBcc: evil@x"))]), transmission: nil)
        XCTAssertEqual(try renderer.render("S {{x}}", .header), "S a  Bcc: evil@x")
    }

    func testSubstitutionsAreBounded() {
        var renderer = TemplateRenderer(recipient: .object([("x", .string("y"))]), transmission: nil)
        let template = String(repeating: "{{x}}", count: InjectionLimits.maxSubstitutions + 1)
        XCTAssertThrowsError(try renderer.render(template, .text))
    }
}
