/// Momentum's bounce classification codes (its bounce logger's table, as the bouncelog and
/// `msys.bounce` give them) from a next hop's reply: the RFC 3463 enhanced status code first, then
/// the words of the reply, then its basic code.
public enum BounceClassifier {
    public static let undetermined = 1
    public static let invalidRecipient = 10
    public static let softBounce = 20
    public static let dnsFailure = 21
    public static let mailboxFull = 22
    public static let tooLarge = 23
    public static let timeout = 24
    public static let adminFailure = 25
    public static let genericBounce = 40
    public static let mailBlock = 50
    public static let spamBlock = 51
    public static let spamContent = 52
    public static let prohibitedAttachment = 53
    public static let relayingDenied = 54
    public static let autoReply = 60
    public static let transientFailure = 70
    public static let challengeResponse = 100

    /// The code for `reply` (e.g. `550 5.1.1 <a@b>: user unknown`).
    public static func classify(_ reply: String) -> Int {
        let text = reply.lowercased()
        func says(_ words: String...) -> Bool { words.contains { text.contains($0) } }
        if says("auto-reply", "autoreply", "automatic reply", "out of office", "out of the office", "vacation") {
            return autoReply
        }
        if says("challenge-response", "challenge response", "verify your email", "please confirm you are") {
            return challengeResponse
        }
        if let (klass, subject, detail) = enhancedCode(text) {
            switch (subject, detail) {
            case (1, 0), (1, 1), (1, 3), (1, 6), (2, 1): return invalidRecipient
            case (1, 2), (4, 4): return dnsFailure
            case (2, 2): return mailboxFull
            case (2, 3), (3, 4): return tooLarge
            case (4, 1), (4, 2), (4, 7): return timeout
            case (7, _): return policy(text)
            default: break
            }
            if klass == 4 { return softBounce }
        }
        if says(
            "user unknown", "unknown user", "no such user", "no such recipient", "no such mailbox",
            "does not exist", "invalid recipient", "recipient rejected", "unknown recipient", "mailbox unavailable",
            "address rejected", "not a valid mailbox")
        {
            return invalidRecipient
        }
        if says(
            "mailbox full", "mailbox is full", "over quota", "quota exceeded", "exceeded storage",
            "insufficient storage")
        {
            return mailboxFull
        }
        if says("too large", "message size exceeds", "exceeds the maximum size", "message is too big") {
            return tooLarge
        }
        if says("timed out", "timeout", "exceeded max time", "connection lost") { return timeout }
        if says("host not found", "domain not found", "nxdomain", "no mx", "name server", "unrouteable") {
            return dnsFailure
        }
        if says("relay", "spam", "blacklist", "blocklist", "attachment", "blocked", "policy") { return policy(text) }
        switch text.first {
        case "4": return softBounce
        case "5": return genericBounce
        default: return undetermined
        }
    }

    /// A policy refusal (5.7.x or its words): relaying, a listed source, spam content, an
    /// attachment, or a block.
    static func policy(_ text: String) -> Int {
        if text.contains("relay") { return relayingDenied }
        if ["attachment", "file type", "executable"].contains(where: text.contains) { return prohibitedAttachment }
        if ["spam content", "content rejected", "message content", "looks like spam", "spam-like"].contains(
            where: text.contains)
        {
            return spamContent
        }
        if ["spam", "blacklist", "blocklist", "rbl", "listed", "reputation", "dnsbl"].contains(where: text.contains) {
            return spamBlock
        }
        return mailBlock
    }

    /// The first `class.subject.detail` in the text (RFC 3463 §2), classes 2, 4 and 5.
    static func enhancedCode(_ text: String) -> (Int, Int, Int)? {
        let characters = Array(text.utf8)
        var index = 0
        while index < characters.count {
            let start = index
            guard [50, 52, 53].contains(characters[index]), index + 1 < characters.count, characters[index + 1] == 46
            else {
                index += 1
                continue
            }
            if start > 0 && (characters[start - 1] >= 48 && characters[start - 1] <= 57 || characters[start - 1] == 46)
            {
                index += 1
                continue
            }
            var position = index + 2
            func number() -> Int? {
                var value = 0
                var digits = 0
                while position < characters.count, characters[position] >= 48, characters[position] <= 57, digits < 3 {
                    value = value * 10 + Int(characters[position] - 48)
                    position += 1
                    digits += 1
                }
                return digits > 0 ? value : nil
            }
            if let subject = number(), position < characters.count, characters[position] == 46 {
                position += 1
                if let detail = number() { return (Int(characters[start] - 48), subject, detail) }
            }
            index += 1
        }
        return nil
    }
}
