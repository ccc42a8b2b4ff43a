import FuzzSupport
import SMTPProtocol

/// libFuzzer target: the header-section check Impulse runs on every received message (fields,
/// Received: hops, size) and the address parser behind MAIL and RCPT.
runFuzzer { data, size in
    let input = fuzzInput(data, size)
    var limits = SMTPLimits()
    limits.maxHeaderFields = 50
    limits.maxHeaderSectionSize = 2048
    let check = HeaderSectionCheck(input, limits: limits)
    precondition(check.size <= input.count && check.fields <= input.count, "counted past the input")
    _ = check.refusal(limits: limits)
    let text = String(decoding: input, as: UTF8.self)
    let parser = MailPathParser(limits: limits, allowUTF8: true)
    _ = try? parser.parseReversePath(Substring(text))
    _ = try? parser.parseForwardPath(Substring(text))
    return 0
}
