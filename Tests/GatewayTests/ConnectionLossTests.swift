import Foundation
import Logging
import Storage
import Synchronization
import Testing

/// The store's connections ended by the server in the middle of statements — as a failover ends them, or an
/// operator's `pg_terminate_backend` — while callers give up on slow calls at their deadlines: afterwards the pool
/// opens new connections and answers, every time. A pool that stayed stuck would leave a gateway answering 503
/// after a failover until someone restarted it.
///
/// In the heavy pass: a PostgreSQL server of its own, its connections ended again and again.
@Suite(
    "Connections ended by the server",
    .enabled(if: Fixture.storeKind == .postgres, "ends a PostgreSQL server's sessions"),
    TestPass.heavy)
struct ConnectionLossTests {
    @Test("sessions ended mid-statement, callers cancelled at their deadlines: after each round the store answers again")
    func endedSessions() async throws {
        let server = LocalPostgres(
            directory: NSTemporaryDirectory() + "jisr-ended-\(getpid())-\(UInt32.random(in: 0..<UInt32.max))",
            port: try await DatabaseOutageTests.freePort())
        try await DatabaseOutageTests.blocking { try server.start() }
        defer {
            try? server.stop()
            try? FileManager.default.removeItem(atPath: server.directory)
        }
        let url = try server.url
        let logger = Logger(label: "jisr-test")
        try await Fixture.within("the rounds, their stores closed after them", .seconds(300)) {
            try await withDatabase(.postgres(url), connections: 2, logger: logger) { admin in
                // Fewer connections than callers: leases queue, and queued leases are cancelled at their deadlines too.
                try await withDatabase(.postgres(url), connections: 4, logger: logger) { database in
                    for round in 1...Self.rounds {
                        let counts = try await Self.round(database, ending: admin)
                        #expect(counts.answered > 0, "round \(round): callers were answered between the endings")
                        // Afterwards the store answers a plain statement (on a new connection: the old ones are gone).
                        try await Fixture.within("round \(round): the store answering again", .seconds(20)) {
                            try await Fixture.until("round \(round): an answer", limit: .seconds(15)) {
                                (try? await database.withDeadline(.seconds(2)) { try await database.query("SELECT 1") }) != nil
                            }
                        }
                    }
                }
            }
        }
    }

    static let rounds = 12

    /// Six callers (transactions and single statements, each with a deadline) while every session running
    /// `pg_sleep` is ended five times; how many calls were answered and how many failed.
    static func round(_ database: Database, ending admin: Database) async throws -> (answered: Int, failed: Int) {
        let counts = Tally()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for caller in 0..<6 {
                group.addTask {
                    while !counts.stopped {
                        do {
                            try await database.withDeadline(.milliseconds(300 + Int64(caller) * 200)) {
                                if caller.isMultiple(of: 2) {
                                    try await database.withTransaction { connection in _ = try await connection.query("SELECT pg_sleep(0.05)") }
                                } else {
                                    try await database.query("SELECT pg_sleep(0.1)")
                                }
                            }
                            counts.answer()
                        } catch {
                            counts.fail()
                            await Task.yield()
                        }
                    }
                }
            }
            // Each ending waits for its events, not for a time: a call answered since the last one, then a statement
            // running to end.
            for ending in 1...5 {
                let answered = counts.totals.answered
                try await Fixture.until("a call answered before ending \(ending)") { counts.totals.answered > answered }
                try await Fixture.until("a statement running, to end (\(ending))") {
                    try await !admin.query(
                        """
                        SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                        WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() AND state = 'active' AND query LIKE 'SELECT pg_sleep%'
                        """
                    ).isEmpty
                }
            }
            counts.stop()
            try await group.waitForAll()
        }
        return counts.totals
    }
}

/// Calls answered and failed in one round, and whether the round is over.
final class Tally: Sendable {
    private let state = Mutex((answered: 0, failed: 0, stopped: false))
    var stopped: Bool { state.withLock { $0.stopped } }
    var totals: (answered: Int, failed: Int) { state.withLock { ($0.answered, $0.failed) } }
    func answer() { state.withLock { $0.answered += 1 } }
    func fail() { state.withLock { $0.failed += 1 } }
    func stop() { state.withLock { $0.stopped = true } }
}
