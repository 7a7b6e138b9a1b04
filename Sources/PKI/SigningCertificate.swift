import Crypto
import Foundation
import SwiftASN1
import X509

/// A signing certificate chain as evidence carries it (leaf first, its CA last), checked offline.
public struct SigningCertificate: Sendable {
    let chain: [Certificate]

    public init(chainPEM: String) throws {
        let documents = try PEMDocument.parseMultiple(pemString: chainPEM)
        self.chain = try documents.map { try Certificate(pemDocument: $0) }
        guard chain.count >= 2 else { throw PKIError("incomplete-chain", "the chain must hold the signing certificate and its CA") }
    }

    /// Whether `pem` (SPKI) is the leaf's public key.
    public func publicKeyMatches(pem: String) -> Bool {
        guard let key = try? P256.Signing.PublicKey(pemRepresentation: pem) else { return false }
        return chain[0].publicKey == Certificate.PublicKey(key)
    }

    /// RFC 5280 path validation of the leaf up to the chain's last certificate, taken as the root.
    public func chainsToItsCA() async -> Bool {
        guard let root = chain.last else { return false }
        var verifier = Verifier(rootCertificates: CertificateStore([root])) { RFC5280Policy() }
        let result = await verifier.validate(leaf: chain[0], intermediates: CertificateStore(Array(chain.dropFirst().dropLast())))
        if case .validCertificate = result { return true }
        return false
    }

    /// SHA-256 of the CA certificate's DER, lower-case hex.
    public var caFingerprint: String? { chain.last.flatMap { try? Fingerprint.sha256($0) } }
}
