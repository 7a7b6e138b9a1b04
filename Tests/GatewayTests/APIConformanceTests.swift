import Administration
import ExchangeClient
import Foundation
import OpenAPIRuntime
import Records
import Registry
import Schemas
import Storage
import Testing
import Transparency

/// The exchange API tested against `openapi/exchange.json` as a partner would test a client generated from it:
/// Schemathesis sends, for every operation, requests the document allows and requests it forbids, over mutual TLS,
/// and checks every answer against the document (scripts/lib/api_conformance.py says which checks); and clients
/// generated from the document by openapi-python-client and by swift-openapi-generator make every lookup with
/// typed models.
@Suite(
    "The exchange API against its document", .serialized, TestPass.heavy,
    .enabled(if: Fixture.storeKind == .postgres, "the document is the same whatever the store: run once"))
struct APIConformanceTests {
    static let purpose = "nssf-contribution-verification"
    static let fixture = Task { try await Fixture.make("conformance", sealing: Fixture.sealing(every: 5)) }

    /// What the calls can find: one partner granted every contract, so that each operation can answer with a
    /// document to check, seeded people and establishments, issued permits, the partner's own messages (for
    /// receipts) and a sealed tree size (for a consistency proof).
    struct Samples {
        let nationalIds: [String], nssfNumbers: [String], passports: [(passportNumber: String, nationality: String)]
        let registrationNumbers: [String], permitNumbers: [String], messageIds: [String], treeSize: Int64
        /// An instant before the permits above were issued: a listing changed since then holds exactly them.
        let issuedSince: Date

        var json: String {
            let object: [String: Any] = [
                "nationalIds": nationalIds, "nssfNumbers": nssfNumbers,
                "passports": passports.map { ["passportNumber": $0.passportNumber, "nationality": $0.nationality] },
                "registrationNumbers": registrationNumbers, "permitNumbers": permitNumbers, "messageIds": messageIds, "treeSize": treeSize,
                "issuedSince": ISO8601DateFormatter().string(from: issuedSince),
            ]
            return String(decoding: (try? JSONSerialization.data(withJSONObject: object)) ?? Data(), as: UTF8.self)
        }
    }

    static let prepared = Task { () throws -> Samples in
        let fixture = try await Self.fixture.value
        let catalog = try ContractCatalog.load(from: Fixture.repository.appendingPathComponent("contracts"))
        let admin = try fixture.administration()
        for (contract, operation) in [(WorkPermit.contract, Agreement.Operation.query), (AccessReport.contract, .query), (WorkPermitEvent.contract, .send)] {
            guard let published = catalog[contract] else { throw FixtureError("no contract \(contract)") }
            try await admin.grant(
                Agreement(
                    partnerID: "LB-NSSF", contract: contract, operations: [operation], purposes: [purpose],
                    fields: published.leafFields, validFrom: Date().addingTimeInterval(-60), validUntil: Date().addingTimeInterval(86_400),
                    mouReference: "TEST/conformance"),
                by: Administrator(fingerprint: nil, name: "test"))
        }
        try await fixture.registryInForce()
        try await fixture.writeRegisteredCredential(partner: "LB-NSSF", name: "conformance")
        let issuedSince = Date().addingTimeInterval(-1)
        var permits: [String] = []
        for nationality in ["EG", "SY", "IQ"] { permits.append(try await fixture.issuePermit(nationality: nationality)) }
        var messages: [String] = []
        for _ in 0..<3 {
            let reply = try await fixture.get("/v1/contracts", as: "LB-NSSF", purpose: nil)
            messages.append(try #require(reply.messageId).uuidString.lowercased())
        }
        // A seal covering the calls above (or the sealer's own, if it was first): its size is the proof's far end.
        let sealed = try await JisrCLI.run(["log", "seal", "--pki", fixture.directory + "/pki", "--database-url", fixture.databaseURL])
        guard sealed.status == 0 else { throw FixtureError("jisr log seal: \(sealed.output)") }
        var treeSize: Int64 = 0
        for size in try await fixture.store.query("SELECT max(tree_size) FROM log_seals").decode(Int64.self) { treeSize = size }
        // Not #require: a shared preparation that fails must fail every test that uses it, not only the first.
        guard treeSize > 0 else { throw FixtureError("no seal after jisr log seal: \(sealed.output)") }
        return Samples(
            nationalIds: fixture.samples.nationalIds, nssfNumbers: fixture.samples.nssfNumbers,
            passports: fixture.samples.passports.map { ($0.passportNumber, $0.nationality) }, registrationNumbers: fixture.samples.establishmentNumbers,
            permitNumbers: permits.filter { !$0.isEmpty }, messageIds: messages, treeSize: treeSize,
            issuedSince: issuedSince)
    }

    /// scripts/lib's Python program PROGRAM with the partner's credential and the samples; its status and output.
    static func runPython(_ python: String, _ program: String) async throws -> (status: Int32, output: String) {
        let (fixture, samples) = (try await Self.fixture.value, try await Self.prepared.value)
        return try await JisrCLI.runProgram(python, [
            Fixture.repository.appendingPathComponent("scripts/lib/\(program)").path, "https://localhost:\(fixture.exchangePort)",
            fixture.directory + "/conformance.crt", fixture.directory + "/conformance.key", fixture.directory + "/ca.crt", purpose, samples.json,
        ])
    }

    @Test("Every operation: what the document allows is not refused for its form, what it forbids is refused, undocumented methods get 405, every answer is as documented")
    func conformance() async throws {
        guard let python = ProcessInfo.processInfo.environment["JISR_SCHEMATHESIS_PYTHON"] else {
            throw FixtureError("JISR_SCHEMATHESIS_PYTHON is not set: run the tests with scripts/test, which installs Schemathesis")
        }
        let (status, output) = try await Self.runPython(python, "api_conformance.py")
        #expect(status == 0, "\(output.suffix(12_000))")
        #expect(output.contains("No issues found"), "\(output.suffix(2000))")
    }

    @Test("A client generated by openapi-python-client, with no warning, makes every lookup over mutual TLS and gets typed models")
    func pythonClient() async throws {
        guard let python = ProcessInfo.processInfo.environment["JISR_OPENAPI_CLIENT_PYTHON"] else {
            throw FixtureError("JISR_OPENAPI_CLIENT_PYTHON is not set: run the tests with scripts/test, which installs openapi-python-client")
        }
        let (status, output) = try await Self.runPython(python, "generated_client.py")
        #expect(status == 0 && output.contains("PASSED"), "\(output.suffix(6000))")
        #expect(!output.contains("FAIL "), "\(output.suffix(6000))")
    }

    @Test("A client generated by swift-openapi-generator (the ExchangeClient module) makes every lookup over mutual TLS and gets typed models")
    func swiftClient() async throws {
        let (fixture, samples) = (try await Self.fixture.value, try await Self.prepared.value)
        let exchange = try MutualTLSClient(
            serverURL: "https://localhost:\(fixture.exchangePort)", certificate: fixture.directory + "/conformance.crt",
            key: fixture.directory + "/conformance.key", authority: fixture.directory + "/ca.crt")
        defer { Task { try? await exchange.shutdown() } }
        let client = exchange.client
        let headers = { Operations.GetEmploymentRecords.Input.Headers(xPurpose: Self.purpose) }

        let nationalId = try #require(samples.nationalIds.first)
        let record = try await client.getEmploymentRecords(query: .init(nationalId: nationalId), headers: headers()).ok.body.json
        #expect(record.person.nationalId == nationalId)
        let passport = try #require(samples.passports.first)
        let byPassport = try await client.getEmploymentRecords(
            query: .init(passportNumber: passport.passportNumber, nationality: passport.nationality), headers: headers()).ok.body.json
        #expect(byPassport.person.passportNumber == passport.passportNumber)
        let nssfNumber = try #require(samples.nssfNumbers.first)
        #expect(try await client.getEmploymentRecords(query: .init(nssfNumber: nssfNumber), headers: headers()).ok.body.json.person.nssfNumber == nssfNumber)

        let registration = try #require(samples.registrationNumbers.first)
        let establishment = try await client.getEstablishment(path: .init(registrationNumber: registration), headers: .init(xPurpose: Self.purpose)).ok.body.json
        #expect(establishment.registrationNumber == registration)
        let permitNumber = try #require(samples.permitNumbers.first)
        let permit = try await client.getWorkPermit(path: .init(permitNumber: permitNumber), headers: .init(xPurpose: Self.purpose)).ok.body.json
        #expect(permit.permitNumber == permitNumber)

        // The permits issued above, one per page, by following nextCursor as it comes.
        var listed: [String] = []
        var cursor: String?
        repeat {
            let page = try await client.listWorkPermits(
                query: .init(changedSince: samples.issuedSince, limit: 1, cursor: cursor), headers: .init(xPurpose: Self.purpose)
            ).ok.body.json
            listed += page.items.map(\.permitNumber)
            cursor = page.nextCursor
        } while cursor != nil && listed.count <= 10
        #expect(listed.sorted() == samples.permitNumbers.sorted(), "\(listed)")

        let report = try await client.getAccessReport(query: .init(nationalId: nationalId), headers: .init(xPurpose: Self.purpose)).ok.body.json
        #expect(!report.rows.isEmpty, "the lookups above are exchanges about this person")
        let contracts = try await client.getAllowedContracts().ok.body.json
        #expect(contracts.agreements.count >= 3)
        let schema = try await client.getContractSchema(path: .init(contract: "employment-record", version: 1, document: .schema_json)).ok.body.applicationSchemaJson
        #expect(schema.value["title"] as? String == "employment-record/1")
        _ = try await client.getOpenAPI().ok.body.json
        let messageId = try #require(samples.messageIds.first)
        #expect(try await client.getReceipt(path: .init(id: messageId)).ok.body.json.messageId == messageId)
        let proof = try await client.getConsistencyProof(query: .init(from: 1, to: Int(samples.treeSize))).ok.body.json
        #expect(proof.to == Int(samples.treeSize))

        let example = Fixture.repository.appendingPathComponent("contracts/work-permit-event/1/examples/valid/issued.json")
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let event = try decoder.decode(Components.Schemas.WorkPermitEvent.self, from: try Data(contentsOf: example))
        let accepted = try await client.sendWorkPermitEvent(
            headers: .init(xPurpose: Self.purpose, idempotencyKey: "generated-swift-\(UUID())"), body: .json(event)).accepted.body.json
        #expect(accepted.duplicate == false)
    }
}
