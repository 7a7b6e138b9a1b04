import Foundation
import Logging
import NIOCore
import NIOPosix
import PostgresNIO
import SQLiteNIO
import ServiceLifecycle
import Synchronization

/// The store cannot be reached (down, restarting, or not answering in time): a retryable condition, never a bug.
public struct DatabaseUnavailableError: Error, Sendable, CustomStringConvertible {
    public let reason: String
    public init(reason: String) { self.reason = reason }
    public var description: String { "the store is unavailable: \(reason)" }
}

/// A constraint the store refused the statement by, named so that callers can turn it into their own error.
public struct DatabaseConstraintError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable { case unique, foreignKey, check, notNull }
    public let kind: Kind
    public let detail: String
    public var description: String { "database constraint (\(kind)): \(detail)" }
}

/// How a store's connection pool is used now: connections open (in use or idle), and callers waiting for one.
public struct PoolUsage: Sendable, Equatable {
    public var open: Int
    public var idle: Int
    public var waiting: Int
    public var inUse: Int { max(0, open - idle) }

    public init(open: Int, idle: Int, waiting: Int) {
        self.open = open
        self.idle = idle
        self.waiting = waiting
    }
}

/// Counts the leases of a PostgreSQL pool, which postgres-nio keeps to itself, from this side of the pool: requests
/// for a connection, and connections held; the difference waits.
final class LeaseCounter: Sendable {
    private let counts = Mutex((requested: 0, held: 0))

    var held: Int { counts.withLock { $0.held } }
    var waiting: Int { counts.withLock { max(0, $0.requested - $0.held) } }

    /// Runs `lease` (a request for a connection and the work on it), counted as requested until it returns.
    func requesting<Result>(_ lease: () async throws -> Result) async rethrows -> Result {
        counts.withLock { $0.requested += 1 }
        defer { counts.withLock { $0.requested -= 1 } }
        return try await lease()
    }

    /// A connection was handed over; `release` when the work on it is done.
    func hold() { counts.withLock { $0.held += 1 } }
    func release() { counts.withLock { $0.held -= 1 } }
}

/// Jisr's store: PostgreSQL (the reference, for production) or an embedded SQLite file (the default without a server).
///
/// Everything Jisr keeps goes through this one interface: statements are `SQL` values with bound parameters,
/// results are rows of cells decoded by type. Transactions on SQLite take the write lock when they begin
/// (`BEGIN IMMEDIATE`), which stands in for PostgreSQL's row and advisory locks; the few statements that differ
/// between the two ask `dialect`. It is a `Service`: run it in the service group before anything that queries.
public final class Database: Service, Sendable {
    enum Backend: Sendable {
        case postgres(PostgresClient)
        case sqlite(SQLitePool)
    }

    public let location: StoreLocation
    public var dialect: SQLDialect { location.dialect }
    let backend: Backend
    let logger: Logger
    /// Held for as long as the store is open: a gateway's claim on an embedded store.
    let claim: EmbeddedStoreClaim?
    /// Leases of the PostgreSQL pool, and the name its connections carry (`application_name`), so that the server
    /// can say how many this pool holds open.
    let leases = LeaseCounter()
    let applicationName = "jisr-" + String(UInt32.random(in: 0...UInt32.max), radix: 16)

    /// A store at `location` with a pool of at most `connections`; `claim` is kept until the store is released.
    /// A `steady` pool keeps its connections open, for a process that serves (`DatabaseURL.clientConfiguration`).
    public init(_ location: StoreLocation, connections: Int = 16, steady: Bool = false, claim: EmbeddedStoreClaim? = nil, logger: Logger) {
        self.location = location
        // The drivers log at trace what they send and receive — row bytes, national ids among them: never below info.
        var logger = logger
        if logger.logLevel < .info { logger.logLevel = .info }
        self.logger = logger
        self.claim = claim
        switch location {
        case .postgres(let url):
            var configuration = url.clientConfiguration(connections: connections, steady: steady)
            configuration.options.additionalStartupParameters.append(("application_name", applicationName))
            backend = .postgres(PostgresClient(configuration: configuration, backgroundLogger: logger))
        case .sqlite(let path):
            // One writer at a time whatever the pool size: more connections only add readers, and eight outpace two cores.
            backend = .sqlite(SQLitePool(path: path, connections: max(2, min(connections, 8)), logger: logger))
        }
    }

    public func run() async throws {
        switch backend {
        case .postgres(let client): await client.run()
        case .sqlite(let pool):
            // Nothing runs in the background; the connections are closed at shutdown.
            await cancelWhenGracefulShutdown {
                while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
            }
            await pool.close()
        }
    }

    /// One statement on a pooled connection, in its own transaction.
    @discardableResult
    public func query(_ sql: SQL) async throws -> [DatabaseRow] {
        switch backend {
        case .postgres(let client):
            // Through a lease of our own (postgres-nio's `query` leases one the same way), so that waits are counted.
            return try await leases.requesting {
                try await client.withConnection { connection in
                    leases.hold()
                    defer { leases.release() }
                    return try await DatabaseConnection.postgres(
                        sql, query: { try await connection.query($0, logger: logger) }, prepared: { try await connection.execute($0, logger: logger) },
                        discardConnection: { try? await connection.close() })
                }
            }
        case .sqlite(let pool):
            return try await pool.withConnection { connection in
                try await DatabaseConnection(backend: .sqlite(connection), logger: logger).query(sql)
            }
        }
    }

    /// Runs `body` in one transaction: committed when it returns, rolled back when it throws.
    ///
    /// On SQLite the transaction holds the store's write lock from its first statement: transactions of this
    /// process queue for it here, other processes wait on the file lock.
    public func withTransaction<Result: Sendable>(_ body: @Sendable (DatabaseConnection) async throws -> Result) async throws -> Result {
        switch backend {
        case .postgres(let client):
            return try await Self.unwrappingTransactionErrors {
                try await leases.requesting {
                    try await client.withTransaction(logger: logger) { connection -> Result in
                        leases.hold()
                        defer { leases.release() }
                        return try await body(DatabaseConnection(backend: .postgres(connection), logger: self.logger))
                    }
                }
            }
        case .sqlite(let pool):
            return try await pool.withWriteTransaction { connection in
                try await body(DatabaseConnection(backend: .sqlite(connection), logger: self.logger))
            }
        }
    }

    /// Runs `body` in a read-only transaction that sees one consistent state of the store.
    public func withSnapshot<Result: Sendable>(_ body: @Sendable (DatabaseConnection) async throws -> Result) async throws -> Result {
        switch backend {
        case .postgres(let client):
            return try await Self.unwrappingTransactionErrors {
                try await leases.requesting {
                    try await client.withTransaction(logger: logger) { connection -> Result in
                        leases.hold()
                        defer { leases.release() }
                        try await connection.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY", logger: self.logger)
                        return try await body(DatabaseConnection(backend: .postgres(connection), logger: self.logger))
                    }
                }
            }
        case .sqlite(let pool):
            return try await pool.withReadTransaction { connection in
                try await body(DatabaseConnection(backend: .sqlite(connection), logger: self.logger))
            }
        }
    }

    /// postgres-nio wraps what the body threw; callers get it as SQLite's path gives it: the body's own error.
    static func unwrappingTransactionErrors<Result>(_ body: () async throws -> Result) async throws -> Result {
        do {
            return try await body()
        } catch let error as PostgresTransactionError where error.commitError == nil && error.beginError == nil {
            guard let thrown = error.closureError else { throw error }
            if let database = thrown as? PSQLError { throw DatabaseConnection.translate(database) }
            throw thrown
        }
    }

    /// Runs `body`, giving up after `limit` with `DatabaseUnavailableError`: waiting for a connection to a server that
    /// is down must not hold a request past what its caller will wait.
    ///
    /// The body runs in a task of its own, cancelled at the deadline but not waited for: postgres-nio's pool was
    /// seen not to answer a cancelled lease while its server was down (the outage test hung on exactly that), so a
    /// structured child would hold the caller until the server came back. A body that finishes late finishes alone.
    ///
    /// The deadline is a timer on an event loop, cancelled with the answer: a sleeping task per call outlived its
    /// call by the whole limit and kept the body's task (and its result, the rows read) alive until then — under load,
    /// thousands of them (docs/benchmarks.md).
    ///
    /// `unless`, asked at the deadline, may keep the body going once more for `extra` (a commit already sent,
    /// whose outcome must be learnt rather than guessed); the caller's own check decides, atomically with its body.
    public func withDeadline<Result: Sendable>(
        _ limit: Duration, unless keepGoing: (@Sendable () -> Bool)? = nil, extendedBy extra: Duration = .zero,
        _ body: @escaping @Sendable () async throws -> Result
    ) async throws -> Result {
        let answer = FirstAnswer<Result>()
        let work = Task {
            do { answer.give(.success(try await body())) } catch { answer.give(.failure(error)) }
        }
        let timers = Mutex<[Scheduled<Void>]>([])
        @Sendable func giveUp() {
            answer.give(.failure(DatabaseUnavailableError(reason: "no answer within \(limit)")))
            work.cancel()
        }
        let loop = MultiThreadedEventLoopGroup.singleton.any()
        let first = loop.scheduleTask(in: TimeAmount(limit)) {
            guard let keepGoing, keepGoing() else { return giveUp() }
            let second = loop.scheduleTask(in: TimeAmount(extra)) { giveUp() }
            timers.withLock { $0.append(second) }
        }
        timers.withLock { $0.append(first) }
        defer { timers.withLock { $0.forEach { $0.cancel() } } }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in answer.wait(continuation) }
        } onCancel: {
            work.cancel()
            answer.give(.failure(CancellationError()))
        }
    }

    /// Runs `body` on one pooled connection, each statement in its own transaction (reads that belong together).
    public func withConnection<Result: Sendable>(_ body: @Sendable (DatabaseConnection) async throws -> Result) async throws -> Result {
        switch backend {
        case .postgres(let client):
            return try await leases.requesting {
                try await client.withConnection { connection in
                    leases.hold()
                    defer { leases.release() }
                    return try await body(DatabaseConnection(backend: .postgres(connection), logger: self.logger))
                }
            }
        case .sqlite(let pool):
            return try await pool.withConnection { connection in
                try await body(DatabaseConnection(backend: .sqlite(connection), logger: self.logger))
            }
        }
    }

    /// Calls `onNotification` for every notification on `channel` until the task is cancelled or the connection fails.
    ///
    /// PostgreSQL delivers `pg_notify` at commit, across processes (the LISTEN holds one pooled connection).
    /// SQLite has no notifications: this returns at once with `false`, and callers rely on their polling.
    public func listen(on channel: String, _ onNotification: @Sendable () async -> Void) async throws -> Bool {
        guard case .postgres(let client) = backend else { return false }
        try await leases.requesting { try await client.withConnection { connection in
            leases.hold()
            defer { leases.release() }
            try await connection.listen(on: channel) { notifications in
                for try await _ in notifications { await onNotification() }
            }
        } }
        return true
    }

    /// How the pool is used now. PostgreSQL's open connections are the server's count of this pool's sessions (by
    /// their `application_name`), asked on one of them; leases and waits are counted on this side of the pool.
    public func poolUsage() async throws -> PoolUsage {
        switch backend {
        case .postgres:
            let open = try await query("SELECT count(*) FROM pg_stat_activity WHERE application_name = \(applicationName)").first?[0].decode(Int64.self) ?? 0
            return PoolUsage(open: Int(open), idle: max(0, Int(open) - leases.held), waiting: leases.waiting)
        case .sqlite(let pool):
            return pool.usage
        }
    }

    /// The PostgreSQL client underneath, for what only PostgreSQL has (COPY); nil on SQLite.
    public var postgresClient: PostgresClient? {
        if case .postgres(let client) = backend { return client }
        return nil
    }
}

/// A connection held for the length of a transaction; statements on it see the transaction's own changes.
public struct DatabaseConnection: Sendable {
    enum Backend: Sendable {
        case postgres(PostgresConnection)
        case sqlite(SQLiteConnection)
    }

    let backend: Backend
    let logger: Logger

    public var dialect: SQLDialect {
        if case .postgres = backend { return .postgres }
        return .sqlite
    }

    @discardableResult
    public func query(_ sql: SQL) async throws -> [DatabaseRow] {
        switch backend {
        case .postgres(let connection):
            return try await Self.postgres(
                sql, query: { try await connection.query($0, logger: logger) }, prepared: { try await connection.execute($0, logger: logger) },
                discardConnection: { try? await connection.close() })
        case .sqlite(let connection):
            let (text, binds) = sql.render(.sqlite)
            do {
                let rows = try await connection.query(text, binds.map(Self.sqliteValue))
                return rows.map { row in DatabaseRow(cells: row.columns.enumerated().map { .sqlite($0.element.data, column: $0.offset) }) }
            } catch let error as SQLiteError {
                throw Self.translate(error)
            }
        }
    }

    /// Serialises the holders of `key` until the transaction ends, across processes. On SQLite the transaction's
    /// write lock already does.
    public func lock(_ key: Int64) async throws {
        if case .postgres = backend { try await query(SQL("SELECT pg_advisory_xact_lock(\(key))").prepared) }
    }

    /// Runs `body` under a savepoint: its changes are undone if it throws, the rest of the transaction stays.
    public func savepoint<Result: Sendable>(_ body: () async throws -> Result) async throws -> Result {
        try await control("SAVEPOINT jisr_work")
        do {
            let result = try await body()
            try await control("RELEASE SAVEPOINT jisr_work")
            return result
        } catch {
            try await control("ROLLBACK TO SAVEPOINT jisr_work")
            try await control("RELEASE SAVEPOINT jisr_work")
            throw error
        }
    }

    /// Transaction control that a cancelled task does not skip on SQLite (its async calls are dropped when the
    /// task is cancelled; the future is not), so a savepoint is never left half undone.
    private func control(_ statement: String) async throws {
        switch backend {
        case .postgres: try await query(SQL(unsafeSQL: statement))
        case .sqlite(let connection): try await SQLitePool.control(statement, on: connection)
        }
    }

    /// Runs `sql` through a client's or a connection's `query` — or, for a statement marked `prepared`, its `execute`,
    /// which parses and plans it once per connection — rows collected, errors typed.
    ///
    /// postgres-nio remembers a statement whose preparation failed, per connection, and answers every later execution
    /// on that connection with the same error: a table missing for a moment (a restore, a migration) would leave the
    /// connection failing for good. Such a failure (SQLSTATE class 42: a relation, column or function not there)
    /// closes the connection, and the pool opens a fresh one.
    static func postgres(
        _ sql: SQL, query: (PostgresQuery) async throws -> PostgresRowSequence,
        prepared: (PreparedPostgresStatement) async throws -> AsyncThrowingMapSequence<PostgresRowSequence, PostgresRow>,
        discardConnection: () async -> Void
    ) async throws -> [DatabaseRow] {
        try await translatingPostgresErrors {
            let statement = try postgresQuery(sql)
            guard sql.isPrepared, let text = PreparedPostgresStatement.text(for: statement.sql) else {
                return try await postgresRows(try await query(statement))
            }
            do {
                return try await PreparedPostgresStatement.$current.withValue(text) {
                    var result: [DatabaseRow] = []
                    for try await row in try await prepared(PreparedPostgresStatement(bindings: statement.binds)) {
                        result.append(DatabaseRow(cells: row.map { .postgres($0) }))
                    }
                    return result
                }
            } catch let error as PSQLError where error.serverInfo?[.sqlState]?.hasPrefix("42") == true {
                await discardConnection()
                throw error
            }
        }
    }

    static func postgresQuery(_ sql: SQL) throws -> PostgresQuery {
        let (text, binds) = sql.render(.postgres)
        var bindings = PostgresBindings(capacity: binds.count)
        for bind in binds {
            switch bind {
            case .text(let value): bindings.append(value)
            case .int64(let value): bindings.append(value)
            case .int32(let value): bindings.append(value)
            case .int16(let value): bindings.append(value)
            case .double(let value): bindings.append(value)
            case .bool(let value): bindings.append(value)
            case .uuid(let value): bindings.append(value)
            case .timestamp(let value): bindings.append(value)
            case .bytes(let value): bindings.append(value.map { ByteBuffer(bytes: $0) })
            case .textArray(let value): bindings.append(value)
            }
        }
        return PostgresQuery(unsafeSQL: text, binds: bindings)
    }

    static func postgresRows(_ rows: PostgresRowSequence) async throws -> [DatabaseRow] {
        var result: [DatabaseRow] = []
        for try await row in rows { result.append(DatabaseRow(cells: row.map { .postgres($0) })) }
        return result
    }

    /// PostgreSQL reports a constraint when the statement is sent or while its rows arrive: both become the typed error.
    static func translatingPostgresErrors<Result>(_ body: () async throws -> Result) async throws -> Result {
        do { return try await body() } catch let error as PSQLError { throw translate(error) }
    }

    static func sqliteValue(_ bind: SQLBind) -> SQLiteData {
        switch bind {
        case .text(let value): value.map { .text($0) } ?? .null
        case .int64(let value): value.map { .integer(SQLiteInt64($0)) } ?? .null
        case .int32(let value): value.map { .integer(SQLiteInt64($0)) } ?? .null
        case .int16(let value): value.map { .integer(SQLiteInt64($0)) } ?? .null
        case .double(let value): value.map { .float($0) } ?? .null
        case .bool(let value): value.map { .integer($0 ? 1 : 0) } ?? .null
        case .uuid(let value): value.map { .text($0.uuidString.lowercased()) } ?? .null
        case .timestamp(let value): value.map { .integer(SQLiteInt64(($0.timeIntervalSince1970 * 1_000_000).rounded())) } ?? .null
        case .bytes(let value): value.map { .blob(ByteBuffer(bytes: $0)) } ?? .null
        case .textArray(let value): value.map { .text(String(decoding: (try? JSONEncoder().encode($0)) ?? Data("[]".utf8), as: UTF8.self)) } ?? .null
        }
    }

    static func translate(_ error: PSQLError) -> any Error {
        let state = error.serverInfo?[.sqlState] ?? ""
        // Connection exceptions (08…) and operator intervention (57…, e.g. the server shutting down) are outages; so are
        // a serialization failure (40001) and a deadlock (40P01), which the same statement may not meet again, and a
        // read-only transaction (25006: a standby answered, a failover under way). All are worth a retry: 503, not 500.
        if [.connectionError, .serverClosedConnection, .clientClosedConnection, .uncleanShutdown, .poolClosed].contains(error.code)
            || state.hasPrefix("08") || state.hasPrefix("57") || ["40001", "40P01", "25006"].contains(state)
        {
            return DatabaseUnavailableError(reason: error.serverInfo?[.message] ?? "\(error.code)")
        }
        let kind: DatabaseConstraintError.Kind? =
            switch error.serverInfo?[.sqlState] {
            case "23505": .unique
            case "23503": .foreignKey
            case "23514": .check
            case "23502": .notNull
            default: nil
            }
        guard let kind else { return error }
        return DatabaseConstraintError(kind: kind, detail: error.serverInfo?[.message] ?? "")
    }

    static func translate(_ error: SQLiteError) -> any Error {
        let message = error.message
        let kind: DatabaseConstraintError.Kind? =
            if message.hasPrefix("UNIQUE constraint") || message.hasPrefix("PRIMARY KEY") {
                .unique
            } else if message.hasPrefix("FOREIGN KEY") {
                .foreignKey
            } else if message.hasPrefix("CHECK constraint") {
                .check
            } else if message.hasPrefix("NOT NULL") {
                .notNull
            } else {
                nil
            }
        guard let kind else { return error }
        return DatabaseConstraintError(kind: kind, detail: message)
    }
}

/// The first of several racing outcomes resumes the waiter; the others are dropped.
final class FirstAnswer<Value: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<Value, any Error>?
        var early: Result<Value, any Error>?
        var done = false
    }

    private let state = Mutex(State())

    func wait(_ continuation: CheckedContinuation<Value, any Error>) {
        let early = state.withLock { state -> Result<Value, any Error>? in
            if let early = state.early { return early }
            state.continuation = continuation
            return nil
        }
        if let early { continuation.resume(with: early) }
    }

    func give(_ result: Result<Value, any Error>) {
        let waiting = state.withLock { state -> CheckedContinuation<Value, any Error>? in
            guard !state.done else { return nil }
            state.done = true
            guard let continuation = state.continuation else {
                state.early = result
                return nil
            }
            state.continuation = nil
            return continuation
        }
        waiting?.resume(with: result)
    }
}

/// A statement that postgres-nio prepares once on each connection and then only binds and executes.
///
/// Planning was most of PostgreSQL's time per lookup (pgbench on the employment-record query: 0.47 ms a round trip
/// unprepared, 0.14 ms prepared). postgres-nio names a prepared statement's text by its type's static `name` and
/// `sql`, read as `execute` starts; Jisr's statements are values, so the text is handed over in a task-local for the
/// length of that call, under a name given once per distinct text. Only fixed texts are marked `prepared` (their
/// values are bound), and past `limit` distinct texts further ones run unprepared, so no connection collects
/// statements without end.
struct PreparedPostgresStatement: PostgresPreparedStatement {
    struct Text: Sendable {
        let name: String
        let sql: String
    }

    static let limit = 256
    private static let names = Mutex<[String: String]>([:])
    @TaskLocal static var current: Text?

    static var name: String { current?.name ?? "" }
    static var sql: String { current?.sql ?? "" }

    let bindings: PostgresBindings

    func makeBindings() -> PostgresBindings { bindings }
    func decodeRow(_ row: PostgresRow) -> PostgresRow { row }

    /// The name under which `sql` is prepared; nil once `limit` texts have names.
    static func text(for sql: String) -> Text? {
        names.withLock { names in
            if let name = names[sql] { return Text(name: name, sql: sql) }
            guard names.count < limit else { return nil }
            let name = "jisr_\(names.count + 1)"
            names[sql] = name
            return Text(name: name, sql: sql)
        }
    }
}
