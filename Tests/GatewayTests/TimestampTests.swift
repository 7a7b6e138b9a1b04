import AsyncHTTPClient
import Foundation
import Gateway
import Logging
import NIOHTTP1
import PKI
import Records
import NIOCore
import Storage
import Testing

@testable import MessageLog

/// A development TSA in the test process, restartable on the same port.
final class TestTSA: Sendable {
    let directory: String
    let port: Int
    private let task: Task<Void, any Error>

    init(directory: String, port: Int = 0) async throws {
        self.directory = directory
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let tsa = try DevelopmentTSA(directory: directory, port: port, logger: Fixture.quiet, onListening: { continuation.yield($0) })
        task = Task { try await tsa.run() }
        var bound = 0
        for await found in ports {
            bound = found
            break
        }
        self.port = bound
    }

    var url: String { "http://127.0.0.1:\(port)/" }
    var root: String { directory + "/tsa-root.crt" }

    func stop() async {
        task.cancel()
        _ = try? await task.value
    }
}

/// Every seal gets an RFC 3161 timestamp from the configured TSA; when it is unreachable Jisr keeps serving,
/// says so, and stamps the waiting seals when it returns — or refuses exchanges if that is the policy.
@Suite("Timestamped seals", .serialized)
struct TimestampTests {
    static let tsaDirectory = NSTemporaryDirectory() + "jisr-test-tsa-\(getpid())"
    static let setup = Task { () throws -> (Fixture, TestTSA) in
        let tsa = try await TestTSA(directory: tsaDirectory)
        var sealing = SealerConfiguration()
        sealing.everyEntries = 1_000_000
        sealing.every = .seconds(3600)
        sealing.checkInterval = .milliseconds(100)
        let fixture = try await Fixture.make("timestamps", sealing: sealing, timestamping: TimestampingConfiguration(url: tsa.url, trustedRootPaths: [tsa.root]))
        // A log never sealed is sealed at the gateway's first check: waited for here, so that the tests' own
        // `jisr log seal` are the only seals after it (on a loaded machine that check came after a test's exchange,
        // sealed it, and left the test's seal nothing to cover).
        let store = SealStore(database: fixture.store, logger: Fixture.quiet)
        try await Fixture.until("the gateway's first seal covers the entries of the set-up") {
            let head = try await store.head()
            let sealed = try await store.latest()?.treeHead.size ?? 0
            return head > 0 && sealed >= head
        }
        return (fixture, tsa)
    }

    func exchangeAndSeal(_ fixture: Fixture) async throws -> Int64 {
        let reply = try await fixture.get("/v1/establishments/\(try #require(fixture.samples.establishmentNumbers.first))", as: "LB-NSSF")
        #expect(reply.status == 200)
        let result = try await JisrCLI.run(["log", "seal", "--pki", fixture.directory + "/pki", "--database-url", fixture.databaseURL])
        #expect(result.status == 0, "\(result.output)")
        return Int64(try #require(result.output.firstMatch(of: /sealed ([0-9]+) entries/)).1) ?? 0
    }

    func waitForToken(_ fixture: Fixture, size: Int64, timeout: Duration) async throws -> Seal? {
        let store = SealStore(database: fixture.store, logger: Fixture.quiet)
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let seal = try await store.seal(size: size), seal.timestampToken != nil { return seal }
            try await Task.sleep(for: .milliseconds(100))
        }
        return try await store.seal(size: size)
    }

    func ops(_ fixture: Fixture, _ path: String) async throws -> (Int, String) {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(fixture.opsPort)\(path)"), timeout: .seconds(5))
        return (Int(response.status.code), String(buffer: try await response.body.collect(upTo: 1 << 16)))
    }

    @Test("A seal is timestamped by the TSA; the token checks natively and with `openssl ts -verify`, and a token for other bytes does not")
    func stamped() async throws {
        let (fixture, tsa) = try await Self.setup.value
        let size = try await exchangeAndSeal(fixture)
        let seal = try #require(try await waitForToken(fixture, size: size, timeout: .seconds(10)))
        let token = try #require(seal.timestampToken, "the seal got its token")
        let rootPEM = try String(contentsOfFile: tsa.root, encoding: .utf8)
        let parsed = try TimestampToken(der: token)
        let stampedAt = try await parsed.verify(stamping: seal.treeHead.signedBytes, trustedRootsPEM: [rootPEM])
        #expect(abs(stampedAt.timeIntervalSince(seal.treeHead.time)) < 60)
        await #expect(throws: TimestampError.self) { try await parsed.verify(stamping: Array("another tree head".utf8), trustedRootsPEM: [rootPEM]) }
        let otherRoot = try CertificateAuthority.create(commonName: "Not the TSA").credential.certificatePEM
        await #expect(throws: TimestampError.self) { try await parsed.verify(stamping: seal.treeHead.signedBytes, trustedRootsPEM: [otherRoot]) }
        var forged = token
        forged[forged.count - 10] ^= 0x01
        await #expect(throws: TimestampError.self) { try await TimestampToken(der: forged).verify(stamping: seal.treeHead.signedBytes, trustedRootsPEM: [rootPEM]) }

        // OpenSSL agrees, by hand, as the evidence README will tell a partner to check it.
        let work = fixture.directory + "/ts-\(size)"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        try Data(seal.treeHead.signedBytes).write(to: URL(fileURLWithPath: work + "/tree-head.txt"))
        try Data(token).write(to: URL(fileURLWithPath: work + "/tree-head.tsr"))
        let checked = try await JisrCLI.runProgram(
            "/usr/bin/openssl",
            ["ts", "-verify", "-data", work + "/tree-head.txt", "-in", work + "/tree-head.tsr", "-token_in", "-CAfile", tsa.root])
        #expect(checked.status == 0 && checked.output.contains("Verification: OK"), "\(checked.output)")

        // The receipt carries the token; `jisr log verify --tsa-root` checks every token.
        let verify = try await JisrCLI.run(["log", "verify", "--pki", fixture.directory + "/pki", "--tsa-root", tsa.root, "--database-url", fixture.databaseURL])
        #expect(verify.status == 0 && verify.output.contains("RFC 3161 timestamps verified"), "\(verify.output)")
        // The gauge follows the stamping loop's next pass.
        var (status, metrics) = try await ops(fixture, "/metrics")
        let deadline = ContinuousClock.now + .seconds(10)
        while !metrics.contains("jisr_log_seals_awaiting_timestamp 0"), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
            (status, metrics) = try await ops(fixture, "/metrics")
        }
        #expect(status == 200 && metrics.contains("jisr_log_seals_awaiting_timestamp 0"), "\(metrics)")
    }

    @Test("With the TSA down Jisr keeps serving, reports degraded and counts the wait; the seals made meanwhile are stamped when it returns")
    func unreachable() async throws {
        let (fixture, tsa) = try await Self.setup.value
        await tsa.stop()
        let size = try await exchangeAndSeal(fixture)
        var (readyStatus, ready) = (0, "")
        try await Fixture.until("readiness degraded with the TSA down") {
            (readyStatus, ready) = try await ops(fixture, "/health/ready")
            return ready.contains("degraded")
        }
        #expect(readyStatus == 200, "\(ready)")
        let waiting = try #require(try await SealStore(database: fixture.store, logger: Fixture.quiet).seal(size: size))
        #expect(waiting.timestampToken == nil)
        let reply = try await fixture.get("/v1/establishments/\(try #require(fixture.samples.establishmentNumbers.first))", as: "LB-NSSF")
        #expect(reply.status == 200, "exchanges go on (policy: continue)")
        let (_, metrics) = try await ops(fixture, "/metrics")
        #expect(metrics.contains("jisr_log_seals_awaiting_timestamp 1") && metrics.contains("jisr_seconds_since_last_timestamp "), "\(metrics)")
        // A verifier with the TSA's root: within the grace period the seal awaits its token; past it, that is a finding.
        let awaiting = try await JisrCLI.run(["log", "verify", "--pki", fixture.directory + "/pki", "--tsa-root", tsa.root, "--database-url", fixture.databaseURL])
        #expect(awaiting.status == 0 && awaiting.output.contains("await theirs"), "\(awaiting.output)")
        let overdue = try await JisrCLI.run([
            "log", "verify", "--pki", fixture.directory + "/pki", "--tsa-root", tsa.root, "--timestamp-grace-seconds", "0", "--database-url", fixture.databaseURL,
        ])
        #expect(overdue.status == 1 && overdue.output.contains("no timestamp token"), "a missing token past the grace period is not skipped: \(overdue.output)")

        let back = try await TestTSA(directory: Self.tsaDirectory, port: tsa.port)
        defer { Task { await back.stop() } }
        let stamped = try await waitForToken(fixture, size: size, timeout: .seconds(30))
        #expect(stamped?.timestampToken != nil, "stamped once the TSA is back")
        let (_, after) = try await ops(fixture, "/health/ready")
        #expect(!after.contains("degraded"), "\(after)")
    }

    @Test("Policy refuse: past the grace period without a timestamp, new exchanges get 503 and the gateway is not ready")
    func refusePolicy() async throws {
        let fixture = try await Self.refusing.value
        _ = try await exchangeAndSeal(fixture)
        // Past the grace period the gateway says it is not ready; from then on it refuses.
        try await Fixture.until("not ready past the timestamp grace period") { try await ops(fixture, "/health/ready").0 == 503 }
        let refused = try await fixture.get("/v1/establishments/\(try #require(fixture.samples.establishmentNumbers.first))", as: "LB-NSSF")
        #expect(refused.status == 503 && refused.problemType?.hasSuffix("/timestamping-unavailable") == true, "\(refused.text)")
        #expect(refused.headers.first(name: "Retry-After") != nil)
    }

    /// Policy refuse, one second of grace, and a TSA address where nothing listens.
    static let refusing = Task { () throws -> Fixture in
        var sealing = SealerConfiguration()
        sealing.everyEntries = 1_000_000
        sealing.every = .seconds(3600)
        sealing.checkInterval = .milliseconds(100)
        sealing.timestampPolicy = .refuse
        sealing.timestampGrace = .seconds(1)
        let (_, tsa) = try await setup.value
        return try await Fixture.make("tsarefuse", sealing: sealing, timestamping: TimestampingConfiguration(url: "http://127.0.0.1:9/", trustedRootPaths: [tsa.root]))
    }
}
