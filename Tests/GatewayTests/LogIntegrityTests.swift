import AsyncHTTPClient
import Foundation
import Gateway
import MessageLog
import NIOCore
import NIOHTTP1
import Records
import Schemas
import Storage
import Testing

/// Changes that touch the registry or break the log, each on a gateway of its own.
@Suite("Message log integrity and live registry changes", .serialized)
struct LogIntegrityTests {
    static let fixture = Task { try await Fixture.make("integrity") }

    func traffic(_ fixture: Fixture, count: Int) async throws {
        for index in 0..<count {
            let id = fixture.samples.nationalIds[index % fixture.samples.nationalIds.count]
            _ = try await fixture.get("/v1/employment-records?nationalId=\(id)", as: index % 3 == 0 ? "EG-MOL" : "LB-NSSF")
        }
    }

    /// Applies `tamper`, checks what verification reports, then puts the table back as it was.
    func expectBreak(_ fixture: Fixture, _ tamper: String, seq: Int64, kind: ChainBreak.Kind) async throws {
        try await fixture.sql("DROP TABLE IF EXISTS message_log_backup")
        try await fixture.sql("CREATE TABLE message_log_backup AS SELECT * FROM message_log")
        try await fixture.sql(tamper)
        let report = try await fixture.log().verify()
        #expect(report.firstBreak?.seq == seq, "\(String(describing: report.firstBreak))")
        #expect(report.firstBreak?.kind == kind, "\(String(describing: report.firstBreak))")
        let cli = try await JisrCLI.run(["log", "verify", "--pki", fixture.directory + "/pki", "--database-url", fixture.databaseURL])
        #expect(cli.status != 0)
        #expect(cli.output.contains("BROKEN at seq \(seq)"), "\(cli.output)")
        try await fixture.sql("DELETE FROM message_log; INSERT INTO message_log SELECT * FROM message_log_backup")
        #expect(try await fixture.log().verify().firstBreak == nil)
    }

    @Test("jisr log verify names the seq of an UPDATE, a DELETE and a swapped pair made with SQL")
    func tampering() async throws {
        let fixture = try await Self.fixture.value
        try await traffic(fixture, count: 12)
        let clean = try await JisrCLI.run(["log", "verify", "--pki", fixture.directory + "/pki", "--database-url", fixture.databaseURL])
        #expect(clean.status == 0, "\(clean.output)")
        #expect(clean.output.contains("OK: "))
        try await expectBreak(fixture, "UPDATE message_log SET status = status + 1 WHERE seq = 4", seq: 4, kind: .modified)
        try await expectBreak(fixture, "DELETE FROM message_log WHERE seq = 7", seq: 7, kind: .deleted)
        try await expectBreak(
            fixture, "UPDATE message_log SET seq = CASE seq WHEN 5 THEN -6 ELSE -5 END WHERE seq IN (5, 6); UPDATE message_log SET seq = -seq WHERE seq < 0",
            seq: 5, kind: .reordered)
    }

    @Test("When the log cannot be written, the request gets 503 with Retry-After and no data")
    func logOutage() async throws {
        let fixture = try await Self.fixture.value
        let id = try #require(fixture.samples.nationalIds.first)
        try await fixture.sql("ALTER TABLE message_log RENAME TO message_log_offline")
        let refused = try await fixture.get("/v1/employment-records?nationalId=\(id)", as: "LB-NSSF")
        try await fixture.sql("ALTER TABLE message_log_offline RENAME TO message_log")
        #expect(refused.status == 503)
        #expect(refused.headers.first(name: "Retry-After") != nil)
        #expect(refused.problemType == "https://jisr.labor.gov.lb/problems/log-unavailable")
        #expect(!refused.text.contains(id) && !refused.text.contains("employments"))
        let refusedId = try #require(refused.messageId)
        #expect(try await fixture.log().entry(messageId: refusedId) == nil)
        let served = try await fixture.get("/v1/employment-records?nationalId=\(id)", as: "LB-NSSF")
        #expect(served.status == 200)
        #expect(try await fixture.log().verify().firstBreak == nil)
    }

    /// A gateway whose log gives up after one second, for the abandoned-batch test.
    static let impatient = Task { try await Fixture.make("abandon") { $0.logDeadline = .seconds(1) } }

    @Test(
        "An insert still waiting at the deadline is abandoned: answered 503, it never lands in the log afterwards",
        .enabled(if: Fixture.storeKind == .postgres, "holds a table lock from another session"))
    func abandonedBatchNeverCommits() async throws {
        let fixture = try await Self.impatient.value
        let id = try #require(fixture.samples.nationalIds.first)
        #expect(try await fixture.get("/v1/employment-records?nationalId=\(id)", as: "LB-NSSF").status == 200)
        // Another session blocks every insert into the log (reads go on) until the refusal has been answered.
        let answered = AsyncStream.makeStream(of: Void.self)
        let locked = AsyncStream.makeStream(of: Void.self)
        let holder = Task {
            try await fixture.store.withTransaction { connection in
                try await connection.query("LOCK TABLE message_log IN EXCLUSIVE MODE")
                locked.continuation.yield()
                for await _ in answered.stream { break }
            }
        }
        for await _ in locked.stream { break }
        let refused = try await fixture.get("/v1/employment-records?nationalId=\(id)", as: "LB-NSSF")
        answered.continuation.yield()
        try await holder.value
        #expect(refused.status == 503 && refused.problemType?.hasSuffix("/log-unavailable") == true, "\(refused.text)")
        // The next exchange is chained behind the abandoned insert's seq: answered, the abandoned one is settled.
        let next = try await fixture.get("/v1/employment-records?nationalId=\(id)", as: "LB-NSSF")
        #expect(next.status == 200, "\(next.text)")
        let refusedId = try #require(refused.messageId)
        #expect(try await fixture.log().entry(messageId: refusedId) == nil, "an exchange answered 503 is not in the log")
        #expect(try await fixture.log().verify().firstBreak == nil)
    }

    @Test("Suspending a partner or revoking its certificate applies to its next request, without a restart")
    func liveRegistryChanges() async throws {
        let fixture = try await Self.fixture.value
        let id = try #require(fixture.samples.nationalIds.first)
        #expect(try await fixture.get("/v1/employment-records?nationalId=\(id)", as: "LB-FLIP").status == 200)
        try await fixture.sql("UPDATE partners SET status = 'suspended' WHERE id = 'LB-FLIP'")
        #expect(try await nextRequest(fixture, caller: "LB-FLIP", id: id, problem: "partner-not-active"))
        try await fixture.sql("UPDATE partners SET status = 'active' WHERE id = 'LB-FLIP'")
        #expect(try await nextRequest(fixture, caller: "LB-FLIP", id: id, problem: nil))
        try await fixture.sql("UPDATE partner_certificates SET status = 'revoked' WHERE partner_id = 'LB-FLIP'")
        #expect(try await nextRequest(fixture, caller: "LB-FLIP", id: id, problem: "certificate-revoked"))
    }

    /// Whether the partner's next request, once the registry as it now stands is in force, has the outcome.
    func nextRequest(_ fixture: Fixture, caller: String, id: String, problem: String?) async throws -> Bool {
        try await fixture.registryInForce()
        let reply = try await fixture.get("/v1/employment-records?nationalId=\(id)", as: caller)
        return problem.map { reply.problemType?.hasSuffix("/" + $0) == true } ?? (reply.status == 200)
    }
}

/// The `jisr` executable that `swift build` produced next to the tests.
enum JisrCLI {
    static func run(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        try await runProgram(try binary(), arguments)
    }

    /// The path of the built executable.
    static func binary() throws -> String {
        let candidates = [".build/debug/jisr", ".build/x86_64-unknown-linux-gnu/debug/jisr", ".build/aarch64-unknown-linux-gnu/debug/jisr"]
            .map { Fixture.repository.appendingPathComponent($0).path }
        guard let binary = candidates.first(where: FileManager.default.isExecutableFile(atPath:)) else {
            throw FixtureError("the jisr executable is not built; run the tests with scripts/test")
        }
        return binary
    }
}
