import Administration
import Foundation
import Gateway
import MessageLog
import NIOHTTP1
import Records
import Schemas
import Registry
import Storage
import Testing
import Transparency

/// A report never accuses an honest log: what the registry says today (a purpose it never knew, a description
/// rewritten, a partner renamed or retired, an agreement revoked) is presentation, and every row still verifies.
///
/// A fixture of its own: it renames and retires partners that other suites rely on.
@Suite("A person's report verifies whatever the registry says today", .serialized)
struct HonestReportTests {
    static let fixture = Task { try await Fixture.make("honest", sealing: Fixture.sealing(every: 5)) }

    @Test("An unknown purpose, a rewritten purpose, a renamed and a retired partner, a revoked agreement: the signed report still verifies")
    func registryChangesNeverBreakAReport() async throws {
        let fixture = try await Self.fixture.value
        let nationalId = try #require(fixture.samples.nationalIds.first)
        let typo = "nssf-contribution-verificaton"
        let refused = try await fixture.get("/v1/employment-records?nationalId=\(nationalId)", as: "LB-FLIP", purpose: typo)
        #expect(refused.status == 403 && refused.problemType?.hasSuffix("/purpose-not-granted") == true, "\(refused.text)")
        #expect(try await fixture.get("/v1/employment-records?nationalId=\(nationalId)", as: "LB-FLIP").status == 200)
        let last = try await fixture.entry(of: try await fixture.get("/v1/employment-records?nationalId=\(nationalId)", as: "LB-NSSF"))
        for _ in 0..<5 { _ = try await fixture.get("/v1/contracts", as: "EG-MOL", purpose: nil) }
        let seals = SealStore(database: fixture.store, logger: Fixture.quiet)
        try await Fixture.until("a seal past seq \(last.seq)") { try await seals.latest().map { $0.treeHead.size >= last.seq } ?? false }

        let work = fixture.directory + "/honest"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        var made = 0
        /// A signed report made now, verified offline as the person (or an auditor) would.
        func reportVerifies(_ when: String) async throws -> AccessReport {
            made += 1
            let file = work + "/\(made).json"
            let result = try await JisrCLI.run(
                ["access-report", "--national-id", nationalId, "--out", file, "--pki", fixture.directory + "/pki", "--subject-key", fixture.directory + "/subject.key",
                 "--database-url", fixture.databaseURL, "--contracts", Fixture.repository.appendingPathComponent("contracts").path])
            #expect(result.status == 0, "\(when): \(result.output)")
            let verified = try await JisrCLI.run(["access-report", "verify", file, "--signing-ca", fixture.directory + "/ca.crt"])
            #expect(verified.status == 0 && verified.output.contains("OK: "), "\(when): \(verified.output)")
            return try JSONDecoder().decode(AccessReport.self, from: Data(contentsOf: URL(fileURLWithPath: file)))
        }

        // A code the registry never knew: the row carries it as the entry recorded it, with no labels.
        let first = try await reportVerifies("after an exchange under an unknown purpose")
        let unknown = try #require(first.rows.first { $0.purpose?.code == typo })
        #expect(unknown.outcome == "refused" && unknown.purpose?.en == nil && unknown.purpose?.legalBasis == nil)
        #expect(unknown.partner?.id == "LB-FLIP" && unknown.partner?.nameEn == "Toggled")
        let page = String(decoding: try AccessReport.rendered(first, as: .html, language: .en, contract: try accessReportContract()), as: UTF8.self)
        #expect(page.contains("a purpose the ministry does not register") && page.contains(typo), "the page names the unknown code as such")

        try await fixture.sql(
            "UPDATE purposes SET description_en = 'Verification of contributions', legal_basis = 'Social Security Code, art. 68' WHERE code = 'nssf-contribution-verification'")
        let rewritten = try await reportVerifies("after a purpose's description and legal basis changed")
        #expect(rewritten.rows.contains { $0.purpose?.code == "nssf-contribution-verification" && $0.purpose?.legalBasis == "Social Security Code, art. 68" })

        // An Arabic page cites the law in Arabic where the purpose has it, the English one where it has not.
        try await fixture.sql("UPDATE purposes SET legal_basis_ar = 'قانون الضمان الاجتماعي، المادة 68' WHERE code = 'nssf-contribution-verification'")
        let arabic = try await reportVerifies("after the purpose gained an Arabic legal basis")
        let arabicPage = String(decoding: try AccessReport.rendered(arabic, as: .html, language: .ar, contract: try accessReportContract()), as: UTF8.self)
        #expect(arabicPage.contains("قانون الضمان الاجتماعي، المادة 68") && !arabicPage.contains("Social Security Code, art. 68"))
        let englishPage = String(decoding: try AccessReport.rendered(arabic, as: .html, language: .en, contract: try accessReportContract()), as: UTF8.self)
        #expect(englishPage.contains("Social Security Code, art. 68"))

        try await fixture.sql("UPDATE partners SET name_en = 'Flip Institute', name_ar = 'معهد' WHERE id = 'LB-FLIP'")
        let renamed = try await reportVerifies("after a partner was renamed")
        #expect(renamed.rows.contains { $0.partner?.id == "LB-FLIP" && $0.partner?.nameEn == "Flip Institute" })

        let admin = try fixture.administration()
        let setup = Administrator(fingerprint: nil, name: "test: registry changes")
        _ = try await admin.retire(partner: "LB-FLIP", by: setup)
        _ = try await reportVerifies("after a partner was retired")

        for agreement in try await admin.agreements(partner: "LB-NSSF") { _ = try await admin.revokeAgreement(agreement.id, by: setup) }
        let revoked = try await reportVerifies("after the agreement was revoked")
        #expect(revoked.rows.contains { $0.receipt.seq == last.seq && $0.mouReference == "TEST/1" }, "a revoked agreement still explains the row")
        #expect(revoked.rows.count >= 3)
    }

    @Test("A report and the tree head it cites are one snapshot: while exchanges and seals go on, every entry about the person that the head covers is in the report")
    func oneSnapshot() async throws {
        let fixture = try await Self.fixture.value
        let nationalId = fixture.samples.nationalIds[1]
        for round in 0..<25 {
            // An exchange about the person and another partner's traffic (which seals) race the report.
            async let asked = fixture.get("/v1/employment-records?nationalId=\(nationalId)", as: "LB-NSSF")
            async let other = fixture.get("/v1/contracts", as: "EG-MOL", purpose: nil)
            async let reply = fixture.admin(.GET, "/admin/v1/access-report?nationalId=\(nationalId)")
            let (_, _, answer) = try await (asked, other, reply)
            #expect(answer.status == 200, "\(answer.text)")
            let report = try JSONDecoder().decode(AccessReport.self, from: Data(answer.body))
            guard let head = report.treeHead else { continue }
            let covered = try await fixture.log().entries(concerning: report.subject.references).map(\.seq).filter { $0 <= head.size }
            #expect(Set(covered).isSubset(of: Set(report.entries)), "round \(round): the head of \(head.size) entries covers \(Set(covered).subtracting(report.entries).sorted()) which the report lacks")
            #expect(report.rows.allSatisfy { $0.receipt.seq > head.size || $0.receipt.inclusionProof != nil }, "every covered row has its proof")
        }
    }

    @Test("A disclosure delay is fixed when the exchange happens: lifting it reveals nothing withheld, adding one hides nothing shown; the moment is in the entry's hash; the change is audited")
    func delayFixedAtTheExchange() async throws {
        let fixture = try await Self.fixture.value
        let nationalId = fixture.samples.nationalIds[2]
        let admin = try fixture.administration()
        let setup = Administrator(fingerprint: nil, name: "test: delays")
        let inspection = DisclosureDelay(seconds: 180 * 86_400, legalBasis: "Labour Code, art. 85: inspection under way")
        try await admin.addPurpose(
            Purpose(code: "labour-inspection", descriptionAr: "تفتيش العمل", descriptionEn: "Labour inspection", legalBasis: "Labour Code, art. 85",
                disclosureDelay: inspection), by: setup)
        try await admin.addPurpose(Purpose(code: "statistics", descriptionAr: "إحصاء", descriptionEn: "Statistics", legalBasis: "Law 1/2026"), by: setup)
        let catalog = try ContractCatalog.load(from: Fixture.repository.appendingPathComponent("contracts"))
        let contract = try #require(catalog[EmploymentRecord.contract])
        try await admin.grant(
            Agreement(
                partnerID: "EG-MOL", contract: contract.id, operations: [.query], purposes: ["labour-inspection", "statistics"],
                fields: contract.leafFields.filter { !$0.hasPrefix("employments.monthlySalary") }, validFrom: Date().addingTimeInterval(-3600),
                validUntil: Date().addingTimeInterval(86_400), mouReference: "TEST/DELAY"), by: setup)
        try await fixture.registryInForce()
        let path = "/v1/employment-records?nationalId=\(nationalId)"
        let withheld = try await fixture.entry(of: try await fixture.get(path, as: "EG-MOL", purpose: "labour-inspection"))
        let shown = try await fixture.entry(of: try await fixture.get(path, as: "EG-MOL", purpose: "statistics"))
        #expect(withheld.draft.status == 200 && shown.draft.status == 200)
        #expect(withheld.format == 3 && shown.format == 3)
        let moment = try #require(withheld.draft.disclosableAt, "the entry records its moment")
        #expect(abs(moment - withheld.recordedAt - inspection.seconds * 1_000_000) < 60_000_000, "about 180 days after the exchange")
        #expect(shown.draft.disclosableAt == nil)

        func reported() async throws -> Set<Int64> {
            let reply = try await fixture.admin(.GET, "/admin/v1/access-report?nationalId=\(nationalId)")
            #expect(reply.status == 200, "\(reply.text)")
            return Set(try JSONDecoder().decode(AccessReport.self, from: Data(reply.body)).entries)
        }
        var seen = try await reported()
        #expect(!seen.contains(withheld.seq) && seen.contains(shown.seq))

        // The delay lifted, and one put on the other purpose: the past stays as it was, later exchanges follow.
        _ = try await admin.setDisclosureDelay(nil, purpose: "labour-inspection", by: setup)
        _ = try await admin.setDisclosureDelay(inspection, purpose: "statistics", by: setup)
        try await fixture.registryInForce()
        seen = try await reported()
        #expect(!seen.contains(withheld.seq), "lifting a delay reveals no exchange withheld under it")
        #expect(seen.contains(shown.seq), "adding a delay hides no exchange already shown")
        let later = try await fixture.entry(of: try await fixture.get(path, as: "EG-MOL", purpose: "labour-inspection"))
        let laterHidden = try await fixture.entry(of: try await fixture.get(path, as: "EG-MOL", purpose: "statistics"))
        seen = try await reported()
        #expect(seen.contains(later.seq) && !seen.contains(laterHidden.seq), "each change applies from then on")
        let listed = try await fixture.admin(.GET, "/admin/v1/access-report/withheld?nationalId=\(nationalId)")
        #expect(Set(listed.json?.arrayValue?.compactMap { item -> Int64? in if case .integer(let seq) = item["seq"] { seq } else { nil } } ?? []) == [withheld.seq, laterHidden.seq], "\(listed.text)")

        // Each change of delay is an administrative entry with the delay before and after.
        let changes = try await fixture.log().entries(from: 1, through: try await fixture.log().size(), partner: nil)
            .filter { $0.draft.operation == "purpose.set-disclosure-delay" }
        #expect(changes.count == 2 && changes.allSatisfy { ($0.draft.detail ?? "").contains("\"before\"") && ($0.draft.detail ?? "").contains("\"after\"") })

        // The moment is covered by the hash: a DBA who moves it is named by verification (and put back for the others).
        try await fixture.sql("UPDATE message_log SET disclosable_at = NULL WHERE seq = \(withheld.seq)")
        let broken = try await fixture.log().verify()
        #expect(broken.firstBreak?.seq == withheld.seq, "\(String(describing: broken.firstBreak))")
        try await fixture.sql("UPDATE message_log SET disclosable_at = \(moment) WHERE seq = \(withheld.seq)")
        #expect(try await fixture.log().verify().firstBreak == nil)
    }

    @Test("A withheld notice stays withheld when a clerk reads it; a report names the ministry, never its staff; looking at what is withheld is logged")
    func withheldLeaksThroughNothing() async throws {
        let fixture = try await Self.fixture.value
        let admin = try fixture.administration()
        let setup = Administrator(fingerprint: nil, name: "test: withheld notices")
        try await admin.addPurpose(
            Purpose(
                code: "inspection-notice", descriptionAr: "إشعار تفتيش", descriptionEn: "Inspection notice", legalBasis: "Labour Code, art. 85",
                disclosureDelay: DisclosureDelay(seconds: 180 * 86_400, legalBasis: "Labour Code, art. 85: inspection under way")), by: setup)
        let catalog = try ContractCatalog.load(from: Fixture.repository.appendingPathComponent("contracts"))
        let contract = try #require(catalog[WorkPermitEvent.contract])
        try await admin.grant(
            Agreement(
                partnerID: "EG-MOL", contract: contract.id, operations: [.send], purposes: ["inspection-notice"], fields: contract.leafFields,
                validFrom: Date().addingTimeInterval(-60), validUntil: Date().addingTimeInterval(86_400), mouReference: "MoU LB-EG/INSPECT"), by: setup)
        try await fixture.registryInForce()
        let sent = try await fixture.send(Array(InboundSendTests.notice.utf8), key: "withheld-\(UUID())", purpose: "inspection-notice")
        #expect(sent.status == 202, "\(sent.text)")
        let messageId = try #require(sent.messageId)
        let sendEntry = try await fixture.entry(of: sent)
        #expect(sendEntry.draft.disclosableAt != nil)

        let person = "/admin/v1/access-report?passportNumber=EP1234567&nationality=ET"
        func report() async throws -> (AccessReport, String) {
            let reply = try await fixture.admin(.GET, person)
            #expect(reply.status == 200, "\(reply.text)")
            return (try JSONDecoder().decode(AccessReport.self, from: Data(reply.body)), reply.text)
        }
        // A clerk opens the notice: the reading concerns the same worker, and is withheld as long as the notice is.
        #expect(try await fixture.admin(.GET, "/admin/v1/inbox/\(messageId.uuidString.lowercased())").status == 200)
        let reading = try #require(
            try await fixture.store.query("SELECT seq FROM message_log WHERE operation = 'inbox.read' AND correlation_id = \(messageId)").first?[0].decode(Int64.self))
        #expect(try await fixture.log().entries(from: reading, through: reading, partner: nil).first?.draft.disclosableAt == sendEntry.draft.disclosableAt)
        let (first, _) = try await report()
        let (second, text) = try await report()
        for shown in [first, second] {
            #expect(!shown.entries.contains(sendEntry.seq) && !shown.entries.contains(reading), "neither the notice nor its reading")
            #expect(!shown.rows.contains { $0.receipt.entry.correlationId == messageId })
        }
        #expect(!text.contains("inspection-notice") && !text.contains("INSPECT"), "no hint of the withheld notice")

        // The ministry's own rows (the first report's asking) say the ministry, never who on its staff: no detail.
        let asked = try #require(second.rows.first { $0.direction == "admin" && $0.operation == "access-report" })
        #expect(asked.partner == nil && asked.receipt.entry.detail == nil && asked.receipt.entry.detailDigest != nil)
        #expect(!text.contains("admin-1") && !text.contains("cli:"), "no administrator's name in the report")

        // Looking at what is withheld is itself logged, about the worker, and withheld as long as what it lists.
        let before = try await fixture.log().size()
        let listed = try await fixture.admin(.GET, "/admin/v1/access-report/withheld?passportNumber=EP1234567&nationality=ET")
        #expect(listed.status == 200 && listed.json?.arrayValue?.count ?? 0 >= 2, "the notice and its reading: \(listed.text)")
        let looked = try #require(try await fixture.log().entries(from: before + 1, through: try await fixture.log().size(), partner: nil)
            .first { $0.draft.operation == "access-report.withheld" })
        #expect(!looked.draft.subjects.isEmpty && looked.draft.disclosableAt == sendEntry.draft.disclosableAt)
        let (third, _) = try await report()
        #expect(!third.entries.contains(looked.seq))
        #expect(try await fixture.log().verify().firstBreak == nil)
    }

    @Test("An agreement that grants receive names the one purpose its deliveries are made under")
    func deliveryPurposeIsChosen() async throws {
        let fixture = try await Self.fixture.value
        let catalog = try ContractCatalog.load(from: Fixture.repository.appendingPathComponent("contracts"))
        let contract = try #require(catalog[WorkPermitEvent.contract])
        let refused = await #expect(throws: AdministrationError.self) {
            try await fixture.administration().grant(
                Agreement(
                    partnerID: "QA-MOL", contract: contract.id, operations: [.receive], purposes: ["mou-work-permit-notification", "nssf-contribution-verification"],
                    fields: contract.leafFields, validFrom: Date().addingTimeInterval(-3600), validUntil: Date().addingTimeInterval(86_400), mouReference: "TEST/QA"),
                by: Administrator(fingerprint: nil, name: "test: delivery purpose"))
        }
        #expect(refused?.code == "ambiguous-delivery-purpose")
        #expect(Agreement(partnerID: "QA-MOL", contract: contract.id, operations: [.receive], purposes: ["mou-work-permit-notification"], fields: [],
            validFrom: Date(), validUntil: Date(), mouReference: "x").deliveryPurpose == "mou-work-permit-notification")
    }

    func accessReportContract() throws -> Contract {
        try #require(try ContractCatalog.load(from: Fixture.repository.appendingPathComponent("contracts"))[AccessReport.contract])
    }
}
