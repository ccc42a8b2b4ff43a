/// Parses one command line (without its CRLF). Handles untrusted network input: every failure is
/// an `SMTPCommandError` carrying the reply, never a trap.
public enum SMTPCommandParser {
    public static func parse(_ line: some Collection<UInt8>, context: SMTPParseContext) throws(SMTPCommandError)
        -> SMTPCommand
    {
        // Commands are ASCII, but SMTPUTF8 paths may carry UTF-8; NUL, CR, LF and other controls never.
        for byte in line where byte < 32 && byte != UInt8(ascii: "\t") || byte == 127 {
            _ = byte
            throw SMTPCommandError(.invalidCharacter)
        }
        guard let text = String(validating: line, as: UTF8.self) else {
            throw SMTPCommandError(.invalidUTF8)
        }
        let verbEnd = text.firstIndex(of: " ") ?? text.endIndex
        let verb = text[..<verbEnd].uppercased()
        let rest = text[verbEnd...].drop(while: { $0 == " " })
        switch verb {
        case "HELO", "EHLO":
            let argument = rest.split(separator: " ").first.map(String.init) ?? ""
            guard !argument.isEmpty else { throw SMTPCommandError(.needsDomain(verb)) }
            guard argument.utf8.count <= context.limits.maxDomainLength + 2 else {
                throw SMTPCommandError(.argumentTooLong(verb))
            }
            return verb == "HELO" ? .helo(argument) : .ehlo(argument)
        case "MAIL":
            return try parseMail(rest, context: context)
        case "RCPT":
            return try parseRcpt(rest, context: context)
        case "DATA":
            try requireNoArgument(rest, verb)
            return .data
        case "BDAT":
            return try parseBDAT(rest, context: context)
        case "RSET":
            try requireNoArgument(rest, verb)
            return .rset
        case "NOOP":
            return .noop
        case "QUIT":
            try requireNoArgument(rest, verb)
            return .quit
        case "VRFY":
            guard !rest.isEmpty else { throw SMTPCommandError(.needsArgument("VRFY")) }
            return .vrfy(String(rest))
        case "EXPN":
            guard !rest.isEmpty else { throw SMTPCommandError(.needsArgument("EXPN")) }
            return .expn(String(rest))
        case "HELP":
            return .help(rest.isEmpty ? nil : String(rest))
        case "STARTTLS":
            try requireNoArgument(rest, verb)
            return .startTLS
        case "AUTH":
            return try parseAuth(rest)
        case "XCLIENT":
            return try parseXClient(rest)
        default:
            throw SMTPCommandError(.commandUnrecognized)
        }
    }

    /// "AUTH" SP sasl-mech [SP initial-response] (RFC 4954 §4): sasl-mech is 1*20 of upper-case
    /// letters, digits, "-" and "_" (taken case-insensitively); initial-response is base64 or "=".
    static func parseAuth(_ rest: Substring) throws(SMTPCommandError) -> SMTPCommand {
        let words = rest.split(separator: " ", omittingEmptySubsequences: true)
        guard let mechanism = words.first, words.count <= 2 else {
            throw SMTPCommandError(.usage("AUTH <mechanism> [initial-response]"))
        }
        let name = mechanism.uppercased()
        guard (1...20).contains(name.utf8.count),
            name.utf8.allSatisfy({
                ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D || $0 == 0x5F
            })
        else {
            throw SMTPCommandError(.usage("AUTH <mechanism> [initial-response]"))
        }
        return .auth(mechanism: name, initialResponse: words.count == 2 ? String(words[1]) : nil)
    }

    /// "XCLIENT" 1*( SP attribute-name "=" attribute-value ) (Postfix's XCLIENT_README): at most
    /// 10 attributes, values xtext of at most 255 octets once decoded.
    static func parseXClient(_ rest: Substring) throws(SMTPCommandError) -> SMTPCommand {
        let words = rest.split(separator: " ", omittingEmptySubsequences: true)
        guard !words.isEmpty, words.count <= 10 else { throw SMTPCommandError(.usage("XCLIENT attribute=value …")) }
        var attributes: [XClientAttribute] = []
        for word in words {
            guard let equals = word.firstIndex(of: "=") else {
                throw SMTPCommandError(.usage("XCLIENT attribute=value …"))
            }
            let name = word[..<equals].uppercased()
            let encoded = String(word[word.index(after: equals)...])
            guard XClientAttribute.known.contains(name) else { throw SMTPCommandError(.unknownXClientAttribute(name)) }
            guard ESMTPParameterList.isXtext(encoded), let value = ESMTPParameterList.decodeXtext(encoded),
                value.utf8.count <= 255
            else { throw SMTPCommandError(.invalidParameterValue("XCLIENT \(name) value")) }
            attributes.append(XClientAttribute(name: name, value: value))
        }
        return .xclient(attributes)
    }

    static func requireNoArgument(_ rest: Substring, _ verb: String) throws(SMTPCommandError) {
        guard rest.allSatisfy({ $0 == " " }) else {
            throw SMTPCommandError(.takesNoArgument(verb))
        }
    }

    /// "MAIL FROM:" Reverse-path [SP Mail-parameters]
    static func parseMail(_ rest: Substring, context: SMTPParseContext) throws(SMTPCommandError) -> SMTPCommand {
        let (pathText, parameterText) = try splitPath(rest, prefix: "FROM:")
        var parameters = MailParameters()
        if !parameterText.isEmpty {
            guard context.extendedMode else { throw unrecognizedParameters }
            let list = try ESMTPParameterList.split(parameterText, allowUTF8: false)
            var seen = Set<String>()
            for (keyword, value) in list {
                guard seen.insert(keyword).inserted else {
                    throw SMTPCommandError(.duplicateParameter(keyword))
                }
                switch keyword {
                case "SIZE":
                    guard let value, value.utf8.count <= 18, value.allSatisfy(\.isASCIIDigit), let size = Int(value)
                    else {
                        throw SMTPCommandError(.invalidParameterValue("SIZE value"))
                    }
                    if size > context.limits.maxMessageSize {
                        throw SMTPCommandError(.messageTooBig(limit: context.limits.maxMessageSize))
                    }
                    parameters.size = size
                case "BODY":
                    guard let value, let body = BodyType(rawValue: value.uppercased()) else {
                        throw SMTPCommandError(.invalidParameterValue("BODY value (7BIT or 8BITMIME)"))
                    }
                    parameters.body = body
                case "SMTPUTF8":
                    guard value == nil else { throw SMTPCommandError(.smtputf8TakesNoValue) }
                    parameters.smtpUTF8 = true
                case "RET":
                    guard let value, let ret = DSNReturn(rawValue: value.uppercased()) else {
                        throw SMTPCommandError(.invalidParameterValue("RET value (FULL or HDRS)"))
                    }
                    parameters.ret = ret
                case "ENVID":
                    guard let value, value.utf8.count <= 100, ESMTPParameterList.isXtext(value) else {
                        throw SMTPCommandError(.invalidParameterValue("ENVID value"))
                    }
                    parameters.envelopeID = value
                case "AUTH":
                    // RFC 4954 §5: AUTH=<mailbox as xtext> or AUTH=<>.
                    guard let value, value.utf8.count <= 500, value == "<>" || ESMTPParameterList.isXtext(value)
                    else {
                        throw SMTPCommandError(.invalidParameterValue("AUTH value"))
                    }
                    parameters.auth = value
                default:
                    throw SMTPCommandError(.unsupportedParameter(keyword))
                }
            }
        }
        let parser = MailPathParser(limits: context.limits, allowUTF8: parameters.smtpUTF8)
        do {
            return .mail(try parser.parseReversePath(pathText), parameters)
        } catch {
            throw SMTPCommandError(error.reply)
        }
    }

    /// "RCPT TO:" ( "<Postmaster@" Domain ">" / "<Postmaster>" / Forward-path ) [SP Rcpt-parameters]
    static func parseRcpt(_ rest: Substring, context: SMTPParseContext) throws(SMTPCommandError) -> SMTPCommand {
        let (pathText, parameterText) = try splitPath(rest, prefix: "TO:")
        var parameters = RecipientParameters()
        if !parameterText.isEmpty {
            guard context.extendedMode else { throw unrecognizedParameters }
            var seen = Set<String>()
            for (keyword, value) in try ESMTPParameterList.split(parameterText, allowUTF8: context.transactionUTF8) {
                guard seen.insert(keyword).inserted else {
                    throw SMTPCommandError(.duplicateParameter(keyword))
                }
                switch keyword {
                case "NOTIFY":
                    guard let value, let notify = parseNotify(value) else {
                        throw SMTPCommandError(.invalidParameterValue("NOTIFY value"))
                    }
                    parameters.notify = notify
                case "ORCPT":
                    // orcpt-parameter = "ORCPT=" addr-type ";" xtext (RFC 3461 §4.2); utf-8-addr-xtext per RFC 6533.
                    guard let value, value.utf8.count <= 500, let semicolon = value.firstIndex(of: ";"),
                        !value[..<semicolon].isEmpty,
                        value[..<semicolon].unicodeScalars.allSatisfy({ $0.isASCIIAlphanumeric || $0 == "-" }),
                        context.transactionUTF8
                            || ESMTPParameterList.isXtext(String(value[value.index(after: semicolon)...]))
                    else {
                        throw SMTPCommandError(.invalidParameterValue("ORCPT value"))
                    }
                    parameters.originalRecipient = value
                default:
                    throw SMTPCommandError(.unsupportedParameter(keyword))
                }
            }
        }
        let parser = MailPathParser(limits: context.limits, allowUTF8: context.transactionUTF8)
        do {
            return .rcpt(try parser.parseForwardPath(pathText), parameters)
        } catch {
            throw SMTPCommandError(error.reply)
        }
    }

    static let unrecognizedParameters = SMTPCommandError(.parametersOnlyAfterEHLO)

    /// NOTIFY = "NEVER" / 1#( "SUCCESS" / "FAILURE" / "DELAY" )
    static func parseNotify(_ value: String) -> DSNNotify? {
        let items = value.uppercased().split(separator: ",", omittingEmptySubsequences: false)
        if items == ["NEVER"] { return DSNNotify(never: true) }
        var notify = DSNNotify()
        for item in items {
            switch item {
            case "SUCCESS" where !notify.success: notify.success = true
            case "FAILURE" where !notify.failure: notify.failure = true
            case "DELAY" where !notify.delay: notify.delay = true
            default: return nil
            }
        }
        return notify
    }

    /// Splits `FROM:<path> params` into the `<…>` path (quote-aware) and the parameter text.
    static func splitPath(_ rest: Substring, prefix: String) throws(SMTPCommandError) -> (Substring, Substring) {
        guard rest.count >= prefix.count, rest.prefix(prefix.count).uppercased() == prefix else {
            throw SMTPCommandError(.usage(prefix == "FROM:" ? "MAIL FROM:<address>" : "RCPT TO:<address>"))
        }
        // RFC 5321 has no space after the colon; so many clients send one that we allow it.
        let afterColon = rest.dropFirst(prefix.count).drop(while: { $0 == " " })
        guard afterColon.first == "<" else {
            throw SMTPCommandError(.badAddressSyntax("path must be enclosed in <>"))
        }
        var inQuotes = false
        var escaped = false
        var end: Substring.Index?
        var index = afterColon.startIndex
        while index < afterColon.endIndex {
            let character = afterColon[index]
            if escaped {
                escaped = false
            } else if inQuotes && character == "\\" {
                escaped = true
            } else if character == "\"" {
                inQuotes.toggle()
            } else if !inQuotes && character == ">" {
                end = index
                break
            }
            index = afterColon.index(after: index)
        }
        guard let end else {
            throw SMTPCommandError(.badAddressSyntax("missing '>'"))
        }
        let path = afterColon[...end]
        let after = afterColon[afterColon.index(after: end)...]
        guard after.isEmpty || after.first == " " else {
            throw SMTPCommandError(.textAfterAddress)
        }
        return (path, after.drop(while: { $0 == " " }))
    }

    /// bdat-cmd = "BDAT" SP chunk-size [ SP end-marker ]  (RFC 3030 §2)
    static func parseBDAT(_ rest: Substring, context: SMTPParseContext) throws(SMTPCommandError) -> SMTPCommand {
        // BDAT after HELO is refused by the session, which still reads the chunk: parse the size.
        let parts = rest.split(separator: " ")
        guard (1...2).contains(parts.count), parts[0].utf8.count <= 18, parts[0].allSatisfy(\.isASCIIDigit),
            let size = Int(parts[0])
        else {
            throw SMTPCommandError(.usage("BDAT <size> [LAST]"))
        }
        if parts.count == 2 {
            guard parts[1].uppercased() == "LAST" else {
                throw SMTPCommandError(.usage("BDAT <size> [LAST]"))
            }
            return .bdat(size: size, last: true)
        }
        return .bdat(size: size, last: false)
    }
}
