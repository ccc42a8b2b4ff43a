import FuzzSupport
import SenderAuth

/// libFuzzer target: DKIM verification of a received message (untrusted: its DKIM-Signature
/// fields, header fields and body reach libopendkim), with the key records a hostile zone could
/// publish; and the header work Impulse does around it (key names, forged Authentication-Results).
/// The seeds are messages signed with the key below, so signatures that verify are explored too.
let publicKey =
    "v=DKIM1; k=rsa; p="
    + "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDBMFyWt5LR5TrCdACxi+YIGTROYJ4OEgjplenZcmrFF4sY1MMZ7G"
    + "9V47V9R6B+8EqzUXYI//ryJvfeEwqSs9XXKaUixh/Qja9et1f7RXtWTtTjK5U4X1bPHQU6xK1e4j+DFPfSshBSZ1Bk"
    + "Xvge/wij/qVvE0ie5+Mhb803bSXdYQIDAQAB"
let library = try! DKIMLibrary.verifying()

runFuzzer { data, size in
    let message = Array(fuzzInput(data, size))
    // The last octet picks what the key look-ups answer.
    let mode = message.last.map { $0 % 4 } ?? 0
    let outcome = DKIMVerifier.verify(message, library: library) { _ in
        switch mode {
        case 0: return .found(publicKey)
        case 1: return .found("v=DKIM1; k=rsa; h=sha1:sha256; t=y:s; p=" + String(publicKey.suffix(40)))
        case 2: return .notFound
        default: return .temporaryFailure
        }
    }
    precondition(outcome.signatures.count <= SenderAuthLimits.maxSignaturesReported, "too many signatures reported")
    precondition(
        outcome.signatures.filter { !$0.ignored }.count <= SenderAuthLimits.maxSignaturesChecked,
        "more signatures checked than the bound")
    _ = AuthenticationResults.field(authservID: "impulse.fuzz", dkim: outcome)
    precondition(DKIMKeyNames.of(message: message).count <= SenderAuthLimits.maxSignaturesChecked)
    if let cleaned = AuthenticationResults.removingForged(message, authservID: "impulse.fuzz") {
        precondition(cleaned.count < message.count, "removing fields made the message longer")
    }
    return 0
}
