import DKIMShim
import Foundation
import NIOConcurrencyHelpers

/// Settings libopendkim keeps per library rather than per message: which header fields are
/// signed, over-signed or skipped, the signature's lifetime (`x=`), the body length tag (`l=`)
/// and copied headers (`z=`). Signers with the same settings share one library.
public struct DKIMLibrarySettings: Sendable, Hashable {
    /// Header field names to sign, in order (Momentum's `headerlist`); empty: libopendkim's
    /// default set (RFC 6376 §5.4.1's recommendations).
    public var headers: [String] = []
    /// Names signed once more than they occur, so none can be added (`oversign_headerlist`).
    public var oversignHeaders: [String] = []
    /// Names never signed (`skip_headerlist`).
    public var skipHeaders: [String] = []
    /// Seconds a signature stays valid (`lifetime`, given in hours); 0: no `x=` tag.
    public var signatureLifetime: Int = 0
    /// Add `l=` with the body's length (`body_length_limit`).
    public var bodyLengthTag = false
    /// Add `z=` with the signed fields (`copy_headers`).
    public var copyHeaders = false

    public init() {}
}

/// One libopendkim library handle. libopendkim lets many threads use one library at once, each
/// with its own message handle, so instances are shared process-wide per settings.
public final class DKIMLibrary: Sendable {
    nonisolated(unsafe) let handle: OpaquePointer

    private static let libraries = NIOLockedValueBox([DKIMLibrarySettings: DKIMLibrary]())

    /// The shared library for `settings`, made on first use.
    public static func shared(_ settings: DKIMLibrarySettings) throws(DKIMError) -> DKIMLibrary {
        if let library = libraries.withLockedValue({ $0[settings] }) { return library }
        let library = try DKIMLibrary(settings)
        return libraries.withLockedValue { known in
            if let existing = known[settings] { return existing }
            known[settings] = library
            return library
        }
    }

    /// The library verification uses (default settings).
    public static func verifying() throws(DKIMError) -> DKIMLibrary { try shared(DKIMLibrarySettings()) }

    private init(_ settings: DKIMLibrarySettings) throws(DKIMError) {
        var error = [CChar](repeating: 0, count: 256)
        let made: OpaquePointer? = Self.withCStrings(settings.headers) { headers, headerCount in
            Self.withCStrings(settings.oversignHeaders) { oversign, oversignCount in
                Self.withCStrings(settings.skipHeaders) { skip, skipCount in
                    var raw = impulse_dkim_settings(
                        sign_headers: headers, sign_header_count: headerCount, oversign_headers: oversign,
                        oversign_header_count: oversignCount, skip_headers: skip, skip_header_count: skipCount,
                        signature_ttl: UInt(max(0, settings.signatureLifetime)),
                        body_length_tag: settings.bodyLengthTag ? 1 : 0, copy_headers: settings.copyHeaders ? 1 : 0)
                    return impulse_dkim_library_new(&raw, &error, error.count)
                }
            }
        }
        guard let made else {
            throw DKIMError(status: 7, message: String(buffer: error))
        }
        handle = made
    }

    deinit { impulse_dkim_library_free(handle) }

    /// Runs `body` with `strings` as a C array of C strings (nil when empty).
    static func withCStrings<Result>(
        _ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>?, Int) -> Result
    ) -> Result {
        guard !strings.isEmpty else { return body(nil, 0) }
        let copies = strings.map { strdup($0) }
        defer { copies.forEach { free($0) } }
        let pointers = copies.map { UnsafePointer<CChar>($0) }
        return pointers.withUnsafeBufferPointer { body($0.baseAddress, strings.count) }
    }
}
