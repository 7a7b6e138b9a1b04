import ArgumentParser
import Configuration
import Foundation
import Gateway
import Logging
import MessageLog
import PKI
import Relay
import Schemas
import Storage
import SystemPackage
import Yams

/// One setting of `jisr serve`: its key in the configuration file (YAML, `deploy/jisr.yml`), which is also its
/// environment variable (`JISR_` and the key in capitals, `exchange.port` → `JISR_EXCHANGE_PORT`), its type, what it
/// defaults to, and whether SIGHUP applies a change without a restart.
struct Setting: Sendable {
    enum Kind: String, Sendable {
        case string, int, bool, paths
    }

    let key: String
    let kind: Kind
    let defaultValue: String
    let help: String
    var reloadable = false

    /// `JISR_` and the key's words in capitals, as swift-configuration's environment provider names them.
    var environmentName: String {
        var name = "JISR"
        for component in key.split(separator: ".") {
            var word = ""
            var previous: Character?
            for character in component {
                if let previous, previous.isLowercase, character.isUppercase { word.append("_") }
                word.append(character.isLetter || character.isNumber ? Character(character.uppercased()) : "_")
                previous = character
            }
            name += "_" + word
        }
        return name
    }
}

/// Every setting `jisr serve` reads, in the order `jisr config check` prints them; the example `deploy/jisr.yml`
/// documents each. Secrets are never values here: keys and passwords are files, named by path.
enum ServeSettingsTable {
    static let all: [Setting] = [
        Setting(key: "exchange.host", kind: .string, defaultValue: "0.0.0.0", help: "Exchange listener address (partners, mutual TLS)."),
        Setting(key: "exchange.port", kind: .int, defaultValue: "8443", help: "Exchange listener port."),
        Setting(key: "exchange.requestHeadTimeoutSeconds", kind: .int, defaultValue: "10", help: "Seconds a client may take to send a request's head."),
        Setting(key: "exchange.requestBodyTimeoutSeconds", kind: .int, defaultValue: "30", help: "Seconds a client may take to send a request's body."),
        Setting(key: "exchange.idleTimeoutSeconds", kind: .int, defaultValue: "30", help: "Seconds an idle connection stays open."),
        Setting(
            key: "exchange.certificateRateLimit", kind: .int, defaultValue: "6000", help: "Requests a minute one partner certificate may make (0: no limit).",
            reloadable: true),
        Setting(
            key: "exchange.refusedCertificateRateLimit", kind: .int, defaultValue: "60",
            help: "Requests a minute of a revoked, unregistered or inactive partner's certificate (0: no limit).", reloadable: true),
        Setting(key: "ops.host", kind: .string, defaultValue: "127.0.0.1", help: "Ops listener address (health, metrics; plain HTTP)."),
        Setting(key: "ops.port", kind: .int, defaultValue: "9090", help: "Ops listener port."),
        Setting(key: "crl.host", kind: .string, defaultValue: "0.0.0.0", help: "CRL listener address (plain HTTP, public: relying parties fetch the CRL)."),
        Setting(key: "crl.port", kind: .int, defaultValue: "8080", help: "CRL listener port: the port of the URL `jisr pki init --crl-url` named."),
        Setting(key: "crl.file", kind: .string, defaultValue: "PKI/partner-ca.crl when it exists", help: "The partner CA's CRL (DER); the listener is off without one."),
        Setting(key: "admin.port", kind: .int, defaultValue: "9443", help: "Admin listener port (loopback)."),
        Setting(key: "admin.cas", kind: .paths, defaultValue: "PKI/admin-ca.crt when it exists", help: "CA certificates of administrators (PEM)."),
        Setting(key: "pki.dir", kind: .string, defaultValue: "pki", help: "The PKI folder of `jisr pki init`: the default of every path below."),
        Setting(key: "tls.serverCertificate", kind: .string, defaultValue: "PKI/server.crt", help: "Server certificate chain (PEM)."),
        Setting(key: "tls.serverKey", kind: .string, defaultValue: "PKI/server.key", help: "Server private key (PEM, a secret: mode 600)."),
        Setting(key: "tls.partnerCAs", kind: .paths, defaultValue: "PKI/partner-ca.crt", help: "Trusted partner CA certificates (PEM)."),
        Setting(key: "tls.partnerCAKey", kind: .string, defaultValue: "PKI/partner-ca.key when it exists", help: "The partner CA's key, to sign CSRs through the admin API."),
        Setting(key: "keys.subject", kind: .string, defaultValue: "PKI/subject.key", help: "The subject-reference key (32+ bytes, a secret: mode 600)."),
        Setting(key: "keys.bodyFolder", kind: .string, defaultValue: "PKI/body-keys when it exists", help: "Keys of message bodies at rest."),
        Setting(key: "database.url", kind: .string, defaultValue: "sqlite:jisr.sqlite", help: "postgres://USER@HOST:PORT/DB or sqlite:PATH (no password here)."),
        Setting(key: "database.passwordFile", kind: .string, defaultValue: "none", help: "A file holding the PostgreSQL password (a secret: mode 600)."),
        Setting(key: "database.migrate", kind: .bool, defaultValue: "true", help: "Apply missing schema migrations at start."),
        Setting(key: "database.timeoutSeconds", kind: .int, defaultValue: "5", help: "Seconds an exchange waits for the records it reads (then 503)."),
        Setting(key: "messageLog.commitTimeoutSeconds", kind: .int, defaultValue: "5", help: "Seconds an exchange waits for its log entry (then 503)."),
        Setting(key: "contracts.dir", kind: .string, defaultValue: "found beside jisr", help: "The contracts folder."),
        Setting(key: "relay.enabled", kind: .bool, defaultValue: "true", help: "Relay outbound messages from this process."),
        Setting(key: "relay.clientCertificate", kind: .string, defaultValue: "PKI/relay-client.crt", help: "Jisr's client certificate for deliveries."),
        Setting(key: "relay.clientKey", kind: .string, defaultValue: "PKI/relay-client.key", help: "Its private key (a secret: mode 600)."),
        Setting(key: "relay.serverCAs", kind: .paths, defaultValue: "the partner CAs", help: "CAs of partners' receiving servers (PEM)."),
        Setting(key: "relay.attempts", kind: .int, defaultValue: "8", help: "Delivery attempts before a message is dead-lettered.", reloadable: true),
        Setting(key: "relay.maxAgeHours", kind: .int, defaultValue: "24", help: "Hours after which a failing message is dead-lettered.", reloadable: true),
        Setting(key: "relay.backoffMs", kind: .int, defaultValue: "2000", help: "First retry delay in milliseconds (doubles per attempt).", reloadable: true),
        Setting(key: "relay.leaseSeconds", kind: .int, defaultValue: "60", help: "Seconds a worker holds a message it delivers."),
        Setting(key: "relay.concurrency", kind: .int, defaultValue: "8", help: "Deliveries in flight at once in this process."),
        Setting(key: "relay.timeoutSeconds", kind: .int, defaultValue: "10", help: "Seconds one delivery may take (less than the lease)."),
        Setting(key: "sealing.signingKey", kind: .string, defaultValue: "PKI/log-signing.key", help: "The log-signing key (sealing is off without one)."),
        Setting(key: "sealing.signingCertificate", kind: .string, defaultValue: "PKI/log-signing.crt", help: "Its certificate chain."),
        Setting(key: "sealing.everyEntries", kind: .int, defaultValue: "1000", help: "Seal after this many new entries…"),
        Setting(key: "sealing.everySeconds", kind: .int, defaultValue: "10", help: "…or after this many seconds."),
        Setting(key: "timestamping.url", kind: .string, defaultValue: "none", help: "RFC 3161 timestamping authority that stamps every seal.", reloadable: true),
        Setting(key: "timestamping.roots", kind: .paths, defaultValue: "none", help: "The TSA's root certificates (PEM)."),
        Setting(key: "timestamping.graceSeconds", kind: .int, defaultValue: "3600", help: "Seconds seals may wait for their timestamp."),
        Setting(key: "timestamping.policy", kind: .string, defaultValue: "continue", help: "After the grace period: continue, or refuse new exchanges."),
        Setting(key: "tracing.endpoint", kind: .string, defaultValue: "none", help: "OTLP/HTTP traces URL of an OpenTelemetry collector (off without)."),
        Setting(key: "tracing.serviceName", kind: .string, defaultValue: "jisr", help: "service.name of the spans (e.g. jisr-site-a)."),
        Setting(key: "log.level", kind: .string, defaultValue: "info", help: "trace, debug, info, notice, warning, error or critical.", reloadable: true),
        Setting(key: "log.format", kind: .string, defaultValue: "text", help: "text, or json: one object per line for a log collector."),
    ]

    static let byKey = Dictionary(uniqueKeysWithValues: all.map { ($0.key, $0) })

    /// The closest known key, for "did you mean".
    static func suggestion(for key: String) -> String? { NearestName.among(all.map(\.key), to: key) }
}

/// A setting that cannot be used, named by its key and where it came from.
struct SettingError: Error, CustomStringConvertible {
    let description: String
}

/// Where the settings of one `jisr serve` come from, highest first: its command-line options, the environment
/// (`JISR_…`), the configuration file, the defaults.
struct ServeSettingsSource {
    let reader: ConfigReader
    let commandLine: [String: ConfigValue]
    let fileKeys: Set<String>
    let file: String?
    let environment: [String: String]

    /// Reads `file` (YAML) when given, refusing a missing file, a key no setting has and a password in the database
    /// URL; then layers the environment and the command line over it.
    static func load(file: String?, commandLine: [String: ConfigValue], environment: [String: String] = ProcessInfo.processInfo.environment)
        async throws -> ServeSettingsSource
    {
        var providers: [any ConfigProvider] = [
            InMemoryProvider(name: "command line", values: Dictionary(uniqueKeysWithValues: commandLine.map { (AbsoluteConfigKey($0.key.split(separator: ".").map(String.init)), $0.value) })),
            KeyMappingProvider(upstream: EnvironmentVariablesProvider(environmentVariables: environment)) { $0.prepending(["jisr"]) },
        ]
        var fileKeys: Set<String> = []
        if let file {
            guard let data = FileManager.default.contents(atPath: file) else { throw SettingError(description: "configuration file \(file): cannot be read") }
            let tree: Any?
            do { tree = try Yams.load(yaml: String(decoding: data, as: UTF8.self)) } catch {
                throw SettingError(description: "configuration file \(file): not YAML (\(error))")
            }
            guard let mapping = tree as? [String: Any] else {
                throw SettingError(description: "configuration file \(file): expected a mapping of settings at the top")
            }
            fileKeys = Set(Self.flatten(mapping))
            for key in fileKeys.sorted() where ServeSettingsTable.byKey[key] == nil {
                let hint = ServeSettingsTable.suggestion(for: key).map { " (did you mean \($0)?)" } ?? ""
                throw SettingError(description: "configuration file \(file): unknown key \(key)\(hint)")
            }
            providers.append(try await FileProvider<YAMLSnapshot>(filePath: .init(file)))
        }
        return ServeSettingsSource(reader: ConfigReader(providers: providers), commandLine: commandLine, fileKeys: fileKeys, file: file, environment: environment)
    }

    /// Dotted keys of the leaves of a YAML mapping (a list is one value).
    static func flatten(_ mapping: [String: Any], prefix: String = "") -> [String] {
        mapping.flatMap { key, value -> [String] in
            let full = prefix.isEmpty ? key : prefix + "." + key
            if let nested = value as? [String: Any] { return flatten(nested, prefix: full) }
            return [full]
        }
    }

    /// Where a setting's value comes from, or nil for its default.
    func origin(of setting: Setting) -> String? {
        if commandLine[setting.key] != nil { return "command line" }
        if environment[setting.environmentName] != nil { return "environment \(setting.environmentName)" }
        if fileKeys.contains(setting.key) { return "file" }
        return nil
    }

    private func setting(_ key: String) -> Setting {
        guard let setting = ServeSettingsTable.byKey[key] else { preconditionFailure("no setting \(key)") }
        return setting
    }

    /// Reads a set value as its type: a value of the wrong type is refused with its key, never taken as the default.
    private func typed<Value>(_ key: String, _ read: () throws -> Value) throws -> Value? {
        let setting = setting(key)
        guard let origin = origin(of: setting) else { return nil }
        do { return try read() } catch {
            throw SettingError(description: "\(key) (from the \(origin)): expected \(Self.describe(setting.kind))")
        }
    }

    static func describe(_ kind: Setting.Kind) -> String {
        switch kind {
        case .string: "a string"
        case .int: "a whole number"
        case .bool: "true or false"
        case .paths: "a list of paths"
        }
    }

    func string(_ key: String) throws -> String? { try typed(key) { try reader.requiredString(forKey: ConfigKey(key)) } }
    func int(_ key: String) throws -> Int? { try typed(key) { try reader.requiredInt(forKey: ConfigKey(key)) } }
    func bool(_ key: String) throws -> Bool? { try typed(key) { try reader.requiredBool(forKey: ConfigKey(key)) } }
    func paths(_ key: String) throws -> [String]? { try typed(key) { try reader.requiredStringArray(forKey: ConfigKey(key)) } }
}

/// `jisr serve`'s settings resolved — command line, environment, file, defaults — and checked together.
struct ServeSettings {
    let source: ServeSettingsSource
    let pki: PKIDirectory
    /// Each setting's effective value as printed by `jisr config check` (paths as given, the database URL without a
    /// password), and where it came from.
    private(set) var effective: [(setting: Setting, value: String, origin: String)] = []
    let configuration: GatewayConfiguration
    /// Files the configuration names for a part that is off because they are missing (the relay, sealing): said by
    /// `jisr config check` and warned of by `jisr serve`, never passed over in silence.
    private(set) var missingNamedFiles: [ConfigurationError] = []
    let logLevel: String
    let logFormat: String

    init(_ source: ServeSettingsSource, fileExists: (String) -> Bool = { FileManager.default.fileExists(atPath: $0) }) throws {
        self.source = source
        var shown: [String: String] = [:]
        func note(_ key: String, _ value: String) { shown[key] = value }

        let pki = PKIDirectory(path: try source.string("pki.dir") ?? "pki")
        self.pki = pki
        note("pki.dir", pki.path)
        func path(_ key: String, _ fallback: String) throws -> String {
            let value = try source.string(key) ?? fallback
            note(key, value)
            return value
        }
        func optionalPath(_ key: String, _ fallback: String?) throws -> String? {
            let value = try source.string(key) ?? fallback.flatMap { fileExists($0) ? $0 : nil }
            note(key, value ?? "none")
            return value
        }
        func int(_ key: String, _ fallback: Int, atLeast minimum: Int) throws -> Int {
            let value = try source.int(key) ?? fallback
            guard value >= minimum else { throw SettingError(description: "\(key): at least \(minimum), not \(value)") }
            note(key, String(value))
            return value
        }
        func port(_ key: String, _ fallback: Int) throws -> Int {
            let value = try int(key, fallback, atLeast: 0)
            guard value <= 65_535 else { throw SettingError(description: "\(key): a port, 0–65535, not \(value)") }
            return value
        }
        func paths(_ key: String, _ fallback: [String]) throws -> [String] {
            let value = try source.paths(key) ?? fallback
            note(key, value.isEmpty ? "none" : value.joined(separator: ", "))
            return value
        }

        // The database: a URL without a password (secrets are files), and the password's file.
        let urlText = try source.string("database.url") ?? "sqlite:jisr.sqlite"
        var location = try StoreLocation(urlText)
        if case .postgres(var url) = location {
            if url.password != nil, source.origin(of: ServeSettingsTable.byKey["database.url"]!) == "file" {
                throw SettingError(description: "database.url (from the file): holds a password; put it in a file named by database.passwordFile")
            }
            if let passwordFile = try source.string("database.passwordFile") {
                do { try SecretFile.checkPrivate(passwordFile, "the database password file") } catch let error as ConfigurationError {
                    throw SettingError(description: "database.passwordFile: \(error.description)")
                }
                guard let data = FileManager.default.contents(atPath: passwordFile) else {
                    throw SettingError(description: "database.passwordFile: \(passwordFile) cannot be read")
                }
                url.password = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .newlines)
                location = .postgres(url)
            }
        }
        note("database.url", location.description)
        note("database.passwordFile", try source.string("database.passwordFile") ?? "none")
        let contracts = try source.string("contracts.dir").map { URL(fileURLWithPath: $0) } ?? ContractCatalog.defaultDirectory()
        guard let contracts else { throw SettingError(description: "contracts.dir: cannot find the contracts folder (looked in \(ContractCatalog.searchedPlaces)); set it") }
        note("contracts.dir", contracts.path)

        var configuration = GatewayConfiguration(
            serverCertificatePath: try path("tls.serverCertificate", pki.serverCertificate), serverKeyPath: try path("tls.serverKey", pki.serverKey),
            partnerCAPaths: try paths("tls.partnerCAs", [pki.partnerCACertificate]), subjectKeyPath: try path("keys.subject", pki.subjectKey),
            database: location, contractsDirectory: contracts)
        configuration.exchangeHost = try source.string("exchange.host") ?? "0.0.0.0"
        note("exchange.host", configuration.exchangeHost)
        configuration.exchangePort = try port("exchange.port", 8443)
        configuration.requestDeadlines.head = .seconds(try int("exchange.requestHeadTimeoutSeconds", 10, atLeast: 1))
        configuration.requestDeadlines.body = .seconds(try int("exchange.requestBodyTimeoutSeconds", 30, atLeast: 1))
        configuration.idleTimeoutSeconds = Int64(try int("exchange.idleTimeoutSeconds", 30, atLeast: 1))
        let certificateLimit = try int("exchange.certificateRateLimit", 6000, atLeast: 0)
        configuration.certificateRateLimit = certificateLimit > 0 ? certificateLimit : nil
        let refusedLimit = try int("exchange.refusedCertificateRateLimit", 60, atLeast: 0)
        configuration.refusedCertificateRateLimit = refusedLimit > 0 ? refusedLimit : nil
        configuration.opsHost = try source.string("ops.host") ?? "127.0.0.1"
        note("ops.host", configuration.opsHost)
        configuration.opsPort = try port("ops.port", 9090)
        configuration.adminPort = try port("admin.port", 9443)
        configuration.adminCAPaths = try paths("admin.cas", fileExists(pki.adminCACertificate) ? [pki.adminCACertificate] : [])
        configuration.partnerCAKeyPath = try optionalPath("tls.partnerCAKey", pki.partnerCAKey)
        configuration.bodyKeyFolder = try optionalPath("keys.bodyFolder", pki.bodyKeys)
        configuration.partnerCRLURL = pki.crlURL
        let crlHost = try source.string("crl.host") ?? "0.0.0.0"
        note("crl.host", crlHost)
        let crlPort = try port("crl.port", 8080)
        configuration.crl = try optionalPath("crl.file", pki.partnerCRL).map { CRLPublication(host: crlHost, port: crlPort, file: $0) }
        configuration.migrateOnStart = try source.bool("database.migrate") ?? true
        note("database.migrate", String(configuration.migrateOnStart))
        configuration.storeDeadline = .seconds(try int("database.timeoutSeconds", 5, atLeast: 1))
        configuration.logDeadline = .seconds(try int("messageLog.commitTimeoutSeconds", 5, atLeast: 1))

        // The relay, when this process relays and has its client certificate.
        let relayOn = try source.bool("relay.enabled") ?? true
        note("relay.enabled", String(relayOn))
        let relayCertificate = try path("relay.clientCertificate", pki.relayClientCertificate)
        var relay = RelayConfiguration(
            clientCertificatePath: relayCertificate, clientKeyPath: try path("relay.clientKey", pki.relayClientKey),
            trustedServerCAPaths: try paths("relay.serverCAs", configuration.partnerCAPaths))
        relay.policy.maximumAttempts = try int("relay.attempts", 8, atLeast: 1)
        relay.policy.maximumAge = .seconds(try int("relay.maxAgeHours", 24, atLeast: 1) * 3600)
        relay.policy.initialBackoff = .milliseconds(try int("relay.backoffMs", 2000, atLeast: 10))
        let lease = try int("relay.leaseSeconds", 60, atLeast: 2)
        let timeout = try int("relay.timeoutSeconds", 10, atLeast: 1)
        guard lease > timeout else { throw SettingError(description: "relay.leaseSeconds (\(lease)) must be longer than relay.timeoutSeconds (\(timeout))") }
        relay.policy.lease = .seconds(lease)
        relay.requestTimeout = .seconds(timeout)
        relay.concurrency = try int("relay.concurrency", 8, atLeast: 1)
        guard relay.concurrency <= 256 else { throw SettingError(description: "relay.concurrency: at most 256") }
        configuration.relay = relayOn && fileExists(relayCertificate) ? relay : nil
        if relayOn, !fileExists(relayCertificate), try source.string("relay.clientCertificate") != nil {
            missingNamedFiles.append(ConfigurationError(item: relayCertificate, reason: "relay.clientCertificate: no such file, so the relay is off"))
        }

        // Sealing, when the log-signing key is there; timestamping when a TSA is named.
        let signingKey = try path("sealing.signingKey", pki.logSigningKey)
        var sealing = SealingConfiguration(signingKeyPath: signingKey, signingCertificatePath: try path("sealing.signingCertificate", pki.logSigningCertificate))
        sealing.sealer.everyEntries = Int64(try int("sealing.everyEntries", 1000, atLeast: 1))
        sealing.sealer.every = .seconds(try int("sealing.everySeconds", 10, atLeast: 1))
        let policyText = try source.string("timestamping.policy") ?? "continue"
        guard let policy = TimestampPolicy(rawValue: policyText) else {
            throw SettingError(description: "timestamping.policy: continue or refuse, not \(policyText)")
        }
        note("timestamping.policy", policyText)
        sealing.sealer.timestampPolicy = policy
        sealing.sealer.timestampGrace = .seconds(try int("timestamping.graceSeconds", 3600, atLeast: 1))
        let roots = try paths("timestamping.roots", [])
        if let url = try source.string("timestamping.url") {
            guard !roots.isEmpty else { throw SettingError(description: "timestamping.url needs timestamping.roots: a token is kept only when it chains to a trusted root") }
            sealing.timestamping = TimestampingConfiguration(url: url, trustedRootPaths: roots)
        }
        note("timestamping.url", sealing.timestamping?.url ?? "none")
        configuration.sealing = fileExists(signingKey) ? sealing : nil
        if !fileExists(signingKey), try source.string("sealing.signingKey") != nil {
            missingNamedFiles.append(ConfigurationError(item: signingKey, reason: "sealing.signingKey: no such file, so the log is not sealed"))
        }

        if let endpoint = try source.string("tracing.endpoint") {
            guard let url = URL(string: endpoint), ["http", "https"].contains(url.scheme ?? ""), url.host != nil else {
                throw SettingError(description: "tracing.endpoint: an http(s) URL such as http://collector:4318/v1/traces, not \(endpoint)")
            }
            var tracing = TracingConfiguration(endpoint: endpoint)
            tracing.serviceName = try source.string("tracing.serviceName") ?? "jisr"
            configuration.tracing = tracing
        }
        note("tracing.endpoint", configuration.tracing?.endpoint ?? "none")
        note("tracing.serviceName", configuration.tracing?.serviceName ?? "jisr")
        let level = try source.string("log.level") ?? "info"
        guard Logger.Level(rawValue: level) != nil else { throw SettingError(description: "log.level: one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")), not \(level)") }
        note("log.level", level)
        let format = try source.string("log.format") ?? "text"
        guard ["text", "json"].contains(format) else { throw SettingError(description: "log.format: text or json, not \(format)") }
        note("log.format", format)
        logLevel = level
        logFormat = format
        self.configuration = configuration
        effective = ServeSettingsTable.all.map { setting in
            (setting, shown[setting.key] ?? setting.defaultValue, source.origin(of: setting) ?? "default")
        }
    }
}
