import Foundation
import Logging

/// How a column's values travel between the two stores (each keeps some of them differently).
public enum ColumnKind: Sendable {
    case text, integer, real, bool, uuid, bytes
    /// An instant: `timestamptz` on PostgreSQL, integer microseconds on SQLite.
    case instant
    /// A civil date: `date` on PostgreSQL, `YYYY-MM-DD` text on SQLite.
    case day
    /// A list of texts: `text[]` on PostgreSQL, a JSON array on SQLite.
    case list
    /// A JSON document: `jsonb` on PostgreSQL, text on SQLite.
    case json
}

/// One table as `jisr store copy` moves it: its columns in order, the key it is read in order of, and what the
/// target needs around it.
public struct CopiedTable: Sendable {
    public let name: String
    public let columns: [(name: String, kind: ColumnKind)]
    /// Columns of the primary key, read in this order and used to resume after each batch.
    public let key: [String]
    /// Rows the migrations (or triggers) put in the target are replaced by the source's.
    public let replacesTargetRows: Bool
    /// A `bigserial` column: PostgreSQL's sequence is moved past the copied ids.
    public let serial: String?

    public init(_ name: String, _ columns: [(String, ColumnKind)], key: [String], replacesTargetRows: Bool = false, serial: String? = nil) {
        self.name = name
        self.columns = columns.map { (name: $0.0, kind: $0.1) }
        self.key = key
        self.replacesTargetRows = replacesTargetRows
        self.serial = serial
    }
}

/// The target already holds data and was not to be replaced.
public struct StoreCopyRefusedError: Error, Sendable, CustomStringConvertible {
    public let rows: [String: Int64]
    public var description: String {
        let listed = rows.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        return "the target store is not empty (\(listed)); pass --replace to empty it first"
    }
}

/// Copies every table of one store into another (either direction), in batches, keyed reads, one transaction per batch.
///
/// Values are read by kind and bound again, so instants, dates, lists and JSON arrive in the target's own
/// representation. The target must be migrated to the same schema first; copying refuses a target with data
/// unless `replace` empties it.
public struct StoreCopy: Sendable {
    public let tables: [CopiedTable]
    public var batchSize = 2_000

    public init(tables: [CopiedTable]) { self.tables = tables }

    /// Rows per table in `database`, in copy order.
    public func counts(in database: Database) async throws -> [(String, Int64)] {
        var counts: [(String, Int64)] = []
        for table in tables {
            counts.append((table.name, try await database.query("SELECT count(*) FROM \(unescaped: table.name)").first?[0].decode(Int64.self) ?? 0))
        }
        return counts
    }

    /// Copies everything; `progress` gets (table, rows copied, rows in the table) after each batch.
    public func copy(from source: Database, to target: Database, replace: Bool, progress: (String, Int64, Int64) -> Void) async throws {
        let present = try await counts(in: target).filter { name, count in
            count > 0 && !(tables.first { $0.name == name }?.replacesTargetRows ?? false)
        }
        if !present.isEmpty {
            guard replace else { throw StoreCopyRefusedError(rows: Dictionary(uniqueKeysWithValues: present)) }
            try await target.withTransaction { connection in
                for table in tables.reversed() { try await connection.query("DELETE FROM \(unescaped: table.name)") }
            }
        }
        let sourceCounts = Dictionary(uniqueKeysWithValues: try await counts(in: source))
        for table in tables {
            let total = sourceCounts[table.name] ?? 0
            var copied: Int64 = 0
            var after: [SQLBind]?
            var first = true
            repeat {
                let rows = try await source.query(select(table, after: after, dialect: source.dialect))
                let values = try rows.map { row in try zip(table.columns, row.cells).map { column, cell in try read(cell, as: column.kind) } }
                let clearFirst = first && table.replacesTargetRows
                try await target.withTransaction { connection in
                    if clearFirst { try await connection.query("DELETE FROM \(unescaped: table.name)") }
                    if !values.isEmpty { try await connection.query(insert(table, values, dialect: connection.dialect)) }
                }
                first = false
                copied += Int64(values.count)
                if let last = values.last {
                    after = table.key.map { key in last[table.columns.firstIndex { $0.name == key }!] }
                }
                progress(table.name, copied, total)
                if values.count < batchSize { break }
            } while true
            if let serial = table.serial, target.dialect == .postgres {
                try await target.query(
                    "SELECT setval(pg_get_serial_sequence(\(table.name), \(serial)), coalesce(max(\(unescaped: serial)), 0) + 1, false) FROM \(unescaped: table.name)")
            }
        }
        try await SyntheticStore.markCopy(of: source, into: target)
    }

    private func select(_ table: CopiedTable, after: [SQLBind]?, dialect: SQLDialect) -> SQL {
        let list = table.columns.map { column in
            switch (column.kind, dialect) {
            case (.day, .postgres): "to_char(\(column.name), 'YYYY-MM-DD')"
            case (.json, .postgres): "CAST(\(column.name) AS text)"
            default: column.name
            }
        }.joined(separator: ", ")
        let key = table.key.joined(separator: ", ")
        var statement: SQL = "SELECT \(unescaped: list) FROM \(unescaped: table.name)"
        if let after {
            let values = SQL.joined(after.map { SQL(bind: $0) }, separator: ", ")
            statement.append(" WHERE (\(unescaped: key)) > (" + values + ")")
        }
        statement.append(" ORDER BY \(unescaped: key) LIMIT \(batchSize)")
        return statement
    }

    private func insert(_ table: CopiedTable, _ rows: [[SQLBind]], dialect: SQLDialect) -> SQL {
        let tuples = rows.map { row -> SQL in
            let cells = zip(table.columns, row).map { column, value -> SQL in
                switch (column.kind, dialect, value) {
                case (.day, .postgres, _): "CAST(\(SQL(bind: value)) AS date)"
                case (.json, .postgres, _): "CAST(\(SQL(bind: value)) AS jsonb)"
                default: SQL(bind: value)
                }
            }
            return "(" + SQL.joined(cells, separator: ", ") + ")"
        }
        let columns = table.columns.map(\.name).joined(separator: ", ")
        return "INSERT INTO \(unescaped: table.name) (\(unescaped: columns)) VALUES " + SQL.joined(tuples, separator: ", ")
    }

    private func read(_ cell: DatabaseCell, as kind: ColumnKind) throws -> SQLBind {
        switch kind {
        case .text, .day, .json: try cell.decode(String?.self).sqlBind
        case .integer: try cell.decode(Int64?.self).sqlBind
        case .real: try cell.decode(Double?.self).sqlBind
        case .bool: try cell.decode(Bool?.self).sqlBind
        case .uuid: try cell.decode(UUID?.self).sqlBind
        case .bytes: try cell.decode([UInt8]?.self).sqlBind
        case .instant: try cell.decode(Date?.self).sqlBind
        case .list: try cell.decode([String]?.self).sqlBind
        }
    }
}

extension SQL {
    /// A fragment that is one bound value.
    public init(bind: SQLBind) { pieces = [.bind(bind)] }
}
