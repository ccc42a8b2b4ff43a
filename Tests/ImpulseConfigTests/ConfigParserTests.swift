import Foundation
import XCTest

@testable import ImpulseConfig

final class ConfigParserTests: XCTestCase {
    func parse(_ text: String) throws -> ConfigScope { try ConfigParser().parse(text: text, file: "t.conf") }

    func firstError(_ text: String) -> String? {
        do {
            _ = try parse(text)
            return nil
        } catch { return (error as? ConfigError)?.diagnostics.first?.description }
    }

    func testEverySyntaxElement() throws {
        let root = try parse(
            """
            # a comment
            /* a block
               comment */ Spoolbase = "/var/spool/x"   hostname=mx.example
            relay_hosts = ( "127.0.0.0/8" 10.0.0.0/8
                            ::1 )
            ESMTP_Listener {
              context = [ trusted = "yes" level = 3 ]
              AuthLoginParameters [ uri = "file:///etc/passwd" ]
              Listen ":25" { File_Mode = 0640 }
              listen '[::1]:26' { enable = false }
            }
            domain example.com { max_outbound_connections = 5 }
            """)
        XCTAssertEqual(root.options.map(\.name), ["spoolbase", "hostname", "relay_hosts"])
        XCTAssertEqual(
            root.options[0].value,
            .scalar("/var/spool/x", quoted: true, SourceLocation(file: "t.conf", line: 3, column: 27)))
        XCTAssertEqual(
            root.options[1].value,
            .scalar("mx.example", quoted: false, SourceLocation(file: "t.conf", line: 3, column: 53)))
        guard case .list(let items, _) = root.options[2].value else { return XCTFail() }
        XCTAssertEqual(items.count, 3)
        let listener = root.scopes[0]
        XCTAssertEqual(listener.keyword, "esmtp_listener")
        XCTAssertEqual(listener.spelling, "ESMTP_Listener")
        guard case .dictionary(let entries, _) = listener.options[0].value else { return XCTFail() }
        XCTAssertEqual(entries.map(\.key), ["trusted", "level"])
        XCTAssertEqual(listener.options[1].name, "authloginparameters")
        XCTAssertEqual(listener.scopes.map(\.instance), [":25", "[::1]:26"])
        XCTAssertEqual(listener.scopes[0].options[0].name, "file_mode")
        XCTAssertEqual(root.scopes[1].instance, "example.com")
    }

    func testEscapesInQuotedStrings() throws {
        let root = try parse(#"banner_hostname = "say \"hi\" \\ now""#)
        XCTAssertEqual(
            root.options[0].value,
            .scalar(#"say "hi" \ now"#, quoted: true, SourceLocation(file: "t.conf", line: 1, column: 19)))
    }

    func testErrorsCarryFileLineColumnAndWhatWasExpected() {
        XCTAssertEqual(
            firstError("a = \"open"), "t.conf:1:5: error: unterminated string: expected closing '\"' before end of file"
        )
        XCTAssertEqual(
            firstError("x = 1 /* never closed"),
            "t.conf:1:7: error: unterminated comment: expected '*/' before end of file")
        XCTAssertEqual(
            firstError("ESMTP_Listener {\n  a = 1\n"),
            "t.conf:3:1: error: expected '}' to close ESMTP_Listener opened at t.conf:1:1")
        XCTAssertEqual(firstError("}"), "t.conf:1:1: error: unexpected '}' with no scope open")
        XCTAssertEqual(firstError("a = "), "t.conf:1:5: error: expected a value after 'a =', found end of file")
        XCTAssertEqual(firstError("a = (1 2"), "t.conf:1:9: error: expected ')' to close the list opened at t.conf:1:5")
        XCTAssertEqual(firstError("a = [ k = ]"), "t.conf:1:11: error: expected a value for 'k', found ']'")
        XCTAssertEqual(
            firstError("Listen \":25\" x = 1"),
            """
            t.conf:1:14: error: expected '{' to open scope 'Listen \":25\"', found 'x' (options need '=': Listen = \
            \":25\")
            """
        )
        XCTAssertEqual(firstError("a }"), "t.conf:1:3: error: expected '=', '{' or a scope name after 'a', found '}'")
        XCTAssertEqual(firstError("= 3"), "t.conf:1:1: error: expected an option or scope name, found '='")
    }

    func testIncludeFilesAndDirectoriesAndCycles() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("impulse-conf-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory + "/conf.d", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "hostname = main\ninclude \"conf.d\"\nESMTP_Listener { include \"listen.inc\" }\n".write(
            toFile: directory + "/main.conf", atomically: true, encoding: .utf8)
        try "Listen \"127.0.0.1:25\" {}\n".write(toFile: directory + "/listen.inc", atomically: true, encoding: .utf8)
        try "spoolbase = b\n".write(toFile: directory + "/conf.d/b.conf", atomically: true, encoding: .utf8)
        try "spoolbase = a\n".write(toFile: directory + "/conf.d/a.conf", atomically: true, encoding: .utf8)
        try "ignored = yes\n".write(toFile: directory + "/conf.d/.hidden", atomically: true, encoding: .utf8)
        let root = try ConfigParser().parseFile(atPath: directory + "/main.conf")
        XCTAssertEqual(
            root.options.map { "\($0.name)@\(($0.location.file as NSString).lastPathComponent)" },
            ["hostname@main.conf", "spoolbase@a.conf", "spoolbase@b.conf"])
        XCTAssertEqual(root.scopes[0].scopes[0].instance, "127.0.0.1:25")
        XCTAssertEqual(root.scopes[0].scopes[0].location.file, directory + "/listen.inc")

        try "include \"../main.conf\"\n".write(toFile: directory + "/conf.d/c.conf", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try ConfigParser().parseFile(atPath: directory + "/main.conf")) { error in
            XCTAssertTrue("\(error)".contains("include cycle"), "\(error)")
            XCTAssertTrue("\(error)".contains("c.conf:1:9"), "\(error)")
        }
        XCTAssertThrowsError(
            try ConfigParser().parse(text: "include \"/nonexistent/x.conf\"", file: directory + "/x.conf")
        ) { error in
            XCTAssertTrue("\(error)".contains("x.conf:1:9: error: cannot include '/nonexistent/x.conf'"), "\(error)")
        }
    }
}
