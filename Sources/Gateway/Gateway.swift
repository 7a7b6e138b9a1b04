import Adapters
import Administration
import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import MessageLog
import NIOCore
import NIOSSL
import PKI
import Records
import Relay
import Registry
import Schemas
import ServiceLifecycle
import UnixSignals
import Storage
import Transparency

/// Every schema migration Jisr owns, across modules.
public enum JisrMigrations {
    public static let all = RegistrySchema.migrations + MessageLogSchema.migrations + MinistrySchema.migrations + RelaySchema.migrations + InboxStore.migrations

    /// Every table Jisr keeps, in the order `jisr store copy` moves them (parents before children).
    public static let copiedTables = RegistrySchema.copiedTables + MessageLogSchema.copiedTables + RelaySchema.copiedTables + MinistrySchema.copiedTables

    /// Refuses a store this binary cannot serve: a newer schema (an older jisr must not write to it), or one not migrated yet.
    public static func requireCurrent(_ database: Database, logger: Logger) async throws {
        let migrator = Migrator(database: database, logger: logger)
        try await migrator.checkNotNewer(all)
        let pending = try await migrator.pending(all)
        guard pending.isEmpty else { throw SchemaNotCurrentError(pending: pending) }
    }
}

/// The store lacks migrations this binary needs and was not allowed to apply them (`jisr migrate` does).
public struct SchemaNotCurrentError: Error, Sendable, CustomStringConvertible {
    public let pending: [String]
    public var description: String {
        "the store needs \(pending.count) migration(s) (\(pending.prefix(3).joined(separator: ", "))\(pending.count > 3 ? ", …" : "")); run `jisr migrate` first"
    }
}

/// The running gateway: its services in start order (stopped in reverse).
///
/// `jisr serve`, `jisr demo` and the tests all build it here, so the tests exercise what production runs.
public struct Gateway: Sendable {
    public let database: Database
    public let services: [any Service]
    public let logWriter: LogWriter
    public let registry: RegistryWatcher
    /// `METHOD /path/{parameter}` of every route each listener serves, for checking the OpenAPI documents.
    public let routes: [String: Set<String>]
    /// What SIGHUP may change while the gateway runs.
    let tuning: Tuning

    /// The running parts a reload reaches.
    struct Tuning: Sendable {
        let limits: CertificateLimits
        let timestamper: TimestampAuthorityClient?
        let relay: RelayWorker?
    }

    /// Applies the settings that can change safely while the gateway runs — rate limits, the TSA's URL, the relay's
    /// attempts, maximum age and backoff — and returns what it could not apply (a TSA where none was configured at
    /// start, a relay this process does not run): those need a restart.
    public func retune(_ configuration: GatewayConfiguration) -> [String] {
        var needsRestart: [String] = []
        tuning.limits.set(partner: configuration.certificateRateLimit, refused: configuration.refusedCertificateRateLimit)
        if let url = configuration.sealing?.timestamping?.url {
            if let timestamper = tuning.timestamper { timestamper.retarget(url) } else { needsRestart.append("timestamping.url") }
        }
        if let relay = configuration.relay {
            if let worker = tuning.relay {
                worker.retune(attempts: relay.policy.maximumAttempts, maximumAge: relay.policy.maximumAge, initialBackoff: relay.policy.initialBackoff)
            } else {
                needsRestart.append("relay")
            }
        }
        return needsRestart
    }

    /// Builds the gateway; `onExchangeListening` receives the bound exchange port (useful with port 0).
    public static func build(
        configuration: GatewayConfiguration, logger: Logger, onExchangeListening: @escaping @Sendable (Int) async -> Void = { _ in },
        onOpsListening: @escaping @Sendable (Int) async -> Void = { _ in }, onAdminListening: @escaping @Sendable (Int) async -> Void = { _ in },
        onCRLListening: @escaping @Sendable (Int) async -> Void = { _ in }
    ) throws -> Gateway {
        let catalog = try ContractCatalog.load(from: configuration.contractsDirectory)
        // One secret keys subject references and seals bodies at rest; read it once.
        let subjectKey = try SubjectKeyFile.read(configuration.subjectKeyPath)
        // Every private key the gateway holds is its user's alone, as the subject key is.
        var secrets = [(configuration.serverKeyPath, "the server key")]
        if let sealing = configuration.sealing { secrets.append((sealing.signingKeyPath, "the log-signing key")) }
        if let relay = configuration.relay { secrets.append((relay.clientKeyPath, "the relay's client key")) }
        if let path = configuration.partnerCAKeyPath { secrets.append((path, "the partner CA's key")) }
        for (path, what) in secrets { try SecretFile.checkPrivate(path, what) }
        let referencer = SubjectReferencer(key: subjectKey)
        let sealer = try configuration.bodyKeyFolder.map { try BodySealer(secret: subjectKey, keyFolder: $0) } ?? BodySealer(secret: subjectKey)
        let (tls, partnerRoots) = try exchangeTLS(configuration)
        var claim: EmbeddedStoreClaim?
        if case .sqlite(let path) = configuration.database { claim = try EmbeddedStoreClaim(path: path) }
        let database = Database(configuration.database, connections: configuration.databaseConnections, steady: true, claim: claim, logger: logger)
        let metrics = GatewayMetrics(certificates: try configuredCertificates(configuration))
        let tracing = try GatewayTracing.make(configuration.tracing, logger: logger)
        var logWriting = LogWriterConfiguration()
        logWriting.commitTimeout = configuration.logDeadline
        logWriting.onCommit = { entries, took in metrics.committed(entries: entries, took: took) }
        let logWriter = LogWriter(database: database, configuration: logWriting, logger: logger)
        let registry = RegistryWatcher(store: RegistryStore(database: database, logger: logger), logger: logger)
        let records = DatabaseRecordSource(database: database, deadline: configuration.storeDeadline, logger: logger)

        let router = Router(context: ExchangeContext.self)
        router.add(middleware: PartnerAuthenticator(fingerprints: PeerFingerprints(), registry: registry))
        var logSealer: Sealer?
        var logSigner: SealSigner?
        var tsaClient: TimestampAuthorityClient?
        if let sealing = configuration.sealing {
            let signer = try SealSigner(
                keyPEM: try String(contentsOfFile: sealing.signingKeyPath, encoding: .utf8),
                certificatePEM: try String(contentsOfFile: sealing.signingCertificatePath, encoding: .utf8))
            let timestamper = try sealing.timestamping.map { try TimestampAuthorityClient(configuration: $0) }
            tsaClient = timestamper
            logSigner = signer
            logSealer = Sealer(database: database, log: logWriter, signer: signer, timestamper: timestamper, configuration: sealing.sealer, logger: logger)
        }
        let gate = logSealer
        let certificateLimits = CertificateLimits(partner: configuration.certificateRateLimit, refused: configuration.refusedCertificateRateLimit)
        let auditor = ExchangeAuditor(
            log: logWriter, referencer: referencer, limiter: RateLimiter(),
            certificates: certificateLimits, refusing: { gate?.timestamping.refusing ?? false },
            metrics: metrics, tracer: tracing.tracer, logger: logger)
        let openAPI = configuration.contractsDirectory.deletingLastPathComponent().appendingPathComponent("openapi")
        let exchangeDocument = try OpenAPIDocument(file: openAPI.appendingPathComponent("exchange.json"))
        ExchangeRoutes(
            catalog: catalog, adapters: AdapterRegistry(catalog: catalog), records: records, referencer: referencer, auditor: auditor, openAPI: exchangeDocument,
            sealer: sealer, inbox: database, storeDeadline: configuration.storeDeadline,
            evidence: EvidenceRoutes(
                auditor: auditor, log: LogReader(database: database, logger: logger), seals: SealStore(database: database, logger: logger),
                sealEvery: configuration.sealing?.sealer.every),
            reporter: AccessReporter(database: database, records: records, referencer: referencer, catalog: catalog, logger: logger), reportSigner: logSigner,
            logger: logger
        ).register(on: router)
        var routes = ["exchange": Self.describe(router.routes.map { ($0.method.rawValue, $0.path.description) })]

        let verifier = ClientCertificateVerifier(configuredRootPEMs: partnerRoots, registry: registry, logger: logger)
        // Every listener: deadlines, an idle timeout and a cap of its own, so that none can be held open by a client or
        // starve another of descriptors.
        let budget = ConnectionBudget.ofThisProcess(storeConnections: configuration.databaseConnections, logger: logger)
        let http1 = ConnectionBudget.http1(deadlines: configuration.requestDeadlines, idleTimeoutSeconds: configuration.idleTimeoutSeconds, logger: logger)
        let exchange = Application(
            router: router,
            server: try .tls(
                .http1(configuration: http1),
                configuration: TLSChannelConfiguration(tlsConfiguration: tls, customAsyncVerificationCallback: verifier.verify)),
            configuration: .init(
                address: .hostname(configuration.exchangeHost, port: configuration.exchangePort), serverName: "jisr",
                availableConnectionsDelegate: .maximum(budget.exchange, logger: logger)),
            onServerRunning: { channel in await onExchangeListening(channel.localAddress?.port ?? 0) },
            logger: logger)

        // Nothing touches the store before every migration has run: the prelude migrates and reads the registry,
        // and every service that uses the store waits for it. The ops listener answers at once (live; not ready).
        let ready = StoreReady()
        let prelude = StorePrelude(database: database, migrate: configuration.migrateOnStart, registry: registry, ready: ready, logger: logger)
        let ops = Application(
            router: OpsRoutes(database: database, registry: registry, sealer: logSealer, metrics: metrics, crlFile: configuration.crl?.file, ready: ready, logger: logger).router(),
            server: .http1(configuration: http1),
            configuration: .init(
                address: .hostname(configuration.opsHost, port: configuration.opsPort), serverName: "jisr-ops",
                availableConnectionsDelegate: .maximum(budget.ops, logger: logger)),
            onServerRunning: { channel in await onOpsListening(channel.localAddress?.port ?? 0) },
            logger: logger)

        // The span exporter first: it stops last, sending the spans of the last exchanges.
        var services: [any Service] = (tracing.exporter.map { [$0] } ?? []) + [database, logWriter, prelude, ops, AfterStoreReady(ready: ready, service: registry)]
        if let crl = configuration.crl {
            // Needs no store: a partner can learn of a revocation while the gateway waits for its database.
            services.append(
                Application(
                    router: CRLRoutes(publication: crl).router(),
                    server: .http1(configuration: http1),
                    configuration: .init(
                        address: .hostname(crl.host, port: crl.port), serverName: "jisr-crl", availableConnectionsDelegate: .maximum(budget.crl, logger: logger)),
                    onServerRunning: { channel in await onCRLListening(channel.localAddress?.port ?? 0) },
                    logger: logger))
        }
        var relayWorker: RelayWorker?
        if var relay = configuration.relay {
            relay.onAttempt = { partner, outcome in metrics.relayAttempt(partner: partner, outcome: outcome) }
            relay.tracer = tracing.tracer
            let worker = try RelayWorker(database: database, log: logWriter, sealer: sealer, configuration: relay, logger: logger)
            relayWorker = worker
            let producer = RelayProducer(
                database: database, records: records, registry: registry, catalog: catalog, adapters: AdapterRegistry(catalog: catalog), log: logWriter, sealer: sealer,
                referencer: referencer, logger: logger, onQueued: { worker.notify() })
            services += [AfterStoreReady(ready: ready, service: producer), AfterStoreReady(ready: ready, service: worker)]
        }
        if let logSealer { services.append(AfterStoreReady(ready: ready, service: logSealer)) }
        let administration = Administration(database: database, log: logWriter, catalog: catalog, logger: logger)
        let partnerCAPEMs = try configuration.partnerCAPaths.map { try String(contentsOfFile: $0, encoding: .utf8) }
        // Where this gateway holds the partner CA's key, it signs the published CRL and the admin API's partner
        // certificates with it.
        let partnerCA = try configuration.partnerCAKeyPath.flatMap { keyPath in
            try partnerCAPEMs.first.map {
                try CertificateAuthority(certificatePEM: $0, privateKeyPEM: try String(contentsOfFile: keyPath, encoding: .utf8), crlURL: configuration.partnerCRLURL)
            }
        }
        if let crl = configuration.crl, let partnerCA {
            services.append(
                AfterStoreReady(ready: ready, service: CRLRefresher(
                    administration: administration, authority: partnerCA, file: crl.file, registry: registry, logger: logger)))
        }
        if !configuration.adminCAPaths.isEmpty {
            let adminRouter = Router(context: AdminContext.self)
            adminRouter.add(middleware: CrossSiteGuard())
            adminRouter.add(middleware: AdministratorAuthenticator(administration: administration))
            AdminRoutes(
                administration: administration, partnerCA: partnerCA, partnerCAPEMs: partnerCAPEMs,
                adminCAPEMs: try configuration.adminCAPaths.map { try String(contentsOfFile: $0, encoding: .utf8) },
                openAPI: try OpenAPIDocument(file: openAPI.appendingPathComponent("admin.json")),
                sealer: sealer, referencer: referencer, reportSigner: logSigner
            ).register(on: adminRouter)
            routes["admin"] = Self.describe(adminRouter.routes.map { ($0.method.rawValue, $0.path.description) })
            services.append(
                AfterStoreReady(ready: ready, service: Application(
                    router: adminRouter,
                    server: try .tls(.http1(configuration: http1), tlsConfiguration: try adminTLS(configuration)),
                    configuration: .init(
                        address: .hostname(configuration.adminHost, port: configuration.adminPort), serverName: "jisr-admin",
                        availableConnectionsDelegate: .maximum(budget.admin, logger: logger)),
                    onServerRunning: { channel in await onAdminListening(channel.localAddress?.port ?? 0) },
                    logger: logger)))
        } else {
            logger.notice("no admin CA configured: the admin listener is off")
        }
        services.append(AfterStoreReady(ready: ready, service: exchange))
        let tuning = Tuning(limits: certificateLimits, timestamper: tsaClient, relay: relayWorker)
        return Gateway(database: database, services: services, logWriter: logWriter, registry: registry, routes: routes, tuning: tuning)
    }

    /// Every certificate the configuration names, for the expiry gauges: an operator is warned before any of them lapses.
    static func configuredCertificates(_ configuration: GatewayConfiguration) throws -> [GatewayMetrics.ConfiguredCertificate] {
        var files: [(String, String)] = [("server", configuration.serverCertificatePath)]
        files += configuration.partnerCAPaths.map { ("partner-ca", $0) }
        files += configuration.adminCAPaths.map { ("admin-ca", $0) }
        if let sealing = configuration.sealing {
            files.append(("log-signing", sealing.signingCertificatePath))
            files += (sealing.timestamping?.trustedRootPaths ?? []).map { ("tsa-root", $0) }
        }
        if let relay = configuration.relay { files.append(("relay-client", relay.clientCertificatePath)) }
        // The server's, the log-signing and the relay's files are chains, leaf first; the others bundles of CAs.
        let chains: Set = ["server", "log-signing", "relay-client"]
        return try files.flatMap { kind, path in
            try GatewayMetrics.ConfiguredCertificate.read(kind: kind, pemFile: path, leafFirst: chains.contains(kind))
        }
    }

    /// TLS 1.2+ with a client certificate required; the chain is checked by `ClientCertificateVerifier`.
    static func exchangeTLS(_ configuration: GatewayConfiguration) throws -> (TLSConfiguration, [String]) {
        let chain = try NIOSSLCertificate.fromPEMFile(configuration.serverCertificatePath)
        let key = try NIOSSLPrivateKey(file: configuration.serverKeyPath, format: .pem)
        var roots: [NIOSSLCertificate] = []
        for path in configuration.partnerCAPaths { roots += try NIOSSLCertificate.fromPEMFile(path) }
        guard !roots.isEmpty else { throw ConfigurationError(item: "partner CA", reason: "at least one trusted partner CA is required") }
        var tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        harden(&tls)
        // Peer verification on: BoringSSL requires a client certificate; the custom verifier checks its chain.
        tls.certificateVerification = .noHostnameVerification
        tls.trustRoots = .certificates(roots)
        let pems = try configuration.partnerCAPaths.map { try String(contentsOfFile: $0, encoding: .utf8) }
        return (tls, pems)
    }

    /// Route paths as OpenAPI writes them; the catch-all `**` routes are the logged 404, not API.
    static func describe(_ routes: [(method: String, path: String)]) -> Set<String> {
        Set(routes.filter { !$0.path.contains("**") }.map { route in
            let path = route.path.split(separator: "/").map { $0.hasPrefix(":") ? "{\($0.dropFirst())}" : String($0) }.joined(separator: "/")
            return "\(route.method) /\(path)"
        })
    }

    /// TLS 1.2+ with a client certificate from the admin CA (the admin role) required.
    static func adminTLS(_ configuration: GatewayConfiguration) throws -> TLSConfiguration {
        let chain = try NIOSSLCertificate.fromPEMFile(configuration.serverCertificatePath)
        let key = try NIOSSLPrivateKey(file: configuration.serverKeyPath, format: .pem)
        var roots: [NIOSSLCertificate] = []
        for path in configuration.adminCAPaths { roots += try NIOSSLCertificate.fromPEMFile(path) }
        var tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        harden(&tls)
        tls.certificateVerification = .noHostnameVerification
        tls.trustRoots = .certificates(roots)
        return tls
    }

    /// The TLS 1.2 suites both listeners offer: one per kind of server key, ECDHE with AES-128-GCM, the suite every
    /// TLS 1.2 stack implements (RFC 7540 and TLS 1.3's mandatory AEAD). With one usable suite the server's choice is
    /// the same whatever the client's order — SwiftNIO SSL has no server-preference switch, so this is how the order
    /// is the server's (testssl `cipher_order`; docs/testssl.md). TLS 1.3's three suites are BoringSSL's fixed set,
    /// all AEAD; there the client's order decides.
    static let tls12CipherSuites: [NIOTLSCipher] = [.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, .TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]

    static func harden(_ tls: inout TLSConfiguration) {
        tls.minimumTLSVersion = .tlsv12
        tls.cipherSuiteValues = tls12CipherSuites
    }

    /// Runs every service (and `companions`, started first: the demo's mock partners) until SIGTERM or SIGINT,
    /// then stops them in reverse order.
    public func run(logger: Logger, companions: [any Service] = []) async throws {
        let group = ServiceGroup(
            configuration: .init(
                services: (companions + services).map { .init(service: $0) }, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}

extension Service {
    /// Runs this service on its own (`jisr mock-partner`, `jisr dev-tsa`) until SIGTERM or SIGINT.
    public func runUntilSignalled(logger: Logger) async throws {
        let group = ServiceGroup(configuration: .init(services: [.init(service: self)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}
