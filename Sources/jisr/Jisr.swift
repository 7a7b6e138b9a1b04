import ArgumentParser
import CJisrBuild
import Configuration
import Foundation
import Evidence
import Gateway
import Logging
import OTel
import MessageLog
import PKI
import PostgresNIO
import Relay
import Records
import Schemas
import Storage

/// `jisr`: the Ministry of Labour's data-exchange gateway.
@main
struct Jisr: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Jisr (جسر), the data-exchange gateway of Lebanon's Ministry of Labour.",
        version: "jisr \(JisrBuild.version) (commit \(String(cString: jisr_build_commit())))",
        subcommands: [
            Demo.self, Serve.self, Migrate.self, StoreCommand.self, Seed.self, Log.self, PartnerCommand.self, PurposeCommand.self, AgreementCommand.self,
            CertificateCommand.self, AdministratorCommand.self, AccessReportCommand.self, PKICommand.self, RelayCommand.self, InboxCommand.self,
            MockPartnerCommand.self, DevTSACommand.self, ConfigCommand.self,
        ])

    /// PostgreSQL errors hide the server's message in `description`; an operator at a terminal needs it.
    static func main() async {
        do {
            var command = try parseAsRoot()
            // Tuning for a process that serves for days; a short command ends before either would matter.
            if command is Serve || command is Demo {
                MemoryTuning.apply()
                EventLoopExecutor.adopt()
            }
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let error as PSQLError {
            Console.say("Error: database: \(error.serverInfo?[.message] ?? String(describing: error.code))")
            Self.exit(withError: ExitCode(2))
        } catch {
            Self.exit(withError: error)
        }
    }
}

/// Options shared by every command that uses the store.
struct StoreOptions: ParsableArguments {
    @Option(
        name: .customLong("database-url"),
        help: "postgres://USER@HOST:PORT/DB or sqlite:PATH (default: $JISR_DATABASE_URL, else sqlite:jisr.sqlite in the current folder)")
    var databaseURL: String?

    /// The store named by the option or the environment, if any.
    func resolved() throws -> StoreLocation? {
        guard let text = databaseURL ?? ProcessInfo.processInfo.environment["JISR_DATABASE_URL"] else { return nil }
        return try StoreLocation(text)
    }

    /// Runs `body` on a store that exists and has Jisr's schema: a command that only reads or changes a store never
    /// makes one (an empty `jisr.sqlite` beside the user's files) nor meets `no such table`; it says what to do.
    func withExistingStore<Result: Sendable>(logger: Logger, _ body: @escaping @Sendable (Database) async throws -> Result) async throws -> Result {
        let location = try location()
        if case .sqlite(let path) = location, !FileManager.default.fileExists(atPath: path) {
            throw Refusal(
                "there is no store at \(path): name the gateway's store with --database-url (or JISR_DATABASE_URL), or make this one with `jisr migrate`")
        }
        return try await withDatabase(location, logger: logger) { database in
            let pending = try await Migrator(database: database, logger: logger).pending(JisrMigrations.all)
            guard pending.isEmpty else {
                throw Refusal(
                    "the store lacks \(Console.count(pending.count, "migration", "migrations")) of this jisr (\(pending.first ?? "")…): "
                        + "run `jisr migrate` with the same --database-url first")
            }
            return try await body(database)
        }
    }

    /// The store to use: the one named, else the embedded SQLite file `defaultPath`, said on standard error.
    func location(defaultPath: String = "jisr.sqlite") throws -> StoreLocation {
        if let named = try resolved() { return named }
        let location = try StoreLocation("sqlite:" + defaultPath)
        Console.say("No --database-url or JISR_DATABASE_URL: using the embedded store \(location)")
        return location
    }
}

enum Console {
    /// `1 entry`, `2 entries`: a count with its noun as a reader says it.
    static func count(_ number: Int, _ one: String, _ many: String) -> String { "\(number) \(number == 1 ? one : many)" }

    static func say(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    /// Logging is bootstrapped once, here; libraries only receive loggers. The level is shared by every handler, so
    /// that `jisr serve` can change it on SIGHUP.
    static let level = SharedLogLevel(.info)

    static func logger(level: String? = nil, format: String? = nil) -> Logger {
        let environment = ProcessInfo.processInfo.environment
        Self.level.value = Logger.Level(rawValue: level ?? environment["JISR_LOG_LEVEL"] ?? "info") ?? .info
        let json = (format ?? environment["JISR_LOG_FORMAT"]) == "json"
        // Within a span (tracing.endpoint set), every line carries its trace and span ids under stable keys.
        var keys = OTel.Configuration.LoggingMetadataProviderConfiguration.default
        keys.traceIDKey = "jisr.trace_id"
        keys.spanIDKey = "jisr.span_id"
        keys.traceFlagsKey = "jisr.trace_flags"
        let spans = OTel.makeLoggingMetadataProvider(configuration: keys)
        LoggingSystem.bootstrap { label in
            if json { return JSONLogHandler(label: label, level: Self.level, metadataProvider: spans) }
            return LevelledStreamHandler(stream: StreamLogHandler.standardError(label: label, metadataProvider: spans), level: Self.level)
        }
        return Logger(label: "jisr")
    }

    static func contracts(_ option: String?) throws -> URL {
        if let option { return URL(fileURLWithPath: option) }
        guard let found = ContractCatalog.defaultDirectory() else {
            throw Refusal("cannot find the contracts folder (looked in \(ContractCatalog.searchedPlaces)); give --contracts or set JISR_CONTRACTS_DIR")
        }
        return found
    }
}

struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Set up a complete demo (PKI, partners, agreements, records) and serve it.")

    @Option(help: "Folder for the demo's keys, database and manifest.") var dir = ".demo"
    @Option(help: "Synthetic persons to seed on first run.") var persons = 10_000
    @Option(help: "Exchange listener port.") var port = 8443
    @Option(help: "Ops listener port (loopback).") var opsPort = 9090
    @Option(help: "Admin listener port (loopback).") var adminPort = 9443
    @Option(help: "CRL listener port (loopback): the demo CA's certificates name it, when the demo's PKI is first made.") var crlPort = 8080
    @Option(help: "Contracts folder (default: the repository's contracts/).") var contracts: String?
    @Flag(help: "Start a private PostgreSQL in the demo folder instead of the embedded SQLite store (needs Debian's postgresql).")
    var privatePostgres = false
    @OptionGroup var store: StoreOptions

    func run() async throws {
        let logger = Console.logger()
        let environment = DemoEnvironment(directory: dir, exchangePort: port, opsPort: opsPort, adminPort: adminPort, crlPort: crlPort, persons: persons)
        var cluster: LocalPostgres?
        let database: StoreLocation
        if let named = try store.resolved() {
            database = named
        } else if privatePostgres {
            let local = LocalPostgres(directory: environment.directory + "/postgres")
            Console.say("Starting a private PostgreSQL in \(local.directory) on 127.0.0.1:\(local.port)")
            try local.start()
            cluster = local
            database = .postgres(try local.url)
        } else {
            database = try store.location(defaultPath: environment.directory + "/jisr.sqlite")
        }
        defer {
            if let cluster {
                Console.say("Stopping the private PostgreSQL")
                try? cluster.stop()
            }
        }
        let (configuration, manifest) = try await environment.prepare(
            database: database, contractsDirectory: try Console.contracts(contracts), logger: logger, say: Console.say)
        // The development TSA and the mock partners make their keys first: the gateway trusts them when it is built.
        let companions = try environment.companions(logger: logger)
        let gateway = try Gateway.build(configuration: configuration, logger: logger, onExchangeListening: { _ in
            Console.say(DemoInstructions.text(manifest: manifest, directory: environment.directory))
        })
        try await gateway.run(logger: logger, companions: companions)
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the gateway.",
        discussion: """
            Every setting can come from a configuration file (--config, YAML: deploy/jisr.yml documents each key), from \
            the environment (JISR_ and the key in capitals: exchange.port is JISR_EXCHANGE_PORT) or from these options, \
            which win over both; the environment wins over the file. `jisr config check FILE` prints what is in force. \
            Paths default to the layout of `jisr pki init` in pki.dir (--pki, $JISR_PKI_DIR, else ./pki).
            """)

    @Option(help: "A configuration file (YAML); see deploy/jisr.yml.") var config: String?
    @Option(help: "Exchange listener address (exchange.host; default 0.0.0.0).") var host: String?
    @Option(help: "Exchange listener port (exchange.port; default 8443).") var port: Int?
    @Option(help: "Ops listener address (ops.host; default 127.0.0.1): loopback unless a load balancer or Prometheus elsewhere must reach it.")
    var opsHost: String?
    @Option(help: "Ops listener port (ops.port; default 9090).") var opsPort: Int?
    @Option(help: "Admin listener port (admin.port; default 9443).") var adminPort: Int?
    @Option(help: "CRL listener address (crl.host; default 0.0.0.0): plain HTTP, reachable by every relying party.") var crlHost: String?
    @Option(help: "CRL listener port (crl.port; default 8080); 0 picks a free one.") var crlPort: Int?
    @Option(help: "Server certificate chain, PEM (tls.serverCertificate).") var serverCert: String?
    @Option(help: "Server private key, PEM (tls.serverKey).") var serverKey: String?
    @Option(help: "Trusted partner CA certificates, PEM; repeat for several (tls.partnerCAs).") var partnerCa: [String] = []
    @Option(help: "The partner CA's private key, to sign CSRs through the admin API (tls.partnerCAKey).") var partnerCaKey: String?
    @Option(help: "CA certificates of administrators, PEM; repeat for several (admin.cas).") var adminCa: [String] = []
    @Option(help: "File holding the subject-reference key (keys.subject).") var subjectKey: String?
    @Option(help: "Folder of keys for message bodies at rest (keys.bodyFolder).") var bodyKeys: String?
    @Option(help: "Jisr's client certificate for deliveries to partners (relay.clientCertificate).") var relayCert: String?
    @Option(help: "Its private key (relay.clientKey).") var relayKey: String?
    @Option(help: "CAs of partners' receiving servers, PEM, repeatable (relay.serverCAs).") var relayCa: [String] = []
    @Flag(help: "Do not relay outbound messages from this process (relay.enabled: false).") var noRelay = false
    @Option(help: "Delivery attempts before a message is dead-lettered (relay.attempts; default 8).") var relayAttempts: Int?
    @Option(help: "Hours after which a failing message is dead-lettered (relay.maxAgeHours; default 24).") var relayMaxAgeHours: Int?
    @Option(help: "First retry delay in ms; doubles per attempt, with jitter, up to an hour (relay.backoffMs; default 2000).") var relayBackoffMs: Int?
    @Option(help: "Seconds a worker holds a message it delivers (relay.leaseSeconds; default 60).") var relayLeaseSeconds: Int?
    @Option(help: "Deliveries in flight at once in this process (relay.concurrency; default 8).") var relayConcurrency: Int?
    @Option(help: "Seconds one delivery may take; less than the lease (relay.timeoutSeconds; default 10).") var relayTimeoutSeconds: Int?
    @Option(help: "The log-signing key (sealing.signingKey; sealing is off without one).") var logSigningKey: String?
    @Option(help: "Its certificate chain (sealing.signingCertificate).") var logSigningCert: String?
    @Option(help: "Seal the log after this many new entries… (sealing.everyEntries; default 1000)") var sealEveryEntries: Int?
    @Option(help: "…or after this many seconds (sealing.everySeconds; default 10).") var sealEverySeconds: Int?
    @Option(help: "RFC 3161 timestamping authority URL that stamps every seal (timestamping.url).") var tsaUrl: String?
    @Option(help: "The TSA's root certificate, PEM; repeat for several (timestamping.roots).") var tsaRoot: [String] = []
    @Option(help: "Seconds seals may wait for their timestamp (timestamping.graceSeconds; default 3600).") var timestampGraceSeconds: Int?
    @Option(help: "After the grace period: continue, or refuse new exchanges (timestamping.policy).") var timestampPolicy: String?
    @Option(help: "Contracts folder (contracts.dir; default: found beside jisr).") var contracts: String?
    @Option(help: "Seconds a client may take to send a request's head (exchange.requestHeadTimeoutSeconds; default 10).") var requestHeadTimeoutSeconds: Int?
    @Option(help: "Seconds a client may take to send a request's body (exchange.requestBodyTimeoutSeconds; default 30).") var requestBodyTimeoutSeconds: Int?
    @Option(help: "Seconds an idle connection stays open (exchange.idleTimeoutSeconds; default 30).") var idleTimeoutSeconds: Int?
    @Option(help: "Seconds an exchange waits for the records it reads (database.timeoutSeconds; default 5).") var storeTimeoutSeconds: Int?
    @Option(help: "Seconds an exchange waits for its log entry (messageLog.commitTimeoutSeconds; default 5).") var logTimeoutSeconds: Int?
    @Option(help: "Requests a minute one partner certificate may make, 0 for no limit (exchange.certificateRateLimit; default 6000).")
    var certificateRateLimit: Int?
    @Option(help: "Requests a minute of a revoked, unregistered or inactive partner's certificate (exchange.refusedCertificateRateLimit; default 60).")
    var refusedCertificateRateLimit: Int?
    @Flag(inversion: .prefixedNo, help: "Apply missing schema migrations at start (database.migrate).") var migrate: Bool?
    @OptionGroup var pkiOptions: PKIOptions
    @OptionGroup var store: StoreOptions

    /// The options given on the command line, under their settings' keys.
    var commandLine: [String: ConfigValue] {
        var values: [String: ConfigValue] = [:]
        func put(_ key: String, _ content: ConfigContent?) { if let content { values[key] = ConfigValue(content, isSecret: false) } }
        func list(_ key: String, _ items: [String]) { if !items.isEmpty { put(key, .stringArray(items)) } }
        put("exchange.host", host.map(ConfigContent.string))
        put("exchange.port", port.map(ConfigContent.int))
        put("ops.host", opsHost.map(ConfigContent.string))
        put("ops.port", opsPort.map(ConfigContent.int))
        put("crl.host", crlHost.map(ConfigContent.string))
        put("crl.port", crlPort.map(ConfigContent.int))
        put("admin.port", adminPort.map(ConfigContent.int))
        put("tls.serverCertificate", serverCert.map(ConfigContent.string))
        put("tls.serverKey", serverKey.map(ConfigContent.string))
        list("tls.partnerCAs", partnerCa)
        put("tls.partnerCAKey", partnerCaKey.map(ConfigContent.string))
        list("admin.cas", adminCa)
        put("keys.subject", subjectKey.map(ConfigContent.string))
        put("keys.bodyFolder", bodyKeys.map(ConfigContent.string))
        put("relay.clientCertificate", relayCert.map(ConfigContent.string))
        put("relay.clientKey", relayKey.map(ConfigContent.string))
        list("relay.serverCAs", relayCa)
        if noRelay { put("relay.enabled", .bool(false)) }
        put("relay.attempts", relayAttempts.map(ConfigContent.int))
        put("relay.maxAgeHours", relayMaxAgeHours.map(ConfigContent.int))
        put("relay.backoffMs", relayBackoffMs.map(ConfigContent.int))
        put("relay.leaseSeconds", relayLeaseSeconds.map(ConfigContent.int))
        put("relay.concurrency", relayConcurrency.map(ConfigContent.int))
        put("relay.timeoutSeconds", relayTimeoutSeconds.map(ConfigContent.int))
        put("sealing.signingKey", logSigningKey.map(ConfigContent.string))
        put("sealing.signingCertificate", logSigningCert.map(ConfigContent.string))
        put("sealing.everyEntries", sealEveryEntries.map(ConfigContent.int))
        put("sealing.everySeconds", sealEverySeconds.map(ConfigContent.int))
        put("timestamping.url", tsaUrl.map(ConfigContent.string))
        list("timestamping.roots", tsaRoot)
        put("timestamping.graceSeconds", timestampGraceSeconds.map(ConfigContent.int))
        put("timestamping.policy", timestampPolicy.map(ConfigContent.string))
        put("contracts.dir", contracts.map(ConfigContent.string))
        put("exchange.requestHeadTimeoutSeconds", requestHeadTimeoutSeconds.map(ConfigContent.int))
        put("exchange.requestBodyTimeoutSeconds", requestBodyTimeoutSeconds.map(ConfigContent.int))
        put("exchange.idleTimeoutSeconds", idleTimeoutSeconds.map(ConfigContent.int))
        put("database.timeoutSeconds", storeTimeoutSeconds.map(ConfigContent.int))
        put("messageLog.commitTimeoutSeconds", logTimeoutSeconds.map(ConfigContent.int))
        put("exchange.certificateRateLimit", certificateRateLimit.map(ConfigContent.int))
        put("exchange.refusedCertificateRateLimit", refusedCertificateRateLimit.map(ConfigContent.int))
        put("database.migrate", migrate.map(ConfigContent.bool))
        put("pki.dir", pkiOptions.pki.map(ConfigContent.string))
        put("database.url", store.databaseURL.map(ConfigContent.string))
        return values
    }

    func run() async throws {
        let settings: ServeSettings
        let given = commandLine
        do { settings = try ServeSettings(try await ServeSettingsSource.load(file: config, commandLine: given)) } catch let error as SettingError {
            throw ValidationError(error.description)
        }
        let logger = Console.logger(level: settings.logLevel, format: settings.logFormat)
        let configuration = settings.configuration
        if settings.source.origin(of: ServeSettingsTable.byKey["database.url"]!) == nil {
            Console.say("No database.url (--database-url, JISR_DATABASE_URL): using the embedded store \(configuration.database)")
        }
        if configuration.relay == nil { Console.say("Relay off: relay.enabled is false or there is no relay client certificate") }
        for missing in settings.missingNamedFiles { logger.warning("a file the configuration names is missing", metadata: ["jisr.reason": "\(missing)"]) }
        if configuration.sealing == nil {
            Console.say("Sealing off: no log-signing key (sealing.signingKey); create one with `jisr pki init`")
        } else if configuration.sealing?.timestamping == nil {
            Console.say("No timestamping.url: seals are signed but not timestamped")
        }
        let (host, adminPort) = (configuration.exchangeHost, configuration.adminPort)
        let gateway = try Gateway.build(
            configuration: configuration, logger: logger,
            onExchangeListening: { port in
                Console.say("Jisr exchange listener on \(host):\(port) (mutual TLS)")
                // Under systemd (Type=notify) the unit is started once partners can be served: the store is migrated
                // and the exchange listener bound.
                SystemdNotification.send("READY=1\nSTATUS=serving on \(host):\(port)")
            },
            onAdminListening: { _ in Console.say("Jisr admin listener on 127.0.0.1:\(adminPort) (admin certificates only)") },
            onCRLListening: { [crlHost = configuration.crl?.host ?? ""] port in Console.say("Jisr CRL listener on \(crlHost):\(port) (plain HTTP, GET /partner-ca.crl)") })
        let reloader = ConfigurationReloader(file: config, commandLine: given, settings: settings, gateway: gateway, logger: logger)
        try await gateway.run(logger: logger, companions: [reloader])
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply pending schema migrations (safe to run twice).")
    @OptionGroup var store: StoreOptions

    func run() async throws {
        let logger = Console.logger()
        let applied = try await withDatabase(try store.location(), logger: logger) { database in
            try await Migrator(database: database, logger: logger).migrate(JisrMigrations.all)
        }
        print(applied.isEmpty ? "schema is up to date" : applied.map { "applied \($0)" }.joined(separator: "\n"))
    }
}

struct StoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "store", abstract: "Move a store's contents.", subcommands: [Copy.self])

    struct Copy: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Copy everything — registry, log, seals, outbox, inbox, records — from one store to another.",
            discussion: """
                Typical use: moving from the embedded store to production, \
                `jisr store copy --from sqlite:.demo/jisr.sqlite --to postgres://jisr@db.example/jisr`. \
                Stop the gateway first: the copy reads table by table, not one snapshot. \
                The target is migrated first; a target that holds data is refused unless --replace empties it. \
                Afterwards the target's log is verified and must end in the same chain head as the source's.
                """)

        @Option(help: "The store to read: sqlite:PATH or postgres://…") var from: String
        @Option(help: "The store to write: sqlite:PATH or postgres://…") var to: String
        @Flag(help: "Empty a target that already holds data, instead of refusing it.") var replace = false

        func run() async throws {
            let logger = Console.logger()
            let (source, target) = (try StoreLocation(from), try StoreLocation(to))
            try await withDatabase(source, logger: logger) { source in
                try await withDatabase(target, logger: logger) { target in
                    try await Migrator(database: source, logger: logger).checkNotNewer(JisrMigrations.all)
                    let pending = try await Migrator(database: source, logger: logger).pending(JisrMigrations.all)
                    guard pending.isEmpty else { throw Refusal("the source store is not at this jisr's schema; run `jisr migrate --database-url \(from)` first") }
                    try await Migrator(database: target, logger: logger).migrate(JisrMigrations.all)
                    let started = Date()
                    var lastReport = Date.distantPast
                    try await StoreCopy(tables: JisrMigrations.copiedTables).copy(from: source, to: target, replace: replace) { table, done, total in
                        if done == total || Date().timeIntervalSince(lastReport) > 1 {
                            Console.say("  \(table): \(done)/\(total)")
                            lastReport = Date()
                        }
                    }
                    let sourceLog = try await LogReader(database: source, logger: logger).verify()
                    let targetLog = try await LogReader(database: target, logger: logger).verify()
                    if let found = targetLog.firstBreak { throw Refusal("the copied log does not verify: \(found.reason) (entry \(found.seq))") }
                    guard targetLog.verified == sourceLog.verified, targetLog.headHash == sourceLog.headHash else {
                        throw Refusal("the copied log ends at \(targetLog.verified) \(targetLog.headHash), the source's at \(sourceLog.verified) \(sourceLog.headHash)")
                    }
                    print("copied in \(String(format: "%.1f", Date().timeIntervalSince(started))) s; log verified on the target: \(targetLog.verified) entries, chain head \(targetLog.headHash), \(targetLog.sealsMatched) seals matched")
                }
            }
        }
    }
}

struct Seed: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fill the reference ministry records with deterministic synthetic data.",
        discussion: "Only into a new, empty store, which it marks as made for synthetic data (or one already so marked); a store made otherwise is refused, unchanged.")

    @Option(help: "Number of persons.") var persons: Int
    @Option(help: "Seed of the generator: the same seed gives the same records.") var seed: UInt64 = 1
    @Flag(help: "Replace records that are already there.") var replace = false
    @OptionGroup var store: StoreOptions

    func validate() throws {
        guard persons > 0, persons <= 50_000_000 else { throw ValidationError("--persons must be between 1 and 50,000,000") }
    }

    func run() async throws {
        let logger = Console.logger()
        let started = ContinuousClock.now
        let (persons, seed, replace) = (self.persons, self.seed, self.replace)
        let summary = try await withDatabase(try store.location(), logger: logger) { database in
            // Only a store made for synthetic data takes it: a new one is marked so before its schema exists.
            try await SyntheticStore.claim(database, by: "jisr seed", logger: logger)
            try await Migrator(database: database, logger: logger).migrate(JisrMigrations.all)
            return try await Seeder(database: database, logger: logger).seed(persons: persons, seed: seed, replace: replace) { done, total in
                Console.say("seeded \(done)/\(total) persons")
            }
        }
        let elapsed = ContinuousClock.now - started
        print("\(summary.persons) persons, \(summary.establishments) establishments, \(summary.employments) employments, \(summary.workPermits) work permits in \(elapsed.formatted(.units(allowed: [.seconds], fractionalPart: .show(length: 1))))")
    }
}

struct Log: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "The message log.", subcommands: [Verify.self, SealCommand.self, Export.self])

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write an evidence bundle: entries, seals, proofs, certificates, timestamps and a README to check them offline.")
        @Option(help: "First entry: a seq, or a date/time (2026-11-01 or 2026-11-01T08:00:00Z).") var from: String
        @Option(help: "Last entry: a seq, or a date/time (a date means the whole day).") var to: String
        @Option(help: "Only the entries exchanged with this partner.") var partner: String?
        @Option(help: "The folder to write (must not exist or be empty).") var out: String
        @Option(help: "The TSA's root certificate, included so the bundle's timestamps can be checked.") var tsaRoot: String?
        @OptionGroup var store: StoreOptions
        @OptionGroup var pkiOptions: PKIOptions

        func run() async throws {
            let logger = Console.logger()
            let (from, to, partner, out) = (self.from, self.to, self.partner, self.out)
            let tsaRootPEM = try tsaRoot.map { try String(contentsOfFile: $0, encoding: .utf8) }
            let summary = try await store.withExistingStore(logger: logger) { database in
                let log = LogReader(database: database, logger: logger)
                let seqs = try await Self.range(from: from, to: to, log: log)
                return try await EvidenceBundle.export(
                    log: log, seals: SealStore(database: database, logger: logger), seqs: seqs, partner: partner, tsaRootPEM: tsaRootPEM, to: out)
            }
            // The check a partner or an auditor runs, with the CA they hold from onboarding (this gateway's, here).
            var check = "\(DemoInstructions.runningExecutable) log verify --bundle \(out) --signing-ca \(pkiOptions.directory.partnerCACertificate)"
            if let tsaRoot { check += " --tsa-root \(tsaRoot)" }
            print(
                "wrote \(Console.count(summary.entries, "entry", "entries")) and \(Console.count(summary.seals.count, "seal", "seals")) to \(out); check it with: \(check)")
            if summary.unsealed > 0 {
                print(
                    "\(Console.count(summary.unsealed, "later entry", "later entries")) in the range \(summary.unsealed == 1 ? "is" : "are") not sealed yet and "
                        + "left out (run `jisr log seal`)")
            }
        }

        static func range(from: String, to: String, log: LogReader) async throws -> ClosedRange<Int64> {
            if let first = Int64(from), let last = Int64(to) {
                guard first >= 1, first <= last else { throw ValidationError("--from and --to: 1 ≤ from ≤ to") }
                return first...last
            }
            let start = try Output.parseDate(from, option: "--from")
            var end = try Output.parseDate(to, option: "--to")
            if !to.contains("T") { end = end.addingTimeInterval(86_400 - 0.000_001) }
            guard let seqs = try await log.seqs(recordedFrom: start, through: end) else { throw Refusal("no entries were recorded between --from and --to") }
            return seqs
        }
    }

    struct SealCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "seal", abstract: "Seal the log now: a Merkle root over every entry, signed with the log-signing key.")
        @OptionGroup var store: StoreOptions
        @OptionGroup var pkiOptions: PKIOptions
        @Option(help: "The log-signing key (default: PKI/log-signing.key).") var signingKey: String?
        @Option(help: "Its certificate chain (default: PKI/log-signing.crt).") var signingCert: String?

        func run() async throws {
            let logger = Console.logger()
            let pki = pkiOptions.directory
            let signer = try SealSigner(
                keyPEM: try pki.read(signingKey ?? pki.logSigningKey), certificatePEM: try pki.read(signingCert ?? pki.logSigningCertificate))
            let seal = try await withDatabase(try store.location(), logger: logger) { database in
                try await Migrator(database: database, logger: logger).migrate(JisrMigrations.all)
                return try await LogWriter.withLocal(database: database, logger: logger) { log in
                    try await Sealer(database: database, log: log, signer: signer, logger: logger).sealNow()
                }
            }
            guard let seal else {
                print("nothing to seal: the newest seal already covers every entry")
                return
            }
            print("sealed \(seal.treeHead.size) entries: root \(seal.treeHead.rootHash) at \(TreeHead.format(seal.treeHead.timeMilliseconds))")
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Walk the chain and check every seal; name the first modified, deleted, inserted or reordered entry, a broken or untrusted seal, a missing timestamp, or a cut-off end.")
        @OptionGroup var store: StoreOptions
        @OptionGroup var trustOptions: TrustOptions
        @Option(help: "Check an evidence bundle (from `jisr log export`) offline instead of the database.") var bundle: String?
        @Option(help: "Check a receipt (the JSON of GET /v1/messages/{id}/receipt) offline instead of the database.") var receipt: String?
        @Option(
            help: """
                Instead of walking the log: does it still hold everything a signed tree head covers? FILE is a receipt or its \
                treeHead (a partner's last); checked by the consistency proof from that head to the log's size, or how many entries are missing.
                """)
        var against: String?

        func run() async throws {
            let trust = try trustOptions.trust()
            let timestamps = try trustOptions.timestamps()
            if let against {
                try await check(against: against, trust: trust)
                return
            }
            if let receipt {
                guard let data = FileManager.default.contents(atPath: receipt) else { throw Refusal("cannot read \(receipt)") }
                do {
                    let report = try await Receipt.verify(json: data, trust: trust, timestamps: timestamps)
                    print("OK: entry \(report.seq) (\(report.entryHash)) is in the seal of \(report.treeSize) entries, signed by a key of \(trust.summary)")
                    if report.timestamped { print("    its RFC 3161 timestamp verified") }
                } catch let error as EvidenceError {
                    print("BROKEN: \(error.item): \(error.reason)")
                    throw ExitCode(1)
                }
                return
            }
            if let bundle {
                do {
                    let report = try await EvidenceBundle.verify(directory: bundle, trust: trust, timestamps: timestamps)
                    print("OK: \(report.entries) entries, \(report.seals) seals, \(report.timestamps) RFC 3161 timestamps verified offline")
                    print("    the seals are signed by \(trust.summary)")
                    if report.timestampsAwaited > 0 { print("    \(report.timestampsAwaited) seals are younger than the grace period and not timestamped yet") }
                } catch let error as EvidenceError {
                    print("BROKEN: \(error.item): \(error.reason)")
                    throw ExitCode(1)
                }
                return
            }
            let logger = Console.logger()
            let started = ContinuousClock.now
            let report = try await store.withExistingStore(logger: logger) { database in
                try await LogReader(database: database, logger: logger).verify(trust: trust, timestamps: timestamps) { count in
                    Console.say("verified \(count) entries…")
                }
            }
            let elapsed = ContinuousClock.now - started
            if let found = report.firstBreak {
                print("BROKEN at seq \(found.seq): \(found.description)")
                print("\(report.verified) entries verified before the break")
                throw ExitCode(1)
            }
            print("OK: \(report.verified) entries verified in \(elapsed.formatted(.units(allowed: [.seconds, .milliseconds]))); chain head \(report.headHash)")
            if let latest = report.latestSeal {
                print("    \(report.sealsVerified) seals verified; the newest covers \(latest.size) entries, signed \(TreeHead.format(latest.timeMilliseconds))")
                print("    signed by \(trust.summary)")
                if timestamps != nil {
                    print("    \(report.timestampsVerified) RFC 3161 timestamps verified" + (report.timestampsAwaited > 0 ? ", \(report.timestampsAwaited) seals within the grace period await theirs" : ""))
                } else if report.timestampsPresent > 0 {
                    print("    \(report.timestampsPresent) seals carry an RFC 3161 timestamp; pass --tsa-root to check them (and require them past the grace period)")
                }
            } else {
                print("    no seals yet: without one, removing the newest entries would go unnoticed")
            }
        }

        /// `--against`: the held head's signature and trust first, then the log compared with it.
        private func check(against path: String, trust: LogSigningTrust) async throws {
            guard let data = FileManager.default.contents(atPath: path) else { throw Refusal("cannot read \(path)") }
            let head: TreeHead
            do { head = try await HeldTreeHead.read(json: data, trust: trust) } catch let error as EvidenceError {
                print("REFUSED: \(error.item): \(error.reason)")
                throw ExitCode(1)
            }
            let logger = Console.logger()
            let finding = try await store.withExistingStore(logger: logger) { database in
                try await HeldTreeHead.compare(head, with: database, logger: logger)
            }
            let signed = "the head of \(head.size) entries signed \(TreeHead.format(head.timeMilliseconds))"
            switch finding {
            case .contained(_, let size):
                print("OK: the log holds every entry of \(signed): the consistency proof to its \(size) entries verifies")
            case .missing(let count, _, let size):
                print("MISSING: the log has \(size) entries; \(signed) covers \(count) more (seq \(size + 1)–\(head.size)), lost to this log")
                throw ExitCode(1)
            case .diverged(_, let size):
                print("BROKEN: the log's \(size) entries do not extend \(signed): entries it covers were changed")
                throw ExitCode(1)
            }
        }
    }
}

/// What a verifier trusts the log-signing key by, and the TSA it requires: never a key the database, a bundle, a
/// receipt or a report carries alone.
struct TrustOptions: ParsableArguments {
    @OptionGroup var pkiOptions: PKIOptions
    @Option(help: "The CA (PEM) whose log-signing certificates you trust (default: PKI/partner-ca.crt); repeat for several.") var signingCa: [String] = []
    @Option(help: "Instead of a CA: a log-signing key you trust, as the SHA-256 of its SubjectPublicKeyInfo (hex); repeat across a key rotation.")
    var signingKey: [String] = []
    @Option(help: "Root certificate (PEM) of the timestamping authority; with it, every seal past the grace period must carry a valid RFC 3161 token.")
    var tsaRoot: [String] = []
    @Option(help: "Seconds a seal may wait for its timestamp before a missing token is a finding (with --tsa-root).") var timestampGraceSeconds = 3600

    func trust() throws -> LogSigningTrust {
        if !signingKey.isEmpty {
            guard signingCa.isEmpty else { throw ValidationError("--signing-ca and --signing-key are alternatives: trust a CA or pin keys") }
            return try LogSigningTrust.pinnedKeys(signingKey)
        }
        let paths = signingCa.isEmpty ? [pkiOptions.directory.partnerCACertificate] : signingCa
        guard !signingCa.isEmpty || FileManager.default.fileExists(atPath: paths[0]) else {
            throw Refusal(
                "say what the log-signing key is trusted by: --signing-ca CA.crt (the ministry's CA) or --signing-key SHA256-OF-ITS-SPKI (there is no \(paths[0]))")
        }
        return try LogSigningTrust.authority(rootsPEM: try paths.map { try String(contentsOfFile: $0, encoding: .utf8) })
    }

    func timestamps() throws -> TimestampRequirement? {
        tsaRoot.isEmpty
            ? nil : TimestampRequirement(rootsPEM: try tsaRoot.map { try String(contentsOfFile: $0, encoding: .utf8) }, grace: TimeInterval(timestampGraceSeconds))
    }
}

/// What a command refuses to do with well-formed arguments — a grant the registry refuses, a file that cannot be read,
/// a log that does not verify: printed as `Error: …` and exit status 1, without the usage text, which only a real usage
/// error (an option missing or of the wrong form: `ValidationError`) earns.
struct Refusal: Error, CustomStringConvertible {
    let message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}
