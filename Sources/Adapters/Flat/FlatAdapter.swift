import Schemas

/// For partners whose import takes one flat JSON object per record: every value under its dotted path
/// (`permit.worker.nationality`, `employments.0.employer.registrationNumber`).
///
/// A mapping can rename and recode but keeps the contract's nesting; flattening changes the structure, so it
/// is written in Swift. Flat partners get JSON whatever they ask for: the layout has no XML form.
public struct FlatAdapter: Adapter {
    public let name = "flat"
    public let pushFormat = DocumentFormat.json

    public init() {}

    public func render(_ document: JSONValue, contract: Contract, format: DocumentFormat) throws(ContractDocumentError) -> WireDocument {
        let violations = contract.jsonSchema.validate(document)
        guard violations.isEmpty else { throw failure(contract, .invalid, violations.map(\.description)) }
        return flat(document)
    }

    public func render(_ document: JSONValue, contract: Contract, shape: DocumentShape, format: DocumentFormat) throws(ContractDocumentError) -> WireDocument {
        let violations = contract.jsonSchema.validate(document, definition: shape.definition)
        guard violations.isEmpty else { throw failure(contract, .invalid, violations.map(\.description)) }
        // A page stays a page; each of its records is flat.
        guard case .object(var page) = document, let items = page["items"]?.arrayValue else { return flat(document) }
        page["items"] = .array(items.map { .object(JSONObject(Self.flatten($0))) })
        return WireDocument(bytes: JSONWriter.data(.object(page)), mediaType: DocumentFormat.json.mediaType)
    }

    public func read(_ bytes: [UInt8], contract: Contract, format: DocumentFormat) throws(ContractDocumentError) -> JSONValue {
        guard format == .json else { throw failure(contract, .unreadable, ["the flat layout is JSON only"]) }
        let value: JSONValue
        do { value = try JSONParser.parse(bytes) } catch { throw failure(contract, .unreadable, [error.description]) }
        guard let object = value.objectValue else { throw failure(contract, .invalid, ["a flat record is one JSON object"]) }
        var document = JSONValue.object(JSONObject())
        for member in object.members {
            let segments = member.key.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            guard insert(member.value, at: segments[...], into: &document, schema: contract.jsonSchema.root, contract: contract) else {
                throw failure(contract, .invalid, ["\(member.key) is not a field of \(contract.id)"])
            }
        }
        let violations = contract.jsonSchema.validate(document)
        guard violations.isEmpty else { throw failure(contract, .invalid, violations.map(\.description)) }
        return document
    }

    private func flat(_ document: JSONValue) -> WireDocument {
        WireDocument(bytes: JSONWriter.data(.object(JSONObject(Self.flatten(document)))), mediaType: DocumentFormat.json.mediaType)
    }

    /// Leaves under their dotted paths; an empty list or object keeps its path so that it comes back.
    static func flatten(_ value: JSONValue, prefix: String = "") -> [(key: String, value: JSONValue)] {
        func join(_ key: String) -> String { prefix.isEmpty ? key : prefix + "." + key }
        switch value {
        case .object(let object) where !object.isEmpty:
            return object.members.flatMap { flatten($0.value, prefix: join($0.key)) }
        case .array(let elements) where !elements.isEmpty:
            return elements.enumerated().flatMap { flatten($0.element, prefix: join(String($0.offset))) }
        default:
            return [(prefix, value)]
        }
    }

    /// Puts a value back at its path, the schema telling lists from objects; list positions must come in order.
    private func insert(_ value: JSONValue, at segments: ArraySlice<String>, into node: inout JSONValue, schema: JSONValue, contract: Contract) -> Bool {
        guard let segment = segments.first else {
            node = value
            return true
        }
        let resolved = contract.jsonSchema.resolve(schema)
        switch resolved["type"]?.stringValue {
        case "array":
            guard let position = Int(segment), var elements = node.arrayValue ?? (node == .object(JSONObject()) ? [] : nil) else { return false }
            guard position <= elements.count else { return false }
            let itemSchema = resolved["items"] ?? .bool(true)
            if position == elements.count { elements.append(.object(JSONObject())) }
            guard insert(value, at: segments.dropFirst(), into: &elements[position], schema: itemSchema, contract: contract) else { return false }
            node = .array(elements)
            return true
        default:
            guard let propertySchema = resolved["properties"]?[segment], case .object(var object) = node else { return false }
            var child = object[segment] ?? .object(JSONObject())
            guard insert(value, at: segments.dropFirst(), into: &child, schema: propertySchema, contract: contract) else { return false }
            object[segment] = child
            node = .object(object)
            return true
        }
    }

    private func failure(_ contract: Contract, _ kind: ContractDocumentError.Kind, _ violations: [String]) -> ContractDocumentError {
        ContractDocumentError(kind: kind, contract: contract.id, format: .json, violations: violations)
    }
}
