import Administration
import Foundation
import Gateway
import Logging
import MessageLog
import NIOHTTP1
import Records
import Registry
import Schemas
import Storage
import Testing

/// What each log entry records about the people it concerns (format `jisr-log/2` and later): the agreement that decided it,
/// exactly the fields that left, and a subject reference for every identifier of every person it disclosed — so
/// that a person's exchanges are found by any of their identifiers, refused ones included.
@Suite("The disclosure trail of each entry")
struct DisclosureTrailTests {
    static let fixture = Task { () throws -> Fixture in
        let fixture = try await Fixture.make("trail")
        try await fixture.grantEgyptSend()
        try await fixture.registryInForce()
        return fixture
    }

    func referencer(_ fixture: Fixture) throws -> SubjectReferencer { SubjectReferencer(key: try SubjectKeyFile.read(fixture.directory + "/subject.key")) }

    func reference(_ fixture: Fixture, _ subject: (kind: String, identifier: String)) throws -> String {
        try referencer(fixture).reference(kind: subject.kind, identifier: subject.identifier)
    }

    /// The entries the subject index lists under a reference.
    func indexed(_ fixture: Fixture, _ reference: String) async throws -> Set<Int64> {
        Set(try await fixture.store.query("SELECT seq FROM log_subjects WHERE subject_reference = \(reference)").decode(Int64.self))
    }

    /// Whether the JSON document holds a value at `path` (arrays add no step).
    static func holds(_ path: String, in value: JSONValue) -> Bool {
        let parts = path.split(separator: ".").map(String.init)
        func walk(_ value: JSONValue, _ rest: ArraySlice<String>) -> Bool {
            if let elements = value.arrayValue { return elements.contains { walk($0, rest) } }
            guard let first = rest.first else { return true }
            guard let member = value[first] else { return false }
            return walk(member, rest.dropFirst())
        }
        return walk(value, parts[...])
    }

    @Test("A lookup records its agreement, exactly the fields sent, and every identifier of the person; found again by each")
    func lookup() async throws {
        let fixture = try await Self.fixture.value
        let records = DatabaseRecordSource(database: fixture.store, logger: Fixture.quiet)
        // A person with an NSSF number, so that two identifiers name them.
        var chosen: (String, EmploymentRecord)?
        for id in fixture.samples.nationalIds {
            if let record = try await records.employmentRecord(for: .nationalId(id)), record.person.nssfNumber != nil, !record.employments.isEmpty {
                chosen = (id, record)
                break
            }
        }
        let (nationalId, record) = try #require(chosen)
        let reply = try await fixture.get("/v1/employment-records?nationalId=\(nationalId)", as: "LB-NSSF")
        #expect(reply.status == 200, "\(reply.text)")
        let entry = try await fixture.entry(of: reply)
        #expect(entry.format == LogEntry.currentFormat)
        let agreements = try await fixture.administration().agreements(partner: "LB-NSSF")
        let agreement = try #require(agreements.first { $0.contract == EmploymentRecord.contract })
        #expect(entry.draft.agreementId == agreement.id)
        let fields = try #require(entry.draft.disclosedFields)
        let document = try #require(reply.json)
        #expect(fields.contains("person.name.latin.given") && fields.contains("employments.establishment.registrationNumber"), "\(fields)")
        #expect(!fields.contains { $0.hasPrefix("employments.monthlySalary") }, "salary is not granted, so not disclosed")
        #expect(fields.allSatisfy { Self.holds($0, in: document) }, "every field recorded was in the answer")
        #expect(fields.allSatisfy { agreement.fields.contains($0) }, "and granted")
        // Every identifier of the person is a subject of the entry, and the index finds the entry under each.
        let subjects = try PersonKey.keys(of: record.person).map { try reference(fixture, $0.subject) }
        #expect(subjects.count >= 2)
        for subject in subjects {
            #expect(entry.draft.canonicalSubjects.contains(subject))
            #expect(try await indexed(fixture, subject).contains(entry.seq))
        }
        // Looked up by the NSSF number, the exchange is found under the national id too.
        let number = try #require(record.person.nssfNumber)
        let second = try await fixture.get("/v1/employment-records?nssfNumber=\(number)", as: "LB-NSSF")
        let secondEntry = try await fixture.entry(of: second)
        #expect(try await indexed(fixture, try reference(fixture, PersonKey.nationalId(nationalId).subject)).contains(secondEntry.seq))
        // No identifier in clear in either entry.
        for value in [nationalId, number] {
            let found = try await fixture.store.query(
                """
                SELECT count(*) FROM message_log WHERE coalesce(subjects, '') LIKE \("%" + value + "%") OR coalesce(disclosed_fields, '') LIKE \("%" + value + "%")
                    OR coalesce(case_reference, '') LIKE \("%" + value + "%") OR coalesce(detail, '') LIKE \("%" + value + "%")
                """
            ).first?[0].decode(Int64.self)
            #expect(found == 0)
        }
    }

    @Test("A refused lookup records the person asked for and discloses nothing; a lookup that found nobody, the identifier asked for")
    func refusedAndUnknown() async throws {
        let fixture = try await Self.fixture.value
        let nationalId = try #require(fixture.samples.nationalIds.last)
        let refused = try await fixture.get("/v1/employment-records?nationalId=\(nationalId)", as: "LB-NSSF", purpose: "mou-work-permit-notification")
        #expect(refused.status == 403)
        let entry = try await fixture.entry(of: refused)
        #expect(entry.draft.disclosedFields == nil)
        let asked = try reference(fixture, PersonKey.nationalId(nationalId).subject)
        #expect(try await indexed(fixture, asked).contains(entry.seq))

        let unknown = try await fixture.get("/v1/employment-records?nationalId=999999999999", as: "LB-NSSF")
        #expect(unknown.status == 404)
        let unknownEntry = try await fixture.entry(of: unknown)
        #expect(unknownEntry.draft.disclosedFields == nil && unknownEntry.draft.agreementId != nil)
        #expect(try await indexed(fixture, try reference(fixture, PersonKey.nationalId("999999999999").subject)).contains(unknownEntry.seq))
    }

    @Test("A page of permits names every worker on it, by permit and by passport; a permit fetched by number, refused or not, by its number")
    func pagesAndPermits() async throws {
        let fixture = try await Self.fixture.value
        let page = try await fixture.get("/v1/work-permits?limit=5", as: "EG-MOL", purpose: "mou-work-permit-notification")
        #expect(page.status == 200, "\(page.text)")
        let items = try #require(page.json?["items"]?.arrayValue)
        #expect(!items.isEmpty)
        let entry = try await fixture.entry(of: page)
        for item in items {
            let number = try #require(item["permitNumber"]?.stringValue)
            let passport = try #require(item["worker"]?["passportNumber"]?.stringValue)
            let nationality = try #require(item["worker"]?["nationality"]?.stringValue)
            #expect(entry.draft.canonicalSubjects.contains(try reference(fixture, PersonKey.permitSubject(number))))
            #expect(try await indexed(fixture, try reference(fixture, PersonKey.passport(number: passport, nationality: nationality).subject)).contains(entry.seq))
        }
        let number = try #require(items.first?["permitNumber"]?.stringValue)
        let refused = try await fixture.get("/v1/work-permits/\(number)", as: "EG-MOL", purpose: "nssf-contribution-verification")
        #expect(refused.status == 403)
        let refusedEntry = try await fixture.entry(of: refused)
        #expect(try await indexed(fixture, try reference(fixture, PersonKey.permitSubject(number))).contains(refusedEntry.seq))
    }

    @Test("A notice sent in names its worker and permit; an administrator reading it is an exchange about them too")
    func inboundAndRead() async throws {
        let fixture = try await Self.fixture.value
        let sent = try await fixture.send(Array(InboundSendTests.notice.utf8), key: "trail-\(UUID())")
        #expect(sent.status == 202, "\(sent.text)")
        let messageId = try #require(sent.messageId)
        let entry = try #require(try await fixture.log().entry(messageId: messageId))
        let worker = try reference(fixture, PersonKey.passport(number: "EP1234567", nationality: "ET").subject)
        let permit = try reference(fixture, PersonKey.permitSubject("WP-2024-0001234"))
        #expect(Set([worker, permit]).isSubset(of: Set(entry.draft.canonicalSubjects)))
        #expect(entry.draft.disclosedFields?.contains("permit.worker.name.latin.given") == true, "what the partner's notice carried")
        #expect(try await fixture.admin(.GET, "/admin/v1/inbox/\(messageId.uuidString.lowercased())").status == 200)
        let read = try #require(
            try await fixture.store.query(
                "SELECT seq FROM message_log WHERE direction = 'admin' AND operation = 'inbox.read' AND correlation_id = \(messageId)"
            ).decode(Int64.self).first)
        #expect(try await indexed(fixture, worker).contains(read))
        #expect(try await indexed(fixture, permit).contains(read))
        #expect(try await fixture.log().verify().firstBreak == nil)
    }
}
