import Foundation
import Spool

/// Queue inspection from the console (`mailq`, `showqueue`, `message details`), read from the
/// spool: every spooled message is waiting ("active") until outbound delivery (issue 4) settles
/// it. Each command reads the spool's segments (read-only); `mailq` is meant for people, not for
/// polling (use the metrics).
extension ImpulseServer {
    /// The messages in the spool: (routing domain, binding group, binding, envelope, size).
    func queuedMessages() -> [(domain: String, group: String, binding: String, entry: SpoolDirectory.Entry)] {
        spool.scan(readOnly: true, logger: nil).entries.flatMap { entry in
            let envelope = entry.envelope
            let domains = envelope.routingDomain.map { [$0] }
                ?? Array(Set(envelope.recipients.map { String($0.address.split(separator: "@").last ?? "").lowercased() })).sorted()
            return domains.map { (domain: $0, group: envelope.bindingGroup ?? "default", binding: envelope.binding ?? "default", entry: entry) }
        }
    }

    /// `mailq [-d domain …] [-b binding …] [-l limit]`.
    func mailq(_ arguments: [String]) -> (ok: Bool, text: String) {
        var domains: Set<String> = [], bindings: Set<String> = [], limit = 20
        var index = 0
        while index < arguments.count {
            let option = arguments[index]
            guard index + 1 < arguments.count else { return (false, "mailq: \(option) needs a value\n") }
            let value = arguments[index + 1]
            switch option {
            case "-d", "--domain": domains.insert(value.lowercased())
            case "-b", "--binding": bindings.insert(value)
            case "-l", "--limit":
                guard let number = Int(value), number > 0 else { return (false, "mailq: the limit must be a positive number\n") }
                limit = number
            default: return (false, "mailq: unknown option \(option) (-d domain, -b binding, -l limit)\n")
            }
            index += 2
        }
        var counts: [String: (group: String, binding: String, domain: String, active: Int)] = [:]
        for message in queuedMessages() {
            if !domains.isEmpty && !domains.contains(message.domain) { continue }
            if !bindings.isEmpty && !bindings.contains(message.binding) { continue }
            let key = "\(message.group)/\(message.binding) \(message.domain)"
            counts[key, default: (message.group, message.binding, message.domain, 0)].active += 1
        }
        let rows = counts.values.sorted { ($0.active, $1.domain) > ($1.active, $0.domain) }.prefix(limit)
        var text = "Group/Binding".padding(toLength: 44, withPad: " ", startingAt: 0) + "Domain".leftPadded(18) + "AQ".leftPadded(8) + "DQ".leftPadded(8) + "\n"
        text += String(repeating: "-", count: 78) + "\n"
        for row in rows {
            text += "\(row.group)/\(row.binding)".padding(toLength: 44, withPad: " ", startingAt: 0) + row.domain.leftPadded(18)
                + "\(row.active)".leftPadded(8) + "0".leftPadded(8) + "\n"
        }
        return (true, text)
    }

    /// `showqueue [binding <b> | binding all] <domain> [limit,offset]`.
    func showqueue(_ arguments: [String]) -> (ok: Bool, text: String) {
        var rest = arguments[...]
        var binding: String? = "default"
        if rest.first == "binding", rest.count >= 2 {
            binding = rest.dropFirst().first == "all" ? nil : rest.dropFirst().first
            rest = rest.dropFirst(2)
        }
        guard let domain = rest.first?.lowercased() else { return (false, "usage: showqueue [binding <b> | binding all] <domain> [limit,offset]\n") }
        var limit = 100, offset = 0
        if let window = rest.dropFirst().first {
            let parts = window.split(separator: ",").compactMap { Int($0) }
            guard parts.count == 2, parts[0] > 0, parts[1] >= 0 else { return (false, "showqueue: expected limit,offset such as 100,0\n") }
            (limit, offset) = (parts[0], parts[1])
        }
        let matching = queuedMessages().filter { $0.domain == domain && (binding == nil || $0.binding == binding) }
            .sorted { $0.entry.envelope.receivedAtMicros < $1.entry.envelope.receivedAtMicros }
        var text = ""
        for message in matching.dropFirst(offset).prefix(limit) {
            let envelope = message.entry.envelope
            text += "[active/\(message.binding)] \(envelope.id) Created: \(envelope.receivedAtMicros / 1_000_000)\n"
            text += "  From: <\(envelope.mailFrom)> To: " + envelope.recipients.map { "<\($0.address)>" }.joined(separator: " ") + "\n"
        }
        return (true, text.isEmpty ? "No messages queued for \(domain).\n" : text)
    }

    /// `message details [full | body] <id>`.
    func messageDetails(_ arguments: [String]) -> (ok: Bool, text: String) {
        let mode = arguments.count > 1 ? arguments[0].lowercased() : "details"
        guard let id = arguments.last, ["details", "full", "body"].contains(mode) else {
            return (false, "usage: message details [full | body] <id>\n")
        }
        guard let entry = spool.scan(readOnly: true, logger: nil).entries.first(where: { $0.envelope.id == id }) else {
            return (false, "Message \(id) not found.\n")
        }
        let envelope = entry.envelope
        var text = ""
        if mode != "body" {
            text += "Message: \(envelope.id)\nCreated: \(envelope.receivedAtMicros / 1_000_000)\nNext Attempt: now (outbound delivery comes with issue 4)\n"
            text += "Retries: 0\nReceived Via: \(envelope.peerAddress):\(envelope.peerPort) \(envelope.receivedProtocol) on \(envelope.listener)\n"
            text += "Sender: <\(envelope.mailFrom)>\n"
            for recipient in envelope.recipients { text += "Recipient: <\(recipient.address)>\n" }
            if let domain = envelope.routingDomain { text += "Routing Domain: \(domain)\n" }
            text += "Binding: \(envelope.binding ?? "default")\nSize: \(entry.dataLength)\n"
        }
        if mode != "details" {
            guard let handle = FileHandle(forReadingAtPath: entry.path) else { return (false, "cannot read \(entry.path)\n") }
            defer { try? handle.close() }
            try? handle.seek(toOffset: UInt64(entry.dataOffset))
            let data = (try? handle.read(upToCount: min(entry.dataLength, 1 << 20))) ?? Data()
            if mode == "full" { text += "\n" }
            text += String(decoding: data, as: UTF8.self)
            if entry.dataLength > 1 << 20 { text += "\n(… \(entry.dataLength - (1 << 20)) more octets not shown)\n" }
        }
        return (true, text)
    }
}

extension String {
    func leftPadded(_ width: Int) -> String { count >= width ? self : String(repeating: " ", count: width - count) + self }
}
