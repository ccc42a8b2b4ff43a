import Foundation
import NIOCore
import Resolver
import SMTPProtocol

/// The DMARC record that governs a From: domain (RFC 7489 §6.6.3): the TXT record at
/// `_dmarc.<From domain>` that starts with `v=DMARC1`, else the one at the organisational
/// domain's `_dmarc`; exactly one, or there is no policy.
public enum DMARCRecordAnswer: Sendable, Equatable {
    /// The record and the domain it was found at; `organizational` when that is the
    /// organisational domain rather than the From: domain (then its `sp=` applies).
    case found(record: String, domain: String, organizational: Bool)
    case none
    /// A look-up failed for a reason that may pass (RFC 7489 §6.6.3: temperror).
    case temporaryFailure

    /// Looks the record for `fromDomain` up through the resolver without blocking: at most two
    /// TXT look-ups.
    public static func find(fromDomain: String, resolver: DNSResolver?, on loop: EventLoop)
        -> EventLoopFuture<DMARCRecordAnswer>
    {
        guard let resolver else { return loop.makeSucceededFuture(.temporaryFailure) }
        let domain = fromDomain.lowercased()
        let organizational = DMARCEvaluator.organizationalDomain(of: domain)
        return lookup(domain, resolver: resolver, on: loop).flatMap { first in
            switch first {
            case .none where organizational != domain:
                return lookup(organizational, resolver: resolver, on: loop).map { second in
                    if case .found(let record, let at, _) = second {
                        return .found(record: record, domain: at, organizational: true)
                    }
                    return second
                }
            default:
                return loop.makeSucceededFuture(first)
            }
        }
    }

    private static func lookup(_ domain: String, resolver: DNSResolver, on loop: EventLoop)
        -> EventLoopFuture<DMARCRecordAnswer>
    {
        let promise = loop.makePromise(of: DMARCRecordAnswer.self)
        resolver.lookup("_dmarc." + domain, type: .txt) { answer in
            promise.succeed(Self(answer, domain: domain))
        }
        return promise.futureResult
    }

    /// A TXT answer at `_dmarc.<domain>`: records not starting with `v=DMARC1` are ignored; more
    /// than one DMARC record means none (RFC 7489 §6.6.3 step 4).
    init(_ answer: Result<[DNSRecord], DNSLookupError>, domain: String) {
        switch answer {
        case .success(let records):
            let dmarc = records.map(\.value).filter { record in
                let next = record.dropFirst(8).first
                return record.prefix(8).lowercased() == "v=dmarc1"
                    && (next == nil || next == ";" || next == " " || next == "\t")
            }
            self = dmarc.count == 1 ? .found(record: dmarc[0], domain: domain, organizational: false) : .none
        case .failure(.nxdomain), .failure(.noData): self = .none
        case .failure: self = .temporaryFailure
        }
    }
}

extension DMARCEvaluator {
    /// The RFC 5322.From domain DMARC is about (RFC 7489 §6.6.1), or nil when the message has no
    /// From: field, several, or one with several addresses or none with a domain.
    public static func fromDomain(message: [UInt8]) -> String? {
        let fields = HeaderFieldReader(message).values(of: "from")
        guard fields.count == 1 else { return nil }
        var value = Substring(withoutComments(fields[0]))
        // Display names may hold anything; the address is in <> when there are any.
        if let open = value.lastIndex(of: "<"), let close = value[open...].firstIndex(of: ">") {
            value = value[value.index(after: open)..<close]
        } else if value.contains(",") {
            return nil
        }
        guard let at = value.lastIndex(of: "@") else { return nil }
        let domain = value[value.index(after: at)...].trimmingCharacters(in: .whitespaces)
            .trimmingCharacters(in: CharacterSet(charactersIn: ".")).lowercased()
        guard !domain.isEmpty, domain.count <= 253,
            domain.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "." })
        else { return nil }
        return domain
    }

    /// `value` without RFC 5322 comments (parenthesised, possibly nested; not inside quotes).
    private static func withoutComments(_ value: String) -> String {
        var kept = ""
        var depth = 0
        var quoted = false
        var escaped = false
        for character in value {
            if escaped {
                escaped = false
                if depth == 0 { kept.append(character) }
                continue
            }
            switch character {
            case "\\":
                escaped = true
                if depth == 0 { kept.append(character) }
            case "\"" where depth == 0:
                quoted.toggle()
                kept.append(character)
            case "(" where !quoted:
                depth += 1
            case ")" where !quoted && depth > 0:
                depth -= 1
            default:
                if depth == 0 { kept.append(character) }
            }
        }
        return kept
    }
}
