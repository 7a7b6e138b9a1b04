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
