import Spool

/// A script's changes to one recipient's message (Momentum gives each recipient its own message
/// in the per-recipient callouts): what is set here applies to that recipient alone.
package struct RecipientEdits {
    /// The reverse path (a VERP sender), without brackets; `""` is the null sender.
    package var sender: String?
    package var routingDomain: String?
    package var binding: String?
    package var bindingGroup: String?
    /// msg:discard's reason: this recipient is not spooled.
    package var discard: String?

    /// Writes `edits` (by recipient index) into `envelope`: discarded recipients leave it (and
    /// are returned, with their reasons); a value every remaining recipient shares is stored once,
    /// for the message, and only what differs is stored per recipient (docs/spool-format.md).
    static func apply(_ edits: [Int: RecipientEdits], to envelope: inout SpoolEnvelope) -> [(
        address: String, reason: String
    )] {
        var discarded: [(address: String, reason: String)] = []
        var kept: [SpoolEnvelope.Recipient] = []
        for (index, var recipient) in envelope.recipients.enumerated() {
            if let edit = edits[index] {
                if let reason = edit.discard {
                    discarded.append((recipient.address, reason))
                    continue
                }
                recipient.mailFrom = edit.sender
                recipient.routingDomain = edit.routingDomain
                if edit.binding != nil || edit.bindingGroup != nil {
                    recipient.binding = edit.binding
                    recipient.bindingGroup = edit.bindingGroup
                }
            }
            kept.append(recipient)
        }
        guard !kept.isEmpty else { return discarded }
        envelope.recipients = kept
        envelope.shareCommonRecipientValues()
        return discarded
    }
}
