import CLibXML2

/// A document shape a contract defines besides its root: a `$defs` entry and its XML global element.
public struct DocumentShape: Sendable, Hashable {
    public let definition: String
    public let rootElement: String

    public init(definition: String, rootElement: String) {
        self.definition = definition
        self.rootElement = rootElement
    }
}

/// Why an XML document could not be read as a contract document after it passed its XSD.
public struct XMLFormError: Error, Sendable, CustomStringConvertible {
    public let path: String
    public let reason: String
    public var description: String { "\(path): \(reason)" }
}

/// How a dialect names a contract's elements and writes its values; the shared contract uses its own names.
///
/// Paths are dotted field paths as in `Contract.fields` (array items share their array's path); members of
/// another document shape are `definition:member` (`workPermitPage:items`), and the items of a page restart
/// at the contract's root, "".
public protocol XMLNaming: Sendable {
    /// The element for the member at `path`, given its name in the shared contract.
    func elementName(forField path: String, standard: String) -> String
    /// The element for each item of the array at `path`.
    func itemName(forField path: String, standard: String) -> String
    /// The scalar's text as the contract reads it, from its text in the document.
    func contractText(_ text: String, field path: String) throws -> String
}

/// The shared contract's own names.
public struct StandardNaming: XMLNaming {
    public init() {}
    public func elementName(forField path: String, standard: String) -> String { standard }
    public func itemName(forField path: String, standard: String) -> String { standard }
    public func contractText(_ text: String, field path: String) throws -> String { text }
}

/// Why a dialect document could not be read.
public enum XMLDocumentError: Error, Sendable, CustomStringConvertible {
    case unreadable(XMLInputError)
    case invalid([String])

    public var description: String {
        switch self {
        case .unreadable(let error): error.description
        case .invalid(let violations): violations.joined(separator: "; ")
        }
    }
}

/// The XML form of a contract document, and its exact inverse.
///
/// The rule is the same for every contract, so that JSON and XML carry the same information:
/// an object is an element whose children are its members in schema order; an array is an element whose
/// children are its items, each named after the `$defs` entry the items refer to (`item` otherwise);
/// scalars are text, typed back by the JSON Schema when read. The root element and namespace come from
/// the contract.
public struct XMLForm: Sendable {
    public let rootElement: String
    public let namespace: String
    public let schema: JSONSchema
    public let naming: any XMLNaming

    public init(rootElement: String, namespace: String, schema: JSONSchema, naming: any XMLNaming = StandardNaming()) {
        self.rootElement = rootElement
        self.namespace = namespace
        self.schema = schema
        self.naming = naming
    }

    // MARK: Writing

    public func render(_ document: JSONValue) -> [UInt8] {
        render(document, shape: nil)
    }

    /// Renders a document of another shape the contract defines (a `$defs` entry with its own global element).
    public func render(_ document: JSONValue, shape: DocumentShape?) -> [UInt8] {
        var output = Array(#"<?xml version="1.0" encoding="UTF-8"?>"#.utf8)
        output.append(0x0A)
        let schemaNode = shape.flatMap { schema.root["$defs"]?[$0.definition] } ?? schema.root
        let attributes = namespace.isEmpty ? "" : #" xmlns="\#(namespace)""#
        write(document, name: shape?.rootElement ?? rootElement, schema: schemaNode, path: shape.map { $0.definition + ":" } ?? "", attributes: attributes, into: &output)
        output.append(0x0A)
        return output
    }

    /// The path of a member: dotted below the root, `definition:member` at the top of another shape.
    public static func memberPath(_ prefix: String, _ key: String) -> String {
        prefix.isEmpty || prefix.hasSuffix(":") ? prefix + key : prefix + "." + key
    }

    /// The path inside an array's items: a page's items are documents of the contract, so their paths restart.
    public static func itemPath(_ arrayPath: String, itemSchema: JSONValue) -> String {
        itemSchema["$ref"]?.stringValue == "#" ? "" : arrayPath
    }

    private func write(_ value: JSONValue, name: String, schema: JSONValue, path: String, attributes: String = "", into output: inout [UInt8]) {
        output.append(contentsOf: "<\(name)\(attributes)>".utf8)
        let resolved = self.schema.resolve(schema)
        switch value {
        case .object(let object):
            let properties = resolved["properties"]?.objectValue ?? JSONObject()
            for member in object.members {
                let memberPath = Self.memberPath(path, member.key)
                write(
                    member.value, name: naming.elementName(forField: memberPath, standard: member.key), schema: properties[member.key] ?? .bool(true),
                    path: memberPath, into: &output)
            }
        case .array(let elements):
            let itemSchema = resolved["items"] ?? .bool(true)
            let itemName = naming.itemName(forField: path, standard: itemName(for: itemSchema))
            let itemPath = Self.itemPath(path, itemSchema: itemSchema)
            for element in elements { write(element, name: itemName, schema: itemSchema, path: itemPath, into: &output) }
        case .string(let text): Self.escape(text, into: &output)
        case .integer(let number): output.append(contentsOf: String(number).utf8)
        case .number(let number): output.append(contentsOf: JSONWriter.render(number).utf8)
        case .bool(let flag): output.append(contentsOf: (flag ? "true" : "false").utf8)
        case .null: break
        }
        output.append(contentsOf: "</\(name)>".utf8)
    }

    func itemName(for itemSchema: JSONValue) -> String {
        guard let reference = itemSchema["$ref"]?.stringValue else { return "item" }
        if reference == "#" { return rootElement }
        return reference.split(separator: "/").last.map(String.init) ?? "item"
    }

    private static func escape(_ text: String, into output: inout [UInt8]) {
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "&"): output.append(contentsOf: "&amp;".utf8)
            case UInt8(ascii: "<"): output.append(contentsOf: "&lt;".utf8)
            case UInt8(ascii: ">"): output.append(contentsOf: "&gt;".utf8)
            case 0x0D: output.append(contentsOf: "&#13;".utf8)
            default: output.append(byte)
            }
        }
    }

    // MARK: Reading

    /// Parses untrusted XML safely, checks it against `xsd` when there is one, and reads it into the contract's
    /// JSON form; the caller validates that against the contract's JSON Schema.
    public func read(_ bytes: [UInt8], validatingWith xsd: XSDSchema?) throws(XMLDocumentError) -> JSONValue {
        let document: XMLDocumentHandle
        do { document = try XMLSafeParser.parse(bytes) } catch { throw .unreadable(error) }
        if let xsd {
            let violations = xsd.validate(document)
            guard violations.isEmpty else { throw .invalid(violations) }
        }
        do { return try read(document) } catch { throw .invalid(["\(error)"]) }
    }

    /// Reads an XSD-valid document back into its JSON form.
    func read(_ document: XMLDocumentHandle) throws -> JSONValue {
        guard let root = document.root else { throw XMLFormError(path: "/", reason: "empty document") }
        let name = String(cString: root.pointee.name)
        guard name == rootElement else { throw XMLFormError(path: "/", reason: "root element is \(name), expected \(rootElement)") }
        return try read(root, schema: schema.root, path: "", location: "")
    }

    private func read(_ node: xmlNodePtr, schema: JSONValue, path: String, location: String) throws -> JSONValue {
        let resolved = self.schema.resolve(schema)
        let type = resolved["type"]?.stringValue ?? "string"
        switch type {
        case "object":
            let properties = resolved["properties"]?.objectValue ?? JSONObject()
            var keys: [String: String] = [:]
            for member in properties.members { keys[naming.elementName(forField: Self.memberPath(path, member.key), standard: member.key)] = member.key }
            var object = JSONObject()
            for child in Self.elements(of: node) {
                let element = String(cString: child.pointee.name)
                guard let key = keys[element], let propertySchema = properties[key] else {
                    throw XMLFormError(path: location, reason: "unexpected element \(element)")
                }
                guard object[key] == nil else { throw XMLFormError(path: location, reason: "repeated element \(element)") }
                object[key] = try read(child, schema: propertySchema, path: Self.memberPath(path, key), location: location + "/" + element)
            }
            return .object(object)
        case "array":
            let itemSchema = resolved["items"] ?? .bool(true)
            let itemPath = Self.itemPath(path, itemSchema: itemSchema)
            return .array(try Self.elements(of: node).enumerated().map { position, child in
                try read(child, schema: itemSchema, path: itemPath, location: location + "/\(position)")
            })
        default:
            let text: String
            do { text = try naming.contractText(Self.text(of: node), field: path) } catch {
                throw XMLFormError(path: location, reason: "\(error)")
            }
            switch type {
            case "integer":
                guard let number = Int64(text) else { throw XMLFormError(path: location, reason: "not an integer") }
                return .integer(number)
            case "number":
                guard let number = Double(text), number.isFinite else { throw XMLFormError(path: location, reason: "not a number") }
                return .number(number)
            case "boolean":
                guard text == "true" || text == "false" else { throw XMLFormError(path: location, reason: "not a boolean") }
                return .bool(text == "true")
            default:
                return .string(text)
            }
        }
    }

    private static func elements(of node: xmlNodePtr) -> [xmlNodePtr] {
        var result: [xmlNodePtr] = []
        var child = node.pointee.children
        while let current = child {
            if current.pointee.type == XML_ELEMENT_NODE { result.append(current) }
            child = current.pointee.next
        }
        return result
    }

    private static func text(of node: xmlNodePtr) -> String {
        var bytes: [UInt8] = []
        var child = node.pointee.children
        while let current = child {
            if current.pointee.type == XML_TEXT_NODE || current.pointee.type == XML_CDATA_SECTION_NODE, let content = current.pointee.content {
                var cursor = content
                while cursor.pointee != 0 {
                    bytes.append(cursor.pointee)
                    cursor += 1
                }
            }
            child = current.pointee.next
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
