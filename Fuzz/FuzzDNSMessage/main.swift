import FuzzSupport
import Resolver

/// libFuzzer target: the DNS response parser (a name server's answers, untrusted), for every
/// record type Impulse asks for.
runFuzzer { data, size in
    let bytes = UnsafeRawBufferPointer(fuzzInput(data, size))
    for type in DNSRecordType.allCases {
        if case .success(.records(let records, _)) = DNSMessage.parse(bytes, type: type) {
            precondition(!records.isEmpty && records.count <= DNSLimits.maxAnswerRecords, "record count out of bounds")
        }
    }
    return 0
}
