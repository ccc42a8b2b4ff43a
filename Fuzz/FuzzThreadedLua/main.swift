import FuzzSupport
import Scriptlet

/// libFuzzer target: the Threaded Lua dialect translator (`!=`, unary `!`, bitwise operators,
/// octal literals). It must keep line numbers: the output has as many lines as the input.
runFuzzer { data, size in
    let source = String(decoding: fuzzInput(data, size), as: UTF8.self)
    if let translated = try? ThreadedLuaTranslator.translate(source) {
        precondition(
            translated.utf8.filter { $0 == 0x0A }.count == source.utf8.filter { $0 == 0x0A }.count,
            "the translation moved lines")
    }
    return 0
}
