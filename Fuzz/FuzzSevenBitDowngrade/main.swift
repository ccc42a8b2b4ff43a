import FuzzSupport
import OutboundSMTP

/// libFuzzer target: the 8-bit downgrade for next hops without 8BITMIME, on hostile messages.
/// It never traps; in `ifNeeded` and `strip` modes it never fails; a `strict` result and every
/// `strip` result are 7-bit.
runFuzzer { data, size in
    let input = Array(fuzzInput(data, size))
    let converted = try? SevenBitDowngrade.convert(input, mode: .ifNeeded)
    precondition(converted != nil, "ifNeeded never fails")
    if let strict = try? SevenBitDowngrade.convert(input, mode: .strict) {
        precondition(strict.allSatisfy { $0 < 128 }, "a strict result is 7-bit")
    }
    let stripped = try? SevenBitDowngrade.convert(input, mode: .strip)
    precondition(stripped != nil, "strip never fails")
    return 0
}
