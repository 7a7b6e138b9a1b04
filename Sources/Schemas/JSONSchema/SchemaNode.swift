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
        case type([String])
        case oneOf([JSONValue])
        case constant(JSONValue)
        case properties([String: SchemaNode])
        case additionalProperties(declared: Set<String>, schema: SchemaNode?)
        case required([String])
        case items(SchemaNode)
        case itemCount(keyword: String, bound: Int)
        case length(keyword: String, bound: Int)
        case pattern(String, NSRegularExpressionBox)
        case range(keyword: String, bound: Double)
        case format(String)
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
                if !allowed.contains(where: { JSONSchema.matches(value, type: $0) }) {
                    violations.append(.init(path: path(), keyword: "type", message: "expected \(allowed.joined(separator: " or ")), found \(value.typeName)"))
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
                        schema.validate(member.value, path: { path() + "/" + JSONSchema.escape(member.key) }, into: &violations)
                    }
                }
            case .additionalProperties(let declared, let schema):
                guard case .object(let object) = value else { continue }
                for member in object.members where !declared.contains(member.key) {
                    if let schema {
                        schema.validate(member.value, path: { path() + "/" + JSONSchema.escape(member.key) }, into: &violations)
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
            case .itemCount(let keyword, let bound):
                guard case .array(let elements) = value else { continue }
                if keyword == "minItems" ? elements.count < bound : elements.count > bound {
                    violations.append(.init(path: path(), keyword: keyword, message: "\(elements.count) items"))
                }
            case .length(let keyword, let bound):
                guard case .string(let text) = value else { continue }
                let length = text.unicodeScalars.count
                if keyword == "minLength" ? length < bound : length > bound {
                    violations.append(.init(path: path(), keyword: keyword, message: "length \(length)"))
                }
            case .pattern(let pattern, let compiled):
                guard case .string(let text) = value else { continue }
                if !compiled.matches(text) {
                    violations.append(.init(path: path(), keyword: "pattern", message: "does not match \(pattern)"))
                }
            case .range(let keyword, let bound):
                guard let number = JSONSchema.double(value) else { continue }
                if keyword == "minimum" ? number < bound : number > bound {
                    violations.append(.init(path: path(), keyword: keyword, message: "out of range"))
                }
            case .format(let format):
                guard case .string(let text) = value else { continue }
                let valid = format == "date" ? JSONSchema.isDate(text) : JSONSchema.isDateTime(text)
                if !valid { violations.append(.init(path: path(), keyword: "format", message: "not a valid \(format)")) }
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
                compiled.append(.type(rule.arrayValue?.compactMap(\.stringValue) ?? [rule.stringValue ?? ""]))
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
                if let bound = JSONSchema.integer(rule) { compiled.append(.itemCount(keyword: keyword, bound: bound)) }
            case "minLength", "maxLength":
                if let bound = JSONSchema.integer(rule) { compiled.append(.length(keyword: keyword, bound: bound)) }
            case "pattern":
                if let pattern = rule.stringValue, let matcher = patterns[pattern] { compiled.append(.pattern(pattern, matcher)) }
            case "minimum", "maximum":
                if let bound = JSONSchema.double(rule) { compiled.append(.range(keyword: keyword, bound: bound)) }
            case "format":
                if let format = rule.stringValue { compiled.append(.format(format)) }
            default:
                continue
            }
        }
        node.rules = compiled
    }
}
