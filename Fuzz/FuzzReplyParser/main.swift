import FuzzSupport
import OutboundSMTP

/// libFuzzer target: the outbound reply parser (a next hop's replies, untrusted), line by line.
runFuzzer { data, size in
    let text = String(decoding: fuzzInput(data, size), as: UTF8.self)
    var parser = SMTPReplyParser()
    for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
        do {
            if let reply = try parser.feed(line) {
                precondition(
                    (200...599).contains(reply.code) || (100...199).contains(reply.code), "impossible reply code")
            }
        } catch {
            parser = SMTPReplyParser()
        }
    }
    return 0
}
