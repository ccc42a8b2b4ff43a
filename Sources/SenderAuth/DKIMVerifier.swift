import DKIMShim
import Foundation

/// What a key look-up for verification found: the TXT record at `selector._domainkey.domain`.
public enum DKIMKeyRecord: Sendable, Equatable {
    case found(String)
    /// NXDOMAIN or no TXT record: the signature cannot verify (permanent).
    case notFound
    /// The look-up failed for now (SERVFAIL, time-out): a temporary error.
    case temporaryFailure
}

/// One DKIM-Signature's outcome.
public struct DKIMSignatureResult: Sendable, Equatable {
    public var domain: String
    public var selector: String
    /// `i=` (or `@d` when absent, as RFC 6376 §3.5 defaults it).
    public var identity: String
    /// `a=`.
    public var algorithm: String
    public var headerCanonicalization: DKIMCanonicalization
    public var bodyCanonicalization: DKIMCanonicalization
    /// libopendkim's DKIM_SIGFLAG_* bits (Momentum's get_sig_flags).
    public var flags: UInt32
    /// libopendkim's DKIM_SIGERROR_* code and its text (get_sig_errorstr).
    public var errorCode: Int32
    public var errorText: String
    /// The public key's size in bits (0 when no key was found).
    public var keyBits: Int
    /// Signature and body hash both verified.
    public var passed: Bool
    /// The signed header field names (`h=`), as written.
    public var signedHeaders: [String]
    /// Not checked: past the bound on signatures per message.
    public var ignored: Bool
    /// The key look-up failed for now.
    public var keyTemporaryFailure: Bool

    /// The RFC 8601 §2.7.1 result for this signature.
    public var result: String {
        if passed { return "pass" }
        if ignored { return "neutral" }
        if keyTemporaryFailure { return "temperror" }
        // Errors in the signature's own syntax or its key record are permanent errors; a
        // signature that is well formed but does not match is a failure.
        switch errorCode {
        case 28, 33: return "fail" // BADSIG, TOOLARGE_L
        case -1, 0: return flags & 0x02 != 0 ? "fail" : "neutral"
        default: return "permerror"
        }
    }
}

/// The outcome of verifying a message's DKIM signatures.
public struct DKIMVerification: Sendable, Equatable {
    /// libopendkim's overall DKIM_STAT (Momentum's DKIM_STAT values: 0 OK, 1 BADSIG, 2 NOSIG …).
    public var status: Int32
    public var statusText: String
    public var signatures: [DKIMSignatureResult]

    public init(status: Int32, statusText: String, signatures: [DKIMSignatureResult]) {
        self.status = status
        self.statusText = statusText
        self.signatures = signatures
    }

    /// True when libopendkim found a DKIM-Signature field it could not parse into a signature
    /// (DKIM_STAT_SYNTAX with none to report).
    public var malformed: Bool { signatures.isEmpty && status == 5 }

    /// The message's one DKIM word (the `dkim_status` context key): the first passing
    /// signature's result, else the first signature's, else permerror for a malformed
    /// signature and none for an unsigned message.
    public var summary: String {
        signatures.first(where: \.passed)?.result ?? signatures.first?.result ?? (malformed ? "permerror" : "none")
    }
}

/// Verifies DKIM signatures (RFC 6376 §6) with libopendkim, keys from `keyLookup`.
public enum DKIMVerifier {
    /// Checks at most `maxSignatures` signatures of `message` (header section, empty line, body,
    /// CRLF line ends); the others are reported as not checked. `keyLookup` is called for each
    /// key, on this thread: it may block (the caller runs verification off the event loops).
    public static func verify(
        _ message: [UInt8], maxSignatures: Int = SenderAuthLimits.maxSignaturesChecked,
        library: DKIMLibrary, keyLookup: (String) -> DKIMKeyRecord
    ) -> DKIMVerification {
        let capacity = SenderAuthLimits.maxSignaturesReported
        var results = [impulse_dkim_signature](repeating: impulse_dkim_signature(), count: capacity)
        var count = 0
        var error = [CChar](repeating: 0, count: 512)
        let status = withoutActuallyEscaping(keyLookup) { lookup in
            var box = LookupBox(lookup: lookup)
            return withUnsafeMutablePointer(to: &box) { context in
                message.withUnsafeBufferPointer { bytes in
                    impulse_dkim_verify(
                        library.handle, bytes.baseAddress, bytes.count,
                        { context, name, buffer, capacity in
                            guard let context, let name, let buffer else { return 2 }
                            let box = context.assumingMemoryBound(to: LookupBox.self)
                            switch box.pointee.lookup(String(cString: name)) {
                            case .found(let record):
                                let bytes = Array(record.utf8)
                                guard bytes.count < capacity else { return 1 }
                                bytes.withUnsafeBufferPointer { source in
                                    UnsafeMutableRawPointer(buffer).copyMemory(
                                        from: source.baseAddress!, byteCount: bytes.count)
                                }
                                buffer[bytes.count] = 0
                                return 0
                            case .notFound: return 1
                            case .temporaryFailure: return 2
                            }
                        }, context, maxSignatures, &results, capacity, &count, &error, error.count)
                }
            }
        }
        let signatures = results.prefix(count).map(DKIMSignatureResult.init)
        return DKIMVerification(
            status: status, statusText: String(cString: impulse_dkim_status_text(status)), signatures: signatures)
    }

    private struct LookupBox {
        var lookup: (String) -> DKIMKeyRecord
    }
}

extension DKIMSignatureResult {
    init(_ raw: impulse_dkim_signature) {
        func text<T>(_ field: T) -> String {
            withUnsafeBytes(of: field) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        }
        domain = text(raw.domain)
        selector = text(raw.selector)
        let identity = text(raw.identity)
        self.identity = identity.isEmpty ? "@" + domain : identity
        algorithm = text(raw.algorithm)
        headerCanonicalization = raw.relaxed_header != 0 ? .relaxed : .simple
        bodyCanonicalization = raw.relaxed_body != 0 ? .relaxed : .simple
        flags = raw.flags
        errorCode = raw.error
        errorText = text(raw.error_text)
        signedHeaders = text(raw.headers).split(separator: ":").map {
            $0.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        keyBits = Int(raw.key_bits)
        passed = raw.passed != 0
        ignored = raw.ignored != 0
        keyTemporaryFailure = raw.key_failure != 0
    }
}
