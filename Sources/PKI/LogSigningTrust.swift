import Crypto
import Foundation
import SwiftASN1
import Synchronization
@_spi(FixedExpiryValidationTime) import X509

/// What a verifier trusts a log-signing key by: a CA it names, or key fingerprints it pins — never the key or the
/// certificate that a seal, a bundle or a receipt carries alone (whoever can rewrite the log can replace those).
public final class LogSigningTrust: Sendable {
    enum Kind: Sendable {
        case authority([Certificate])
        case pinned(Set<String>)
    }

    let kind: Kind
    /// The validity windows of each certificate chain already validated, by its PEM.
    private let checked = Mutex<[String: [ClosedRange<Date>]]>([:])

    private init(kind: Kind) { self.kind = kind }

    /// Certificates issued by one of these CAs (PEM texts, each may hold several) for log signing: not a CA, the
    /// non-repudiation key usage, no extended key usage (a partner's TLS certificate or a TSA's under the same CA
    /// is refused), valid at the seal's time.
    public static func authority(rootsPEM: [String]) throws -> LogSigningTrust {
        let roots = try rootsPEM.flatMap { pem in try PEMDocument.parseMultiple(pemString: pem).map { try Certificate(pemDocument: $0) } }
        guard !roots.isEmpty else { throw PKIError("no-signing-ca", "no CA certificate to trust log-signing keys by") }
        return LogSigningTrust(kind: .authority(roots))
    }

    /// Exactly these keys: SHA-256 of the SubjectPublicKeyInfo (DER), hex —
    /// `openssl pkey -pubin -in log-signing.pub -outform DER | sha256sum`.
    public static func pinnedKeys(_ fingerprints: [String]) throws -> LogSigningTrust {
        let normalised = fingerprints.map { $0.lowercased().filter { $0 != ":" } }
        guard !normalised.isEmpty, normalised.allSatisfy({ $0.count == 64 && $0.allSatisfy(\.isHexDigit) }) else {
            throw PKIError("bad-key-fingerprint", "a pinned key is the SHA-256 of its SubjectPublicKeyInfo: 64 hex digits")
        }
        return LogSigningTrust(kind: .pinned(Set(normalised)))
    }

    /// What the verifier trusted, for its report: the CAs' certificate fingerprints, or the pinned keys.
    public var summary: String {
        switch kind {
        case .authority(let roots):
            let prints = roots.compactMap { try? Fingerprint.sha256($0) }
            return "log-signing certificates of the CA \(prints.joined(separator: ", ")) (SHA-256 of the CA certificate)"
        case .pinned(let keys):
            return "the pinned log-signing key\(keys.count == 1 ? "" : "s") \(keys.sorted().joined(separator: ", "))"
        }
    }

    /// SHA-256 of a public key's SubjectPublicKeyInfo (DER), lower-case hex; nil if it is not a P-256 key.
    public static func keyFingerprint(publicKeyPEM: String) -> String? {
        guard let key = try? P256.Signing.PublicKey(pemRepresentation: publicKeyPEM) else { return nil }
        return Array(SHA256.hash(data: key.derRepresentation)).map { String(format: "%02x", $0) }.joined()
    }

    /// Why a seal signed by `publicKeyPEM`, carrying `certificatePEM`, at `time`, is not to be trusted; nil if it is.
    public func refusal(publicKeyPEM: String, certificatePEM: String, at time: Date) async -> String? {
        guard let fingerprint = Self.keyFingerprint(publicKeyPEM: publicKeyPEM) else { return "its public key is not a P-256 key" }
        switch kind {
        case .pinned(let keys):
            return keys.contains(fingerprint) ? nil : "it is signed by the key \(fingerprint), which is not pinned"
        case .authority(let roots):
            // A path is validated once per certificate; later seals under it only need to fall within its validity.
            if let windows = checked.withLock({ $0[certificatePEM] }) {
                return windows.allSatisfy { $0.contains(time) } ? nil : "its log-signing certificate was not valid at \(time)"
            }
            let chain: [Certificate]
            do {
                chain = try PEMDocument.parseMultiple(pemString: certificatePEM).map { try Certificate(pemDocument: $0) }
            } catch {
                return "its log-signing certificate cannot be read"
            }
            guard let leaf = chain.first, let key = try? P256.Signing.PublicKey(pemRepresentation: publicKeyPEM), leaf.publicKey == Certificate.PublicKey(key)
            else { return "its key is not the key of the certificate it carries" }
            var verifier = Verifier(rootCertificates: CertificateStore(roots)) {
                RFC5280Policy(fixedExpiryValidationTime: time)
                LogSigningUsagePolicy()
            }
            let result = await verifier.validate(leaf: leaf, intermediates: CertificateStore(Array(chain.dropFirst())))
            guard case .validCertificate(let path) = result else {
                return "its certificate is not a log-signing certificate of the trusted CA, valid at \(time)"
            }
            checked.withLock { $0[certificatePEM] = path.map { $0.notValidBefore...$0.notValidAfter } }
            return nil
        }
    }
}

/// A log-signing certificate signs statements only: not a CA, non-repudiation, and no extended key usage — which
/// every TLS certificate (clientAuth, serverAuth) and the TSA's (timeStamping) carry.
struct LogSigningUsagePolicy: VerifierPolicy {
    let verifyingCriticalExtensions: [ASN1ObjectIdentifier] = []

    func chainMeetsPolicyRequirements(chain: UnverifiedCertificateChain) async -> PolicyEvaluationResult {
        let leaf = chain.leaf
        if let constraints = try? leaf.extensions.basicConstraints, case .isCertificateAuthority = constraints {
            return .failsToMeetPolicy(PolicyFailureReason("the signer is a CA"))
        }
        guard let usage = try? leaf.extensions.keyUsage, usage.nonRepudiation else {
            return .failsToMeetPolicy(PolicyFailureReason("the signer lacks the non-repudiation key usage"))
        }
        if leaf.extensions[oid: .X509ExtensionID.extendedKeyUsage] != nil {
            return .failsToMeetPolicy(PolicyFailureReason("the signer carries an extended key usage: it is not a log-signing certificate"))
        }
        return .meetsPolicy
    }
}
