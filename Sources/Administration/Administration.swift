import Adapters
import Foundation
import Logging
import MessageLog
import PKI
import Storage
import Registry
import Relay
import Schemas

/// Every administrative operation, validated and audited; the CLI and the admin API both call these.
///
/// Each change runs in the same transaction as its message-log entry (direction `admin`, the acting
/// administrator's fingerprint, what changed before and after), so the registry never holds a change the
/// log does not show. The running gateways see the change at their next registry poll.
public struct Administration: Sendable {
    let database: Database
    let log: LogWriter
    let catalog: ContractCatalog
    let logger: Logger

    public init(database: Database, log: LogWriter, catalog: ContractCatalog, logger: Logger) {
        self.database = database
        self.log = log
        self.catalog = catalog
        self.logger = logger
    }

    // MARK: Partners

    /// Registers a partner (status `pending` until it has a certificate and is resumed, unless given); a partner
    /// registered with the `mapping` adapter brings its mapping, checked before anything is written.
    @discardableResult
    public func addPartner(_ partner: Partner, mapping: MappingSource? = nil, by administrator: Administrator) async throws -> Partner {
        try PartnerValidation.check(partner)
        let digest = try checkAdapter(partner.adapter, mapping: mapping)
        let request = AdapterChange(partner: partner, mappingDigest: digest)
        try await audited("partner.add", partner: partner.id, by: administrator, request: request) { connection, logger in
            if try await RegistryWrites.partner(partner.id, on: connection) != nil {
                throw AdministrationError("duplicate-partner", "a partner with id \(partner.id) already exists")
            }
            try await RegistryWrites.insert(partner, on: connection)
            if let mapping, let digest { try await RegistryWrites.attach(mapping, digest: digest, partner: partner.id, on: connection) }
            return (before: Optional<AdapterChange>.none, after: request)
        }
        return partner
    }

    /// Changes the adapter that speaks the partner's format, attaching a new mapping when it is `mapping`.
    /// In force at the next registry poll, for queries, inbound sends and messages queued from then on.
    @discardableResult
    public func setAdapter(partner id: String, adapter: String, mapping: MappingSource?, by administrator: Administrator) async throws -> Partner {
        let digest = try checkAdapter(adapter, mapping: mapping)
        return try await audited("partner.set-adapter", partner: id, by: administrator, request: ["partner": id, "adapter": adapter, "mappingDigest": digest]) {
            connection, logger in
            guard let before = try await RegistryWrites.partner(id, on: connection) else { throw AdministrationError.notFound("partner \(id)") }
            guard before.status != .retired else { throw AdministrationError("partner-retired", "partner \(id) is retired") }
            try await RegistryWrites.setAdapter(adapter, partner: id, on: connection)
            if let mapping, let digest { try await RegistryWrites.attach(mapping, digest: digest, partner: id, on: connection) }
            var after = before
            after.adapter = adapter
            return (before: AdapterChange(partner: before, mappingDigest: nil), after: AdapterChange(partner: after, mappingDigest: digest))
        }.after.partner
    }

    /// Sets (or, with nil, removes) the https endpoint the relay delivers the partner's messages to; messages
    /// queued before the change keep the endpoint they were queued with.
    @discardableResult
    public func setEndpoint(partner id: String, endpoint: String?, by administrator: Administrator) async throws -> Partner {
        if let endpoint {
            guard let url = URL(string: endpoint), url.scheme == "https", url.host != nil else {
                throw AdministrationError("invalid-endpoint", "the relay endpoint must be an https:// URL")
            }
        }
        return try await audited("partner.set-endpoint", partner: id, by: administrator, request: ["partner": id, "endpoint": endpoint ?? ""]) {
            connection, logger in
            guard let before = try await RegistryWrites.partner(id, on: connection) else { throw AdministrationError.notFound("partner \(id)") }
            guard before.status != .retired else { throw AdministrationError("partner-retired", "partner \(id) is retired") }
            guard before.endpoint != endpoint else { throw AdministrationError("no-change", "partner \(id) already has this endpoint") }
            try await RegistryWrites.setEndpoint(endpoint, partner: id, on: connection)
            var after = before
            after.endpoint = endpoint
            return (before: before, after: after)
        }.after
    }

    /// The adapter must exist in this build; a mapping must compile against the published contracts.
    /// Returns the mapping's digest, which the audit entry records.
    private func checkAdapter(_ name: String, mapping: MappingSource?) throws -> String? {
        let registry = AdapterRegistry(catalog: catalog)
        guard name == MappingAdapter.kind else {
            guard registry[name] != nil else {
                throw AdministrationError("unknown-adapter", "there is no adapter \(name) (adapters: \(registry.names.joined(separator: ", ")))")
            }
            guard mapping == nil else { throw AdministrationError("invalid-mapping", "only the mapping adapter takes a mapping file") }
            return nil
        }
        guard let mapping else { throw AdministrationError("invalid-mapping", "the mapping adapter needs a mapping file") }
        do { _ = try Mapping.compile(mapping, catalog: catalog) } catch {
            throw AdministrationError("invalid-mapping", "the mapping is refused at line \(error.line): \(error.reason)", line: error.line)
        }
        let files = mapping.files.keys.sorted().map { $0 + "\u{0}" + (mapping.files[$0] ?? "") }.joined(separator: "\u{0}")
        return sha256Hex(Array((mapping.text + "\u{0}" + files).utf8))
    }

    public func suspend(partner id: String, by administrator: Administrator) async throws -> Partner {
        try await transition(id, to: .suspended, action: "partner.suspend", by: administrator)
    }

    public func resume(partner id: String, by administrator: Administrator) async throws -> Partner {
        try await transition(id, to: .active, action: "partner.resume", by: administrator)
    }

    public func retire(partner id: String, by administrator: Administrator) async throws -> Partner {
        try await transition(id, to: .retired, action: "partner.retire", by: administrator)
    }

    private func transition(_ id: String, to status: PartnerStatus, action: String, by administrator: Administrator) async throws -> Partner {
        try await audited(action, partner: id, by: administrator, request: ["partner": id, "status": status.rawValue]) { connection, logger in
            guard let before = try await RegistryWrites.partner(id, on: connection) else { throw AdministrationError.notFound("partner \(id)") }
            guard before.status != .retired else { throw AdministrationError("partner-retired", "partner \(id) is retired; a retired partner cannot change status") }
            guard before.status != status else { throw AdministrationError("no-change", "partner \(id) is already \(status.rawValue)") }
            try await RegistryWrites.setStatus(status, partner: id, on: connection)
            var after = before
            after.status = status
            return (before: before, after: after)
        }.after
    }

    /// A partner with its certificates and agreements.
    public func partner(_ id: String) async throws -> PartnerDetails {
        try await database.withConnection { connection in
            guard let partner = try await RegistryWrites.partner(id, on: connection) else { throw AdministrationError.notFound("partner \(id)") }
            return PartnerDetails(
                partner: partner, certificates: try await RegistryWrites.certificates(partner: id, on: connection),
                agreements: try await RegistryWrites.agreements(partner: id, includeRevoked: true, on: connection),
                mapping: partner.adapter == MappingAdapter.kind ? try await RegistryWrites.mappingSummary(partner: id, on: connection) : nil)
        }
    }

    public func partners() async throws -> [PartnerDetails] {
        let snapshot = try await RegistryStore(database: database, logger: logger).snapshot()
        var details: [PartnerDetails] = []
        for id in snapshot.partners.keys.sorted() { details.append(try await partner(id)) }
        return details
    }

    // MARK: Purposes

    public func addPurpose(_ purpose: Purpose, by administrator: Administrator) async throws {
        guard purpose.code.wholeMatch(of: /[a-z][a-z0-9-]{2,63}/) != nil else {
            throw AdministrationError("invalid-purpose", "a purpose code is 3–64 lower-case letters, digits and hyphens, starting with a letter")
        }
        for (name, value) in [("Arabic description", purpose.descriptionAr), ("English description", purpose.descriptionEn), ("legal basis", purpose.legalBasis)]
        where value.trimmingCharacters(in: .whitespaces).isEmpty {
            throw AdministrationError("invalid-purpose", "the purpose needs a \(name)")
        }
        try await audited("purpose.add", partner: nil, by: administrator, request: purpose) { connection, logger in
            if try await RegistryWrites.purposes(on: connection).contains(where: { $0.code == purpose.code }) {
                throw AdministrationError("duplicate-purpose", "purpose \(purpose.code) already exists")
            }
            try await RegistryWrites.insert(purpose, on: connection)
            if let delay = purpose.disclosureDelay {
                try Self.check(delay)
                try await RegistryWrites.setDisclosureDelay(delay, purpose: purpose.code, on: connection)
            }
            return (before: Optional<Purpose>.none, after: purpose)
        }
    }

    /// Sets (or with nil, lifts) how long exchanges under a purpose stay out of access reports; audited.
    public func setDisclosureDelay(_ delay: DisclosureDelay?, purpose code: String, by administrator: Administrator) async throws -> Purpose {
        if let delay { try Self.check(delay) }
        return try await audited("purpose.set-disclosure-delay", partner: nil, by: administrator, request: ["purpose": code]) { connection, _ in
            guard let before = try await RegistryWrites.purposes(on: connection).first(where: { $0.code == code }) else {
                throw AdministrationError.notFound("purpose \(code)")
            }
            guard before.disclosureDelay != delay else { throw AdministrationError("no-change", "purpose \(code) already has this delay") }
            try await RegistryWrites.setDisclosureDelay(delay, purpose: code, on: connection)
            var after = before
            after.disclosureDelay = delay
            return (before: before, after: after)
        }.after
    }

    static func check(_ delay: DisclosureDelay) throws {
        guard delay.seconds >= 1, delay.seconds <= 10 * 366 * 86_400 else {
            throw AdministrationError("invalid-delay", "a disclosure delay is from one second to ten years")
        }
        guard !delay.legalBasis.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw AdministrationError("invalid-delay", "a disclosure delay needs its legal basis")
        }
    }

    public func purposes() async throws -> [Purpose] {
        try await database.withConnection { try await RegistryWrites.purposes(on: $0) }
    }

    // MARK: Agreements

    /// Grants an agreement after checking the contract, its fields, the purposes and the window.
    @discardableResult
    public func grant(_ request: Agreement, by administrator: Administrator) async throws -> Agreement {
        guard let contract = catalog[request.contract] else {
            throw AdministrationError("unknown-contract", "contract \(request.contract) is not published (known: \(catalog.ids.map(\.description).joined(separator: ", ")))")
        }
        let unknown = request.fields.filter { !contract.fields.contains($0) }
        guard unknown.isEmpty else {
            let hints = unknown.compactMap { field in NearestName.among(contract.fields, to: field).map { "\(field): did you mean \($0)?" } }
            throw AdministrationError(
                "unknown-field", "\(contract.id) has no field \(unknown.joined(separator: ", "))" + (hints.isEmpty ? "" : " (\(hints.joined(separator: "; ")))"))
        }
        guard !request.fields.isEmpty else { throw AdministrationError("no-fields", "an agreement must grant at least one field") }
        // What is granted is exactly what leaves: a grant whose documents would need fields it does not list is
        // refused with the list, never completed behind the administrator's back.
        let missing = contract.missingCompanions(of: request.fields)
        guard missing.isEmpty else {
            throw AdministrationError(
                "incomplete-grant",
                "\(contract.id) documents with these fields also require \(missing.joined(separator: ", ")): grant them too, or grant fewer fields")
        }
        guard !request.operations.isEmpty else { throw AdministrationError("no-operations", "an agreement must grant at least one operation") }
        guard !request.purposes.isEmpty else { throw AdministrationError("no-purposes", "an agreement must list at least one purpose") }
        // What the relay delivers is logged under one purpose, which decides when the people concerned see it.
        guard !request.operations.contains(.receive) || request.purposes.count == 1 else {
            throw AdministrationError(
                "ambiguous-delivery-purpose",
                "an agreement that grants receive names exactly one purpose, the one its deliveries are made under: grant the other purposes in an agreement of their own")
        }
        guard request.validUntil > request.validFrom else {
            throw AdministrationError("invalid-validity", "the validity window is empty or inverted: valid-until must be after valid-from")
        }
        guard !request.mouReference.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw AdministrationError("no-mou-reference", "an agreement needs the MoU reference it implements")
        }
        if let limit = request.rateLimitPerMinute, limit < 1 { throw AdministrationError("invalid-rate-limit", "a rate limit is at least 1 request a minute") }
        if let scope = request.scopeNationalities {
            let unknown = scope.filter { !ISO3166.alpha2.contains($0) }.sorted()
            guard unknown.isEmpty else { throw AdministrationError("invalid-scope", "\(unknown.joined(separator: ", ")) is not an ISO 3166-1 alpha-2 country code") }
            guard !scope.isEmpty else { throw AdministrationError("invalid-scope", "a scope lists at least one nationality") }
            // A scope is applied wherever a record about a person leaves; where it cannot be, it is refused, never
            // accepted and ignored.
            guard contract.subjectNationalityField != nil else {
                throw AdministrationError("scope-not-applicable", "\(contract.id) documents are not about one person: a nationality scope cannot apply to them")
            }
            guard !request.operations.contains(.send) else {
                throw AdministrationError("scope-not-applicable", "a nationality scope limits what Jisr sends; it cannot apply to send, which brings data in")
            }
        }
        var normalized = request
        normalized.fields = contract.fields.filter(request.fields.contains)
        let proposal = normalized
        return try await audited("agreement.grant", partner: request.partnerID, by: administrator, request: request) { connection, logger in
            guard try await RegistryWrites.partner(request.partnerID, on: connection) != nil else {
                throw AdministrationError.notFound("partner \(request.partnerID)")
            }
            let known = Set(try await RegistryWrites.purposes(on: connection).map(\.code))
            let unknownPurposes = request.purposes.subtracting(known).sorted()
            guard unknownPurposes.isEmpty else {
                let hints = unknownPurposes.compactMap { code in NearestName.among(known, to: code).map { "\(code): did you mean \($0)?" } }
                throw AdministrationError(
                    "unknown-purpose",
                    "purpose \(unknownPurposes.joined(separator: ", ")) is not in the purpose registry" + (hints.isEmpty ? "" : " (\(hints.joined(separator: "; ")))"))
            }
            var granted = proposal
            granted.id = try await RegistryWrites.insert(granted, on: connection)
            return (before: Optional<Agreement>.none, after: granted)
        }.after
    }

    public func revokeAgreement(_ id: Int64, by administrator: Administrator) async throws -> Agreement {
        try await audited("agreement.revoke", partner: nil, by: administrator, request: ["agreement": id]) { connection, logger in
            guard let before = try await RegistryWrites.agreement(id, on: connection) else { throw AdministrationError.notFound("agreement \(id)") }
            guard before.status == "active" else { throw AdministrationError("no-change", "agreement \(id) is already revoked") }
            try await RegistryWrites.revokeAgreement(id, on: connection)
            var after = before
            after.status = "revoked"
            return (before: before, after: after)
        }.after
    }

    public func agreements(partner: String?, includeRevoked: Bool = false) async throws -> [Agreement] {
        try await database.withConnection { try await RegistryWrites.agreements(partner: partner, includeRevoked: includeRevoked, on: $0) }
    }

    // MARK: Certificates

    /// Registers a certificate the caller has already verified (chain, usage, key strength) to a partner.
    public func registerCertificate(_ certificate: PartnerCertificate, by administrator: Administrator) async throws {
        try await audited("certificate.register", partner: certificate.partnerID, by: administrator, request: certificate) { connection, logger in
            guard try await RegistryWrites.partner(certificate.partnerID, on: connection) != nil else {
                throw AdministrationError.notFound("partner \(certificate.partnerID)")
            }
            if let existing = try await RegistryWrites.certificate(certificate.fingerprint, on: connection) {
                throw AdministrationError("duplicate-certificate", "this certificate is already registered to \(existing.partnerID)")
            }
            if let issuer = certificate.issuer, let serial = certificate.serial,
                try await RegistryWrites.serialExists(issuer: issuer, serial: serial, on: connection)
            {
                throw AdministrationError("reused-serial", "the issuer already gave serial \(serial) to another registered certificate")
            }
            try await RegistryWrites.insert(certificate, on: connection)
            return (before: Optional<PartnerCertificate>.none, after: certificate)
        }
    }

    public func revokeCertificate(fingerprint: String, reason: String, by administrator: Administrator) async throws -> PartnerCertificate {
        let fingerprint = fingerprint.lowercased().replacingOccurrences(of: ":", with: "")
        guard !reason.trimmingCharacters(in: .whitespaces).isEmpty else { throw AdministrationError("no-reason", "say why the certificate is revoked (--reason)") }
        let owner = try await database.withConnection { try await RegistryWrites.certificate(fingerprint, on: $0)?.partnerID }
        return try await audited("certificate.revoke", partner: owner, by: administrator, request: ["fingerprint": fingerprint, "reason": reason]) { connection, logger in
            guard let before = try await RegistryWrites.certificate(fingerprint, on: connection) else {
                throw AdministrationError.notFound("certificate \(fingerprint)")
            }
            guard before.status == .active else { throw AdministrationError("no-change", "certificate \(fingerprint) is already revoked") }
            try await RegistryWrites.revokeCertificate(fingerprint, reason: reason, on: connection)
            var after = before
            after.status = .revoked
            return (before: before, after: after)
        }.after
    }

    /// The CRL of `authority`: every certificate it issued that the registry holds revoked, signed now.
    public func revocationList(of authority: CertificateAuthority) async throws -> RevocationList {
        let issuer = authority.name
        let now = Date()
        let rows = try await database.withConnection { try await RegistryWrites.revokedSerials(issuer: issuer, undated: now, on: $0) }
        return try authority.revocationList(revoked: rows.compactMap { RevokedSerial(registrySerial: $0.serial, revokedAt: $0.revokedAt) }, now: now)
    }

    // MARK: Audit

    /// Runs `change` in the transaction of its log entry; the entry records the action, actor, before and after.
    @discardableResult
    func audited<Request: Encodable & Sendable, Value: Codable & Sendable>(
        _ action: String, partner: String?, by administrator: Administrator, request: Request, correlationId: UUID? = nil, contract: String? = nil,
        subjects: [String] = [], disclosableAt: Int64? = nil,
        _ change: @escaping @Sendable (DatabaseConnection, Logger) async throws -> (before: Value?, after: Value)
    ) async throws -> (before: Value?, after: Value) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        let requestBytes = try encoder.encode(request)
        let result = ResultBox<(before: Value?, after: Value)>()
        let draft = EntryDraft(
            messageId: UUID(), correlationId: correlationId, partner: partner, certificateFingerprint: administrator.fingerprint, direction: .admin,
            contract: contract, operation: action, purpose: nil, caseReference: nil, subjectReference: nil, status: 200, problemType: nil,
            requestDigest: sha256Hex(requestBytes), responseDigest: nil, subjects: subjects, disclosableAt: disclosableAt)
        _ = try await log.append(draft) { connection, logger in
            let outcome = try await change(connection, logger)
            result.value = outcome
            let detail = AuditDetail(action: action, actor: administrator.name, before: outcome.before, after: outcome.after)
            return String(decoding: try encoder.encode(detail), as: UTF8.self)
        }
        guard let value = result.value else { throw AdministrationError("internal", "the change did not report its result") }
        return value
    }
}

/// A partner's adapter as the audit entry records it: the mapping by its digest (its text stays in the registry).
struct AdapterChange: Codable, Sendable {
    let partner: Partner
    let mappingDigest: String?
}

/// The partner as `jisr partner show` prints it.
public struct PartnerDetails: Sendable, Codable {
    public let partner: Partner
    public let certificates: [PartnerCertificate]
    public let agreements: [Agreement]
    /// The attached mapping, for a `mapping` partner.
    public var mapping: MappingSummary? = nil
}

/// What an administrative log entry's detail records.
struct AuditDetail<Value: Encodable>: Encodable {
    let action: String
    let actor: String
    let before: Value?
    let after: Value
}

/// Carries the change's result out of the log writer's transaction closure.
final class ResultBox<Value: Sendable>: @unchecked Sendable {
    // Written once inside the transaction, read after `append` returns: the append's await orders the two.
    var value: Value?
}

/// Partner ids and fields, checked before anything is written.
enum PartnerValidation {
    static func check(_ partner: Partner) throws {
        guard Partner.isValidID(partner.id) else {
            throw AdministrationError("invalid-partner-id", "partner id \(partner.id) must be CC-ABBREV: a country code, a hyphen, 2–12 capitals or digits (e.g. JO-MOL)")
        }
        let country = String(partner.id.prefix(2))
        guard ISO3166.alpha2.contains(country) else {
            throw AdministrationError("invalid-country", "\(country) is not an ISO 3166-1 alpha-2 country code")
        }
        guard partner.country == country else {
            throw AdministrationError("invalid-country", "the partner's country \(partner.country) does not match its id \(partner.id)")
        }
        guard !partner.nameAr.trimmingCharacters(in: .whitespaces).isEmpty, !partner.nameEn.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw AdministrationError("invalid-name", "a partner needs its name in Arabic and in English")
        }
        if let endpoint = partner.endpoint {
            guard let url = URL(string: endpoint), url.scheme == "https", url.host != nil else {
                throw AdministrationError("invalid-endpoint", "the relay endpoint must be an https:// URL")
            }
        }
    }
}

extension Administration {
    /// Runs `body` with an `Administration` whose log writer lives exactly as long (one-shot CLI commands).
    public static func withLocal<Result: Sendable>(
        database: Database, catalog: ContractCatalog, logger: Logger, _ body: @Sendable (Administration) async throws -> Result
    ) async throws -> Result {
        try await LogWriter.withLocal(database: database, logger: logger) { writer in
            try await body(Administration(database: database, log: writer, catalog: catalog, logger: logger))
        }
    }
}

extension Administration {
    /// `all`, `all-except:F1,F2` or a comma-separated list of fields, against a contract's leaf fields.
    public func expandFields(_ text: String, of contract: ContractID) throws -> [String] {
        guard let found = catalog[contract] else {
            throw AdministrationError("unknown-contract", "contract \(contract) is not published (known: \(catalog.ids.map(\.description).joined(separator: ", ")))")
        }
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed == "all" { return found.leafFields }
        if trimmed.hasPrefix("all-except:") {
            let excluded = trimmed.dropFirst("all-except:".count).split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            let unknown = excluded.filter { !found.fields.contains($0) }
            guard unknown.isEmpty else { throw AdministrationError("unknown-field", "\(contract) has no field \(unknown.joined(separator: ", "))") }
            return found.leafFields.filter { field in !excluded.contains { field == $0 || field.hasPrefix($0 + ".") } }
        }
        return trimmed.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }
}

// MARK: PKI

extension Administration {
    /// Adds a partner's own CA to the trusted set; the exchange listener accepts its certificates at once.
    public func trust(caPEM: String, by administrator: Administrator) async throws -> TrustedCA {
        let authority = try PKICertificate(pemEncoded: caPEM)
        guard authority.isCertificateAuthority else {
            throw AdministrationError("not-a-ca", "the certificate is not a CA certificate (basicConstraints CA:TRUE is missing)")
        }
        guard authority.notAfter > Date() else { throw AdministrationError("expired", "the CA certificate expired on \(authority.notAfter)") }
        let trusted = TrustedCA(fingerprint: authority.fingerprint, subject: authority.subject, pem: authority.pem, notAfter: authority.notAfter)
        return try await audited("pki.trust-add", partner: nil, by: administrator, request: ["fingerprint": trusted.fingerprint]) { connection, logger in
            if try await RegistryWrites.trustedCAs(on: connection).contains(where: { $0.fingerprint == trusted.fingerprint }) {
                throw AdministrationError("duplicate-ca", "this CA is already trusted")
            }
            try await RegistryWrites.insert(trusted, on: connection)
            return (before: Optional<TrustedCA>.none, after: trusted)
        }.after
    }

    /// Registers a certificate the partner's own CA issued, once that CA is trusted (or the partner CA issued it).
    public func addCertificate(partner id: String, pem: String, partnerCAPEMs: [String], by administrator: Administrator) async throws -> PartnerCertificate {
        let trusted = try await database.withConnection { try await RegistryWrites.trustedCAs(on: $0) }
        let inspected: InspectedCertificate
        do {
            inspected = try await CertificateInspection.inspect(pem: pem, trustedRoots: partnerCAPEMs + trusted.map(\.pem))
        } catch let error as PKIError {
            throw AdministrationError(error.code, error.message)
        }
        let certificate = inspected.certificate
        let record = PartnerCertificate(
            fingerprint: certificate.fingerprint, partnerID: id, subject: certificate.subject, notBefore: certificate.notBefore,
            notAfter: certificate.notAfter, issuer: certificate.issuer, serial: certificate.serial)
        try await registerCertificate(record, by: administrator)
        return record
    }

    /// Issues and registers a partner's client certificate from its CSR; returns the certificate and CA as PEM.
    public func signCSR(partner id: String, csrPEM: String, days: Int, authority: CertificateAuthority, by administrator: Administrator) async throws -> String {
        let details = try await partner(id)
        guard details.partner.status != .retired else { throw AdministrationError("partner-retired", "partner \(id) is retired") }
        let issued: PKICertificate
        do {
            issued = try authority.sign(csrPEM: csrPEM, partnerID: id, organization: details.partner.nameEn, country: details.partner.country, days: days)
        } catch let error as PKIError {
            throw AdministrationError(error.code, error.message)
        }
        try await registerCertificate(
            PartnerCertificate(
                fingerprint: issued.fingerprint, partnerID: id, subject: issued.subject, notBefore: issued.notBefore, notAfter: issued.notAfter,
                issuer: issued.issuer, serial: issued.serial),
            by: administrator)
        return issued.pem + (try authority.credential.certificatePEM)
    }
}

// MARK: Relay

extension Administration {
    public func relayStatus() async throws -> [RelayStatus] {
        try await database.withConnection { try await OutboxAdministration.status(on: $0) }
    }

    public func deadLetters(partner: String?, limit: Int = 100) async throws -> [OutboxMessage] {
        try await database.withConnection { try await OutboxAdministration.messages(state: "dead", partner: partner, limit: limit, on: $0) }
    }

    /// Queues dead letters again: one by id, or every one of a partner; audited like any change.
    public func redrive(messageId: UUID?, partner: String?, by administrator: Administrator) async throws -> [UUID] {
        guard (messageId == nil) != (partner == nil) else { throw AdministrationError("invalid-request", "give a message id or a partner, not both") }
        return try await audited("relay.redrive", partner: partner, by: administrator, request: RedriveRequest(messageId: messageId, partner: partner)) {
            connection, logger in
            let ids = try await OutboxAdministration.redrive(messageId: messageId, partner: partner, on: connection)
            guard !ids.isEmpty else { throw AdministrationError.notFound(messageId.map { "dead letter \($0)" } ?? "a dead letter of \(partner ?? "")") }
            return (before: Optional<[UUID]>.none, after: ids)
        }.after
    }
}

/// What a re-drive asked for, as the audit entry records it.
struct RedriveRequest: Codable, Sendable {
    let messageId: UUID?
    let partner: String?
}

// MARK: Inbox

extension Administration {
    public func inbox(partner: String?, unacknowledgedOnly: Bool, limit: Int = 100) async throws -> [InboxRow] {
        try await InboxStore.list(partner: partner, unacknowledgedOnly: unacknowledgedOnly, limit: limit, database: database)
    }

    /// One received document, opened from its sealed form.
    /// A received document, opened; the reading is an exchange about the person the document concerns, logged
    /// under their subjects (those of the send's own entry) before the document is returned.
    public func inboxMessage(_ id: UUID, sealer: BodySealer, by administrator: Administrator) async throws -> (InboxRow, [UInt8]) {
        guard let (row, sealed) = try await InboxStore.sealedBody(id, database: database) else { throw AdministrationError.notFound("message \(id)") }
        let body = try sealer.open(sealed, messageId: id)
        let sent = try await LogReader(database: database, logger: logger).entry(messageId: id)
        // Reading a withheld notice must not reveal it: the reading is disclosed when the notice is.
        var moment: Int64?
        if let sent { moment = try await disclosureMoment(of: sent) }
        try await audited(
            "inbox.read", partner: row.partnerID, by: administrator, request: ["messageId": id.uuidString.lowercased()], correlationId: id,
            contract: row.contract, subjects: sent?.draft.subjects ?? [], disclosableAt: moment
        ) { _, _ in (before: Optional<InboxRow>.none, after: row) }
        return (row, body)
    }

    /// Marks a received document as handled by the ministry; audited.
    public func acknowledge(_ id: UUID, by administrator: Administrator) async throws {
        try await audited("inbox.ack", partner: nil, by: administrator, request: ["message": id.uuidString.lowercased()]) { connection, logger in
            guard try await InboxStore.acknowledge(id, on: connection) else {
                throw AdministrationError("not-found", "message \(id) is not in the inbox, or already acknowledged")
            }
            return (before: Optional<String>.none, after: "acknowledged")
        }
    }
}
