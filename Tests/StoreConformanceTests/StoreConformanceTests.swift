import Foundation
import Adapters
import Logging
@testable import MessageLog
import Records
import Registry
@testable import Relay
import Schemas
import Storage
import Testing

/// One store per test, of the kind asked for: a fresh database in the test server, or a fresh SQLite file.
enum TestStore {
    static let logger = Logger(label: "jisr-store-test", factory: { _ in SwiftLogNoOpLogHandler() })

    static func location(_ dialect: SQLDialect, _ name: String) async throws -> StoreLocation {
        let unique = "jisr_store_\(name)_\(getpid())_\(UInt32.random(in: 0..<UInt32.max))"
        switch dialect {
        case .sqlite:
            let directory = NSTemporaryDirectory() + unique
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            return .sqlite(path: directory + "/jisr.sqlite")
        case .postgres:
            guard let server = ProcessInfo.processInfo.environment["JISR_TEST_DATABASE_URL"] else {
                throw StoreTestError("JISR_TEST_DATABASE_URL is not set: run the tests with scripts/test, which starts a throwaway PostgreSQL")
            }
            var url = try DatabaseURL(server)
            _ = try await withDatabase(.postgres(url), connections: 1, logger: logger) { admin in
                try await admin.query(SQL(unsafeSQL: "CREATE DATABASE \(unique)"))
            }
            url.database = unique
            return .postgres(url)
        }
    }

    /// Runs `body` with a fresh, migrated store of `dialect`.
    static func with<Result: Sendable>(
        _ dialect: SQLDialect, _ name: String, migrate: Bool = true, _ body: @Sendable (Database) async throws -> Result
    ) async throws -> Result {
        try await withDatabase(try await location(dialect, name), connections: 8, logger: logger) { database in
            // A store of the tests' own, made for synthetic data (the seeder writes only into such a store).
            try await SyntheticStore.claim(database, by: "store conformance test", logger: logger)
            if migrate { try await Migrator(database: database, logger: logger).migrate(allMigrations) }
            return try await body(database)
        }
    }

    static let allMigrations = RegistrySchema.migrations + MessageLogSchema.migrations + MinistrySchema.migrations + RelaySchema.migrations + InboxStore.migrations
}

struct StoreTestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The same behaviour from both stores: what Jisr keeps reads back the same, transactions and constraints
/// act the same, migrations are versioned the same way.
@Suite("Store conformance (PostgreSQL and SQLite)")
struct StoreConformanceTests {
    static let stores: [SQLDialect] = [.postgres, .sqlite]

    @Test("A serialization failure, a deadlock and a read-only standby are outages worth a retry (503), not bugs (500)", arguments: ["40001", "40P01", "25006"])
    func retryableFailures(_ state: String) async throws {
        try await TestStore.with(.postgres, "retryable", migrate: false) { database in
            await #expect(throws: DatabaseUnavailableError.self, "SQLSTATE \(state)") {
                try await database.query(SQL(unsafeSQL: "DO $$ BEGIN RAISE EXCEPTION 'stand-in' USING ERRCODE = '\(state)'; END $$"))
            }
            // As a failover leaves it: a transaction that meets a read-only server.
            if state == "25006" {
                await #expect(throws: DatabaseUnavailableError.self) {
                    try await database.withTransaction { connection in
                        try await connection.query("SET TRANSACTION READ ONLY")
                        try await connection.query("CREATE TABLE t (x int)")
                    }
                }
            }
            // A bug stays a bug.
            do {
                _ = try await database.query("SELECT no_such_column FROM no_such_table")
                Issue.record("a query of a table that does not exist succeeded")
            } catch {
                #expect(!(error is DatabaseUnavailableError), "\(error)")
            }
        }
    }

    @Test("Every bound type reads back as it was written, nulls included", arguments: stores)
    func roundTrip(_ dialect: SQLDialect) async throws {
        try await TestStore.with(dialect, "types", migrate: false) { database in
            let blob: SQL = dialect == .postgres ? "bytea" : "blob"
            let instant: SQL = dialect == .postgres ? "timestamptz" : "integer"
            let id: SQL = dialect == .postgres ? "uuid" : "text"
            let list: SQL = dialect == .postgres ? "text[]" : "text"
            try await database.query(
                "CREATE TABLE kinds (t text, i bigint, i4 integer, i2 smallint, d double precision, b boolean, u \(id), ts \(instant), bytes \(blob), list \(list))")
            let uuid = UUID()
            let now = Date(timeIntervalSince1970: 1_790_000_000.123456)
            let bytes: [UInt8] = [0, 1, 2, 0xff, 0, 7]
            try await database.query(
                """
                INSERT INTO kinds VALUES (\("جسر – bridge ✓"), \(Int64.max), \(Int32.min), \(Int16(-7)), \(2.5), \(true), \(uuid), \(now), \(bytes),
                                          \(["EG", "IQ", "a \"quoted\" one"]))
                """)
            try await database.query(
                """
                INSERT INTO kinds VALUES (\(String?.none), \(Int64?.none), \(Int32?.none), \(Int16?.none), \(Double?.none), \(Bool?.none), \(UUID?.none),
                                          \(Date?.none), \([UInt8]?.none), \([String]?.none))
                """)
            let rows = try await database.query("SELECT t, i, i4, i2, d, b, u, ts, bytes, list FROM kinds ORDER BY t NULLS LAST")
            #expect(rows.count == 2)
            let (t, i, i4, i2, d, b, u, ts, blobValue, listValue) = try rows[0].decode(
                (String, Int64, Int32, Int16, Double, Bool, UUID, Date, [UInt8], [String]).self)
            #expect(t == "جسر – bridge ✓")
            #expect(i == Int64.max && i4 == Int32.min && i2 == -7 && d == 2.5 && b)
            #expect(u == uuid)
            #expect(abs(ts.timeIntervalSince(now)) < 0.000_001, "instants keep microseconds")
            #expect(blobValue == bytes)
            #expect(listValue == ["EG", "IQ", "a \"quoted\" one"])
            let nulls = try rows[1].decode((String?, Int64?, Int32?, Int16?, Double?, Bool?, UUID?, Date?, [UInt8]?, [String]?).self)
            #expect(nulls.0 == nil && nulls.1 == nil && nulls.2 == nil && nulls.3 == nil && nulls.4 == nil)
            #expect(nulls.5 == nil && nulls.6 == nil && nulls.7 == nil && nulls.8 == nil && nulls.9 == nil)
            // A value of another type than asked is an error naming the column, not a crash or a guess.
            #expect(throws: (any Error).self) { _ = try rows[0][0].decode(Int64.self) }
        }
    }

    @Test("A transaction commits when its body returns and leaves nothing when it throws; a savepoint undoes only its part", arguments: stores)
    func transactions(_ dialect: SQLDialect) async throws {
        try await TestStore.with(dialect, "tx", migrate: false) { database in
            try await database.query("CREATE TABLE notes (id integer PRIMARY KEY, text text NOT NULL)")
            try await database.withTransaction { connection in
                _ = try await connection.query("INSERT INTO notes VALUES (1, 'kept')")
            }
            await #expect(throws: StoreTestError.self) {
                try await database.withTransaction { connection in
                    try await connection.query("INSERT INTO notes VALUES (2, 'rolled back')")
                    throw StoreTestError("refused")
                }
            }
            try await database.withTransaction { connection in
                try await connection.query("INSERT INTO notes VALUES (3, 'outer')")
                _ = try? await connection.savepoint { () async throws -> Int in
                    try await connection.query("INSERT INTO notes VALUES (4, 'inner, undone')")
                    throw StoreTestError("inner")
                }
                try await connection.query("INSERT INTO notes VALUES (5, 'after')")
            }
            #expect(try await database.query("SELECT id FROM notes ORDER BY id").map { try $0[0].decode(Int32.self) } == [1, 3, 5])
        }
    }

    @Test("Constraint refusals are typed the same on both stores and change nothing", arguments: stores)
    func constraints(_ dialect: SQLDialect) async throws {
        try await TestStore.with(dialect, "constraints") { database in
            let partner: SQL = "INSERT INTO partners (id, name_ar, name_en, country, status) VALUES ('LB-NSSF', 'ص', 'NSSF', 'LB', 'active')"
            try await database.query(partner)
            do {
                try await database.query(partner)
                Issue.record("a second partner with the same id was accepted")
            } catch let error as DatabaseConstraintError {
                #expect(error.kind == .unique)
            }
            do {
                try await database.query(
                    """
                    INSERT INTO partner_certificates (fingerprint, partner_id, subject, not_before, not_after, status)
                    VALUES (\(String(repeating: "a", count: 64)), 'XX-NONE', 's', \(Date()), \(Date()), 'active')
                    """)
                Issue.record("a certificate of an unknown partner was accepted")
            } catch let error as DatabaseConstraintError {
                #expect(error.kind == .foreignKey)
            }
            do {
                try await database.query("INSERT INTO partners (id, name_ar, name_en, country, status) VALUES ('LB-X', 'x', 'x', 'LB', 'dormant')")
                Issue.record("an unknown status was accepted")
            } catch let error as DatabaseConstraintError {
                #expect(error.kind == .check)
            }
            #expect(try await database.query("SELECT count(*) FROM partners").first?[0].decode(Int64.self) == 1)
        }
    }

    @Test("A prepared statement runs again and again with other values, on the pool and in transactions; its refusals are typed", arguments: stores)
    func prepared(_ dialect: SQLDialect) async throws {
        try await TestStore.with(dialect, "prepared", migrate: false) { database in
            try await database.query("CREATE TABLE notes (id bigint PRIMARY KEY, text text)")
            let insert = { @Sendable (id: Int64, text: String?) -> SQL in SQL("INSERT INTO notes VALUES (\(id), \(text))").prepared }
            let select = { @Sendable (id: Int64) -> SQL in SQL("SELECT id, text FROM notes WHERE id = \(id)").prepared }
            // More runs than the pool has connections: each connection prepares the text once, then reuses it.
            for id in Int64(1)...40 { try await database.query(insert(id, id % 5 == 0 ? nil : "note \(id)")) }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for id in Int64(1)...40 {
                    group.addTask {
                        let rows = try await database.query(select(id))
                        #expect(rows.count == 1)
                        let (readId, text) = try rows[0].decode((Int64, String?).self)
                        #expect(readId == id && text == (id % 5 == 0 ? nil : "note \(id)"))
                    }
                }
                try await group.waitForAll()
            }
            try await database.withTransaction { connection in
                try await connection.query(insert(41, "in a transaction"))
                #expect(try await connection.query(select(41)).count == 1)
            }
            do {
                try await database.query(insert(1, "again"))
                Issue.record("a second note with the same id was accepted")
            } catch let error as DatabaseConstraintError {
                #expect(error.kind == .unique)
            }
            #expect(try await database.query(select(1)).first?[1].decode(String?.self) == "note 1")
            #expect(try await database.query(select(999)).isEmpty)
        }
    }

    @Test("A deadline gives the answer when the body is in time, and a typed unavailability when it is not", arguments: stores)
    func deadline(_ dialect: SQLDialect) async throws {
        try await TestStore.with(dialect, "deadline", migrate: false) { database in
            let value = try await database.withDeadline(.seconds(5)) { try await database.query("SELECT 42").first?[0].decode(Int64.self) }
            #expect(value == 42)
            let start = ContinuousClock.now
            await #expect(throws: DatabaseUnavailableError.self) {
                try await database.withDeadline(.milliseconds(200)) { try await Task.sleep(for: .seconds(30)) }
            }
            #expect(ContinuousClock.now - start < .seconds(10), "the caller is answered at the deadline, not when the body ends")
            await #expect(throws: StoreTestError.self) {
                try await database.withDeadline(.seconds(5)) { () async throws -> Int in throw StoreTestError("refused") }
            }
        }
    }

    @Test("A deadline may be extended once by the caller's own check (a commit under way); past the extension it answers", arguments: stores)
    func extendedDeadline(_ dialect: SQLDialect) async throws {
        try await TestStore.with(dialect, "extended", migrate: false) { database in
            // The body answers only once the deadline has asked whether to keep going: it is late by construction.
            let asked = AsyncStream.makeStream(of: Void.self)
            let late = try await database.withDeadline(.milliseconds(100), unless: { asked.continuation.yield(); return true }, extendedBy: .seconds(30)) {
                () async throws -> Int in
                for await _ in asked.stream { break }
                return 7
            }
            #expect(late == 7, "kept going: the check said the body's outcome must be learnt")
            // Bodies that never answer (they wait for nothing until cancelled): refused after the extension, or at once.
            // (A stream ends for good when its waiter is cancelled: one each.)
            let silent = AsyncStream.makeStream(of: Void.self)
            await #expect(throws: DatabaseUnavailableError.self) {
                try await database.withDeadline(.milliseconds(100), unless: { true }, extendedBy: .milliseconds(100)) { for await _ in silent.stream {} }
            }
            let silentToo = AsyncStream.makeStream(of: Void.self)
            await #expect(throws: DatabaseUnavailableError.self) {
                try await database.withDeadline(.milliseconds(100), unless: { false }, extendedBy: .seconds(30)) { for await _ in silentToo.stream {} }
            }
        }
    }

    @Test("An embedded store that cannot be opened fails every waiting checkout, none is left waiting")
    func failedOpeningWakesWaiters() async throws {
        // A file under a regular file: every opening fails (ENOTDIR), even as root.
        let database = Database(.sqlite(path: "/etc/hostname/jisr.sqlite"), connections: 1, logger: TestStore.logger)
        let service = Task { try await database.run() }
        let outcomes = AsyncStream.makeStream(of: Bool.self)
        let queries = Task {
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<16 {
                    group.addTask {
                        do {
                            _ = try await database.query("SELECT 1")
                            outcomes.continuation.yield(true)
                        } catch {
                            outcomes.continuation.yield(false)
                        }
                    }
                }
            }
            outcomes.continuation.finish()
        }
        // Every query answers (with the failure); the bound only keeps a regression from hanging the run.
        let watchdog = Task {
            try await Task.sleep(for: .seconds(60))
            outcomes.continuation.finish()
        }
        var answered: [Bool] = []
        for await outcome in outcomes.stream { answered.append(outcome) }
        watchdog.cancel()
        #expect(answered.count == 16 && answered.allSatisfy { !$0 }, "\(answered.count) of 16 checkouts answered")
        queries.cancel()
        service.cancel()
        _ = await service.result
    }

    @Test("A relay attempt that outlived its lease cannot overwrite the outcome of the attempt that claimed the message next", arguments: stores)
    func fencedRelayOutcomes(_ dialect: SQLDialect) async throws {
        try await TestStore.with(dialect, "fence", migrate: true) { database in
            let id = UUID()
            try await database.withTransaction { connection in
                try await RelayStore.insert(
                    OutboxRow(messageId: id, partnerID: "EG-MOL", contract: "work-permit-event/1", endpoint: "https://127.0.0.1:1/", mediaType: "application/json", sealedBody: [1]),
                    logSeq: 1, on: connection)
            }
            // Claimed with a lease already over, then claimed again: the first attempt has lost its hold.
            let first = try #require(try await RelayStore.claim(limit: 1, lease: .seconds(-1), database: database).first)
            let second = try #require(try await RelayStore.claim(limit: 1, lease: .seconds(60), database: database).first)
            #expect(second.attempts == first.attempts + 1)
            let stale = RelayStore.Claim(messageId: id, attempt: first.attempts)
            let current = RelayStore.Claim(messageId: id, attempt: second.attempts)
            let refused = try await database.withTransaction { connection in
                (
                    try await RelayStore.markDelivered(stale, on: connection), try await RelayStore.deadLetter(stale, error: "late", on: connection),
                    try await RelayStore.scheduleRetry(stale, after: .seconds(1), error: "late", on: connection)
                )
            }
            #expect(refused == (false, false, false))
            let state = try await database.query("SELECT state, attempts FROM relay_outbox WHERE message_id = \(id)").decode((String, Int32).self).first
            #expect(state?.0 == "in-flight" && state?.1 == Int32(second.attempts), "\(String(describing: state))")
            #expect(try await database.withTransaction { try await RelayStore.markDelivered(current, on: $0) })
            #expect(try await database.query("SELECT state FROM relay_outbox WHERE message_id = \(id)").decode(String.self).first == "delivered")
        }
    }

    @Test("Concurrent read-modify-write transactions under the lock lose no update", arguments: stores)
    func serialisedWrites(_ dialect: SQLDialect) async throws {
        try await TestStore.with(dialect, "lock", migrate: false) { database in
            try await database.query("CREATE TABLE counter (id integer PRIMARY KEY, value bigint NOT NULL)")
            try await database.query("INSERT INTO counter VALUES (1, 0)")
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<24 {
                    group.addTask {
                        try await database.withTransaction { connection in
                            try await connection.lock(42)
                            let value = try await connection.query("SELECT value FROM counter WHERE id = 1").first?[0].decode(Int64.self) ?? -1
                            try await connection.query("UPDATE counter SET value = \(value + 1) WHERE id = 1")
                        }
                    }
                }
                try await group.waitForAll()
            }
            #expect(try await database.query("SELECT value FROM counter").first?[0].decode(Int64.self) == 24)
        }
    }

    @Test("Migrations: versioned, applied once, listed when pending; a newer schema is refused with a clear message", arguments: stores)
    func migrations(_ dialect: SQLDialect) async throws {
        try await TestStore.with(dialect, "migrations", migrate: false) { database in
            let migrator = Migrator(database: database, logger: TestStore.logger)
            #expect(try await migrator.pending(TestStore.allMigrations).count == TestStore.allMigrations.count)
            let first = try await migrator.migrate(TestStore.allMigrations)
            #expect(first.count == TestStore.allMigrations.count)
            #expect(try await migrator.migrate(TestStore.allMigrations).isEmpty, "running them twice changes nothing")
            #expect(try await migrator.pending(TestStore.allMigrations).isEmpty)
            try await database.query("INSERT INTO jisr_migrations (module, version, name) VALUES ('message-log', 99, 'from the future')")
            do {
                try await migrator.checkNotNewer(TestStore.allMigrations)
                Issue.record("a newer schema was accepted")
            } catch let error as SchemaTooNewError {
                #expect(error.module == "message-log" && error.databaseVersion == 99)
                #expect(error.description.contains("upgrade jisr"))
            }
            await #expect(throws: SchemaTooNewError.self) { try await migrator.migrate(TestStore.allMigrations) }
        }
    }

    @Test("Entries written before format 2 verify as they were, beside format-2 ones; a changed disclosed field or subject is named", arguments: stores)
    func entryFormats(_ dialect: SQLDialect) async throws {
        try await TestStore.with(dialect, "formats", migrate: false) { database in
            // A format-1 entry as an older Jisr wrote it, before the migration that added formats and the subject index.
            let before = TestStore.allMigrations.filter { !($0.module == "message-log" && $0.version >= 4) }
            try await Migrator(database: database, logger: TestStore.logger).migrate(before)
            let old = EntryDraft(
                messageId: UUID(), partner: "LB-NSSF", certificateFingerprint: nil, direction: .inboundQuery, contract: "employment-record/1", operation: "query",
                purpose: "p", caseReference: nil, subjectReference: "ref-old", status: 200, problemType: nil, requestDigest: "r0", responseDigest: nil)
            let oldHash = LogEntry.hash(seq: 1, recordedAt: 5, draft: old, prevHash: LogEntry.genesisHash, format: 1)
            try await database.query(
                """
                INSERT INTO message_log (seq, recorded_at, message_id, partner, direction, contract, operation, purpose, subject_reference, status,
                                         request_digest, prev_hash, entry_hash)
                VALUES (1, 5, \(old.messageId), 'LB-NSSF', 'inbound-query', 'employment-record/1', 'query', 'p', 'ref-old', 200, 'r0',
                        \(LogEntry.genesisHash), \(oldHash))
                """)
            try await Migrator(database: database, logger: TestStore.logger).migrate(TestStore.allMigrations)
            let writer = LogWriter(database: database, logger: TestStore.logger)
            let running = Task { try await writer.run() }
            defer { running.cancel() }
            let new = try await writer.append(
                EntryDraft(
                    messageId: UUID(), partner: "EG-MOL", certificateFingerprint: nil, direction: .inboundQuery, contract: "work-permit/1", operation: "query",
                    purpose: "p", caseReference: nil, subjectReference: nil, status: 200, problemType: nil, requestDigest: "r1", responseDigest: nil,
                    agreementId: 3, disclosedFields: ["worker.name", "permitNumber"], subjects: ["ref-a", "ref-b"]))
            #expect(new.seq == 2 && new.format == LogEntry.currentFormat)
            let reader = LogReader(database: database, logger: TestStore.logger)
            #expect(try await reader.verify().firstBreak == nil)
            let read = try #require(try await reader.entry(messageId: new.draft.messageId))
            #expect(read.draft.agreementId == 3 && read.draft.canonicalFields == ["permitNumber", "worker.name"] && read.draft.canonicalSubjects == ["ref-a", "ref-b"])
            // Found through the subject index, the old entry by its subject reference (indexed by the migration).
            #expect(try await reader.entries(concerning: ["ref-b"]).map(\.seq) == [2])
            #expect(try await reader.entries(concerning: ["ref-old", "ref-a"]).map(\.seq) == [1, 2])
            #expect(try await reader.entries(concerning: ["ref-old"]).first?.format == 1)
            #expect(try await reader.entries(concerning: ["ref-a", "ref-b", "nobody"]).map(\.seq) == [2])
            for change in [
                "UPDATE message_log SET disclosed_fields = 'permitNumber' WHERE seq = 2", "UPDATE message_log SET subjects = 'ref-a' WHERE seq = 2",
                "UPDATE message_log SET disclosable_at = 1 WHERE seq = 2",
            ] {
                try await database.query(SQL(unsafeSQL: change))
                #expect(try await reader.verify().firstBreak?.seq == 2, "\(change)")
            }
        }
    }

    @Test("The message log: concurrent appends make one gapless chain that verifies; a rewritten entry is named", arguments: stores)
    func messageLog(_ dialect: SQLDialect) async throws {
        try await TestStore.with(dialect, "log") { database in
            let writer = LogWriter(database: database, logger: TestStore.logger)
            let running = Task { try await writer.run() }
            defer { running.cancel() }
            let entries = try await withThrowingTaskGroup(of: LogEntry.self) { group in
                for index in 0..<60 {
                    group.addTask {
                        try await writer.append(
                            EntryDraft(
                                messageId: UUID(), partner: "LB-NSSF", certificateFingerprint: nil, direction: .inboundQuery, contract: "employment-record/1",
                                operation: "query", purpose: "p", caseReference: nil, subjectReference: nil, status: 200, problemType: nil,
                                requestDigest: "r\(index)", responseDigest: nil))
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(Set(entries.map(\.seq)) == Set(1...60))
            let reader = LogReader(database: database, logger: TestStore.logger)
            let report = try await reader.verify()
            #expect(report.firstBreak == nil && report.verified == 60)
            #expect(try await reader.entry(messageId: entries[0].draft.messageId)?.entryHash == entries[0].entryHash)
            try await database.query("UPDATE message_log SET status = 500 WHERE seq = 17")
            #expect(try await reader.verify().firstBreak?.seq == 17)
        }
    }

    @Test("Many inclusion proofs at once equal the proofs made one by one, and each proves its entry against the root", arguments: stores)
    func batchedInclusionProofs(_ dialect: SQLDialect) async throws {
        try await TestStore.with(dialect, "proofs") { database in
            let writer = LogWriter(database: database, logger: TestStore.logger)
            let running = Task { try await writer.run() }
            defer { running.cancel() }
            // Past two tiles of level 1 (256 entries each) and into a third, so that complete tiles and the partial last tiles
            // of levels 0, 1 and 2 (derived from the entries and from the tiles below) all serve.
            for index in 0..<700 {
                _ = try await writer.append(
                    EntryDraft(
                        messageId: UUID(), partner: "LB-NSSF", certificateFingerprint: nil, direction: .inboundQuery, contract: "employment-record/1",
                        operation: "query", purpose: "p", caseReference: nil, subjectReference: nil, status: 200, problemType: nil,
                        requestDigest: "r\(index)", responseDigest: nil))
            }
            let seals = SealStore(database: database, logger: TestStore.logger)
            for size: Int64 in [700, 512, 300] {
                let seqs: [Int64] = [1, 2, 15, 16, 17, 33, 255, 256, 257, 300].filter { $0 <= size } + [size]
                let batched = try await seals.inclusionProofs(seqs: seqs, size: size)
                let root = try await seals.root(size: size)
                let leaves = try await seals.leaves(start: 0, count: Int(size))
                #expect(root == MerkleTree.root(leaves), "the stored tiles give the root of the entries themselves, at \(size)")
                for seq in seqs {
                    let single = try await seals.inclusionProof(seq: seq, size: size)
                    #expect(batched[seq] == single, "seq \(seq) of \(size)")
                    #expect(MerkleTree.verifyInclusion(leaf: leaves[Int(seq - 1)], index: Int(seq - 1), size: Int(size), proof: batched[seq] ?? [], root: root))
                }
            }
            for (old, new): (Int64, Int64) in [(300, 512), (512, 700), (17, 700), (256, 257)] {
                let proof = try await seals.consistencyProof(oldSize: old, newSize: new)
                #expect(
                    MerkleTree.verifyConsistency(
                        oldSize: Int(old), oldRoot: try await seals.root(size: old), newSize: Int(new), newRoot: try await seals.root(size: new), proof: proof),
                    "\(old) → \(new)")
            }
            await #expect(throws: SealStoreError.self) { _ = try await seals.inclusionProofs(seqs: [701], size: 700) }
        }
    }

    @Test("Two log writers on one database (two gateways) build one chain: a writer whose head is stale chains its batch again")
    func twoWriters() async throws {
        try await TestStore.with(.postgres, "writers") { database in
            let other = Database(database.location, connections: 2, logger: TestStore.logger)
            let first = LogWriter(database: database, logger: TestStore.logger)
            let second = LogWriter(database: other, logger: TestStore.logger)
            let running = [Task { try await other.run() }, Task { try await first.run() }, Task { try await second.run() }]
            defer { for task in running { task.cancel() } }
            func draft(_ index: Int) -> EntryDraft {
                EntryDraft(
                    messageId: UUID(), partner: "LB-NSSF", certificateFingerprint: nil, direction: .inboundQuery, contract: "employment-record/1",
                    operation: "query", purpose: "p", caseReference: nil, subjectReference: nil, status: 200, problemType: nil,
                    requestDigest: "r\(index)", responseDigest: nil)
            }
            // In turn: each writer's second append finds the other's entry where it expected its own head.
            #expect(try await first.append(draft(1)).seq == 1)
            #expect(try await second.append(draft(2)).seq == 2)
            #expect(try await first.append(draft(3)).seq == 3)
            #expect(try await second.append(draft(4)).seq == 4)
            #expect(first.statistics.collisions == 1 && second.statistics.collisions == 1)
            // Then both at once, many batches each.
            let seqs = try await withThrowingTaskGroup(of: Int64.self) { group in
                for index in 5...204 {
                    group.addTask { try await (index.isMultiple(of: 2) ? first : second).append(draft(index)).seq }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(Set(seqs) == Set(5...204))
            let report = try await LogReader(database: database, logger: TestStore.logger).verify()
            #expect(report.firstBreak == nil && report.verified == 204)
        }
    }

    @Test("The same seed gives the same ministry records, read back identically from both stores")
    func recordsAgree() async throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        var readings: [String] = []
        for dialect in Self.stores {
            readings.append(
                try await TestStore.with(dialect, "records") { database in
                    let seeder = Seeder(database: database, logger: TestStore.logger)
                    let summary = try await seeder.seed(persons: 300, seed: 11, replace: false)
                    #expect(summary.persons == 300)
                    #expect(try await database.query("SELECT count(*) FROM ministry.permit_changes").first?[0].decode(Int64.self) == 0, "seeding is history, not news")
                    let samples = try await seeder.samples()
                    let source = DatabaseRecordSource(database: database, logger: TestStore.logger)
                    var text = ""
                    for id in samples.nationalIds { text += String(decoding: try encoder.encode(try await source.employmentRecord(for: .nationalId(id))), as: UTF8.self) }
                    for number in samples.establishmentNumbers {
                        text += String(decoding: try encoder.encode(try await source.establishment(registrationNumber: number)), as: UTF8.self)
                    }
                    // One read per record: every employment, in the order they started; a person without any has an empty list.
                    let busiest = try await database.query(
                        "SELECT p.national_id, count(*) FROM ministry.persons p JOIN ministry.employments m ON m.person_id = p.id WHERE p.national_id IS NOT NULL GROUP BY p.national_id ORDER BY count(*) DESC, p.national_id LIMIT 1"
                    ).first.map { try $0.decode((String, Int64).self) }
                    let several = try #require(busiest)
                    #expect(several.1 >= 2)
                    let record = try #require(try await source.employmentRecord(for: .nationalId(several.0)))
                    #expect(record.employments.count == Int(several.1))
                    #expect(record.employments.map(\.startDate) == record.employments.map(\.startDate).sorted())
                    try await database.query(
                        "DELETE FROM ministry.employments WHERE person_id = (SELECT id FROM ministry.persons WHERE national_id = \(several.0))")
                    let unemployed = try #require(try await source.employmentRecord(for: .nationalId(several.0)))
                    #expect(unemployed.employments.isEmpty && unemployed.person == record.person)
                    #expect(try await source.employmentRecord(for: .nationalId("999999999999")) == nil)
                    let page = try await source.workPermits(nationalities: ["EG", "SY"], changedSince: nil, after: nil, limit: 25)
                    text += String(decoding: try encoder.encode(page.map(\.0)), as: UTF8.self)
                    #expect(!page.isEmpty)
                    let next = try await source.workPermits(nationalities: ["EG", "SY"], changedSince: nil, after: page.last?.1, limit: 25)
                    #expect(Set(next.map(\.0.permitNumber)).isDisjoint(with: page.map(\.0.permitNumber)), "pages do not overlap")
                    return text
                })
        }
        #expect(readings[0] == readings[1], "PostgreSQL and SQLite read the same records")
        #expect(readings[0].count > 1000)
    }

    @Test("Store copy, both ways: every table arrives, the log keeps its chain head, a non-empty target is refused unless replaced", arguments: stores)
    func copy(_ from: SQLDialect) async throws {
        let to: SQLDialect = from == .sqlite ? .postgres : .sqlite
        let tables = RegistrySchema.copiedTables + MessageLogSchema.copiedTables + RelaySchema.copiedTables + MinistrySchema.copiedTables
        try await TestStore.with(from, "copy_from") { source in
            _ = try await Seeder(database: source, logger: TestStore.logger).seed(persons: 120, seed: 5, replace: false)
            let writer = LogWriter(database: source, logger: TestStore.logger)
            let running = Task { try await writer.run() }
            defer { running.cancel() }
            let partner = Partner(id: "EG-MOL", nameAr: "مصر", nameEn: "Egypt", country: "EG", status: .active)
            for index in 0..<25 {
                let draft = EntryDraft(
                    messageId: UUID(), partner: "EG-MOL", certificateFingerprint: nil, direction: .admin, contract: nil, operation: "setup", purpose: nil,
                    caseReference: nil, subjectReference: nil, status: 200, problemType: nil, requestDigest: "d\(index)", responseDigest: nil)
                _ = try await writer.append(draft) { connection, _ in
                    if index == 0 {
                        try await RegistryWrites.insert(partner, on: connection)
                        var agreement = Agreement(
                            id: 0, partnerID: "EG-MOL", contract: ContractID(name: "work-permit", version: 1), operations: [.query, .receive], purposes: ["p"],
                            fields: ["permitNumber"], validFrom: Date(), validUntil: Date().addingTimeInterval(86_400), mouReference: "MoU 1", rateLimitPerMinute: 60)
                        agreement.scopeNationalities = ["EG"]
                        _ = try await RegistryWrites.insert(agreement, on: connection)
                        try await RegistryWrites.attach(MappingSource(text: "{}", files: ["a.xsd": "<x/>"]), digest: "abc", partner: "EG-MOL", on: connection)
                        try await RegistryWrites.insert(
                            RegisteredAdministrator(fingerprint: String(repeating: "ab", count: 32), name: "Rania", subject: "CN=admin", notAfter: Date()), on: connection)
                        try await InboxStore.insert(
                            messageId: UUID(), partner: "EG-MOL", reference: "k1", digest: "d", contract: "work-permit-event/1", mediaType: "application/json",
                            sealedBody: [1, 2, 3, 0], on: connection)
                    }
                    return "entry \(index)"
                }
            }
            try await source.query("UPDATE ministry.work_permits SET status = 'cancelled' WHERE id IN (SELECT id FROM ministry.work_permits ORDER BY id LIMIT 3)")
            let sourceCounts = try await StoreCopy(tables: tables).counts(in: source)
            let sourceLog = try await LogReader(database: source, logger: TestStore.logger).verify()
            try await TestStore.with(to, "copy_to") { target in
                try await StoreCopy(tables: tables).copy(from: source, to: target, replace: false) { _, _, _ in }
                #expect(try await StoreCopy(tables: tables).counts(in: target).map(\.1) == sourceCounts.map(\.1))
                let targetLog = try await LogReader(database: target, logger: TestStore.logger).verify()
                #expect(targetLog.firstBreak == nil && targetLog.verified == 25 && targetLog.headHash == sourceLog.headHash)
                let snapshot = try await RegistryStore(database: target, logger: TestStore.logger).snapshot()
                #expect(snapshot.mappings["EG-MOL"]?.files == ["a.xsd": "<x/>"])
                let agreements = try await target.withConnection { try await RegistryWrites.agreements(partner: "EG-MOL", includeRevoked: true, on: $0) }
                #expect(agreements.first?.scopeNationalities == ["EG"] && agreements.first?.operations == [.query, .receive])
                #expect(try await InboxStore.sealedBody(try #require(InboxStore.find(partner: "EG-MOL", reference: "k1", database: target)).messageId, database: target)?.1 == [1, 2, 3, 0])
                let permits = { (database: Database) in
                    try await DatabaseRecordSource(database: database, logger: TestStore.logger).permitChanges(after: 0, limit: 10).map(\.permit.permitNumber)
                }
                #expect(try await permits(target) == permits(source))
                await #expect(throws: StoreCopyRefusedError.self) {
                    try await StoreCopy(tables: tables).copy(from: source, to: target, replace: false) { _, _, _ in }
                }
                try await StoreCopy(tables: tables).copy(from: source, to: target, replace: true) { _, _, _ in }
                #expect(try await StoreCopy(tables: tables).counts(in: target).map(\.1) == sourceCounts.map(\.1))
                // New ids continue after the copied ones.
                try await target.withTransaction { connection in
                    _ = try await RegistryWrites.insert(
                        Agreement(
                            id: 0, partnerID: "EG-MOL", contract: ContractID(name: "work-permit", version: 1), operations: [.query], purposes: ["p"],
                            fields: ["permitNumber"], validFrom: Date(), validUntil: Date().addingTimeInterval(60), mouReference: "MoU 2", rateLimitPerMinute: nil),
                        on: connection)
                }
            }
        }
    }

    @Test("The embedded store's records file takes the ministry's own writes from Debian's sqlite3 (an older SQLite): the change feed records them")
    func recordsFileTakesOutsideWriters() async throws {
        try await TestStore.with(.sqlite, "outside") { database in
            // Durable and concurrent: write-ahead log, a sync at every commit, foreign keys enforced — on each of
            // three connections held at once.
            let settings = try await withThrowingTaskGroup(of: [String].self) { group in
                for _ in 0..<3 {
                    group.addTask {
                        try await database.withSnapshot { connection in
                            var found: [String] = []
                            for pragma in ["journal_mode", "synchronous", "foreign_keys"] {
                                let value = try await connection.query(SQL(unsafeSQL: "PRAGMA \(pragma)")).first?[0]
                                let text = (try? value?.decode(String.self)) ?? nil
                                found.append(try text ?? String(value?.decode(Int64.self) ?? -1))
                            }
                            try await Task.sleep(for: .milliseconds(100))
                            return found
                        }
                    }
                }
                return try await group.reduce(into: [[String]]()) { $0.append($1) }
            }
            #expect(settings == Array(repeating: ["wal", "2", "1"], count: 3))
            guard case .sqlite(let path) = database.location else { throw StoreTestError("not an embedded store") }
            for file in [path, path + "-wal", StoreLocation.recordsPath(forStore: path)] {
                let mode = try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int
                #expect(mode == 0o600, "\(file) is private to Jisr's user")
            }
            _ = try await Seeder(database: database, logger: TestStore.logger).seed(persons: 60, seed: 3, replace: false)
            let (status, output) = try await ChildProcess.run(
                "sqlite3",
                [StoreLocation.recordsPath(forStore: path),
                 "UPDATE work_permits SET status = 'cancelled', cancelled_on = date('now'), updated_at = \(SQLDialect.sqlite.now) WHERE id = (SELECT min(id) FROM work_permits WHERE status <> 'cancelled')"])
            #expect(status == 0, "sqlite3: \(output)")
            let changes = try await database.query("SELECT event_type, occurred_at FROM ministry.permit_changes").decode((String, Date).self)
            #expect(changes.count == 1 && changes.first?.0 == "cancelled")
            #expect(abs(changes.first?.1.timeIntervalSinceNow ?? 1_000) < 60, "the trigger's default instant is now")
        }
    }
}
