import Foundation
import Gateway
import Logging
import MessageLog
import Storage
import Synchronization
import Testing

/// A COMMIT whose answer is lost — the connection cut while PostgreSQL waits for its synchronous standby, as in a
/// failover — is ambiguous: the entries may be durable or not. The log writer asks the database before it does
/// anything else, so its callers get their entries if they committed, and the chain gets neither a duplicate nor a gap.
///
/// A PostgreSQL server of the suite's own is told to wait for a standby that does not exist
/// (`synchronous_standby_names`): every COMMIT then hangs after committing locally, invisible to other sessions,
/// until its session ends — exactly the state a primary is in when its standby's site goes silent. The tests wait
/// for that session to appear (`pg_stat_activity`), not for a guessed time. The COMMIT that never commits — its
/// connection cut before the server committed — is made by a deferred trigger that waits for a lock the test holds.
/// In the heavy pass: some of them let a deadline pass, which a loaded machine must not stretch.
@Suite(
    "Ambiguous commits",
    .enabled(if: Fixture.storeKind == .postgres, "synchronous replication is PostgreSQL's"),
    TestPass.heavy)
struct AmbiguousCommitTests {
    @Test("the answer to COMMIT lost, the commit durable: the caller gets its entry, and the chain goes on after it")
    func lostAnswerOfDurableCommit() async throws {
        try await Self.withServer("lost-answer") { database, log in
            var configuration = LogWriterConfiguration()
            configuration.commitTimeout = .seconds(120)  // the outcome must be learnt, not timed out
            let writer = LogWriter(database: database, configuration: configuration, logger: log.logger)
            let running = Task { try await writer.run() }
            defer { running.cancel() }

            let first = Task { try await writer.append(Self.draft("first")) }
            let waiting = try await Self.sessionWaitingForStandby(database)
            // The waiting session ended: its transaction has committed locally, and its answer never reaches the
            // writer. (Lifting the requirement instead would release the COMMIT with its answer.)
            try await Fixture.within("ending the waiting session") { try await database.query("SELECT pg_terminate_backend(\(waiting))") }

            let entry = try await Fixture.within("the first entry's answer", .seconds(150)) { try await first.value }
            #expect(entry.seq == 1)
            #expect(log.text.contains("message log commit had gone through"), "the writer asked and learnt the outcome")
            try await Self.liftStandbyRequirement(database)
            let second = try await Fixture.within("the second entry") { try await writer.append(Self.draft("second")) }
            #expect(second.seq == 2 && second.prevHash == entry.entryHash)
            let report = try await Fixture.within("verifying the log") { try await LogReader(database: database, logger: log.logger).verify() }
            #expect(report.firstBreak == nil && report.verified == 2, "one entry each, no duplicate, no gap")
        }
    }

    @Test("the outcome unknown at the deadline: 503, and the batch looked up before the next one, which chains after it")
    func outcomeUnknownAtDeadline() async throws {
        try await Self.withServer("unknown") { database, log in
            let writer = Self.writerWithShortDeadline(database, log)
            let running = Task { try await writer.run() }
            defer { running.cancel() }

            let first = Task { try await writer.append(Self.draft("first")) }
            let waiting = try await Self.sessionWaitingForStandby(database)
            await #expect(throws: LogUnavailableError.self, "no answer past the deadline: the caller is told 503") {
                try await Fixture.within("the first entry's answer") { try await first.value }
            }
            #expect(log.text.contains("message log commit outcome unknown at its deadline"))

            // The waiting session ended (as when its primary is stopped): the batch the caller was told failed is
            // durable after all.
            try await Fixture.within("ending the waiting session") { try await database.query("SELECT pg_terminate_backend(\(waiting))") }
            try await Self.noSessionWaitingForStandby(database)
            try await Self.liftStandbyRequirement(database)

            let next = try await Fixture.within("the next entry") { try await writer.append(Self.draft("next")) }
            #expect(log.text.contains("a message log batch answered 503 had committed"), "the operators learn what became of it")
            #expect(next.seq == 2, "chained after the batch that committed, not over it")
            let report = try await Fixture.within("verifying the log") { try await LogReader(database: database, logger: log.logger).verify() }
            #expect(report.firstBreak == nil && report.verified == 2)
        }
    }

    @Test("the outcome unknown, the batch rolled back: the next batch takes its seqs, and the operators learn it had not committed")
    func outcomeUnknownOfRolledBackCommit() async throws {
        try await Self.withServer("rolled-back", waitingForStandby: false) { database, log in
            // A COMMIT that waits before it commits: a deferred trigger takes an advisory lock the test holds.
            try await Fixture.within("holding COMMITs back") {
                try await database.query(
                    """
                    CREATE FUNCTION jisr_test_hold() RETURNS trigger LANGUAGE plpgsql AS $$
                    BEGIN PERFORM pg_advisory_xact_lock(4242); RETURN NULL; END $$
                    """)
                try await database.query(
                    "CREATE CONSTRAINT TRIGGER jisr_test_hold AFTER INSERT ON message_log DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION jisr_test_hold()")
            }
            let release = AsyncStream<Void>.makeStream()
            let holder = Task {
                try await database.withTransaction { connection in
                    try await connection.query("SELECT pg_advisory_xact_lock(4242)")
                    for await _ in release.stream { break }
                }
            }
            defer { release.continuation.finish() }
            try await Fixture.until("the test holding the lock") {
                try await !database.query("SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND objid = 4242 AND granted").isEmpty
            }

            let writer = Self.writerWithShortDeadline(database, log)
            let running = Task { try await writer.run() }
            defer { running.cancel() }

            let first = Task { try await writer.append(Self.draft("first")) }
            let waiting = try await Self.session(database, "a COMMIT waiting for the lock", "wait_event_type = 'Lock' AND wait_event = 'advisory' AND query ILIKE 'COMMIT%'")
            await #expect(throws: LogUnavailableError.self, "no answer past the deadline: the caller is told 503") {
                try await Fixture.within("the first entry's answer") { try await first.value }
            }
            #expect(log.text.contains("message log commit outcome unknown at its deadline"))
            // Its session ended before the COMMIT went through: the batch is rolled back, its seqs stay empty.
            try await Fixture.within("ending the waiting session") { try await database.query("SELECT pg_terminate_backend(\(waiting))") }
            release.continuation.finish()
            try await Fixture.within("the lock released") { try await holder.value }

            // The seqs of a batch that never committed stay empty until a later batch fills them: the next batch must
            // get the time to, rather than wait for them to show its predecessor's outcome.
            let next = try await Fixture.within("the next entry") { try await writer.append(Self.draft("next")) }
            #expect(next.seq == 1, "chained where the rolled-back batch would have been")
            _ = try await Fixture.within("one more entry") { try await writer.append(Self.draft("more")) }
            #expect(log.text.contains("a message log batch answered 503 had not committed"), "the operators learn what became of it")
            let report = try await Fixture.within("verifying the log") { try await LogReader(database: database, logger: log.logger).verify() }
            #expect(report.firstBreak == nil && report.verified == 2)
        }
    }

    static func draft(_ digest: String) -> EntryDraft {
        EntryDraft(
            messageId: UUID(), partner: "LB-NSSF", certificateFingerprint: nil, direction: .inboundQuery, contract: "employment-record/1",
            operation: "query", purpose: "p", caseReference: nil, subjectReference: nil, status: 200, problemType: nil,
            requestDigest: digest, responseDigest: nil)
    }

    /// COMMITs no longer wait for the standby (those waiting are released once the checkpointer has read it).
    static func liftStandbyRequirement(_ database: Database) async throws {
        try await Fixture.within("lifting the standby requirement") {
            try await database.query("ALTER SYSTEM RESET synchronous_standby_names")
            try await database.query("SELECT pg_reload_conf()")
        }
    }

    /// The pid of the session whose COMMIT waits for the standby, once there is one.
    static func sessionWaitingForStandby(_ database: Database) async throws -> Int32 {
        try await session(database, "a COMMIT waiting for the standby", "wait_event = 'SyncRep'")
    }

    /// The pid of a session of `pg_stat_activity` that matches `condition`, once there is one.
    static func session(_ database: Database, _ what: String, _ condition: String) async throws -> Int32 {
        try await Fixture.within("looking for \(what)", Fixture.eventLimit + .seconds(10)) {
            let found = Mutex<Int32?>(nil)
            try await Fixture.until(what) {
                let pid = try await database.query(SQL(unsafeSQL: "SELECT pid FROM pg_stat_activity WHERE \(condition) LIMIT 1")).first?[0].decode(Int32.self)
                found.withLock { $0 = pid }
                return pid != nil
            }
            return try #require(found.withLock { $0 })
        }
    }

    /// A log writer whose appends give up after 4 s (and 1 s more for a COMMIT on its way): a deadline a test waits out.
    static func writerWithShortDeadline(_ database: Database, _ log: CapturedLog) -> LogWriter {
        var configuration = LogWriterConfiguration()
        configuration.commitTimeout = .seconds(4)
        configuration.commitGrace = .seconds(1)
        return LogWriter(database: database, configuration: configuration, logger: log.logger)
    }

    static func noSessionWaitingForStandby(_ database: Database) async throws {
        try await Fixture.within("looking for no COMMIT waiting for the standby", Fixture.eventLimit + .seconds(10)) {
            try await Fixture.until("no session waiting for the standby") {
                try await database.query("SELECT 1 FROM pg_stat_activity WHERE wait_event = 'SyncRep'").isEmpty
            }
        }
    }

    /// A PostgreSQL server of the test's own with Jisr's schema, on which every COMMIT waits for a synchronous
    /// standby named `nobody` (which never connects); stopped afterwards. The setting is made before the server
    /// starts for the test: after a reload, COMMITs wait only once the checkpointer has read it, a race a test must not run.
    static func withServer(
        _ name: String, waitingForStandby: Bool = true, _ body: @escaping @Sendable (Database, CapturedLog) async throws -> Void
    ) async throws {
        let server = LocalPostgres(
            directory: NSTemporaryDirectory() + "jisr-ambiguous-\(name)-\(getpid())-\(UInt32.random(in: 0..<UInt32.max))",
            port: try await DatabaseOutageTests.freePort())
        try await DatabaseOutageTests.blocking { try server.start() }
        defer {
            try? server.stop()
            try? FileManager.default.removeItem(atPath: server.directory)
        }
        let logger = Logger(label: "jisr-test")
        try await withDatabase(.postgres(try server.url), connections: 2, logger: logger) { database in
            try await Migrator(database: database, logger: logger).migrate(JisrMigrations.all)
            if waitingForStandby { try await database.query("ALTER SYSTEM SET synchronous_standby_names = 'nobody'") }
        }
        try await DatabaseOutageTests.blocking {
            try server.stop()
            try server.start()
        }
        let log = CapturedLog()
        let url = try server.url
        do {
            // Bounded as a whole, closing the pool included: a step that never ends fails the test instead of the run.
            try await Fixture.within("the test, its store closed after it", .seconds(240)) {
                try await withDatabase(.postgres(url), connections: 4, logger: logger) { database in try await body(database, log) }
            }
        } catch {
            // What the writer did and saw is the only account of a failure that happens once in many runs.
            Issue.record("the writer's log up to the failure:\n\(log.text)")
            throw error
        }
    }
}
