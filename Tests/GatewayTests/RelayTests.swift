import Adapters
import Administration
import Foundation
import Gateway
import MessageLog
import NIOHTTP1
import Records
import Registry
import Schemas
import NIOCore
import Storage
import Testing

/// Permit changes in the ministry's database reach the partner ministries entitled to them, over mutual TLS.
@Suite("Relay to partner ministries", .serialized)
struct RelayTests {
    static let setup = Task { () throws -> (Fixture, TestPartner, TestPartner) in
        let fixture = try await Fixture.make("relay", relay: true)
        let egypt = try await TestPartner(authority: fixture.authority, directory: fixture.directory, name: "mock-eg")
        let iraq = try await TestPartner(authority: fixture.authority, directory: fixture.directory, name: "mock-iq")
        let admin = try fixture.administration()
        let actor = Administrator(fingerprint: nil, name: "relay test")
        let contract = try #require(try ContractCatalog.load(from: Fixture.repository.appendingPathComponent("contracts"))[WorkPermitEvent.contract])
        let iraqiMapping = try MappingSource.load(path: Self.iraqiMapping.path)
        for (id, country, adapter, mock) in [("EG-RELAY", "EG", "standard", egypt), ("IQ-RELAY", "IQ", "mapping", iraq)] {
            try await admin.addPartner(
                Partner(id: id, nameAr: id, nameEn: id, country: country, status: .active, adapter: adapter, endpoint: mock.endpoint),
                mapping: adapter == "mapping" ? iraqiMapping : nil, by: actor)
            try await admin.grant(
                Agreement(
                    partnerID: id, contract: WorkPermitEvent.contract, operations: [.receive], purposes: ["mou-work-permit-notification"], fields: contract.leafFields,
                    validFrom: Date().addingTimeInterval(-60), validUntil: Date().addingTimeInterval(86_400), mouReference: "MoU", scopeNationalities: [country]),
                by: actor)
        }
        try await Task.sleep(for: Fixture.registryChangeWindow)
        return (fixture, egypt, iraq)
    }

    static let iraqiMapping = Fixture.repository.appendingPathComponent("mappings/iq-molsa/mapping.json")

    /// Issues (via plain SQL, as the ministry's own systems would) a pre-approved permit of a worker of `nationality`.
    func issuePermit(_ fixture: Fixture, nationality: String) async throws -> String {
        var number = ""
        for found in try await fixture.store.query(
            """
            UPDATE ministry.work_permits SET status = 'issued', issued_on = \(unescaped: fixture.sqlToday),
                expires_on = \(unescaped: fixture.sqlDays(after: fixture.sqlToday, 365)), updated_at = \(unescaped: fixture.sqlNow)
            WHERE id = (SELECT w.id FROM ministry.work_permits w JOIN ministry.persons p ON p.id = w.person_id
                        WHERE p.nationality = \(nationality) AND w.status <> 'issued' ORDER BY w.id LIMIT 1)
            RETURNING permit_number
            """
        ).decode(String.self) {
            number = found
        }
        return number
    }

    @Test("An Egyptian's permit issued: exactly one delivery to Egypt, in its JSON contract; none to Iraq")
    func scopedDelivery() async throws {
        let (fixture, egypt, iraq) = try await Self.setup.value
        let before = (egypt.deliveries.count, iraq.deliveries.count)
        let number = try await issuePermit(fixture, nationality: "EG")
        #expect(!number.isEmpty)
        let delivered = try await egypt.waitFor(before.0 + 1)
        try await Task.sleep(for: .milliseconds(500))
        #expect(egypt.deliveries.count == before.0 + 1)
        #expect(iraq.deliveries.count == before.1, "Iraq's scope does not cover Egyptian workers")
        let delivery = try #require(delivered.last)
        #expect(delivery.contentType == "application/json")
        let contract = try #require(try ContractCatalog.load(from: Fixture.repository.appendingPathComponent("contracts"))[WorkPermitEvent.contract])
        let event = try contract.read(delivery.body, format: .json)
        #expect(event["eventType"]?.stringValue == "issued")
        #expect(event["permit"]?["permitNumber"]?.stringValue == number)
        // The message id the partner saw is the logged outbound message, and the outbox says delivered.
        let messageId = try #require(UUID(uuidString: delivery.messageId))
        let entry = try #require(try await fixture.log().entry(messageId: messageId))
        #expect(entry.draft.direction == .outboundRelay && entry.draft.partner == "EG-RELAY")
        #expect(entry.draft.requestDigest == sha256Hex(delivery.body))
        var state = ""
        let deadline = ContinuousClock.now + .seconds(5)
        while state != "delivered", ContinuousClock.now < deadline {
            for value in try await fixture.store.query("SELECT state FROM relay_outbox WHERE message_id = \(messageId)").decode(String.self) {
                state = value
            }
            if state != "delivered" { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(state == "delivered")
        // The body at rest is sealed: the permit number is not readable in the outbox.
        #expect(try await fixture.store.query("SELECT count(*) FROM relay_outbox WHERE message_id = \(messageId)").first?[0].decode(Int64.self) == 1)
        #expect(try await !fixture.storedBody("SELECT sealed_body FROM relay_outbox WHERE message_id = \(messageId)", contains: number))
    }

    @Test("Iraq receives its own nationals' events in its legacy XML, which validates against that dialect's XSD")
    func legacyXMLDelivery() async throws {
        let (fixture, _, iraq) = try await Self.setup.value
        let before = iraq.deliveries.count
        let number = try await issuePermit(fixture, nationality: "IQ")
        let delivered = try await iraq.waitFor(before + 1)
        let delivery = try #require(delivered.last)
        #expect(delivery.contentType == "application/xml")
        let text = String(decoding: delivery.body, as: UTF8.self)
        #expect(text.contains(#"<WorkPermitNotice xmlns="urn:iq:gov:molsa:fwr:notice:2">"#))
        #expect(text.contains("<NationalityCode>368</NationalityCode>"), "Iraq's own code for Iraqi nationals")
        #expect(text.contains("<PermitNo>\(number)</PermitNo>"))
        #expect(text.wholeMatch(of: /(?s).*<IssueDate>[0-9]{2}\/[0-9]{2}\/[0-9]{4}<\/IssueDate>.*/) != nil)
        let file = URL(fileURLWithPath: fixture.directory).appendingPathComponent("iq-delivery-\(UUID()).xml")
        try Data(delivery.body).write(to: file)
        let xsd = Self.iraqiMapping.deletingLastPathComponent().appendingPathComponent("work-permit-notice.xsd")
        let (status, output) = try JisrCLI.runProgram("/usr/bin/xmllint", ["--noout", "--nonet", "--schema", xsd.path, file.path])
        #expect(status == 0, "xmllint: \(output)")
        // Read back through the same mapping, it is the shared contract's event about that permit.
        let catalog = try ContractCatalog.load(from: Fixture.repository.appendingPathComponent("contracts"))
        let contract = try #require(catalog[WorkPermitEvent.contract])
        let adapter = try AdapterRegistry(catalog: catalog).adapter(named: "mapping", mapping: try MappingSource.load(path: Self.iraqiMapping.path))
        let event = try adapter.read(delivery.body, contract: contract, format: .xml)
        #expect(event["permit"]?["worker"]?["nationality"]?.stringValue == "IQ")
        #expect(event["permit"]?["permitNumber"]?.stringValue == number)
    }

    @Test("A partner down for a while gets the message once it is back; every attempt is logged")
    func retriedUntilDelivered() async throws {
        let (fixture, egypt, _) = try await Self.setup.value
        let before = egypt.deliveries.count
        egypt.fail(next: 2, status: 503)
        _ = try await issuePermit(fixture, nationality: "EG")
        let delivered = try await egypt.waitFor(before + 1)
        let messageId = try #require(delivered.last.flatMap { UUID(uuidString: $0.messageId) })
        // The attempt is logged once the partner has answered, so the last entry may trail the delivery a little.
        var attempts: [(Int, String?)] = []
        let deadline = ContinuousClock.now + .seconds(5)
        repeat {
            attempts = []
            for (status, problem) in try await fixture.store.query(
                "SELECT status, problem_type FROM message_log WHERE correlation_id = \(messageId) AND operation = 'deliver' ORDER BY seq"
            ).decode((Int32, String?).self) {
                attempts.append((Int(status), problem))
            }
            if attempts.count < 3 { try await Task.sleep(for: .milliseconds(50)) }
        } while attempts.count < 3 && ContinuousClock.now < deadline
        #expect(attempts.map(\.0) == [503, 503, 200])
        #expect(attempts.map(\.1) == ["delivery-failed", "delivery-failed", nil])
        #expect(try await fixture.log().verify().firstBreak == nil)
    }

    @Test(
        "Two gateways' relay workers share one outbox: 20 changes, 20 deliveries, none twice",
        .enabled(if: Fixture.storeKind == .postgres, "several gateways share a store on PostgreSQL only"))
    func severalWorkers() async throws {
        let (fixture, egypt, _) = try await Self.setup.value
        let (_, second) = try await fixture.secondGateway()
        defer { second.cancel() }
        let before = Set(egypt.deliveries.map(\.messageId))
        var numbers: [String] = []
        for _ in 0..<20 { numbers.append(try await issuePermit(fixture, nationality: "EG")) }
        #expect(Set(numbers).count == 20)
        let delivered = try await egypt.waitFor(before.count + 20, timeout: .seconds(20))
        let fresh = delivered.map(\.messageId).filter { !before.contains($0) }
        #expect(fresh.count == 20, "\(fresh.count) deliveries")
        #expect(Set(fresh).count == fresh.count, "no message delivered twice")
        var delivering: Set<String> = []
        for fingerprint in try await fixture.store.query(
            "SELECT DISTINCT partner FROM message_log WHERE operation = 'deliver' AND partner = 'EG-RELAY'"
        ).decode(String?.self) {
            delivering.insert(fingerprint ?? "")
        }
        #expect(delivering == ["EG-RELAY"])
        #expect(try await fixture.log().verify().firstBreak == nil)
    }

    @Test("After the last attempt the message is dead-lettered, listed, and delivered once re-driven through the admin API")
    func deadLetter() async throws {
        let (fixture, egypt, _) = try await Self.setup.value
        egypt.fail(next: 3, status: 503)
        let number = try await issuePermit(fixture, nationality: "EG")
        let deadline = ContinuousClock.now + .seconds(10)
        var state = ""
        while state != "dead", ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
            for value in try await fixture.store.query(
                """
                SELECT o.state FROM relay_outbox o JOIN message_log l ON l.message_id = o.message_id
                WHERE o.partner_id = 'EG-RELAY' ORDER BY o.created_at DESC LIMIT 1
                """
            ).decode(String.self) {
                state = value
            }
        }
        #expect(state == "dead", "permit \(number)")
        let letters = try await fixture.admin(.GET, "/admin/v1/relay/dead-letters?partner=EG-RELAY")
        let letter = try #require(letters.json?.arrayValue?.last?["messageId"]?.stringValue)
        let before = egypt.deliveries.count
        let redriven = try await fixture.admin(.POST, "/admin/v1/relay/redrive", json: #"{"messageId":"\#(letter)"}"#)
        #expect(redriven.status == 200, "\(redriven.text)")
        let delivered = try await egypt.waitFor(before + 1)
        #expect(delivered.last?.messageId == letter, "the same message id, so the partner can de-duplicate")
        let status = try await fixture.admin(.GET, "/admin/v1/relay/status")
        #expect(status.json?.arrayValue?.contains { $0["partnerID"]?.stringValue == "EG-RELAY" && $0["state"]?.stringValue == "delivered" } == true)
        var audited = 0
        for count in try await fixture.store.query("SELECT count(*) FROM message_log WHERE operation = 'relay.redrive'").decode(Int64.self) {
            audited = Int(count)
        }
        #expect(audited == 1)
    }
}
