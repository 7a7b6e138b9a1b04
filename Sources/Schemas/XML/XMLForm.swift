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

    public init(rootElement: String, namespace: String, schema: JSONSchema) {
        self.rootElement = rootElement
        self.namespace = namespace
        self.schema = schema
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
        write(document, name: shape?.rootElement ?? rootElement, schema: schemaNode, attributes: #" xmlns="\#(namespace)""#, into: &output)
        output.append(0x0A)
        return output
    }

    private func write(_ value: JSONValue, name: String, schema: JSONValue, attributes: String = "", into output: inout [UInt8]) {
        output.append(contentsOf: "<\(name)\(attributes)>".utf8)
        let resolved = self.schema.resolve(schema)
        switch value {
        case .object(let object):
            let properties = resolved["properties"]?.objectValue ?? JSONObject()
            for member in object.members {
                write(member.value, name: member.key, schema: properties[member.key] ?? .bool(true), into: &output)
            }
        case .array(let elements):
            let itemSchema = resolved["items"] ?? .bool(true)
            let itemName = itemName(for: itemSchema)
            for element in elements { write(element, name: itemName, schema: itemSchema, into: &output) }
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

    /// Reads an XSD-valid document back into its JSON form.
    func read(_ document: XMLDocumentHandle) throws -> JSONValue {
        guard let root = document.root else { throw XMLFormError(path: "/", reason: "empty document") }
        let name = String(cString: root.pointee.name)
        guard name == rootElement else { throw XMLFormError(path: "/", reason: "root element is \(name), expected \(rootElement)") }
        return try read(root, schema: schema.root, path: "")
    }

    private func read(_ node: xmlNodePtr, schema: JSONValue, path: String) throws -> JSONValue {
        let resolved = self.schema.resolve(schema)
        let type = resolved["type"]?.stringValue ?? "string"
        switch type {
        case "object":
            let properties = resolved["properties"]?.objectValue ?? JSONObject()
            var object = JSONObject()
            for child in Self.elements(of: node) {
                let key = String(cString: child.pointee.name)
                guard let propertySchema = properties[key] else { throw XMLFormError(path: path, reason: "unexpected element \(key)") }
                guard object[key] == nil else { throw XMLFormError(path: path, reason: "repeated element \(key)") }
                object[key] = try read(child, schema: propertySchema, path: path + "/" + key)
            }
            return .object(object)
        case "array":
            let itemSchema = resolved["items"] ?? .bool(true)
            return .array(try Self.elements(of: node).enumerated().map { position, child in
                try read(child, schema: itemSchema, path: path + "/\(position)")
            })
        default:
            let text = Self.text(of: node)
            switch type {
            case "integer":
                guard let number = Int64(text) else { throw XMLFormError(path: path, reason: "not an integer") }
                return .integer(number)
            case "number":
                guard let number = Double(text), number.isFinite else { throw XMLFormError(path: path, reason: "not a number") }
                return .number(number)
            case "boolean":
                guard text == "true" || text == "false" else { throw XMLFormError(path: path, reason: "not a boolean") }
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
