import Adapters
import Administration
import Foundation
import Gateway
import MessageLog
import PKI
import Records
import Registry
import Relay
import Schemas
import Storage
import Testing

/// `jisr serve` killed with SIGKILL while it delivers: nothing queued is lost, nothing is delivered under a new id.
@Suite("Crash recovery of the relay", .serialized)
struct CrashRecoveryTests {
    // Kept for the whole run, like every suite's fixture: its HTTP clients must outlive the tests.
    static let fixture = Task { try await Fixture.make("crash", serving: false) }

    /// A `jisr serve` child process with a short lease and fast retries, relaying to the mock partner.
    final class ServeProcess {
        let process = Process()
        let output: FileHandle

        init(fixture: Fixture, logFile: String) throws {
            let directory = fixture.directory
            let binary = try JisrCLI.binary()
            _ = FileManager.default.createFile(atPath: logFile, contents: nil)
            output = try FileHandle(forWritingTo: URL(fileURLWithPath: logFile))
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = [
                "serve", "--host", "127.0.0.1", "--port", "0", "--ops-port", "0", "--pki", directory + "/no-pki",
                "--server-cert", directory + "/server.crt", "--server-key", directory + "/server.key", "--partner-ca", directory + "/ca.crt",
                "--subject-key", directory + "/subject.key", "--relay-cert", directory + "/relay-client.crt", "--relay-key", directory + "/relay-client.key",
                "--relay-lease-seconds", "2", "--relay-backoff-ms", "200", "--relay-attempts", "20", "--relay-concurrency", "4",
                "--contracts", Fixture.repository.appendingPathComponent("contracts").path, "--database-url", fixture.configuration.database.description,
            ]
            process.standardOutput = output
            process.standardError = output
            try process.run()
        }

        func kill() {
            Foundation.kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }

        func stop() {
            if process.isRunning {
                process.terminate()
                process.waitUntilExit()
            }
            try? output.close()
        }
    }

    func outbox(_ fixture: Fixture, partner: String) async throws -> [(id: UUID, state: String)] {
        var rows: [(UUID, String)] = []
        for row in try await fixture.store.query("SELECT message_id, state FROM relay_outbox WHERE partner_id = \(partner)").decode((UUID, String).self) {
            rows.append(row)
        }
        return rows
    }

    @Test("SIGKILL in the middle of deliveries, then a restart: every outbox message delivered, none lost, a repeat only under its own message id")
    func killedMidDelivery() async throws {
        let fixture = try await Self.fixture.value
        let partner = try await TestPartner(authority: fixture.authority, directory: fixture.directory, name: "mock-crash")
        partner.partner.slow(.milliseconds(150))
        try PEMFiles.write(
            try fixture.authority.issueClient(partnerID: "LB-MOL", organization: "Ministry of Labour", country: "LB"), directory: fixture.directory, name: "relay-client")
        let admin = try fixture.administration()
        let actor = Administrator(fingerprint: nil, name: "crash test")
        let contract = try #require(try ContractCatalog.load(from: Fixture.repository.appendingPathComponent("contracts"))[WorkPermitEvent.contract])
        try await admin.addPartner(Partner(id: "EG-CRASH", nameAr: "مصر", nameEn: "Egypt", country: "EG", status: .active, endpoint: partner.endpoint), by: actor)
        try await admin.grant(
            Agreement(
                partnerID: "EG-CRASH", contract: WorkPermitEvent.contract, operations: [.receive], purposes: ["mou-work-permit-notification"],
                fields: contract.leafFields, validFrom: Date().addingTimeInterval(-60), validUntil: Date().addingTimeInterval(86_400), mouReference: "MoU",
                scopeNationalities: ["EG"]),
            by: actor)

        var serve = try ServeProcess(fixture: fixture, logFile: fixture.directory + "/serve-1.log")
        defer { serve.stop() }
        // The producer starts at the end of the change feed: wait until it has taken its place.
        let ready = ContinuousClock.now + .seconds(30)
        var started = false
        while !started, ContinuousClock.now < ready {
            for count in try await fixture.store.query("SELECT count(*) FROM relay_feed").decode(Int64.self) { started = count > 0 }
            if !started { try await Task.sleep(for: .milliseconds(100)) }
        }
        let startLog = (try? String(contentsOfFile: fixture.directory + "/serve-1.log", encoding: .utf8)) ?? ""
        #expect(started, "jisr serve did not start its relay: \(startLog)")

        var renewed = 0
        for _ in try await fixture.store.query(
            """
            UPDATE ministry.work_permits SET status = 'renewed', expires_on = \(unescaped: fixture.sqlDays(after: "coalesce(expires_on, \(fixture.sqlToday))", 365)),
                updated_at = \(unescaped: fixture.sqlNow)
            WHERE id IN (SELECT w.id FROM ministry.work_permits w JOIN ministry.persons p ON p.id = w.person_id
                         WHERE p.nationality = 'EG' AND w.status IN ('issued', 'renewed', 'expired') ORDER BY w.id LIMIT 30)
            RETURNING id
            """
        ).decode(Int64.self) {
            renewed += 1
        }
        #expect(renewed >= 10)
        // Kill it once a few deliveries are through and more are in flight.
        _ = try await partner.waitFor(4, timeout: .seconds(30))
        serve.kill()
        let deliveredBeforeKill = partner.deliveries.count
        let atKill = try await outbox(fixture, partner: "EG-CRASH")
        #expect(deliveredBeforeKill < renewed, "the kill came before the end")
        #expect(atKill.contains { $0.state == "in-flight" }, "some deliveries were under way when it died: \(Dictionary(grouping: atKill, by: \.state).mapValues(\.count))")

        serve = try ServeProcess(fixture: fixture, logFile: fixture.directory + "/serve-2.log")
        let deadline = ContinuousClock.now + .seconds(90)
        var rows = try await outbox(fixture, partner: "EG-CRASH")
        while rows.contains(where: { $0.state != "delivered" }) || rows.count < renewed, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(200))
            rows = try await outbox(fixture, partner: "EG-CRASH")
        }
        serve.stop()

        #expect(rows.count == renewed, "one outbox message per change: \(rows.count) for \(renewed) (at the kill: \(atKill.count))")
        #expect(rows.allSatisfy { $0.state == "delivered" }, "\(Dictionary(grouping: rows, by: \.state).mapValues(\.count))")
        let queued = Set(rows.map { $0.id.uuidString.lowercased() })
        let received = partner.deliveries.map { $0.messageId.lowercased() }
        #expect(Set(received) == queued, "every queued message arrived, and nothing else")
        let repeats = received.count - Set(received).count
        #expect(partner.deliveries.filter(\.duplicate).count == repeats, "a repeat carries the id of a message delivered before")
        // Every delivered message is the logged one, and the chain still verifies.
        let verify = try JisrCLI.run(["log", "verify", "--database-url", fixture.configuration.database.description])
        #expect(verify.status == 0, "\(verify.output)")
        partner.stop()
    }

    @Test("A producer that starts before its registry is loaded still enqueues the change it resumes at (regression: it was passed over)")
    func producerWaitsForTheRegistry() async throws {
        let fixture = try await Self.fixture.value
        let admin = try fixture.administration()
        let actor = Administrator(fingerprint: nil, name: "crash test")
        let catalog = try ContractCatalog.load(from: Fixture.repository.appendingPathComponent("contracts"))
        let contract = try #require(catalog[WorkPermitEvent.contract])
        try await admin.addPartner(
            Partner(id: "EG-COLD", nameAr: "مصر", nameEn: "Egypt", country: "EG", status: .active, endpoint: "https://localhost:1/inbox"), by: actor)
        try await admin.grant(
            Agreement(
                partnerID: "EG-COLD", contract: WorkPermitEvent.contract, operations: [.receive], purposes: ["mou-work-permit-notification"],
                fields: contract.leafFields, validFrom: Date().addingTimeInterval(-60), validUntil: Date().addingTimeInterval(86_400), mouReference: "MoU",
                scopeNationalities: ["EG"]),
            by: actor)
        // The feed's stored position is behind one Egyptian permit's change, as after a crash.
        try await fixture.sql("INSERT INTO relay_feed (feed, position) SELECT 'work-permits', coalesce(max(id), 0) FROM ministry.permit_changes WHERE true ON CONFLICT (feed) DO UPDATE SET position = excluded.position")
        try await fixture.sql(
            """
            UPDATE ministry.work_permits SET status = 'renewed', expires_on = \(fixture.sqlDays(after: "coalesce(expires_on, \(fixture.sqlToday))", 365)),
                updated_at = \(fixture.sqlNow)
            WHERE id = (SELECT w.id FROM ministry.work_permits w JOIN ministry.persons p ON p.id = w.person_id WHERE p.nationality = 'EG' ORDER BY w.id DESC LIMIT 1)
            """)
        // A watcher that has not loaded yet, as at start-up.
        let registry = RegistryWatcher(store: RegistryStore(database: fixture.store, logger: Fixture.quiet), logger: Fixture.quiet)
        let key = Array(String(repeating: "ab", count: 32).utf8)
        let producer = RelayProducer(
            database: fixture.store, records: DatabaseRecordSource(database: fixture.store, logger: Fixture.quiet), registry: registry, catalog: catalog,
            adapters: AdapterRegistry(catalog: catalog), log: fixture.logWriter, sealer: BodySealer(secret: key), referencer: SubjectReferencer(key: key),
            logger: Fixture.quiet)
        let task = Task { try await producer.run() }
        defer { task.cancel() }
        let deadline = ContinuousClock.now + .seconds(10)
        var queued: Int64 = 0
        while queued == 0, ContinuousClock.now < deadline {
            for count in try await fixture.store.query("SELECT count(*) FROM relay_outbox WHERE partner_id = 'EG-COLD'").decode(Int64.self) { queued = count }
            if queued == 0 { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(queued == 1)
    }
}
