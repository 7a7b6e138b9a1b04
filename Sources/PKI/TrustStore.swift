import Foundation
import SwiftASN1
import X509

/// A set of trusted CAs that decides whether a presented client chain identifies a partner.
///
/// RFC 5280 path validation (signatures, validity now, CA constraints, critical extensions) with
/// swift-certificates' verifier, plus the clientAuth extended key usage on the leaf.
public struct TrustStore: Sendable {
    private let roots: CertificateStore

    /// The CAs from PEM texts (each may hold several certificates); unreadable entries are skipped.
    public init(pems: [String]) {
        var certificates: [Certificate] = []
        for pem in pems {
            let documents = (try? PEMDocument.parseMultiple(pemString: pem)) ?? []
            certificates += documents.compactMap { try? Certificate(pemDocument: $0) }
        }
        self.roots = CertificateStore(certificates)
    }

    /// Whether the chain (leaf first, DER) is a valid client certificate under one of the roots.
    public func acceptsClient(chainDER: [[UInt8]]) async -> Bool {
        guard let chain = try? chainDER.map({ try Certificate(derEncoded: $0) }), let leaf = chain.first else { return false }
        guard (try? leaf.extensions.extendedKeyUsage)?.contains(.clientAuth) == true else { return false }
        var verifier = Verifier(rootCertificates: roots) { RFC5280Policy() }
        if case .validCertificate = await verifier.validate(leaf: leaf, intermediates: CertificateStore(Array(chain.dropFirst()))) { return true }
        return false
    }
}
