import LuaBridge

/// msys.pcre: the Swift side of match, replace and split.
extension PolicyState {

    func regex(_ pattern: String) throws(PCRERegex.CompileError) -> PCRERegex {
        if let cached = patterns[pattern] { return cached }
        let compiled = try PCRERegex(pattern)
        if patterns.count >= PolicyLimits.pcreCacheSize { patterns.removeAll(keepingCapacity: true) }
        patterns[pattern] = compiled
        return compiled
    }

    static func pcreError(_ error: PCRERegex.CompileError) -> LuaState.FunctionResult {
        .values([.nil, .string("\(error.message) at offset \(error.offset)"), .number(Double(error.code))])
    }

    func installPCRE() {
        lua.setInternal(.pcreMatch) { [unowned self] arguments in
            guard let subject = arguments.string(1), let pattern = arguments.string(2) else {
                return .error("msys.pcre.match: expected (subject, pattern)")
            }
            do {
                let regex = try regex(pattern)
                guard let found = try regex.match(Array(subject.utf8)) else { return .values([.boolean(false)]) }
                var values: [LuaValue] =
                    [.number(Double(found.groups.count))] + found.groups.map { $0.map { .string($0) } ?? .nil }
                for (name, number) in regex.names { values += [.string(name), .number(Double(number))] }
                return .values(values)
            } catch {
                return (error as? PCRERegex.CompileError).map(Self.pcreError) ?? .error("msys.pcre: \(error)")
            }
        }
        lua.setInternal(.pcreReplace) { [unowned self] arguments in
            guard let subject = arguments.string(1), let pattern = arguments.string(2),
                let replacement = arguments.string(3)
            else {
                return .error("msys.pcre.replace: expected (subject, pattern, replacement)")
            }
            do {
                let regex = try regex(pattern)
                let bytes = Array(subject.utf8)
                let names = Dictionary(regex.names, uniquingKeysWith: { first, _ in first })
                var out: [UInt8] = []
                var position = 0
                while position <= bytes.count, let found = try regex.match(bytes, from: position) {
                    out += bytes[position..<found.range.lowerBound]
                    out += Array(Self.expand(replacement, groups: found.groups, names: names).utf8)
                    if found.range.isEmpty {
                        if found.range.lowerBound < bytes.count { out.append(bytes[found.range.lowerBound]) }
                        position = found.range.lowerBound + 1
                    } else {
                        position = found.range.upperBound
                    }
                }
                if position < bytes.count { out += bytes[position...] }
                return .values([.string(String(decoding: out, as: UTF8.self))])
            } catch {
                return (error as? PCRERegex.CompileError).map(Self.pcreError) ?? .error("msys.pcre: \(error)")
            }
        }
        lua.setInternal(.pcreSplit) { [unowned self] arguments in
            guard let subject = arguments.string(1), let pattern = arguments.string(2) else {
                return .error("msys.pcre.split: expected (subject, pattern)")
            }
            do {
                let regex = try regex(pattern)
                let bytes = Array(subject.utf8)
                var pieces: [LuaValue] = [.string("ok")]
                var start = 0
                var position = 0
                while position < bytes.count, let found = try regex.match(bytes, from: position) {
                    if found.range.isEmpty {
                        position = found.range.lowerBound + 1
                        continue
                    }
                    pieces.append(.string(String(decoding: bytes[start..<found.range.lowerBound], as: UTF8.self)))
                    start = found.range.upperBound
                    position = found.range.upperBound
                }
                pieces.append(.string(String(decoding: bytes[start...], as: UTF8.self)))
                return .values(pieces)
            } catch {
                return (error as? PCRERegex.CompileError).map(Self.pcreError) ?? .error("msys.pcre: \(error)")
            }
        }
    }

    /// `$0`…`$9`, `${n}` and `${name}` in a replacement; `$$` is a dollar.
    static func expand(_ replacement: String, groups: [String?], names: [String: Int]) -> String {
        var out = ""
        var characters = replacement[...]
        while let character = characters.popFirst() {
            guard character == "$", let next = characters.first else {
                out.append(character)
                continue
            }
            if next == "$" {
                out.append("$")
                characters.removeFirst()
                continue
            }
            if let digit = next.wholeNumberValue, next.isASCII {
                characters.removeFirst()
                if digit < groups.count { out += groups[digit] ?? "" }
                continue
            }
            if next == "{", let close = characters.firstIndex(of: "}") {
                let key = String(characters[characters.index(after: characters.startIndex)..<close])
                characters = characters[characters.index(after: close)...]
                if let number = Int(key) ?? names[key], number < groups.count { out += groups[number] ?? "" }
                continue
            }
            out.append(character)
        }
        return out
    }

}
