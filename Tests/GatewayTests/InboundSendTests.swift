import Adapters
import Administration
import AsyncHTTPClient
import Foundation
import MessageLog
import NIOCore
import NIOHTTP1
import Records
import Registry
import Schemas
import Storage
import Testing

/// A partner ministry sends notices about Lebanese workers abroad: validated, logged, stored once.
@Suite("Inbound sends", .serialized)
struct InboundSendTests {
    static let fixture = Task { () throws -> Fixture in
        let fixture = try await Fixture.make("inbound")
        try await fixture.grantEgyptSend()
        try await fixture.registryInForce()
        return fixture
    }

    static let notice = try! String(contentsOf: Fixture.repository.appendingPathComponent("contracts/work-permit-event/1/examples/valid/issued.json"), encoding: .utf8)

    func send(_ fixture: Fixture, body: String, key: String?, as caller: String = "EG-MOL", contentType: String = "application/json", contract: String = "work-permit-event/1") async throws -> Reply {
        try await fixture.send(Array(body.utf8), key: key, as: caller, contentType: contentType, contract: contract)
    }

    func inboxCount(_ fixture: Fixture, key: String) async throws -> Int {
        for count in try await fixture.store.query("SELECT count(*) FROM inbox WHERE idempotency_reference = \(try fixture.inboxReference(key))").decode(Int64.self) { return Int(count) }
        return 0
    }

    @Test("Accepted with 202 and stored with its log entry; a repeat gets the original answer and stores nothing")
    func acceptedOnce() async throws {
        let fixture = try await Self.fixture.value
        let first = try await send(fixture, body: Self.notice, key: "eg-2026-0001")
        #expect(first.status == 202, "\(first.text)")
        let messageId = try #require(first.json?["messageId"]?.stringValue)
        #expect(first.messageId?.uuidString.lowercased() == messageId)
        try await expectLogged(first, fixture: fixture, status: 202, problem: nil)
        let firstId = try #require(first.messageId)
        #expect(try await fixture.log().entry(messageId: firstId)?.draft.direction == .inboundSend, "a send is logged as one")
        let again = try await send(fixture, body: Self.notice, key: "eg-2026-0001")
        #expect(again.status == 202)
        #expect(again.json?["messageId"]?.stringValue == messageId && again.json?["duplicate"] == .bool(true))
        #expect(try await inboxCount(fixture, key: "eg-2026-0001") == 1)
        // Concurrent repeats: still one row, every answer names the one message.
        let answers = try await withThrowingTaskGroup(of: Reply.self) { group in
            for _ in 0..<8 { group.addTask { try await send(fixture, body: Self.notice, key: "eg-2026-0002") } }
            return try await group.reduce(into: [Reply]()) { $0.append($1) }
        }
        #expect(try await inboxCount(fixture, key: "eg-2026-0002") == 1)
        let ids = Set(answers.filter { $0.status == 202 }.compactMap { $0.json?["messageId"]?.stringValue })
        #expect(ids.count == 1)
        #expect(answers.allSatisfy { $0.status == 202 || $0.problemType?.hasSuffix("/idempotency-key-in-flight") == true })
        // The body at rest is sealed.
        #expect(try await !fixture.storedBody("SELECT sealed_body FROM inbox WHERE idempotency_reference = \(try fixture.inboxReference("eg-2026-0001"))", contains: "Meseret"))
        // The key is kept only as its keyed hash: nothing in the inbox holds it as sent.
        #expect(try await fixture.store.query("SELECT count(*) FROM inbox WHERE idempotency_reference LIKE '%eg-2026%'").first?[0].decode(Int64.self) == 0)
        // The ministry reads it back through the admin API, as it arrived, and acknowledges it.
        let listed = try await fixture.admin(.GET, "/admin/v1/inbox?partner=EG-MOL")
        #expect(listed.json?.arrayValue?.contains { $0["idempotencyReference"]?.stringValue == (try? fixture.inboxReference("eg-2026-0001")) } == true)
        let shown = try await fixture.admin(.GET, "/admin/v1/inbox/\(messageId)")
        #expect(shown.text == Self.notice)
        #expect(try await fixture.admin(.POST, "/admin/v1/inbox/\(messageId)/ack").status == 200)
        #expect(try await fixture.admin(.POST, "/admin/v1/inbox/\(messageId)/ack").status == 404, "acknowledged once")
        let unacknowledged = try await fixture.admin(.GET, "/admin/v1/inbox?partner=EG-MOL")
        #expect(unacknowledged.json?.arrayValue?.contains { $0["messageId"]?.stringValue?.lowercased() == messageId } == false)
    }

    @Test("The contract in the path (the document's operation per contract) is the same send; X-Contract beside it must agree")
    func contractInThePath() async throws {
        let fixture = try await Self.fixture.value
        let body = Array(Self.notice.utf8)
        let accepted = try await fixture.send(body, key: "eg-path-1", contract: nil, inPath: "work-permit-event/1")
        #expect(accepted.status == 202, "\(accepted.text)")
        try await expectLogged(accepted, fixture: fixture, status: 202, problem: nil)
        #expect(try await fixture.log().entry(messageId: try #require(accepted.messageId))?.draft.contract == "work-permit-event/1")
        #expect(try await fixture.send(body, key: "eg-path-2", contract: "work-permit-event/1", inPath: "work-permit-event/1").status == 202, "both, agreeing")
        let conflict = try await fixture.send(body, key: "eg-path-3", contract: "establishment/1", inPath: "work-permit-event/1")
        #expect(conflict.status == 400 && conflict.problemType?.hasSuffix("/contract-conflict") == true, "\(conflict.text)")
        try await expectLogged(conflict, fixture: fixture, status: 400, problem: "contract-conflict")
        let unknown = try await fixture.send(body, key: "eg-path-4", contract: nil, inPath: "no-such-contract/1")
        #expect(unknown.status == 404, "\(unknown.text)")
        let notGranted = try await fixture.send(body, key: "eg-path-5", contract: nil, inPath: "establishment/1")
        #expect(notGranted.status == 403, "\(notGranted.text)")
        for key in ["eg-path-3", "eg-path-4", "eg-path-5"] { #expect(try await inboxCount(fixture, key: key) == 0) }
        #expect(try await inboxCount(fixture, key: "eg-path-1") == 1)
    }

    @Test("Refusals: another body under the same key, an invalid document, no key, no grant, wrong media type", arguments: [
        ("reused", 409, "idempotency-key-reused"), ("invalid", 422, "invalid-document"), ("malformed", 400, "malformed-document"),
        ("no-key", 400, "idempotency-key-required"), ("no-grant", 403, "no-agreement"), ("media", 415, "unsupported-media-type"),
        ("no-contract", 400, "contract-required"), ("xxe", 400, "malformed-document"),
    ])
    func refusals(_ kind: String, _ status: Int, _ code: String) async throws {
        let fixture = try await Self.fixture.value
        if kind == "reused" { _ = try await send(fixture, body: Self.notice, key: "eg-reuse") }
        let reply: Reply
        switch kind {
        case "reused": reply = try await send(fixture, body: Self.notice.replacingOccurrences(of: "Meseret", with: "Almaz"), key: "eg-reuse")
        case "invalid": reply = try await send(fixture, body: Self.notice.replacingOccurrences(of: "\"issued\"", with: "\"suspended\""), key: "eg-invalid")
        case "malformed": reply = try await send(fixture, body: #"{"eventType":"issued","eventType":"expired"}"#, key: "eg-dup-keys")
        case "no-key": reply = try await send(fixture, body: Self.notice, key: nil)
        case "no-grant": reply = try await send(fixture, body: Self.notice, key: "nssf-1", as: "LB-NSSF")
        case "media": reply = try await send(fixture, body: Self.notice, key: "eg-media", contentType: "text/plain")
        case "no-contract": reply = try await send(fixture, body: Self.notice, key: "eg-nc", contract: "nonsense")
        default:
            reply = try await send(
                fixture, body: #"<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><workPermitEvent xmlns="urn:lb:labour:jisr:work-permit-event:1">&x;</workPermitEvent>"#,
                key: "eg-xxe", contentType: "application/xml")
        }
        #expect(reply.status == status, "\(reply.text)")
        #expect(reply.problemType?.hasSuffix("/" + code) == true, "\(reply.text)")
        try await expectLogged(reply, fixture: fixture, status: status, problem: code)
        let replyId = try #require(reply.messageId)
        #expect(try await fixture.log().entry(messageId: replyId)?.draft.direction == .inboundSend, "a refused send too")
        for key in ["eg-invalid", "eg-dup-keys", "nssf-1", "eg-media", "eg-nc", "eg-xxe"] { #expect(try await inboxCount(fixture, key: key) == 0) }
    }

    @Test("A partner with a mapping: a bad mapping is refused with its line, a good one attached through the admin API; it sends in its own dialect")
    func sendsInItsDialect() async throws {
        let fixture = try await Self.fixture.value
        let folder = Fixture.repository.appendingPathComponent("mappings/iq-molsa")
        let mapping = try MappingSource.load(path: folder.appendingPathComponent("mapping.json").path)
        func body(_ source: MappingSource) throws -> String {
            var files = JSONObject()
            for (name, text) in source.files { files[name] = .string(text) }
            return JSONWriter.string(.object(JSONObject([("adapter", .string("mapping")), ("mapping", .object(JSONObject([("text", .string(source.text)), ("files", .object(files))])))])))
        }
        var broken = mapping
        broken.text = broken.text.replacingOccurrences(of: #""permit.worker.sex": "Gender""#, with: #""permit.worker.gender": "Gender""#)
        let refused = try await fixture.admin(.PUT, "/admin/v1/partners/QA-MOL/adapter", json: try body(broken))
        #expect(refused.status == 422, "\(refused.text)")
        #expect(refused.problemType?.hasSuffix("/invalid-mapping") == true)
        let line = 1 + broken.text.components(separatedBy: "\n").firstIndex { $0.contains("permit.worker.gender") }!
        #expect(refused.json?["line"] == .integer(Int64(line)), "\(refused.text)")
        #expect(refused.text.contains("permit.worker.gender"))
        #expect(try await fixture.admin(.GET, "/admin/v1/partners/QA-MOL").json?["partner"]?["adapter"]?.stringValue == "standard", "nothing changed")

        let attached = try await fixture.admin(.PUT, "/admin/v1/partners/QA-MOL/adapter", json: try body(mapping))
        #expect(attached.status == 200, "\(attached.text)")
        #expect(attached.json?["adapter"]?.stringValue == "mapping")
        #expect(try await fixture.admin(.GET, "/admin/v1/partners/QA-MOL").json?["mapping"]?["digest"]?.stringValue?.count == 64)
        let contract = try #require(try ContractCatalog.load(from: Fixture.repository.appendingPathComponent("contracts"))[WorkPermitEvent.contract])
        try await fixture.administration().grant(
            Agreement(
                partnerID: "QA-MOL", contract: WorkPermitEvent.contract, operations: [.send], purposes: ["mou-work-permit-notification"], fields: contract.leafFields,
                validFrom: Date().addingTimeInterval(-60), validUntil: Date().addingTimeInterval(86_400), mouReference: "MoU"),
            by: Administrator(fingerprint: nil, name: "test"))
        try await fixture.registryInForce()

        let notice = """
            <?xml version="1.0" encoding="UTF-8"?>
            <WorkPermitNotice xmlns="urn:iq:gov:molsa:fwr:notice:2"><NoticeType>1</NoticeType><NoticeTime>01/11/2026 08:30:00</NoticeTime>\
            <Permit><PermitNo>WP-2026-0000077</PermitNo><PermitClass>B</PermitClass><PermitState>1</PermitState><IssueDate>01/11/2026</IssueDate>\
            <Worker><PassportNo>LR1234567</PassportNo><NationalityCode>422</NationalityCode></Worker></Permit></WorkPermitNotice>
            """
        let accepted = try await send(fixture, body: notice, key: "qa-dialect-1", as: "QA-MOL", contentType: "application/xml")
        #expect(accepted.status == 202, "\(accepted.text)")
        #expect(try await inboxCount(fixture, key: "qa-dialect-1") == 1)
        let messageId = try #require(accepted.json?["messageId"]?.stringValue)
        #expect(try await fixture.admin(.GET, "/admin/v1/inbox/\(messageId)").text == notice, "kept as it arrived")
        // The shared contract's own form is not this partner's format, and a code it does not define is refused.
        let shared = try await send(fixture, body: try String(contentsOf: Fixture.repository.appendingPathComponent("contracts/work-permit-event/1/examples/valid/issued.xml"), encoding: .utf8), key: "qa-dialect-2", as: "QA-MOL", contentType: "application/xml")
        #expect(shared.status == 422, "\(shared.text)")
        let badCode = try await send(fixture, body: notice.replacingOccurrences(of: ">422<", with: ">999<"), key: "qa-dialect-3", as: "QA-MOL", contentType: "application/xml")
        #expect(badCode.status == 422 && badCode.text.contains("unknown code"), "\(badCode.text)")
        #expect(try await inboxCount(fixture, key: "qa-dialect-2") + inboxCount(fixture, key: "qa-dialect-3") == 0)
    }
}
