import Foundation
import Schemas
import Testing

/// Unsafe or malformed documents are refused with a typed error before they reach a handler.
@Suite("Parsers refuse hostile input")
struct HostileInputTests {
    var contract: Contract { Repository.catalog[EmploymentRecord.contract]! }

    func refusal(_ text: String, _ format: DocumentFormat) -> ContractDocumentError? {
        do {
            _ = try contract.read(Array(text.utf8), format: format)
            return nil
        } catch {
            return error
        }
    }

    @Test("A DOCTYPE, external entities and entity expansion are refused", arguments: [
        #"<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><employmentRecord xmlns="urn:lb:labour:jisr:employment-record:1">&x;</employmentRecord>"#,
        #"<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "http://127.0.0.1:1/x">]><r>&x;</r>"#,
        #"<!DOCTYPE r [<!ENTITY % p SYSTEM "http://127.0.0.1:1/p.dtd"> %p;]><r/>"#,
        #"<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]><r>&lol2;</r>"#,
        #"<!DOCTYPE r SYSTEM "http://127.0.0.1:1/r.dtd"><r/>"#,
    ])
    func doctypeRefused(_ text: String) throws {
        let error = try #require(refusal(text, .xml))
        #expect(error.kind == .unreadable)
        #expect(error.violations.joined().contains("DTD"))
    }

    @Test("An XSD cannot reach out: xs:include and xs:import of a file or a URL are never loaded, and the refusal names them")
    func schemaIncludesRefused() throws {
        // A real schema file beside it that, if it were read, would make the including schema compile.
        let folder = NSTemporaryDirectory() + "jisr-xsd-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let included = folder + "/types.xsd"
        try #"<?xml version="1.0"?><xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"><xs:simpleType name="code"><xs:restriction base="xs:string"/></xs:simpleType></xs:schema>"#
            .write(toFile: included, atomically: true, encoding: .utf8)
        let sources = [
            "file://" + included, included, "/etc/hostname", "http://127.0.0.1:9/evil.xsd",
        ]
        for source in sources {
            let xsd = """
                <?xml version="1.0"?><xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">\
                <xs:include schemaLocation="\(source)"/><xs:element name="r" type="code"/></xs:schema>
                """
            do {
                _ = try XSDSchema(data: Array(xsd.utf8))
                Issue.record("\(source) was loaded")
            } catch {
                #expect(error.detail?.contains(source) == true, "the refusal names \(source): \(String(describing: error.detail))")
            }
            let importing = """
                <?xml version="1.0"?><xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:t="urn:t">\
                <xs:import namespace="urn:t" schemaLocation="\(source)"/><xs:element name="r" type="t:code"/></xs:schema>
                """
            #expect(throws: XMLInputError.self, "\(source) imported") { _ = try XSDSchema(data: Array(importing.utf8)) }
        }
        let hostname = (try? String(contentsOfFile: "/etc/hostname", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        do {
            _ = try XSDSchema(data: Array(#"<?xml version="1.0"?><xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"><xs:include schemaLocation="/etc/hostname"/></xs:schema>"#.utf8))
        } catch {
            #expect(hostname.isEmpty || !(error.detail ?? "").contains(hostname), "nothing of the file's content in the refusal: \(String(describing: error.detail))")
        }
    }

    @Test("XML that is too deep, not UTF-8 or malformed is refused")
    func malformedXML() throws {
        let deep = String(repeating: "<a>", count: 10_000) + String(repeating: "</a>", count: 10_000)
        #expect(refusal(deep, .xml)?.kind == .unreadable)
        #expect(throws: ContractDocumentError.self) { try contract.read([0x3C, 0x61, 0x3E, 0xFF, 0xFE, 0x3C, 0x2F, 0x61, 0x3E], format: .xml) }
        #expect(refusal("<a><b></a>", .xml)?.kind == .unreadable)
        #expect(refusal(#"<?xml version="1.0" encoding="ISO-8859-1"?><a/>"#, .xml)?.kind == .unreadable)
    }

    @Test("JSON with duplicate keys, invalid UTF-8, excessive depth or huge numbers is refused")
    func malformedJSON() throws {
        #expect(throws: JSONSyntaxError(reason: .duplicateKey, offset: 14)) { try JSONParser.parse(Array(#"{"person":{}, "person":{}}"#.utf8)) }
        #expect(throws: JSONSyntaxError(reason: .invalidUTF8, offset: 2)) { try JSONParser.parse([0x22, 0x61, 0xC3, 0x28, 0x22]) }
        #expect(throws: JSONSyntaxError.self) { try JSONParser.parse(Array((String(repeating: "[", count: 100) + String(repeating: "]", count: 100)).utf8)) }
        #expect(throws: JSONSyntaxError(reason: .numberOutOfRange, offset: 0)) { try JSONParser.parse(Array("123456789012345678901234567890".utf8)) }
        #expect(throws: JSONSyntaxError(reason: .numberOutOfRange, offset: 0)) { try JSONParser.parse(Array("1e999".utf8)) }
        #expect(throws: JSONSyntaxError(reason: .trailingData, offset: 3)) { try JSONParser.parse(Array("{} x".utf8)) }
        #expect(try JSONParser.parse(Array(#"{"a":"\u0645\ud83d\ude00"}"#.utf8)) == .object(JSONObject([("a", .string("م😀"))])))
    }

    @Test("The JSON Schema validator refuses schemas that use keywords it does not implement")
    func unknownKeywordsRefused() throws {
        #expect(throws: SchemaLoadError.self) { try JSONSchema(JSONParser.parse(Array(#"{"type":"object","oneOf":[]}"#.utf8))) }
        #expect(throws: SchemaLoadError.self) { try JSONSchema(JSONParser.parse(Array(#"{"format":"email"}"#.utf8))) }
    }

    @Test("Dates are real calendar days", arguments: [("2024-02-29", true), ("2023-02-29", false), ("2023-13-01", false), ("0000-01-01", false), ("2023-1-01", false)])
    func dates(_ text: String, _ valid: Bool) {
        #expect(JSONSchema.isDate(text) == valid)
    }
}
