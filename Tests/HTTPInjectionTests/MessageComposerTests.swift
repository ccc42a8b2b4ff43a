import XCTest

@testable import TransmissionFormat

final class MessageComposerTests: XCTestCase {
    func transmission(_ content: String) throws -> Transmission {
        try Transmission(try JSONParser.parse(Array(content.utf8)))
    }

    func testNonASCIIHeadersAreEncodedWordsAndBodiesBase64() throws {
        let request = try transmission(
            #"{"recipients":[{"address":{"email":"a@example.test","name":"Zoë"}}],"#
                + #""content":{"from":"n@sender.test","subject":"Grüße","text":"Straße\n"}}"#)
        let composer = MessageComposer(hostname: "impulse.test", date: "Thu, 1 Jan 1970 00:00:00 +0000")
        let message = String(
            decoding: try composer.compose(request, for: request.recipients[0], messageID: "ID1"), as: UTF8.self)
        XCTAssertTrue(message.contains("Subject: =?UTF-8?B?R3LDvMOfZQ==?=\r\n"), message)
        XCTAssertTrue(message.contains("To: =?UTF-8?B?Wm/Dqw==?= <a@example.test>\r\n"), message)
        XCTAssertTrue(message.contains("Message-ID: <ID1@impulse.test>\r\n"))
        XCTAssertTrue(message.contains("Content-Transfer-Encoding: base64\r\n\r\nU3RyYcOfZQ0K\r\n"), message)
    }

    func testRFC822ContentKeepsItsOwnDateAndMessageID() throws {
        let request = try transmission(
            #"{"return_path":"b@sender.test","recipients":["a@example.test"],"#
                + #""content":{"email_rfc822":"Date: x\nMessage-ID: <m@x>\nSubject: s\n\nbody"}}"#)
        let message = try MessageComposer(hostname: "h", date: "x").compose(
            request, for: request.recipients[0], messageID: "I")
        XCTAssertEqual(
            String(decoding: message, as: UTF8.self), "Date: x\r\nMessage-ID: <m@x>\r\nSubject: s\r\n\r\nbody")
    }

    func testLineBreaksCannotAddHeaderFields() throws {
        for (body, location) in [
            (
                #"{"recipients":["a@b.test\nBcc: e@x"],"content":{"email_rfc822":"x"},"return_path":""}"#,
                "recipients[0]"
            ),
            (
                #"{"recipients":[{"address":{"email":"a@b.test","header_to":"x\r\nBcc: e@x"}}],"#
                    + #""content":{"from":"n@s.test","subject":"s","text":"t"}}"#, "recipients[0].address.header_to"
            ),
            (
                #"{"recipients":["a@b.test"],"content":{"from":"n@s.test","subject":"s\nBcc: e@x","text":"t"}}"#,
                "content.subject"
            ),
            (
                #"{"recipients":["a@b.test"],"content":{"from":{"email":"n@s.test","name":"N\rX"},"subject":"s","text":"t"}}"#,
                "content.from.name"
            )
        ] {
            XCTAssertThrowsError(try transmission(body), body) { error in
                XCTAssertEqual((error as? Transmission.FieldError)?.location, location)
            }
        }
        // A field stays one field whatever it holds; folds of encoded words stay folds.
        XCTAssertEqual(MessageComposer.oneField("Subject: a\r\nBcc: x"), "Subject: a  Bcc: x")
        XCTAssertEqual(
            MessageComposer.oneField("Subject: =?UTF-8?B?YQ==?=\r\n =?UTF-8?B?Yg==?="),
            "Subject: =?UTF-8?B?YQ==?=\r\n =?UTF-8?B?Yg==?=")
    }

    func testFieldErrorsNameTheirPlace() {
        XCTAssertThrowsError(try transmission(#"{"recipients":[],"content":{}}"#)) { error in
            XCTAssertEqual((error as? Transmission.FieldError)?.location, "recipients")
        }
        XCTAssertThrowsError(
            try transmission(#"{"recipients":["a@b.test"],"content":{"from":"x@y.test","subject":"s"}}"#)
        ) { error in
            XCTAssertEqual((error as? Transmission.FieldError)?.location, "content")
        }
        XCTAssertThrowsError(
            try transmission(
                #"{"recipients":["a@b.test"],"content":{"from":"x@y.test","subject":"s","text":"t","headers":{"To":"z"}}}"#
            )
        ) { error in
            XCTAssertEqual((error as? Transmission.FieldError)?.location, "content.headers.To")
        }
    }
}
