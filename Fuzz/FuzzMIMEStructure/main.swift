import FuzzSupport
import SMTPProtocol

/// libFuzzer target: the MIME parser behind msg:mime, on hostile messages. Every part it reports
/// lies inside the message and inside its parent, and the bounds on parts hold.
runFuzzer { data, size in
    let input = Array(fuzzInput(data, size))
    let parts = MIMEStructure(input).parts
    precondition(parts.count <= 500, "more parts than the bound")
    for part in parts {
        precondition(
            part.start <= part.bodyStart && part.bodyStart <= part.end && part.end <= input.count,
            "a part outside the message")
        if part.parent >= 0 {
            let parent = parts[part.parent]
            precondition(part.start >= parent.bodyStart && part.end <= parent.end, "a part outside its parent")
        }
        if part.boundary != nil {
            precondition(
                part.bodyStart <= part.preambleEnd && part.preambleEnd <= part.end, "a preamble outside the part")
        }
    }
    return 0
}
