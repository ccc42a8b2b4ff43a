import Foundation
import ImpulseConfig
import Resolver

/// Where mail for a domain goes: the `gateway` when one is set, else the `routes` list, else the
/// domain's MX records (RFC 5321 §5.1) in preference order (equal preferences shuffled), falling
/// back to the domain's own address when it has no MX. A null MX (RFC 7505) or a domain that
/// does not exist is a permanent failure; a DNS server failure is temporary. `lookup` blocks
/// (libunbound): run it off the event loops.
public struct NextHopResolver: Sendable {
    /// One address to try, with the host name it came from (for logs and the DSN's Remote-MTA).
    public struct Candidate: Sendable, Equatable {
        public var host: String
        public var address: String
        public var port: Int
        /// DNSSEC validated the MX record and the address (what DANE needs, RFC 7672 §2.2).
        public var secure = false
    }

    public enum Failure: Error, Sendable, Equatable {
        case temporary(String)
        case permanent(String)
    }

    let resolver: DNSResolver?

    public init(resolver: DNSResolver?) { self.resolver = resolver }

    /// The addresses to try for `domain`, best first (at most `DeliveryLimits.maxAddressesPerAttempt`).
    public func candidates(for domain: String, options: ResolvedOutboundOptions) -> Result<[Candidate], Failure> {
        allCandidates(for: domain, options: options).map { Array($0.prefix(DeliveryLimits.maxAddressesPerAttempt)) }
    }

    func allCandidates(for domain: String, options: ResolvedOutboundOptions) -> Result<[Candidate], Failure> {
        if let gateway = options.gateway {
            return addresses(of: gateway.host, port: gateway.port ?? options.deliveryPort)
        }
        if let routes = options.routes, !routes.isEmpty {
            var result: [Candidate] = []
            var lastFailure: Failure?
            for hop in routes {
                let found =
                    hop.isMX
                    ? mxCandidates(domain, port: options.deliveryPort)
                    : addresses(of: hop.host, port: hop.port ?? options.deliveryPort)
                switch found {
                case .success(let list): result += list
                case .failure(let failure): lastFailure = failure
                }
            }
            if result.isEmpty { return .failure(lastFailure ?? .temporary("no route to \(domain)")) }
            return .success(result)
        }
        return mxCandidates(domain, port: options.deliveryPort)
    }

    /// The names of the hosts mail for `domain` goes to, best first, without their addresses:
    /// the gateway, the route hosts (a `__mx__` route's MX hosts), or the MX hosts (the domain
    /// itself without MX). What `host` scopes are matched against. Empty when DNS fails.
    public func hostNames(for domain: String, options: ResolvedOutboundOptions) -> [String] {
        if let gateway = options.gateway { return [gateway.host.lowercased()] }
        var hops = [NextHop(host: "__mx__", port: nil)]
        if let routes = options.routes, !routes.isEmpty { hops = routes }
        var names: [String] = []
        for hop in hops {
            guard hop.isMX else {
                names.append(hop.host.lowercased())
                continue
            }
            if Self.addressLiteral(domain) != nil {
                names.append(domain.lowercased())
                continue
            }
            switch resolver?.lookup(domain, type: .mx) {
            case .success(let records):
                let sorted = records.filter { $0.value != "." && !$0.value.isEmpty }
                    .sorted { ($0.preference ?? 0) < ($1.preference ?? 0) }.prefix(DeliveryLimits.maxMXHosts)
                names += sorted.map { ($0.value.hasSuffix(".") ? String($0.value.dropLast()) : $0.value).lowercased() }
            case .failure(.noData): names.append(domain.lowercased())
            default: break
            }
        }
        return names
    }

    /// MX hosts in preference order, each host's addresses in turn; the domain itself when it
    /// has no MX (RFC 5321 §5.1 implicit MX).
    func mxCandidates(_ domain: String, port: Int) -> Result<[Candidate], Failure> {
        if let literal = Self.addressLiteral(domain) {
            return .success([Candidate(host: domain, address: literal, port: port)])
        }
        guard let resolver else { return .failure(.temporary("451 4.4.3 DNS resolver not available")) }
        switch resolver.lookup(domain, type: .mx) {
        case .failure(.nxdomain):
            return .failure(.permanent("550 5.1.2 domain \(domain) does not exist (NXDOMAIN)"))
        case .failure(.noData):
            return addresses(of: domain, port: port)
        case .failure(let error):
            return .failure(.temporary("451 4.4.3 MX lookup for \(domain) failed: \(error)"))
        case .success(let records):
            if records.count == 1, records[0].value == "." || records[0].value.isEmpty {
                return .failure(.permanent("556 5.1.10 \(domain) accepts no mail (null MX, RFC 7505)"))
            }
            let byPreference = Dictionary(grouping: records.filter { $0.value != "." }) { $0.preference ?? 0 }
            var result: [Candidate] = []
            var lastFailure: Failure = .temporary("451 4.4.4 no usable MX host for \(domain)")
            let hosts = byPreference.keys.sorted().flatMap { byPreference[$0, default: []].shuffled() }.prefix(
                DeliveryLimits.maxMXHosts)
            for record in hosts where result.count < DeliveryLimits.maxAddressesPerAttempt {
                let host = record.value.hasSuffix(".") ? String(record.value.dropLast()) : record.value
                switch addresses(of: host, port: port) {
                case .success(let list):
                    result += list.map {
                        var candidate = $0
                        candidate.secure = record.secure && $0.secure
                        return candidate
                    }
                case .failure(let failure):
                    // One MX host without an address does not fail the domain.
                    if case .permanent(let text) = failure {
                        lastFailure = .temporary(text)
                    } else {
                        lastFailure = failure
                    }
                }
            }
            return result.isEmpty ? .failure(lastFailure) : .success(result)
        }
    }

    /// A host's IPv4 addresses (IPv6 when it has none), or the literal itself.
    func addresses(of host: String, port: Int) -> Result<[Candidate], Failure> {
        if host.hasPrefix("/") { return .success([Candidate(host: host, address: host, port: 0)]) }
        if let literal = Self.addressLiteral(host) {
            return .success([Candidate(host: host, address: literal, port: port)])
        }
        guard let resolver else { return .failure(.temporary("451 4.4.3 DNS resolver not available")) }
        var failure: Failure = .temporary("451 4.4.4 \(host) has no address")
        for type in [DNSRecordType.a, .aaaa] {
            switch resolver.lookup(host, type: type) {
            case .success(let records) where !records.isEmpty:
                return .success(records.map { Candidate(host: host, address: $0.value, port: port, secure: $0.secure) })
            case .success, .failure(.noData):
                continue
            case .failure(.nxdomain):
                return .failure(.permanent("550 5.1.2 host \(host) does not exist (NXDOMAIN)"))
            case .failure(let error):
                failure = .temporary("451 4.4.3 address lookup for \(host) failed: \(error)")
            }
        }
        return .failure(failure)
    }

    /// `1.2.3.4`, `::1`, `[1.2.3.4]`, `[IPv6:::1]` → the address.
    static func addressLiteral(_ text: String) -> String? {
        var body = text
        if body.hasPrefix("[") && body.hasSuffix("]") { body = String(body.dropFirst().dropLast()) }
        if body.lowercased().hasPrefix("ipv6:") { body = String(body.dropFirst(5)) }
        return IPAddress(body) != nil ? body : nil
    }
}
