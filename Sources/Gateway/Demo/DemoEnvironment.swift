import Adapters
import Administration
import Foundation
import Logging
import MessageLog
import PKI
import Records
import Registry
import Relay
import Schemas
import ServiceLifecycle
import Storage
import Transparency

/// The manifest `jisr demo` writes to `DIR/demo.json`, for scripts and tests.
public struct DemoManifest: Codable, Sendable {
    /// A demo partner's credentials and grants.
    public struct PartnerCredentials: Codable, Sendable {
        public var id: String
        public var certificate: String
        public var key: String
        public var fingerprint: String
        public var purposes: [String]
    }

    public var exchangeURL: String
    public var opsURL: String
    public var adminURL: String
    public var caCertificate: String
    public var partners: [PartnerCredentials]
    public var administrator: PartnerCredentials
    public var samples: RecordSamples
    public var database: String
    /// The mock partners the demo starts, one per partner ministry, receiving relay deliveries.
    public var mockPartners: [MockPartnerEntry] = []

    /// A mock partner of the demo: where it listens, where it records, how to steer it.
    public struct MockPartnerEntry: Codable, Sendable {
        public var id: String
        public var endpoint: String
        public var format: String
        public var recordDirectory: String
        public var controlURL: String
    }
}

/// Everything a newcomer needs for a first exchange: PKI, partners, agreements, records.
///
/// Idempotent: run again on the same folder, it reuses the keys, the registrations and the records.
public struct DemoEnvironment: Sendable {
    public let directory: String
    public let exchangePort: Int
    public let opsPort: Int
    public let adminPort: Int
    /// The CRL listener's port: the demo CA's certificates name `http://localhost:PORT/partner-ca.crl`.
    public let crlPort: Int
    public let persons: Int
    public let seed: UInt64

    public init(
        directory: String, exchangePort: Int = 8443, opsPort: Int = 9090, adminPort: Int = 9443, crlPort: Int = 8080, persons: Int = 10_000, seed: UInt64 = 1
    ) {
        self.adminPort = adminPort
        self.crlPort = crlPort
        self.directory = URL(fileURLWithPath: directory).standardizedFileURL.path
        self.exchangePort = exchangePort
        self.opsPort = opsPort
        self.persons = persons
        self.seed = seed
    }

    static let purposes = [
        Purpose(
            code: "nssf-contribution-verification", descriptionAr: "التحقق من اشتراكات الضمان الاجتماعي",
            descriptionEn: "Verify an employee's NSSF contributions against declared employment",
            legalBasis: "Social Security Code, Decree No. 13955 of 26 September 1963; MoL–NSSF data-sharing protocol",
            legalBasisAr: "قانون الضمان الاجتماعي، المرسوم رقم 13955 تاريخ 26 أيلول 1963؛ بروتوكول تبادل البيانات بين وزارة العمل والصندوق"),
        Purpose(
            code: "nssf-employee-enrolment", descriptionAr: "تسجيل الأجراء في الضمان الاجتماعي",
            descriptionEn: "Enrol an employee with the NSSF", legalBasis: "Social Security Code, Decree No. 13955 of 26 September 1963",
            legalBasisAr: "قانون الضمان الاجتماعي، المرسوم رقم 13955 تاريخ 26 أيلول 1963"),
        Purpose(
            code: "data-subject-access", descriptionAr: "حق الشخص في الاطلاع على معالجة بياناته",
            descriptionEn: "A person's right to know who received their data",
            legalBasis: "Law No. 81 of 10 October 2018 on electronic transactions and personal data",
            legalBasisAr: "القانون رقم 81 تاريخ 10 تشرين الأول 2018 المتعلق بالمعاملات الإلكترونية والبيانات ذات الطابع الشخصي"),
        Purpose(
            code: "mou-work-permit-notification", descriptionAr: "إشعار بتصاريح عمل الرعايا بموجب مذكرة التفاهم",
            descriptionEn: "Notify a partner ministry of its nationals' work permits under a cooperation MoU",
            legalBasis: "Bilateral labour cooperation memorandum of understanding",
            legalBasisAr: "مذكرة التفاهم الثنائية للتعاون في مجال العمل"),
    ]

    /// Ministries that receive permit events through the relay: their mock endpoint's port and adapter.
    static let receivers: [(id: String, port: Int, mapping: String?)] = [("EG-MOL", 9101, nil), ("IQ-MOLSA", 9102, "iq-molsa")]

    static let partners = [
        Partner(id: "LB-NSSF", nameAr: "الصندوق الوطني للضمان الاجتماعي", nameEn: "National Social Security Fund", country: "LB", status: .active),
        Partner(id: "EG-MOL", nameAr: "وزارة العمل – جمهورية مصر العربية", nameEn: "Ministry of Labour, Arab Republic of Egypt", country: "EG", status: .active),
        Partner(id: "IQ-MOLSA", nameAr: "وزارة العمل والشؤون الاجتماعية – العراق", nameEn: "Ministry of Labour and Social Affairs, Iraq", country: "IQ", status: .active),
        // The ministry's e-services portal: it authenticates citizens its own way and asks for their access reports.
        Partner(id: "LB-PORTAL", nameAr: "بوابة الخدمات الإلكترونية – وزارة العمل", nameEn: "Ministry of Labour e-services portal", country: "LB", status: .active),
    ]

    var pki: String { directory + "/pki" }

    /// Creates or reuses the PKI, registers partners and agreements, seeds records; returns the configuration
    /// to serve with and the manifest it wrote.
    public func prepare(database: StoreLocation, contractsDirectory: URL, logger: Logger, say: @Sendable (String) -> Void) async throws -> (GatewayConfiguration, DemoManifest) {
        let catalog = try ContractCatalog.load(from: contractsDirectory)
        let credentials = try preparePKI(say: say)
        let layout = PKIDirectory(path: pki)
        let (samples, granted) = try await withDatabase(database, logger: logger) { store in
            // The demo's store is its own: marked as synthetic before its schema exists, and refused when it is not.
            try await SyntheticStore.claim(store, by: "jisr demo", logger: logger)
            try await Migrator(database: store, logger: logger).migrate(JisrMigrations.all)
            try await register(
                credentials: credentials, catalog: catalog, mappings: contractsDirectory.deletingLastPathComponent().appendingPathComponent("mappings"), database: store,
                logger: logger, say: say)
            let seeder = Seeder(database: store, logger: logger)
            if try await seeder.count() == 0 {
                say("Seeding \(persons) synthetic persons (seed \(seed))…")
                let summary = try await seeder.seed(persons: persons, seed: seed, replace: false) { done, total in
                    if done % 50_000 == 0 || done == total { say("  \(done)/\(total) persons") }
                }
                say("  \(summary.persons) persons, \(summary.establishments) establishments, \(summary.employments) employments, \(summary.workPermits) work permits")
            }
            // Each partner's purposes, as its agreements in the registry grant them (not a list kept here).
            let registry = try await RegistryStore(database: store, logger: logger).snapshot()
            let granted = registry.agreementsByPartner.mapValues { agreements in Array(Set(agreements.flatMap(\.purposes))).sorted() }
            return (try await seeder.samples(), granted)
        }
        var configuration = GatewayConfiguration(
            serverCertificatePath: layout.serverCertificate, serverKeyPath: layout.serverKey, partnerCAPaths: [layout.partnerCACertificate],
            subjectKeyPath: layout.subjectKey, database: database, contractsDirectory: contractsDirectory)
        configuration.exchangePort = exchangePort
        configuration.opsPort = opsPort
        configuration.adminPort = adminPort
        configuration.adminCAPaths = [layout.adminCACertificate]
        configuration.partnerCAKeyPath = layout.partnerCAKey
        configuration.partnerCRLURL = layout.crlURL
        if FileManager.default.fileExists(atPath: layout.partnerCRL) {
            configuration.crl = CRLPublication(host: "127.0.0.1", port: crlPort, file: layout.partnerCRL)
        }
        configuration.bodyKeyFolder = layout.bodyKeys
        var sealing = SealingConfiguration(signingKeyPath: layout.logSigningKey, signingCertificatePath: layout.logSigningCertificate)
        sealing.timestamping = TimestampingConfiguration(url: "http://127.0.0.1:\(tsaPort)/", trustedRootPaths: [tsaDirectory + "/tsa-root.crt"])
        configuration.sealing = sealing
        if FileManager.default.fileExists(atPath: layout.relayClientCertificate) {
            configuration.relay = RelayConfiguration(
                clientCertificatePath: layout.relayClientCertificate, clientKeyPath: layout.relayClientKey, trustedServerCAPaths: [layout.partnerCACertificate])
        }
        var manifest = DemoManifest(
            exchangeURL: "https://localhost:\(exchangePort)", opsURL: "http://127.0.0.1:\(opsPort)", adminURL: "https://localhost:\(adminPort)",
            caCertificate: layout.partnerCACertificate,
            partners: Self.partners.map { partner in
                DemoManifest.PartnerCredentials(
                    id: partner.id, certificate: "\(pki)/clients/\(partner.id).crt", key: "\(pki)/clients/\(partner.id).key",
                    fingerprint: credentials[partner.id] ?? "", purposes: granted[partner.id] ?? [])
            },
            administrator: .init(
                id: "admin", certificate: "\(layout.administrators)/admin.crt", key: "\(layout.administrators)/admin.key", fingerprint: credentials["admin"] ?? "",
                purposes: []),
            samples: samples, database: database.description)
        manifest.mockPartners = Self.receivers.map { receiver in
            DemoManifest.MockPartnerEntry(
                id: receiver.id, endpoint: "https://localhost:\(receiver.port)/inbox", format: receiver.mapping == nil ? "work-permit-event/1 JSON" : "legacy XML (mapping)",
                recordDirectory: recordDirectory(receiver.id), controlURL: "http://127.0.0.1:\(Self.controlPort(receiver.port))")
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try PEMFiles.write(String(decoding: try encoder.encode(manifest), as: UTF8.self) + "\n", to: directory + "/demo.json", secret: false)
        return (configuration, manifest)
    }

    /// The development TSA's folder and port: the demo starts it and timestamps every seal with it.
    public var tsaDirectory: String { directory + "/tsa" }
    public var tsaPort: Int { 9318 }

    /// What runs beside the gateway: the development TSA and one mock partner per receiving ministry. Their keys
    /// are made here, before the gateway is built to trust them.
    public func companions(logger: Logger) throws -> [any Service] {
        let tsa = try DevelopmentTSA(directory: tsaDirectory, port: tsaPort, logger: logger)
        return [tsa] + (try mockPartners().map { MockPartner(configuration: $0, logger: logger) as any Service })
    }

    /// The mock partners to run beside the gateway, each with a server certificate from the partner CA.
    public func mockPartners() throws -> [MockPartnerConfiguration] {
        let layout = PKIDirectory(path: pki)
        return try Self.receivers.map { receiver in
            let name = "mock-" + receiver.id
            if !FileManager.default.fileExists(atPath: "\(pki)/mock-partners/\(name).crt") {
                let authority = try layout.partnerCA()
                try PEMFiles.write(
                    try authority.issueServer(dnsNames: ["localhost"], ipAddresses: [[127, 0, 0, 1]]), chain: [authority.credential.certificate],
                    directory: pki + "/mock-partners", name: name)
            }
            var configuration = MockPartnerConfiguration(
                partnerID: receiver.id, certificatePath: "\(pki)/mock-partners/\(name).crt", keyPath: "\(pki)/mock-partners/\(name).key",
                clientCAPaths: [layout.partnerCACertificate])
            configuration.port = receiver.port
            configuration.recordDirectory = recordDirectory(receiver.id)
            configuration.controlPort = Self.controlPort(receiver.port)
            return configuration
        }
    }

    /// Where a mock partner writes what it receives.
    func recordDirectory(_ partner: String) -> String { "\(directory)/mock-partners/\(partner)" }

    /// A mock partner's control API listens ten ports above its endpoint.
    static func controlPort(_ port: Int) -> Int { port + 10 }

    /// The PKI (`jisr pki init` layout) and one client certificate per demo partner; returns fingerprints.
    private func preparePKI(say: (String) -> Void) throws -> [String: String] {
        let directory = PKIDirectory(path: pki)
        if !directory.exists {
            say("Creating a development PKI in \(pki) (partner CA, admin CA, server certificate for localhost)")
            try directory.initialize(dnsNames: ["localhost"], ipAddresses: [[127, 0, 0, 1]], crlURL: "http://127.0.0.1:\(crlPort)/\(CRLRoutes.path)")
        }
        // Every demo partner has its client certificate, those added since the PKI was made too.
        for partner in Self.partners where !FileManager.default.fileExists(atPath: "\(pki)/clients/\(partner.id).crt") {
            let client = try directory.partnerCA().issueClient(partnerID: partner.id, organization: partner.nameEn, country: partner.country)
            try PEMFiles.write(client, directory: pki + "/clients", name: partner.id)
        }
        try directory.ensureLogSigner()
        var fingerprints: [String: String] = [:]
        for name in Self.partners.map(\.id) {
            fingerprints[name] = try PKICertificate(pemEncoded: try directory.read("\(pki)/clients/\(name).crt")).fingerprint
        }
        fingerprints["admin"] = try PKICertificate(pemEncoded: try directory.read("\(directory.administrators)/admin.crt")).fingerprint
        return fingerprints
    }

    private func register(
        credentials: [String: String], catalog: ContractCatalog, mappings: URL, database: Database, logger: Logger, say: @Sendable (String) -> Void
    ) async throws {
        let snapshot = try await RegistryStore(database: database, logger: logger).snapshot()
        let pki = self.pki
        try await Administration.withLocal(database: database, catalog: catalog, logger: logger) { admin in
            let demo = Administrator(fingerprint: nil, name: "jisr demo")
            for purpose in Self.purposes where snapshot.purposes[purpose.code] == nil { try await admin.addPurpose(purpose, by: demo) }
            let now = Date()
            for var partner in Self.partners where snapshot.partners[partner.id] == nil {
                var mapping: MappingSource?
                if let receiver = Self.receivers.first(where: { $0.id == partner.id }) {
                    partner.endpoint = "https://localhost:\(receiver.port)/inbox"
                    if let folder = receiver.mapping {
                        mapping = try MappingSource.load(path: mappings.appendingPathComponent("\(folder)/mapping.json").path)
                        partner.adapter = MappingAdapter.kind
                    }
                }
                try await admin.addPartner(partner, mapping: mapping, by: demo)
                say("Registered partner \(partner.id)" + (mapping == nil ? "" : " with the mapping in mappings/\(Self.receivers.first { $0.id == partner.id }?.mapping ?? "")"))
            }
            for partner in Self.partners {
                guard let fingerprint = credentials[partner.id], snapshot.certificates[fingerprint] == nil else { continue }
                let certificate = try PKICertificate(pemEncoded: try String(contentsOfFile: "\(pki)/clients/\(partner.id).crt", encoding: .utf8))
                try await admin.registerCertificate(
                    PartnerCertificate(
                        fingerprint: fingerprint, partnerID: partner.id, subject: certificate.subject, notBefore: certificate.notBefore, notAfter: certificate.notAfter),
                    by: demo)
            }
            // The demo's administrator, so that the admin API answers its certificate.
            let adminPEM = try String(contentsOfFile: "\(pki)/admins/admin.crt", encoding: .utf8)
            if try await admin.administrator(fingerprint: try PKICertificate(pemEncoded: adminPEM).fingerprint) == nil {
                let registered = try await admin.registerAdministrator(
                    pem: adminPEM, name: "demo administrator", adminCAPEMs: [try String(contentsOfFile: "\(pki)/admin-ca.crt", encoding: .utf8)], by: demo)
                say("Registered administrator \(registered.name) (pki/admins/admin.crt)")
            }
            if snapshot.agreements(for: "LB-NSSF").isEmpty {
                for id in [EmploymentRecord.contract, Establishment.contract] {
                    guard let contract = catalog[id] else { continue }
                    // Every field except salary: the NSSF verifies contributions from its own declarations.
                    let fields = contract.leafFields.filter { !$0.hasPrefix("employments.monthlySalary") }
                    try await admin.grant(
                        Agreement(
                            partnerID: "LB-NSSF", contract: id, operations: [.query], purposes: ["nssf-contribution-verification"], fields: fields,
                            validFrom: now.addingTimeInterval(-86_400), validUntil: now.addingTimeInterval(2 * 365 * 86_400), mouReference: "MoL-NSSF/2026/001"),
                        by: demo)
                }
                say("Granted LB-NSSF employment-record/1 and establishment/1 (query, nssf-contribution-verification, all fields but salary)")
            }
            if snapshot.agreements(for: "LB-PORTAL").isEmpty, let contract = catalog[AccessReport.contract] {
                try await admin.grant(
                    Agreement(
                        partnerID: "LB-PORTAL", contract: contract.id, operations: [.query], purposes: ["data-subject-access"], fields: contract.leafFields,
                        validFrom: now.addingTimeInterval(-86_400), validUntil: now.addingTimeInterval(2 * 365 * 86_400), mouReference: "MoL internal: e-services"),
                    by: demo)
                say("Granted LB-PORTAL access-report/1 (query, data-subject-access): the citizen portal asks for a person's report")
            }
            for receiver in Self.receivers where snapshot.agreements(for: receiver.id).isEmpty {
                let country = String(receiver.id.prefix(2))
                // Events and queries about the partner's own nationals; its notices about Lebanese workers abroad.
                let grants: [(ContractID, Agreement.Operation, Set<String>?)] = [
                    (WorkPermitEvent.contract, .receive, [country]), (WorkPermit.contract, .query, [country]), (WorkPermitEvent.contract, .send, nil),
                ]
                for (id, operation, scope) in grants {
                    guard let contract = catalog[id] else { continue }
                    try await admin.grant(
                        Agreement(
                            partnerID: receiver.id, contract: id, operations: [operation], purposes: ["mou-work-permit-notification"], fields: contract.leafFields,
                            validFrom: now.addingTimeInterval(-86_400), validUntil: now.addingTimeInterval(2 * 365 * 86_400), mouReference: "MoU LB-\(country)/2026",
                            scopeNationalities: scope),
                        by: demo)
                }
                say("Granted \(receiver.id) work-permit events (receive, send) and work-permit queries for \(country) nationals only")
            }
        }
    }
}
