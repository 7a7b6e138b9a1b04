import Administration
import Foundation
import Logging
import PKI
import Registry
import ServiceLifecycle

/// Keeps the published CRL current on a gateway that holds the partner CA's key: signs it at start, within seconds
/// of a revocation made anywhere (the registry's revoked certificates change, whichever gateway or CLI revoked), and
/// daily, well inside the list's 30 days.
struct CRLRefresher: Service {
    let administration: Administration
    let authority: CertificateAuthority
    let file: String
    let registry: RegistryWatcher
    let logger: Logger
    var check: Duration = .seconds(2)
    var resignAfter: TimeInterval = 86_400

    func run() async throws {
        let issuer = authority.name
        var seen: (registryVersion: Int64, revoked: Set<String>)?
        var published: (revoked: Set<String>, at: Date)?
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            let snapshot = registry.snapshot
            // Only a new registry version can revoke: an unchanged one costs a comparison, not a scan.
            let revoked: Set<String>
            if let seen, seen.registryVersion == snapshot.version {
                revoked = seen.revoked
            } else {
                revoked = Set(snapshot.certificates.values.filter { $0.status == .revoked && $0.issuer == issuer }.map(\.fingerprint))
                seen = (snapshot.version, revoked)
            }
            if published?.revoked != revoked || published.map({ Date().timeIntervalSince($0.at) > resignAfter }) ?? true {
                do {
                    try RevocationList.write(try await administration.revocationList(of: authority), to: file)
                    published = (revoked, Date())
                    logger.info("signed the partner CA's CRL", metadata: ["jisr.revoked": "\(revoked.count)", "jisr.file": "\(file)"])
                } catch {
                    // The previous list stays published; the next check tries again.
                    logger.warning("cannot sign the partner CA's CRL", metadata: ["jisr.error": "\(error)"])
                }
            }
            try? await Task.sleep(for: check)
        }
    }
}
