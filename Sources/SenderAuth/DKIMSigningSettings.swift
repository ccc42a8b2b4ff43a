/// Which header fields a DKIM signature covers and which optional tags it carries (RFC 6376
/// §3.5, §5.4): the opendkim stanza's `headerlist`, `oversign_headerlist`, `skip_headerlist`,
/// `lifetime`, `body_length_limit` and `copy_headers`.
public struct DKIMSigningSettings: Sendable, Hashable {
    /// Header field names to sign (Momentum's `headerlist`; `*` matches any run of characters);
    /// every field whose name matches is signed, From: always. Empty: `defaultHeaders`.
    public var headers: [String] = []
    /// Names signed once more than they occur, so none can be added (`oversign_headerlist`).
    public var oversignHeaders: [String] = []
    /// Names never signed (`skip_headerlist`), even when `headers` names them.
    public var skipHeaders: [String] = []
    /// Seconds a signature stays valid (`lifetime`, given in hours); 0: no `x=` tag.
    public var signatureLifetime: Int = 0
    /// Add `l=` with the signed body's length (`body_length_limit`).
    public var bodyLengthTag = false
    /// Add `z=` with the signed fields (`copy_headers`).
    public var copyHeaders = false

    /// What is signed when no `headerlist` is given: the fields RFC 6376 §5.4.1 says should be
    /// signed, with Sender:, Message-ID:, the MIME fields that say how to read the body
    /// (RFC 2045) and List-Unsubscribe-Post: (RFC 8058 §4 requires it signed). Trace fields
    /// (Received:, Return-Path:) are not: hops add them.
    public static let defaultHeaders = [
        "from", "sender", "reply-to", "subject", "date", "message-id", "to", "cc", "mime-version", "content-type",
        "content-transfer-encoding", "content-id", "content-description", "resent-date", "resent-from",
        "resent-sender", "resent-to", "resent-cc", "resent-message-id", "in-reply-to", "references", "list-id",
        "list-help", "list-unsubscribe", "list-unsubscribe-post", "list-subscribe", "list-post", "list-owner",
        "list-archive"
    ]

    public init() {}

    /// `defaultHeaders` as a set: asked once per header field of every signed message.
    static let defaultHeaderSet = Set(defaultHeaders)

    /// Whether a field named `name` (lower case) is signed.
    public func signs(_ name: String) -> Bool {
        if skipHeaders.contains(where: { Self.matches(name, $0) }) { return false }
        if headers.isEmpty { return Self.defaultHeaderSet.contains(name) }
        return name == "from" || headers.contains { Self.matches(name, $0) }
    }

    /// `name` against a pattern in which `*` stands for any run of characters, case ignored.
    static func matches(_ name: String, _ pattern: String) -> Bool {
        let pattern = pattern.lowercased()
        guard pattern.contains("*") else { return name == pattern }
        let parts = pattern.split(separator: "*", omittingEmptySubsequences: false)
        var rest = Substring(name)
        for (index, part) in parts.enumerated() {
            if index == 0 {
                guard rest.hasPrefix(part) else { return false }
                rest = rest.dropFirst(part.count)
            } else if index == parts.count - 1 {
                return part.isEmpty || (rest.count >= part.count && rest.hasSuffix(part))
            } else if let found = rest.range(of: part) {
                rest = rest[found.upperBound...]
            } else {
                return false
            }
        }
        return rest.isEmpty
    }
}
