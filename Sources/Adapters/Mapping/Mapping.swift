import Schemas

/// A partner's dialect of the shared contracts, compiled from a declarative mapping file.
///
/// The file renames fields and elements, maps code lists, converts date layouts and sets the XML root and
/// namespace or a JSON envelope; it never changes content, so a document read back through the mapping is the
/// document that was sent. Compiling checks everything a mistake could break — and renders every golden
/// example of each mapped contract through it and back — so a bad file is refused when it is attached, with
/// its line, never when a message is due.
public struct Mapping: Sendable {
    /// The format deliveries are pushed in; queries follow `Accept` as for every partner.
    public let format: DocumentFormat
    let dialects: [ContractID: Dialect]

    /// The contracts this mapping translates; others travel in the shared form.
    public var contracts: [ContractID] { dialects.keys.sorted() }

    public static func compile(_ source: MappingSource, catalog: ContractCatalog) throws(MappingError) -> Mapping {
        let bytes = Array(source.text.utf8)
        let located: LocatedJSON
        do { located = try JSONParser.parseLocated(bytes) } catch {
            throw MappingError(line: LocatedJSON.line(at: error.offset, in: bytes), reason: "not valid JSON: \(error.reason.rawValue)")
        }
        return try MappingCompiler(located: located, files: source.files, catalog: catalog).compile()
    }
}

/// Reads a located mapping document, naming the line of whatever it refuses.
private struct MappingCompiler {
    let located: LocatedJSON
    let files: [String: String]
    let catalog: ContractCatalog

    static let topKeys = ["jisrMapping", "description", "format", "timeZone", "codeLists", "contracts"]
    static let sectionKeys = ["root", "namespace", "envelope", "rename", "items", "codes", "dates", "dateFormat", "dateTimeFormat", "shapes", "xsd", "jsonSchema"]

    func fail(_ pointer: String, _ reason: String) -> MappingError {
        MappingError(line: located.line(of: pointer), reason: reason)
    }

    func object(_ value: JSONValue?, at pointer: String, allowed: [String]? = nil) throws(MappingError) -> JSONObject {
        guard let object = value?.objectValue else { throw fail(pointer, "\(name(of: pointer)) must be an object") }
        if let allowed {
            for key in object.keys where !allowed.contains(key) {
                throw fail(pointer + "/" + LocatedJSON.escape(key), "unknown key \"\(key)\" (expected one of: \(allowed.joined(separator: ", ")))")
            }
        }
        return object
    }

    func string(_ value: JSONValue?, at pointer: String) throws(MappingError) -> String {
        guard let text = value?.stringValue else { throw fail(pointer, "\(name(of: pointer)) must be a string") }
        return text
    }

    func name(of pointer: String) -> String {
        pointer.isEmpty ? "the mapping" : String(pointer.split(separator: "/").last ?? "").replacingPointerEscapes()
    }

    func compile() throws(MappingError) -> Mapping {
        let top = try object(located.value, at: "", allowed: Self.topKeys)
        guard top["jisrMapping"] == .integer(1) else { throw fail(top["jisrMapping"] == nil ? "" : "/jisrMapping", "jisrMapping must be 1, the version of this file format") }
        let formatText = try string(top["format"], at: "/format")
        guard let format = DocumentFormat(rawValue: formatText) else { throw fail("/format", "format must be \"json\" or \"xml\", not \"\(formatText)\"") }
        var offset = 0
        if let zone = top["timeZone"] {
            let text = try string(zone, at: "/timeZone")
            guard let minutes = CivilMoment.offset(text) else { throw fail("/timeZone", "timeZone must be a fixed offset such as \"+03:00\" or \"UTC\", not \"\(text)\"") }
            offset = minutes
        }
        var lists: [String: CodeTable] = [:]
        if let value = top["codeLists"] {
            for member in try object(value, at: "/codeLists").members {
                lists[member.key] = try codeTable(member.value, at: "/codeLists/" + LocatedJSON.escape(member.key))
            }
        }
        let contracts = try object(top["contracts"], at: "/contracts")
        guard !contracts.isEmpty else { throw fail("/contracts", "contracts must map at least one contract") }
        var dialects: [ContractID: Dialect] = [:]
        for member in contracts.members {
            let pointer = "/contracts/" + LocatedJSON.escape(member.key)
            guard let id = ContractID(member.key), let contract = catalog[id] else {
                throw fail(pointer, "\"\(member.key)\" is not a published contract (published: \(catalog.ids.map(\.description).joined(separator: ", ")))")
            }
            let dialect = try DialectCompiler(compiler: self, contract: contract, pointer: pointer, lists: lists, offset: offset).compile(member.value)
            try check(dialect, format: format, at: pointer)
            dialects[id] = dialect
        }
        return Mapping(format: format, dialects: dialects)
    }

    func codeTable(_ value: JSONValue, at pointer: String) throws(MappingError) -> CodeTable {
        var forward: [String: String] = [:]
        var backward: [String: String] = [:]
        for member in try object(value, at: pointer).members {
            let memberPointer = pointer + "/" + LocatedJSON.escape(member.key)
            let code = try string(member.value, at: memberPointer)
            guard !code.isEmpty else { throw fail(memberPointer, "the code for \"\(member.key)\" is empty") }
            if let other = backward[code] {
                throw fail(memberPointer, "code \"\(code)\" stands for both \"\(other)\" and \"\(member.key)\"; it could not be read back")
            }
            forward[member.key] = code
            backward[code] = member.key
        }
        return CodeTable(forward: forward, backward: backward)
    }

    /// Every golden example of the contract must go through the dialect, in both forms, and come back the same.
    func check(_ dialect: Dialect, format: DocumentFormat, at pointer: String) throws(MappingError) {
        for example in dialect.contract.examples {
            let expected = dialect.normalized(example.document, schema: dialect.contract.jsonSchema.root, path: "")
            for form in [DocumentFormat.json, .xml] {
                let back: JSONValue
                do { back = try dialect.read(try dialect.render(example.document, shape: nil, format: form), format: form) } catch {
                    throw fail(pointer, "example \(example.name) cannot travel through the mapping in \(form.rawValue): \(error.violations.joined(separator: "; "))")
                }
                guard dialect.normalized(back, schema: dialect.contract.jsonSchema.root, path: "") == expected else {
                    throw fail(pointer, "example \(example.name) does not survive the trip through the mapping in \(form.rawValue)")
                }
            }
        }
    }
}

/// Compiles one contract's section of a mapping.
private struct DialectCompiler {
    let compiler: MappingCompiler
    let contract: Contract
    let pointer: String
    let lists: [String: CodeTable]
    let offset: Int

    func fail(_ key: String, _ reason: String) -> MappingError { compiler.fail(pointer + key, reason) }

    /// The resolved schema of every field, and of every member of the other shapes (`definition:member`).
    var fieldSchemas: [String: JSONValue] {
        var result: [String: JSONValue] = [:]
        let schema = contract.jsonSchema
        func walk(_ node: JSONValue, path: String) {
            if node["$ref"]?.stringValue == "#" { return }
            var resolved = schema.resolve(node)
            if resolved["type"]?.stringValue == "array" {
                if resolved["items"]?["$ref"]?.stringValue == "#" { return }
                resolved = schema.resolve(resolved["items"] ?? .bool(true))
            }
            for member in resolved["properties"]?.objectValue?.members ?? [] {
                let memberPath = XMLForm.memberPath(path, member.key)
                result[memberPath] = schema.resolve(member.value)
                walk(member.value, path: memberPath)
            }
        }
        walk(schema.root, path: "")
        for definition in schema.root["$defs"]?.objectValue?.members ?? [] where definition.value["type"]?.stringValue == "object" {
            walk(definition.value, path: definition.key + ":")
        }
        return result
    }

    func compile(_ value: JSONValue) throws(MappingError) -> Dialect {
        let section = try compiler.object(value, at: pointer, allowed: MappingCompiler.sectionKeys)
        let fields = fieldSchemas
        let root = try elementName(section["root"], key: "/root") ?? contract.xmlForm.rootElement
        let namespace = try section["namespace"].map { value throws(MappingError) in try compiler.string(value, at: pointer + "/namespace") } ?? contract.xmlForm.namespace
        var envelope: [String] = []
        if let value = section["envelope"] {
            guard let keys = value.arrayValue, keys.allSatisfy({ !($0.stringValue ?? "").isEmpty }) else {
                throw fail("/envelope", "envelope must be a list of member names, outermost first")
            }
            envelope = keys.compactMap(\.stringValue)
        }
        var names: [String: String] = [:]
        for member in try optionalObject(section["rename"], "/rename") {
            let key = "/rename/" + LocatedJSON.escape(member.key)
            guard fields[member.key] != nil, !member.key.contains(":") else { throw fail(key, unknownField(member.key, fields)) }
            names[member.key] = try elementName(member.value, key: key)
        }
        var shapeRoots: [String: String] = [:]
        for member in try optionalObject(section["shapes"], "/shapes") {
            let key = "/shapes/" + LocatedJSON.escape(member.key)
            guard contract.jsonSchema.root["$defs"]?[member.key]?["type"]?.stringValue == "object" else {
                throw fail(key, "\"\(member.key)\" is not a document shape of \(contract.id)")
            }
            let shape = try compiler.object(member.value, at: pointer + key, allowed: ["root", "rename"])
            shapeRoots[member.key] = try elementName(shape["root"], key: key + "/root")
            for rename in try optionalObject(shape["rename"], key + "/rename") {
                let renameKey = key + "/rename/" + LocatedJSON.escape(rename.key)
                let path = member.key + ":" + rename.key
                guard fields[path] != nil else { throw fail(renameKey, "\"\(rename.key)\" is not a member of \(member.key)") }
                names[path] = try elementName(rename.value, key: renameKey)
            }
        }
        try checkSiblings(names, fields: fields)
        var itemNames: [String: String] = [:]
        for member in try optionalObject(section["items"], "/items") {
            let key = "/items/" + LocatedJSON.escape(member.key)
            guard let schema = fields[member.key] else { throw fail(key, unknownField(member.key, fields)) }
            guard schema["type"]?.stringValue == "array" else { throw fail(key, "\(member.key) is not a list; only lists have item elements") }
            itemNames[member.key] = try elementName(member.value, key: key)
        }
        let values = try conversions(section, fields: fields)
        let xsd = try schemaFile(section["xsd"], key: "/xsd") { text throws in try XSDSchema(data: Array(text.utf8)) }
        let jsonSchema = try schemaFile(section["jsonSchema"], key: "/jsonSchema") { text throws in try JSONSchema(data: Array(text.utf8)) }
        return Dialect(
            contract: contract, rootElement: root, namespace: namespace, envelope: envelope, names: names, itemNames: itemNames, shapeRoots: shapeRoots,
            values: values, xsd: xsd, jsonSchema: jsonSchema)
    }

    func optionalObject(_ value: JSONValue?, _ key: String) throws(MappingError) -> [(key: String, value: JSONValue)] {
        guard let value else { return [] }
        return try compiler.object(value, at: pointer + key).members
    }

    func unknownField(_ path: String, _ fields: [String: JSONValue]) -> String {
        let near = fields.keys.filter { !$0.contains(":") && $0.split(separator: ".").last == path.split(separator: ".").last }.sorted()
        return "\"\(path)\" is not a field of \(contract.id)" + (near.isEmpty ? "" : " (did you mean \(near.joined(separator: " or "))?)")
    }

    /// A name used both as a JSON member and as an XML element, so it must be a valid XML name.
    func elementName(_ value: JSONValue?, key: String) throws(MappingError) -> String? {
        guard let value else { return nil }
        let name = try compiler.string(value, at: pointer + key)
        guard let first = name.unicodeScalars.first, first == "_" || first.properties.isAlphabetic,
            name.unicodeScalars.allSatisfy({ $0 == "_" || $0 == "-" || $0 == "." || $0.properties.isAlphabetic || $0.properties.numericType != nil })
        else { throw fail(key, "\"\(name)\" is not a valid XML element name") }
        return name
    }

    /// Two members of one object may not end up with the same name, or a document could not be read back.
    func checkSiblings(_ names: [String: String], fields: [String: JSONValue]) throws(MappingError) {
        var byParent: [String: [String: String]] = [:]
        for path in fields.keys.sorted() {
            let (parent, member) = Self.split(path)
            let name = names[path] ?? member
            if let other = byParent[parent, default: [:]][name] {
                let culprit = names[path] != nil ? path : other
                let key = culprit.contains(":") ? "/shapes/" + LocatedJSON.escape(String(culprit.split(separator: ":")[0])) : "/rename/" + LocatedJSON.escape(culprit)
                throw fail(key, "\(path) and \(other) would both be named \"\(name)\"")
            }
            byParent[parent, default: [:]][name] = path
        }
    }

    static func split(_ path: String) -> (parent: String, member: String) {
        if let dot = path.lastIndex(of: ".") { return (String(path[..<dot]), String(path[path.index(after: dot)...])) }
        if let colon = path.firstIndex(of: ":") { return (String(path[...colon]), String(path[path.index(after: colon)...])) }
        return ("", path)
    }

    func conversions(_ section: JSONObject, fields: [String: JSONValue]) throws(MappingError) -> [String: ValueConversion] {
        var values: [String: ValueConversion] = [:]
        for member in try optionalObject(section["codes"], "/codes") {
            let key = "/codes/" + LocatedJSON.escape(member.key)
            guard let schema = fields[member.key] else { throw fail(key, unknownField(member.key, fields)) }
            guard ["string", "integer", "boolean"].contains(schema["type"]?.stringValue ?? "") else {
                throw fail(key, "\(member.key) is not a single value; only values can be mapped to codes")
            }
            let table: CodeTable
            if let listName = member.value.stringValue {
                guard let list = lists[listName] else { throw fail(key, "there is no code list \"\(listName)\" in codeLists") }
                table = list
            } else {
                table = try compiler.codeTable(member.value, at: pointer + key)
            }
            if let allowed = schema["enum"]?.arrayValue?.compactMap(ValueConversion.text(of:)) {
                let missing = allowed.filter { table.forward[$0] == nil }
                guard missing.isEmpty else { throw fail(key, "\(member.key) needs a code for every value; missing: \(missing.joined(separator: ", "))") }
                let extra = table.forward.keys.filter { !allowed.contains($0) }.sorted()
                guard extra.isEmpty else { throw fail(key, "\(extra.joined(separator: ", ")) \(extra.count == 1 ? "is not a value" : "are not values") of \(member.key)") }
            }
            values[member.key] = .code(table)
        }
        let dateFormat = try pattern(section["dateFormat"], key: "/dateFormat", dateTime: false)
        let dateTimeFormat = try pattern(section["dateTimeFormat"], key: "/dateTimeFormat", dateTime: true)
        var explicit: [String: DatePattern] = [:]
        for member in try optionalObject(section["dates"], "/dates") {
            let key = "/dates/" + LocatedJSON.escape(member.key)
            guard let schema = fields[member.key] else { throw fail(key, unknownField(member.key, fields)) }
            guard values[member.key] == nil else { throw fail(key, "\(member.key) already has codes; a value takes codes or a date layout, not both") }
            switch schema["format"]?.stringValue {
            case "date": explicit[member.key] = try pattern(member.value, key: key, dateTime: false)
            case "date-time": explicit[member.key] = try pattern(member.value, key: key, dateTime: true)
            default: throw fail(key, "\(member.key) is not a date or a date-time")
            }
        }
        for (path, schema) in fields where values[path] == nil {
            switch schema["format"]?.stringValue {
            case "date": if let layout = explicit[path] ?? dateFormat { values[path] = .date(layout) }
            case "date-time": if let layout = explicit[path] ?? dateTimeFormat { values[path] = .dateTime(layout, offsetMinutes: offset) }
            default: break
            }
        }
        return values
    }

    func pattern(_ value: JSONValue?, key: String, dateTime: Bool) throws(MappingError) -> DatePattern? {
        guard let value else { return nil }
        let text = try compiler.string(value, at: pointer + key)
        let layout: DatePattern
        do { layout = try DatePattern(text) } catch { throw fail(key, error.text) }
        if dateTime, !layout.isCompleteTime { throw fail(key, "a date-time layout needs HH, mm and ss, so no time is lost: \"\(text)\"") }
        if !dateTime, layout.hasTime || layout.hasOffset { throw fail(key, "a date layout takes no time: \"\(text)\"") }
        return layout
    }

    func schemaFile<T>(_ value: JSONValue?, key: String, _ build: (String) throws -> T) throws(MappingError) -> T? {
        guard let value else { return nil }
        let name = try compiler.string(value, at: pointer + key)
        guard let text = compiler.files[name] else { throw fail(key, "the file \(name) was not attached with the mapping") }
        do { return try build(text) } catch { throw fail(key, "\(name) is not a usable schema: \(error)") }
    }
}

extension String {
    fileprivate func replacingPointerEscapes() -> String {
        var result = ""
        var escaped = false
        for character in self {
            if escaped {
                result.append(character == "1" ? "/" : "~")
                escaped = false
            } else if character == "~" {
                escaped = true
            } else {
                result.append(character)
            }
        }
        return result
    }
}
