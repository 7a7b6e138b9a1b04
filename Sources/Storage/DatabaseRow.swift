import Foundation
import NIOCore
import PostgresNIO
import SQLiteNIO

/// A value read back that is not of the type asked for: a schema and code out of step, reported with the column.
public struct DatabaseDecodingError: Error, Sendable, CustomStringConvertible {
    public let column: Int
    public let expected: String
    public let found: String
    public var description: String { "column \(column): expected \(expected), found \(found)" }
}

/// One value of a result row, as the store returned it.
public enum DatabaseCell: Sendable {
    case postgres(PostgresCell)
    case sqlite(SQLiteData, column: Int)

    public func decode<Value: DatabaseDecodable>(_ type: Value.Type = Value.self) throws -> Value {
        try Value.decode(self)
    }

    public var isNull: Bool {
        switch self {
        case .postgres(let cell): cell.bytes == nil
        case .sqlite(let data, _): data.isNull
        }
    }

    func mismatch(_ expected: String) -> DatabaseDecodingError {
        switch self {
        case .postgres(let cell): DatabaseDecodingError(column: cell.columnIndex, expected: expected, found: "\(cell.dataType)")
        case .sqlite(let data, let column): DatabaseDecodingError(column: column, expected: expected, found: "\(data)")
        }
    }
}

/// One result row; cells by position, in the order of the select list.
public struct DatabaseRow: Sendable {
    public let cells: [DatabaseCell]

    public subscript(index: Int) -> DatabaseCell { cells[index] }

    /// The first cells as a tuple: `let (id, name) = try row.decode((Int64, String).self)`.
    public func decode<each Value: DatabaseDecodable>(_ types: (repeat each Value).Type) throws -> (repeat each Value) {
        var index = 0
        func next<One: DatabaseDecodable>(_ type: One.Type) throws -> One {
            defer { index += 1 }
            return try cells[index].decode(One.self)
        }
        return (repeat try next((each Value).self))
    }
}

extension Array where Element == DatabaseRow {
    /// Every row as a tuple of its first cells.
    public func decode<each Value: DatabaseDecodable>(_ types: (repeat each Value).Type) throws -> [(repeat each Value)] {
        try map { try $0.decode((repeat each Value).self) }
    }
}

/// A Swift type a cell can be read as, from either store.
public protocol DatabaseDecodable: Sendable {
    static func decode(_ cell: DatabaseCell) throws -> Self
}

extension Optional: DatabaseDecodable where Wrapped: DatabaseDecodable {
    public static func decode(_ cell: DatabaseCell) throws -> Wrapped? {
        cell.isNull ? nil : try Wrapped.decode(cell)
    }
}

extension String: DatabaseDecodable {
    public static func decode(_ cell: DatabaseCell) throws -> String {
        switch cell {
        case .postgres(let value): return try value.decode(String.self)
        case .sqlite(let data, _):
            guard case .text(let text) = data else { throw cell.mismatch("text") }
            return text
        }
    }
}

extension Int64: DatabaseDecodable {
    public static func decode(_ cell: DatabaseCell) throws -> Int64 {
        switch cell {
        case .postgres(let value): return try value.decode(Int64.self)
        case .sqlite(let data, _):
            guard case .integer(let number) = data else { throw cell.mismatch("integer") }
            return Int64(number)
        }
    }
}

extension Int: DatabaseDecodable {
    public static func decode(_ cell: DatabaseCell) throws -> Int {
        switch cell {
        case .postgres(let value): return try value.decode(Int.self)
        case .sqlite: return Int(try Int64.decode(cell))
        }
    }
}

extension Int32: DatabaseDecodable {
    public static func decode(_ cell: DatabaseCell) throws -> Int32 {
        switch cell {
        case .postgres(let value): return try value.decode(Int32.self)
        case .sqlite:
            guard let number = Int32(exactly: try Int64.decode(cell)) else { throw cell.mismatch("32-bit integer") }
            return number
        }
    }
}

extension Int16: DatabaseDecodable {
    public static func decode(_ cell: DatabaseCell) throws -> Int16 {
        switch cell {
        case .postgres(let value): return try value.decode(Int16.self)
        case .sqlite:
            guard let number = Int16(exactly: try Int64.decode(cell)) else { throw cell.mismatch("16-bit integer") }
            return number
        }
    }
}

extension Double: DatabaseDecodable {
    public static func decode(_ cell: DatabaseCell) throws -> Double {
        switch cell {
        case .postgres(let value): return try value.decode(Double.self)
        case .sqlite(let data, _):
            switch data {
            case .float(let number): return number
            case .integer(let number): return Double(number)
            default: throw cell.mismatch("real")
            }
        }
    }
}

extension Bool: DatabaseDecodable {
    public static func decode(_ cell: DatabaseCell) throws -> Bool {
        switch cell {
        case .postgres(let value): return try value.decode(Bool.self)
        case .sqlite:
            switch try Int64.decode(cell) {
            case 0: return false
            case 1: return true
            default: throw cell.mismatch("boolean")
            }
        }
    }
}

extension UUID: DatabaseDecodable {
    public static func decode(_ cell: DatabaseCell) throws -> UUID {
        switch cell {
        case .postgres(let value): return try value.decode(UUID.self)
        case .sqlite:
            guard let id = UUID(uuidString: try String.decode(cell)) else { throw cell.mismatch("UUID") }
            return id
        }
    }
}

extension Date: DatabaseDecodable {
    public static func decode(_ cell: DatabaseCell) throws -> Date {
        switch cell {
        case .postgres(let value): return try value.decode(Date.self)
        case .sqlite: return Date(timeIntervalSince1970: Double(try Int64.decode(cell)) / 1_000_000)
        }
    }
}

extension Array: DatabaseDecodable where Element: DatabaseArrayElement & DatabaseDecodable {
    public static func decode(_ cell: DatabaseCell) throws -> [Element] {
        try Element.decodeArray(cell)
    }
}

// Each element type decodes its arrays itself: a generic body ending in `as! [Self]` cast every byte of every
// blob one at a time (`_arrayForceCast`), 15% of a busy person's report.
extension UInt8 {
    public static func decodeArray(_ cell: DatabaseCell) throws -> [UInt8] {
        switch cell {
        case .postgres(let value):
            return Array(buffer: try value.decode(ByteBuffer.self))
        case .sqlite(let data, _):
            if case .blob(let buffer) = data { return Array(buffer: buffer) }
        }
        throw cell.mismatch("[UInt8]")
    }
}

extension String {
    public static func decodeArray(_ cell: DatabaseCell) throws -> [String] {
        switch cell {
        case .postgres(let value):
            return try value.decode([String].self)
        case .sqlite(let data, _):
            if case .text(let text) = data, let list = try? JSONDecoder().decode([String].self, from: Data(text.utf8)) { return list }
        }
        throw cell.mismatch("[String]")
    }
}

extension UInt8: DatabaseDecodable {
    public static func decode(_ cell: DatabaseCell) throws -> UInt8 {
        guard let byte = UInt8(exactly: try Int64.decode(cell)) else { throw cell.mismatch("byte") }
        return byte
    }
}
