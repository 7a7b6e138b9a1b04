import Foundation
import Schemas
import Testing

/// The compiled validator on what the golden examples do not reach: references to themselves, pointers that need
/// escaping, `false` schemas and definitions validated on their own.
@Suite("JSON Schema validator")
struct JSONSchemaTests {
    static let tree = """
        {
          "$defs": {
            "node": {
              "type": "object",
              "required": ["name"],
              "properties": {
                "name": {"type": "string", "minLength": 1},
                "children": {"type": "array", "items": {"$ref": "#/$defs/node"}, "maxItems": 3}
              },
              "additionalProperties": false
            },
            "tagged": {
              "type": "object",
              "properties": {"a/b": {"const": 1}, "c~d": {"enum": ["x", "y"]}, "never": false},
              "additionalProperties": {"type": "integer", "minimum": 0}
            }
          },
          "$ref": "#/$defs/node"
        }
        """

    func schema() throws -> JSONSchema { try JSONSchema(JSONParser.parse(Array(Self.tree.utf8))) }
    func parse(_ text: String) throws -> JSONValue { try JSONParser.parse(Array(text.utf8)) }

    @Test("const and enum compare as JSON Schema does: objects whatever their member order, strings by code point, numbers by value")
    func equalityAsJSONSchemaDefinesIt() throws {
        let schema = try JSONSchema(try parse(#"{"properties":{"o":{"const":{"a":1,"b":[1,2]}},"s":{"enum":["é"]},"n":{"const":0},"m":{"enum":[1.5,{"x":null}]}}}"#))
        #expect(schema.validate(try parse(#"{"o":{"b":[1,2.0],"a":1.0},"s":"é","n":0.0,"m":{"x":null}}"#)).isEmpty)
        // "e" followed by U+0301 is canonically equivalent to "é" (Swift's == says equal); JSON Schema compares code points.
        let decomposed = try parse("{\"s\":\"e\u{0301}\"}")
        #expect(schema.validate(decomposed).map(\.keyword) == ["enum"])
        #expect(schema.validate(try parse(#"{"o":{"a":1,"b":[2,1]}}"#)).map(\.keyword) == ["const"], "arrays keep their order")
        #expect(schema.validate(try parse(#"{"o":{"a":1,"b":[1,2],"c":3}}"#)).map(\.keyword) == ["const"])
        #expect(schema.validate(try parse(#"{"n":false}"#)).map(\.keyword) == ["const"])
    }

    @Test("Counts written as 2.0 are honoured; a count that is not a non-negative integer refuses the schema at load")
    func countsAsNumbers() throws {
        let schema = try JSONSchema(try parse(#"{"properties":{"s":{"minLength":2.0,"maxLength":3.0},"a":{"minItems":1.0,"maxItems":2.0}}}"#))
        #expect(schema.validate(try parse(#"{"s":"ab","a":[1]}"#)).isEmpty)
        #expect(schema.validate(try parse(#"{"s":"a","a":[]}"#)).map(\.keyword) == ["minLength", "minItems"])
        #expect(schema.validate(try parse(#"{"s":"abcd","a":[1,2,3]}"#)).map(\.keyword) == ["maxLength", "maxItems"])
        for bad in [#"{"minLength":1.5}"#, #"{"maxItems":-1}"#, #"{"minLength":"2"}"#, #"{"maximum":"10"}"#, #"{"enum":"x"}"#] {
            #expect(throws: SchemaLoadError.self, "\(bad)") { try JSONSchema(try parse(bad)) }
        }
    }

    @Test("A schema that refers to itself validates nested documents to any depth, with the path of each violation")
    func recursive() throws {
        let schema = try schema()
        #expect(schema.validate(try parse(#"{"name":"root","children":[{"name":"a","children":[{"name":"b"}]}]}"#)).isEmpty)
        let violations = schema.validate(try parse(#"{"name":"root","children":[{"name":"a","children":[{"name":"","extra":1},{}]}]}"#))
        #expect(
            violations.map(\.description) == [
                "minLength at /children/0/children/0/name: length 0",
                "additionalProperties at /children/0/children/0: property extra is not allowed",
                "required at /children/0/children/1: missing property name",
            ])
        #expect(schema.validate(try parse(#"{"name":"x","children":[{"name":"1"},{"name":"2"},{"name":"3"},{"name":"4"}]}"#)).map(\.keyword) == ["maxItems"])
        #expect(schema.validate(try parse(#"[]"#)).map(\.keyword) == ["type"])
    }

    @Test("Member names with / and ~ are escaped in violation paths (RFC 6901); false allows nothing; a definition validates alone")
    func pointersAndDefinitions() throws {
        let schema = try schema()
        let document = try parse(#"{"a/b":2,"c~d":"z","never":null,"count":-1,"fine":3}"#)
        #expect(
            schema.validate(document, definition: "tagged").map(\.description) == [
                "const at /a~1b: not the required value",
                "enum at /c~0d: not one of the allowed values",
                "false at /never: no value is allowed here",
                "minimum at /count: out of range",
            ])
        #expect(schema.validate(try parse(#"{"a/b":1,"c~d":"y","count":0}"#), definition: "tagged").isEmpty)
        #expect(schema.validate(document, definition: "missing").map(\.keyword) == ["$defs"])
    }
}
