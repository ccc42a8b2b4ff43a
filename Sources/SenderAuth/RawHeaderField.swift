/// One header field as it stands in a message: its name (lower case) and its octets from the
/// name through the end of its value, folding included, without the final CRLF.
struct RawHeaderField {
    var name: String
    var octets: ArraySlice<UInt8>

    /// The header fields of `message` in order, and where its body starts (after the empty
    /// line; the message's end when there is none). A line without a colon ends the header section.
    static func split(_ message: [UInt8]) -> (fields: [RawHeaderField], bodyStart: Int) {
        var fields: [RawHeaderField] = []
        var index = 0
        var fieldStart: Int?
        var fieldEnd = 0
        func finish() {
            guard let start = fieldStart else { return }
            let octets = message[start..<fieldEnd]
            let colon = octets.firstIndex(of: UInt8(ascii: ":")) ?? octets.endIndex
            var name = String(decoding: octets[start..<colon], as: UTF8.self).lowercased()
            while name.last == " " || name.last == "\t" { name.removeLast() }
            fields.append(RawHeaderField(name: name, octets: octets))
            fieldStart = nil
        }
        while index < message.count {
            var end = index
            while end < message.count && message[end] != 10 { end += 1 }
            let next = min(end + 1, message.count)
            var lineEnd = end
            if lineEnd > index && message[lineEnd - 1] == 13 { lineEnd -= 1 }
            if lineEnd == index {
                finish()
                return (fields, next)
            }
            if message[index] == 32 || message[index] == 9 {
                if fieldStart != nil { fieldEnd = lineEnd }
            } else {
                finish()
                guard message[index..<lineEnd].contains(UInt8(ascii: ":")) else { return (fields, index) }
                fieldStart = index
                fieldEnd = lineEnd
            }
            index = next
        }
        finish()
        return (fields, message.count)
    }

    /// The value after the colon (folding kept).
    var value: ArraySlice<UInt8> {
        guard let colon = octets.firstIndex(of: UInt8(ascii: ":")) else { return octets[octets.endIndex...] }
        return octets[(colon + 1)...]
    }
}
