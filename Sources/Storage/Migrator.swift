import Logging
import PostgresNIO

/// One versioned change to the schema of one module's tables.
public struct Migration: Sendable {
    public let module: String
    public let version: Int
    public let name: String
    public let statements: [String]

    public init(module: String, version: Int, name: String, statements: [String]) {
        self.module = module
        self.version = version
        self.name = name
        self.statements = statements
    }
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
    let client: PostgresClient
    let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// Applies what is missing; returns the names of the migrations applied now.
    @discardableResult
    public func migrate(_ migrations: [Migration]) async throws -> [String] {
        try await client.query(
            """
            CREATE TABLE IF NOT EXISTS jisr_migrations (
                module text NOT NULL, version integer NOT NULL, name text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (module, version))
            """, logger: logger)
        var applied: [String] = []
        let modules = Dictionary(grouping: migrations, by: \.module)
        for (module, list) in modules.sorted(by: { $0.key < $1.key }) {
            let ordered = list.sorted { $0.version < $1.version }
            let known = ordered.last?.version ?? 0
            for migration in ordered {
                let didApply = try await client.withTransaction(logger: logger) { connection -> Bool in
                    // One migrator at a time across processes; the lock ends with the transaction.
                    try await connection.query("SELECT pg_advisory_xact_lock(7411)", logger: logger)
                    let newest = try await connection.query("SELECT coalesce(max(version), 0) FROM jisr_migrations WHERE module = \(module)", logger: logger)
                    var current = 0
                    for try await version in newest.decode(Int.self) { current = version }
                    if current > known { throw SchemaTooNewError(module: module, databaseVersion: current, knownVersion: known) }
                    if current >= migration.version { return false }
                    for statement in migration.statements {
                        try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                    }
                    try await connection.query(
                        "INSERT INTO jisr_migrations (module, version, name) VALUES (\(module), \(migration.version), \(migration.name))",
                        logger: logger)
                    return true
                }
                if didApply { applied.append("\(module)/\(migration.version) \(migration.name)") }
            }
        }
        return applied
    }
}
