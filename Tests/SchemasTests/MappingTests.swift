import Foundation
import Testing

@testable import Adapters
@testable import Schemas

/// The mapping adapter: the demo's Iraqi dialect both ways, and a bad mapping refused with its line and reason.
@Suite("Mapping adapter")
struct MappingTests {
    static let mappingPath = Repository.root.appendingPathComponent("mappings/iq-molsa/mapping.json").path
    static let xsdPath = Repository.root.appendingPathComponent("mappings/iq-molsa/work-permit-notice.xsd").path
    static let event = ContractID(name: "work-permit-event", version: 1)

    static func iraqi() throws -> MappingAdapter {
        MappingAdapter(mapping: try Mapping.compile(try MappingSource.load(path: mappingPath), catalog: Repository.catalog))
    }

    static func example(_ name: String) throws -> JSONValue {
        let url = Repository.contracts.appendingPathComponent("work-permit-event/1/examples/valid/\(name)")
        return try JSONParser.parse(Array(try Data(contentsOf: url)))
    }

    @Test("IQ-MOLSA's notice: its element names, its codes, dd/MM/yyyy dates, Baghdad time — and xmllint accepts it against its XSD")
    func iraqiDialect() async throws {
        let adapter = try Self.iraqi()
        let contract = try #require(Repository.catalog[Self.event])
        #expect(adapter.pushFormat == .xml)
        let wire = try adapter.render(try Self.example("issued.json"), contract: contract, format: .xml)
        let text = String(decoding: wire.bytes, as: UTF8.self)
        #expect(text.contains(#"<WorkPermitNotice xmlns="urn:iq:gov:molsa:fwr:notice:2">"#))
        #expect(text.contains("<NoticeType>1</NoticeType>"))
        #expect(text.contains("<NoticeTime>15/03/2024 12:00:00</NoticeTime>"), "09:00Z is noon in Baghdad")
        #expect(text.contains("<PermitClass>D</PermitClass>"))
        #expect(text.contains("<NationalityCode>231</NationalityCode>"), "Ethiopia is 231 in ISO numeric")
        #expect(text.contains("<IssueDate>15/03/2024</IssueDate>"))
        #expect(text.contains("<Gender>2</Gender>"))
        #expect(!text.contains("workPermitEvent") && !text.contains("eventType"))
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("iq-notice-\(UUID()).xml")
        try Data(wire.bytes).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let (status, output) = try await Repository.run("xmllint", ["--noout", "--nonet", "--schema", Self.xsdPath, file.path])
        #expect(status == 0, "xmllint: \(output)")
    }

    @Test("A notice in the Iraqi dialect reads back to the shared contract's document", arguments: ["issued.json", "cancelled.json"])
    func readsBack(name: String) throws {
        let adapter = try Self.iraqi()
        let contract = try #require(Repository.catalog[Self.event])
        let original = try Self.example(name)
        for format in [DocumentFormat.xml, .json] {
            let back = try adapter.read(try adapter.render(original, contract: contract, format: format).bytes, contract: contract, format: format)
            #expect(contract.jsonSchema.validate(back).isEmpty)
            // Times come back in Baghdad time: the same instants, written at +03:00.
            #expect(back["occurredAt"]?.stringValue?.hasSuffix("+03:00") == true)
            let dialect = try #require(adapter.mapping.dialects[Self.event])
            #expect(dialect.normalized(back, schema: contract.jsonSchema.root, path: "") == dialect.normalized(original, schema: contract.jsonSchema.root, path: ""), "\(format)")
            #expect(Self.removingTimes(back) == Self.removingTimes(original), "everything but the times' offsets is identical")
        }
    }

    static func removingTimes(_ document: JSONValue) -> JSONValue {
        guard case .object(var event) = document, case .object(var permit)? = event["permit"] else { return document }
        event["occurredAt"] = nil
        permit["updatedAt"] = nil
        event["permit"] = .object(permit)
        return .object(event)
    }

    @Test("A notice the partner wrote by hand is read; one with a code it does not define is refused naming the field")
    func handWritten() throws {
        let adapter = try Self.iraqi()
        let contract = try #require(Repository.catalog[Self.event])
        let notice = """
            <?xml version="1.0" encoding="UTF-8"?>
            <WorkPermitNotice xmlns="urn:iq:gov:molsa:fwr:notice:2"><NoticeType>2</NoticeType><NoticeTime>01/11/2026 08:30:00</NoticeTime>\
            <Permit><PermitNo>WP-2026-0000077</PermitNo><PermitClass>B</PermitClass><PermitState>2</PermitState>\
            <Worker><PassportNo>LR1234567</PassportNo><NationalityCode>422</NationalityCode></Worker></Permit></WorkPermitNotice>
            """
        let document = try adapter.read(Array(notice.utf8), contract: contract, format: .xml)
        #expect(document["eventType"] == .string("renewed"))
        #expect(document["occurredAt"] == .string("2026-11-01T08:30:00+03:00"))
        #expect(document["permit"]?["category"] == .integer(2))
        #expect(document["permit"]?["worker"]?["nationality"] == .string("LB"))
        let unknown = notice.replacingOccurrences(of: "<NationalityCode>422<", with: "<NationalityCode>999<")
        let error = #expect(throws: ContractDocumentError.self) { try adapter.read(Array(unknown.utf8), contract: contract, format: .xml) }
        #expect(error?.violations.joined().contains("permit.worker.nationality: unknown code \"999\"") == true, "\(String(describing: error))")
        let invalidDate = notice.replacingOccurrences(of: "01/11/2026 08:30:00", with: "31/02/2026 08:30:00")
        #expect(throws: ContractDocumentError.self) { try adapter.read(Array(invalidDate.utf8), contract: contract, format: .xml) }
    }

    /// A mapping edited by hand, and what the administrator is told.
    struct Refusal: CustomTestStringConvertible, Sendable {
        let name: String
        let edit: @Sendable (String) -> String
        let line: Int?
        let reason: String
        var testDescription: String { name }
    }

    static func line(of needle: String) -> Int {
        let text = try! String(contentsOfFile: mappingPath, encoding: .utf8)
        let lines = text.components(separatedBy: "\n")
        return 1 + lines.firstIndex { $0.contains(needle) }!
    }

    static let refusals: [Refusal] = [
        Refusal(
            name: "a misspelt field", edit: { $0.replacingOccurrences(of: #""permit.worker.nationality": "NationalityCode""#, with: #""permit.workr.nationality": "NationalityCode""#) },
            line: line(of: #""permit.worker.nationality": "NationalityCode""#), reason: "\"permit.workr.nationality\" is not a field of work-permit-event/1"),
        Refusal(
            name: "an event type without a code", edit: { $0.replacingOccurrences(of: #", "expired": "4"}"#, with: "}") },
            line: nil, reason: "eventType needs a code for every value; missing: expired"),
        Refusal(
            name: "one code for two values", edit: { $0.replacingOccurrences(of: #""renewed": "2", "cancelled": "3", "expired": "4"}"#, with: #""renewed": "2", "cancelled": "2", "expired": "4"}"#) },
            line: nil, reason: "code \"2\" stands for both \"renewed\" and \"cancelled\""),
        Refusal(
            name: "a date layout with an unknown letter", edit: { $0.replacingOccurrences(of: #""dateFormat": "dd/MM/yyyy""#, with: #""dateFormat": "dd/MMM/yyyy""#) },
            line: line(of: #""dateFormat""#), reason: "unknown letter"),
        Refusal(
            name: "a date-time layout that loses the seconds",
            edit: { $0.replacingOccurrences(of: #""dateTimeFormat": "dd/MM/yyyy HH:mm:ss""#, with: #""dateTimeFormat": "dd/MM/yyyy HH:mm""#) },
            line: line(of: #""dateTimeFormat""#), reason: "needs HH, mm and ss"),
        Refusal(
            name: "two members with one name", edit: { $0.replacingOccurrences(of: #""permit.expiresOn": "ExpiryDate""#, with: #""permit.expiresOn": "IssueDate""#) },
            line: nil, reason: "would both be named \"IssueDate\""),
        Refusal(
            name: "an element name XML cannot carry", edit: { $0.replacingOccurrences(of: #""permit": "Permit""#, with: #""permit": "Permit No""#) },
            line: line(of: #""permit": "Permit""#), reason: "\"Permit No\" is not a valid XML element name"),
        Refusal(
            name: "codes the partner's XSD refuses", edit: { $0.replacingOccurrences(of: #""3": "C", "4": "D"}"#, with: #""3": "C", "4": "E"}"#) },
            line: line(of: #""work-permit-event/1": {"#), reason: "cannot travel through the mapping in xml"),
        Refusal(
            name: "an unknown key", edit: { $0.replacingOccurrences(of: #""dateFormat": "dd/MM/yyyy""#, with: #""dateFormats": "dd/MM/yyyy""#) },
            line: line(of: #""dateFormat""#), reason: "unknown key \"dateFormats\""),
        Refusal(
            name: "a contract that is not published", edit: { $0.replacingOccurrences(of: #""work-permit-event/1": {"#, with: #""work-permit-event/9": {"#) },
            line: line(of: #""work-permit-event/1": {"#), reason: "\"work-permit-event/9\" is not a published contract"),
        Refusal(
            name: "not JSON", edit: { $0.replacingOccurrences(of: #""permit.occupation": "ProfessionCode","#, with: #""permit.occupation": "ProfessionCode""#) },
            line: line(of: #""permit.updatedAt""#), reason: "not valid JSON"),
    ]

    @Test("An invalid mapping is refused with the line and the reason", arguments: refusals)
    func refused(_ refusal: Refusal) throws {
        var source = try MappingSource.load(path: Self.mappingPath)
        let edited = refusal.edit(source.text)
        let changed = edited != source.text
        #expect(changed, "the edit must change the mapping")
        source.text = edited
        let error = #expect(throws: MappingError.self) { try Mapping.compile(source, catalog: Repository.catalog) }
        guard let error else { return }
        #expect(error.reason.contains(refusal.reason), "\(error)")
        if let line = refusal.line { #expect(error.line == line, "\(error)") }
        #expect(error.line > 1, "\(error)")
    }

    @Test("A schema file the mapping names but that was not attached is refused")
    func missingFile() throws {
        var source = try MappingSource.load(path: Self.mappingPath)
        source.files = [:]
        let error = #expect(throws: MappingError.self) { try Mapping.compile(source, catalog: Repository.catalog) }
        #expect(error?.reason.contains("work-permit-notice.xsd was not attached") == true)
        #expect(error?.line == Self.line(of: #""xsd""#))
    }

    @Test("A JSON dialect: renamed members inside an envelope, and back")
    func jsonEnvelope() throws {
        let source = MappingSource(
            text: """
                {
                  "jisrMapping": 1,
                  "format": "json",
                  "contracts": {
                    "work-permit-event/1": {
                      "envelope": ["notice", "body"],
                      "rename": {"eventType": "type", "permit.permitNumber": "number"},
                      "dates": {"permit.issuedOn": "yyyyMMdd"}
                    }
                  }
                }
                """)
        let adapter = MappingAdapter(mapping: try Mapping.compile(source, catalog: Repository.catalog))
        let contract = try #require(Repository.catalog[Self.event])
        let original = try Self.example("cancelled.json")
        let wire = try adapter.render(original, contract: contract, format: .json)
        let sent = try JSONParser.parse(wire.bytes)
        #expect(sent["notice"]?["body"]?["type"] == .string("cancelled"))
        #expect(sent["notice"]?["body"]?["permit"]?["number"] == .string("WP-2023-0000042"))
        #expect(sent["notice"]?["body"]?["permit"]?["issuedOn"] == .string("20230201"))
        #expect(try adapter.read(wire.bytes, contract: contract, format: .json) == original)
        #expect(throws: ContractDocumentError.self) { try adapter.read(Array(#"{"notice": {}}"#.utf8), contract: contract, format: .json) }
    }

    @Test("A page of permits in a dialect: its own page root and member names, each permit under the dialect's root")
    func pages() throws {
        let source = MappingSource(
            text: """
                {
                  "jisrMapping": 1,
                  "format": "xml",
                  "contracts": {
                    "work-permit/1": {
                      "root": "Tasreeh",
                      "namespace": "",
                      "rename": {"permitNumber": "Raqam"},
                      "shapes": {"workPermitPage": {"root": "Tasareeh", "rename": {"items": "Qaima", "nextCursor": "Baad"}}}
                    }
                  }
                }
                """)
        let adapter = MappingAdapter(mapping: try Mapping.compile(source, catalog: Repository.catalog))
        let contract = try #require(Repository.catalog[ContractID(name: "work-permit", version: 1)])
        let permits = contract.examples.map(\.document)
        #expect(permits.count >= 1)
        let page = JSONValue.object(JSONObject([("items", .array(permits)), ("nextCursor", .string("abc_123"))]))
        let xml = String(decoding: try adapter.render(page, contract: contract, shape: WorkPermit.page, format: .xml).bytes, as: UTF8.self)
        #expect(xml.contains("<Tasareeh><Qaima><Tasreeh><Raqam>"), "\(xml)")
        #expect(xml.contains("<Baad>abc_123</Baad></Tasareeh>"))
        #expect(!xml.contains("xmlns"))
        let json = try JSONParser.parse(try adapter.render(page, contract: contract, shape: WorkPermit.page, format: .json).bytes)
        #expect(json["Qaima"]?.arrayValue?.first?["Raqam"] != nil)
        #expect(json["Baad"] == .string("abc_123"))
    }

    @Test("Dates and times convert exactly across midnight, month and year ends")
    func civilTime() throws {
        let moment = try #require(CivilMoment.dateTime("2025-12-31T22:30:15.123456Z"))
        #expect(moment.at(offsetMinutes: 180).contractDateTime == "2026-01-01T01:30:15+03:00")
        #expect(try #require(CivilMoment.dateTime("2024-03-01T01:00:00+03:00")).at(offsetMinutes: 0).contractDateTime == "2024-02-29T22:00:00Z")
        let layout = try DatePattern("dd/MM/yyyy")
        #expect(layout.parse("29/02/2023", defaultOffset: 0) == nil)
        #expect(layout.parse("29/02/2024", defaultOffset: 0)?.contractDate == "2024-02-29")
        #expect(layout.parse("1/3/2024", defaultOffset: 0) == nil)
        #expect(try DatePattern("yyyy-MM-dd'T'HH:mm:ssXXX").parse("2024-03-15T09:00:00-05:30", defaultOffset: 0)?.offsetMinutes == -330)
    }
}

/// The Swift adapter: what a mapping cannot express (a flat record), both ways.
@Suite("Flat adapter")
struct FlatAdapterTests {
    @Test("An employment record with a list of employments flattens to dotted paths and comes back whole")
    func roundTrip() throws {
        let id = ContractID(name: "employment-record", version: 1)
        let contract = try #require(Repository.catalog[id])
        let adapter = FlatAdapter()
        for example in contract.examples {
            let wire = try adapter.render(example.document, contract: contract, format: .xml)
            #expect(wire.mediaType == "application/json")
            let flat = try #require(try JSONParser.parse(wire.bytes).objectValue)
            #expect(flat.keys.allSatisfy { !$0.isEmpty }, "\(example.name)")
            #expect(try adapter.read(wire.bytes, contract: contract, format: .json) == example.document, "\(example.name)")
        }
        let record = try #require(contract.examples.first).document
        let flat = try JSONParser.parse(try adapter.render(record, contract: contract, format: .json).bytes)
        if record["employments"]?.arrayValue?.isEmpty == false {
            #expect(flat.objectValue?.keys.contains { $0.hasPrefix("employments.0.") } == true)
        }
        #expect(throws: ContractDocumentError.self) {
            try adapter.read(Array(#"{"person.nationalId": "1", "nosuch.field": 2}"#.utf8), contract: contract, format: .json)
        }
    }
}
