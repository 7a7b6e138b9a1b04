import AsyncHTTPClient
import Foundation
import Gateway
import MessageLog
import NIOCore
import NIOHTTP1
import Records
import Storage
import Synchronization
import Testing

/// PostgreSQL stopped under load and started again: every answer in the meantime is a 503 with Retry-After (none
/// hangs, none is answered without its log entry), readiness says so, and service resumes without a restart.
///
/// It loads the machine (a PostgreSQL of its own, four clients, a restart), so `scripts/test` runs it in its heavy
/// pass, alone; beside the parallel suites it made their timing-sensitive tests flake.
@Suite(
    "Database outage",
    .enabled(if: Fixture.storeKind == .postgres, "stops a PostgreSQL server of its own"),
    TestPass.heavy)
struct DatabaseOutageTests {
    /// A PostgreSQL server of the suite's own (the other suites share the test server, which must stay up).
    static let server = Task { () throws -> LocalPostgres in
        let server = LocalPostgres(directory: NSTemporaryDirectory() + "jisr-outage-\(getpid())-\(UInt32.random(in: 0..<UInt32.max))", port: try await freePort())
        try await blocking { try server.start() }
        return server
    }
    // Kept for the life of the test process, like every fixture (its HTTP clients must not be deinitialised).
    static let fixture = Task {
        try await Fixture.make("outage", store: .postgres(try await server.value.url)) {
            $0.storeDeadline = deadlines.store
            $0.logDeadline = deadlines.log
        }
    }
    /// Shorter than the defaults so that the bound below stays well inside the test client's own timeouts.
    static let deadlines = (store: Duration.seconds(3), log: Duration.seconds(3))

    @Test("PostgreSQL stopped under load: 503 + Retry-After and not ready; back: serving again within 5 s, nothing acknowledged lost")
    func outage() async throws {
        let server = try await Self.server.value
        let fixture = try await Self.fixture.value
        defer { try? server.stop() }
        let lookup = "/v1/employment-records?nationalId=\(fixture.samples.nationalIds[0])"
        #expect(try await fixture.get(lookup, as: "LB-NSSF").status == 200)

        // Load from four clients while the server goes down and comes back; every answer is kept.
        let answers = AnswerBook()
        let stop = ManagedFlag()
        let load = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        while !stop.isSet {
                            let started = ContinuousClock.now
                            let reply = try? await fixture.get(lookup, as: "LB-NSSF")
                            answers.add(reply, took: ContinuousClock.now - started)
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
        // The load is under way (answered) before the database goes.
        try await Fixture.until("the load answered before the outage") { answers.snapshot().replies.contains { $0.status == 200 } }
        try await Self.blocking { try server.stop() }
        // Refusals come at the deadlines (about 5 s); wait for the first one rather than for a fixed time.
        let down = ContinuousClock.now
        while answers.snapshot().replies.allSatisfy({ $0.status != 503 }), ContinuousClock.now - down < .seconds(20) {
            try await Task.sleep(for: .milliseconds(100))
        }
        let ready = try await Self.opsStatus(fixture, "/health/ready")
        #expect(ready == 503, "not ready while the database is down")
        let during = answers.snapshot()
        try await Self.blocking { try server.start() }
        let back = ContinuousClock.now
        var recovered: Duration?
        while recovered == nil, ContinuousClock.now - back < .seconds(15) {
            if let reply = try? await fixture.get(lookup, as: "LB-NSSF"), reply.status == 200 { recovered = ContinuousClock.now - back }
            else { try await Task.sleep(for: .milliseconds(100)) }
        }
        stop.set()
        try await load.value

        let all = answers.snapshot()
        let refusals = all.replies.filter { $0.status == 503 }
        print(
            "outage: \(all.replies.count) answers (\(refusals.count) × 503), \(all.failures) without an answer, slowest \(all.slowest),",
            "serving again \(recovered.map { "\($0)" } ?? "never") after the restart")
        #expect(!during.replies.filter { $0.status == 503 }.isEmpty, "requests during the outage were refused")
        #expect(all.replies.allSatisfy { $0.status == 200 || $0.status == 503 }, "only answers or refusals: \(Set(all.replies.map(\.status)))")
        #expect(refusals.allSatisfy { $0.headers["Retry-After"].first != nil && $0.problemType != nil }, "503s carry Retry-After and a problem document")
        #expect(all.failures == 0, "no request failed without an answer")
        // A refusal comes within the read's deadline plus the log's. Appends queued behind a batch that was waiting
        // for the database used to get a fresh limit when their own batch started: up to three deadlines.
        let bound = Self.deadlines.store + Self.deadlines.log + .seconds(2)
        #expect(all.slowest < bound, "no answer past the deadlines: the slowest took \(all.slowest)")
        #expect(recovered.map { $0 < .seconds(5) } == true, "serving again \(recovered.map { "\($0)" } ?? "never") after the restart")
        #expect(try await Self.opsStatus(fixture, "/health/ready") == 200)
        // Every 200 was acknowledged with a log seq: each of those entries is in the log, which verifies.
        let seqs = all.replies.filter { $0.status == 200 }.compactMap { $0.headers["X-Log-Seq"].first.flatMap { Int64($0) } }
        #expect(seqs.count == all.replies.filter { $0.status == 200 }.count)
        let report = try await fixture.log().verify()
        #expect(report.firstBreak == nil)
        #expect(seqs.allSatisfy { $0 <= report.verified }, "every acknowledged entry survived")
    }

    static func opsStatus(_ fixture: Fixture, _ path: String) async throws -> Int {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(fixture.opsPort)\(path)"), timeout: .seconds(10))
        return Int(response.status.code)
    }

    /// PostgreSQL's own tools block; they run off the concurrency pool.
    static func blocking(_ work: @escaping @Sendable () throws -> Void) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            DispatchQueue.global().async { continuation.resume(with: Result { try work() }) }
        }
    }

    static func freePort() async throws -> Int {
        let (status, output) = try await ChildProcess.run("/usr/bin/python3", ["-c", "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"])
        guard status == 0, let port = Int(output.trimmingCharacters(in: .whitespacesAndNewlines)) else { throw FixtureError("no free port") }
        return port
    }
}

/// The answers the load clients got, and how long each took.
final class AnswerBook: Sendable {
    struct Snapshot: Sendable {
        var replies: [Reply] = []
        var failures = 0
        var slowest: Duration = .zero
    }

    private let state = Mutex(Snapshot())

    func add(_ reply: Reply?, took: Duration) {
        state.withLock {
            if let reply { $0.replies.append(reply) } else { $0.failures += 1 }
            $0.slowest = max($0.slowest, took)
        }
    }

    func snapshot() -> Snapshot { state.withLock { $0 } }
}

/// A flag set once, read from several tasks.
final class ManagedFlag: Sendable {
    private let state = Mutex(false)
    var isSet: Bool { state.withLock { $0 } }
    func set() { state.withLock { $0 = true } }
}
