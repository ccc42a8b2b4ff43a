import CUnbound
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// DNS record types Impulse looks up (RFC 1035 §3.2.2, RFC 3596).
public enum DNSRecordType: String, Sendable, CaseIterable {
    case a = "A", aaaa = "AAAA", mx = "MX", txt = "TXT", ptr = "PTR", ns = "NS"

    var code: Int32 {
        switch self {
        case .a: return 1
        case .ns: return 2
        case .ptr: return 12
        case .mx: return 15
        case .txt: return 16
        case .aaaa: return 28
        }
    }
}

/// One answer: MX answers carry their preference.
public struct DNSRecord: Sendable, Equatable {
    public var value: String
    public var preference: Int?
}

/// Why a lookup found nothing, as Momentum's msys.dnsLookup reports it.
public enum DNSLookupError: Error, Sendable, Equatable, CustomStringConvertible {
    case nxdomain
    case noData
    case serverFailure(String)
    case badAnswer(String)

    public var description: String {
        switch self {
        case .nxdomain: return "NXDOMAIN"
        case .noData: return "NODATA"
        case .serverFailure(let reason): return "SERVFAIL: \(reason)"
        case .badAnswer(let reason): return "bad answer: \(reason)"
        }
    }
}

/// A stub resolver on libunbound (<https://nlnetlabs.nl/documentation/unbound/libunbound/>):
/// questions go to the configured name servers (`ip` or `ip@port`) or those of a resolv.conf.
/// `lookup` blocks: call it from a thread pool, never from an event loop. libunbound allows
/// blocking lookups from several threads on one context.
public final class DNSResolver: @unchecked Sendable {
    let context: OpaquePointer

    public struct SetupError: Error, CustomStringConvertible {
        public var description: String
    }

    public init(nameservers: [String], resolvConf: String?) throws {
        guard let context = ub_ctx_create() else { throw SetupError(description: "cannot create a libunbound context") }
        self.context = context
        if nameservers.isEmpty {
            let status = ub_ctx_resolvconf(context, resolvConf)
            if status != 0 {
                throw SetupError(
                    description:
                        "resolv.conf \(resolvConf ?? "/etc/resolv.conf"): \(String(cString: ub_strerror(status)))")
            }
        } else {
            for server in nameservers {
                let status = ub_ctx_set_fwd(context, server)
                if status != 0 {
                    throw SetupError(description: "name server '\(server)': \(String(cString: ub_strerror(status)))")
                }
            }
        }
    }

    deinit { ub_ctx_delete(context) }

    /// Looks `name` up. For PTR an IPv4 or IPv6 address is turned into its reverse name.
    public func lookup(_ name: String, type: DNSRecordType) -> Result<[DNSRecord], DNSLookupError> {
        let question = type == .ptr ? Self.reverseName(name) ?? name : name
        var result: UnsafeMutablePointer<ub_result>?
        let status = ub_resolve(context, question, type.code, 1 /* IN */, &result)
        guard status == 0, let answer = result?.pointee else {
            return .failure(.serverFailure(String(cString: ub_strerror(status))))
        }
        defer { ub_resolve_free(result) }
        if answer.havedata == 0 {
            if answer.nxdomain != 0 { return .failure(.nxdomain) }
            if answer.rcode != 0 { return .failure(.serverFailure("rcode \(answer.rcode)")) }
            return .failure(.noData)
        }
        var records: [DNSRecord] = []
        var index = 0
        while let item = answer.data[index] {
            let bytes = UnsafeRawBufferPointer(start: item, count: Int(answer.len[index]))
            guard let record = Self.parse(Array(bytes), type: type) else {
                return .failure(.badAnswer("malformed \(type.rawValue) record"))
            }
            records.append(record)
            index += 1
        }
        if type == .mx { records.sort { ($0.preference ?? 0, $0.value) < ($1.preference ?? 0, $1.value) } }
        return .success(records)
    }

    static func parse(_ rdata: [UInt8], type: DNSRecordType) -> DNSRecord? {
        switch type {
        case .a:
            guard rdata.count == 4 else { return nil }
            return DNSRecord(value: rdata.map(String.init).joined(separator: "."))
        case .aaaa:
            guard rdata.count == 16 else { return nil }
            var address = in6_addr()
            withUnsafeMutableBytes(of: &address) { $0.copyBytes(from: rdata) }
            var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            guard inet_ntop(AF_INET6, &address, &text, socklen_t(text.count)) != nil else { return nil }
            return DNSRecord(
                value: String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        case .mx:
            guard rdata.count >= 3, let name = domainName(rdata, from: 2) else { return nil }
            return DNSRecord(value: name, preference: Int(rdata[0]) << 8 | Int(rdata[1]))
        case .ptr, .ns:
            return domainName(rdata, from: 0).map { DNSRecord(value: $0) }
        case .txt:
            // One or more <length><text> strings, joined (RFC 7208 §3.3 does the same).
            var text: [UInt8] = []
            var index = 0
            while index < rdata.count {
                let length = Int(rdata[index])
                guard index + 1 + length <= rdata.count else { return nil }
                text += rdata[(index + 1)..<(index + 1 + length)]
                index += 1 + length
            }
            return DNSRecord(value: String(decoding: text, as: UTF8.self))
        }
    }

    /// An uncompressed wire-format name (libunbound hands rdata out uncompressed), without the
    /// final dot.
    static func domainName(_ bytes: [UInt8], from start: Int) -> String? {
        var labels: [String] = []
        var index = start
        while index < bytes.count {
            let length = Int(bytes[index])
            if length == 0 { return labels.isEmpty ? "." : labels.joined(separator: ".") }
            guard length < 64, index + 1 + length <= bytes.count else { return nil }
            labels.append(String(decoding: bytes[(index + 1)..<(index + 1 + length)], as: UTF8.self))
            index += 1 + length
        }
        return nil
    }

    /// `192.0.2.10` → `10.2.0.192.in-addr.arpa`; IPv6 → nibbles under `ip6.arpa`.
    static func reverseName(_ address: String) -> String? {
        var v4 = in_addr()
        if inet_pton(AF_INET, address, &v4) == 1 {
            return address.split(separator: ".").reversed().joined(separator: ".") + ".in-addr.arpa"
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, address, &v6) == 1 {
            let bytes = withUnsafeBytes(of: &v6) { Array($0) }
            let hex = Array("0123456789abcdef")
            return bytes.reversed().flatMap { [String(hex[Int($0 & 0xF)]), String(hex[Int($0 >> 4)])] }.joined(
                separator: ".") + ".ip6.arpa"
        }
        return nil
    }
}
