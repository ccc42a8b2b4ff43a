import CPCRE2

/// A compiled PCRE2 pattern (<https://www.pcre.org/current/doc/html/>), for `msys.pcre`.
/// Not thread-safe: each policy state keeps its own cache.
final class PCRERegex {
    let code: OpaquePointer
    let matchData: OpaquePointer
    let matchContext: OpaquePointer?

    /// Bounds on one match, so a pattern that backtracks catastrophically costs a bounded time
    /// (the watchdog cannot interrupt a C call): backtracking steps, nesting depth, and the heap
    /// (KiB) a match may use. Past any, the match fails with PCRE2's error (a Lua error).
    static let matchLimit: UInt32 = 1_000_000
    static let depthLimit: UInt32 = 10_000
    static let heapLimitKiB: UInt32 = 20_000

    struct CompileError: Error {
        var message: String
        var offset: Int
        var code: Int32
    }

    init(_ pattern: String) throws(CompileError) {
        var errorCode: Int32 = 0
        var errorOffset: Int = 0
        let compiled = pattern.withCString { text in
            pcre2_compile_8(
                UnsafeRawPointer(text).assumingMemoryBound(to: UInt8.self), pattern.utf8.count, PCRE2_UTF, &errorCode,
                &errorOffset, nil)
        }
        guard let compiled else {
            throw CompileError(message: Self.message(errorCode), offset: errorOffset, code: errorCode)
        }
        code = compiled
        matchData = pcre2_match_data_create_from_pattern_8(compiled, nil)
        matchContext = pcre2_match_context_create_8(nil)
        if let matchContext {
            pcre2_set_match_limit_8(matchContext, Self.matchLimit)
            pcre2_set_depth_limit_8(matchContext, Self.depthLimit)
            pcre2_set_heap_limit_8(matchContext, Self.heapLimitKiB)
        }
    }

    deinit {
        if let matchContext { pcre2_match_context_free_8(matchContext) }
        pcre2_match_data_free_8(matchData)
        pcre2_code_free_8(code)
    }

    static func message(_ code: Int32) -> String {
        var buffer = [UInt8](repeating: 0, count: 256)
        let length = pcre2_get_error_message_8(code, &buffer, buffer.count)
        return length > 0 ? String(decoding: buffer.prefix(Int(length)), as: UTF8.self) : "PCRE2 error \(code)"
    }

    /// Groups 0…n of the first match at or after `start` (nil for an unset group), with the match's
    /// byte range; nil when nothing matches. Throws on a matching error (e.g. bad UTF-8).
    func match(_ subject: [UInt8], from start: Int = 0) throws(CompileError) -> (groups: [String?], range: Range<Int>)?
    {
        let count = subject.withUnsafeBufferPointer { bytes in
            pcre2_match_8(
                code, bytes.baseAddress ?? UnsafePointer(bitPattern: 1)!, bytes.count, start, 0, matchData, matchContext
            )
        }
        if count == PCRE2_ERROR_NOMATCH { return nil }
        guard count > 0 else { throw CompileError(message: Self.message(count), offset: start, code: count) }
        let vector = pcre2_get_ovector_pointer_8(matchData)!
        let unset = impulse_pcre2_unset()
        var groups: [String?] = []
        let total = Int(pcre2_get_ovector_count_8(matchData))
        for index in 0..<total {
            let from = vector[2 * index], to = vector[2 * index + 1]
            if index >= Int(count) || from == unset || to == unset || from > to || to > subject.count {
                groups.append(nil)
            } else {
                groups.append(String(decoding: subject[from..<to], as: UTF8.self))
            }
        }
        return (groups, vector[0]..<vector[1])
    }

    /// Named groups and their numbers.
    var names: [(String, Int)] {
        var count: UInt32 = 0
        var entrySize: UInt32 = 0
        var table: UnsafePointer<UInt8>?
        pcre2_pattern_info_8(code, UInt32(PCRE2_INFO_NAMECOUNT), &count)
        pcre2_pattern_info_8(code, UInt32(PCRE2_INFO_NAMEENTRYSIZE), &entrySize)
        pcre2_pattern_info_8(code, UInt32(PCRE2_INFO_NAMETABLE), &table)
        guard let table, count > 0 else { return [] }
        return (0..<Int(count)).map { entry in
            let base = table + entry * Int(entrySize)
            let number = Int(base[0]) << 8 | Int(base[1])
            var name: [UInt8] = []
            var index = 2
            while index < Int(entrySize), base[index] != 0 {
                name.append(base[index])
                index += 1
            }
            return (String(decoding: name, as: UTF8.self), number)
        }
    }
}
