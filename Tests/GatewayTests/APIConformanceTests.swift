import Administration
import Foundation
import Records
import Registry
import Schemas
import Storage
import Testing
import Transparency

/// The exchange API tested against `openapi/exchange.json` as a partner would test a client generated from it:
/// Schemathesis sends, for every operation, requests the document allows and requests it forbids, over mutual TLS,
/// and checks every answer against the document (scripts/lib/api_conformance.py says which checks).
@Suite(
    "The exchange API against its document", .serialized, TestPass.heavy,
    .enabled(if: Fixture.storeKind == .postgres, "the document is the same whatever the store: run once"))
struct APIConformanceTests {
    static let fixture = Task { try await Fixture.make("conformance", sealing: Fixture.sealing(every: 5)) }

    @Test("Every operation: what the document allows is not refused for its form, what it forbids is refused, undocumented methods get 405, every answer is as documented")
    func conformance() async throws {
        guard let python = ProcessInfo.processInfo.environment["JISR_SCHEMATHESIS_PYTHON"] else {
            throw FixtureError("JISR_SCHEMATHESIS_PYTHON is not set: run the tests with scripts/test, which installs Schemathesis")
        }
        let fixture = try await Self.fixture.value
        // One partner granted every contract, so that each operation can answer with a document to check.
        let catalog = try ContractCatalog.load(from: Fixture.repository.appendingPathComponent("contracts"))
        let admin = try fixture.administration()
        for (contract, operation) in [(WorkPermit.contract, Agreement.Operation.query), (AccessReport.contract, .query), (WorkPermitEvent.contract, .send)] {
            try await admin.grant(
                Agreement(
                    partnerID: "LB-NSSF", contract: contract, operations: [operation], purposes: ["nssf-contribution-verification"],
                    fields: try #require(catalog[contract]).leafFields, validFrom: Date().addingTimeInterval(-60), validUntil: Date().addingTimeInterval(86_400),
                    mouReference: "TEST/conformance"),
                by: Administrator(fingerprint: nil, name: "test"))
        }
        try await fixture.registryInForce()
        try await fixture.writeRegisteredCredential(partner: "LB-NSSF", name: "conformance")
        // What exists: seeded people and establishments, issued permits, the partner's own messages (for receipts).
        var permits: [String] = []
        for nationality in ["EG", "SY", "IQ"] { permits.append(try await fixture.issuePermit(nationality: nationality)) }
        var messages: [String] = []
        for _ in 0..<3 {
            let reply = try await fixture.get("/v1/contracts", as: "LB-NSSF", purpose: nil)
            messages.append(try #require(reply.messageId).uuidString.lowercased())
        }
        let samples: [String: Any] = [
            "nationalIds": fixture.samples.nationalIds, "nssfNumbers": fixture.samples.nssfNumbers,
            "passports": fixture.samples.passports.map { ["passportNumber": $0.passportNumber, "nationality": $0.nationality] },
            "registrationNumbers": fixture.samples.establishmentNumbers, "permitNumbers": permits.filter { !$0.isEmpty }, "messageIds": messages,
        ]
        let samplesJSON = String(decoding: try JSONSerialization.data(withJSONObject: samples), as: UTF8.self)
        let (status, output) = try await JisrCLI.runProgram(python, [
            Fixture.repository.appendingPathComponent("scripts/lib/api_conformance.py").path, "https://localhost:\(fixture.exchangePort)",
            fixture.directory + "/conformance.crt", fixture.directory + "/conformance.key", fixture.directory + "/ca.crt", "nssf-contribution-verification",
            samplesJSON,
        ])
        #expect(status == 0, "\(output.suffix(12_000))")
        #expect(output.contains("No issues found"), "\(output.suffix(2000))")
    }
}
