import AsyncHTTPClient
import Foundation
@testable import MessageLog
import NIOCore
import NIOHTTP1
import Records
import Schemas
import Storage
import Testing

/// One gateway shared by the read-only exchange tests.
enum Shared {
    static let fixture = Task { try await Fixture.make("exchange") }
}

/// The NSSF's lookups over real mutual TLS, against a real PostgreSQL, in JSON and XML.
@Suite("Exchange listener")
struct ExchangeTests {
    var contracts: ContractCatalog { get throws { try ContractCatalog.load(from: Fixture.repository.appendingPathComponent("contracts")) } }

    @Test("An employment record by national id, in JSON: valid, minimised, logged before it arrived")
    func employmentRecordJSON() async throws {
        let fixture = try await Shared.fixture.value
        let nationalId = try #require(fixture.samples.nationalIds.first)
        let reply = try await fixture.get("/v1/employment-records?nationalId=\(nationalId)", as: "LB-NSSF")
        #expect(reply.status == 200)
        #expect(reply.headers.first(name: "Content-Type") == "application/json")
        let contract = try #require(try contracts[EmploymentRecord.contract] as Contract?)
        let document = try contract.read(reply.body, format: .json)
        #expect(document["person"]?["nationalId"]?.stringValue == nationalId)
        #expect(document["employments"]?.arrayValue?.isEmpty == false)
        #expect(!reply.text.contains("monthlySalary"), "salary is not granted to the NSSF")
        #expect(!reply.text.contains("null"))
        try await expectLogged(reply, fixture: fixture, status: 200, problem: nil)
    }

    @Test("The same record in XML validates against the XSD and has no salary element")
    func employmentRecordXML() async throws {
        let fixture = try await Shared.fixture.value
        let nssf = try #require(fixture.samples.nssfNumbers.first)
        let reply = try await fixture.get("/v1/employment-records?nssfNumber=\(nssf)", as: "LB-NSSF", accept: "application/xml")
        #expect(reply.status == 200)
        #expect(reply.headers.first(name: "Content-Type") == "application/xml")
        let contract = try #require(try contracts[EmploymentRecord.contract] as Contract?)
        let document = try contract.read(reply.body, format: .xml)
        #expect(document["person"]?["nssfNumber"]?.stringValue == nssf)
        #expect(!reply.text.contains("monthlySalary"))
        try await expectLogged(reply, fixture: fixture, status: 200, problem: nil)
    }

    @Test("A foreign worker by passport and nationality; an establishment in JSON and XML")
    func passportAndEstablishment() async throws {
        let fixture = try await Shared.fixture.value
        let passport = try #require(fixture.samples.passports.first)
        let person = try await fixture.get("/v1/employment-records?passportNumber=\(passport.passportNumber)&nationality=\(passport.nationality)", as: "LB-NSSF")
        #expect(person.status == 200)
        #expect(person.json?["person"]?["nationality"]?.stringValue == passport.nationality)
        let number = try #require(fixture.samples.establishmentNumbers.first)
        for accept in ["application/json", "application/xml"] {
            let reply = try await fixture.get("/v1/establishments/\(number)", as: "LB-NSSF", accept: accept)
            #expect(reply.status == 200)
            let contract = try #require(try contracts[Establishment.contract] as Contract?)
            let document = try contract.read(reply.body, format: accept == "application/xml" ? .xml : .json)
            #expect(document["registrationNumber"]?.stringValue == number)
        }
    }

    @Test("Refusals are problem documents with a stable type, and are logged", arguments: [
        ("LB-NSSF", "/v1/employment-records?nationalId=999999999999", "nssf-contribution-verification", 404, "person-not-found"),
        ("LB-NSSF", "/v1/establishments/0000001", "nssf-contribution-verification", 404, "establishment-not-found"),
        ("LB-NSSF", "/v1/employment-records?nationalId=SAMPLE", "mou-work-permit-notification", 403, "purpose-not-granted"),
        ("LB-NSSF", "/v1/employment-records?nationalId=SAMPLE", nil, 400, "purpose-required"),
        ("EG-MOL", "/v1/employment-records?nationalId=SAMPLE", "nssf-contribution-verification", 403, "no-agreement"),
        ("QA-MOL", "/v1/employment-records?nationalId=SAMPLE", "nssf-contribution-verification", 403, "agreement-not-in-force"),
        ("LB-SUSP", "/v1/employment-records?nationalId=SAMPLE", "nssf-contribution-verification", 403, "partner-not-active"),
        ("unregistered", "/v1/employment-records?nationalId=SAMPLE", "nssf-contribution-verification", 403, "certificate-not-registered"),
        ("LB-NSSF", "/v1/employment-records?nationalId=12'%3B--", "nssf-contribution-verification", 400, "invalid-parameters"),
        ("LB-NSSF", "/v1/employment-records?nationalId=SAMPLE&nssfNumber=1234567890", "nssf-contribution-verification", 400, "invalid-parameters"),
        ("LB-NSSF", "/v1/no-such-thing", "nssf-contribution-verification", 404, "not-found"),
    ] as [(String, String, String?, Int, String)])
    func refusals(caller: String, path: String, purpose: String?, status: Int, problem: String) async throws {
        let fixture = try await Shared.fixture.value
        let path = path.replacingOccurrences(of: "SAMPLE", with: fixture.samples.nationalIds.first ?? "")
        for accept in ["application/json", "application/xml"] {
            let reply = try await fixture.get(path, as: caller, purpose: purpose, accept: accept)
            #expect(reply.status == status, "\(reply.text)")
            #expect(reply.headers.first(name: "Content-Type") == (accept == "application/xml" ? "application/problem+xml" : "application/problem+json"))
            #expect(reply.problemType == "https://jisr.labor.gov.lb/problems/\(problem)")
            #expect(!reply.text.contains("employments"), "a refusal carries no data")
            try await expectLogged(reply, fixture: fixture, status: status, problem: problem)
        }
    }

    @Test("Unknown persons are logged under their subject reference, never the identifier")
    func subjectReferenceOnly() async throws {
        let fixture = try await Shared.fixture.value
        let reply = try await fixture.get("/v1/employment-records?nationalId=123123123123", as: "LB-NSSF")
        #expect(reply.status == 404)
        let messageId = try #require(reply.messageId)
        let entry = try #require(try await fixture.log().entry(messageId: messageId))
        let reference = try #require(entry.draft.subjectReference)
        #expect(reference.count == 64 && !reference.contains("123123123123"))
        var found = false
        // Every column of every entry, as text.
        let everything = MessageLogStore.columns.split(separator: ",").map { "coalesce(CAST(\($0.trimmingCharacters(in: .whitespacesAndNewlines)) AS text), '')" }
            .joined(separator: " || ")
        for row in try await fixture.store.query("SELECT count(*) FROM message_log WHERE \(unescaped: everything) LIKE '%123123123123%'").decode(Int64.self) {
            found = row > 0
        }
        #expect(!found, "the national id appears nowhere in the log")
    }

    @Test(
        "No certificate, one from an untrusted CA, TLS older than 1.2, or TLS 1.2 with CBC suites only: the handshake fails with the server's alert",
        arguments: [
            ("anonymous", "TLSV1_ALERT_CERTIFICATE_REQUIRED"), ("untrusted", "SSLV3_ALERT_CERTIFICATE_UNKNOWN"), ("tls11", "TLSV1_ALERT_PROTOCOL_VERSION"),
            ("cbc", "SSLV3_ALERT_HANDSHAKE_FAILURE"),
        ])
    func handshakeRefused(caller: String, alert: String) async throws {
        let fixture = try await Shared.fixture.value
        let refusal = await Fixture.tlsRefusal { _ = try await fixture.get("/v1/contracts", as: caller) }
        #expect(refusal == alert)
    }

    @Test("The allowed-methods metaservice lists the caller's grants without salary; schemas are served")
    func contractsAndSchemas() async throws {
        let fixture = try await Shared.fixture.value
        let reply = try await fixture.get("/v1/contracts", as: "LB-NSSF", purpose: nil)
        #expect(reply.status == 200)
        let agreements = reply.json?["agreements"]?.arrayValue ?? []
        #expect(agreements.count == 2)
        let fields = agreements.flatMap { $0["fields"]?.arrayValue ?? [] }.compactMap(\.stringValue)
        #expect(fields.contains("person.nationalId") && !fields.contains { $0.contains("monthlySalary") })
        let xml = try await fixture.get("/v1/contracts", as: "LB-NSSF", purpose: nil, accept: "application/xml")
        #expect(xml.text.contains("<allowedContracts"))
        let schema = try await fixture.get("/v1/contracts/employment-record/1/schema.json", as: "LB-NSSF", purpose: nil)
        #expect(schema.status == 200)
        #expect(schema.body == Array(try Data(contentsOf: Fixture.repository.appendingPathComponent("contracts/employment-record/1/schema.json"))))
        let xsd = try await fixture.get("/v1/contracts/establishment/1/schema.xsd", as: "LB-NSSF", purpose: nil)
        #expect(xsd.text.contains("xs:schema"))
        for bad in ["/v1/contracts/employment-record/2/schema.json", "/v1/contracts/..%2F..%2Fetc/1/schema.json", "/v1/contracts/employment-record/1/../../../Package.swift"] {
            #expect(try await fixture.get(bad, as: "LB-NSSF", purpose: nil).status == 404)
        }
    }

    @Test("Every response's log entry is committed when the response arrives, under concurrency")
    func loggedBeforeResponse() async throws {
        let fixture = try await Shared.fixture.value
        let ids = fixture.samples.nationalIds
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<40 {
                group.addTask {
                    let reply = try await fixture.get("/v1/employment-records?nationalId=\(ids[index % ids.count])", as: "LB-NSSF")
                    try await expectLogged(reply, fixture: fixture, status: 200, problem: nil)
                }
            }
            try await group.waitForAll()
        }
        let report = try await fixture.log().verify()
        #expect(report.firstBreak == nil)
    }

    @Test("Concurrent appends share transactions (group commit) and still form one valid chain")
    func groupCommit() async throws {
        let fixture = try await Shared.fixture.value
        let before = fixture.logWriter.statistics
        let entries = try await withThrowingTaskGroup(of: LogEntry.self) { group in
            for index in 0..<200 {
                group.addTask {
                    try await fixture.logWriter.append(
                        EntryDraft(
                            messageId: UUID(), partner: nil, certificateFingerprint: nil, direction: .admin, contract: nil, operation: "test-\(index)",
                            purpose: nil, caseReference: nil, subjectReference: nil, status: 200, problemType: nil, requestDigest: "d", responseDigest: nil))
                }
            }
            return try await group.reduce(into: [LogEntry]()) { $0.append($1) }
        }
        let after = fixture.logWriter.statistics
        #expect(Set(entries.map(\.seq)).count == 200)
        #expect(after.entries - before.entries >= 200)
        #expect(after.transactions - before.transactions < 200, "\(before) → \(after)")
        #expect(after.largestBatch > 1)
        #expect(try await fixture.log().verify().firstBreak == nil)
    }

    @Test("Ops listener reports liveness and readiness")
    func health() async throws {
        let fixture = try await Shared.fixture.value
        for path in ["/health/live", "/health/ready"] {
            let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(fixture.opsPort)\(path)"), timeout: .seconds(5))
            #expect(response.status.code == 200)
        }
    }
}

/// The reply's entry is in the log already, with the seq and hash the headers announced.
func expectLogged(_ reply: Reply, fixture: Fixture, status: Int, problem: String?, sourceLocation: SourceLocation = #_sourceLocation) async throws {
    let messageId = try #require(reply.messageId, sourceLocation: sourceLocation)
    let entry = try #require(try await fixture.log().entry(messageId: messageId), "no log entry for \(messageId)", sourceLocation: sourceLocation)
    #expect(String(entry.seq) == reply.headers.first(name: "X-Log-Seq"), sourceLocation: sourceLocation)
    #expect(entry.entryHash == reply.headers.first(name: "X-Log-Entry-Hash"), sourceLocation: sourceLocation)
    #expect(entry.entryHash == entry.computedHash, sourceLocation: sourceLocation)
    #expect(entry.draft.status == status, sourceLocation: sourceLocation)
    #expect(entry.draft.problemType == problem, sourceLocation: sourceLocation)
    #expect(entry.draft.responseDigest == sha256Hex(reply.body), sourceLocation: sourceLocation)
}
