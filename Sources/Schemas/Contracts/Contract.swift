import Foundation
import Synchronization

/// The name and version of a shared record format, written `employment-record/1`.
public struct ContractID: Hashable, Sendable, Codable, CustomStringConvertible, Comparable {
    public let name: String
    public let version: Int

    public init(name: String, version: Int) {
        self.name = name
        self.version = version
    }

    /// Parses `name/version`; nil for anything else.
    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let version = Int(parts[1]), version > 0, !parts[0].isEmpty else { return nil }
        self.init(name: String(parts[0]), version: version)
    }

    public var description: String { "\(name)/\(version)" }

    public static func < (lhs: ContractID, rhs: ContractID) -> Bool { (lhs.name, lhs.version) < (rhs.name, rhs.version) }
}

/// The two forms a document travels in.
public enum DocumentFormat: String, Sendable, Codable {
    case json
    case xml

    public var mediaType: String { self == .json ? "application/json" : "application/xml" }
}

/// Why a document does not belong to its contract: it could not be parsed, or it breaks the schema.
public struct ContractDocumentError: Error, Sendable, CustomStringConvertible {
    /// Whether the document could not be read at all, or broke its schema.
    public enum Kind: String, Sendable {
        /// Not well-formed, unsafe, or not UTF-8.
        case unreadable
        /// Well-formed but violates the JSON Schema or the XSD.
        case invalid
    }

    public let kind: Kind
    public let contract: ContractID
    public let format: DocumentFormat
    public let violations: [String]

    public init(kind: Kind, contract: ContractID, format: DocumentFormat, violations: [String]) {
        self.kind = kind
        self.contract = contract
        self.format = format
        self.violations = violations
    }

    public var description: String { "\(contract) \(format.rawValue) \(kind.rawValue): \(violations.joined(separator: "; "))" }
}

/// What a field is called, in the two languages a person's report is written in.
public struct FieldLabel: Sendable, Hashable, Codable {
    public let ar: String
    public let en: String

    public init(ar: String, en: String) {
        self.ar = ar
        self.en = en
    }
}

/// One version of a contract: its schemas, its XML form, and the catalogue of fields an agreement can grant.
public final class Contract: Sendable {
    public let id: ContractID
    public let title: String
    public let jsonSchema: JSONSchema
    public let xsd: XSDSchema
    public let xmlForm: XMLForm
    /// The schema documents as published, served to partners byte for byte.
    public let jsonSchemaDocument: [UInt8]
    public let xsdDocument: [UInt8]
    /// Every grantable field as a dotted path (`employments.monthlySalary.amount`), in schema order.
    public let fields: [String]
    /// Fields present in every document (required, under required parents): they identify the record, and an
    /// agreement must grant them (`missingCompanions`).
    public let requiredFields: Set<String>
    /// For each object path ("" for the root), the members the schema requires whenever that object appears.
    let requiredMembers: [String: [String]]
    /// Paths that have members of their own.
    let containers: Set<String>

    /// Labels of fields and groups of fields (`person.name` for every part of a name), from `contract.json`; every
    /// field has one on itself or on an object above it.
    public let labels: [String: FieldLabel]

    /// The contract's valid golden examples (JSON form) by file name, so a mapping can be tried on them.
    public let examples: [(name: String, document: JSONValue)]
    /// Grants already worked out, by their fields: every exchange asks for its agreement's, and agreements are few.
    private let grants = Mutex<[[String]: (selection: FieldSelection, missing: [String])]>([:])

    public init(
        id: ContractID, title: String, rootElement: String, namespace: String, jsonSchemaDocument: [UInt8], xsdDocument: [UInt8],
        examples: [(name: String, document: JSONValue)] = [], labels: [String: FieldLabel] = [:]
    ) throws {
        self.id = id
        self.labels = labels
        self.examples = examples
        self.title = title
        self.jsonSchemaDocument = jsonSchemaDocument
        self.xsdDocument = xsdDocument
        self.jsonSchema = try JSONSchema(data: jsonSchemaDocument)
        self.xsd = try XSDSchema(data: xsdDocument)
        self.xmlForm = XMLForm(rootElement: rootElement, namespace: namespace, schema: jsonSchema)
        var fields: [String] = []
        var required: Set<String> = []
        var members: [String: [String]] = [:]
        Self.collect(jsonSchema.root, schema: jsonSchema, prefix: "", parentRequired: true, fields: &fields, required: &required, members: &members)
        self.fields = fields
        self.requiredFields = required
        self.requiredMembers = members
        self.containers = Set(fields.compactMap { path in path.lastIndex(of: ".").map { String(path[..<$0]) } })
    }

    /// The labelled group a field belongs to: the field itself or its nearest labelled ancestor, with its label.
    public func label(of field: String) -> (path: String, label: FieldLabel)? {
        var parts = field.split(separator: ".")
        while !parts.isEmpty {
            let path = parts.joined(separator: ".")
            if let label = labels[path] { return (path, label) }
            parts.removeLast()
        }
        return nil
    }

    /// Fields no label covers (each must have one for a person's report to name it).
    public var unlabelledFields: [String] { leafFields.filter { label(of: $0) == nil } }

    private static func collect(
        _ node: JSONValue, schema: JSONSchema, prefix: String, parentRequired: Bool, fields: inout [String], required: inout Set<String>,
        members: inout [String: [String]]
    ) {
        var resolved = schema.resolve(node)
        if resolved["type"]?.stringValue == "array" { resolved = schema.resolve(resolved["items"] ?? .bool(true)) }
        guard let properties = resolved["properties"]?.objectValue else { return }
        let requiredNames = Set(resolved["required"]?.arrayValue?.compactMap(\.stringValue) ?? [])
        for member in properties.members {
            let path = prefix.isEmpty ? member.key : prefix + "." + member.key
            fields.append(path)
            let isRequired = requiredNames.contains(member.key)
            if isRequired {
                members[prefix, default: []].append(path)
                if parentRequired { required.insert(path) }
            }
            collect(member.value, schema: schema, prefix: path, parentRequired: parentRequired && isRequired, fields: &fields, required: &required, members: &members)
        }
    }

    /// Where a document of this contract names the nationality of the one person it is about; nil when it is not
    /// about one person (an establishment), so that a nationality scope cannot apply to it and is refused.
    public var subjectNationalityField: String? {
        Self.subjectNationalityFields[id.name].flatMap { fields.contains($0) ? $0 : nil }
    }

    static let subjectNationalityFields = [
        "employment-record": "person.nationality", "work-permit": "worker.nationality", "work-permit-event": "permit.worker.nationality",
    ]

    /// Fields with no members of their own: granting every leaf but one sends everything but that one.
    public var leafFields: [String] { fields.filter { !containers.contains($0) } }

    /// The selection for an agreement's grant: exactly the granted fields (and the objects that hold them). What
    /// an agreement grants is what leaves, nothing more; a grant that lacks fields the schema requires beside it
    /// (`missingCompanions`) cannot make a valid document, and is refused rather than completed.
    public func selection(granting granted: [String]) -> FieldSelection {
        worked(granted).selection
    }

    /// The fields a grant must add for its documents to be valid, in schema order: the record's identifying fields,
    /// and the members the schema requires inside any object the grant sends. Empty for a complete grant.
    public func missingCompanions(of granted: [String]) -> [String] {
        worked(granted).missing
    }

    private func worked(_ granted: [String]) -> (selection: FieldSelection, missing: [String]) {
        if let known = grants.withLock({ $0[granted] }) { return known }
        let selection = FieldSelection(granted: granted)
        let needed = neededLeaves(granting: granted)
        let missing = leafFields.filter { needed.contains($0) && !selection.grants($0) }
        let result = (selection: selection, missing: missing)
        grants.withLock { cache in
            // Bounded whatever the registry holds: past the bound, grants are worked out each time.
            if cache.count < 1024 { cache[granted] = result }
        }
        return result
    }

    /// Every leaf a valid document with the granted fields must hold: the granted ones, the identifying ones, and
    /// the required members of every object on the way to them.
    private func neededLeaves(granting granted: [String]) -> Set<String> {
        var leaves = Set(granted.filter { !containers.contains($0) })
        var structure: Set<String> = []
        var pending: [String] = [""]
        for path in requiredFields {
            if containers.contains(path) { structure.insert(path) } else { leaves.insert(path) }
        }
        // A granted object grants its members, so its required ones are in the grant already.
        for path in granted where containers.contains(path) { structure.insert(path) }
        for path in leaves.union(structure) {
            var parts = path.split(separator: ".")
            while parts.count > 1 {
                parts.removeLast()
                structure.insert(parts.joined(separator: "."))
            }
        }
        pending += structure
        var visited: Set<String> = []
        while let path = pending.popLast() {
            guard visited.insert(path).inserted else { continue }
            for member in requiredMembers[path] ?? [] {
                if containers.contains(member) {
                    structure.insert(member)
                    pending.append(member)
                } else {
                    leaves.insert(member)
                }
            }
        }
        return leaves
    }

    // MARK: Reading documents

    /// Parses and validates a document in the form it travelled in, returning its JSON form.
    public func read(_ bytes: [UInt8], format: DocumentFormat) throws(ContractDocumentError) -> JSONValue {
        switch format {
        case .json:
            let value: JSONValue
            do { value = try JSONParser.parse(bytes) } catch { throw failure(.unreadable, .json, [error.description]) }
            let violations = jsonSchema.validate(value)
            guard violations.isEmpty else { throw failure(.invalid, .json, violations.map(\.description)) }
            return value
        case .xml:
            let document: XMLDocumentHandle
            do { document = try XMLSafeParser.parse(bytes) } catch { throw failure(.unreadable, .xml, [error.description]) }
            let violations = xsd.validate(document)
            guard violations.isEmpty else { throw failure(.invalid, .xml, violations) }
            do { return try xmlForm.read(document) } catch { throw failure(.invalid, .xml, ["\(error)"]) }
        }
    }

    // MARK: Writing documents

    /// Renders a document in `format` and validates the bytes that will travel; an invalid result is a bug.
    public func render(_ document: JSONValue, as format: DocumentFormat) throws(ContractDocumentError) -> [UInt8] {
        switch format {
        case .json:
            let violations = jsonSchema.validate(document)
            guard violations.isEmpty else { throw failure(.invalid, .json, violations.map(\.description)) }
            return JSONWriter.data(document)
        case .xml:
            let bytes = xmlForm.render(document)
            let violations: [String]
            do { violations = try xsd.validate(bytes) } catch { throw failure(.unreadable, .xml, [error.description]) }
            guard violations.isEmpty else { throw failure(.invalid, .xml, violations) }
            return bytes
        }
    }

    /// Renders and validates a document of another shape the contract defines (e.g. a page of records).
    public func render(_ document: JSONValue, shape: DocumentShape, as format: DocumentFormat) throws(ContractDocumentError) -> [UInt8] {
        switch format {
        case .json:
            let violations = jsonSchema.validate(document, definition: shape.definition)
            guard violations.isEmpty else { throw failure(.invalid, .json, violations.map(\.description)) }
            return JSONWriter.data(document)
        case .xml:
            let bytes = xmlForm.render(document, shape: shape)
            let violations: [String]
            do { violations = try xsd.validate(bytes) } catch { throw failure(.unreadable, .xml, [error.description]) }
            guard violations.isEmpty else { throw failure(.invalid, .xml, violations) }
            return bytes
        }
    }

    private func failure(_ kind: ContractDocumentError.Kind, _ format: DocumentFormat, _ violations: [String]) -> ContractDocumentError {
        ContractDocumentError(kind: kind, contract: id, format: format, violations: violations)
    }
}
