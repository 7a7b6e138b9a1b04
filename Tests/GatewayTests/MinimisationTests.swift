import Administration
import AsyncHTTPClient
import Foundation
import MessageLog
import NIOCore
import NIOHTTP1
import PKI
import Records
import Registry
import Schemas
import Storage
import Testing

/// What an agreement grants is exactly what leaves (invariant 2): a grant that would need fields it does not list is
/// refused with the list, a complete grant's documents hold only its fields in JSON and XML, `/v1/contracts` lists
/// the same set, and an agreement stored incomplete before the check sends nothing.
@Suite("Data minimisation: exactly the grant", .serialized)
struct MinimisationTests {
    static let fixture = Task { try await Fixture.make("minimise") }
    static let admin = Administrator(fingerprint: nil, name: "minimisation test")
    static let purpose = "mou-work-permit-notification"

    /// A partner of the test's own with `fields` of the work-permit contract granted for queries, and its client.
    static func partner(_ id: String, fields: [String]?, fixture: Fixture) async throws -> HTTPClient {
        let admin = try fixture.administration()
        let credential = try fixture.authority.issueClient(partnerID: id, organization: id, country: "IQ")
        try await admin.addPartner(Partner(id: id, nameAr: "وزارة", nameEn: id, country: "IQ", status: .active), by: Self.admin)
        _ = try await admin.addCertificate(partner: id, pem: try credential.certificatePEM, partnerCAPEMs: [try fixture.authority.credential.certificatePEM], by: Self.admin)
        if let fields {
            try await admin.grant(agreement(id, fields: fields), by: Self.admin)
        }
        return try Fixture.httpClient(certificatePEM: try credential.certificatePEM, keyPEM: try credential.privateKeyPEM, trusting: fixture.authority)
    }

    static func agreement(_ partner: String, fields: [String]) -> Agreement {
        Agreement(
            partnerID: partner, contract: WorkPermit.contract, operations: [.query], purposes: [purpose], fields: fields,
            validFrom: Date().addingTimeInterval(-60), validUntil: Date().addingTimeInterval(86_400), mouReference: "MoU LB-IQ")
    }

    static func contract() throws -> Contract {
        try #require(try ContractCatalog.load(from: Fixture.repository.appendingPathComponent("contracts"))[WorkPermit.contract])
    }

    /// Every leaf path of a document (array elements under their array's path).
    static func leaves(_ value: JSONValue, prefix: String = "") -> Set<String> {
        switch value {
        case .object(let object):
            return object.members.reduce(into: Set<String>()) { found, member in
                found.formUnion(leaves(member.value, prefix: prefix.isEmpty ? member.key : prefix + "." + member.key))
            }
        case .array(let elements):
            return elements.reduce(into: Set<String>()) { $0.formUnion(leaves($1, prefix: prefix)) }
        default:
            return [prefix]
        }
    }

    @Test("Granting one name part alone is refused, naming the parts and identifying fields the documents need")
    func incompleteGrantRefused() async throws {
        let fixture = try await Self.fixture.value
        let client = try await Self.partner("IQ-ONE", fields: nil, fixture: fixture)
        defer { Task { try? await client.shutdown() } }
        let before = try await fixture.log().count()
        do {
            try await fixture.administration().grant(Self.agreement("IQ-ONE", fields: ["worker.name.latin.given"]), by: Self.admin)
            Issue.record("an incomplete grant was accepted")
        } catch let error as AdministrationError {
            #expect(error.code == "incomplete-grant")
            let missing = try Self.contract().missingCompanions(of: ["worker.name.latin.given"])
            #expect(missing.contains("worker.name.latin.family") && missing.contains("permitNumber"), "\(missing)")
            #expect(missing.allSatisfy { error.message.contains($0) }, "\(error.message)")
        }
        #expect(try await fixture.log().count() == before, "a refused grant changes nothing")
    }

    @Test("A complete grant's documents hold exactly its fields, in JSON and in XML; /v1/contracts lists the same set")
    func exactlyTheGrant() async throws {
        let fixture = try await Self.fixture.value
        let contract = try Self.contract()
        let granted = ["worker.name.latin.given"] + contract.missingCompanions(of: ["worker.name.latin.given"])
        #expect(contract.missingCompanions(of: granted).isEmpty)
        let client = try await Self.partner("IQ-MIN", fields: granted, fixture: fixture)
        defer { Task { try? await client.shutdown() } }
        let selection = FieldSelection(granted: granted)
        let number = try #require(
            try await fixture.store.query("SELECT permit_number FROM ministry.work_permits ORDER BY id LIMIT 1").decode(String.self).first)
        try await Fixture.until("the agreement is in force") {
            try await fixture.get("/v1/work-permits/\(number)", with: client, purpose: Self.purpose).status == 200
        }
        for accept in ["application/json", "application/xml"] {
            var request = HTTPClientRequest(url: "https://localhost:\(fixture.exchangePort)/v1/work-permits/\(number)")
            request.headers.add(name: "X-Purpose", value: Self.purpose)
            request.headers.add(name: "Accept", value: accept)
            let response = try await client.execute(request, timeout: .seconds(15))
            let body = Array(try await response.body.collect(upTo: 1 << 20).readableBytesView)
            #expect(response.status.code == 200, "\(String(decoding: body, as: UTF8.self))")
            let document = try contract.read(body, format: accept == "application/xml" ? .xml : .json)
            let sent = Self.leaves(document)
            #expect(sent.contains("worker.name.latin.given"))
            #expect(sent.allSatisfy(selection.grants), "\(accept): sent beyond the grant: \(sent.filter { !selection.grants($0) }.sorted())")
        }
        var listing = HTTPClientRequest(url: "https://localhost:\(fixture.exchangePort)/v1/contracts")
        listing.headers.add(name: "Accept", value: "application/json")
        let listed = try await client.execute(listing, timeout: .seconds(15))
        let json = try JSONParser.parse(Array(try await listed.body.collect(upTo: 1 << 20).readableBytesView))
        let fields = json["agreements"]?.arrayValue?.first?["fields"]?.arrayValue?.compactMap(\.stringValue)
        #expect(fields == contract.fields.filter(granted.contains), "served as stored: \(String(describing: fields))")
        let stored = try await fixture.administration().agreements(partner: "IQ-MIN")
        #expect(stored.first?.fields == fields)
    }

    @Test("An agreement stored without the fields its documents need (before the check) sends nothing: 403, logged")
    func storedIncompleteSendsNothing() async throws {
        let fixture = try await Self.fixture.value
        let client = try await Self.partner("IQ-OLD", fields: nil, fixture: fixture)
        defer { Task { try? await client.shutdown() } }
        _ = try await fixture.store.withTransaction { connection in
            try await RegistryWrites.insert(Self.agreement("IQ-OLD", fields: ["worker.name.latin.given"]), on: connection)
        }
        let number = try #require(
            try await fixture.store.query("SELECT permit_number FROM ministry.work_permits ORDER BY id LIMIT 1").decode(String.self).first)
        // Until the registry change (certificate, agreement) is in force the refusal is another one; then this one.
        var reply = try await fixture.get("/v1/work-permits/\(number)", with: client, purpose: Self.purpose)
        try await Fixture.until("the agreement is in force") {
            reply = try await fixture.get("/v1/work-permits/\(number)", with: client, purpose: Self.purpose)
            let pending = ["/no-agreement", "/certificate-not-registered"].contains { reply.problemType?.hasSuffix($0) == true }
            return !pending
        }
        #expect(reply.status == 403 && reply.problemType?.hasSuffix("/agreement-incomplete") == true, "\(reply.text)")
        #expect(!reply.text.contains("given"))
        try await expectLogged(reply, fixture: fixture, status: 403, problem: "agreement-incomplete")
    }
}
