import Adapters
import Foundation
import Logging
import Storage
import Schemas

/// The registry's SQL, on a connection the caller holds, so that a change and its audit entry share a
/// transaction. Every value is a bound parameter.
public enum RegistryWrites {
    static let partnerColumns = "id, name_ar, name_en, country, status, adapter, endpoint, contact"
    static let certificateColumns = "fingerprint, partner_id, subject, not_before, not_after, status, issuer, serial"
    static let agreementColumns = """
        id, partner_id, contract, contract_version, operations, purposes, fields, valid_from, valid_until, mou_reference, rate_limit_per_minute, status,
        scope_nationalities
        """

    // MARK: Partners

    public static func insert(_ partner: Partner, on connection: DatabaseConnection) async throws {
        try await connection.query(
            """
            INSERT INTO partners (id, name_ar, name_en, country, status, adapter, endpoint, contact)
            VALUES (\(partner.id), \(partner.nameAr), \(partner.nameEn), \(partner.country), \(partner.status.rawValue), \(partner.adapter),
                    \(partner.endpoint), \(partner.contact))
            """)
    }

    /// The partner, locked for the rest of the transaction.
    public static func partner(_ id: String, on connection: DatabaseConnection) async throws -> Partner? {
        try await connection.query("SELECT \(unescaped: partnerColumns) FROM partners WHERE id = \(id) \(unescaped: connection.dialect.forUpdate)")
            .first.map(partner)
    }

    public static func setStatus(_ status: PartnerStatus, partner id: String, on connection: DatabaseConnection) async throws {
        try await connection.query("UPDATE partners SET status = \(status.rawValue) WHERE id = \(id)")
    }

    // MARK: Certificates

    public static func insert(_ certificate: PartnerCertificate, on connection: DatabaseConnection) async throws {
        try await connection.query(
            """
            INSERT INTO partner_certificates (fingerprint, partner_id, subject, not_before, not_after, status, issuer, serial)
            VALUES (\(certificate.fingerprint), \(certificate.partnerID), \(certificate.subject), \(certificate.notBefore), \(certificate.notAfter),
                    \(certificate.status.rawValue), \(certificate.issuer), \(certificate.serial))
            """)
    }

    public static func certificate(_ fingerprint: String, on connection: DatabaseConnection) async throws -> PartnerCertificate? {
        try await connection.query("SELECT \(unescaped: certificateColumns) FROM partner_certificates WHERE fingerprint = \(fingerprint) \(unescaped: connection.dialect.forUpdate)").first.map(certificate)
    }

    public static func certificates(partner id: String, on connection: DatabaseConnection) async throws -> [PartnerCertificate] {
        try await connection.query("SELECT \(unescaped: certificateColumns) FROM partner_certificates WHERE partner_id = \(id) ORDER BY not_after")
            .map(certificate)
    }

    public static func revokeCertificate(_ fingerprint: String, reason: String, on connection: DatabaseConnection) async throws {
        try await connection.query(
            "UPDATE partner_certificates SET status = 'revoked', revoked_reason = \(reason), revoked_at = \(Date()) WHERE fingerprint = \(fingerprint)")
    }

    /// Serials (as stored) and revocation dates of the revoked certificates `issuer` gave, for its CRL; a revocation
    /// older than the column is dated `undated`.
    public static func revokedSerials(issuer: String, undated: Date, on connection: DatabaseConnection) async throws -> [(serial: String, revokedAt: Date)] {
        try await connection.query(
            "SELECT serial, revoked_at FROM partner_certificates WHERE status = 'revoked' AND issuer = \(issuer) AND serial IS NOT NULL ORDER BY fingerprint"
        ).map { row in (try row[0].decode(String.self), try row[1].decode(Date?.self) ?? undated) }
    }

    /// Whether the issuer already gave this serial to a registered certificate.
    public static func serialExists(issuer: String, serial: String, on connection: DatabaseConnection) async throws -> Bool {
        try await connection.query("SELECT count(*) FROM partner_certificates WHERE issuer = \(issuer) AND serial = \(serial)")
            .first?[0].decode(Int64.self) ?? 0 > 0
    }

    // MARK: Administrators

    public static func insert(_ administrator: RegisteredAdministrator, on connection: DatabaseConnection) async throws {
        try await connection.query(
            """
            INSERT INTO administrators (fingerprint, name, subject, not_after, status)
            VALUES (\(administrator.fingerprint), \(administrator.name), \(administrator.subject), \(administrator.notAfter), \(administrator.status.rawValue))
            """)
    }

    /// `locking` for a change to follow in the same transaction.
    public static func administrator(_ fingerprint: String, locking: Bool = false, on connection: DatabaseConnection) async throws -> RegisteredAdministrator? {
        try await connection.query(
            "SELECT \(unescaped: administratorColumns) FROM administrators WHERE fingerprint = \(fingerprint) \(unescaped: locking ? connection.dialect.forUpdate : "")"
        ).first.map(administrator)
    }

    public static func administrators(on connection: DatabaseConnection) async throws -> [RegisteredAdministrator] {
        try await connection.query("SELECT \(unescaped: administratorColumns) FROM administrators ORDER BY created_at, fingerprint").map(administrator)
    }

    public static func revokeAdministrator(_ fingerprint: String, reason: String, on connection: DatabaseConnection) async throws {
        try await connection.query("UPDATE administrators SET status = 'revoked', revoked_reason = \(reason) WHERE fingerprint = \(fingerprint)")
    }

    static let administratorColumns = "fingerprint, name, subject, not_after, status, revoked_reason"

    static func administrator(_ row: DatabaseRow) throws -> RegisteredAdministrator {
        RegisteredAdministrator(
            fingerprint: try row[0].decode(String.self), name: try row[1].decode(String.self), subject: try row[2].decode(String.self),
            notAfter: try row[3].decode(Date.self), status: try row[4].decode(String.self) == "active" ? .active : .revoked,
            revokedReason: try row[5].decode(String?.self))
    }

    // MARK: Trusted CAs

    public static func insert(_ authority: TrustedCA, on connection: DatabaseConnection) async throws {
        try await connection.query(
            """
            INSERT INTO trusted_cas (fingerprint, subject, pem, not_after)
            VALUES (\(authority.fingerprint), \(authority.subject), \(authority.pem), \(authority.notAfter))
            """)
    }

    public static func trustedCAs(on connection: DatabaseConnection) async throws -> [TrustedCA] {
        try await connection.query("SELECT fingerprint, subject, pem, not_after FROM trusted_cas ORDER BY added_at")
            .decode((String, String, String, Date).self)
            .map { TrustedCA(fingerprint: $0, subject: $1, pem: $2, notAfter: $3) }
    }

    // MARK: Mappings

    public static func attach(_ mapping: MappingSource, digest: String, partner id: String, on connection: DatabaseConnection) async throws {
        let files = String(decoding: try JSONEncoder().encode(mapping.files), as: UTF8.self)
        try await connection.query(
            "INSERT INTO partner_mappings (partner_id, source, files, digest) VALUES (\(id), \(mapping.text), \(connection.dialect.json(files)), \(digest))")
    }

    /// The mapping each partner has attached now (the latest row per partner).
    public static func currentMappings(on connection: DatabaseConnection) async throws -> [String: MappingSource] {
        var found: [String: MappingSource] = [:]
        let latest = try await connection.query(
            """
            SELECT m.partner_id, m.source, CAST(m.files AS text) FROM partner_mappings m
            WHERE m.id = (SELECT max(n.id) FROM partner_mappings n WHERE n.partner_id = m.partner_id)
            """)
        for (partner, source, files) in try latest.decode((String, String, String).self) {
            found[partner] = MappingSource(text: source, files: try JSONDecoder().decode([String: String].self, from: Data(files.utf8)))
        }
        return found
    }

    /// Which mapping a partner has now: its digest and when it was attached.
    public static func mappingSummary(partner id: String, on connection: DatabaseConnection) async throws -> MappingSummary? {
        try await connection.query("SELECT digest, attached_at FROM partner_mappings WHERE partner_id = \(id) ORDER BY id DESC LIMIT 1")
            .decode((String, Date).self).first.map { MappingSummary(digest: $0, attachedAt: $1) }
    }

    public static func setAdapter(_ adapter: String, partner id: String, on connection: DatabaseConnection) async throws {
        try await connection.query("UPDATE partners SET adapter = \(adapter) WHERE id = \(id)")
    }

    public static func setEndpoint(_ endpoint: String?, partner id: String, on connection: DatabaseConnection) async throws {
        try await connection.query("UPDATE partners SET endpoint = \(endpoint) WHERE id = \(id)")
    }

    // MARK: Purposes

    public static func insert(_ purpose: Purpose, on connection: DatabaseConnection) async throws {
        try await connection.query(
            """
            INSERT INTO purposes (code, description_ar, description_en, legal_basis, legal_basis_ar)
            VALUES (\(purpose.code), \(purpose.descriptionAr), \(purpose.descriptionEn), \(purpose.legalBasis), \(purpose.legalBasisAr))
            """)
    }

    public static func purposes(on connection: DatabaseConnection) async throws -> [Purpose] {
        try await connection.query(
            "SELECT code, description_ar, description_en, legal_basis, disclosure_delay_seconds, disclosure_delay_basis, legal_basis_ar FROM purposes ORDER BY code"
        ).decode((String, String, String, String, Int64?, String?, String?).self).map { code, ar, en, basis, seconds, delayBasis, basisAr in
            Purpose(
                code: code, descriptionAr: ar, descriptionEn: en, legalBasis: basis, legalBasisAr: basisAr,
                disclosureDelay: seconds.map { DisclosureDelay(seconds: $0, legalBasis: delayBasis ?? "") })
        }
    }

    public static func setDisclosureDelay(_ delay: DisclosureDelay?, purpose code: String, on connection: DatabaseConnection) async throws {
        try await connection.query(
            "UPDATE purposes SET disclosure_delay_seconds = \(delay?.seconds), disclosure_delay_basis = \(delay?.legalBasis) WHERE code = \(code)")
    }

    // MARK: Agreements

    public static func insert(_ agreement: Agreement, on connection: DatabaseConnection) async throws -> Int64 {
        let operations = agreement.operations.map(\.rawValue).sorted()
        let purposes = agreement.purposes.sorted()
        let scope = agreement.scopeNationalities.map { $0.sorted() }
        let rows = try await connection.query(
            """
            INSERT INTO agreements (partner_id, contract, contract_version, operations, purposes, fields, valid_from, valid_until, mou_reference,
                                    rate_limit_per_minute, scope_nationalities)
            VALUES (\(agreement.partnerID), \(agreement.contract.name), \(agreement.contract.version), \(operations), \(purposes), \(agreement.fields),
                    \(agreement.validFrom), \(agreement.validUntil), \(agreement.mouReference), \(agreement.rateLimitPerMinute), \(scope))
            RETURNING id
            """)
        if let id = try rows.first?[0].decode(Int64.self) { return id }
        throw RegistryWriteError(reason: "the database returned no id for the new agreement")
    }

    public static func agreement(_ id: Int64, on connection: DatabaseConnection) async throws -> Agreement? {
        try await connection.query("SELECT \(unescaped: agreementColumns) FROM agreements WHERE id = \(id) \(unescaped: connection.dialect.forUpdate)")
            .first.map(agreement)
    }

    /// Agreements of one partner (or all), revoked ones included when asked.
    public static func agreements(partner id: String?, includeRevoked: Bool, on connection: DatabaseConnection) async throws -> [Agreement] {
        let partnerFilter: SQL = id.map { "AND partner_id = \($0)" } ?? ""
        let statusFilter: SQL = includeRevoked ? "" : "AND status = 'active'"
        return try await connection.query(
            "SELECT \(unescaped: agreementColumns) FROM agreements WHERE true \(partnerFilter) \(statusFilter) ORDER BY partner_id, id"
        ).map(agreement)
    }

    public static func revokeAgreement(_ id: Int64, on connection: DatabaseConnection) async throws {
        try await connection.query("UPDATE agreements SET status = 'revoked' WHERE id = \(id)")
    }

    // MARK: Rows

    static func partner(_ row: DatabaseRow) throws -> Partner {
        let c = row
        return Partner(
            id: try c[0].decode(String.self), nameAr: try c[1].decode(String.self), nameEn: try c[2].decode(String.self),
            country: try c[3].decode(String.self), status: PartnerStatus(rawValue: try c[4].decode(String.self)) ?? .suspended,
            adapter: try c[5].decode(String.self), endpoint: try c[6].decode(String?.self), contact: try c[7].decode(String?.self))
    }

    static func certificate(_ row: DatabaseRow) throws -> PartnerCertificate {
        let c = row
        return PartnerCertificate(
            fingerprint: try c[0].decode(String.self), partnerID: try c[1].decode(String.self), subject: try c[2].decode(String.self),
            notBefore: try c[3].decode(Date.self), notAfter: try c[4].decode(Date.self), status: try c[5].decode(String.self) == "active" ? .active : .revoked,
            issuer: try c[6].decode(String?.self), serial: try c[7].decode(String?.self))
    }

    static func agreement(_ row: DatabaseRow) throws -> Agreement {
        let c = row
        var agreement = Agreement(
            id: try c[0].decode(Int64.self), partnerID: try c[1].decode(String.self),
            contract: ContractID(name: try c[2].decode(String.self), version: Int(try c[3].decode(Int32.self))),
            operations: Set(try c[4].decode([String].self).compactMap(Agreement.Operation.init(rawValue:))),
            purposes: Set(try c[5].decode([String].self)), fields: try c[6].decode([String].self),
            validFrom: try c[7].decode(Date.self), validUntil: try c[8].decode(Date.self),
            mouReference: try c[9].decode(String.self), rateLimitPerMinute: try c[10].decode(Int32?.self).map(Int.init))
        agreement.status = try c[11].decode(String.self)
        agreement.scopeNationalities = try c[12].decode([String]?.self).map(Set.init)
        return agreement
    }
}

/// A registry write that the database did not complete as expected.
public struct RegistryWriteError: Error, Sendable {
    public let reason: String
}
