import Foundation

/// A schema compiled for validation: its keywords read once into typed rules, in the schema's order.
///
/// Validating against the schema's JSON directly compared every keyword's name, built sets and arrays from the
/// rules, and spelled out the JSON Pointer of every member visited — on every document, valid ones included. A
/// compiled node does that work at load; pointers are spelled only for a violation.
///
/// A `$ref` points at the node compiled for its target, and references may be cyclic, so nodes are filled in after
/// they are made. They are never changed once `SchemaCompiler` returns, which is what makes sharing them safe.
final class SchemaNode: @unchecked Sendable {
    enum Rule {
        case nothing
        case reference(SchemaNode)
        case type(TypeSet)
        case oneOf([JSONValue])
        case constant(JSONValue)
        case properties([String: SchemaNode])
        case additionalProperties(declared: Set<String>, schema: SchemaNode?)
        case required([String])
        case items(SchemaNode)
        case itemCount(Bound, Int)
        case length(Bound, Int)
        case pattern(String, NSRegularExpressionBox)
        case range(Bound, Double)
        case format(date: Bool, name: String)
    }

    /// Which end a `min…`/`max…` keyword bounds.
    enum Bound {
        case minimum, maximum

        func excludes<Value: Comparable>(_ value: Value, _ bound: Value) -> Bool { self == .minimum ? value < bound : value > bound }
        func keyword(_ suffix: String) -> String { (self == .minimum ? "min" : "max") + suffix }
    }

    /// The JSON types a `type` keyword allows, as bits, with their names for the message.
    struct TypeSet {
        let bits: UInt8
        let names: [String]

        init(_ names: [String]) {
            self.names = names
            bits = names.reduce(0) { bits, name in bits | Self.bit(name) }
        }

        static func bit(_ name: String) -> UInt8 {
            switch name {
            case "null": 1
            case "boolean": 2
            case "string": 4
            case "array": 8
            case "object": 16
            case "integer": 32
            case "number": 64
            default: 0
            }
        }

        func allows(_ value: JSONValue) -> Bool {
            switch value {
            case .null: bits & 1 != 0
            case .bool: bits & 2 != 0
            case .string: bits & 4 != 0
            case .array: bits & 8 != 0
            case .object: bits & 16 != 0
            case .integer: bits & (32 | 64) != 0
            case .number(let number): bits & 64 != 0 || (bits & 32 != 0 && number == number.rounded())
            }
        }
    }

    fileprivate(set) var rules: [Rule] = []

    func validate(_ value: JSONValue, path: () -> String, into violations: inout [SchemaViolation]) {
        for rule in rules {
            switch rule {
            case .nothing:
                violations.append(.init(path: path(), keyword: "false", message: "no value is allowed here"))
            case .reference(let target):
                target.validate(value, path: path, into: &violations)
            case .type(let allowed):
                if !allowed.allows(value) {
                    violations.append(.init(path: path(), keyword: "type", message: "expected \(allowed.names.joined(separator: " or ")), found \(value.typeName)"))
                }
            case .oneOf(let options):
                if !options.contains(where: { JSONSchema.equal($0, value) }) {
                    violations.append(.init(path: path(), keyword: "enum", message: "not one of the allowed values"))
                }
            case .constant(let required):
                if !JSONSchema.equal(required, value) { violations.append(.init(path: path(), keyword: "const", message: "not the required value")) }
            case .properties(let properties):
                guard case .object(let object) = value else { continue }
                for member in object.members {
                    if let schema = properties[member.key] {
                        schema.validate(member.value, path: { path() + "/" + LocatedJSON.escape(member.key) }, into: &violations)
                    }
                }
            case .additionalProperties(let declared, let schema):
                guard case .object(let object) = value else { continue }
                for member in object.members where !declared.contains(member.key) {
                    if let schema {
                        schema.validate(member.value, path: { path() + "/" + LocatedJSON.escape(member.key) }, into: &violations)
                    } else {
                        violations.append(.init(path: path(), keyword: "additionalProperties", message: "property \(member.key) is not allowed"))
                    }
                }
            case .required(let names):
                guard case .object(let object) = value else { continue }
                for name in names where object[name] == nil {
                    violations.append(.init(path: path(), keyword: "required", message: "missing property \(name)"))
                }
            case .items(let schema):
                guard case .array(let elements) = value else { continue }
                for (position, element) in elements.enumerated() {
                    schema.validate(element, path: { path() + "/\(position)" }, into: &violations)
                }
            case .itemCount(let end, let bound):
                guard case .array(let elements) = value else { continue }
                if end.excludes(elements.count, bound) {
                    violations.append(.init(path: path(), keyword: end.keyword("Items"), message: "\(elements.count) items"))
                }
            case .length(let end, let bound):
                guard case .string(let text) = value else { continue }
                let length = text.unicodeScalars.count
                if end.excludes(length, bound) {
                    violations.append(.init(path: path(), keyword: end.keyword("Length"), message: "length \(length)"))
                }
            case .pattern(let pattern, let compiled):
                guard case .string(let text) = value else { continue }
                if !compiled.matches(text) {
                    violations.append(.init(path: path(), keyword: "pattern", message: "does not match \(pattern)"))
                }
            case .range(let end, let bound):
                guard let number = JSONSchema.double(value) else { continue }
                if end.excludes(number, bound) {
                    violations.append(.init(path: path(), keyword: end.keyword("imum"), message: "out of range"))
                }
            case .format(let date, let name):
                guard case .string(let text) = value else { continue }
                let valid = date ? JSONSchema.isDate(text) : JSONSchema.isDateTime(text)
                if !valid { violations.append(.init(path: path(), keyword: "format", message: "not a valid \(name)")) }
            }
        }
    }
}

/// Turns a checked schema (`JSONSchema.check`) into `SchemaNode`s; each `$ref` target is compiled once.
struct SchemaCompiler {
    let root: JSONValue
    let references: [String: JSONValue]
    let patterns: [String: NSRegularExpressionBox]
    private var targets: [String: SchemaNode] = [:]

    init(root: JSONValue, references: [String: JSONValue], patterns: [String: NSRegularExpressionBox]) {
        self.root = root
        self.references = references
        self.patterns = patterns
    }

    mutating func compile(_ schema: JSONValue) -> SchemaNode {
        let node = SchemaNode()
        fill(node, from: schema)
        return node
    }

    private mutating func target(_ reference: String) -> SchemaNode? {
        if let node = targets[reference] { return node }
        guard let schema = references[reference] ?? JSONSchema.lookup(reference, in: root) else { return nil }
        let node = SchemaNode()
        targets[reference] = node  // before filling: a reference inside its own target finds it
        fill(node, from: schema)
        return node
    }

    private mutating func fill(_ node: SchemaNode, from schema: JSONValue) {
        if case .bool(let allowed) = schema {
            if !allowed { node.rules = [.nothing] }
            return
        }
        guard let rules = schema.objectValue else { return }
        var compiled: [SchemaNode.Rule] = []
        for (keyword, rule) in rules.members {
            switch keyword {
            case "$ref":
                if let target = rule.stringValue.flatMap({ target($0) }) { compiled.append(.reference(target)) }
            case "type":
                compiled.append(.type(SchemaNode.TypeSet(rule.arrayValue?.compactMap(\.stringValue) ?? [rule.stringValue ?? ""])))
            case "enum":
                if let options = rule.arrayValue { compiled.append(.oneOf(options)) }
            case "const":
                compiled.append(.constant(rule))
            case "properties":
                guard let properties = rule.objectValue else { continue }
                var nodes: [String: SchemaNode] = [:]
                // The first of repeated names wins, as a lookup in the schema's own object would find it.
                for member in properties.members where nodes[member.key] == nil { nodes[member.key] = compile(member.value) }
                compiled.append(.properties(nodes))
            case "additionalProperties":
                let declared = Set(rules["properties"]?.objectValue?.keys ?? [])
                if case .bool(false) = rule {
                    compiled.append(.additionalProperties(declared: declared, schema: nil))
                } else {
                    compiled.append(.additionalProperties(declared: declared, schema: compile(rule)))
                }
            case "required":
                compiled.append(.required(rule.arrayValue?.compactMap(\.stringValue) ?? []))
            case "items":
                compiled.append(.items(compile(rule)))
            case "minItems", "maxItems":
                if let bound = JSONSchema.count(rule) { compiled.append(.itemCount(keyword == "minItems" ? .minimum : .maximum, bound)) }
            case "minLength", "maxLength":
                if let bound = JSONSchema.count(rule) { compiled.append(.length(keyword == "minLength" ? .minimum : .maximum, bound)) }
            case "pattern":
                if let pattern = rule.stringValue, let matcher = patterns[pattern] { compiled.append(.pattern(pattern, matcher)) }
            case "minimum", "maximum":
                if let bound = JSONSchema.double(rule) { compiled.append(.range(keyword == "minimum" ? .minimum : .maximum, bound)) }
            case "format":
                if let format = rule.stringValue { compiled.append(.format(date: format == "date", name: format)) }
            default:
                continue
            }
        }
        node.rules = compiled
    }
}
