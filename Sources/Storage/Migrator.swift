import Foundation
import Logging

/// One versioned change to the schema of one module's tables, written for each store.
public struct Migration: Sendable {
    public let module: String
    public let version: Int
    public let name: String
    public let postgres: [String]
    public let sqlite: [String]

    /// A change whose statements both stores accept as written.
    public init(module: String, version: Int, name: String, statements: [String]) {
        self.init(module: module, version: version, name: name, postgres: statements, sqlite: statements)
    }

    public init(module: String, version: Int, name: String, postgres: [String], sqlite: [String]) {
        self.module = module
        self.version = version
        self.name = name
        self.postgres = postgres
        self.sqlite = sqlite
    }

    public func statements(for dialect: SQLDialect) -> [String] { dialect == .postgres ? postgres : sqlite }
}

/// The database holds a schema newer than this binary knows: refuse rather than guess.
public struct SchemaTooNewError: Error, Sendable, CustomStringConvertible {
    public let module: String
    public let databaseVersion: Int
    public let knownVersion: Int
    public var description: String {
        "the database's \(module) schema is at version \(databaseVersion) but this jisr knows only up to \(knownVersion); upgrade jisr"
    }
}

/// Applies migrations in order, each in its own transaction, once; safe to run concurrently and twice.
public struct Migrator: Sendable {
    let database: Database
    let logger: Logger

    public init(database: Database, logger: Logger) {
        self.database = database
        self.logger = logger
    }

    /// Applies what is missing; returns the names of the migrations applied now.
    @discardableResult
    public func migrate(_ migrations: [Migration]) async throws -> [String] {
        let appliedAt = database.dialect == .postgres ? "timestamptz NOT NULL DEFAULT now()" : "integer NOT NULL DEFAULT (\(SQLDialect.sqliteNow))"
        try await database.query(
            SQL(unsafeSQL: """
                CREATE TABLE IF NOT EXISTS jisr_migrations (
                    module text NOT NULL, version integer NOT NULL, name text NOT NULL,
                    applied_at \(appliedAt), PRIMARY KEY (module, version))
                """))
        var applied: [String] = []
        let modules = Dictionary(grouping: migrations, by: \.module)
        for (module, list) in modules.sorted(by: { $0.key < $1.key }) {
            let ordered = list.sorted { $0.version < $1.version }
            let known = ordered.last?.version ?? 0
            for migration in ordered {
                let didApply = try await database.withTransaction { connection -> Bool in
                    // One migrator at a time across processes; the lock ends with the transaction.
                    try await connection.lock(7411)
                    let current = try await connection.query("SELECT coalesce(max(version), 0) FROM jisr_migrations WHERE module = \(module)")
                        .first?[0].decode(Int.self) ?? 0
                    if current > known { throw SchemaTooNewError(module: module, databaseVersion: current, knownVersion: known) }
                    if current >= migration.version { return false }
                    for statement in migration.statements(for: connection.dialect) {
                        try await connection.query(SQL(unsafeSQL: statement))
                    }
                    try await connection.query(
                        "INSERT INTO jisr_migrations (module, version, name) VALUES (\(module), \(Int32(migration.version)), \(migration.name))")
                    return true
                }
                if didApply { applied.append("\(module)/\(migration.version) \(migration.name)") }
            }
        }
        return applied
    }

    /// The migrations the store has not had yet, by name; changes nothing.
    public func pending(_ migrations: [Migration]) async throws -> [String] {
        guard try await hasLedger() else { return migrations.map { "\($0.module)/\($0.version) \($0.name)" } }
        let applied = Set(try await database.query("SELECT module, version FROM jisr_migrations").decode((String, Int).self).map { "\($0)/\($1)" })
        return migrations.filter { !applied.contains("\($0.module)/\($0.version)") }.map { "\($0.module)/\($0.version) \($0.name)" }
    }

    private func hasLedger() async throws -> Bool {
        try await database.withConnection { try await $0.tableExists("jisr_migrations") }
    }

    /// Refuses a store whose schema is newer than this binary knows, without changing anything.
    public func checkNotNewer(_ migrations: [Migration]) async throws {
        guard try await hasLedger() else { return }
        let known = Dictionary(grouping: migrations, by: \.module).mapValues { $0.map(\.version).max() ?? 0 }
        for (module, version) in try await database.query("SELECT module, max(version) FROM jisr_migrations GROUP BY module").decode((String, Int).self) {
            if let knownVersion = known[module], version > knownVersion {
                throw SchemaTooNewError(module: module, databaseVersion: version, knownVersion: knownVersion)
            }
        }
    }
}

extension Migration {
    /// A change written once in PostgreSQL's DDL; SQLite gets it translated by `sqliteDDL(_:)`.
    public init(module: String, version: Int, name: String, portable statements: [String]) {
        self.init(module: module, version: version, name: name, postgres: statements, sqlite: statements.map(Self.sqliteDDL))
    }

    /// PostgreSQL table DDL as SQLite takes it: instants as integer microseconds, UUIDs and lists as text,
    /// `bigserial` as an autoincrement key, and the `ministry` schema as the attached database of that name.
    /// Pattern checks (`~`) are dropped: SQLite has no regular expressions, and Jisr validates before it writes.
    public static func sqliteDDL(_ statement: String) -> String {
        let replacements: [(String, String)] = [
            (#"\bbigserial PRIMARY KEY"#, "integer PRIMARY KEY AUTOINCREMENT"),
            (#"\btimestamptz\b"#, "integer"),
            (#"DEFAULT now\(\)"#, "DEFAULT (\(SQLDialect.sqliteNow))"),
            (#"\buuid\b"#, "text"),
            (#"\bbytea\b"#, "blob"),
            (#"\bjsonb\b"#, "text"),
            (#"\btext\[\]"#, "text"),
            (#"(?<=\s)date(?=[\s,)])"#, "text"),
            (#"\s*CHECK \(\w+ ~ '[^']*'\)"#, ""),
            (#"CREATE (UNIQUE )?INDEX (\w+) ON ministry\.(\w+)"#, "CREATE $1INDEX ministry.$2 ON $3"),
            (#"REFERENCES ministry\."#, "REFERENCES "),
        ]
        var text = statement
        for (pattern, template) in replacements {
            text = text.replacingOccurrences(of: pattern, with: template, options: .regularExpression)
        }
        return text
    }
}
