import Foundation

/// Turns a contract's Swift value into a `JSONValue` whose members follow the type's declaration order.
///
/// Synthesised `Codable` encodes properties in declaration order and skips nil optionals, so the
/// document has exactly the fields the value holds, in the order the schemas list them.
public enum DocumentEncoder {
    public static func encode(_ value: some Encodable) throws -> JSONValue {
        try leaf(value, at: []).resolved ?? .null
    }
}

/// Turns a `JSONValue` back into a contract's Swift value.
public enum DocumentDecoder {
    public static func decode<T: Decodable>(_ type: T.Type, from value: JSONValue) throws -> T {
        try JSONDecoder().decode(type, from: Data(JSONWriter.data(value)))
    }
}

private final class Slot {
    var value: JSONValue?
    var object: [(key: String, slot: Slot)]?
    var array: [Slot]?

    var resolved: JSONValue? {
        if let object { return .object(JSONObject(object.compactMap { member in member.slot.resolved.map { (member.key, $0) } })) }
        if let array { return .array(array.compactMap(\.resolved)) }
        return value
    }
}

private final class TreeEncoder: Encoder {
    let codingPath: [any CodingKey]
    let userInfo: [CodingUserInfoKey: Any] = [:]
    let slot: Slot

    init(codingPath: [any CodingKey], slot: Slot) {
        self.codingPath = codingPath
        self.slot = slot
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        if slot.object == nil { slot.object = [] }
        return KeyedEncodingContainer(KeyedTree<Key>(slot: slot, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        if slot.array == nil { slot.array = [] }
        return UnkeyedTree(slot: slot, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        SingleTree(slot: slot, codingPath: codingPath)
    }
}

/// `path` is worked out only for a nested value or an error: most leaves are scalars, and building the coding path
/// of each (an array of existentials) was a good part of encoding a record.
private func leaf(_ value: some Encodable, at path: @autoclosure () -> [any CodingKey]) throws -> Slot {
    let slot = Slot()
    switch value {
    case let text as String: slot.value = .string(text)
    case let flag as Bool: slot.value = .bool(flag)
    case let number as Int: slot.value = .integer(Int64(number))
    case let number as Int64: slot.value = .integer(number)
    case let number as Int32: slot.value = .integer(Int64(number))
    case let number as Double:
        guard number.isFinite else {
            throw EncodingError.invalidValue(number, .init(codingPath: path(), debugDescription: "not a finite number"))
        }
        slot.value = .number(number)
    case let decimal as Decimal:
        slot.value = .number(NSDecimalNumber(decimal: decimal).doubleValue)
    default:
        try value.encode(to: TreeEncoder(codingPath: path(), slot: slot))
    }
    return slot
}

private struct KeyedTree<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let slot: Slot
    let codingPath: [any CodingKey]

    mutating func encodeNil(forKey key: Key) throws { append(key, { let s = Slot(); s.value = .null; return s }()) }
    mutating func encode(_ value: some Encodable, forKey key: Key) throws {
        append(key, try leaf(value, at: codingPath + [key]))
    }
    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        let nested = Slot()
        nested.object = []
        append(key, nested)
        return KeyedEncodingContainer(KeyedTree<NestedKey>(slot: nested, codingPath: codingPath + [key]))
    }
    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let nested = Slot()
        nested.array = []
        append(key, nested)
        return UnkeyedTree(slot: nested, codingPath: codingPath + [key])
    }
    mutating func superEncoder() -> any Encoder { TreeEncoder(codingPath: codingPath, slot: slot) }
    mutating func superEncoder(forKey key: Key) -> any Encoder {
        let nested = Slot()
        append(key, nested)
        return TreeEncoder(codingPath: codingPath + [key], slot: nested)
    }

    private func append(_ key: Key, _ child: Slot) {
        slot.object?.removeAll { $0.key == key.stringValue }
        slot.object?.append((key.stringValue, child))
    }
}

private struct UnkeyedTree: UnkeyedEncodingContainer {
    let slot: Slot
    let codingPath: [any CodingKey]
    var count: Int { slot.array?.count ?? 0 }

    mutating func encodeNil() throws { let s = Slot(); s.value = .null; slot.array?.append(s) }
    mutating func encode(_ value: some Encodable) throws { slot.array?.append(try leaf(value, at: codingPath)) }
    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let nested = Slot()
        nested.object = []
        slot.array?.append(nested)
        return KeyedEncodingContainer(KeyedTree<NestedKey>(slot: nested, codingPath: codingPath))
    }
    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let nested = Slot()
        nested.array = []
        slot.array?.append(nested)
        return UnkeyedTree(slot: nested, codingPath: codingPath)
    }
    mutating func superEncoder() -> any Encoder {
        let nested = Slot()
        slot.array?.append(nested)
        return TreeEncoder(codingPath: codingPath, slot: nested)
    }
}

private struct SingleTree: SingleValueEncodingContainer {
    let slot: Slot
    let codingPath: [any CodingKey]

    mutating func encodeNil() throws { slot.value = .null }
    mutating func encode(_ value: some Encodable) throws {
        let encoded = try leaf(value, at: codingPath)
        slot.value = encoded.value
        slot.object = encoded.object
        slot.array = encoded.array
    }
}
