import FuzzSupport
import NIOCore
import SMTPProtocol

/// libFuzzer target: the inbound command framer and parser (untrusted network input), in both
/// modes. Any input must give a command or an error, never a trap.
runFuzzer { data, size in
    var buffer = ByteBuffer(bytes: fuzzInput(data, size))
    var framer = CommandLineFramer(maxLineLength: 512)
    let limits = SMTPLimits()
    while let output = framer.next(&buffer) {
        guard case .line(let line) = output else { continue }
        for (extended, utf8) in [(false, false), (true, false), (true, true)] {
            _ = try? SMTPCommandParser.parse(
                line.readableBytesView,
                context: SMTPParseContext(extendedMode: extended, transactionUTF8: utf8, limits: limits))
        }
    }
    return 0
}
