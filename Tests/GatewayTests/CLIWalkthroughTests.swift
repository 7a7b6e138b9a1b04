import AsyncHTTPClient
import Foundation
import NIOHTTP1
import PostgresNIO
import Records
import Testing

/// The README's onboarding walkthrough, command by command with the real `jisr` executable, against a
/// running gateway; the partner's queries go over real TLS with the certificate the walkthrough issued.
@Suite("README onboarding walkthrough", .serialized)
struct CLIWalkthroughTests {
    static let fixture = Task { try await Fixture.make("walkthrough") }

    func jisr(_ fixture: Fixture, _ arguments: [String]) throws -> String {
        let result = try JisrCLI.run(arguments + ["--database-url", fixture.databaseURL, "--contracts", Fixture.repository.appendingPathComponent("contracts").path])
        #expect(result.status == 0, "jisr \(arguments.joined(separator: " ")): \(result.output)")
        return result.output
    }

    @Test("CSR → partner add → pki sign-csr → resume → agreement grant → query; suspend, resume, cert revoke")
    func walkthrough() async throws {
        let fixture = try await Self.fixture.value
        let (csr, key) = try OnboardingTests.csr(subject: "/C=JO/O=Ministry of Labour/CN=JO-MOL")
        let work = fixture.directory + "/walkthrough"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        try csr.write(toFile: work + "/jo-mol.csr", atomically: true, encoding: .utf8)

        _ = try jisr(fixture, ["partner", "add", "--id", "JO-MOL", "--name-ar", "وزارة العمل الأردنية", "--name-en", "Ministry of Labour, Jordan", "--contact", "integration@mol.gov.jo"])
        let signed = try jisr(fixture, ["pki", "sign-csr", "--partner", "JO-MOL", "--csr", work + "/jo-mol.csr", "--days", "365", "--out", work + "/jo-mol.crt", "--pki", fixture.directory + "/pki"])
        #expect(signed.contains("issued and registered JO-MOL"))
        _ = try jisr(fixture, ["partner", "resume", "JO-MOL"])
        let granted = try jisr(fixture, [
            "agreement", "grant", "--partner", "JO-MOL", "--contract", "establishment/1", "--operations", "query",
            "--purposes", "nssf-contribution-verification", "--fields", "all-except:nssfEmployerNumber",
            "--valid-from", "2026-01-01", "--valid-until", "2030-12-31", "--mou-ref", "MoU LB-JO 2026/7", "--rate-limit", "600/min",
        ])
        #expect(granted.contains("establishment/1"))

        let chain = try String(contentsOfFile: work + "/jo-mol.crt", encoding: .utf8)
        let jordan = try Fixture.httpClient(certificatePEM: chain, keyPEM: key, trusting: fixture.authority)
        let path = "/v1/establishments/\(try #require(fixture.samples.establishmentNumbers.first))"
        let onboarding = OnboardingTests()
        #expect(try await onboarding.eventually(200, fixture, path, with: jordan).status == 200)

        _ = try jisr(fixture, ["partner", "suspend", "JO-MOL"])
        #expect(try await onboarding.eventually(403, fixture, path, with: jordan).problemType?.hasSuffix("/partner-not-active") == true)
        _ = try jisr(fixture, ["partner", "resume", "JO-MOL"])
        #expect(try await onboarding.eventually(200, fixture, path, with: jordan).status == 200)
        let shown = try jisr(fixture, ["partner", "show", "JO-MOL"])
        let fingerprint = try #require(shown.firstMatch(of: /certificate ([0-9a-f]{64})/).map { String($0.1) })
        _ = try jisr(fixture, ["cert", "revoke", fingerprint, "--reason", "key compromise"])
        #expect(try await onboarding.eventually(403, fixture, path, with: jordan).problemType?.hasSuffix("/certificate-revoked") == true)
        try await jordan.shutdown()

        let verify = try JisrCLI.run(["log", "verify", "--database-url", fixture.databaseURL])
        #expect(verify.status == 0 && verify.output.contains("OK: "))
    }

    @Test("CLI refusals name the problem and exit non-zero")
    func refusals() async throws {
        let fixture = try await Self.fixture.value
        let unknownField = try JisrCLI.run([
            "agreement", "grant", "--partner", "LB-NSSF", "--contract", "employment-record/1", "--operations", "query",
            "--purposes", "nssf-contribution-verification", "--fields", "person.religion", "--valid-from", "2026-01-01", "--valid-until", "2027-01-01",
            "--mou-ref", "M", "--database-url", fixture.databaseURL, "--contracts", Fixture.repository.appendingPathComponent("contracts").path,
        ])
        #expect(unknownField.status != 0)
        #expect(unknownField.output.contains("employment-record/1 has no field person.religion"))
        let inverted = try JisrCLI.run([
            "agreement", "grant", "--partner", "LB-NSSF", "--contract", "employment-record/1", "--operations", "query",
            "--purposes", "nssf-contribution-verification", "--fields", "all", "--valid-from", "2027-01-01", "--valid-until", "2026-01-01",
            "--mou-ref", "M", "--database-url", fixture.databaseURL, "--contracts", Fixture.repository.appendingPathComponent("contracts").path,
        ])
        #expect(inverted.status != 0)
        #expect(inverted.output.contains("inverted"))
        let duplicate = try JisrCLI.run(["partner", "add", "--id", "LB-NSSF", "--name-ar", "x", "--name-en", "x", "--database-url", fixture.databaseURL])
        #expect(duplicate.status != 0 && duplicate.output.contains("already exists"))
    }
}
