import Crypto
import Foundation
import SwiftASN1
import X509
import _CryptoExtras

/// Why a CSR or a certificate cannot be accepted for a partner; the message names the problem.
public struct PKIError: Error, Sendable, Hashable, CustomStringConvertible {
    public let code: String
    public let message: String

    public init(_ code: String, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}

/// Which keys Jisr accepts for partners: RSA of 2048 bits or more, ECDSA on P-256 or P-384.
public enum KeyPolicy {
    /// A readable name of the key, or a refusal that says why the key is not acceptable.
    public static func check(_ key: Certificate.PublicKey) throws(PKIError) -> String {
        if P256.Signing.PublicKey(key) != nil { return "ECDSA P-256" }
        if P384.Signing.PublicKey(key) != nil { return "ECDSA P-384" }
        if let rsa = _RSA.Signing.PublicKey(key) {
            guard rsa.keySizeInBits >= 2048 else {
                throw PKIError("weak-key", "RSA keys must be at least 2048 bits; this one has \(rsa.keySizeInBits)")
            }
            return "RSA-\(rsa.keySizeInBits)"
        }
        throw PKIError("unsupported-key", "only RSA (2048 bits or more) and ECDSA P-256 or P-384 keys are accepted")
    }

    /// The modulus size of an RSA key in a CSR, read from the DER directly (PKCS #10, RFC 8017).
    static func rsaModulusBits(csrPEM: String) -> Int? {
        guard let document = try? PEMDocument(pemString: csrPEM), let root = try? DER.parse(document.derBytes),
            case .constructed(let request) = root.content, let info = request.first(where: { _ in true }),
            case .constructed(let infoFields) = info.content
        else { return nil }
        let fields = Array(infoFields)
        guard fields.count >= 3, case .constructed(let spki) = fields[2].content else { return nil }
        let spkiFields = Array(spki)
        guard spkiFields.count == 2, case .constructed(let algorithm) = spkiFields[0].content,
            let oid = algorithm.first(where: { _ in true }), let identifier = try? ASN1ObjectIdentifier(derEncoded: oid),
            identifier == ASN1ObjectIdentifier.AlgorithmIdentifier.rsaEncryption,
            let bits = try? ASN1BitString(derEncoded: spkiFields[1]), let key = try? DER.parse(Array(bits.bytes)),
            case .constructed(let numbers) = key.content, let modulus = numbers.first(where: { _ in true }),
            case .primitive(let bytes) = modulus.content
        else { return nil }
        return bytes.drop { $0 == 0 }.count * 8
    }
}

extension CertificateAuthority {
    /// Issues a partner's client certificate from its CSR, after checking the CSR's signature and key.
    ///
    /// The subject is set by the ministry, not taken from the CSR: the partner id as common name, the
    /// partner's name as organisation. The serial is 20 random bytes; the registry refuses a repeat.
    public func sign(csrPEM: String, partnerID: String, organization: String, country: String, days: Int) throws -> PKICertificate {
        let csr: CertificateSigningRequest
        do { csr = try CertificateSigningRequest(pemEncoded: csrPEM) } catch {
            // swift-crypto will not even load RSA keys under 2048 bits: say that, rather than "unreadable".
            if let bits = KeyPolicy.rsaModulusBits(csrPEM: csrPEM), bits < 2048 {
                throw PKIError("weak-key", "RSA keys must be at least 2048 bits; this one has \(bits)")
            }
            throw PKIError("invalid-csr", "the file is not a PEM certificate signing request")
        }
        guard csr.publicKey.isValidSignature(csr.signature, for: csr) else {
            throw PKIError("invalid-csr-signature", "the CSR's signature does not match its key: it was not made with that key's private half")
        }
        _ = try KeyPolicy.check(csr.publicKey)
        guard (1...825).contains(days) else { throw PKIError("invalid-days", "a partner certificate is valid for 1 to 825 days") }
        return try PKICertificate(issueClient(partnerID: partnerID, organization: organization, country: country, days: days, publicKey: csr.publicKey).certificate)
    }
}

/// A certificate examined for registration to a partner.
public struct InspectedCertificate: Sendable {
    public let certificate: PKICertificate
    public let keyDescription: String
}

/// Checks a certificate issued by a partner's own (trusted) CA before it is registered.
public enum CertificateInspection {
    /// Verifies the chain to one of `trustedRoots` (RFC 5280, now), the clientAuth usage and the key.
    public static func inspect(pem: String, trustedRoots: [String]) async throws -> InspectedCertificate {
        let certificates: [Certificate]
        do {
            certificates = try PEMDocument.parseMultiple(pemString: pem).map { try Certificate(pemDocument: $0) }
        } catch {
            throw PKIError("invalid-certificate", "the file is not a PEM certificate")
        }
        guard let leaf = certificates.first else { throw PKIError("invalid-certificate", "the file holds no certificate") }
        let roots = try trustedRoots.flatMap { try PEMDocument.parseMultiple(pemString: $0).map { try Certificate(pemDocument: $0) } }
        guard !roots.isEmpty else { throw PKIError("no-trusted-ca", "no CA is trusted yet: add the partner's CA with `jisr pki trust add`") }
        let usage = try? leaf.extensions.extendedKeyUsage
        guard usage?.contains(.clientAuth) == true else {
            throw PKIError("no-client-auth", "the certificate lacks the clientAuth extended key usage; TLS would refuse it")
        }
        let key = try KeyPolicy.check(leaf.publicKey)
        var verifier = Verifier(rootCertificates: CertificateStore(roots)) { RFC5280Policy() }
        switch await verifier.validate(leaf: leaf, intermediates: CertificateStore(Array(certificates.dropFirst()))) {
        case .validCertificate:
            break
        case .couldNotValidate(let failures):
            let reason = failures.first.map { "\($0.policyFailureReason)" } ?? "no chain to a trusted CA"
            throw PKIError("untrusted-certificate", "the certificate does not chain to a trusted CA: \(reason)")
        }
        return InspectedCertificate(certificate: try PKICertificate(leaf), keyDescription: key)
    }
}

extension PKICertificate {
    public init(_ certificate: Certificate) throws {
        self.init(
            subject: certificate.subject.description, notBefore: certificate.notValidBefore, notAfter: certificate.notValidAfter,
            fingerprint: try Fingerprint.sha256(certificate), serial: certificate.serialNumber.description, issuer: certificate.issuer.description,
            isCertificateAuthority: (try? certificate.extensions.basicConstraints).map { if case .isCertificateAuthority = $0 { true } else { false } } ?? false,
            pem: try certificate.serializeAsPEM().pemString + "\n")
    }
}
