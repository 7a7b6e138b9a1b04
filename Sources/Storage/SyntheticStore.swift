import Logging

/// A store made for synthetic data — a demo's, a benchmark's, a test's — marked so when it was created, empty.
///
/// Only such a store takes synthetic records (`jisr seed`) or synthetic log entries (`jisr access-report bench`):
/// pointed at the ministry's store by mistake, they would write invented people into its records or into the
/// permanent chain of its log. A store that already holds a schema and was never marked is refused, whatever it holds.
public enum SyntheticStore {
    /// Marks `database` as made for synthetic data by `creator` (`demo`, `seed`, `bench`, a test): done at once when it
    /// is marked already or still empty (no migration applied); refused with `RealStoreError` otherwise.
    public static func claim(_ database: Database, by creator: String, logger: Logger) async throws {
        if try await isMarked(database) { return }
        try await database.withTransaction { connection in
            // The migrator's lock: a store is either claimed before its first migration or not at all.
            try await connection.lock(7411)
            if try await Self.isMarked(on: connection) { return }
            if try await Self.hasLedger(on: connection) { throw RealStoreError(creator: creator) }
            try await connection.query("CREATE TABLE IF NOT EXISTS jisr_synthetic_store (creator text NOT NULL)")
            try await connection.query("INSERT INTO jisr_synthetic_store (creator) VALUES (\(creator))")
        }
        logger.notice("store marked as made for synthetic data", metadata: ["jisr.creator": "\(creator)"])
    }

    /// Marks a copy (`jisr store copy`) as its source is: the target holds the same synthetic data.
    public static func markCopy(of source: Database, into target: Database) async throws {
        guard try await isMarked(source), !(try await isMarked(target)) else { return }
        try await target.withTransaction { connection in
            try await connection.query("CREATE TABLE IF NOT EXISTS jisr_synthetic_store (creator text NOT NULL)")
            try await connection.query("INSERT INTO jisr_synthetic_store (creator) VALUES ('jisr store copy')")
        }
    }

    /// Whether the store was marked as made for synthetic data.
    public static func isMarked(_ database: Database) async throws -> Bool {
        try await database.withConnection { try await isMarked(on: $0) }
    }

    static func isMarked(on connection: DatabaseConnection) async throws -> Bool {
        guard try await connection.tableExists("jisr_synthetic_store") else { return false }
        return try await connection.query("SELECT count(*) FROM jisr_synthetic_store").first?[0].decode(Int64.self) ?? 0 > 0
    }

    static func hasLedger(on connection: DatabaseConnection) async throws -> Bool {
        guard try await connection.tableExists("jisr_migrations") else { return false }
        return try await connection.query("SELECT count(*) FROM jisr_migrations").first?[0].decode(Int64.self) ?? 0 > 0
    }
}

extension DatabaseConnection {
    /// Whether a table of that name exists (in the current schema, on PostgreSQL).
    public func tableExists(_ table: String) async throws -> Bool {
        let rows = try await query(
            dialect == .postgres
                ? "SELECT count(*) FROM information_schema.tables WHERE table_name = \(table) AND table_schema = current_schema()"
                : "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = \(table)")
        return try rows.first?[0].decode(Int64.self) ?? 0 > 0
    }
}

/// A command that writes synthetic data was pointed at a store it did not create.
public struct RealStoreError: Error, Sendable, CustomStringConvertible {
    public let creator: String

    public init(creator: String) { self.creator = creator }

    public var description: String {
        "this store was not made for synthetic data: it already has Jisr's schema and no mark of a demo, a benchmark or a test; "
            + "\(creator) writes only into a store it creates itself — give it a new, empty database (or file), never the ministry's store"
    }
}
