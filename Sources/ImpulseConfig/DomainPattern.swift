/// A `relay_domains` entry: `example.com` matches that domain exactly; `*.example.com` matches
/// any subdomain but not `example.com`; `*example.com` matches any name ending so (including
/// `badexample.com`), as the Momentum manual describes. Comparison ignores case.
public struct DomainPattern: Sendable, Hashable, CustomStringConvertible {
    public var text: String
    let suffix: String?
    let exact: String?

    public init(_ text: String) {
        self.text = text
        let lower = text.lowercased()
        if lower.hasPrefix("*") {
            suffix = String(lower.dropFirst())
            exact = nil
        } else {
            suffix = nil
            exact = lower
        }
    }

    public func matches(_ domain: String) -> Bool {
        let lower = domain.lowercased()
        if let exact { return lower == exact }
        if let suffix { return lower.count > suffix.count && lower.hasSuffix(suffix) }
        return false
    }

    public var description: String { text }
}
