import Crypto
import Foundation
import SwiftASN1
import X509

/// A certificate with its private key, both as PEM text.
public struct IssuedCredential: Sendable {
    public let certificate: Certificate
    public let privateKey: Certificate.PrivateKey

    public var certificatePEM: String { get throws { try certificate.serializeAsPEM().pemString + "\n" } }
    public var privateKeyPEM: String { get throws { try privateKey.serializeAsPEM().pemString + "\n" } }

    /// SHA-256 of the certificate's DER encoding, lower-case hex: the identity Jisr registers.
    public var fingerprint: String { get throws { try Fingerprint.sha256(certificate) } }
}

/// The certificate fingerprint Jisr uses as a partner's identity.
public enum Fingerprint {
    public static func sha256(_ certificate: Certificate) throws -> String {
        var serializer = DER.Serializer()
        try serializer.serialize(certificate)
        return sha256(der: serializer.serializedBytes)
    }

    public static func sha256(der: [UInt8]) -> String {
        SHA256.hash(data: der).map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }
}

/// A certificate authority held by Jisr: the partner CA issues client certificates, and (in the demo)
/// the server certificate. Keys are P-256 ECDSA.
public struct CertificateAuthority: Sendable {
    public let credential: IssuedCredential
    /// Where the CA publishes its CRL (an `http://` URL): every certificate it issues names it, so that a relying party
    /// (a partner checking the ministry's server, testssl) can learn of a revocation.
    public var crlURL: String?

    public init(credential: IssuedCredential, crlURL: String? = nil) {
        self.credential = credential
        self.crlURL = crlURL
    }

    public init(certificatePEM: String, privateKeyPEM: String, crlURL: String? = nil) throws {
        self.credential = IssuedCredential(
            certificate: try Certificate(pemEncoded: certificatePEM), privateKey: try Certificate.PrivateKey(pemEncoded: privateKeyPEM))
        self.crlURL = crlURL
    }

    /// The CA's subject, as the registry records the issuer of the certificates it gave.
    public var name: String { credential.certificate.subject.description }

    /// A new self-signed CA, valid from an hour ago (clock skew) for `days`.
    public static func create(commonName: String, organization: String = "Ministry of Labour, Lebanon", days: Int = 3650) throws -> CertificateAuthority {
        let key = Certificate.PrivateKey(P256.Signing.PrivateKey())
        let name = try DistinguishedName {
            CountryName("LB")
            OrganizationName(organization)
            CommonName(commonName)
        }
        let now = Date()
        let certificate = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: key.publicKey,
            notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(Double(days) * 86_400),
            issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                SubjectKeyIdentifier(hash: key.publicKey)
            },
            issuerPrivateKey: key)
        return CertificateAuthority(credential: IssuedCredential(certificate: certificate, privateKey: key))
    }

    /// A TLS server certificate for the given DNS names and IP addresses; 397 days by default, the most
    /// browsers and the CA/Browser Forum accept (testssl.sh flags longer ones).
    public func issueServer(dnsNames: [String], ipAddresses: [[UInt8]], days: Int = 396) throws -> IssuedCredential {
        let key = Certificate.PrivateKey(P256.Signing.PrivateKey())
        let names = dnsNames.map { GeneralName.dnsName($0) } + ipAddresses.map { GeneralName.ipAddress(ASN1OctetString(contentBytes: $0[...])) }
        return try issue(
            subject: try DistinguishedName {
                CountryName("LB")
                OrganizationName("Ministry of Labour, Lebanon")
                CommonName(dnsNames.first ?? "jisr")
            },
            key: key, days: days,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true, keyEncipherment: true))
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames(names)
            })
    }

    /// A client certificate for a partner: the partner id is the subject's common name.
    public func issueClient(partnerID: String, organization: String, country: String, days: Int = 365, publicKey: Certificate.PublicKey? = nil, notBefore: Date? = nil) throws -> IssuedCredential {
        let key = Certificate.PrivateKey(P256.Signing.PrivateKey())
        return try issue(
            subject: try DistinguishedName {
                CountryName(country)
                OrganizationName(organization)
                CommonName(partnerID)
            },
            key: key, publicKey: publicKey, days: days, notBefore: notBefore,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.clientAuth])
            })
    }

    /// The gateway's log-signing certificate: signs the message log's tree heads, nothing else
    /// (digitalSignature and nonRepudiation, no TLS usage).
    public func issueLogSigner(commonName: String = "Jisr message log", days: Int = 3650) throws -> IssuedCredential {
        try issueSigner(commonName: commonName, days: days, timestamping: false)
    }

    /// A timestamping authority's certificate (RFC 3161 §2.3: the timeStamping usage, critical and alone).
    public func issueTimestampingAuthority(commonName: String = "Jisr development TSA", days: Int = 3650) throws -> IssuedCredential {
        try issueSigner(commonName: commonName, days: days, timestamping: true)
    }

    /// A ministry certificate that signs statements (tree heads, timestamps), never TLS.
    private func issueSigner(commonName: String, days: Int, timestamping: Bool) throws -> IssuedCredential {
        var extensions = try Certificate.Extensions {
            Critical(BasicConstraints.notCertificateAuthority)
            Critical(KeyUsage(digitalSignature: true, nonRepudiation: true))
        }
        if timestamping { try extensions.append(Certificate.Extension(try ExtendedKeyUsage([.timeStamping]), critical: true)) }
        return try issue(
            subject: try DistinguishedName {
                CountryName("LB")
                OrganizationName("Ministry of Labour, Lebanon")
                CommonName(commonName)
            },
            key: Certificate.PrivateKey(P256.Signing.PrivateKey()), days: days, extensions: extensions)
    }

    private func issue(
        subject: DistinguishedName, key: Certificate.PrivateKey, publicKey: Certificate.PublicKey? = nil, days: Int, notBefore: Date? = nil,
        extensions: Certificate.Extensions
    ) throws -> IssuedCredential {
        let start = notBefore ?? Date().addingTimeInterval(-3600)
        var extensions = extensions
        try extensions.append(Certificate.Extension(AuthorityKeyIdentifier(keyIdentifier: SubjectKeyIdentifier(hash: credential.certificate.publicKey).keyIdentifier), critical: false))
        if let crlURL { try extensions.append(CRLDistributionPoint(url: crlURL).extensionValue()) }
        let certificate = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: publicKey ?? key.publicKey,
            notValidBefore: start, notValidAfter: start.addingTimeInterval(Double(days) * 86_400 + 3600),
            issuer: credential.certificate.subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: extensions, issuerPrivateKey: credential.privateKey)
        return IssuedCredential(certificate: certificate, privateKey: key)
    }
}

/// Writes PEM files; private keys are created with mode 0600 and never printed.
public enum PEMFiles {
    public static func write(_ text: String, to path: String, secret: Bool) throws {
        let url = URL(fileURLWithPath: path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: secret ? 0o600 : 0o644])
        try FileManager.default.setAttributes([.posixPermissions: secret ? 0o600 : 0o644], ofItemAtPath: path)
        let handle = try FileHandle(forWritingTo: url)
        defer { try? handle.close() }
        try handle.truncate(atOffset: 0)
        try handle.write(contentsOf: Data(text.utf8))
    }

    /// Writes a credential as `NAME.crt` (certificate, then the issuing chain) and `NAME.key` (0600).
    public static func write(_ credential: IssuedCredential, chain: [Certificate] = [], directory: String, name: String) throws {
        var certificates = try credential.certificatePEM
        for certificate in chain { certificates += try certificate.serializeAsPEM().pemString + "\n" }
        try write(certificates, to: "\(directory)/\(name).crt", secret: false)
        try write(try credential.privateKeyPEM, to: "\(directory)/\(name).key", secret: true)
    }
}

/// A parsed certificate's registry-relevant facts, without exposing X509 types to callers.
public struct PKICertificate: Sendable {
    public let subject: String
    public let notBefore: Date
    public let notAfter: Date
    public let fingerprint: String
    public let serial: String
    public let issuer: String
    public let isCertificateAuthority: Bool
    /// The certificate as PEM, with a trailing newline.
    public let pem: String

    init(subject: String, notBefore: Date, notAfter: Date, fingerprint: String, serial: String, issuer: String, isCertificateAuthority: Bool, pem: String) {
        self.issuer = issuer
        self.isCertificateAuthority = isCertificateAuthority
        self.subject = subject
        self.notBefore = notBefore
        self.notAfter = notAfter
        self.fingerprint = fingerprint
        self.serial = serial
        self.pem = pem
    }

    public init(derEncoded der: [UInt8]) throws {
        try self.init(try Certificate(derEncoded: der))
    }

    /// The first certificate of a PEM text (a chain file starts with the leaf).
    public init(pemEncoded pem: String) throws {
        guard let first = try PEMDocument.parseMultiple(pemString: pem).first else { throw PKIError("invalid-certificate", "no certificate in the PEM text") }
        try self.init(try Certificate(pemDocument: first))
    }
}
