/// Every size, count and time an SMTP peer controls, in one place.
///
/// Defaults follow RFC 5321 §4.5.3 ("Sizes and Timeouts"):
/// <https://www.rfc-editor.org/rfc/rfc5321#section-4.5.3>.
public struct SMTPLimits: Sendable, Equatable {
    /// Longest command line, CRLF included (RFC 5321 §4.5.3.1.4: 512 octets).
    public var maxCommandLineLength: Int = 512
    /// Longest line of message text, CRLF included (RFC 5321 §4.5.3.1.6: 1000 octets).
    public var maxTextLineLength: Int = 1000
    /// Longest reverse- or forward-path (RFC 5321 §4.5.3.1.3: 256 octets).
    public var maxPathLength: Int = 256
    /// Longest local part (RFC 5321 §4.5.3.1.1: 64 octets).
    public var maxLocalPartLength: Int = 64
    /// Longest domain (RFC 5321 §4.5.3.1.2: 255 octets).
    public var maxDomainLength: Int = 255
    /// Recipients accepted in one transaction (RFC 5321 §4.5.3.1.8 requires at least 100).
    public var maxRecipientsPerMessage: Int = 1000
    /// Largest message accepted, in octets, after dot-unstuffing (RFC 1870 SIZE).
    public var maxMessageSize: Int = 50 * 1024 * 1024
    /// Protocol errors tolerated in one session before it is closed with 421.
    public var maxErrorsPerSession: Int = 20
    /// Messages accepted in one session before 421 (0 = unlimited).
    public var maxReceptionsPerConnection: Int = 0
    /// Received: fields a message may carry before it is taken for a mail loop (RFC 5321 §6.3;
    /// Postfix's `hopcount_limit`, 50).
    public var maxReceivedHeaders: Int = 50
    /// Largest header section, in octets (the empty line that ends it excluded).
    public var maxHeaderSectionSize: Int = 1024 * 1024
    /// Most header fields in one message (continuation lines belong to their field).
    public var maxHeaderFields: Int = 10_000
    /// Seconds a client may stay silent while a command is expected (RFC 5321 §4.5.3.2.7: 5 min).
    public var commandTimeout: Int64 = 300
    /// Seconds allowed between two reads of message data (RFC 5321 §4.5.3.2.5: 3 min).
    public var dataTimeout: Int64 = 180

    /// Command lines one session may send, whatever they are (0 = unlimited).
    public var maxCommandsPerSession: Int = 100_000
    /// Seconds one session may last, however busy it is (0 = unlimited).
    public var maxSessionDuration: Int64 = 3600
    /// Seconds a TLS handshake may take (after STARTTLS, or from the connection on an
    /// implicit-TLS listener); then the connection is cut without a reply.
    public var tlsHandshakeTimeout: Int64 = 30
    /// Seconds a session's last reply may take to be written before the connection is cut (a
    /// client that stops reading would otherwise hold its slot forever).
    public var closeTimeout: Int64 = 10

    public init() {}
}
