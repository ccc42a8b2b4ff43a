/// DKIM's canonicalization algorithms (RFC 6376 §3.4), for DKIM signing and the ARC message
/// signature and seal (RFC 8617 §4.1.2, §5.1.1): libopendkim canonicalizes only inside its own
/// signing and verifying, exports no way to apply it to ARC's header fields and cannot sign with
/// a key decoded once, so Impulse does it here (docs/dkim.md, "Why signing is Impulse's own").
enum MessageCanonicalizer {
    /// One header field (name, colon, value with any folding; without its final CRLF) as it is
    /// hashed, with a CRLF after it unless `lineEnd` is false (the signature's own field).
    static func header(_ field: ArraySlice<UInt8>, _ mode: DKIMCanonicalization, lineEnd: Bool = true) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(field.count + 2)
        switch mode {
        case .simple:
            out += field
        case .relaxed:
            // Name: lower case, no white space before the colon. Value: unfolded, each run of
            // white space one space, none at either end.
            let colon = field.firstIndex(of: UInt8(ascii: ":")) ?? field.endIndex
            for octet in field[field.startIndex..<colon] where octet != 32 && octet != 9 {
                out.append(octet >= 65 && octet <= 90 ? octet + 32 : octet)
            }
            out.append(UInt8(ascii: ":"))
            var pendingSpace = false
            var started = false
            if colon < field.endIndex {
                for octet in field[(colon + 1)...] {
                    switch octet {
                    case 13, 10: continue
                    case 32, 9: pendingSpace = started
                    default:
                        if pendingSpace { out.append(32) }
                        pendingSpace = false
                        started = true
                        out.append(octet)
                    }
                }
            }
        }
        if lineEnd { out += [13, 10] }
        return out
    }

    /// The body as it is hashed: lines end in CRLF, trailing empty lines go; relaxed also turns
    /// each run of white space into one space and drops it at line ends. `limit` (the l= tag)
    /// keeps only that many canonical octets.
    static func body(_ body: ArraySlice<UInt8>, _ mode: DKIMCanonicalization) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(body.count + 2)
        var emptyLines = 0
        var index = body.startIndex
        while index < body.endIndex {
            var end = index
            while end < body.endIndex && body[end] != 10 { end += 1 }
            var line = body[index..<end]
            if line.last == 13 { line = line.dropLast() }
            index = end < body.endIndex ? end + 1 : end
            var canonical: [UInt8] = []
            switch mode {
            case .simple:
                canonical = Array(line)
            case .relaxed:
                var pendingSpace = false
                for octet in line {
                    if octet == 32 || octet == 9 {
                        pendingSpace = true
                    } else {
                        if pendingSpace { canonical.append(32) }
                        pendingSpace = false
                        canonical.append(octet)
                    }
                }
            }
            if canonical.isEmpty {
                emptyLines += 1
                continue
            }
            for _ in 0..<emptyLines { out += [13, 10] }
            emptyLines = 0
            out += canonical
            out += [13, 10]
        }
        // An empty body is one CRLF under simple, nothing under relaxed (RFC 6376 §3.4.3, §3.4.4).
        if out.isEmpty && mode == .simple { out = [13, 10] }
        return out
    }

    /// The octets a DKIM signature signs (RFC 6376 §3.7; an ARC-Message-Signature too, RFC 8617
    /// §4.1.2): the fields named in `signedNames`, each name taking the last field of that name
    /// not yet taken (a name with none left adds nothing), then the signature's own field with an
    /// empty b= and no CRLF.
    static func signedHeaders(
        fields: [RawHeaderField], signedNames: [String], signatureField: ArraySlice<UInt8>,
        mode: DKIMCanonicalization
    ) -> [UInt8] {
        var input: [UInt8] = []
        var taken: [String: Int] = [:]
        var byName: [String: [Int]] = [:]
        for index in fields.indices { byName[fields[index].name, default: []].append(index) }
        for name in signedNames {
            let wanted = name.lowercased()
            let candidates = byName[wanted] ?? []
            let used = taken[wanted, default: 0]
            guard used < candidates.count else { continue }
            taken[wanted] = used + 1
            input += header(fields[candidates[candidates.count - 1 - used]].octets, mode)
        }
        input += header(SignatureTagList.removingSignature(signatureField), mode, lineEnd: false)
        return input
    }
}
