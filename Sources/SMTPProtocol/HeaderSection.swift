#if canImport(Glibc)
    import Glibc
#endif

/// Where a message's header section ends (RFC 5322 §2.1: at the first empty line). Messages are
/// CRLF-framed here (as received after DATA/BDAT and as spooled).
public enum HeaderSection {
    /// The offset of the first CRLF CRLF in `octets` — the header section's last line ends at
    /// `offset + 2`, the body starts at `offset + 4` — or nil when there is none (all header).
    /// memchr finds each CR, so the scan is linear and fast.
    public static func emptyLineOffset(in octets: UnsafeRawBufferPointer) -> Int? {
        guard let base = octets.baseAddress else { return nil }
        var offset = 0
        while offset + 3 < octets.count {
            guard let cr = memchr(base + offset, 13, octets.count - offset - 3) else { return nil }
            offset = base.distance(to: UnsafeRawPointer(cr))
            if octets[offset + 1] == 10, octets[offset + 2] == 13, octets[offset + 3] == 10 { return offset }
            offset += 1
        }
        return nil
    }
}
