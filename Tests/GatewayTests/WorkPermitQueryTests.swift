import Administration
import Foundation
import NIOHTTP1
import Registry
import Records
import Schemas
import Storage
import Testing

/// Partner ministries query permits of their own nationals only; paging is stable under concurrent changes.
@Suite("Work permit queries and row-level scope", .serialized)
struct WorkPermitQueryTests {
    static let fixture = Task { try await Fixture.make("permits") }
    static let purpose = "mou-work-permit-notification"

    func permitNumbers(_ fixture: Fixture, nationality: String) async throws -> [String] {
        var numbers: [String] = []
        for number in try await fixture.store.query(
            "SELECT w.permit_number FROM ministry.work_permits w JOIN ministry.persons p ON p.id = w.person_id WHERE p.nationality = \(nationality) ORDER BY w.id"
        ).decode(String.self) {
            numbers.append(number)
        }
        return numbers
    }

    @Test("Egypt sees an Egyptian's permit; a Syrian's permit answers exactly like one that does not exist")
    func scopeOnSinglePermits() async throws {
        let fixture = try await Self.fixture.value
        let egyptian = try #require(try await permitNumbers(fixture, nationality: "EG").first)
        let syrian = try #require(try await permitNumbers(fixture, nationality: "SY").first)
        for accept in ["application/json", "application/xml"] {
            let reply = try await fixture.get("/v1/work-permits/\(egyptian)", as: "EG-MOL", purpose: Self.purpose, accept: accept)
            #expect(reply.status == 200, "\(reply.text)")
            let contract = try #require(try ContractCatalog.load(from: Fixture.repository.appendingPathComponent("contracts"))[WorkPermit.contract])
            let document = try contract.read(reply.body, format: accept == "application/xml" ? .xml : .json)
            #expect(document["worker"]?["nationality"]?.stringValue == "EG")
            let outside = try await fixture.get("/v1/work-permits/\(syrian)", as: "EG-MOL", purpose: Self.purpose, accept: accept)
            let missing = try await fixture.get("/v1/work-permits/WP-1999-9999999", as: "EG-MOL", purpose: Self.purpose, accept: accept)
            #expect(outside.status == 404 && missing.status == 404)
            let strip = { (reply: Reply) in reply.text.replacingOccurrences(of: reply.messageId!.uuidString.lowercased(), with: "ID") }
            #expect(strip(outside) == strip(missing), "out of scope must be indistinguishable from absent")
            try await expectLogged(outside, fixture: fixture, status: 404, problem: "permit-not-found")
        }
    }

    @Test("Paging returns every Egyptian permit once and nothing else; another nationality is out of scope")
    func paging() async throws {
        let fixture = try await Self.fixture.value
        let expected = Set(try await permitNumbers(fixture, nationality: "EG"))
        #expect(expected.count > 20)
        var seen: [String] = []
        var cursor: String?
        repeat {
            let reply = try await fixture.get("/v1/work-permits?nationality=EG&limit=7" + (cursor.map { "&cursor=\($0)" } ?? ""), as: "EG-MOL", purpose: Self.purpose)
            #expect(reply.status == 200, "\(reply.text)")
            let items = reply.json?["items"]?.arrayValue ?? []
            #expect(items.allSatisfy { $0["worker"]?["nationality"]?.stringValue == "EG" })
            seen += items.compactMap { $0["permitNumber"]?.stringValue }
            cursor = reply.json?["nextCursor"]?.stringValue
        } while cursor != nil
        #expect(seen.count == expected.count && Set(seen) == expected)
        // Without a nationality, the scope applies; asking for Syrians gives nothing.
        let unfiltered = try await fixture.get("/v1/work-permits?limit=500", as: "EG-MOL", purpose: Self.purpose)
        #expect((unfiltered.json?["items"]?.arrayValue ?? []).allSatisfy { $0["worker"]?["nationality"]?.stringValue == "EG" })
        let syrians = try await fixture.get("/v1/work-permits?nationality=SY", as: "EG-MOL", purpose: Self.purpose)
        #expect(syrians.status == 200 && syrians.json?["items"]?.arrayValue?.isEmpty == true)
        let xml = try await fixture.get("/v1/work-permits?nationality=EG&limit=2", as: "EG-MOL", purpose: Self.purpose, accept: "application/xml")
        #expect(xml.text.contains("<workPermitPage xmlns=\"urn:lb:labour:jisr:work-permit:1\">"))
    }

    @Test("A permit changed while a client pages is not skipped: it comes again after the cursor")
    func stableUnderConcurrentChanges() async throws {
        let fixture = try await Self.fixture.value
        let expected = Set(try await permitNumbers(fixture, nationality: "EG"))
        let first = try await fixture.get("/v1/work-permits?nationality=EG&limit=10", as: "EG-MOL", purpose: Self.purpose)
        var seen = (first.json?["items"]?.arrayValue ?? []).compactMap { $0["permitNumber"]?.stringValue }
        var cursor = first.json?["nextCursor"]?.stringValue
        // The ministry changes one permit already seen and one not yet seen.
        let changedSeen = try #require(seen.first)
        let changedUnseen = try #require(expected.subtracting(seen).sorted().first)
        try await fixture.sql("UPDATE ministry.work_permits SET status = 'cancelled', updated_at = \(fixture.sqlNow) WHERE permit_number IN ('\(changedSeen)', '\(changedUnseen)')")
        while let next = cursor {
            let reply = try await fixture.get("/v1/work-permits?nationality=EG&limit=10&cursor=\(next)", as: "EG-MOL", purpose: Self.purpose)
            seen += (reply.json?["items"]?.arrayValue ?? []).compactMap { $0["permitNumber"]?.stringValue }
            cursor = reply.json?["nextCursor"]?.stringValue
        }
        #expect(Set(seen) == expected, "no permit skipped")
        #expect(seen.filter { $0 == changedSeen }.count == 2, "the permit changed after it was seen comes again")
        #expect(seen.filter { $0 == changedUnseen }.count == 1)
    }

    @Test("A cursor is a position: any well-formed one is answered with what follows it, inside the caller's scope; a malformed one is refused")
    func cursors() async throws {
        let fixture = try await Self.fixture.value
        let numbers = { (reply: Reply) in reply.json?["items"]?.arrayValue?.compactMap { $0["permitNumber"]?.stringValue } ?? [] }
        let first = try await fixture.get("/v1/work-permits?nationality=EG&limit=3", as: "EG-MOL", purpose: Self.purpose)
        let cursor = try #require(first.json?["nextCursor"]?.stringValue)
        #expect(cursor.wholeMatch(of: /[0-9]{1,18}-[0-9]{1,18}/) != nil, "the form the document states: \(cursor)")
        // The same position with another filter: the permits after it that the new filter and the scope allow.
        let reused = try await fixture.get("/v1/work-permits?limit=500&cursor=\(cursor)", as: "EG-MOL", purpose: Self.purpose)
        #expect(reused.status == 200, "\(reused.text)")
        #expect(Set(numbers(reused)).isDisjoint(with: numbers(first)), "nothing before the position comes again")
        #expect(reused.json?["items"]?.arrayValue?.allSatisfy { $0["worker"]?["nationality"]?.stringValue == "EG" } == true, "only the caller's scope")
        // A position no page gave: before everything is the first page; after everything is an empty page.
        let origin = try await fixture.get("/v1/work-permits?nationality=EG&limit=3&cursor=0-0", as: "EG-MOL", purpose: Self.purpose)
        #expect(origin.status == 200 && numbers(origin) == numbers(first))
        let end = try await fixture.get("/v1/work-permits?nationality=EG&cursor=999999999999999999-1", as: "EG-MOL", purpose: Self.purpose)
        #expect(end.status == 200 && numbers(end).isEmpty && end.json?["nextCursor"] == nil)
        for malformed in ["MTcwMDAwMDAwMDAwMDAwMC4xLjAw", "1-", "-1", "1.2", "1234567890123456789-1", "1-2-3"] {
            #expect(try await fixture.get("/v1/work-permits?nationality=EG&cursor=\(malformed)", as: "EG-MOL", purpose: Self.purpose).status == 400, "\(malformed)")
        }
        #expect(try await fixture.get("/v1/work-permits?nationality=egypt", as: "EG-MOL", purpose: Self.purpose).status == 400)
        #expect(try await fixture.get("/v1/work-permits?changedSince=yesterday", as: "EG-MOL", purpose: Self.purpose).status == 400)
    }

    @Test("A changedSince with a seventy-digit fraction is read, not handed to ICU (regression: SIGFPE stopped the gateway; scripts/fuzz query)")
    func longFraction() async throws {
        let fixture = try await Self.fixture.value
        // Fuzz/regressions/query/icu-fraction-sigfpe, as a partner would send it.
        let finding = try String(contentsOf: Fixture.repository.appendingPathComponent("Fuzz/regressions/query/icu-fraction-sigfpe"), encoding: .utf8)
        let reply = try await fixture.get("/v1/work-permits?nationality=EG&\(finding)", as: "EG-MOL", purpose: Self.purpose)
        #expect(reply.status == 200, "\(reply.text)")
        let page = try await fixture.get("/v1/work-permits?nationality=EG&limit=3", as: "EG-MOL", purpose: Self.purpose)
        #expect(page.status == 200)
    }

    @Test("A scope applies to employment records too: a Lebanese person's record answers Egypt like an unknown person's")
    func scopeOnEmploymentRecords() async throws {
        let fixture = try await Self.fixture.value
        let admin = try fixture.administration()
        let catalog = try ContractCatalog.load(from: Fixture.repository.appendingPathComponent("contracts"))
        let setup = Administrator(fingerprint: nil, name: "scope test")
        try await admin.grant(
            Agreement(
                partnerID: "EG-MOL", contract: EmploymentRecord.contract, operations: [.query], purposes: [Self.purpose],
                fields: try #require(catalog[EmploymentRecord.contract]).leafFields, validFrom: Date().addingTimeInterval(-60),
                validUntil: Date().addingTimeInterval(86_400), mouReference: "MoU LB-EG", scopeNationalities: ["EG"]),
            by: setup)
        let (passport, nationality) = try #require(
            try await fixture.store.query(
                "SELECT passport_number, nationality FROM ministry.persons WHERE nationality = 'EG' AND passport_number IS NOT NULL ORDER BY id LIMIT 1"
            ).decode((String, String).self).first)
        let egyptian = "/v1/employment-records?passportNumber=\(passport)&nationality=\(nationality)"
        try await Fixture.until("the agreement is in force") { try await fixture.get(egyptian, as: "EG-MOL", purpose: Self.purpose).status == 200 }
        let lebanese = try #require(
            try await fixture.store.query("SELECT national_id FROM ministry.persons WHERE nationality = 'LB' AND national_id IS NOT NULL ORDER BY id LIMIT 1")
                .decode(String.self).first)
        for accept in ["application/json", "application/xml"] {
            let outside = try await fixture.get("/v1/employment-records?nationalId=\(lebanese)", as: "EG-MOL", purpose: Self.purpose, accept: accept)
            let unknown = try await fixture.get("/v1/employment-records?nationalId=999999999999", as: "EG-MOL", purpose: Self.purpose, accept: accept)
            #expect(outside.status == 404 && unknown.status == 404, "\(outside.text)")
            let strip = { (reply: Reply) in reply.text.replacingOccurrences(of: reply.messageId!.uuidString.lowercased(), with: "ID") }
            #expect(strip(outside) == strip(unknown), "out of scope must be indistinguishable from absent")
            try await expectLogged(outside, fixture: fixture, status: 404, problem: "person-not-found")
        }
    }

    @Test("A scope that cannot apply is refused at grant time, and one stored before the check refuses exchanges (403)")
    func scopeWhereItCannotApply() async throws {
        let fixture = try await Self.fixture.value
        let admin = try fixture.administration()
        let catalog = try ContractCatalog.load(from: Fixture.repository.appendingPathComponent("contracts"))
        let setup = Administrator(fingerprint: nil, name: "scope test")
        let establishment = Agreement(
            partnerID: "LB-FLIP", contract: Establishment.contract, operations: [.query], purposes: ["nssf-contribution-verification"],
            fields: try #require(catalog[Establishment.contract]).leafFields, validFrom: Date().addingTimeInterval(-60),
            validUntil: Date().addingTimeInterval(86_400), mouReference: "T", scopeNationalities: ["LB"])
        var send = establishment
        send.contract = WorkPermitEvent.contract
        send.operations = [.send]
        send.purposes = [Self.purpose]
        send.fields = try #require(catalog[WorkPermitEvent.contract]).leafFields
        for agreement in [establishment, send] {
            do {
                try await admin.grant(agreement, by: setup)
                Issue.record("a scope on \(agreement.contract) \(agreement.operations) was accepted")
            } catch let error as AdministrationError {
                #expect(error.code == "scope-not-applicable", "\(error)")
            }
        }
        // Stored as the review found it (granted before the check): the exchange is refused, not answered unscoped.
        try await fixture.store.query("UPDATE agreements SET scope_nationalities = \(["LB"]) WHERE partner_id = 'LB-FLIP' AND contract = 'establishment'")
        let path = "/v1/establishments/\(try #require(fixture.samples.establishmentNumbers.first))"
        var reply = try await fixture.get(path, as: "LB-FLIP")
        try await Fixture.until("the change is in force") {
            reply = try await fixture.get(path, as: "LB-FLIP")
            return reply.status == 403
        }
        #expect(reply.problemType?.hasSuffix("/agreement-scope-not-applicable") == true, "\(reply.text)")
        try await expectLogged(reply, fixture: fixture, status: 403, problem: "agreement-scope-not-applicable")
        try await fixture.sql("UPDATE agreements SET scope_nationalities = NULL WHERE partner_id = 'LB-FLIP' AND contract = 'establishment'")
    }
}
