import CPCRE2

/// A `/PCRE/` scope name (`domain "/…/"`, `host "/…/"`) or another operator pattern (an
/// adaptive rule's reply pattern): compiled once, matched many times. The compiled pattern is shared between threads
/// (PCRE2 allows it); each match makes its own match data. Matches are bounded as msys.pcre's
/// are, and a match that errs counts as no match.
public final class ScopePattern: @unchecked Sendable, CustomStringConvertible {
    /// The pattern as written, slashes included.
    public let text: String
    let code: OpaquePointer
    let context: OpaquePointer?

    /// Compiles `text` (slashes included); throws PCRE2's message when it does not compile.
    public convenience init(_ text: String) throws(ScopePatternError) {
        try self.init(pattern: String(text.dropFirst().dropLast()), text: text, caseless: true)
    }

    /// A bare pattern (no slashes), e.g. an adaptive rule's `code`; `text` is how it is shown.
    public init(pattern body: String, text: String? = nil, caseless: Bool) throws(ScopePatternError) {
        self.text = text ?? body
        var errorCode: Int32 = 0
        var errorOffset = 0
        let compiled = body.withCString { pointer in
            pcre2_compile_8(
                UnsafeRawPointer(pointer).assumingMemoryBound(to: UInt8.self), body.utf8.count,
                PCRE2_UTF | (caseless ? PCRE2_CASELESS : 0), &errorCode, &errorOffset, nil)
        }
        guard let compiled else {
            var buffer = [UInt8](repeating: 0, count: 256)
            let length = pcre2_get_error_message_8(errorCode, &buffer, buffer.count)
            throw ScopePatternError(
                message: length > 0
                    ? String(decoding: buffer.prefix(Int(length)), as: UTF8.self) : "error \(errorCode)",
                offset: errorOffset)
        }
        code = compiled
        context = pcre2_match_context_create_8(nil)
        if let context {
            pcre2_set_match_limit_8(context, 100_000)
            pcre2_set_depth_limit_8(context, 1_000)
        }
    }

    deinit {
        if let context { pcre2_match_context_free_8(context) }
        pcre2_code_free_8(code)
    }

    /// Whether the pattern matches somewhere in `name`.
    public func matches(_ name: String) -> Bool {
        guard let data = pcre2_match_data_create_from_pattern_8(code, nil) else { return false }
        defer { pcre2_match_data_free_8(data) }
        var subject = Array(name.utf8)
        if subject.isEmpty { subject = [0] }
        let length = name.utf8.count
        let result = subject.withUnsafeBufferPointer { bytes in
            pcre2_match_8(code, bytes.baseAddress!, length, 0, 0, data, context)
        }
        return result > 0
    }

    public var description: String { text }
}

/// Why a `/PCRE/` scope name does not compile: PCRE2's message and the offset in the pattern.
public struct ScopePatternError: Error, Sendable {
    public var message: String
    public var offset: Int
}
