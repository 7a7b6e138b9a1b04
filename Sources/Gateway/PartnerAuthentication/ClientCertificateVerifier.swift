import Foundation
import Logging
import NIOSSL
import PKI
import Registry
import Synchronization

/// Verifies a client certificate chain at the TLS handshake against the trusted partner CAs.
///
/// BoringSSL's own check only knows the CAs given at start-up; `jisr pki trust add` must take effect
/// without a restart, so the chain is verified by `TrustStore` (RFC 5280 and the clientAuth usage)
/// against the configured partner CAs plus those in the registry snapshot. Runs once per connection.
final class ClientCertificateVerifier: Sendable {
    private let configured: [String]
    private let registry: RegistryWatcher
    private let logger: Logger
    private let store = Mutex<(version: Int64, trust: TrustStore)?>(nil)

    init(configuredRootPEMs: [String], registry: RegistryWatcher, logger: Logger) {
        self.configured = configuredRootPEMs
        self.registry = registry
        self.logger = logger
    }

    func verify(_ presented: [NIOSSLCertificate]) async -> NIOSSLVerificationResult {
        guard let chain = try? presented.map({ try $0.toDERBytes() }) else {
            logger.info("client certificate refused at the handshake: the chain could not be read")
            return .failed
        }
        if let refusal = await currentTrust().refusal(chainDER: chain) {
            logger.info(
                "client certificate refused at the handshake: \(refusal)",
                metadata: ["fingerprint": "\(chain.first.map(Fingerprint.sha256(der:)) ?? "none")"])
            return .failed
        }
        return .certificateVerified
    }

    private func currentTrust() -> TrustStore {
        let snapshot = registry.snapshot
        if let cached = store.withLock({ $0 }), cached.version == snapshot.version { return cached.trust }
        let registered = snapshot.trustedCAs
        let trust = TrustStore(pems: configured + registered.map(\.pem)) { index, reason in
            // Built once per registry version: each unreadable CA is said once, not per handshake.
            let which = index < configured.count ? "configured partner CA \(index + 1)" : "trusted CA \(registered[index - configured.count].fingerprint)"
            logger.warning("a partner CA cannot be read and is not trusted", metadata: ["jisr.ca": "\(which)", "jisr.reason": "\(reason)"])
        }
        store.withLock { $0 = (snapshot.version, trust) }
        return trust
    }
}
