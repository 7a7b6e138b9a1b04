import Foundation
import Logging
import NIOCore
import NIOPosix
import SQLiteNIO
import Synchronization

/// Connections to one SQLite file, opened on demand, each configured for durable, concurrent use.
///
/// WAL mode lets readers run beside the one writer; `synchronous=FULL` makes every commit durable (WAL with
/// NORMAL may lose the last commits at power loss, which the log's first invariant forbids). Write transactions
/// of this process queue on an in-process gate before they take the file's write lock, so no pool thread sits in
/// SQLite's busy wait while the lock holder needs one. The ministry's reference records live in a second file,
/// attached as the schema `ministry`, as on PostgreSQL where they are a schema of their own.
final class SQLitePool: Sendable {
    private struct State {
        var idle: [SQLiteConnection] = []
        var opened = 0
        var waiting: [CheckedContinuation<Handoff, Never>] = []
        var closed = false
    }

    let path: String
    let maximum: Int
    let logger: Logger
    private let threads: NIOThreadPool
    private let state = Mutex(State())
    private let writeGate: AsyncGate
    /// Connections are opened and configured one at a time. On a new file the first one switches it to WAL, which
    /// takes an exclusive lock that SQLite's busy wait does not cover: a second connection configured meanwhile got
    /// "database is locked" (`jisr serve` on a new store, 2 starts in 250 on a loaded machine).
    private let openGate: AsyncGate

    init(path: String, connections: Int, logger: Logger) {
        self.path = path
        self.maximum = connections
        self.logger = logger
        // One thread per connection and two spare: a statement never waits for a thread held by a busy wait.
        self.threads = NIOThreadPool(numberOfThreads: connections + 2)
        self.threads.start()
        self.writeGate = AsyncGate()
        self.openGate = AsyncGate()
    }


    /// Connections open, idle, and callers waiting for one.
    var usage: PoolUsage {
        state.withLock { state in PoolUsage(open: state.opened, idle: state.idle.count, waiting: state.waiting.count) }
    }

    func withConnection<Result: Sendable>(_ body: (SQLiteConnection) async throws -> Result) async throws -> Result {
        let connection = try await checkout()
        do {
            let result = try await body(connection)
            checkin(connection)
            return result
        } catch {
            checkin(connection)
            throw error
        }
    }

    func withWriteTransaction<Result: Sendable>(_ body: (SQLiteConnection) async throws -> Result) async throws -> Result {
        try await writeGate.withLock {
            try await withConnection { connection in try await Self.transaction("BEGIN IMMEDIATE", on: connection, body) }
        }
    }

    /// A read transaction: one consistent state of the store, beside the writer.
    func withReadTransaction<Result: Sendable>(_ body: (SQLiteConnection) async throws -> Result) async throws -> Result {
        try await withConnection { connection in try await Self.transaction("BEGIN DEFERRED", on: connection, body) }
    }

    /// BEGIN, COMMIT and ROLLBACK go through futures, which a cancelled task does not skip: a connection never
    /// returns to the pool inside a transaction (it would hold the store's write lock for good). The body's own
    /// statements do stop when its task is cancelled; the rollback then undoes them.
    private static func transaction<Result: Sendable>(
        _ begin: String, on connection: SQLiteConnection, _ body: (SQLiteConnection) async throws -> Result
    ) async throws -> Result {
        try await control(begin, on: connection)
        do {
            let result = try await body(connection)
            try await control("COMMIT", on: connection)
            return result
        } catch {
            try? await control("ROLLBACK", on: connection)
            throw error
        }
    }

    /// A statement through the future API, which a cancelled task does not skip (transaction control, savepoints).
    static func control(_ statement: String, on connection: SQLiteConnection) async throws {
        let done: EventLoopFuture<[SQLiteRow]> = connection.query(statement, [])
        _ = try await done.get()
    }

    /// Closes the idle connections now and the others when they come back; the threads stop after the last one.
    /// Closing goes through futures, not `async` calls, so that a cancelled task (the usual way a service
    /// stops) still closes every connection.
    func close() async {
        let connections = state.withLock { state -> [SQLiteConnection] in
            state.closed = true
            for waiter in state.waiting { waiter.resume(returning: .closed) }
            state.waiting = []
            defer { state.idle = [] }
            return state.idle
        }
        if connections.isEmpty, state.withLock({ $0.opened == 0 }) { threads.shutdownGracefully { _ in } }
        for connection in connections { try? await finish(connection).get() }
    }

    private func finish(_ connection: SQLiteConnection) -> EventLoopFuture<Void> {
        let closed: EventLoopFuture<Void> = connection.close()
        return closed.always { _ in
            let last = self.state.withLock { state -> Bool in
                state.opened -= 1
                return state.opened == 0
            }
            if last { self.threads.shutdownGracefully { _ in } }
        }
    }

    private enum Checkout {
        case use(SQLiteConnection)
        case open
        case wait
        case closed
    }

    /// What a waiting checkout is handed: a connection, the pool's end, or a free slot to open one in (an opening
    /// failed: its slot is free again, and a waiter left waiting would wait for a connection that never comes).
    private enum Handoff {
        case connection(SQLiteConnection)
        case openSlot
        case closed
    }

    private func checkout() async throws -> SQLiteConnection {
        var decision = state.withLock { state -> Checkout in
            if state.closed { return .closed }
            if let connection = state.idle.popLast() { return .use(connection) }
            if state.opened < maximum {
                state.opened += 1
                return .open
            }
            return .wait
        }
        while true {
            switch decision {
            case .use(let connection): return connection
            case .closed: throw SQLiteStoreError(reason: "the store is closed")
            case .open:
                do {
                    return try await openGate.withLock { try await open() }
                } catch {
                    let waiter = state.withLock { state -> CheckedContinuation<Handoff, Never>? in
                        // The slot passes to the first waiter, or is given back.
                        if !state.waiting.isEmpty { return state.waiting.removeFirst() }
                        state.opened -= 1
                        return nil
                    }
                    waiter?.resume(returning: .openSlot)
                    throw error
                }
            case .wait:
                let handed = await withCheckedContinuation { continuation in
                    let immediate = state.withLock { state -> Handoff? in
                        if state.closed { return .closed }
                        if let connection = state.idle.popLast() { return .connection(connection) }
                        if state.opened < maximum {
                            state.opened += 1
                            return .openSlot
                        }
                        state.waiting.append(continuation)
                        return nil
                    }
                    if let immediate { continuation.resume(returning: immediate) }
                }
                switch handed {
                case .connection(let connection): return connection
                case .closed: decision = .closed
                case .openSlot: decision = .open
                }
            }
        }
    }

    private func checkin(_ connection: SQLiteConnection) {
        enum Next {
            case handOver(CheckedContinuation<Handoff, Never>)
            case keep
            case close
        }
        let next = state.withLock { state -> Next in
            if state.closed { return .close }
            if !state.waiting.isEmpty { return .handOver(state.waiting.removeFirst()) }
            state.idle.append(connection)
            return .keep
        }
        switch next {
        case .handOver(let waiter): waiter.resume(returning: .connection(connection))
        case .keep: break
        case .close: _ = finish(connection)
        }
    }

    /// The store's files hold the log, sealed bodies and the registry: readable by Jisr's own user only. SQLite
    /// gives its `-wal` and `-shm` files the mode of the database file.
    private static func createPrivately(_ path: String) throws {
        let descriptor = Foundation.open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if descriptor >= 0 {
            _ = Foundation.close(descriptor)
        } else if errno != EEXIST {
            throw SQLiteStoreError(reason: "cannot create \(path) (errno \(errno))")
        }
    }

    private func open() async throws -> SQLiteConnection {
        try Self.createPrivately(path)
        try Self.createPrivately(StoreLocation.recordsPath(forStore: path))
        let connection = try await SQLiteConnection.open(
            storage: .file(path: path), threadPool: threads, logger: logger, on: MultiThreadedEventLoopGroup.singleton.any())
        do {
            // The busy timeout first: other processes (the CLI beside a running gateway) may hold the lock.
            _ = try await connection.query("PRAGMA busy_timeout = 30000", [])
            let mode = try await connection.query("PRAGMA journal_mode = WAL", []).first?.columns.first?.data.string
            guard mode == "wal" else { throw SQLiteStoreError(reason: "\(path) cannot use write-ahead logging (journal mode \(mode ?? "unknown"))") }
            _ = try await connection.query("PRAGMA synchronous = FULL", [])
            _ = try await connection.query("PRAGMA foreign_keys = ON", [])
            _ = try await connection.query("ATTACH DATABASE ?1 AS ministry", [.text(StoreLocation.recordsPath(forStore: path))])
            _ = try await connection.query("PRAGMA ministry.journal_mode = WAL", [])
            _ = try await connection.query("PRAGMA ministry.synchronous = FULL", [])
        } catch {
            // Through the future: a cancelled task (a gateway stopping as it starts) would skip an async close, and
            // an unclosed connection must not be dropped.
            let closed: EventLoopFuture<Void> = connection.close()
            try? await closed.get()
            throw SQLiteStoreError(reason: "opening \(path): \(error)")
        }
        return connection
    }
}

/// The SQLite store could not be used; says why.
public struct SQLiteStoreError: Error, Sendable, CustomStringConvertible {
    public let reason: String
    public var description: String { "SQLite store: \(reason)" }
}

/// A first-come, first-served lock for async code: one holder at a time, the others suspended, not blocking threads.
final class AsyncGate: Sendable {
    private struct State {
        var held = false
        var waiting: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    func withLock<Result: Sendable>(_ body: () async throws -> Result) async throws -> Result {
        await acquire()
        do {
            let result = try await body()
            release()
            return result
        } catch {
            release()
            throw error
        }
    }

    private func acquire() async {
        await withCheckedContinuation { continuation in
            let granted = state.withLock { state -> Bool in
                if !state.held {
                    state.held = true
                    return true
                }
                state.waiting.append(continuation)
                return false
            }
            if granted { continuation.resume() }
        }
    }

    private func release() {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if state.waiting.isEmpty {
                state.held = false
                return nil
            }
            return state.waiting.removeFirst()
        }
        next?.resume()
    }
}
