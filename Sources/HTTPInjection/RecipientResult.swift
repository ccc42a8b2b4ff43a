import TransmissionFormat

/// What became of one recipient of a transmission, as the API answers it.
package enum RecipientResult: Sendable, Equatable {
    /// Spooled and fsync'd (or discarded by policy, which a client is told as accepted, as SMTP's
    /// 250 does): the message's id.
    case accepted(id: String)
    /// Refused, with the SMTP-style code and text (a policy's, or Impulse's).
    case rejected(code: Int, reason: String)

    package var json: [(String, JSONValue)] {
        switch self {
        case .accepted(let id): return [("status", .string("accepted")), ("message_id", .string(id))]
        case .rejected(let code, let reason):
            return [("status", .string("rejected")), ("code", .number(Double(code))), ("reason", .string(reason))]
        }
    }
}
