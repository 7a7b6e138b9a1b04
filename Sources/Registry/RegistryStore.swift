import Foundation
import Logging
import Storage
import Schemas

/// Reads the registry for the gateway; writes go through `RegistryWrites`, inside audited transactions.
public struct RegistryStore: Sendable {
    let database: Database
    let logger: Logger

    public init(database: Database, logger: Logger) {
        self.database = database
        self.logger = logger
    }

    // MARK: Reads

    public func version() async throws -> Int64 {
        try await database.query("SELECT version FROM registry_version").first?[0].decode(Int64.self) ?? 0
    }

    /// Everything the gateway needs to authorise requests, read in one repeatable-read transaction.
    public func snapshot() async throws -> RegistrySnapshot {
        try await database.withSnapshot { connection -> RegistrySnapshot in
            let version = try await connection.query("SELECT version FROM registry_version").first?[0].decode(Int64.self) ?? 0
            let partners = try await connection.query("SELECT \(unescaped: RegistryWrites.partnerColumns) FROM partners").map(RegistryWrites.partner)
            let certificates = try await connection.query("SELECT \(unescaped: RegistryWrites.certificateColumns) FROM partner_certificates")
                .map(RegistryWrites.certificate)
            let purposes = try await RegistryWrites.purposes(on: connection)
            let agreements = try await connection.query(
                "SELECT \(unescaped: RegistryWrites.agreementColumns) FROM agreements WHERE status = 'active' ORDER BY id"
            ).map(RegistryWrites.agreement)
            let trusted = try await RegistryWrites.trustedCAs(on: connection)
            let mappings = try await RegistryWrites.currentMappings(on: connection)
            return RegistrySnapshot(
                version: version, partners: partners, certificates: certificates, purposes: purposes, agreements: agreements, trustedCAs: trusted,
                mappings: mappings)
        }
    }
}
