// swift-tools-version:6.1
import PackageDescription

// Imports run one way: jisr → Gateway → Administration → Relay → {Adapters, MessageLog, Records, Registry, PKI} → {Schemas, Storage}.
var strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]
// CI (scripts/test with CI=true) treats warnings in Jisr's own targets as errors; dependencies are not affected.
if Context.environment["JISR_STRICT"] == "true" {
    strict.append(.unsafeFlags(["-warnings-as-errors"]))
}

// The commit `jisr --version` prints (CJisrBuild): JISR_COMMIT when scripts/package and scripts/test give it (SwiftPM
// re-reads this manifest when the environment changes, not when HEAD moves), else SwiftPM's git information.
let commit = Context.environment["JISR_COMMIT"]
    ?? Context.gitInformation.map { String($0.currentCommit.prefix(12)) + ($0.hasUncommittedChanges ? "-modified" : "") } ?? "unknown"

let package = Package(
    name: "jisr",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "jisr", targets: ["jisr"])
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/vapor/sqlite-nio.git", from: "1.13.2"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        // The configuration file of `jisr serve` (YAML, with comments an operator can read).
        .package(url: "https://github.com/apple/swift-configuration.git", from: "1.4.0", traits: [.defaults, "YAML"]),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-system.git", from: "1.8.1"),
        // Traces: spans through swift-distributed-tracing, exported over OTLP/HTTP only (no gRPC stack to build).
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.7.3"),
        .package(url: "https://github.com/swift-otel/swift-otel.git", from: "1.6.0", traits: ["OTLPHTTP"]),
        // Tests only: a client generated from openapi/exchange.json by Apple's generator, as a partner would make one.
        .package(url: "https://github.com/apple/swift-openapi-generator.git", from: "1.14.3"),
        .package(url: "https://github.com/apple/swift-openapi-runtime.git", from: "1.13.4"),
        .package(url: "https://github.com/swift-server/swift-openapi-async-http-client.git", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CLibXML2",
            pkgConfig: "libxml-2.0",
            providers: [.apt(["libxml2-dev"])]
        ),
        .target(
            name: "Schemas",
            dependencies: ["CLibXML2"],
            swiftSettings: strict
        ),
        .target(
            name: "Adapters",
            dependencies: ["Schemas"],
            swiftSettings: strict
        ),
        .target(
            name: "Storage",
            dependencies: [
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "SQLiteNIO", package: "sqlite-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "MessageLog",
            dependencies: [
                "Storage", "Schemas", "PKI",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "Records",
            dependencies: [
                "Schemas", "Storage",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "Registry",
            dependencies: [
                "Schemas", "Storage", "Adapters",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "PKI",
            dependencies: [
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "Relay",
            dependencies: [
                "Schemas", "Storage", "MessageLog", "Registry", "Records", "Adapters",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Instrumentation", package: "swift-distributed-tracing"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "Transparency",
            dependencies: [
                "MessageLog", "Records", "Registry", "Schemas", "Storage", "PKI",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "Administration",
            dependencies: [
                "Schemas", "Adapters", "Storage", "MessageLog", "Registry", "PKI", "Relay", "Records", "Transparency",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "Evidence",
            dependencies: [
                "MessageLog", "PKI", "Storage",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "Gateway",
            dependencies: [
                "Schemas", "Adapters", "Storage", "MessageLog", "Records", "Registry", "PKI", "Administration", "Relay", "Transparency",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Instrumentation", package: "swift-distributed-tracing"),
                .product(name: "OTel", package: "swift-otel"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "CJisrBuild",
            cSettings: [.define("JISR_COMMIT", to: "\"\(commit)\"")]
        ),
        .executableTarget(
            name: "jisr",
            dependencies: [
                "CJisrBuild", "Gateway", "Schemas", "Adapters", "Storage", "MessageLog", "Records", "Registry", "Administration", "PKI", "Relay", "Evidence",
                "Transparency",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "OTel", package: "swift-otel"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "SchemasTests",
            dependencies: ["Schemas", "Adapters"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "RelayTests",
            dependencies: ["Relay"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "MessageLogTests",
            dependencies: ["MessageLog", "Storage"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "StoreConformanceTests",
            dependencies: [
                "Storage", "MessageLog", "Records", "Registry", "Relay", "Schemas", "Adapters",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // The exchange API's client as swift-openapi-generator makes it from openapi/exchange.json (a link in the
        // target's folder), at build time: GatewayTests makes every lookup with it. Built only with the tests.
        .target(
            name: "ExchangeClient",
            dependencies: [
                .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime"),
                .product(name: "OpenAPIAsyncHTTPClient", package: "swift-openapi-async-http-client"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            path: "Tests/ExchangeClient",
            plugins: [.plugin(name: "OpenAPIGenerator", package: "swift-openapi-generator")]
        ),
        .testTarget(
            name: "GatewayTests",
            dependencies: [
                "ExchangeClient",
                .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime"),
                "Gateway", "Schemas", "Adapters", "Storage", "MessageLog", "Records", "Registry", "PKI", "Administration", "Relay", "Evidence",
                "Transparency",
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ],
            swiftSettings: strict
        ),
    ]
)

// Fuzz targets (`scripts/fuzz`), declared only when JISR_FUZZ=1: they call libFuzzer's driver, which only a
// `-sanitize=fuzzer` build links, so an ordinary build could not.
if Context.environment["JISR_FUZZ"] == "1" {
    package.targets.append(.target(name: "FuzzDriver", path: "Fuzz/FuzzDriver"))
    package.targets.append(.target(name: "FuzzSupport", dependencies: ["FuzzDriver", "Schemas"], path: "Fuzz/FuzzSupport", swiftSettings: strict))
    let fuzzTargets: [(String, [Target.Dependency])] = [
        ("FuzzXML", ["FuzzSupport", "Schemas"]),
        ("FuzzJSON", ["FuzzSupport", "Schemas"]),
        ("FuzzMapping", ["FuzzSupport", "Adapters", "Schemas"]),
        ("FuzzQuery", ["FuzzSupport", "Gateway", .product(name: "HummingbirdCore", package: "hummingbird")]),
    ]
    for (name, dependencies) in fuzzTargets {
        package.targets.append(
            .executableTarget(name: name, dependencies: dependencies, path: "Fuzz/\(name)", swiftSettings: strict))
    }
}
