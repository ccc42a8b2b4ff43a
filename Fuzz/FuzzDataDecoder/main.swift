import FuzzSupport
import NIOCore
import SMTPProtocol

/// libFuzzer target: the DATA decoder (dot-unstuffing, end-of-data, bare CR/LF, line length,
/// size) fed in chunks the input's first octet chooses, under every bare-line-ending policy;
/// and the BDAT line check. The decoder must never emit more than it was given (twice that
/// when it adds CRs or LFs to bare line ends).
runFuzzer { data, size in
    let input = fuzzInput(data, size)
    guard let first = input.first else { return 0 }
    let chunk = Int(first % 64) + 1
    for policy in [BareLineEndingPolicy.reject, .normalize, .accept] {
        var decoder = DotStuffedDataDecoder(maxMessageSize: 4096, maxLineLength: 1000, policy: policy)
        var offset = 1
        while offset < input.count {
            let end = min(input.count, offset + chunk)
            var buffer = ByteBuffer(bytes: UnsafeBufferPointer(rebasing: input[offset..<end]))
            offset = end
            if let result = decoder.decode(&buffer) {
                // Only `fix` (normalize) may add octets: a CR for each bare LF, an LF for each bare CR.
                precondition(result.size <= input.count * (policy == .normalize ? 2 : 1), "decoded more than the input")
                break
            }
        }
    }
    _ = MessageLineCheck(input, maxLineLength: 1000)
    return 0
}
