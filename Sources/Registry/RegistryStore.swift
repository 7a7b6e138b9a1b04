import Foundation
import Logging
import PostgresNIO
import Schemas

/// Reads the registry for the gateway; writes go through `RegistryWrites`, inside audited transactions.
public struct RegistryStore: Sendable {
    let client: PostgresClient
    let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
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
            let partnerRows = try await connection.query("SELECT id, name_ar, name_en, country, status, adapter, endpoint, contact FROM partners", logger: logger)
            for try await row in partnerRows { partners.append(try RegistryWrites.partner(row)) }
            var certificates: [PartnerCertificate] = []
            let certificateRows = try await connection.query("SELECT \(unescaped: RegistryWrites.certificateColumns) FROM partner_certificates", logger: logger)
            for try await row in certificateRows { certificates.append(try RegistryWrites.certificate(row)) }
            var purposes: [Purpose] = []
            let purposeRows = try await connection.query("SELECT code, description_ar, description_en, legal_basis FROM purposes", logger: logger)
            for try await (code, ar, en, basis) in purposeRows.decode((String, String, String, String).self) {
                purposes.append(Purpose(code: code, descriptionAr: ar, descriptionEn: en, legalBasis: basis))
            }
            var agreements: [Agreement] = []
            let agreementRows = try await connection.query(
                "SELECT \(unescaped: RegistryWrites.agreementColumns) FROM agreements WHERE status = 'active' ORDER BY id", logger: logger)
            for try await row in agreementRows { agreements.append(try RegistryWrites.agreement(row)) }
            let trusted = try await RegistryWrites.trustedCAs(on: connection, logger: logger)
            let mappings = try await RegistryWrites.currentMappings(on: connection, logger: logger)
            return RegistrySnapshot(
                version: version, partners: partners, certificates: certificates, purposes: purposes, agreements: agreements, trustedCAs: trusted,
                mappings: mappings)
        }
    }
}
