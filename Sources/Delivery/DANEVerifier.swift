import CLibCrypto
import NIOSSL

/// DANE for SMTP (RFC 7672, RFC 6698): a next hop's certificate checked against the TLSA
/// records DNSSEC vouched for, instead of the web's certificate authorities. DANE-EE (usage 3):
/// the leaf certificate or its public key (selector 0 or 1) matches, in full or by SHA-256 or
/// SHA-512 (matching type 0, 1, 2); names and dates are not checked (RFC 7672 §3.1.1). DANE-TA
/// (usage 2): a certificate of the chain the next hop presents matches. PKIX usages 0 and 1 are
/// unusable for SMTP (RFC 7672 §3.1.3).
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

    /// Whether the chain the next hop presented (leaf first) matches a record.
    public func matches(_ chain: [NIOSSLCertificate]) -> Bool {
        guard let leaf = chain.first else { return false }
        for record in records {
            let candidates = record.usage == 3 ? [leaf] : chain
            for certificate in candidates where Self.digest(of: certificate, record) == record.data {
                return true
            }
        }
        return false
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
