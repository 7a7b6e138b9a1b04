import Administration
import AsyncHTTPClient
import Crypto
import Foundation
import Gateway
import MessageLog
import NIOCore
import NIOHTTP1
import PKI
import Records
import Registry
import Schemas
import Storage
import SwiftASN1
import Testing
import X509

/// Onboarding a partner from its CSR to its first query, and every refusal an administrator can meet.
@Suite("Onboarding partners", .serialized)
struct OnboardingTests {
    static let fixture = Task { try await Fixture.make("onboarding") }
    static let admin = Administrator(fingerprint: String(repeating: "e", count: 64), name: "CN=test administrator")

    /// A key and CSR made the way a partner would, with openssl.
    static func csr(subject: String, key: String = "ec -pkeyopt ec_paramgen_curve:P-256") async throws -> (csr: String, key: String) {
        let folder = NSTemporaryDirectory() + "jisr-csr-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let arguments = ["req", "-new", "-newkey"] + key.split(separator: " ").map(String.init) + ["-nodes", "-keyout", "\(folder)/key.pem", "-subj", subject, "-out", "\(folder)/csr.pem"]
        let result = try await JisrCLI.runProgram("/usr/bin/openssl", arguments)
        try #require(result.status == 0, "openssl: \(result.output)")
        return (try String(contentsOfFile: "\(folder)/csr.pem", encoding: .utf8), try String(contentsOfFile: "\(folder)/key.pem", encoding: .utf8))
    }

    /// The reply to the first request after the registry as it now stands is in force: a change applies to the
    /// partner's next request. (How soon a change is in force is a benchmark's question, not a test's.)
    func nextReply(_ fixture: Fixture, _ path: String, with http: HTTPClient) async throws -> Reply {
        try await fixture.registryInForce()
        return try await fixture.get(path, with: http)
    }

    @Test("From a CSR to the first query; suspend refuses, resume restores, revoking the certificate refuses")
    func walkthrough() async throws {
        let fixture = try await Self.fixture.value
        let admin = try fixture.administration()
        let (csr, key) = try await Self.csr(subject: "/C=JO/O=Ministry of Labour/CN=JO-MOL")
        try await admin.addPartner(
            Partner(id: "JO-MOL", nameAr: "وزارة العمل الأردنية", nameEn: "Ministry of Labour, Jordan", country: "JO", status: .pending, contact: "integration@mol.gov.jo"),
            by: Self.admin)
        let chain = try await admin.signCSR(partner: "JO-MOL", csrPEM: csr, days: 365, authority: fixture.authority, by: Self.admin)
        let issued = try PKICertificate(pemEncoded: chain)
        #expect(issued.subject.contains("CN=JO-MOL"))
        _ = try await admin.resume(partner: "JO-MOL", by: Self.admin)
        try await admin.grant(
            Agreement(
                partnerID: "JO-MOL", contract: Establishment.contract, operations: [.query], purposes: ["nssf-contribution-verification"],
                fields: try admin.expandFields("all-except:nssfEmployerNumber", of: Establishment.contract), validFrom: Date().addingTimeInterval(-60),
                validUntil: Date().addingTimeInterval(86_400 * 365), mouReference: "MoU LB-JO 2026/7"),
            by: Self.admin)
        let jordan = try Fixture.httpClient(certificatePEM: chain, keyPEM: key, trusting: fixture.authority)
        let path = "/v1/establishments/\(try #require(fixture.samples.establishmentNumbers.first))"

        let first = try await nextReply(fixture, path, with: jordan)
        #expect(first.status == 200, "\(first.text)")
        #expect(first.json?["registrationNumber"] != nil && first.json?["nssfEmployerNumber"] == nil)

        _ = try await admin.suspend(partner: "JO-MOL", by: Self.admin)
        #expect(try await nextReply(fixture, path, with: jordan).problemType?.hasSuffix("/partner-not-active") == true)
        _ = try await admin.resume(partner: "JO-MOL", by: Self.admin)
        #expect(try await nextReply(fixture, path, with: jordan).status == 200)
        _ = try await admin.revokeCertificate(fingerprint: issued.fingerprint, reason: "key compromise", by: Self.admin)
        #expect(try await nextReply(fixture, path, with: jordan).problemType?.hasSuffix("/certificate-revoked") == true)

        // Every step is an admin entry with the administrator's fingerprint, before and after; the chain verifies.
        var actions: [String] = []
        for (operation, actor, detail) in try await fixture.store.query(
            "SELECT operation, certificate_fingerprint, detail FROM message_log WHERE direction = 'admin' AND partner = 'JO-MOL' ORDER BY seq"
        ).decode((String, String?, String?).self) {
            actions.append(operation)
            #expect(actor == Self.admin.fingerprint)
            #expect(detail?.contains("\"actor\":\"CN=test administrator\"") == true)
        }
        #expect(actions == ["partner.add", "certificate.register", "partner.resume", "agreement.grant", "partner.suspend", "partner.resume", "certificate.revoke"])
        #expect(try await fixture.log().verify().firstBreak == nil)
        try await jordan.shutdown()
    }

    @Test("A partner's own CA, once trusted, admits its certificates without a restart")
    func partnersOwnCA() async throws {
        let fixture = try await Self.fixture.value
        let admin = try fixture.administration()
        let ownCA = try CertificateAuthority.create(commonName: "Qatar MoL issuing CA")
        let credential = try ownCA.issueClient(partnerID: "QA-MOLX", organization: "Ministry of Labour, Qatar", country: "QA")
        try await admin.addPartner(Partner(id: "QA-MOLX", nameAr: "قطر", nameEn: "Qatar MoL", country: "QA", status: .active), by: Self.admin)
        await #expect(throws: AdministrationError.self) {
            _ = try await admin.addCertificate(partner: "QA-MOLX", pem: try credential.certificatePEM, partnerCAPEMs: [try fixture.authority.credential.certificatePEM], by: Self.admin)
        }
        let client = try Fixture.httpClient(certificatePEM: try credential.certificatePEM, keyPEM: try credential.privateKeyPEM, trusting: fixture.authority)
        await #expect(throws: (any Error).self) { _ = try await fixture.get("/v1/contracts", with: client) }
        _ = try await admin.trust(caPEM: try ownCA.credential.certificatePEM, by: Self.admin)
        _ = try await admin.addCertificate(partner: "QA-MOLX", pem: try credential.certificatePEM, partnerCAPEMs: [try fixture.authority.credential.certificatePEM], by: Self.admin)
        try await fixture.registryInForce()
        #expect(try await fixture.get("/v1/contracts", with: client).status == 200)
        try await client.shutdown()
    }

    @Test(
        "On the embedded store a second gateway is refused at start, naming PostgreSQL as the way to run several",
        .enabled(if: Fixture.storeKind == .sqlite, "the embedded store's own limit"))
    func secondGatewayRefusedOnEmbeddedStore() async throws {
        let fixture = try await Self.fixture.value
        do {
            _ = try Gateway.build(configuration: fixture.configuration, logger: Fixture.quiet)
            Issue.record("a second gateway was built on the same embedded store")
        } catch let error as SQLiteStoreError {
            #expect(error.description.contains("another jisr gateway already serves"))
            #expect(error.description.contains("PostgreSQL"))
        }
        // The first gateway still serves.
        #expect(try await fixture.get("/v1/contracts", as: "LB-NSSF").status == 200)
    }

    @Test("Past an agreement's rate limit: 429 with Retry-After, logged")
    func rateLimit() async throws {
        let fixture = try await Self.fixture.value
        let admin = try fixture.administration()
        let credential = try fixture.authority.issueClient(partnerID: "LB-LIMIT", organization: "Limited", country: "LB")
        try await admin.addPartner(Partner(id: "LB-LIMIT", nameAr: "محدود", nameEn: "Limited", country: "LB", status: .active), by: Self.admin)
        _ = try await admin.addCertificate(partner: "LB-LIMIT", pem: try credential.certificatePEM, partnerCAPEMs: [try fixture.authority.credential.certificatePEM], by: Self.admin)
        try await admin.grant(
            Agreement(
                partnerID: "LB-LIMIT", contract: Establishment.contract, operations: [.query], purposes: ["nssf-contribution-verification"],
                fields: ["registrationNumber", "status"], validFrom: Date().addingTimeInterval(-60), validUntil: Date().addingTimeInterval(3600), mouReference: "T",
                rateLimitPerMinute: 2),
            by: Self.admin)
        let client = try Fixture.httpClient(certificatePEM: try credential.certificatePEM, keyPEM: try credential.privateKeyPEM, trusting: fixture.authority)
        let path = "/v1/establishments/\(try #require(fixture.samples.establishmentNumbers.first))"
        #expect(try await nextReply(fixture, path, with: client).status == 200)
        #expect(try await fixture.get(path, with: client).status == 200)
        let limited = try await fixture.get(path, with: client)
        #expect(limited.status == 429)
        #expect(limited.problemType?.hasSuffix("/rate-limited") == true)
        #expect(Int(limited.headers.first(name: "Retry-After") ?? "") ?? 0 >= 1)
        try await expectLogged(limited, fixture: fixture, status: 429, problem: "rate-limited")
        try await client.shutdown()
    }

    @Test("Invalid requests are refused with a message that names the problem, and change nothing")
    func refusals() async throws {
        let fixture = try await Self.fixture.value
        let admin = try fixture.administration()
        let before = try await fixture.log().count()
        func refused(_ code: String, mentioning text: String, _ operation: () async throws -> Void) async {
            do {
                try await operation()
                Issue.record("expected \(code)")
            } catch let error as AdministrationError {
                #expect(error.code == code)
                #expect(error.message.contains(text), "\(error.message)")
            } catch {
                Issue.record("unexpected \(error)")
            }
        }
        let valid = Agreement(
            partnerID: "LB-NSSF", contract: EmploymentRecord.contract, operations: [.query], purposes: ["nssf-contribution-verification"],
            fields: ["person.nationalId", "employments.establishment.registrationNumber", "employments.startDate", "employments.status"], validFrom: Date(),
            validUntil: Date().addingTimeInterval(86_400), mouReference: "MoU 1")
        await refused("invalid-partner-id", mentioning: "CC-ABBREV") {
            try await admin.addPartner(Partner(id: "jordan", nameAr: "أ", nameEn: "J", country: "JO", status: .pending), by: Self.admin)
        }
        await refused("invalid-country", mentioning: "XX") {
            try await admin.addPartner(Partner(id: "XX-MOL", nameAr: "أ", nameEn: "X", country: "XX", status: .pending), by: Self.admin)
        }
        await refused("duplicate-partner", mentioning: "LB-NSSF") {
            try await admin.addPartner(Partner(id: "LB-NSSF", nameAr: "أ", nameEn: "N", country: "LB", status: .pending), by: Self.admin)
        }
        var agreement = valid
        agreement.contract = ContractID(name: "employment-record", version: 9)
        await refused("unknown-contract", mentioning: "employment-record/9") { [agreement] in try await admin.grant(agreement, by: Self.admin) }
        agreement = valid
        agreement.fields = ["person.religion"]
        await refused("unknown-field", mentioning: "person.religion") { [agreement] in try await admin.grant(agreement, by: Self.admin) }
        agreement = valid
        agreement.purposes = ["marketing"]
        await refused("unknown-purpose", mentioning: "marketing") { [agreement] in try await admin.grant(agreement, by: Self.admin) }
        agreement = valid
        agreement.validUntil = agreement.validFrom.addingTimeInterval(-1)
        await refused("invalid-validity", mentioning: "inverted") { [agreement] in try await admin.grant(agreement, by: Self.admin) }
        agreement.validUntil = agreement.validFrom
        await refused("invalid-validity", mentioning: "empty") { [agreement] in try await admin.grant(agreement, by: Self.admin) }
        await refused("not-found", mentioning: "XX-NONE") { _ = try await admin.suspend(partner: "XX-NONE", by: Self.admin) }

        let weak = try await Self.csr(subject: "/C=LB/O=Weak/CN=LB-NSSF", key: "rsa:1024")
        await refused("weak-key", mentioning: "2048") {
            _ = try await admin.signCSR(partner: "LB-NSSF", csrPEM: weak.csr, days: 365, authority: fixture.authority, by: Self.admin)
        }
        // A well-formed CSR whose signature was made by another key than the one it carries.
        let signer = try CertificateSigningRequest(
            version: .v1, subject: try DistinguishedName { CommonName("LB-NSSF") }, privateKey: .init(P256.Signing.PrivateKey()), attributes: .init())
        let forged = try CertificateSigningRequest(
            version: .v1, subject: signer.subject, publicKey: Certificate.PrivateKey(P256.Signing.PrivateKey()).publicKey, attributes: .init(),
            signatureAlgorithm: signer.signatureAlgorithm, signature: signer.signature)
        let tampered = try forged.serializeAsPEM().pemString
        await refused("invalid-csr-signature", mentioning: "signature") {
            _ = try await admin.signCSR(partner: "LB-NSSF", csrPEM: tampered, days: 365, authority: fixture.authority, by: Self.admin)
        }
        #expect(try await fixture.log().count() == before, "refusals write nothing")
    }
}

extension JisrCLI {
    /// Runs a program to completion off the concurrency pool (ChildProcess waits with waitpid on a thread of its
    /// own): `Process.waitUntilExit` here held one of the pool's two threads for the program's whole run, which
    /// stalled every in-process gateway of the suite at once.
    static func runProgram(_ path: String, _ arguments: [String]) async throws -> (status: Int32, output: String) {
        let (status, output) = try await ChildProcess.run(path, arguments)
        return (status, output)
    }
}
