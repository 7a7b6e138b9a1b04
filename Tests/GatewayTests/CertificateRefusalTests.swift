import Administration
import AsyncHTTPClient
import Crypto
import Foundation
import NIOSSL
import PKI
import Records
import Registry
import Storage
import SwiftASN1
import Testing
import X509

/// Certificates a careless partner or an attacker may present. Each is refused at the TLS handshake, for the
/// reason the trust store names, even after an administrator registered its fingerprint to the NSSF by mistake;
/// the NSSF's own certificate is served right after. (A revoked certificate and a suspended partner's are answered
/// 403 after the handshake: `OnboardingTests`, `LogIntegrityTests`, `ExchangeTests`.)
@Suite("Client certificates refused at the handshake")
struct CertificateRefusalTests {
    enum Kind: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case expired, notYetValid, otherCA, selfSignedWithPartnerSubject, serverAuthOnly, rsa1024
        var testDescription: String { rawValue }
    }

    @Test("Refused at the handshake for the named reason, even when registered", arguments: Kind.allCases)
    func refused(_ kind: Kind) async throws {
        let fixture = try await Shared.fixture.value
        let (certificatePEM, keyPEM) = try await Self.credential(kind, fixture)
        let chain = try PEMDocument.parseMultiple(pemString: certificatePEM).map(\.derBytes)

        let caPEM = try fixture.authority.credential.certificatePEM
        let refusal = await TrustStore(pems: [caPEM]).refusal(chainDER: chain)
        #expect(Self.expected(kind, refusal), "\(kind): \(refusal.map { "\($0)" } ?? "accepted")")

        let fingerprint = Fingerprint.sha256(der: try #require(chain.first))
        try await fixture.administration().registerCertificate(
            PartnerCertificate(
                fingerprint: fingerprint, partnerID: "LB-NSSF", subject: "LB-NSSF \(kind.rawValue)", notBefore: Date().addingTimeInterval(-3600),
                notAfter: Date().addingTimeInterval(86_400)),
            by: Administrator(fingerprint: nil, name: "test: a registration made by mistake"))
        try await fixture.registryInForce()

        let client = try Fixture.httpClient(certificatePEM: certificatePEM, keyPEM: keyPEM, trusting: fixture.authority)
        let nationalId = try #require(fixture.samples.nationalIds.first)
        var failure: (any Error)?
        do {
            let reply = try await fixture.get("/v1/employment-records?nationalId=\(nationalId)", with: client)
            Issue.record("\(kind) was answered \(reply.status)")
        } catch {
            failure = error
        }
        try await client.shutdown()
        // A TLS failure, not a refused or reset TCP connection: the server is up and said no in TLS.
        let reflected = String(reflecting: failure)
        #expect(reflected.contains("SSL"), "\(kind): \(reflected)")
        #expect(try await fixture.get("/v1/employment-records?nationalId=\(nationalId)", as: "LB-NSSF").status == 200)
    }

    @Test("The trust store accepts the registered partner's own certificate")
    func acceptsValid() async throws {
        let fixture = try await Shared.fixture.value
        let credential = try fixture.authority.issueClient(partnerID: "LB-NSSF", organization: "NSSF", country: "LB")
        let store = TrustStore(pems: [try fixture.authority.credential.certificatePEM])
        #expect(await store.refusal(chainDER: [Array(try credential.certificate.serializeAsPEM().derBytes)]) == nil)
    }

    static func expected(_ kind: Kind, _ refusal: ClientCertificateRefusal?) -> Bool {
        switch (kind, refusal) {
        case (.expired, .expired?), (.notYetValid, .notYetValid?), (.otherCA, .untrusted?), (.selfSignedWithPartnerSubject, .untrusted?),
            (.serverAuthOnly, .noClientAuth?), (.rsa1024, .unreadable?):
            true
        default:
            false
        }
    }

    /// The certificate (PEM chain) and key (PEM) of each kind.
    static func credential(_ kind: Kind, _ fixture: Fixture) async throws -> (String, String) {
        let authority = fixture.authority
        let day: TimeInterval = 86_400
        func pem(_ credential: IssuedCredential) throws -> (String, String) { (try credential.certificatePEM, try credential.privateKeyPEM) }
        switch kind {
        case .expired:
            return try pem(authority.issueClient(partnerID: "LB-NSSF", organization: "NSSF", country: "LB", days: 1, notBefore: Date().addingTimeInterval(-10 * day)))
        case .notYetValid:
            return try pem(authority.issueClient(partnerID: "LB-NSSF", organization: "NSSF", country: "LB", days: 30, notBefore: Date().addingTimeInterval(day)))
        case .otherCA:
            return try pem(CertificateAuthority.create(commonName: "Rogue CA").issueClient(partnerID: "LB-NSSF", organization: "NSSF", country: "LB"))
        case .selfSignedWithPartnerSubject:
            // The NSSF's exact subject and the usages of a partner certificate, signed by its own key.
            let key = Certificate.PrivateKey(P256.Signing.PrivateKey())
            let subject = try DistinguishedName {
                CountryName("LB")
                OrganizationName("NSSF")
                CommonName("LB-NSSF")
            }
            let certificate = try Certificate(
                version: .v3, serialNumber: .init(), publicKey: key.publicKey, notValidBefore: Date().addingTimeInterval(-3600),
                notValidAfter: Date().addingTimeInterval(30 * day), issuer: subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
                extensions: try Certificate.Extensions {
                    Critical(BasicConstraints.notCertificateAuthority)
                    Critical(KeyUsage(digitalSignature: true))
                    try ExtendedKeyUsage([.clientAuth])
                },
                issuerPrivateKey: key)
            return (try certificate.serializeAsPEM().pemString + "\n", try key.serializeAsPEM().pemString + "\n")
        case .serverAuthOnly:
            return try pem(authority.issueServer(dnsNames: ["LB-NSSF"], ipAddresses: []))
        case .rsa1024:
            // swift-crypto will not make a 1,024-bit RSA key; openssl, as a careless partner would, and the trusted CA signs it.
            let directory = fixture.directory + "/rsa1024-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let extensions = directory + "/client.ext"
            try "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n"
                .write(toFile: extensions, atomically: true, encoding: .utf8)
            for arguments in [
                ["req", "-new", "-newkey", "rsa:1024", "-nodes", "-keyout", directory + "/client.key", "-subj", "/C=LB/O=NSSF/CN=LB-NSSF", "-out", directory + "/client.csr"],
                [
                    "x509", "-req", "-in", directory + "/client.csr", "-CA", fixture.directory + "/ca.crt", "-CAkey", fixture.directory + "/ca.key",
                    "-set_serial", "0x" + String(UInt64.random(in: 1..<UInt64.max), radix: 16), "-days", "30", "-extfile", extensions, "-out", directory + "/client.crt",
                ],
            ] {
                let (status, output) = try await ChildProcess.run("openssl", arguments)
                try #require(status == 0, "openssl \(arguments[0]): \(output)")
            }
            return (try String(contentsOfFile: directory + "/client.crt", encoding: .utf8), try String(contentsOfFile: directory + "/client.key", encoding: .utf8))
        }
    }
}
