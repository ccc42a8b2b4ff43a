import FuzzSupport
import TransmissionFormat

/// libFuzzer target: the injection API's request body (docs/http-api.md) — the JSON parser, the
/// transmission's fields, template rendering and message composition — on hostile input. What
/// parses serializes and parses back to the same value; a composed message has CRLF line endings
/// only, and no substitution or field adds a header line of its own.
runFuzzer { data, size in
    let input = Array(fuzzInput(data, size))
    guard let json = try? JSONParser.parse(input) else { return 0 }
    precondition((try? JSONParser.parse(Array(json.serialized.utf8))) == json, "JSON did not round-trip")
    guard let transmission = try? Transmission(json) else { return 0 }
    let composer = MessageComposer(hostname: "fuzz.test", date: "Thu, 1 Jan 1970 00:00:00 +0000")
    for recipient in transmission.recipients.prefix(4) {
        guard let message = try? composer.compose(transmission, for: recipient, messageID: "ID") else { continue }
        for index in message.indices where message[index] == 10 {
            precondition(index > 0 && message[index - 1] == 13, "a bare LF in a composed message")
        }
        for index in message.indices where message[index] == 13 {
            precondition(index + 1 < message.count && message[index + 1] == 10, "a bare CR in a composed message")
        }
        guard case .parts(let parts) = transmission.content else { continue }
        // Header lines: those Impulse writes, the client's extra fields, and folded encoded words.
        let header = String(decoding: message, as: UTF8.self).components(separatedBy: "\r\n\r\n")[0]
        let names = Set(
            [
                "From", "To", "Subject", "Reply-To", "Date", "Message-ID", "MIME-Version", "Content-Type",
                "Content-Transfer-Encoding"
            ] + parts.headers.map(\.0))
        for line in header.components(separatedBy: "\r\n") where !line.hasPrefix(" ") {
            let name = line.split(separator: ":", maxSplits: 1).first.map(String.init) ?? ""
            precondition(names.contains(name), "a header line nobody asked for: \(line.prefix(80))")
        }
    }
    return 0
}
