import CLibCrypto
import Foundation
import NIOSSL

/// DANE for SMTP (RFC 7672, RFC 6698): a next hop's certificate checked against the TLSA
/// records DNSSEC vouched for, instead of the web's certificate authorities. DANE-EE (usage 3):
/// the leaf certificate or its public key (selector 0 or 1) matches, in full or by SHA-256 or
/// SHA-512 (matching type 0, 1, 2); names and dates are not checked (RFC 7672 §3.1.1). DANE-TA
/// (usage 2): a certificate of the chain the next hop presents matches (or the record holds the
/// whole anchor certificate), and the chain validates up to it as OpenSSL's libcrypto checks a
/// chain — signatures, dates, CA constraints, server purpose — with the leaf naming the MX host
/// or the next-hop domain (RFC 7672 §3.1.2 and §3.2.2; RFC 6125 names, no partial wildcards).
/// PKIX usages 0 and 1 are unusable for SMTP (RFC 7672 §3.1.3).
public struct DANEVerifier: Sendable, Equatable {
    public struct Record: Sendable, Equatable {
        public var usage: UInt8
        public var selector: UInt8
        public var matchingType: UInt8
        public var data: [UInt8]

        /// A TLSA answer as the resolver writes it: `usage selector matching-type hex`.
        public init?(_ text: String) {
            let fields = text.split(separator: " ")
            guard fields.count == 4, let usage = UInt8(fields[0]), let selector = UInt8(fields[1]),
                let matchingType = UInt8(fields[2]), fields[3].count % 2 == 0
            else { return nil }
            var data: [UInt8] = []
            var index = fields[3].startIndex
            while index < fields[3].endIndex {
                let next = fields[3].index(index, offsetBy: 2)
                guard let byte = UInt8(fields[3][index..<next], radix: 16) else { return nil }
                data.append(byte)
                index = next
            }
            self.init(usage: usage, selector: selector, matchingType: matchingType, data: data)
        }

        public init(usage: UInt8, selector: UInt8, matchingType: UInt8, data: [UInt8]) {
            self.usage = usage
            self.selector = selector
            self.matchingType = matchingType
            self.data = data
        }

        /// DANE-TA or DANE-EE with a known selector and matching type (RFC 7672 §3.1).
        public var isUsable: Bool { (usage == 2 || usage == 3) && selector <= 1 && matchingType <= 2 }
    }

    /// The usable records.
    public var records: [Record]

    public init(records: [Record]) { self.records = records.filter(\.isUsable) }

    /// What the check of a presented chain found.
    public enum Verdict: Sendable, Equatable {
        /// A record matched (and, for DANE-TA, the chain validated up to it).
        case matched
        /// No record matched: why, for the log.
        case failed(String)
    }

    /// Checks the chain the next hop presented (leaf first) against the records; `names` are the
    /// reference identifiers a DANE-TA leaf must carry (the MX host, then the next-hop domain).
    public func verify(_ chain: [NIOSSLCertificate], names: [String]) -> Verdict {
        guard let leaf = chain.first else { return .failed("no certificate presented") }
        var reasons: [String] = []
        for record in records where record.usage == 3 {
            if Self.digest(of: leaf, record) == record.data { return .matched }
        }
        if records.contains(where: { $0.usage == 3 }) { reasons.append("no DANE-EE record matches the certificate") }
        guard let presented = try? chain.map({ try $0.toDERBytes() }) else {
            return .failed("a presented certificate cannot be read")
        }
        for record in records where record.usage == 2 {
            // The anchor: a presented certificate the record names, or the record's own certificate.
            var anchors = chain.indices.filter { Self.digest(of: chain[$0], record) == record.data }.map {
                presented[$0]
            }
            if record.selector == 0, record.matchingType == 0 { anchors.append(record.data) }
            if anchors.isEmpty { reasons.append("no DANE-TA record names a certificate of the chain") }
            for anchor in anchors {
                let code = Self.validate(presented, anchor: anchor, names: names)
                if code == 0 { return .matched }
                reasons.append("DANE-TA: \(String(cString: impulse_verify_error_text(code)))")
            }
        }
        return .failed(reasons.isEmpty ? "no usable TLSA record" : Self.unique(reasons).joined(separator: "; "))
    }

    /// OpenSSL's verification of `chain` up to `anchor` with `names`: 0, or its error code.
    static func validate(_ chain: [[UInt8]], anchor: [UInt8], names: [String]) -> Int32 {
        let buffers = chain.map { bytes -> UnsafeMutableBufferPointer<UInt8> in
            let buffer = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: max(bytes.count, 1))
            _ = buffer.initialize(from: bytes)
            return buffer
        }
        let cNames = names.map { strdup($0) }
        defer {
            for buffer in buffers { buffer.deallocate() }
            for name in cNames { free(name) }
        }
        var pointers = buffers.map { UnsafePointer($0.baseAddress) }
        var lengths = chain.map(\.count)
        var namePointers = cNames.map { UnsafePointer($0) }
        return anchor.withUnsafeBufferPointer { anchorBytes in
            impulse_verify_dane_ta(
                &pointers, &lengths, Int32(chain.count), anchorBytes.baseAddress, anchorBytes.count, &namePointers,
                Int32(names.count))
        }
    }

    private static func unique(_ reasons: [String]) -> [String] {
        var seen: Set<String> = []
        return reasons.filter { seen.insert($0).inserted }
    }

    /// The certificate's selected part, digested as the record says (nil when it cannot be read).
    static func digest(of certificate: NIOSSLCertificate, _ record: Record) -> [UInt8]? {
        guard
            let selected = try?
                (record.selector == 0
                ? certificate.toDERBytes() : certificate.extractPublicKey().toSPKIBytes())
        else { return nil }
        switch record.matchingType {
        case 0: return selected
        case 1:
            var out = [UInt8](repeating: 0, count: Int(SHA256_DIGEST_LENGTH))
            _ = selected.withUnsafeBufferPointer { SHA256($0.baseAddress, $0.count, &out) }
            return out
        default:
            var out = [UInt8](repeating: 0, count: Int(SHA512_DIGEST_LENGTH))
            _ = selected.withUnsafeBufferPointer { SHA512($0.baseAddress, $0.count, &out) }
            return out
        }
    }
}
