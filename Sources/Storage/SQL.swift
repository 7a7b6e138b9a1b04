import Foundation

/// Which SQL a store speaks: the few places where PostgreSQL and SQLite differ ask this.
public enum SQLDialect: String, Sendable, Hashable {
    case postgres
    case sqlite

    /// Row locks for the rest of the transaction. SQLite has none: its write transactions already exclude each other.
    public var forUpdate: String { self == .postgres ? "FOR UPDATE" : "" }

    /// Rows another transaction holds are skipped rather than waited for (PostgreSQL's way of sharing a queue).
    public var forUpdateSkipLocked: String { self == .postgres ? "FOR UPDATE SKIP LOCKED" : "" }

    /// The current instant in SQL, as each store keeps instants. On SQLite, microseconds from `julianday`, which
    /// every SQLite understands (the ministry's own tools may be older than the SQLite inside Jisr).
    public var now: String { self == .postgres ? "now()" : Self.sqliteNow }

    static let sqliteNow = "CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)"

    /// A JSON text bound for a `jsonb` column (PostgreSQL) or a text one (SQLite).
    public func json(_ text: String) -> SQL { self == .postgres ? "CAST(\(text) AS jsonb)" : "\(text)" }
}

/// One bound value, typed so that PostgreSQL gets the parameter type it expects and SQLite its storage class.
public enum SQLBind: Sendable, Hashable {
    case text(String?)
    case int64(Int64?)
    case int32(Int32?)
    case int16(Int16?)
    case double(Double?)
    case bool(Bool?)
    case uuid(UUID?)
    /// An instant: `timestamptz` on PostgreSQL, integer microseconds since 1970 on SQLite.
    case timestamp(Date?)
    case bytes([UInt8]?)
    /// A list of texts: `text[]` on PostgreSQL, a JSON array on SQLite.
    case textArray([String]?)
}

/// A statement with its values bound, never spliced: `"SELECT … WHERE id = \(id)"` binds `id`.
///
/// Placeholders are written for the store that runs the statement (`$1` for PostgreSQL, `?1` for SQLite), so the
/// same statement text serves both where their SQL agrees.
public struct SQL: Sendable, ExpressibleByStringInterpolation, CustomStringConvertible {
    enum Piece: Sendable {
        case text(String)
        case bind(SQLBind)
    }

    var pieces: [Piece]
    /// Whether PostgreSQL should keep the statement prepared on each connection (see `prepared`).
    var isPrepared = false

    public init(stringLiteral value: String) { pieces = [.text(value)] }

    public init(stringInterpolation: StringInterpolation) { pieces = stringInterpolation.pieces }

    /// Statement text written by Jisr itself (migrations, fixed clauses); never text that came from outside.
    public init(unsafeSQL text: String) { pieces = [.text(text)] }

    public struct StringInterpolation: StringInterpolationProtocol {
        var pieces: [Piece] = []

        public init(literalCapacity: Int, interpolationCount: Int) { pieces.reserveCapacity(interpolationCount * 2 + 1) }

        public mutating func appendLiteral(_ literal: String) { pieces.append(.text(literal)) }

        public mutating func appendInterpolation<Value: DatabaseEncodable>(_ value: Value) { pieces.append(.bind(value.sqlBind)) }

        /// A value or null (a typed null: PostgreSQL needs the parameter's type either way).
        public mutating func appendInterpolation<Value: DatabaseEncodable>(_ value: Value?) { pieces.append(.bind(value.sqlBind)) }

        /// Text of Jisr's own (column lists, dialect clauses): spliced as it is.
        public mutating func appendInterpolation(unescaped text: String) { pieces.append(.text(text)) }

        /// Another statement fragment, with its own bound values.
        public mutating func appendInterpolation(_ fragment: SQL) { pieces += fragment.pieces }
    }

    public mutating func append(_ fragment: SQL) { pieces += fragment.pieces }

    /// The same statement, parsed and planned once per PostgreSQL connection instead of at every run. For statements
    /// on the hot path whose text does not vary with the values (those are bound); SQLite runs it as it is.
    public var prepared: SQL {
        var statement = self
        statement.isPrepared = true
        return statement
    }

    public static func + (left: SQL, right: SQL) -> SQL {
        var joined = left
        joined.append(right)
        return joined
    }

    /// Fragments joined by a separator, e.g. the rows of a multi-row `VALUES`.
    public static func joined(_ fragments: [SQL], separator: String) -> SQL {
        var result = SQL(unsafeSQL: "")
        for (index, fragment) in fragments.enumerated() {
            if index > 0 { result.pieces.append(.text(separator)) }
            result.append(fragment)
        }
        return result
    }

    /// The statement text with numbered placeholders, and the values in order.
    func render(_ dialect: SQLDialect) -> (String, [SQLBind]) {
        var text = ""
        var binds: [SQLBind] = []
        for piece in pieces {
            switch piece {
            case .text(let part): text += part
            case .bind(let value):
                binds.append(value)
                text += (dialect == .postgres ? "$" : "?") + String(binds.count)
            }
        }
        return (text, binds)
    }

    /// The text with placeholders, without values: safe to log.
    public var description: String { render(.postgres).0 }
}

/// A Swift value that can be bound to a statement.
public protocol DatabaseEncodable: Sendable {
    var sqlBind: SQLBind { get }
    /// The typed null of this type (PostgreSQL needs a parameter type even for null).
    static var sqlNull: SQLBind { get }
}

extension Optional: DatabaseEncodable where Wrapped: DatabaseEncodable {
    public var sqlBind: SQLBind { self?.sqlBind ?? Wrapped.sqlNull }
    public static var sqlNull: SQLBind { Wrapped.sqlNull }
}

extension String: DatabaseEncodable {
    public var sqlBind: SQLBind { .text(self) }
    public static var sqlNull: SQLBind { .text(nil) }
}

extension Int64: DatabaseEncodable {
    public var sqlBind: SQLBind { .int64(self) }
    public static var sqlNull: SQLBind { .int64(nil) }
}

extension Int: DatabaseEncodable {
    public var sqlBind: SQLBind { .int64(Int64(self)) }
    public static var sqlNull: SQLBind { .int64(nil) }
}

extension Int32: DatabaseEncodable {
    public var sqlBind: SQLBind { .int32(self) }
    public static var sqlNull: SQLBind { .int32(nil) }
}

extension Int16: DatabaseEncodable {
    public var sqlBind: SQLBind { .int16(self) }
    public static var sqlNull: SQLBind { .int16(nil) }
}

extension Double: DatabaseEncodable {
    public var sqlBind: SQLBind { .double(self) }
    public static var sqlNull: SQLBind { .double(nil) }
}

extension Bool: DatabaseEncodable {
    public var sqlBind: SQLBind { .bool(self) }
    public static var sqlNull: SQLBind { .bool(nil) }
}

extension UUID: DatabaseEncodable {
    public var sqlBind: SQLBind { .uuid(self) }
    public static var sqlNull: SQLBind { .uuid(nil) }
}

extension Date: DatabaseEncodable {
    public var sqlBind: SQLBind { .timestamp(self) }
    public static var sqlNull: SQLBind { .timestamp(nil) }
}

extension Array: DatabaseEncodable where Element: DatabaseArrayElement {
    public var sqlBind: SQLBind { Element.bind(self) }
    public static var sqlNull: SQLBind { Element.bind(nil) }
}

/// Element types that form a bindable array: bytes (a blob) and texts (a list).
public protocol DatabaseArrayElement: Sendable {
    static func bind(_ array: [Self]?) -> SQLBind
    /// An array of these as a cell holds it.
    static func decodeArray(_ cell: DatabaseCell) throws -> [Self]
}

extension UInt8: DatabaseArrayElement {
    public static func bind(_ array: [UInt8]?) -> SQLBind { .bytes(array) }
}

extension String: DatabaseArrayElement {
    public static func bind(_ array: [String]?) -> SQLBind { .textArray(array) }
}
