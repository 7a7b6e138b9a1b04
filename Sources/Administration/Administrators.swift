import Foundation
import PKI
import Registry
import Storage

/// Administrators, registered and revoked like partners' certificates: the admin CA vouches for a certificate,
/// the registry decides whether it is an administrator now.
extension Administration {
    /// Registers an administrator's certificate once it chains to one of `adminCAPEMs` with the clientAuth usage.
    public func registerAdministrator(pem: String, name: String?, adminCAPEMs: [String], by administrator: Administrator) async throws -> RegisteredAdministrator {
        guard !adminCAPEMs.isEmpty else { throw AdministrationError("no-admin-ca", "no admin CA is configured to check the certificate against") }
        let inspected: InspectedCertificate
        do {
            inspected = try await CertificateInspection.inspect(pem: pem, trustedRoots: adminCAPEMs)
        } catch let error as PKIError {
            throw AdministrationError(error.code, error.message.replacingOccurrences(of: "a trusted CA", with: "the admin CA"))
        }
        let certificate = inspected.certificate
        let holder = (name ?? certificate.subject).trimmingCharacters(in: .whitespaces)
        guard !holder.isEmpty, holder.count <= 200 else { throw AdministrationError("invalid-name", "an administrator's name is 1–200 characters") }
        let record = RegisteredAdministrator(fingerprint: certificate.fingerprint, name: holder, subject: certificate.subject, notAfter: certificate.notAfter)
        return try await audited("administrator.register", partner: nil, by: administrator, request: record) { connection, _ in
            if try await RegistryWrites.administrator(record.fingerprint, locking: true, on: connection) != nil {
                throw AdministrationError("duplicate-certificate", "this certificate is already registered to an administrator")
            }
            if try await RegistryWrites.certificate(record.fingerprint, on: connection) != nil {
                throw AdministrationError("duplicate-certificate", "this certificate is registered to a partner")
            }
            try await RegistryWrites.insert(record, on: connection)
            return (before: Optional<RegisteredAdministrator>.none, after: record)
        }.after
    }

    /// Revokes an administrator's certificate: its next admin request is refused. The last active one cannot be
    /// revoked this way, or nobody could administer the gateway over the admin API.
    public func revokeAdministrator(fingerprint: String, reason: String, by administrator: Administrator) async throws -> RegisteredAdministrator {
        let fingerprint = fingerprint.lowercased().replacingOccurrences(of: ":", with: "")
        guard !reason.trimmingCharacters(in: .whitespaces).isEmpty else { throw AdministrationError("no-reason", "say why the certificate is revoked (--reason)") }
        return try await audited("administrator.revoke", partner: nil, by: administrator, request: ["fingerprint": fingerprint, "reason": reason]) { connection, _ in
            guard let before = try await RegistryWrites.administrator(fingerprint, locking: true, on: connection) else {
                throw AdministrationError.notFound("administrator certificate \(fingerprint)")
            }
            guard before.status == .active else { throw AdministrationError("no-change", "administrator certificate \(fingerprint) is already revoked") }
            let others = try await RegistryWrites.administrators(on: connection).filter { $0.status == .active && $0.fingerprint != fingerprint && $0.notAfter > Date() }
            guard !others.isEmpty else {
                throw AdministrationError("last-administrator", "this is the last active administrator: register another one first (jisr administrator add)")
            }
            try await RegistryWrites.revokeAdministrator(fingerprint, reason: reason, on: connection)
            var after = before
            after.status = .revoked
            after.revokedReason = reason
            return (before: before, after: after)
        }.after
    }

    public func administrators() async throws -> [RegisteredAdministrator] {
        try await database.withConnection { try await RegistryWrites.administrators(on: $0) }
    }

    /// The registered administrator a certificate fingerprint names, whatever its status; nil when unregistered.
    public func administrator(fingerprint: String) async throws -> RegisteredAdministrator? {
        try await database.withConnection { try await RegistryWrites.administrator(fingerprint, on: $0) }
    }
}
