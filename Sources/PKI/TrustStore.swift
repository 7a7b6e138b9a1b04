import Foundation
import SwiftASN1
import X509

/// Why a presented client certificate does not identify a partner; logged at the refused handshake.
public enum ClientCertificateRefusal: Error, Sendable, Hashable, CustomStringConvertible {
    /// The chain could not be read as X.509 (swift-crypto also refuses RSA keys under 1,024 bits here).
    case unreadable
    case noClientAuth
    case weakKey(String)
    case notYetValid(Date)
    case expired(Date)
    /// No valid path to a trusted CA: another CA, a self-signed certificate, a bad signature.
    case untrusted(String)

    public var description: String {
        switch self {
        case .unreadable: "the certificate chain is not readable X.509 (or its key is below 1,024 bits)"
        case .noClientAuth: "the certificate lacks the clientAuth extended key usage"
        case .weakKey(let reason): reason
        case .notYetValid(let date): "the certificate is not valid before \(date.ISO8601Format())"
        case .expired(let date): "the certificate expired at \(date.ISO8601Format())"
        case .untrusted(let reason): "no valid chain to a trusted partner CA: \(reason)"
        }
    }
}

/// A set of trusted CAs that decides whether a presented client chain identifies a partner.
///
/// RFC 5280 path validation (signatures, validity now, CA constraints, critical extensions) with
/// swift-certificates' verifier, plus the clientAuth extended key usage and the key policy on the leaf:
/// the handshake holds a certificate to the same rules as its registration.
public struct TrustStore: Sendable {
    private let roots: CertificateStore

    /// The CAs from PEM texts (each may hold several certificates); `unreadable` hears of each text or certificate that
    /// cannot be read (by its place in `pems`), which is left out — said, never dropped in silence.
    public init(pems: [String], unreadable: (Int, String) -> Void = { _, _ in }) {
        var certificates: [Certificate] = []
        for (index, pem) in pems.enumerated() {
            guard let documents = try? PEMDocument.parseMultiple(pemString: pem), !documents.isEmpty else {
                unreadable(index, "is not PEM")
                continue
            }
            for (position, document) in documents.enumerated() {
                if let certificate = try? Certificate(pemDocument: document) {
                    certificates.append(certificate)
                } else {
                    unreadable(index, "its certificate \(position + 1) cannot be parsed")
                }
            }
        }
        self.roots = CertificateStore(certificates)
    }

    /// Why the chain (leaf first, DER) is refused now, or nil when it is a valid client certificate.
    public func refusal(chainDER: [[UInt8]]) async -> ClientCertificateRefusal? {
        let time = Date()
        guard let chain = try? chainDER.map({ try Certificate(derEncoded: $0) }), let leaf = chain.first else { return .unreadable }
        guard (try? leaf.extensions.extendedKeyUsage)?.contains(.clientAuth) == true else { return .noClientAuth }
        do { _ = try KeyPolicy.check(leaf.publicKey) } catch { return .weakKey(error.message) }
        // Named before path validation so the log says which; the verifier checks every certificate's dates again.
        if leaf.notValidBefore > time { return .notYetValid(leaf.notValidBefore) }
        if leaf.notValidAfter < time { return .expired(leaf.notValidAfter) }
        var verifier = Verifier(rootCertificates: roots) { RFC5280Policy() }
        switch await verifier.validate(leaf: leaf, intermediates: CertificateStore(Array(chain.dropFirst()))) {
        case .validCertificate:
            return nil
        case .couldNotValidate(let failures):
            return .untrusted(failures.first.map { "\($0.policyFailureReason)" } ?? "no chain to a trusted CA")
        }
    }
}
