import COpenDMARC
import Foundation
import NIOConcurrencyHelpers

/// What a receiver learnt about a message's From: domain (RFC 7489).
public struct DMARCOutcome: Sendable, Equatable {
    /// pass, fail, none, temperror or permerror (RFC 8601's `dmarc=` words).
    public var result: String
    /// The published policy that applies: none, quarantine or reject (empty without a record).
    public var policy: String
    /// What the policy asks of this message once `pct=` sampling is applied (RFC 7489 §6.6.4):
    /// none, quarantine or reject; "none" for a message that passed.
    public var disposition: String
    public var fromDomain: String
    /// The domain whose record applied (the From: domain or its organisational domain).
    public var policyDomain: String
    /// The `sp=` policy applied (the record was the organisational domain's).
    public var subdomainPolicy: Bool
    public var dkimAligned: Bool
    public var spfAligned: Bool

    /// No single RFC 5322.From domain to evaluate (none, several, or no domain in it).
    public static let noFromDomain = DMARCOutcome(
        result: "permerror", policy: "", disposition: "none", fromDomain: "", policyDomain: "",
        subdomainPolicy: false, dkimAligned: false, spfAligned: false)
}

/// What DMARC is evaluated from: the RFC 5322.From domain and the SPF and DKIM results.
public struct DMARCInputs: Sendable {
    public var fromDomain: String
    public var clientIP: String
    /// The domain SPF checked (the MAIL FROM domain, or the HELO name for a null sender) and its
    /// result word.
    public var spfDomain: String
    public var spfResult: String
    public var spfFromHelo: Bool
    /// Each verified signature: d=, s= and its result word.
    public var dkim: [(domain: String, selector: String, result: String)]

    public init(
        fromDomain: String, clientIP: String, spfDomain: String, spfResult: String, spfFromHelo: Bool,
        dkim: [(domain: String, selector: String, result: String)]
    ) {
        self.fromDomain = fromDomain
        self.clientIP = clientIP
        self.spfDomain = spfDomain
        self.spfResult = spfResult
        self.spfFromHelo = spfFromHelo
        self.dkim = dkim
    }
}

/// DMARC's policy evaluation and identifier alignment through libopendmarc (RFC 7489 §3.1,
/// §6.6): the record is looked up by Impulse (`DMARCRecordAnswer`) and handed to the library,
/// which never queries DNS itself here.
public enum DMARCEvaluator {
    /// Debian's copy of the public suffix list (package publicsuffix).
    public static let defaultPublicSuffixList = "/usr/share/publicsuffix/public_suffix_list.dat"

    private static let loaded = NIOLockedValueBox<String?>(nil)

    /// Reads the public suffix list that organisational domains come from (RFC 7489 §3.2); the
    /// library swaps it in under its own lock, so a reload may call this again.
    public static func loadPublicSuffixList(_ path: String) throws(DMARCSetupError) {
        let failure = loaded.withLockedValue { current -> DMARCSetupError? in
            guard current != path else { return nil }
            guard FileManager.default.isReadableFile(atPath: path) else {
                return DMARCSetupError(message: "cannot read the public suffix list '\(path)'")
            }
            if current == nil {
                var library = OPENDMARC_LIB_T()
                library.tld_type = OPENDMARC_TLD_TYPE_MOZILLA
                withUnsafeMutableBytes(of: &library.tld_source_file) { buffer in
                    let bytes = Array(path.utf8.prefix(buffer.count - 1)) + [0]
                    buffer.copyBytes(from: bytes)
                }
                guard opendmarc_policy_library_init(&library) == DMARC_PARSE_OKAY else {
                    return DMARCSetupError(message: "cannot load the public suffix list '\(path)'")
                }
            } else {
                var file = Array(path.utf8CString)
                var comment = Array("//".utf8CString)
                var drop = Array("*.".utf8CString)
                var except = Array("!".utf8CString)
                guard opendmarc_tld_read_file(&file, &comment, &drop, &except) == 0 else {
                    return DMARCSetupError(message: "cannot load the public suffix list '\(path)'")
                }
            }
            current = path
            return nil
        }
        if let failure { throw failure }
    }

    /// The organisational domain of `domain`: the public suffix plus one label (RFC 7489 §3.2).
    public static func organizationalDomain(of domain: String) -> String {
        var name = Array(domain.lowercased().utf8) + [0]
        var buffer = [UInt8](repeating: 0, count: 256)
        let status = name.withUnsafeMutableBufferPointer { name in
            opendmarc_get_tld(name.baseAddress, &buffer, buffer.count)
        }
        let found = String(decoding: buffer.prefix { $0 != 0 }, as: UTF8.self)
        if status == 0 && !found.isEmpty { return found }
        let labels = domain.lowercased().split(separator: ".")
        return labels.suffix(2).joined(separator: ".")
    }

    /// Evaluates `inputs` against `record`; `sample` (0–99) decides `pct=` sampling.
    public static func evaluate(_ inputs: DMARCInputs, record: DMARCRecordAnswer, sample: Int = Int.random(in: 0..<100))
        -> DMARCOutcome
    {
        var outcome = DMARCOutcome(
            result: "none", policy: "", disposition: "none", fromDomain: inputs.fromDomain.lowercased(),
            policyDomain: "", subdomainPolicy: false, dkimAligned: false, spfAligned: false)
        let (text, domain, organizational): (String, String, Bool)
        switch record {
        case .none: return outcome
        case .temporaryFailure:
            outcome.result = "temperror"
            return outcome
        case .found(let found, let at, let isOrganizational):
            (text, domain, organizational) = (found, at, isOrganizational)
        }
        outcome.policyDomain = domain
        let arena = CStringArena()
        let bytes = arena.string
        guard let context = opendmarc_policy_connect_init(bytes(inputs.clientIP), inputs.clientIP.contains(":") ? 1 : 0)
        else {
            outcome.result = "temperror"
            return outcome
        }
        defer { _ = opendmarc_policy_connect_shutdown(context) }
        let from = bytes(outcome.fromDomain)
        guard opendmarc_policy_store_from_domain(context, from) == DMARC_PARSE_OKAY,
            opendmarc_policy_store_dmarc(context, bytes(text), from, organizational ? bytes(domain) : nil)
                == DMARC_PARSE_OKAY
        else {
            // A record that does not parse (no p=, a bad value): RFC 8601's permerror.
            outcome.result = "permerror"
            return outcome
        }
        // Strict alignment means the very same domain (RFC 7489 §3.1). libopendmarc 1.4.2 also
        // accepts a domain whose organisational domain is the From: domain's (fixed upstream
        // after that release), so under strict alignment only identical domains are handed over:
        // an unaligned result cannot change the outcome.
        var adkim: Int32 = 0
        var aspf: Int32 = 0
        _ = opendmarc_policy_fetch_adkim(context, &adkim)
        _ = opendmarc_policy_fetch_aspf(context, &aspf)
        let strict = Int32(UInt8(ascii: "s"))
        func eligible(_ domain: String, mode: Int32) -> Bool {
            mode != strict || domain.lowercased() == outcome.fromDomain
        }
        if !inputs.spfDomain.isEmpty && eligible(inputs.spfDomain, mode: aspf) {
            _ = opendmarc_policy_store_spf(
                context, bytes(inputs.spfDomain), spfOutcome(inputs.spfResult),
                inputs.spfFromHelo ? DMARC_POLICY_SPF_ORIGIN_HELO : DMARC_POLICY_SPF_ORIGIN_MAILFROM, nil)
        }
        for signature in inputs.dkim where !signature.domain.isEmpty && eligible(signature.domain, mode: adkim) {
            _ = opendmarc_policy_store_dkim(
                context, bytes(signature.domain), bytes(signature.selector), dkimOutcome(signature.result), nil)
        }
        let verdict = opendmarc_get_policy_to_enforce(context)
        var dkimAlignment: Int32 = 0
        var spfAlignment: Int32 = 0
        _ = opendmarc_policy_fetch_alignment(context, &dkimAlignment, &spfAlignment)
        outcome.dkimAligned = dkimAlignment == DMARC_POLICY_DKIM_ALIGNMENT_PASS
        outcome.spfAligned = spfAlignment == DMARC_POLICY_SPF_ALIGNMENT_PASS
        var p: Int32 = 0
        var sp: Int32 = 0
        _ = opendmarc_policy_fetch_p(context, &p)
        _ = opendmarc_policy_fetch_sp(context, &sp)
        outcome.subdomainPolicy = organizational && sp != 0
        outcome.policy = policyWord(outcome.subdomainPolicy ? sp : p)
        switch verdict {
        case DMARC_POLICY_PASS:
            outcome.result = "pass"
        case DMARC_POLICY_REJECT, DMARC_POLICY_QUARANTINE, DMARC_POLICY_NONE:
            outcome.result = "fail"
            var disposition =
                verdict == DMARC_POLICY_REJECT ? "reject" : verdict == DMARC_POLICY_QUARANTINE ? "quarantine" : "none"
            var pct: Int32 = 100
            _ = opendmarc_policy_fetch_pct(context, &pct)
            if sample >= Int(pct) {
                // Outside the sample: the next policy down (RFC 7489 §6.6.4).
                disposition = disposition == "reject" ? "quarantine" : "none"
            }
            outcome.disposition = disposition
        default:
            outcome.result = "none"
        }
        return outcome
    }

    private static func spfOutcome(_ result: String) -> Int32 {
        switch result {
        case "pass": return DMARC_POLICY_SPF_OUTCOME_PASS
        case "fail", "softfail": return DMARC_POLICY_SPF_OUTCOME_FAIL
        case "temperror": return DMARC_POLICY_SPF_OUTCOME_TMPFAIL
        default: return DMARC_POLICY_SPF_OUTCOME_NONE
        }
    }

    private static func dkimOutcome(_ result: String) -> Int32 {
        switch result {
        case "pass": return DMARC_POLICY_DKIM_OUTCOME_PASS
        case "temperror": return DMARC_POLICY_DKIM_OUTCOME_TMPFAIL
        case "none": return DMARC_POLICY_DKIM_OUTCOME_NONE
        default: return DMARC_POLICY_DKIM_OUTCOME_FAIL
        }
    }

    private static func policyWord(_ code: Int32) -> String {
        switch code {
        // dmarc.h's DMARC_RECORD_P_* are character constants Swift does not import.
        case Int32(UInt8(ascii: "r")): return "reject"
        case Int32(UInt8(ascii: "q")): return "quarantine"
        case Int32(UInt8(ascii: "n")): return "none"
        default: return ""
        }
    }
}

/// The public suffix list could not be read.
public struct DMARCSetupError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// C strings handed to libopendmarc for one evaluation (it copies what it keeps), freed with it.
private final class CStringArena {
    private var pointers: [UnsafeMutablePointer<UInt8>] = []

    /// `text` as a NUL-terminated string (an embedded NUL ends it).
    func string(_ text: String) -> UnsafeMutablePointer<UInt8> {
        let octets = Array(text.utf8.prefix { $0 != 0 })
        let pointer = UnsafeMutablePointer<UInt8>.allocate(capacity: octets.count + 1)
        pointer.initialize(from: octets, count: octets.count)
        pointer[octets.count] = 0
        pointers.append(pointer)
        return pointer
    }

    deinit { for pointer in pointers { pointer.deallocate() } }
}
