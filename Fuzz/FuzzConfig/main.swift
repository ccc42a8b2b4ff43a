import Foundation
import FuzzSupport
import ImpulseConfig

/// libFuzzer target: the ecelerity.conf lexer, parser and binder. Any text must give a
/// configuration or diagnostics with a location, never a trap.
runFuzzer { data, size in
    let text = String(decoding: fuzzInput(data, size), as: UTF8.self)
    // A file that does not exist: include directives fail with a diagnostic instead of reading.
    let file = "/nonexistent-impulse-fuzz/ecelerity.conf"
    guard let root = try? ConfigParser().parse(text: text, file: file) else { return 0 }
    _ = try? ConfigurationLoader().bind(root, sourcePath: file)
    return 0
}
