import Foundation
import Logging
import PostgresNIO
import Schemas

/// Reads and writes the registry tables; every statement binds its values.
public struct RegistryStore: Sendable {
    let client: PostgresClient
    let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    // MARK: Writes

    public func addPartner(_ partner: Partner) async throws {
        try await client.query(
            """
            INSERT INTO partners (id, name_ar, name_en, country, status, adapter, endpoint)
            VALUES (\(partner.id), \(partner.nameAr), \(partner.nameEn), \(partner.country), \(partner.status.rawValue), \(partner.adapter), \(partner.endpoint))
            """, logger: logger)
    }

    public func setStatus(partner id: String, to status: PartnerStatus) async throws {
        try await client.query("UPDATE partners SET status = \(status.rawValue) WHERE id = \(id)", logger: logger)
    }

    public func registerCertificate(_ certificate: PartnerCertificate) async throws {
        try await client.query(
            """
            INSERT INTO partner_certificates (fingerprint, partner_id, subject, not_before, not_after, status)
            VALUES (\(certificate.fingerprint), \(certificate.partnerID), \(certificate.subject), \(certificate.notBefore), \(certificate.notAfter), \(certificate.status.rawValue))
            """, logger: logger)
    }

    public func revokeCertificate(fingerprint: String, reason: String) async throws {
        try await client.query(
            "UPDATE partner_certificates SET status = 'revoked', revoked_reason = \(reason) WHERE fingerprint = \(fingerprint)", logger: logger)
    }

    public func addPurpose(_ purpose: Purpose) async throws {
        try await client.query(
            """
            INSERT INTO purposes (code, description_ar, description_en, legal_basis)
            VALUES (\(purpose.code), \(purpose.descriptionAr), \(purpose.descriptionEn), \(purpose.legalBasis))
            ON CONFLICT (code) DO NOTHING
            """, logger: logger)
    }

    @discardableResult
    public func grant(_ agreement: Agreement) async throws -> Int64 {
        let operations = agreement.operations.map(\.rawValue).sorted()
        let purposes = agreement.purposes.sorted()
        let rows = try await client.query(
            """
            INSERT INTO agreements (partner_id, contract, contract_version, operations, purposes, fields, valid_from, valid_until, mou_reference, rate_limit_per_minute)
            VALUES (\(agreement.partnerID), \(agreement.contract.name), \(agreement.contract.version), \(operations), \(purposes), \(agreement.fields),
                    \(agreement.validFrom), \(agreement.validUntil), \(agreement.mouReference), \(agreement.rateLimitPerMinute))
            RETURNING id
            """, logger: logger)
        for try await id in rows.decode(Int64.self) { return id }
        return 0
    }

    // MARK: Reads

    public func version() async throws -> Int64 {
        let rows = try await client.query("SELECT version FROM registry_version", logger: logger)
        for try await version in rows.decode(Int64.self) { return version }
        return 0
    }

    /// Everything the gateway needs to authorise requests, read in one repeatable-read transaction.
    public func snapshot() async throws -> RegistrySnapshot {
        try await client.withTransaction(logger: logger) { connection -> RegistrySnapshot in
            try await connection.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY", logger: logger)
            var version: Int64 = 0
            for try await value in try await connection.query("SELECT version FROM registry_version", logger: logger).decode(Int64.self) {
                version = value
            }
            var partners: [Partner] = []
            let partnerRows = try await connection.query("SELECT id, name_ar, name_en, country, status, adapter, endpoint FROM partners", logger: logger)
            for try await (id, nameAr, nameEn, country, status, adapter, endpoint) in partnerRows.decode((String, String, String, String, String, String, String?).self) {
                partners.append(Partner(id: id, nameAr: nameAr, nameEn: nameEn, country: country, status: PartnerStatus(rawValue: status) ?? .suspended, adapter: adapter, endpoint: endpoint))
            }
            var certificates: [PartnerCertificate] = []
            let certificateRows = try await connection.query(
                "SELECT fingerprint, partner_id, subject, not_before, not_after, status FROM partner_certificates", logger: logger)
            for try await (fingerprint, partner, subject, notBefore, notAfter, status) in certificateRows.decode((String, String, String, Date, Date, String).self) {
                certificates.append(PartnerCertificate(fingerprint: fingerprint, partnerID: partner, subject: subject, notBefore: notBefore, notAfter: notAfter, status: status == "active" ? .active : .revoked))
            }
            var purposes: [Purpose] = []
            let purposeRows = try await connection.query("SELECT code, description_ar, description_en, legal_basis FROM purposes", logger: logger)
            for try await (code, ar, en, basis) in purposeRows.decode((String, String, String, String).self) {
                purposes.append(Purpose(code: code, descriptionAr: ar, descriptionEn: en, legalBasis: basis))
            }
            var agreements: [Agreement] = []
            let agreementRows = try await connection.query(
                """
                SELECT id, partner_id, contract, contract_version, operations, purposes, fields, valid_from, valid_until, mou_reference, rate_limit_per_minute
                FROM agreements WHERE status = 'active' ORDER BY id
                """, logger: logger)
            for try await row in agreementRows {
                let cells = row.makeRandomAccess()
                agreements.append(
                    Agreement(
                        id: try cells[0].decode(Int64.self), partnerID: try cells[1].decode(String.self),
                        contract: ContractID(name: try cells[2].decode(String.self), version: Int(try cells[3].decode(Int32.self))),
                        operations: Set(try cells[4].decode([String].self).compactMap(Agreement.Operation.init(rawValue:))),
                        purposes: Set(try cells[5].decode([String].self)), fields: try cells[6].decode([String].self),
                        validFrom: try cells[7].decode(Date.self), validUntil: try cells[8].decode(Date.self),
                        mouReference: try cells[9].decode(String.self), rateLimitPerMinute: try cells[10].decode(Int32?.self).map(Int.init)))
            }
            return RegistrySnapshot(version: version, partners: partners, certificates: certificates, purposes: purposes, agreements: agreements)
        }
    }
}
