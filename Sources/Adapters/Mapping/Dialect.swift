import Schemas

/// How one value is written in a partner's dialect: a code from its list, or a date in its layout.
enum ValueConversion: Sendable {
    case code(CodeTable)
    case date(DatePattern)
    case dateTime(DatePattern, offsetMinutes: Int)

    func outgoing(_ value: JSONValue, field: String) throws(MappingReason) -> JSONValue {
        let text = Self.text(of: value)
        switch self {
        case .code(let table):
            guard let text, let code = table.forward[text] else {
                throw MappingReason("\(field): the mapping has no code for \(text.map { "\"\($0)\"" } ?? value.typeName)")
            }
            return .string(code)
        case .date(let pattern):
            guard let text, let moment = CivilMoment.date(text) else { throw MappingReason("\(field): not a date") }
            return .string(pattern.format(moment))
        case .dateTime(let pattern, let offset):
            guard let text, let moment = CivilMoment.dateTime(text) else { throw MappingReason("\(field): not a date-time") }
            return .string(pattern.format(moment.at(offsetMinutes: offset)))
        }
    }

    /// The contract's text for a value written in the dialect.
    func incoming(_ text: String, field: String) throws(MappingReason) -> String {
        switch self {
        case .code(let table):
            guard let value = table.backward[text] else { throw MappingReason("\(field): unknown code \"\(text)\"") }
            return value
        case .date(let pattern):
            guard let moment = pattern.parse(text, defaultOffset: 0) else { throw MappingReason("\(field): \"\(text)\" is not a date in \(pattern)") }
            return moment.contractDate
        case .dateTime(let pattern, let offset):
            guard let moment = pattern.parse(text, defaultOffset: offset) else {
                throw MappingReason("\(field): \"\(text)\" is not a date-time in \(pattern)")
            }
            return moment.contractDateTime
        }
    }

    static func text(of value: JSONValue) -> String? {
        switch value {
        case .string(let text): text
        case .integer(let number): String(number)
        case .bool(let flag): flag ? "true" : "false"
        default: nil
        }
    }
}

/// A code list both ways; the compiler has checked that no partner code stands for two values.
struct CodeTable: Sendable {
    let forward: [String: String]
    let backward: [String: String]
}

/// One contract as a partner's dialect writes it: the names, the values, the root, and the partner's own schema.
struct Dialect: Sendable {
    let contract: Contract
    let rootElement: String
    let namespace: String
    let envelope: [String]
    let names: [String: String]
    let itemNames: [String: String]
    let shapeRoots: [String: String]
    let values: [String: ValueConversion]
    let xsd: XSDSchema?
    let jsonSchema: JSONSchema?

    var xmlForm: XMLForm {
        XMLForm(rootElement: rootElement, namespace: namespace, schema: contract.jsonSchema, naming: DialectNaming(names: names, itemNames: itemNames, values: values))
    }

    // MARK: Writing

    func render(_ document: JSONValue, shape: DocumentShape?, format: DocumentFormat) throws(ContractDocumentError) -> [UInt8] {
        let violations = shape.map { contract.jsonSchema.validate(document, definition: $0.definition) } ?? contract.jsonSchema.validate(document)
        guard violations.isEmpty else { throw failure(.invalid, format, violations.map(\.description)) }
        let schemaNode = shape.flatMap { contract.jsonSchema.root["$defs"]?[$0.definition] } ?? contract.jsonSchema.root
        let converted: JSONValue
        do { converted = try outgoing(document, schema: schemaNode, path: shape.map { $0.definition + ":" } ?? "", renameKeys: format == .json) } catch {
            throw failure(.invalid, format, [error.text])
        }
        switch format {
        case .json:
            let wrapped = envelope.reversed().reduce(converted) { inner, key in .object(JSONObject([(key, inner)])) }
            if let jsonSchema, shape == nil {
                let violations = jsonSchema.validate(wrapped)
                guard violations.isEmpty else { throw failure(.invalid, .json, violations.map(\.description)) }
            }
            return JSONWriter.data(wrapped)
        case .xml:
            let dialectShape = shape.map { DocumentShape(definition: $0.definition, rootElement: shapeRoots[$0.definition] ?? $0.rootElement) }
            let bytes = xmlForm.render(converted, shape: dialectShape)
            if let xsd {
                let violations: [String]
                do { violations = try xsd.validate(bytes) } catch { throw failure(.unreadable, .xml, [error.description]) }
                guard violations.isEmpty else { throw failure(.invalid, .xml, violations) }
            }
            return bytes
        }
    }

    private func outgoing(_ value: JSONValue, schema: JSONValue, path: String, renameKeys: Bool) throws(MappingReason) -> JSONValue {
        let resolved = contract.jsonSchema.resolve(schema)
        switch value {
        case .object(let object):
            let properties = resolved["properties"]?.objectValue ?? JSONObject()
            var members: [(key: String, value: JSONValue)] = []
            for member in object.members {
                let memberPath = XMLForm.memberPath(path, member.key)
                let key = renameKeys ? names[memberPath] ?? member.key : member.key
                members.append((key, try outgoing(member.value, schema: properties[member.key] ?? .bool(true), path: memberPath, renameKeys: renameKeys)))
            }
            return .object(JSONObject(members))
        case .array(let elements):
            let itemSchema = resolved["items"] ?? .bool(true)
            let itemPath = XMLForm.itemPath(path, itemSchema: itemSchema)
            var items: [JSONValue] = []
            for element in elements { items.append(try outgoing(element, schema: itemSchema, path: itemPath, renameKeys: renameKeys)) }
            return .array(items)
        default:
            return try values[path]?.outgoing(value, field: path) ?? value
        }
    }

    // MARK: Reading

    func read(_ bytes: [UInt8], format: DocumentFormat) throws(ContractDocumentError) -> JSONValue {
        let document: JSONValue
        switch format {
        case .json:
            var value: JSONValue
            do { value = try JSONParser.parse(bytes) } catch { throw failure(.unreadable, .json, [error.description]) }
            if let jsonSchema {
                let violations = jsonSchema.validate(value)
                guard violations.isEmpty else { throw failure(.invalid, .json, violations.map(\.description)) }
            }
            var location = ""
            for key in envelope {
                location += "/" + key
                guard let inner = value[key] else { throw failure(.invalid, .json, ["\(location): the envelope member is missing"]) }
                value = inner
            }
            do { document = try incoming(value, schema: contract.jsonSchema.root, path: "", location: location) } catch {
                throw failure(.invalid, .json, [error.text])
            }
        case .xml:
            do { document = try xmlForm.read(bytes, validatingWith: xsd) } catch {
                switch error {
                case .unreadable(let reason): throw failure(.unreadable, .xml, [reason.description])
                case .invalid(let violations): throw failure(.invalid, .xml, violations)
                }
            }
        }
        let violations = contract.jsonSchema.validate(document)
        guard violations.isEmpty else { throw failure(.invalid, format, violations.map(\.description)) }
        return document
    }

    private func incoming(_ value: JSONValue, schema: JSONValue, path: String, location: String) throws(MappingReason) -> JSONValue {
        let resolved = contract.jsonSchema.resolve(schema)
        switch value {
        case .object(let object):
            let properties = resolved["properties"]?.objectValue ?? JSONObject()
            var keys: [String: String] = [:]
            for member in properties.members { keys[names[XMLForm.memberPath(path, member.key)] ?? member.key] = member.key }
            var members: [(key: String, value: JSONValue)] = []
            for member in object.members {
                guard let key = keys[member.key], let propertySchema = properties[key] else {
                    throw MappingReason("\(location.isEmpty ? "/" : location): unexpected member \(member.key)")
                }
                let memberPath = XMLForm.memberPath(path, key)
                members.append((key, try incoming(member.value, schema: propertySchema, path: memberPath, location: location + "/" + member.key)))
            }
            return .object(JSONObject(members))
        case .array(let elements):
            let itemSchema = resolved["items"] ?? .bool(true)
            let itemPath = XMLForm.itemPath(path, itemSchema: itemSchema)
            var items: [JSONValue] = []
            for (position, element) in elements.enumerated() {
                items.append(try incoming(element, schema: itemSchema, path: itemPath, location: location + "/\(position)"))
            }
            return .array(items)
        default:
            guard let conversion = values[path] else { return value }
            guard let text = ValueConversion.text(of: value) else { throw MappingReason("\(location): expected a string") }
            return try Self.typed(try conversion.incoming(text, field: path), as: resolved["type"]?.stringValue, location: location)
        }
    }

    static func typed(_ text: String, as type: String?, location: String) throws(MappingReason) -> JSONValue {
        switch type {
        case "integer":
            guard let number = Int64(text) else { throw MappingReason("\(location): not an integer") }
            return .integer(number)
        case "number":
            guard let number = Double(text), number.isFinite else { throw MappingReason("\(location): not a number") }
            return .number(number)
        case "boolean":
            guard text == "true" || text == "false" else { throw MappingReason("\(location): not a boolean") }
            return .bool(text == "true")
        default:
            return .string(text)
        }
    }

    /// The document with every converted date-time at UTC to the second: what survives a trip through the dialect.
    func normalized(_ value: JSONValue, schema: JSONValue, path: String) -> JSONValue {
        let resolved = contract.jsonSchema.resolve(schema)
        switch value {
        case .object(let object):
            let properties = resolved["properties"]?.objectValue ?? JSONObject()
            return .object(JSONObject(object.members.map { member in
                (member.key, normalized(member.value, schema: properties[member.key] ?? .bool(true), path: XMLForm.memberPath(path, member.key)))
            }))
        case .array(let elements):
            let itemSchema = resolved["items"] ?? .bool(true)
            return .array(elements.map { normalized($0, schema: itemSchema, path: XMLForm.itemPath(path, itemSchema: itemSchema)) })
        case .string(let text):
            guard case .dateTime = values[path], let moment = CivilMoment.dateTime(text) else { return value }
            return .string(moment.at(offsetMinutes: 0).contractDateTime)
        default:
            return value
        }
    }

    private func failure(_ kind: ContractDocumentError.Kind, _ format: DocumentFormat, _ violations: [String]) -> ContractDocumentError {
        ContractDocumentError(kind: kind, contract: contract.id, format: format, violations: violations)
    }
}

/// The XML names and value conversions of a dialect, as `XMLForm` asks for them.
struct DialectNaming: XMLNaming {
    let names: [String: String]
    let itemNames: [String: String]
    let values: [String: ValueConversion]

    func elementName(forField path: String, standard: String) -> String { names[path] ?? standard }
    func itemName(forField path: String, standard: String) -> String { itemNames[path] ?? standard }
    func contractText(_ text: String, field path: String) throws -> String {
        guard let conversion = values[path] else { return text }
        do { return try conversion.incoming(text, field: path) } catch { throw MappingFailure(reason: error.text) }
    }
}

/// A value the dialect's document carries that the mapping cannot translate back.
struct MappingFailure: Error, CustomStringConvertible {
    let reason: String
    var description: String { reason }
}
