import Administration
import Foundation
import Gateway
import MessageLog
import NIOCore
import NIOHTTP1
import Records
import Registry
import Schemas
import Storage
import Testing
import Transparency

/// A person's access report, as the ministry makes it (`jisr access-report`, `GET /admin/v1/access-report`):
/// exactly their exchanges, each explained and with its receipt, nothing about anyone else.
@Suite("A person's access report", .serialized)
struct AccessReportTests {
    static let fixture = Task { try await Fixture.make("report", sealing: Fixture.sealing(every: 5)) }

    /// Persons with NSSF numbers, so that each has two identifiers; the same ones every time.
    func persons(_ fixture: Fixture, count: Int = 2) async throws -> [(String, EmploymentRecord)] {
        let records = DatabaseRecordSource(database: fixture.store, logger: Fixture.quiet)
        var found: [(String, EmploymentRecord)] = []
        for id in fixture.samples.nationalIds where found.count < count {
            if let record = try await records.employmentRecord(for: .nationalId(id)), record.person.nssfNumber != nil, !record.employments.isEmpty {
                found.append((id, record))
            }
        }
        try #require(found.count == count)
        return found
    }

    @Test("Exactly the person's exchanges — by national id, by NSSF number, refused — each explained, with its receipt; nothing of another person")
    func report() async throws {
        let fixture = try await Self.fixture.value
        let persons = try await persons(fixture)
        let (nationalId, record) = persons[0]
        let (otherId, other) = persons[1]
        let nssfNumber = try #require(record.person.nssfNumber)
        var ours: [UUID] = []
        ours.append(try #require(try await fixture.get("/v1/employment-records?nationalId=\(nationalId)", as: "LB-NSSF").messageId))
        _ = try await fixture.get("/v1/employment-records?nationalId=\(otherId)", as: "LB-NSSF")
        ours.append(try #require(try await fixture.get("/v1/employment-records?nssfNumber=\(nssfNumber)", as: "LB-NSSF").messageId))
        let refused = try await fixture.get("/v1/employment-records?nationalId=\(nationalId)", as: "LB-NSSF", purpose: "mou-work-permit-notification")
        #expect(refused.status == 403)
        ours.append(try #require(refused.messageId))
        let last = try await fixture.entry(messageId: try #require(ours.last))
        // Sealed past the last of them, so that every row carries its inclusion proof.
        for _ in 0..<5 { _ = try await fixture.get("/v1/contracts", as: "EG-MOL", purpose: nil) }
        let seals = SealStore(database: fixture.store, logger: Fixture.quiet)
        try await Fixture.until("a seal past seq \(last.seq)") { try await seals.latest().map { $0.treeHead.size >= last.seq } ?? false }

        let reply = try await fixture.admin(.GET, "/admin/v1/access-report?nationalId=\(nationalId)")
        #expect(reply.status == 200, "\(reply.text)")
        let report = try JSONDecoder().decode(AccessReport.self, from: Data(reply.body))
        let seqs = try await withThrowingTaskGroup(of: Int64.self) { group in
            for id in ours { group.addTask { try await fixture.log().entry(messageId: id)!.seq } }
            return try await group.reduce(into: Set<Int64>()) { $0.insert($1) }
        }
        #expect(Set(report.rows.map(\.receipt.seq)) == seqs, "exactly the three exchanges about the person")
        #expect(report.subject.known && report.subject.masked.hasSuffix(String(nationalId.suffix(4))) && !report.subject.masked.contains(nationalId))

        let answered = report.rows.filter { $0.outcome == "answered" }
        #expect(answered.count == 2)
        for row in answered {
            #expect(row.partner?.id == "LB-NSSF" && row.partner?.nameEn == "NSSF" && row.partner?.country == "LB")
            #expect(row.purpose?.code == "nssf-contribution-verification" && row.purpose?.legalBasis == "Decree 13955/1963")
            #expect(row.mouReference == "TEST/1")
            let labels = row.fields.map(\.en)
            #expect(labels.contains("Name") && labels.contains("Employer (establishment)"), "\(labels)")
            #expect(!labels.contains("Monthly salary"), "not granted, not disclosed")
            #expect(row.fields.first { $0.path == "person.name" }?.ar == "الاسم")
            #expect(row.at.hasSuffix("+02:00") || row.at.hasSuffix("+03:00"), "Beirut time: \(row.at)")
        }
        let refusal = try #require(report.rows.first { $0.outcome == "refused" })
        #expect(refusal.problem == "purpose-not-granted" && refusal.status == 403 && refusal.fields.isEmpty)

        // Each receipt: the entry recomputes to its hash, and its proof leads it to the report's signed root.
        let head = try #require(report.treeHead)
        for row in report.rows {
            #expect(row.receipt.entry.recomputedHash == row.receipt.entryHash)
            let path = try #require(row.receipt.inclusionProof)
            let proof = path.compactMap(Hex.decode)
            let entryHash = try #require(Hex.decode(row.receipt.entryHash))
            let root = try #require(Hex.decode(head.rootHash))
            #expect(proof.count == path.count)
            #expect(MerkleTree.verifyInclusion(leaf: MerkleTree.leafHash(entryHash), index: Int(row.receipt.seq - 1), size: Int(head.size), proof: proof, root: root))
        }
        // Nothing about the other person: none of their identifiers, none of their references.
        let otherReferences = try PersonKey.keys(of: other.person).map {
            SubjectReferencer(key: try SubjectKeyFile.read(fixture.directory + "/subject.key")).reference(kind: $0.subject.kind, identifier: $0.subject.identifier)
        }
        for secret in [otherId, other.person.nssfNumber ?? otherId, nationalId, nssfNumber] + otherReferences {
            #expect(!reply.text.contains(secret), "the report holds \(secret.prefix(6))…")
        }

        // The same rows whichever identifier is asked; the asking itself is in the next report.
        let byNumber = try JSONDecoder().decode(AccessReport.self, from: Data(try await fixture.admin(.GET, "/admin/v1/access-report?nssfNumber=\(nssfNumber)").body))
        #expect(Set(byNumber.rows.map(\.receipt.seq)).isSuperset(of: seqs))
        #expect(byNumber.rows.contains { $0.direction == "admin" && $0.operation == "access-report" }, "the first report's asking appears")
    }

    @Test("An unknown person's report lists the lookups made under that identifier; a malformed identifier is refused and changes nothing")
    func unknownAndMalformed() async throws {
        let fixture = try await Self.fixture.value
        let asked = try await fixture.get("/v1/employment-records?nationalId=999999999998", as: "LB-NSSF")
        #expect(asked.status == 404)
        let report = try JSONDecoder().decode(AccessReport.self, from: Data(try await fixture.admin(.GET, "/admin/v1/access-report?nationalId=999999999998").body))
        #expect(!report.subject.known)
        #expect(report.rows.map(\.outcome) == ["nothing-found"])
        let before = try await fixture.log().count()
        for query in ["nationalId=12345", "nationalId=123456789012&nssfNumber=1234567890", "passport=AB123456", "nationalId=123456789012&from=yesterday", "x=1"] {
            let refused = try await fixture.admin(.GET, "/admin/v1/access-report?\(query)")
            #expect(refused.status == 400 && refused.problemType?.hasSuffix("/invalid-parameters") == true, "\(query): \(refused.text)")
        }
        #expect(try await fixture.log().count() == before)
    }

    @Test("jisr access-report signs its report; verify passes on it and names the row that was altered, removed, or taken from another person's report")
    func signedAndVerified() async throws {
        let fixture = try await Self.fixture.value
        let persons = try await persons(fixture)
        for (id, _) in persons { _ = try await fixture.get("/v1/employment-records?nationalId=\(id)", as: "LB-NSSF") }
        let second = try await fixture.entry(of: try await fixture.get("/v1/employment-records?nationalId=\(persons[0].0)", as: "LB-NSSF"))
        for _ in 0..<5 { _ = try await fixture.get("/v1/contracts", as: "EG-MOL", purpose: nil) }
        let seals = SealStore(database: fixture.store, logger: Fixture.quiet)
        try await Fixture.until("a seal past seq \(second.seq)") { try await seals.latest().map { $0.treeHead.size >= second.seq } ?? false }

        let work = fixture.directory + "/reports"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        let common = [
            "--pki", fixture.directory + "/pki", "--subject-key", fixture.directory + "/subject.key", "--database-url", fixture.databaseURL,
            "--contracts", Fixture.repository.appendingPathComponent("contracts").path,
        ]
        for (index, (id, _)) in persons.enumerated() {
            let made = try await JisrCLI.run(["access-report", "--national-id", id, "--out", work + "/\(index).json"] + common)
            #expect(made.status == 0 && made.output.contains("signed in"), "\(made.output)")
        }
        let trust = ["--signing-ca", fixture.directory + "/ca.crt"]
        func verify(_ name: String) async throws -> (status: Int32, output: String) {
            try await JisrCLI.run(["access-report", "verify", work + "/\(name).json", "--signature", work + "/0.json.jws"] + trust)
        }
        let good = try await verify("0")
        #expect(good.status == 0 && good.output.contains("OK: "), "\(good.output)")
        // A key nobody trusts: refused although the signature itself holds.
        let rogue = try await JisrCLI.run(["access-report", "verify", work + "/0.json", "--signing-key", String(repeating: "ab", count: 32)])
        #expect(rogue.status == 1 && rogue.output.contains("not pinned"), "\(rogue.output)")

        let original = try JSONDecoder().decode(AccessReport.self, from: Data(contentsOf: URL(fileURLWithPath: work + "/0.json")))
        let other = try JSONDecoder().decode(AccessReport.self, from: Data(contentsOf: URL(fileURLWithPath: work + "/1.json")))
        #expect(good.output.contains("OK: \(original.rows.count) rows") && original.rows.count >= 2)
        func tampered(_ name: String, _ change: (inout AccessReport) -> Void) throws {
            var copy = original
            change(&copy)
            try Data(try AccessReport.encoded(copy)).write(to: URL(fileURLWithPath: work + "/\(name).json"))
        }
        try tampered("altered") { $0.rows[1].receipt.entry.partner = "EG-MOL" }
        try tampered("removed") { $0.rows.removeFirst() }
        try tampered("foreign") {
            $0.rows.append(other.rows[0])
            $0.entries.append(other.rows[0].receipt.seq)
        }
        try tampered("relabelled") { $0.rows[0].partner?.nameEn = "Somebody else" }
        for (name, finding) in [
            ("altered", "row 2 (seq \(original.rows[1].receipt.seq)): the entry does not hash"),
            ("removed", "seq \(original.rows[0].receipt.seq): the report lists this exchange but its row is missing"),
            ("foreign", "row \(original.rows.count + 1) (seq \(other.rows[0].receipt.seq)): the entry is not about this report's person"),
            ("relabelled", "signature: the signature does not match the report"),
        ] {
            let result = try await verify(name)
            #expect(result.status == 1 && result.output.contains("BROKEN: \(finding)"), "\(name): \(result.output)")
        }

        // The admin API signs its answer the same way, in a header.
        let reply = try await fixture.admin(.GET, "/admin/v1/access-report?nationalId=\(persons[0].0)")
        let jws = try #require(reply.headers.first(name: "X-JWS-Signature"))
        try Data(reply.body).write(to: URL(fileURLWithPath: work + "/api.json"))
        try Data(jws.utf8).write(to: URL(fileURLWithPath: work + "/api.json.jws"))
        let api = try await JisrCLI.run(["access-report", "verify", work + "/api.json"] + trust)
        #expect(api.status == 0, "\(api.output)")
    }

    @Test("An exchange under a purpose with a disclosure delay is absent from the report, without a trace, until the delay has passed")
    func deferred() async throws {
        let fixture = try await Self.fixture.value
        let (nationalId, _) = try await persons(fixture, count: 3)[2]
        let purpose = #"{"code":"labour-inspection","descriptionAr":"تفتيش العمل","descriptionEn":"Labour inspection","legalBasis":"Labour Code, art. 85"}"#
        #expect(try await fixture.admin(.POST, "/admin/v1/purposes", json: purpose).status == 201)
        let catalog = try ContractCatalog.load(from: Fixture.repository.appendingPathComponent("contracts"))
        let fields = try #require(catalog[EmploymentRecord.contract]).leafFields.filter { !$0.hasPrefix("employments.monthlySalary") }
        var grant = JSONObject()
        grant["partner"] = .string("LB-NSSF")
        grant["contract"] = .string("employment-record/1")
        grant["operations"] = .array([.string("query")])
        grant["purposes"] = .array([.string("labour-inspection")])
        grant["fields"] = .array(fields.map(JSONValue.string))
        grant["validFrom"] = .string("2026-01-01T00:00:00Z")
        grant["validUntil"] = .string("2036-01-01T00:00:00Z")
        grant["mouReference"] = .string("MoL-NSSF/2026/INSPECT")
        let granted = try await fixture.admin(.POST, "/admin/v1/agreements", json: JSONWriter.string(.object(grant)))
        #expect(granted.status == 201, "\(granted.text)")
        // A delay short enough to wait for; the test waits for the row itself, not for a guessed time.
        let delayed = try await fixture.admin(.PUT, "/admin/v1/purposes/labour-inspection/disclosure-delay", json: #"{"seconds":3,"legalBasis":"Labour Code, art. 85: inspection under way"}"#)
        #expect(delayed.status == 200 && delayed.json?["disclosureDelay"]?["seconds"] == .integer(3), "\(delayed.text)")
        try await fixture.registryInForce()

        let open = try await fixture.entry(of: try await fixture.get("/v1/employment-records?nationalId=\(nationalId)", as: "LB-NSSF"))
        let inspected = try await fixture.entry(
            of: try await fixture.get("/v1/employment-records?nationalId=\(nationalId)", as: "LB-NSSF", purpose: "labour-inspection"))
        #expect(inspected.draft.status == 200)

        let early = try await fixture.admin(.GET, "/admin/v1/access-report?nationalId=\(nationalId)")
        let report = try JSONDecoder().decode(AccessReport.self, from: Data(early.body))
        #expect(report.entries.contains(open.seq) && !report.entries.contains(inspected.seq))
        #expect(!report.rows.contains { $0.receipt.seq == inspected.seq })
        #expect(!early.text.contains("labour-inspection") && !early.text.contains("INSPECT"), "no hint of the withheld exchange")
        let withheld = try await fixture.admin(.GET, "/admin/v1/access-report/withheld?nationalId=\(nationalId)")
        #expect(withheld.json?.arrayValue?.map { $0["seq"] } == [.integer(inspected.seq)], "\(withheld.text)")
        #expect(withheld.json?.arrayValue?.first?["until"]?.stringValue != nil)

        try await Fixture.until("the inspection's exchange in the report once its delay passed", limit: .seconds(30), interval: .milliseconds(250)) {
            let later = try JSONDecoder().decode(AccessReport.self, from: Data(try await fixture.admin(.GET, "/admin/v1/access-report?nationalId=\(nationalId)").body))
            return later.rows.contains { $0.receipt.seq == inspected.seq && $0.purpose?.code == "labour-inspection" && $0.mouReference == "MoL-NSSF/2026/INSPECT" }
        }
        #expect(try await fixture.admin(.GET, "/admin/v1/access-report/withheld?nationalId=\(nationalId)").json?.arrayValue?.isEmpty == true)
    }

    @Test("The citizen portal asks over mTLS under access-report/1: JSON and XML valid (jsonschema, xmllint) and signed; the asking is in the next report")
    func portal() async throws {
        let fixture = try await Self.fixture.value
        let (nationalId, _) = try await persons(fixture)[0]
        // LB-FLIP stands in for the portal: a partner with a certificate, granted the access-report contract.
        let admin = try fixture.administration()
        let setup = Administrator(fingerprint: nil, name: "test: portal")
        if try await !admin.purposes().contains(where: { $0.code == "data-subject-access" }) {
            try await admin.addPurpose(Purpose(code: "data-subject-access", descriptionAr: "حق الاطلاع", descriptionEn: "Access by the person", legalBasis: "Law 81/2018"), by: setup)
        }
        let catalog = try ContractCatalog.load(from: Fixture.repository.appendingPathComponent("contracts"))
        let contract = try #require(catalog[AccessReport.contract])
        let refused = try await fixture.get("/v1/access-report?nationalId=\(nationalId)", as: "LB-FLIP", purpose: "data-subject-access")
        #expect(refused.status == 403, "no agreement, no report: \(refused.text)")
        try await admin.grant(
            Agreement(
                partnerID: "LB-FLIP", contract: contract.id, operations: [.query], purposes: ["data-subject-access"], fields: contract.leafFields,
                validFrom: Date().addingTimeInterval(-3600), validUntil: Date().addingTimeInterval(86_400), mouReference: "MoL internal"), by: setup)
        try await fixture.registryInForce()
        #expect(try await fixture.get("/v1/access-report?nationalId=12345", as: "LB-FLIP", purpose: "data-subject-access").status == 400)

        let work = fixture.directory + "/portal"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        // The report as the portal's contract validates it (named on failure, not only 500).
        let asAdmin = try JSONDecoder().decode(AccessReport.self, from: Data(try await fixture.admin(.GET, "/admin/v1/access-report?nationalId=\(nationalId)").body))
        let violations = contract.jsonSchema.validate(try DocumentEncoder.encode(asAdmin)).map { "\($0.keyword) at \($0.path)" }
        #expect(violations.isEmpty, "\(violations)")
        let schemas = Fixture.repository.appendingPathComponent("contracts/access-report/1")
        for (format, accept) in [("json", "application/json"), ("xml", "application/xml")] {
            let reply = try await fixture.get(
                "/v1/access-report?nationalId=\(nationalId)", as: "LB-FLIP", purpose: "data-subject-access", accept: accept)
            #expect(reply.status == 200, "\(format): \(reply.text.prefix(300))")
            let file = work + "/report.\(format)"
            try Data(reply.body).write(to: URL(fileURLWithPath: file))
            let (status, output) =
                format == "json"
                ? try await JisrCLI.runProgram(
                    "/usr/bin/env",
                    ["python3", "-c", "import json,sys,jsonschema; jsonschema.validate(json.load(open(sys.argv[2])), json.load(open(sys.argv[1])), format_checker=jsonschema.FormatChecker())",
                     schemas.appendingPathComponent("schema.json").path, file])
                : try await JisrCLI.runProgram("/usr/bin/xmllint", ["--noout", "--nonet", "--schema", schemas.appendingPathComponent("schema.xsd").path, file])
            #expect(status == 0, "\(format): \(output)")
            // Signed over the bytes as sent, whatever the format.
            let jws = try #require(reply.headers.first(name: "X-JWS-Signature"))
            #expect(throws: Never.self) { _ = try DetachedSignature.verify(jws, payload: reply.body) }
            let entry = try await fixture.entry(of: reply)
            #expect(entry.draft.contract == "access-report/1" && entry.draft.purpose == "data-subject-access")
        }
        let report = try JSONDecoder().decode(AccessReport.self, from: Data(try await fixture.admin(.GET, "/admin/v1/access-report?nationalId=\(nationalId)").body))
        #expect(report.rows.contains { $0.partner?.id == "LB-FLIP" && $0.contract == "access-report/1" }, "the portal's asking is in the next report")
    }
}
