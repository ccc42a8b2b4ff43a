// swift-tools-version:6.0
import PackageDescription

let strict: [SwiftSetting] = [.swiftLanguageMode(.v6)]

let package = Package(
    name: "Impulse",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "impulse", targets: ["impulse"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0")
    ],
    targets: [
        // Wire grammar only. Handles untrusted network input.
        .target(
            name: "SMTPProtocol",
            dependencies: [.product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: strict),
        // LuaJIT from Debian's libluajit-5.1-dev, and the C layer that raises and yields for Swift
        // (LuaShim) and its Swift face (LuaBridge). Runs the operator's scripts, sandboxed and
        // bounded (memory, instructions, pattern and sort work), on data from untrusted clients.
        .systemLibrary(name: "CLuaJIT", pkgConfig: "luajit", providers: [.apt(["libluajit-5.1-dev"])]),
        .target(name: "LuaShim", dependencies: ["CLuaJIT"]),
        .target(name: "LuaBridge", dependencies: ["CLuaJIT", "LuaShim"], swiftSettings: strict),
        // DNS through libunbound (Debian's libunbound-dev). Answers are untrusted network input
        // (bounded in size, time and count).
        // No pkgConfig: libunbound.pc needs libevent's .pc, and the header is in /usr/include anyway.
        .systemLibrary(name: "CUnbound", providers: [.apt(["libunbound-dev", "libevent-dev"])]),
        .target(
            name: "Resolver",
            dependencies: [
                "CUnbound", .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio")
            ],
            swiftSettings: strict),
        // DKIM verification through libopendkim (Debian's libopendkim-dev), behind a narrow C face
        // (DKIMShim). Verifies signatures on untrusted messages with keys from DNS (untrusted
        // network input, bounded).
        .systemLibrary(name: "COpenDKIM", pkgConfig: "opendkim", providers: [.apt(["libopendkim-dev"])]),
        // Signatures (DKIM, ARC) with keys OpenSSL's libcrypto decodes once, and ARC's RSA checks;
        // libcrypto is the library libopendkim uses too.
        .target(name: "DKIMShim", dependencies: ["COpenDKIM"], linkerSettings: [.linkedLibrary("crypto")]),
        // SPF through libspf2 (Debian's libspf2-dev), its DNS answered by Impulse's resolver.
        .systemLibrary(name: "CLibSPF2", providers: [.apt(["libspf2-dev"])]),
        .target(name: "SPFShim", dependencies: ["CLibSPF2"], linkerSettings: [.linkedLibrary("spf2")]),
        // DMARC policy evaluation through libopendmarc (Debian's libopendmarc-dev); the records
        // it evaluates are looked up by Impulse's resolver, never by the library.
        .systemLibrary(name: "COpenDMARC", providers: [.apt(["libopendmarc-dev"])]),
        .target(
            name: "SenderAuth",
            dependencies: [
                "DKIMShim", "SPFShim", "COpenDMARC", "Resolver", "SMTPProtocol", "ImpulseConfig",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio")
            ],
            swiftSettings: strict),
        // msys.db's datasources (Momentum's ds_core): SQLite, PostgreSQL (libpq) and MySQL/MariaDB
        // (MariaDB Connector/C), each driven on the datasource's own threads.
        .systemLibrary(name: "CSQLite3", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "CMariaDB", pkgConfig: "libmariadb", providers: [.apt(["libmariadb-dev"])]),
        .target(
            name: "Datasource",
            dependencies: [
                "CSQLite3", "CLibPQ", "CMariaDB", "ImpulseConfig",
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "DequeModule", package: "swift-collections")
            ],
            swiftSettings: strict),
        // PCRE2 for msys.pcre (Debian's libpcre2-dev).
        .systemLibrary(name: "CPCRE2", pkgConfig: "libpcre2-8", providers: [.apt(["libpcre2-dev"])]),
        // OpenSSL's libcrypto digests (SHA-256, SHA-512) for DANE's TLSA matching.
        .systemLibrary(name: "CLibCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        // The system's libcrypt (libxcrypt) for crypt(3)-hashed passwords of SMTP AUTH.
        .systemLibrary(name: "CLibXCrypt", providers: [.apt(["libcrypt-dev"])]),
        // hiredis, the Redis client cluster-wide throttles use (Debian's libhiredis-dev).
        .systemLibrary(name: "CHiredis", pkgConfig: "hiredis", providers: [.apt(["libhiredis-dev"])]),
        // Line editing and history for `impulse console` (Debian's libedit-dev).
        .systemLibrary(name: "CEditLine", pkgConfig: "libedit", providers: [.apt(["libedit-dev"])]),
        // IDNA2008 for msys.idn (Debian's libidn2-dev).
        .systemLibrary(name: "CIDN2", pkgConfig: "libidn2", providers: [.apt(["libidn2-dev"])]),
        // The msys Lua API: dialect translation, registration, callouts, objects and library.
        // Its trusted Lua (the msys objects, the library, thread pools, timers) is in Lua/ and
        // compiled into the binary. Runs the operator's scripts (trusted to configure, not to be
        // correct: every error is contained) on untrusted message data.
        .target(
            name: "Scriptlet",
            dependencies: [
                "LuaBridge", "CPCRE2", "CIDN2", "ImpulseConfig", "SMTPProtocol", "OutboundSMTP",
                .product(name: "NIOCore", package: "swift-nio")
            ],
            resources: [
                "impulse-prelude.lua", "impulse-library.lua", "impulse-threadpools.lua", "impulse-timers.lua",
                "impulse-datasource.lua", "impulse-http.lua", "impulse-mime.lua", "impulse-throttles.lua"
            ]
            .map { .embedInCode("Lua/\($0)") },
            swiftSettings: strict),
        // ecelerity.conf: lexer, parser, option catalogue and binding. Trusted input (the
        // operator's files), checked strictly: every mistake is an error with file:line:column.
        .target(name: "ImpulseConfig", dependencies: ["SMTPProtocol", "CPCRE2"], swiftSettings: strict),
        // The outbound SMTP client's protocol logic free of sockets. Parses untrusted replies
        // from next hops.
        .target(name: "OutboundSMTP", dependencies: ["SMTPProtocol"], swiftSettings: strict),
        // Rate limits as GCRA clocks, kept locally or shared between nodes through Redis (hiredis):
        // the delivery throttles' clock and policies' named throttles. Talks to the operator's
        // Redis server, trusted to answer the script it runs.
        .target(
            name: "SharedThrottles",
            dependencies: [
                "ImpulseConfig", "CHiredis", .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio")
            ],
            swiftSettings: strict),
        // The queue manager and outbound connections: routing (gateway, routes, MX through
        // Resolver), retries, bounces, the delivery journal, mainlog/bouncelog; STARTTLS
        // through swift-nio-ssl. Talks to untrusted next hops and DNS; acts on trusted queue
        // data and operator commands.
        .target(
            name: "Delivery",
            dependencies: [
                "OutboundSMTP", "Spool", "ImpulseConfig", "Resolver", "SharedThrottles", "CLibCrypto",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "HeapModule", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl")
            ],
            swiftSettings: strict),
        // The spool: group-committed, checksummed segments, recovery and quarantine. Stores
        // untrusted message data; reads back only what it wrote (damage is quarantined).
        // zlib's CRC-32 for the spool records' checksums (Debian's zlib1g-dev).
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .target(
            name: "Spool",
            dependencies: [
                "CZlib", .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log")
            ],
            swiftSettings: strict),
        // The paniclog, the console's view of recent log lines, and per-subsystem log levels.
        // Trusted input: the configuration and the operator's console.
        .target(
            name: "Logs",
            dependencies: [
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log")
            ],
            swiftSettings: strict),
        // Prometheus metrics and the console's statistics, and the HTTP listener that serves
        // them. Counts what untrusted clients do; serves read-only text to local users.
        .target(
            name: "ImpulseMetrics",
            dependencies: [
                "Delivery",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus")
            ],
            swiftSettings: strict),
        // What policies wait for, carried out off the event loops (the effect executor), and
        // msys.runInPool's thread pools. Runs the operator's scripts' requests.
        .target(
            name: "PolicyRuntime",
            dependencies: [
                "Scriptlet", "LuaBridge", "Spool", "Resolver", "SMTPProtocol", "ImpulseConfig", "SenderAuth",
                "Datasource", "SharedThrottles", .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio")
            ],
            swiftSettings: strict),
        // The inbound SMTP server: one handler per connection and its session state machine,
        // relay control, reception limits. Handles untrusted network input.
        .target(
            name: "SMTPServer",
            dependencies: [
                "SMTPProtocol", "ImpulseConfig", "Spool", "Scriptlet", "LuaBridge", "Resolver", "Delivery",
                "PolicyRuntime", "ImpulseMetrics", "SenderAuth", "CLibXCrypt", "CLibCrypto", "Datasource",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log")
            ],
            swiftSettings: strict),
        // What the injection API reads and builds: strict JSON with positions, transmissions,
        // templates and RFC 5322 messages. Handles untrusted network input; no I/O.
        .target(
            name: "TransmissionFormat", dependencies: ["Spool"], swiftSettings: strict),
        // The HTTP_Listener's API: message injection (Momentum's REST transmissions), /stats JSON,
        // authentication and rate of each Listen. Handles untrusted network input.
        .target(
            name: "HTTPInjection",
            dependencies: [
                "SMTPServer", "Delivery", "ImpulseMetrics", "ImpulseConfig", "Scriptlet", "PolicyRuntime", "Spool",
                "TransmissionFormat",
                "SMTPProtocol", "SenderAuth", "CLibCrypto",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log")
            ],
            swiftSettings: strict),
        // `impulse policy test`: a policy run against transcripts in a server on loopback, with
        // DNS, msys.db and msys.http answered from the transcript.
        .target(
            name: "PolicyTest",
            dependencies: [
                "ImpulseServer", "SMTPServer", "Scriptlet", "ImpulseConfig", "Spool", "TransmissionFormat",
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log")
            ],
            swiftSettings: strict),
        // The operator's console: the control listener (`Control_Listener`) and one file per
        // console command. Trusted: local operators (the listener's socket mode or address decides
        // who they are).
        .target(
            name: "Control",
            dependencies: [
                "ImpulseConfig", "Delivery", "ImpulseMetrics", "Logs",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log")
            ],
            swiftSettings: strict),
        // The wiring: starts and stops the listeners, the spool, delivery, the policy generations,
        // metrics and the console, and runs console commands. Trusted: configuration and operator.
        .target(
            name: "ImpulseServer",
            dependencies: [
                "SMTPProtocol", "ImpulseConfig", "Spool", "Scriptlet", "Resolver", "Delivery", "LuaBridge",
                "Logs", "ImpulseMetrics", "PolicyRuntime", "SMTPServer", "Control", "SenderAuth", "Datasource",
                "HTTPInjection",
                "SharedThrottles", .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log")
            ],
            swiftSettings: strict),
        .executableTarget(
            name: "impulse",
            dependencies: [
                "Logs",
                "ImpulseServer", "ImpulseConfig", "Spool", "Scriptlet", "CEditLine", "SenderAuth", "PolicyTest",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log")
            ],
            swiftSettings: strict),
        // `make bench-dns`: CPU per DNS look-up, missed and cached.
        .executableTarget(
            name: "DNSBench", dependencies: ["Resolver"], path: "Benchmarks/DNSBench", swiftSettings: strict),
        // `make bench-dkim`: CPU and instructions per DKIM signature.
        .executableTarget(
            name: "DKIMSignBench", dependencies: ["SenderAuth"], path: "Benchmarks/DKIMSignBench",
            swiftSettings: strict),
        // `make bench-policy`: CPU per callout and per msg:header/body/text call.
        .executableTarget(
            name: "PolicyBench", dependencies: ["Scriptlet"], path: "Benchmarks/PolicyBench", swiftSettings: strict),
        // libFuzzer targets (`make fuzz`; built with -sanitize=fuzzer, see scripts/fuzz.sh).
        .target(name: "FuzzSupport", path: "Fuzz/FuzzSupport", swiftSettings: strict),
        .executableTarget(
            name: "FuzzSMTPCommand", dependencies: ["FuzzSupport", "SMTPProtocol"], path: "Fuzz/FuzzSMTPCommand",
            swiftSettings: strict),
        .executableTarget(
            name: "FuzzDataDecoder", dependencies: ["FuzzSupport", "SMTPProtocol"], path: "Fuzz/FuzzDataDecoder",
            swiftSettings: strict),
        .executableTarget(
            name: "FuzzConfig", dependencies: ["FuzzSupport", "ImpulseConfig"], path: "Fuzz/FuzzConfig",
            swiftSettings: strict),
        .executableTarget(
            name: "FuzzThreadedLua", dependencies: ["FuzzSupport", "Scriptlet"], path: "Fuzz/FuzzThreadedLua",
            swiftSettings: strict),
        .executableTarget(
            name: "FuzzReplyParser", dependencies: ["FuzzSupport", "OutboundSMTP"], path: "Fuzz/FuzzReplyParser",
            swiftSettings: strict),
        .executableTarget(
            name: "FuzzLuaPatterns", dependencies: ["FuzzSupport", "LuaShim", "CLuaJIT"], path: "Fuzz/FuzzLuaPatterns",
            swiftSettings: strict),
        .executableTarget(
            name: "FuzzDKIMVerify", dependencies: ["FuzzSupport", "SenderAuth"], path: "Fuzz/FuzzDKIMVerify",
            swiftSettings: strict),
        .executableTarget(
            name: "FuzzDNSMessage", dependencies: ["FuzzSupport", "Resolver"], path: "Fuzz/FuzzDNSMessage",
            swiftSettings: strict),
        .executableTarget(
            name: "FuzzHeaderSection", dependencies: ["FuzzSupport", "SMTPProtocol"], path: "Fuzz/FuzzHeaderSection",
            swiftSettings: strict),
        .executableTarget(
            name: "FuzzMIMEStructure", dependencies: ["FuzzSupport", "SMTPProtocol"], path: "Fuzz/FuzzMIMEStructure",
            swiftSettings: strict),
        .executableTarget(
            name: "FuzzSevenBitDowngrade", dependencies: ["FuzzSupport", "OutboundSMTP"],
            path: "Fuzz/FuzzSevenBitDowngrade", swiftSettings: strict),
        .executableTarget(
            name: "FuzzTransmission", dependencies: ["FuzzSupport", "TransmissionFormat"],
            path: "Fuzz/FuzzTransmission", swiftSettings: strict),
        .testTarget(
            name: "SMTPProtocolTests", dependencies: ["SMTPProtocol"], exclude: ["Fixtures"], swiftSettings: strict),
        .testTarget(name: "OutboundSMTPTests", dependencies: ["OutboundSMTP"], swiftSettings: strict),
        .testTarget(
            name: "SharedThrottlesTests", dependencies: ["SharedThrottles", "ImpulseConfig"], swiftSettings: strict),
        .testTarget(name: "ResolverTests", dependencies: ["Resolver"], swiftSettings: strict),
        .testTarget(name: "PolicyTestTests", dependencies: ["PolicyTest"], swiftSettings: strict),
        .testTarget(
            name: "HTTPInjectionTests",
            dependencies: ["HTTPInjection", "TransmissionFormat", "ImpulseConfig", "SMTPServer"],
            swiftSettings: strict),
        .testTarget(
            name: "SenderAuthTests", dependencies: ["SenderAuth", "Resolver", "SMTPProtocol"], swiftSettings: strict),
        .testTarget(
            name: "DeliveryTests",
            dependencies: [
                "Delivery", "OutboundSMTP", "Spool", "ImpulseConfig", "CLibCrypto",
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOPosix", package: "swift-nio")
            ], swiftSettings: strict),
        .testTarget(
            name: "DatasourceTests",
            dependencies: ["Datasource", "ImpulseConfig", .product(name: "NIOPosix", package: "swift-nio")],
            swiftSettings: strict),
        .testTarget(name: "ImpulseConfigTests", dependencies: ["ImpulseConfig", "SMTPProtocol"], swiftSettings: strict),
        .testTarget(
            name: "ScriptletTests",
            dependencies: ["Scriptlet", "LuaBridge", .product(name: "NIOCore", package: "swift-nio")], exclude: ["Lua"],
            swiftSettings: strict),
        .testTarget(
            name: "LuaBridgeTests", dependencies: ["LuaBridge", "LuaShim", "CLuaJIT"], exclude: ["Lua"],
            swiftSettings: strict),
        .testTarget(
            name: "SpoolTests",
            dependencies: [
                "Spool", .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log")
            ],
            swiftSettings: strict),
        .testTarget(
            name: "ImpulseServerTests",
            dependencies: [
                "ImpulseServer", "SMTPServer", "PolicyRuntime", "ImpulseMetrics", "SMTPProtocol", "ImpulseConfig",
                "Spool",
                "Scriptlet", "Delivery",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log")
            ],
            swiftSettings: strict)
    ]
)
