/// The validation callouts of `msys.registerModule` (Momentum's `msys.registerModule` page; docs/lua/README.md), and
/// the hook
/// points that act like them (they see the vctx and answer through its code), in phase order.
public enum Callout: String, Sendable, CaseIterable {
    case validateAccept = "core_validate_accept"
    case connect = "validate_connect"
    case ehlo = "validate_ehlo"
    case mailFrom = "validate_mailfrom"
    case rcptTo = "validate_rcptto"
    case rcptToList = "validate_rcptto_list"
    case rcptToListFinal = "validate_rcptto_list_final"
    case data = "validate_data"
    case dataSpool = "validate_data_spool"
    case dataSpoolEachRcpt = "validate_data_spool_each_rcpt"
    case setBinding = "validate_set_binding"
    case preMessageEachRcpt = "core_pre_msg_each_rcpt"
    case postMessageEachRcpt = "core_post_msg_each_rcpt"
    case finalValidation2 = "core_final_validation2"
    case finalValidation = "core_final_validation"
    case postFinalValidation = "core_post_final_validation"
    /// Momentum 4's hook for messages generated from an HTTP injection (REST transmissions),
    /// before set_binding and final validation.
    case messageGeneratedDataSpool = "msg_gen_data_spool"

    /// The callout's position in `allCases`, 1-based (how Impulse names it to Lua). A switch, not
    /// a table: this runs for every callout (CalloutTests checks it against `allCases`).
    var number: Int {
        switch self {
        case .validateAccept: return 1
        case .connect: return 2
        case .ehlo: return 3
        case .mailFrom: return 4
        case .rcptTo: return 5
        case .rcptToList: return 6
        case .rcptToListFinal: return 7
        case .data: return 8
        case .dataSpool: return 9
        case .dataSpoolEachRcpt: return 10
        case .setBinding: return 11
        case .preMessageEachRcpt: return 12
        case .postMessageEachRcpt: return 13
        case .finalValidation2: return 14
        case .finalValidation: return 15
        case .postFinalValidation: return 16
        case .messageGeneratedDataSpool: return 17
        }
    }

    /// A `<scope>_<hook>` hook point (`core_…`) rather than a `validate_*` callout.
    public var isHook: Bool {
        switch self {
        case .validateAccept, .preMessageEachRcpt, .postMessageEachRcpt, .finalValidation2, .finalValidation,
            .postFinalValidation, .messageGeneratedDataSpool:
            return true
        default: return false
        }
    }
}

/// What the modules decided in one phase.
public enum CalloutOutcome: Equatable, Sendable {
    /// No module set a code: go on as the server would without policy.
    case proceed
    /// `vctx:set_code(code, text)`: answer with that code (4xx/5xx rejects the command).
    case reply(code: Int, text: String?)
    /// `vctx:disconnect(code, text)`: answer, then close the connection.
    case disconnect(code: Int, text: String?)
    /// A module raised an error, returned something invalid or the watchdog fired.
    case failed(ScriptletFailure)
}

/// A callout that failed, with what the paniclog needs to name it (docs/lua/README.md, errors).
public struct ScriptletFailure: Error, Equatable, Sendable, CustomStringConvertible {
    public var module: String
    public var script: String
    public var callout: String
    public var message: String

    public init(module: String, script: String, callout: String, message: String) {
        self.module = module
        self.script = script
        self.callout = callout
        self.message = message
    }

    /// Momentum's two paniclog lines: the callout's, then the module's.
    public var paniclogLines: [String] {
        ["scriptlet: \(callout) error: \(message)", "scriptlet: \(module) error: \(message)"]
    }

    public var description: String { "scriptlet: module \(module) (\(script)) \(callout) error: \(message)" }
}

/// Envelope changes scripts made (PolicyState.takeChanges).
public struct PolicyChanges: Sendable, Equatable {
    public var mailFrom: String?
    /// (current address, new address) for msg:rcptto(new).
    public var recipientRewrites: [(String, String)] = []
    public var routingDomain: String?
    public var binding: String?
    public var bindingGroup: String?
    /// msg:discard's reason: accept the message, then drop it.
    public var discard: String?
    public var priority: Int?
    public var capabilitiesAdded: [String] = []
    public var capabilitiesRemoved: [String] = []

    public init() {}

    public static func == (lhs: PolicyChanges, rhs: PolicyChanges) -> Bool {
        lhs.mailFrom == rhs.mailFrom
            && lhs.recipientRewrites.map { [$0.0, $0.1] } == rhs.recipientRewrites.map { [$0.0, $0.1] }
            && lhs.routingDomain == rhs.routingDomain && lhs.binding == rhs.binding
            && lhs.bindingGroup == rhs.bindingGroup
            && lhs.discard == rhs.discard && lhs.priority == rhs.priority
            && lhs.capabilitiesAdded == rhs.capabilitiesAdded && lhs.capabilitiesRemoved == rhs.capabilitiesRemoved
    }
}
