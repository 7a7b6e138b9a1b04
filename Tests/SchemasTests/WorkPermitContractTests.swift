import Foundation
import Schemas
import Testing

/// work-permit/1 and work-permit-event/1: one permit shape in both, pages of permits, lossless forms.
@Suite("Work permit contracts")
struct WorkPermitContractTests {
    static func permit(_ index: Int, nationality: String = "EG") -> WorkPermit {
        WorkPermit(
            permitNumber: "WP-2025-" + String(format: "%07d", index), category: 1 + index % 4, status: ["issued", "renewed", "cancelled", "expired"][index % 4],
            preApproval: .init(reference: "PA-2025-" + String(format: "%07d", index), date: "2025-01-0\(1 + index % 9)"),
            issuedOn: "2025-02-01", expiresOn: "2026-02-01", cancelledOn: index % 4 == 2 ? "2025-06-30" : nil,
            worker: .init(
                passportNumber: "A\(10_000_000 + index)", nationality: nationality,
                name: .init(ar: .init(given: "محمود", father: "سيد", family: "عبد الرحمن & <شركاه>"), latin: .init(given: "Mahmoud", father: "Sayed", family: "O'Neil")),
                dateOfBirth: "1990-05-17", sex: index % 2 == 0 ? "M" : "F"),
            employer: index % 3 == 0 ? nil : .init(registrationNumber: "1000\(100 + index % 900)", name: .init(ar: "فرن", latin: "Bakery")),
            occupation: "7112", updatedAt: "2025-06-30T09:00:00Z")
    }

    @Test("The event's permit definition is work-permit/1 itself")
    func eventEmbedsThePermitContract() throws {
        let permit = try #require(Repository.catalog[WorkPermit.contract]).jsonSchema.root
        let event = try #require(Repository.catalog[WorkPermitEvent.contract]).jsonSchema.root
        let embedded = try #require(event["$defs"]?["workPermit"]?.objectValue)
        for key in ["type", "properties", "required", "additionalProperties"] {
            #expect(embedded[key] == permit[key], "\(key) differs between work-permit/1 and work-permit-event/1")
        }
    }

    @Test("Permits and events round-trip through JSON and XML")
    func roundTrip() throws {
        let permits = try #require(Repository.catalog[WorkPermit.contract])
        let events = try #require(Repository.catalog[WorkPermitEvent.contract])
        for index in 0..<60 {
            let permit = Self.permit(index)
            let document = try DocumentEncoder.encode(permit)
            #expect(try permits.read(try permits.render(document, as: .xml), format: .xml) == document)
            let event = WorkPermitEvent(eventType: "issued", occurredAt: "2025-02-01T08:00:00+02:00", permit: permit)
            let eventDocument = try DocumentEncoder.encode(event)
            let back = try events.read(try events.render(eventDocument, as: .xml), format: .xml)
            #expect(try DocumentDecoder.decode(WorkPermitEvent.self, from: back) == event)
        }
    }

    @Test("A page of permits validates in both forms; an item outside the contract does not")
    func pages() throws {
        let contract = try #require(Repository.catalog[WorkPermit.contract])
        let items = try (0..<3).map { try DocumentEncoder.encode(Self.permit($0)) }
        let page: JSONValue = .object(JSONObject([("items", .array(items)), ("nextCursor", .string("abc_DEF-123"))]))
        let json = try contract.render(page, shape: WorkPermit.page, as: .json)
        let xml = String(decoding: try contract.render(page, shape: WorkPermit.page, as: .xml), as: UTF8.self)
        #expect(json.count > 100)
        #expect(xml.contains("<workPermitPage xmlns=\"urn:lb:labour:jisr:work-permit:1\"><items><workPermit>"))
        var broken = try DocumentEncoder.encode(Self.permit(0))
        if case .object(var object) = broken {
            object["religion"] = .string("x")
            broken = .object(object)
        }
        let badPage: JSONValue = .object(JSONObject([("items", .array([broken]))]))
        #expect(throws: ContractDocumentError.self) { try contract.render(badPage, shape: WorkPermit.page, as: .json) }
        #expect(throws: ContractDocumentError.self) { try contract.render(badPage, shape: WorkPermit.page, as: .xml) }
    }
}
