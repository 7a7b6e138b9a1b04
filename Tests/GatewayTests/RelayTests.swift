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
        try await fixture.registryInForce()
        return (fixture, egypt, iraq)
    }

    static let iraqiMapping = Fixture.repository.appendingPathComponent("mappings/iq-molsa/mapping.json")

    /// A permit issued in the ministry's database and the relay's reading of that change: its number, and the outbox
    /// message the change produced for each partner entitled to it — known once the relay's stored position has
    /// passed the change (the position moves in the same unit as the change's outbox rows).
    struct Relayed {
        let number: String
        let messages: [String: UUID]
    }

    func issueAndRelay(_ fixture: Fixture, nationality: String) async throws -> Relayed {
        let before = try await outbox(fixture)
        let number = try await fixture.issuePermit(nationality: nationality)
        let change = try await fixture.store.query("SELECT max(id) FROM ministry.permit_changes").first?[0].decode(Int64.self) ?? 0
        try await Fixture.until("the relay read change \(change)") {
            try await fixture.store.query("SELECT position FROM relay_feed WHERE feed = 'work-permits'").first?[0].decode(Int64.self) ?? 0 >= change
        }
        var messages: [String: UUID] = [:]
        for (id, partner) in try await outbox(fixture) where before[id] == nil { messages[partner] = id }
        return Relayed(number: number, messages: messages)
    }

    /// The outbox's messages and their partners.
    func outbox(_ fixture: Fixture) async throws -> [UUID: String] {
        var messages: [UUID: String] = [:]
        for (id, partner) in try await fixture.store.query("SELECT message_id, partner_id FROM relay_outbox").decode((UUID, String).self) { messages[id] = partner }
        return messages
    }

    /// The outbox state of a message once it is `state` (the worker records it after the partner's answer).
    func reaches(_ fixture: Fixture, _ id: UUID, _ state: String) async throws {
        try await Fixture.until("message \(id) \(state) in the outbox") {
            try await fixture.store.query("SELECT state FROM relay_outbox WHERE message_id = \(id)").first?[0].decode(String.self) == state
        }
    }

    @Test("An Egyptian's permit issued: exactly one delivery to Egypt, in its JSON contract; none to Iraq")
    func scopedDelivery() async throws {
        let (fixture, egypt, iraq) = try await Self.setup.value
        let relayed = try await issueAndRelay(fixture, nationality: "EG")
        #expect(!relayed.number.isEmpty)
        #expect(Set(relayed.messages.keys) == ["EG-RELAY"], "Iraq's scope does not cover Egyptian workers")
        let messageId = try #require(relayed.messages["EG-RELAY"])
        let delivery = try await egypt.delivery(of: messageId)
        #expect(delivery.contentType == "application/json")
        let contract = try #require(try ContractCatalog.load(from: Fixture.repository.appendingPathComponent("contracts"))[WorkPermitEvent.contract])
        let event = try contract.read(delivery.body, format: .json)
        #expect(event["eventType"]?.stringValue == "issued")
        #expect(event["permit"]?["permitNumber"]?.stringValue == relayed.number)
        // The message id the partner saw is the logged outbound message, and the outbox says delivered.
        let entry = try #require(try await fixture.log().entry(messageId: messageId))
        #expect(entry.draft.direction == .outboundRelay && entry.draft.partner == "EG-RELAY")
        #expect(entry.draft.requestDigest == sha256Hex(delivery.body))
        try await reaches(fixture, messageId, "delivered")
        #expect(egypt.deliveries(of: messageId).count == 1, "delivered once")
        #expect(iraq.deliveries(of: messageId).isEmpty)
        // The body at rest is sealed: the permit number is not readable in the outbox.
        #expect(try await !fixture.storedBody("SELECT sealed_body FROM relay_outbox WHERE message_id = \(messageId)", contains: relayed.number))
    }

    @Test("Iraq receives its own nationals' events in its legacy XML, which validates against that dialect's XSD")
    func legacyXMLDelivery() async throws {
        let (fixture, _, iraq) = try await Self.setup.value
        let relayed = try await issueAndRelay(fixture, nationality: "IQ")
        let number = relayed.number
        let delivery = try await iraq.delivery(of: try #require(relayed.messages["IQ-RELAY"]))
        #expect(delivery.contentType == "application/xml")
        let text = String(decoding: delivery.body, as: UTF8.self)
        #expect(text.contains(#"<WorkPermitNotice xmlns="urn:iq:gov:molsa:fwr:notice:2">"#))
        #expect(text.contains("<NationalityCode>368</NationalityCode>"), "Iraq's own code for Iraqi nationals")
        #expect(text.contains("<PermitNo>\(number)</PermitNo>"))
        #expect(text.wholeMatch(of: /(?s).*<IssueDate>[0-9]{2}\/[0-9]{2}\/[0-9]{4}<\/IssueDate>.*/) != nil)
        let file = URL(fileURLWithPath: fixture.directory).appendingPathComponent("iq-delivery-\(UUID()).xml")
        try Data(delivery.body).write(to: file)
        let xsd = Self.iraqiMapping.deletingLastPathComponent().appendingPathComponent("work-permit-notice.xsd")
        let (status, output) = try await JisrCLI.runProgram("/usr/bin/xmllint", ["--noout", "--nonet", "--schema", xsd.path, file.path])
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
        egypt.fail(next: 2, status: 503)
        let messageId = try #require(try await issueAndRelay(fixture, nationality: "EG").messages["EG-RELAY"])
        _ = try await egypt.delivery(of: messageId)
        // The attempt is logged with the outbox's new state, once the partner has answered.
        try await reaches(fixture, messageId, "delivered")
        var attempts: [(Int, String?)] = []
        for (status, problem) in try await fixture.store.query(
            "SELECT status, problem_type FROM message_log WHERE correlation_id = \(messageId) AND operation = 'deliver' ORDER BY seq"
        ).decode((Int32, String?).self) {
            attempts.append((Int(status), problem))
        }
        #expect(attempts.map(\.0) == [503, 503, 200])
        #expect(attempts.map(\.1) == ["delivery-failed", "delivery-failed", nil])
        #expect(try await fixture.log().verify().firstBreak == nil)
    }

    @Test("After the last attempt the message is dead-lettered, listed, and delivered once re-driven through the admin API")
    func deadLetter() async throws {
        let (fixture, egypt, _) = try await Self.setup.value
        egypt.fail(next: 3, status: 503)
        let messageId = try #require(try await issueAndRelay(fixture, nationality: "EG").messages["EG-RELAY"])
        try await reaches(fixture, messageId, "dead")
        #expect(egypt.deliveries(of: messageId).isEmpty)
        let letters = try await fixture.admin(.GET, "/admin/v1/relay/dead-letters?partner=EG-RELAY")
        let listed = letters.json?.arrayValue?.compactMap { $0["messageId"]?.stringValue.flatMap(UUID.init(uuidString:)) } ?? []
        #expect(listed.contains(messageId), "\(letters.text)")
        let redriven = try await fixture.admin(.POST, "/admin/v1/relay/redrive", json: #"{"messageId":"\#(messageId.uuidString.lowercased())"}"#)
        #expect(redriven.status == 200, "\(redriven.text)")
        // The same message id, so the partner can de-duplicate.
        _ = try await egypt.delivery(of: messageId)
        try await reaches(fixture, messageId, "delivered")
        let status = try await fixture.admin(.GET, "/admin/v1/relay/status")
        #expect(status.json?.arrayValue?.contains { $0["partnerID"]?.stringValue == "EG-RELAY" && $0["state"]?.stringValue == "delivered" } == true)
        var audited = 0
        for count in try await fixture.store.query("SELECT count(*) FROM message_log WHERE operation = 'relay.redrive'").decode(Int64.self) {
            audited = Int(count)
        }
        #expect(audited == 1)
    }
}
