import XCTest

@testable import HTTPInjection

final class MessageComposerTests: XCTestCase {
    func transmission(_ content: String) throws -> Transmission {
        try Transmission(try JSONParser.parse(Array(content.utf8)))
    }

    func testNonASCIIHeadersAreEncodedWordsAndBodiesBase64() throws {
        let request = try transmission(
            #"{"recipients":[{"address":{"email":"a@example.test","name":"Zoë"}}],"#
                + #""content":{"from":"n@sender.test","subject":"Grüße","text":"Straße\n"}}"#)
        let composer = MessageComposer(hostname: "impulse.test", now: Date(timeIntervalSince1970: 0))
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
        let message = try MessageComposer(hostname: "h").compose(request, for: request.recipients[0], messageID: "I")
        XCTAssertEqual(
            String(decoding: message, as: UTF8.self), "Date: x\r\nMessage-ID: <m@x>\r\nSubject: s\r\n\r\nbody")
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
