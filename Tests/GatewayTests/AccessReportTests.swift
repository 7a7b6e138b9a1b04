import Foundation
import Gateway
import MessageLog
import NIOHTTP1
import Records
import Schemas
import Storage
import Testing
import Transparency

/// A person's access report, as the ministry makes it (`jisr access-report`, `GET /admin/v1/access-report`):
/// exactly their exchanges, each explained and with its receipt, nothing about anyone else.
@Suite("A person's access report", .serialized)
struct AccessReportTests {
    static let fixture = Task { try await Fixture.make("report", sealing: Fixture.sealing(every: 5)) }

    /// Two persons with NSSF numbers, so that each has two identifiers.
    func twoPersons(_ fixture: Fixture) async throws -> [(String, EmploymentRecord)] {
        let records = DatabaseRecordSource(database: fixture.store, logger: Fixture.quiet)
        var found: [(String, EmploymentRecord)] = []
        for id in fixture.samples.nationalIds where found.count < 2 {
            if let record = try await records.employmentRecord(for: .nationalId(id)), record.person.nssfNumber != nil, !record.employments.isEmpty {
                found.append((id, record))
            }
        }
        try #require(found.count == 2)
        return found
    }

    @Test("Exactly the person's exchanges — by national id, by NSSF number, refused — each explained, with its receipt; nothing of another person")
    func report() async throws {
        let fixture = try await Self.fixture.value
        let persons = try await twoPersons(fixture)
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
}
