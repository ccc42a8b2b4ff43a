/// A tag list (RFC 6376 §3.2) written as a header field, folded with CRLF and a tab where
/// folding white space may stand, so that no line is longer than RFC 5322 §2.1.1's 78
/// characters unless a single unit is.
struct FoldedTagList {
    static let lineLimit = 78

    private(set) var text: String
    private var lineLength: Int
    private var tags = 0

    /// `start`: the field's name, colon and space.
    init(start: String) {
        text = start
        lineLength = start.utf8.count
    }

    /// A `tag=value` pair that is not folded inside.
    mutating func add(_ pair: String) {
        separate(before: pair.utf8.count)
        append(pair)
    }

    /// `tag=` and then `groups` joined by `separator`; the line may break before any unit.
    mutating func add(_ tag: String, _ groups: [[String]], separator: String) {
        separate(before: tag.utf8.count + (groups.first?.first?.utf8.count ?? 0))
        append(tag)
        for (index, units) in groups.enumerated() {
            for (position, unit) in units.enumerated() {
                let piece = (index > 0 && position == 0 ? separator : "") + unit
                if lineLength + piece.utf8.count > Self.lineLimit {
                    // The separator stays on the line it ends; the unit starts the next.
                    if index > 0 && position == 0 { append(separator) }
                    text += "\r\n\t"
                    lineLength = 1
                    append(unit)
                } else {
                    append(piece)
                }
            }
        }
    }

    /// `tag=` followed by `values`, each one unit.
    mutating func add(_ tag: String, _ values: [String], separator: String) {
        add(tag, values.map { [$0] }, separator: separator)
    }

    /// The empty `b=` the signature is computed over: the last tag.
    mutating func startSignature() { add("b=") }

    /// The signature's base64, broken where the lines are full (white space in b= is ignored,
    /// RFC 6376 §3.5).
    mutating func addSignature(_ base64: String) {
        var rest = Substring(base64)
        while !rest.isEmpty {
            let room = max(Self.lineLimit - lineLength, 0)
            if room == 0 {
                text += "\r\n\t"
                lineLength = 1
                continue
            }
            append(String(rest.prefix(room)))
            rest = rest.dropFirst(room)
        }
    }

    private mutating func separate(before length: Int) {
        if tags > 0 {
            text += ";"
            lineLength += 1
            if lineLength + 1 + length > Self.lineLimit {
                text += "\r\n\t"
                lineLength = 1
            } else {
                append(" ")
            }
        }
        tags += 1
    }

    private mutating func append(_ piece: String) {
        text += piece
        lineLength += piece.utf8.count
    }
}
