import Foundation

/// One way a document breaks its schema: where (a JSON Pointer into the document), which keyword, and why.
public struct SchemaViolation: Sendable, Hashable, Codable, CustomStringConvertible {
    public let path: String
    public let keyword: String
    public let message: String

    public init(path: String, keyword: String, message: String) {
        self.path = path
        self.keyword = keyword
        self.message = message
    }

    public var description: String { "\(keyword) at \(path.isEmpty ? "/" : path): \(message)" }
}

/// A schema that uses something this validator does not implement; refused at load, never ignored.
public struct SchemaLoadError: Error, Sendable, CustomStringConvertible {
    public let location: String
    public let reason: String
    public var description: String { "schema \(location): \(reason)" }
}

/// A JSON Schema (draft 2020-12) validator for the subset of keywords the contracts use.
///
/// No Swift package validates JSON Schema, so Jisr carries this one. It refuses to load a schema with a
/// keyword it does not know, so a contract can never rely on a rule that is silently skipped; the test
/// suite checks that it agrees with Python's `jsonschema` on every golden example.
public final class JSONSchema: Sendable {
    static let supportedKeywords: Set<String> = [
        "$schema", "$id", "$defs", "$ref", "$comment", "title", "description", "examples",
        "type", "properties", "required", "additionalProperties", "items", "minItems", "maxItems",
        "enum", "const", "pattern", "minLength", "maxLength", "minimum", "maximum", "format",
    ]
    static let supportedFormats: Set<String> = ["date", "date-time"]

    public let root: JSONValue
    /// Every `$ref` of the schema, resolved once (for `resolve`, which the XML form asks).
    private let references: [String: JSONValue]
    /// The schema compiled for validation, and each of its `$defs`.
    private let compiled: SchemaNode
    private let definitions: [String: SchemaNode]

    public init(_ root: JSONValue) throws {
        self.root = root
        var patterns: [String: NSRegularExpressionBox] = [:]
        try Self.check(root, location: "#", root: root, patterns: &patterns)
        var references: [String: JSONValue] = [:]
        Self.collectReferences(root, root: root, into: &references)
        self.references = references
        var compiler = SchemaCompiler(root: root, references: references, patterns: patterns)
        self.compiled = compiler.compile(root)
        var definitions: [String: SchemaNode] = [:]
        for member in root["$defs"]?.objectValue?.members ?? [] { definitions[member.key] = compiler.compile(member.value) }
        self.definitions = definitions
    }

    private static func collectReferences(_ node: JSONValue, root: JSONValue, into references: inout [String: JSONValue]) {
        switch node {
        case .object(let object):
            for member in object.members {
                if member.key == "$ref", let reference = member.value.stringValue, references[reference] == nil {
                    references[reference] = lookup(reference, in: root)
                }
                collectReferences(member.value, root: root, into: &references)
            }
        case .array(let items):
            for item in items { collectReferences(item, root: root, into: &references) }
        default:
            break
        }
    }

    /// The schema that accepts everything (`true`): for documents that have no contract, like the metaservice.
    public static let permissive = JSONSchema(permissive: ())

    private init(permissive: Void) {
        self.root = .bool(true)
        self.references = [:]
        self.compiled = SchemaNode()
        self.definitions = [:]
    }

    public convenience init(data: some Collection<UInt8>) throws {
        try self.init(JSONParser.parse(data))
    }

    /// Every violation in `document`; empty when it is valid.
    public func validate(_ document: JSONValue) -> [SchemaViolation] {
        var violations: [SchemaViolation] = []
        compiled.validate(document, path: { "" }, into: &violations)
        return violations
    }

    /// Every violation of `document` against the definition `$defs/NAME` of this schema.
    public func validate(_ document: JSONValue, definition name: String) -> [SchemaViolation] {
        guard let definition = definitions[name] else {
            return [SchemaViolation(path: "", keyword: "$defs", message: "the schema has no definition \(name)")]
        }
        var violations: [SchemaViolation] = []
        definition.validate(document, path: { "" }, into: &violations)
        return violations
    }

    /// The schema that `$ref` or a property path resolves to, used by the XML form to learn types.
    public func resolve(_ schema: JSONValue) -> JSONValue {
        guard let reference = schema["$ref"]?.stringValue else { return schema }
        return resolve(references[reference] ?? Self.lookup(reference, in: root) ?? .object(JSONObject()))
    }

    static func lookup(_ reference: String, in root: JSONValue) -> JSONValue? {
        guard reference.hasPrefix("#/") else { return reference == "#" ? root : nil }
        var node = root
        for token in reference.dropFirst(2).split(separator: "/") {
            let key = token.contains("~") ? token.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~") : String(token)
            guard let next = node[key] else { return nil }
            node = next
        }
        return node
    }

    private static func check(_ schema: JSONValue, location: String, root: JSONValue, patterns: inout [String: NSRegularExpressionBox]) throws {
        if case .bool = schema { return }
        guard let object = schema.objectValue else { throw SchemaLoadError(location: location, reason: "a schema must be an object or a boolean") }
        for (key, value) in object.members {
            guard supportedKeywords.contains(key) else { throw SchemaLoadError(location: location, reason: "unsupported keyword \(key)") }
            switch key {
            case "$ref":
                guard let reference = value.stringValue, lookup(reference, in: root) != nil else {
                    throw SchemaLoadError(location: location, reason: "unresolvable $ref")
                }
            case "$defs", "properties":
                for member in value.objectValue?.members ?? [] {
                    try check(member.value, location: "\(location)/\(key)/\(member.key)", root: root, patterns: &patterns)
                }
            case "items", "additionalProperties":
                try check(value, location: "\(location)/\(key)", root: root, patterns: &patterns)
            case "pattern":
                guard let pattern = value.stringValue, let expression = try? NSRegularExpression(pattern: pattern) else {
                    throw SchemaLoadError(location: location, reason: "invalid pattern")
                }
                patterns[pattern] = NSRegularExpressionBox(expression, simple: SimplePattern(pattern))
            case "format":
                guard let format = value.stringValue, supportedFormats.contains(format) else {
                    throw SchemaLoadError(location: location, reason: "unsupported format")
                }
            case "minLength", "maxLength", "minItems", "maxItems":
                // A non-negative integer, which JSON Schema lets be written 2.0; anything else is refused, never ignored.
                guard count(value) != nil else { throw SchemaLoadError(location: location, reason: "\(key) must be a non-negative integer") }
            case "minimum", "maximum":
                guard double(value) != nil else { throw SchemaLoadError(location: location, reason: "\(key) must be a number") }
            case "enum":
                guard value.arrayValue != nil else { throw SchemaLoadError(location: location, reason: "enum must be an array") }
            default:
                break
            }
        }
    }

    /// Equality as JSON Schema defines it for `const` and `enum`: numbers by value (`0` is `0.0`), strings by their code
    /// points (a precomposed "é" is not "e" + U+0301, which Swift's `==` would call equal), arrays item by item, objects
    /// by their members whatever their order.
    static func equal(_ lhs: JSONValue, _ rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.integer(let left), .integer(let right)): return left == right
        case (.integer, .number), (.number, .integer), (.number, .number): return double(lhs) == double(rhs)
        case (.string(let left), .string(let right)): return left.unicodeScalars.elementsEqual(right.unicodeScalars)
        case (.array(let left), .array(let right)): return left.count == right.count && zip(left, right).allSatisfy { equal($0, $1) }
        case (.object(let left), .object(let right)):
            guard left.members.count == right.members.count else { return false }
            return left.members.allSatisfy { member in
                right.members.contains { $0.key.unicodeScalars.elementsEqual(member.key.unicodeScalars) && equal($0.value, member.value) }
            }
        case (.bool(let left), .bool(let right)): return left == right
        case (.null, .null): return true
        default: return false
        }
    }

    /// A count keyword's value: a non-negative integer, written as one or as a number without a fraction (`2.0`).
    static func count(_ value: JSONValue) -> Int? {
        switch value {
        case .integer(let number) where number >= 0: Int(number)
        case .number(let number) where number >= 0 && number == number.rounded() && number < 1e15: Int(number)
        default: nil
        }
    }

    static func double(_ value: JSONValue) -> Double? {
        switch value {
        case .integer(let number): Double(number)
        case .number(let number): number
        default: nil
        }
    }


    /// RFC 3339 `full-date`, with a real calendar day.
    public static func isDate(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard bytes.count == 10, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-") else { return false }
        guard let year = digits(bytes[0..<4]), let month = digits(bytes[5..<7]), let day = digits(bytes[8..<10]) else { return false }
        guard year >= 1, (1...12).contains(month), day >= 1 else { return false }
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        let lengths = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        return day <= lengths[month - 1]
    }

    /// RFC 3339 `date-time`: full-date "T" time with seconds and a zone (Z or ±hh:mm).
    public static func isDateTime(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard bytes.count >= 20, isDate(String(decoding: bytes[0..<10], as: UTF8.self)) else { return false }
        guard bytes[10] == UInt8(ascii: "T") || bytes[10] == UInt8(ascii: "t"), bytes[13] == UInt8(ascii: ":"), bytes[16] == UInt8(ascii: ":") else { return false }
        guard let hour = digits(bytes[11..<13]), let minute = digits(bytes[14..<16]), let second = digits(bytes[17..<19]) else { return false }
        guard hour < 24, minute < 60, second < 61 else { return false }
        var index = 19
        if bytes[index] == UInt8(ascii: ".") {
            index += 1
            let start = index
            while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
            guard index > start else { return false }
        }
        guard index < bytes.count else { return false }
        let zone = bytes[index...]
        if zone.count == 1 { return zone.first == UInt8(ascii: "Z") || zone.first == UInt8(ascii: "z") }
        guard zone.count == 6, zone.first == UInt8(ascii: "+") || zone.first == UInt8(ascii: "-"), zone[index + 3] == UInt8(ascii: ":") else { return false }
        guard let zoneHour = digits(zone[(index + 1)..<(index + 3)]), let zoneMinute = digits(zone[(index + 4)..<(index + 6)]) else { return false }
        return zoneHour < 24 && zoneMinute < 60
    }

    private static func digits(_ bytes: ArraySlice<UInt8>) -> Int? {
        var value = 0
        for byte in bytes {
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
        }
        return value
    }
}

/// A compiled `pattern`: the simple matcher when the pattern is of that kind, Foundation's otherwise.
/// (`NSRegularExpression` is immutable and thread-safe but not marked `Sendable`.)
struct NSRegularExpressionBox: @unchecked Sendable {
    let expression: NSRegularExpression
    let simple: SimplePattern?

    init(_ expression: NSRegularExpression, simple: SimplePattern? = nil) {
        self.expression = expression
        self.simple = simple
    }

    func matches(_ text: String) -> Bool {
        if let simple { return simple.matches(text) }
        return expression.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
    }
}
