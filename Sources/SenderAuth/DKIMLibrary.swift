import DKIMShim
import Foundation

/// The libopendkim library handle that verifies DKIM signatures (RFC 6376, RFC 8463).
/// libopendkim lets many threads verify with one library at once, each with its own message
/// handle, so there is one per process.
public final class DKIMLibrary: Sendable {
    nonisolated(unsafe) let handle: OpaquePointer

    private static let made = Result { () throws(DKIMError) in try DKIMLibrary() }

    /// The process's library, made on first use.
    public static func verifying() throws(DKIMError) -> DKIMLibrary { try made.get() }

    private init() throws(DKIMError) {
        var error = [CChar](repeating: 0, count: 256)
        guard let made = impulse_dkim_library_new(&error, error.count) else {
            throw DKIMError(status: 7, message: String(buffer: error))
        }
        handle = made
    }

    deinit { impulse_dkim_library_free(handle) }
}
