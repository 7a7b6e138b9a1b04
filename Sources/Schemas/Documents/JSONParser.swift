/// Why a body is not acceptable JSON; the position is a byte offset into the body.
public struct JSONSyntaxError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What exactly is wrong.
    public enum Reason: String, Sendable {
        case invalidUTF8 = "invalid UTF-8"
        case unexpectedEnd = "unexpected end of input"
        case unexpectedCharacter = "unexpected character"
        case invalidEscape = "invalid escape sequence"
        case invalidNumber = "invalid number"
        case numberOutOfRange = "number out of range"
        case duplicateKey = "duplicate object key"
        case tooDeep = "nesting too deep"
        case trailingData = "data after the document"
        case controlCharacter = "unescaped control character in string"
    }

    public let reason: Reason
    public let offset: Int

    public init(reason: Reason, offset: Int) {
        self.reason = reason
        self.offset = offset
    }

    public var description: String { "\(reason.rawValue) at byte \(offset)" }
}

/// A strict RFC 8259 parser: valid UTF-8 only, no duplicate keys, bounded depth, numbers that fit.
///
/// `JSONDecoder` accepts duplicate keys and silently keeps one of them; a gateway must not guess which
/// value a partner meant, so documents are parsed here first.
public struct JSONParser {
    public static let defaultMaximumDepth = 64

    private let bytes: [UInt8]
    private var index = 0
    private let maximumDepth: Int
    /// When set, the byte offset of every member key and array element, by JSON pointer.
    private var positions: [String: Int]?

    public static func parse(_ bytes: some Collection<UInt8>, maximumDepth: Int = defaultMaximumDepth) throws(JSONSyntaxError) -> JSONValue {
        var parser = JSONParser(bytes: Array(bytes), maximumDepth: maximumDepth)
        return try parser.parseDocument()
    }

    /// Parses a document and remembers where each member and element starts, so that a file written by hand
    /// (a mapping, a configuration) can be refused with the line of the offending value.
    public static func parseLocated(_ bytes: some Collection<UInt8>) throws(JSONSyntaxError) -> LocatedJSON {
        var parser = JSONParser(bytes: Array(bytes), maximumDepth: defaultMaximumDepth)
        parser.positions = [:]
        let value = try parser.parseDocument()
        return LocatedJSON(value: value, bytes: parser.bytes, offsets: parser.positions ?? [:])
    }

    private mutating func parseDocument() throws(JSONSyntaxError) -> JSONValue {
        if let offset = UTF8Validation.firstInvalidOffset(in: bytes) {
            throw JSONSyntaxError(reason: .invalidUTF8, offset: offset)
        }
        skipWhitespace()
        let value = try parseValue(depth: 0, pointer: "")
        skipWhitespace()
        guard index == bytes.count else { throw JSONSyntaxError(reason: .trailingData, offset: index) }
        return value
    }

    private init(bytes: [UInt8], maximumDepth: Int) {
        self.bytes = bytes
        self.maximumDepth = maximumDepth
    }

    private mutating func skipWhitespace() {
        while index < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 }
    }

    private func fail(_ reason: JSONSyntaxError.Reason) -> JSONSyntaxError {
        JSONSyntaxError(reason: index >= bytes.count && reason == .unexpectedCharacter ? .unexpectedEnd : reason, offset: index)
    }

    private mutating func parseValue(depth: Int, pointer: String) throws(JSONSyntaxError) -> JSONValue {
        guard index < bytes.count else { throw fail(.unexpectedEnd) }
        switch bytes[index] {
        case UInt8(ascii: "{"): return try parseObject(depth: depth + 1, pointer: pointer)
        case UInt8(ascii: "["): return try parseArray(depth: depth + 1, pointer: pointer)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectLiteral("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        default: throw fail(.unexpectedCharacter)
        }
    }

    private mutating func expectLiteral(_ literal: String) throws(JSONSyntaxError) {
        for byte in literal.utf8 {
            guard index < bytes.count, bytes[index] == byte else { throw fail(.unexpectedCharacter) }
            index += 1
        }
    }

    private mutating func parseObject(depth: Int, pointer: String) throws(JSONSyntaxError) -> JSONValue {
        guard depth <= maximumDepth else { throw fail(.tooDeep) }
        index += 1
        var object = JSONObject()
        var seen = Set<String>()
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
            index += 1
            return .object(object)
        }
        while true {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw fail(.unexpectedCharacter) }
            let keyOffset = index
            let key = try parseString()
            guard seen.insert(key).inserted else { throw JSONSyntaxError(reason: .duplicateKey, offset: keyOffset) }
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw fail(.unexpectedCharacter) }
            index += 1
            skipWhitespace()
            var memberPointer = ""
            if positions != nil {
                memberPointer = pointer + "/" + LocatedJSON.escape(key)
                positions?[memberPointer] = keyOffset
            }
            let value = try parseValue(depth: depth, pointer: memberPointer)
            object[key] = value
            skipWhitespace()
            guard index < bytes.count else { throw fail(.unexpectedEnd) }
            if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
            if bytes[index] == UInt8(ascii: "}") { index += 1; return .object(object) }
            throw fail(.unexpectedCharacter)
        }
    }

    private mutating func parseArray(depth: Int, pointer: String) throws(JSONSyntaxError) -> JSONValue {
        guard depth <= maximumDepth else { throw fail(.tooDeep) }
        index += 1
        var elements: [JSONValue] = []
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
            index += 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            var elementPointer = ""
            if positions != nil {
                elementPointer = pointer + "/\(elements.count)"
                positions?[elementPointer] = index
            }
            elements.append(try parseValue(depth: depth, pointer: elementPointer))
            skipWhitespace()
            guard index < bytes.count else { throw fail(.unexpectedEnd) }
            if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
            if bytes[index] == UInt8(ascii: "]") { index += 1; return .array(elements) }
            throw fail(.unexpectedCharacter)
        }
    }

    private mutating func parseString() throws(JSONSyntaxError) -> String {
        index += 1
        var scalars: [UInt8] = []
        while true {
            guard index < bytes.count else { throw fail(.unexpectedEnd) }
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\""):
                index += 1
                return String(decoding: scalars, as: UTF8.self)
            case UInt8(ascii: "\\"):
                index += 1
                guard index < bytes.count else { throw fail(.unexpectedEnd) }
                let escape = bytes[index]
                index += 1
                switch escape {
                case UInt8(ascii: "\""): scalars.append(0x22)
                case UInt8(ascii: "\\"): scalars.append(0x5C)
                case UInt8(ascii: "/"): scalars.append(0x2F)
                case UInt8(ascii: "b"): scalars.append(0x08)
                case UInt8(ascii: "f"): scalars.append(0x0C)
                case UInt8(ascii: "n"): scalars.append(0x0A)
                case UInt8(ascii: "r"): scalars.append(0x0D)
                case UInt8(ascii: "t"): scalars.append(0x09)
                case UInt8(ascii: "u"):
                    var code = try parseHex4()
                    if (0xD800...0xDBFF).contains(code) {
                        guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                            throw fail(.invalidEscape)
                        }
                        index += 2
                        let low = try parseHex4()
                        guard (0xDC00...0xDFFF).contains(low) else { throw fail(.invalidEscape) }
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00...0xDFFF).contains(code) {
                        throw fail(.invalidEscape)
                    }
                    guard let scalar = Unicode.Scalar(code) else { throw fail(.invalidEscape) }
                    scalars.append(contentsOf: Array(String(Character(scalar)).utf8))
                default:
                    index -= 1
                    throw fail(.invalidEscape)
                }
            case 0x00..<0x20:
                throw fail(.controlCharacter)
            default:
                scalars.append(byte)
                index += 1
            }
        }
    }

    private mutating func parseHex4() throws(JSONSyntaxError) -> UInt32 {
        guard index + 4 <= bytes.count else { throw fail(.unexpectedEnd) }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt32
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
            default: throw fail(.invalidEscape)
            }
            value = value << 4 | digit
            index += 1
        }
        return value
    }

    private mutating func parseNumber() throws(JSONSyntaxError) -> JSONValue {
        let start = index
        var isInteger = true
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        guard index < bytes.count, isDigit(bytes[index]) else { throw fail(.invalidNumber) }
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
        } else {
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            isInteger = false
            index += 1
            guard index < bytes.count, isDigit(bytes[index]) else { throw fail(.invalidNumber) }
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            isInteger = false
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard index < bytes.count, isDigit(bytes[index]) else { throw fail(.invalidNumber) }
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
        let text = String(decoding: bytes[start..<index], as: UTF8.self)
        if isInteger {
            guard let value = Int64(text) else { throw JSONSyntaxError(reason: .numberOutOfRange, offset: start) }
            return .integer(value)
        }
        guard let value = Double(text), value.isFinite else { throw JSONSyntaxError(reason: .numberOutOfRange, offset: start) }
        return .number(value)
    }

    private func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
}

/// A parsed document with the place in the source where each member and element starts.
public struct LocatedJSON: Sendable {
    public let value: JSONValue
    let bytes: [UInt8]
    let offsets: [String: Int]

    /// The 1-based line of the member or element at `pointer` (RFC 6901), or of its nearest located parent.
    public func line(of pointer: String) -> Int {
        var candidate = pointer
        while !candidate.isEmpty {
            if let offset = offsets[candidate] { return Self.line(at: offset, in: bytes) }
            candidate = String(candidate[..<(candidate.lastIndex(of: "/") ?? candidate.startIndex)])
        }
        return 1
    }

    /// The 1-based line of a byte offset, as reported in `JSONSyntaxError`.
    public static func line(at offset: Int, in bytes: [UInt8]) -> Int {
        1 + bytes.prefix(offset).reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
    }

    /// Escapes a member name for a JSON pointer (RFC 6901).
    public static func escape(_ key: String) -> String {
        // Nearly every name needs nothing: no copy then.
        guard key.utf8.contains(where: { $0 == UInt8(ascii: "~") || $0 == UInt8(ascii: "/") }) else { return key }
        var escaped = ""
        for character in key {
            switch character {
            case "~": escaped += "~0"
            case "/": escaped += "~1"
            default: escaped.append(character)
            }
        }
        return escaped
    }
}
