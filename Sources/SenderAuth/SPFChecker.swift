import Foundation
import Resolver
import SPFShim

/// An SPF result (RFC 7208 §2.6), as Received-SPF, Authentication-Results and Momentum's
/// `spf_status` name it.
public struct SPFResult: Sendable, Equatable {
    /// pass, fail, softfail, neutral, none, temperror or permerror.
    public var result: String
    /// The Received-SPF field (RFC 7208 §9.1), name included, without the line end; empty after
    /// a permerror for the look-up limits.
    public var receivedSPF: String
    public var comment: String
    /// DNS look-ups the check made, and the void ones among them.
    public var lookups: Int
    public var voidLookups: Int

    /// A check that could not run (the request was invalid): a temporary error, no field.
    public static let unavailable = SPFResult(
        result: "temperror", receivedSPF: "", comment: "the check could not run", lookups: 0, voidLookups: 0)
}

/// What an SPF DNS look-up found.
public enum SPFLookupAnswer: Sendable, Equatable {
    case records([String])
    case nxdomain
    case noRecord
    case temporaryFailure
}

/// check_host() (RFC 7208 §4) with libspf2, every DNS look-up answered by `lookup` on this thread
/// (it may block: run checks off the event loops).
public enum SPFChecker {
    /// Checks `sender` (a mailbox, or "postmaster@" + the HELO name for the HELO identity) sent
    /// from `ip` with `helo`; `receiver` names this host in the Received-SPF field.
    public static func check(
        ip: String, sender: String, helo: String, receiver: String,
        maxLookups: Int = SenderAuthLimits.maxSPFLookups, maxVoidLookups: Int = SenderAuthLimits.maxSPFVoidLookups,
        lookup: (String, DNSRecordType) -> SPFLookupAnswer
    ) -> SPFResult? {
        var raw = impulse_spf_result()
        let status = withoutActuallyEscaping(lookup) { lookup in
            var box = LookupBox(lookup: lookup)
            return withUnsafeMutablePointer(to: &box) { context in
                impulse_spf_check(
                    ip, sender, helo, receiver,
                    { context, name, type, buffer, capacity, count in
                        guard let context, let name, let buffer, let count else { return 3 }
                        let box = context.assumingMemoryBound(to: LookupBox.self)
                        guard let recordType = DNSRecordType.allCases.first(where: { Int32($0.code) == type }) else {
                            return 2
                        }
                        switch box.pointee.lookup(String(cString: name), recordType) {
                        case .records(let records):
                            var offset = 0
                            var written: Int32 = 0
                            for record in records {
                                let bytes = Array(record.utf8) + [0]
                                guard offset + bytes.count <= capacity else { break }
                                for (index, byte) in bytes.enumerated() {
                                    buffer[offset + index] = CChar(bitPattern: byte)
                                }
                                offset += bytes.count
                                written += 1
                            }
                            count.pointee = written
                            return written > 0 ? 0 : 2
                        case .nxdomain: return 1
                        case .noRecord: return 2
                        case .temporaryFailure: return 3
                        }
                    }, context, Int32(maxLookups), Int32(maxVoidLookups), &raw)
            }
        }
        guard status == 0 else { return nil }
        func text<T>(_ field: T) -> String {
            withUnsafeBytes(of: field) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        }
        return SPFResult(
            result: text(raw.result_text), receivedSPF: text(raw.received_spf), comment: text(raw.comment),
            lookups: Int(raw.lookups), voidLookups: Int(raw.void_lookups))
    }

    /// The same, with look-ups through Impulse's resolver (waiting for each: a thread that may
    /// block); look-ups past `SenderAuthLimits.spfCheckTime` fail for now (temperror).
    public static func check(ip: String, sender: String, helo: String, receiver: String, resolver: DNSResolver?)
        -> SPFResult?
    {
        let deadline = Date().addingTimeInterval(SenderAuthLimits.spfCheckTime)
        return check(ip: ip, sender: sender, helo: helo, receiver: receiver) { name, type in
            // Each look-up is bounded by the resolver's time-out; the check as a whole by this.
            guard let resolver, Date() < deadline else { return .temporaryFailure }
            return SPFLookupAnswer(resolver.lookup(name, type: type))
        }
    }

    private struct LookupBox {
        var lookup: (String, DNSRecordType) -> SPFLookupAnswer
    }
}

/// An SPF check made for a message, as reported in Authentication-Results and used by DMARC:
/// the identity checked (the MAIL FROM address, or the HELO name for a null sender) and its domain.
public struct SPFReport: Sendable, Equatable {
    public var result: SPFResult
    public var identity: String
    public var domain: String
    public var fromHelo: Bool

    public init(result: SPFResult, identity: String, domain: String, fromHelo: Bool) {
        self.result = result
        self.identity = identity
        self.domain = domain
        self.fromHelo = fromHelo
    }
}
