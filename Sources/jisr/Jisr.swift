import ArgumentParser
import Foundation
import Evidence
import Gateway
import Logging
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
        subcommands: [
            Demo.self, Serve.self, Migrate.self, StoreCommand.self, Seed.self, Log.self, PartnerCommand.self, PurposeCommand.self, AgreementCommand.self,
            CertificateCommand.self, AdministratorCommand.self, AccessReportCommand.self, PKICommand.self, RelayCommand.self, InboxCommand.self,
            MockPartnerCommand.self, DevTSACommand.self,
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

    /// The store to use: the one named, else the embedded SQLite file `defaultPath`, said on standard error.
    func location(defaultPath: String = "jisr.sqlite") throws -> StoreLocation {
        if let named = try resolved() { return named }
        let location = try StoreLocation("sqlite:" + defaultPath)
        Console.say("No --database-url or JISR_DATABASE_URL: using the embedded store \(location)")
        return location
    }
}

enum Console {
    static func say(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    /// Logging is bootstrapped once, here; libraries only receive loggers.
    static func logger() -> Logger {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = Logger.Level(rawValue: ProcessInfo.processInfo.environment["JISR_LOG_LEVEL"] ?? "info") ?? .info
            return handler
        }
        return Logger(label: "jisr")
    }

    static func contracts(_ option: String?) throws -> URL {
        if let option { return URL(fileURLWithPath: option) }
        guard let found = ContractCatalog.defaultDirectory() else {
            throw ValidationError("cannot find the contracts folder; give --contracts or set JISR_CONTRACTS_DIR")
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
    @Option(help: "Contracts folder (default: the repository's contracts/).") var contracts: String?
    @Flag(help: "Start a private PostgreSQL in the demo folder instead of the embedded SQLite store (needs Debian's postgresql).")
    var privatePostgres = false
    @OptionGroup var store: StoreOptions

    func run() async throws {
        let logger = Console.logger()
        let environment = DemoEnvironment(directory: dir, exchangePort: port, opsPort: opsPort, adminPort: adminPort, persons: persons)
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
        discussion: "Paths default to the layout of `jisr pki init` in --pki (default: $JISR_PKI_DIR, else ./pki).")

    @Option(help: "Exchange listener address.") var host = "0.0.0.0"
    @Option(help: "Exchange listener port.") var port = 8443
    @Option(help: "Ops listener address: loopback unless a load balancer or Prometheus on another host must reach it.")
    var opsHost = "127.0.0.1"
    @Option(help: "Ops listener port (health, metrics; plain HTTP).") var opsPort = 9090
    @Option(help: "Admin listener port (loopback).") var adminPort = 9443
    @Option(help: "Server certificate chain (PEM).") var serverCert: String?
    @Option(help: "Server private key (PEM).") var serverKey: String?
    @Option(help: "Trusted partner CA certificates (PEM); repeat for several.") var partnerCa: [String] = []
    @Option(help: "The partner CA's private key, to sign CSRs through the admin API.") var partnerCaKey: String?
    @Option(help: "CA certificates of administrators (PEM); repeat for several.") var adminCa: [String] = []
    @Option(help: "File holding the subject-reference key (32+ bytes, hex or raw).") var subjectKey: String?
    @Option(help: "Folder of keys for message bodies at rest (default: PKI/body-keys when it exists).") var bodyKeys: String?
    @Option(help: "Jisr's client certificate for deliveries to partners (default: PKI/relay-client.crt).") var relayCert: String?
    @Option(help: "Its private key (default: PKI/relay-client.key).") var relayKey: String?
    @Option(help: "CAs of partners' receiving servers (PEM, repeatable; default: the partner CA).") var relayCa: [String] = []
    @Flag(help: "Do not relay outbound messages from this process.") var noRelay = false
    @Option(help: "Delivery attempts before a message is dead-lettered.") var relayAttempts = 8
    @Option(help: "Hours after which a failing message is dead-lettered whatever its attempts.") var relayMaxAgeHours = 24
    @Option(help: "First retry delay in milliseconds; doubles per attempt, with jitter, up to an hour.") var relayBackoffMs = 2000
    @Option(help: "Seconds a worker holds a message it is delivering; a crashed worker's messages are retried after it.") var relayLeaseSeconds = 60
    @Option(help: "Deliveries in flight at once in this process.") var relayConcurrency = 8
    @Option(help: "Seconds one delivery may take (connect, send, answer); the lease must be longer.") var relayTimeoutSeconds = 10
    @Option(help: "The log-signing key (default: PKI/log-signing.key; sealing is off without one).") var logSigningKey: String?
    @Option(help: "Its certificate chain (default: PKI/log-signing.crt).") var logSigningCert: String?
    @Option(help: "Seal the log after this many new entries…") var sealEveryEntries: Int64 = 1000
    @Option(help: "…or after this many seconds, whichever comes first.") var sealEverySeconds = 10
    @Option(help: "RFC 3161 timestamping authority URL that stamps every seal (e.g. http://127.0.0.1:9318/ from `jisr dev-tsa`).") var tsaUrl: String?
    @Option(help: "The TSA's root certificate (PEM); repeat for several.") var tsaRoot: [String] = []
    @Option(help: "Seconds seals may wait for their timestamp before --timestamp-policy applies.") var timestampGraceSeconds = 3600
    @Option(help: "After the grace period without a timestamp: continue, or refuse new exchanges.") var timestampPolicy = "continue"
    @Option(help: "Contracts folder (default: the repository's contracts/).") var contracts: String?
    @Option(help: "Seconds a client may take to send a request's head (slower: 408 and the connection closed).") var requestHeadTimeoutSeconds: Int64 = 10
    @Option(help: "Seconds a client may take to send a request's body.") var requestBodyTimeoutSeconds: Int64 = 30
    @Option(help: "Seconds an idle connection stays open.") var idleTimeoutSeconds: Int64 = 30
    @Option(help: "Seconds an exchange waits for the records it reads (then 503).") var storeTimeoutSeconds: Int64 = 5
    @Option(help: "Seconds an exchange waits for its message log entry (then 503).") var logTimeoutSeconds: Int64 = 5
    @Option(help: "Requests a minute one partner certificate may make, whatever it asks (0: no limit).") var certificateRateLimit = 6000
    @Option(help: "Requests a minute of a certificate that is revoked, unregistered or of an inactive partner (0: no limit).")
    var refusedCertificateRateLimit = 60
    @Flag(inversion: .prefixedNo, help: "Apply missing schema migrations at start (with --no-migrate a store that lacks one is refused).")
    var migrate = true
    @OptionGroup var pkiOptions: PKIOptions
    @OptionGroup var store: StoreOptions

    func run() async throws {
        let logger = Console.logger()
        let pki = pkiOptions.directory
        var configuration = GatewayConfiguration(
            serverCertificatePath: serverCert ?? pki.serverCertificate, serverKeyPath: serverKey ?? pki.serverKey,
            partnerCAPaths: partnerCa.isEmpty ? [pki.partnerCACertificate] : partnerCa, subjectKeyPath: subjectKey ?? pki.subjectKey,
            database: try store.location(), contractsDirectory: try Console.contracts(contracts))
        configuration.exchangeHost = host
        configuration.exchangePort = port
        configuration.migrateOnStart = migrate
        guard requestHeadTimeoutSeconds >= 1, requestBodyTimeoutSeconds >= 1, idleTimeoutSeconds >= 1, storeTimeoutSeconds >= 1, logTimeoutSeconds >= 1 else {
            throw ValidationError("--request-head-timeout-seconds, --request-body-timeout-seconds, --idle-timeout-seconds, --store-timeout-seconds and --log-timeout-seconds are at least 1")
        }
        configuration.storeDeadline = .seconds(storeTimeoutSeconds)
        configuration.logDeadline = .seconds(logTimeoutSeconds)
        guard certificateRateLimit >= 0, refusedCertificateRateLimit >= 0 else {
            throw ValidationError("--certificate-rate-limit and --refused-certificate-rate-limit are requests a minute, 0 for none")
        }
        configuration.certificateRateLimit = certificateRateLimit > 0 ? certificateRateLimit : nil
        configuration.refusedCertificateRateLimit = refusedCertificateRateLimit > 0 ? refusedCertificateRateLimit : nil
        configuration.requestDeadlines.head = .seconds(requestHeadTimeoutSeconds)
        configuration.requestDeadlines.body = .seconds(requestBodyTimeoutSeconds)
        configuration.idleTimeoutSeconds = idleTimeoutSeconds
        configuration.bodyKeyFolder = bodyKeys ?? (FileManager.default.fileExists(atPath: pki.bodyKeys) ? pki.bodyKeys : nil)
        configuration.opsHost = opsHost
        configuration.opsPort = opsPort
        configuration.adminPort = adminPort
        configuration.adminCAPaths = adminCa.isEmpty && FileManager.default.fileExists(atPath: pki.adminCACertificate) ? [pki.adminCACertificate] : adminCa
        configuration.partnerCAKeyPath = partnerCaKey ?? (FileManager.default.fileExists(atPath: pki.partnerCAKey) ? pki.partnerCAKey : nil)
        let relayCertificate = relayCert ?? pki.relayClientCertificate
        if !noRelay, FileManager.default.fileExists(atPath: relayCertificate) {
            var relay = RelayConfiguration(
                clientCertificatePath: relayCertificate, clientKeyPath: relayKey ?? pki.relayClientKey,
                trustedServerCAPaths: relayCa.isEmpty ? configuration.partnerCAPaths : relayCa)
            relay.policy.maximumAttempts = relayAttempts
            relay.policy.maximumAge = .seconds(relayMaxAgeHours * 3600)
            relay.policy.initialBackoff = .milliseconds(relayBackoffMs)
            relay.policy.lease = .seconds(relayLeaseSeconds)
            relay.requestTimeout = .seconds(relayTimeoutSeconds)
            relay.concurrency = relayConcurrency
            configuration.relay = relay
        } else {
            Console.say("Relay off: no relay client certificate (\(relayCertificate)) or --no-relay")
        }
        let signingKey = logSigningKey ?? pki.logSigningKey
        if FileManager.default.fileExists(atPath: signingKey) {
            guard sealEveryEntries >= 1, sealEverySeconds >= 1 else { throw ValidationError("--seal-every-entries and --seal-every-seconds are at least 1") }
            var sealing = SealingConfiguration(signingKeyPath: signingKey, signingCertificatePath: logSigningCert ?? pki.logSigningCertificate)
            sealing.sealer.everyEntries = sealEveryEntries
            sealing.sealer.every = .seconds(sealEverySeconds)
            guard let policy = TimestampPolicy(rawValue: timestampPolicy), timestampGraceSeconds >= 1 else {
                throw ValidationError("--timestamp-policy is continue or refuse; --timestamp-grace-seconds at least 1")
            }
            sealing.sealer.timestampPolicy = policy
            sealing.sealer.timestampGrace = .seconds(timestampGraceSeconds)
            if let tsaUrl {
                guard !tsaRoot.isEmpty else { throw ValidationError("--tsa-url needs --tsa-root: a token is only kept when it chains to a trusted TSA root") }
                sealing.timestamping = TimestampingConfiguration(url: tsaUrl, trustedRootPaths: tsaRoot)
            } else {
                Console.say("No --tsa-url: seals are signed but not timestamped")
            }
            configuration.sealing = sealing
        } else {
            Console.say("Sealing off: no log-signing key (\(signingKey)); create one with `jisr pki init` or pass --log-signing-key")
        }
        // The lease outlasts the longest delivery, or a slow attempt would still run when the message is claimed again.
        guard relayAttempts >= 1, relayMaxAgeHours >= 1, relayBackoffMs >= 10, relayTimeoutSeconds >= 1, relayLeaseSeconds > relayTimeoutSeconds,
            (1...256).contains(relayConcurrency)
        else {
            throw ValidationError(
                "relay options: attempts ≥ 1, max age ≥ 1 h, backoff ≥ 10 ms, timeout ≥ 1 s, lease longer than the timeout (\(relayTimeoutSeconds) s), concurrency 1–256")
        }
        let (host, adminPort) = (self.host, self.adminPort)
        let gateway = try Gateway.build(
            configuration: configuration, logger: logger,
            onExchangeListening: { port in Console.say("Jisr exchange listener on \(host):\(port) (mutual TLS)") },
            onAdminListening: { _ in Console.say("Jisr admin listener on 127.0.0.1:\(adminPort) (admin certificates only)") })
        try await gateway.run(logger: logger)
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
                    guard pending.isEmpty else { throw ValidationError("the source store is not at this jisr's schema; run `jisr migrate --database-url \(from)` first") }
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
                    if let found = targetLog.firstBreak { throw ValidationError("the copied log does not verify: \(found.reason) (entry \(found.seq))") }
                    guard targetLog.verified == sourceLog.verified, targetLog.headHash == sourceLog.headHash else {
                        throw ValidationError("the copied log ends at \(targetLog.verified) \(targetLog.headHash), the source's at \(sourceLog.verified) \(sourceLog.headHash)")
                    }
                    print("copied in \(String(format: "%.1f", Date().timeIntervalSince(started))) s; log verified on the target: \(targetLog.verified) entries, chain head \(targetLog.headHash), \(targetLog.sealsMatched) seals matched")
                }
            }
        }
    }
}

struct Seed: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Fill the reference ministry records with deterministic synthetic data.")

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

        func run() async throws {
            let logger = Console.logger()
            let (from, to, partner, out) = (self.from, self.to, self.partner, self.out)
            let tsaRootPEM = try tsaRoot.map { try String(contentsOfFile: $0, encoding: .utf8) }
            let summary = try await withDatabase(try store.location(), logger: logger) { database in
                let log = LogReader(database: database, logger: logger)
                let seqs = try await Self.range(from: from, to: to, log: log)
                return try await EvidenceBundle.export(
                    log: log, seals: SealStore(database: database, logger: logger), seqs: seqs, partner: partner, tsaRootPEM: tsaRootPEM, to: out)
            }
            print("wrote \(summary.entries) entries and \(summary.seals.count) seals to \(out); check it with: jisr log verify --bundle \(out)")
            if summary.unsealed > 0 { print("\(summary.unsealed) later entries in the range are not sealed yet and were left out (run `jisr log seal`)") }
        }

        static func range(from: String, to: String, log: LogReader) async throws -> ClosedRange<Int64> {
            if let first = Int64(from), let last = Int64(to) {
                guard first >= 1, first <= last else { throw ValidationError("--from and --to: 1 ≤ from ≤ to") }
                return first...last
            }
            let start = try Output.parseDate(from, option: "--from")
            var end = try Output.parseDate(to, option: "--to")
            if !to.contains("T") { end = end.addingTimeInterval(86_400 - 0.000_001) }
            guard let seqs = try await log.seqs(recordedFrom: start, through: end) else { throw ValidationError("no entries were recorded between --from and --to") }
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
                guard let data = FileManager.default.contents(atPath: receipt) else { throw ValidationError("cannot read \(receipt)") }
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
            let report = try await withDatabase(try store.location(), logger: logger) { database in
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
            guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("cannot read \(path)") }
            let head: TreeHead
            do { head = try await HeldTreeHead.read(json: data, trust: trust) } catch let error as EvidenceError {
                print("REFUSED: \(error.item): \(error.reason)")
                throw ExitCode(1)
            }
            let logger = Console.logger()
            let finding = try await withDatabase(try store.location(), logger: logger) { database in
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
            throw ValidationError(
                "say what the log-signing key is trusted by: --signing-ca CA.crt (the ministry's CA) or --signing-key SHA256-OF-ITS-SPKI (there is no \(paths[0]))")
        }
        return try LogSigningTrust.authority(rootsPEM: try paths.map { try String(contentsOfFile: $0, encoding: .utf8) })
    }

    func timestamps() throws -> TimestampRequirement? {
        tsaRoot.isEmpty
            ? nil : TimestampRequirement(rootsPEM: try tsaRoot.map { try String(contentsOfFile: $0, encoding: .utf8) }, grace: TimeInterval(timestampGraceSeconds))
    }
}
