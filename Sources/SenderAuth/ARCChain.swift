/// The ARC sets of a message (RFC 8617 §4.1): for each instance `i=`, one
/// ARC-Authentication-Results, one ARC-Message-Signature and one ARC-Seal field.
struct ARCChain {
    struct Set {
        var results: RawHeaderField
        var signature: RawHeaderField
        var seal: RawHeaderField
        var signatureTags: SignatureTagList
        var sealTags: SignatureTagList
    }

    /// Instance 1 first.
    var sets: [Set]

    /// What reading the chain found.
    enum Reading {
        /// No ARC field at all.
        case none
        case chain(ARCChain)
        /// Fields that do not make a chain (RFC 8617 §5.2 step 2): the reason.
        case broken(String)
    }

    /// Reads the ARC fields of `fields`. At most `SenderAuthLimits.maxARCInstances` sets.
    static func read(_ fields: [RawHeaderField]) -> Reading {
        var results: [Int: RawHeaderField] = [:]
        var signatures: [Int: (RawHeaderField, SignatureTagList)] = [:]
        var seals: [Int: (RawHeaderField, SignatureTagList)] = [:]
        var count = 0
        for field in fields {
            switch field.name {
            case "arc-authentication-results":
                // `i=N;` comes first, before the authserv-id (RFC 8617 §4.1.1).
                let value = String(decoding: field.value, as: UTF8.self)
                guard let semicolon = value.firstIndex(of: ";"),
                    let instance = instanceNumber(SignatureTagList(Array(value[..<semicolon].utf8)[...])?["i"])
                else { return .broken("an ARC-Authentication-Results field without a valid i=") }
                guard results.updateValue(field, forKey: instance) == nil else {
                    return .broken("two ARC-Authentication-Results fields with i=\(instance)")
                }
            case "arc-message-signature", "arc-seal":
                guard let tags = SignatureTagList(field.value) else {
                    return .broken("a malformed \(field.name) field")
                }
                guard let instance = instanceNumber(tags["i"]) else {
                    return .broken("an \(field.name) field without a valid i=")
                }
                if field.name == "arc-seal" {
                    guard seals.updateValue((field, tags), forKey: instance) == nil else {
                        return .broken("two ARC-Seal fields with i=\(instance)")
                    }
                } else {
                    guard signatures.updateValue((field, tags), forKey: instance) == nil else {
                        return .broken("two ARC-Message-Signature fields with i=\(instance)")
                    }
                }
            default:
                continue
            }
            count += 1
            if count > 3 * SenderAuthLimits.maxARCInstances {
                return .broken("more than \(SenderAuthLimits.maxARCInstances) ARC sets")
            }
        }
        if count == 0 { return .none }
        let highest = max(results.keys.max() ?? 0, signatures.keys.max() ?? 0, seals.keys.max() ?? 0)
        var sets: [Set] = []
        for instance in 1...highest {
            guard let result = results[instance], let signature = signatures[instance], let seal = seals[instance]
            else {
                return .broken("ARC set \(instance) is incomplete")
            }
            sets.append(
                Set(results: result, signature: signature.0, seal: seal.0, signatureTags: signature.1, sealTags: seal.1)
            )
        }
        return .chain(ARCChain(sets: sets))
    }

    /// 1 to 50 (RFC 8617 §4.2.1).
    private static func instanceNumber(_ text: String?) -> Int? {
        guard let text, text.count <= 2, let number = Int(text), (1...SenderAuthLimits.maxARCInstances).contains(number)
        else { return nil }
        return number
    }

    /// One ARC set's fields as seals sign them: relaxed, each with its CRLF, and the seal once
    /// more with an empty b= and no CRLF (as its own seal signs it).
    struct CanonicalSet {
        var fields: [UInt8]
        var withUnsignedSeal: [UInt8]

        init(results: ArraySlice<UInt8>, signature: ArraySlice<UInt8>, seal: ArraySlice<UInt8>) {
            let head =
                MessageCanonicalizer.header(results, .relaxed) + MessageCanonicalizer.header(signature, .relaxed)
            fields = head + MessageCanonicalizer.header(seal, .relaxed)
            withUnsignedSeal =
                head
                + MessageCanonicalizer.header(SignatureTagList.removingSignature(seal), .relaxed, lineEnd: false)
        }
    }

    /// The octets the newest of `sets` signs in its ARC-Seal (RFC 8617 §5.1.1): every set, oldest
    /// first, each as ARC-Authentication-Results, ARC-Message-Signature, ARC-Seal; the newest
    /// seal with an empty b= and no CRLF. Each set is canonicalised once, however many seals
    /// cover it.
    static func sealInput(_ sets: ArraySlice<CanonicalSet>) -> [UInt8] {
        guard let newest = sets.last else { return [] }
        var input: [UInt8] = []
        input.reserveCapacity(sets.reduce(0) { $0 + $1.fields.count })
        for set in sets.dropLast() { input += set.fields }
        return input + newest.withUnsignedSeal
    }
}
