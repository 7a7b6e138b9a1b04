import Adapters
import Administration
import Foundation
import Gateway
import MessageLog
import NIOHTTP1
import PKI
import Records
import Registry
import Relay
import Schemas
import Storage
import Testing

/// `jisr serve` killed with SIGKILL while it delivers: nothing queued is lost, nothing is delivered under a new id.
@Suite("Crash recovery of the relay", .serialized, TestPass.heavy)
struct CrashRecoveryTests {
    // Kept for the whole run, like every suite's fixture: its HTTP clients must outlive the tests.
    static let fixture = Task { try await Fixture.make("crash", serving: false) }

    /// A `jisr serve` child process with a short lease and fast retries, relaying to the mock partner.
    final class ServeProcess {
        let process = Process()
        let output: FileHandle
        let logFile: String

        init(fixture: Fixture, logFile: String) throws {
            self.logFile = logFile
            let directory = fixture.directory
            let binary = try JisrCLI.binary()
            _ = FileManager.default.createFile(atPath: logFile, contents: nil)
            output = try FileHandle(forWritingTo: URL(fileURLWithPath: logFile))
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = [
                "serve", "--host", "127.0.0.1", "--port", "0", "--ops-port", "0", "--pki", directory + "/no-pki",
                "--server-cert", directory + "/server.crt", "--server-key", directory + "/server.key", "--partner-ca", directory + "/ca.crt",
                "--subject-key", directory + "/subject.key", "--relay-cert", directory + "/relay-client.crt", "--relay-key", directory + "/relay-client.key",
                "--relay-timeout-seconds", "1", "--relay-lease-seconds", "2", "--relay-backoff-ms", "200", "--relay-attempts", "20", "--relay-concurrency", "4",
                "--contracts", Fixture.repository.appendingPathComponent("contracts").path, "--database-url", fixture.configuration.database.description,
            ]
            process.standardOutput = output
            process.standardError = output
            try process.run()
        }

        /// The exchange listener's port, as `jisr serve` announces it.
        func exchangePort(within timeout: Duration = .seconds(30)) async throws -> Int {
            let deadline = ContinuousClock.now + timeout
            while ContinuousClock.now < deadline {
                let text = (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? ""
                if let match = text.firstMatch(of: /exchange listener on 127\.0\.0\.1:(\d+)/), let port = Int(match.1) { return port }
                try await Task.sleep(for: .milliseconds(100))
            }
            throw ServeError(description: "jisr serve announced no exchange listener within \(timeout): \((try? String(contentsOfFile: logFile, encoding: .utf8)) ?? "")")
        }

        /// SIGKILL, and back once the process is gone; the wait runs off the concurrency pool, which a blocking
        /// `waitUntilExit` would hold from the gateways in this test process.
        func kill() async {
            Foundation.kill(process.processIdentifier, SIGKILL)
            await exited()
        }

        /// SIGTERM, and back once the process has stopped: a `jisr serve` still shutting down would go on reading
        /// the change feed behind the next test's back.
        func stop() async {
            if process.isRunning {
                process.terminate()
                await exited()
            }
            try? output.close()
        }

        /// SIGTERM without waiting, for a test that ends early (its `defer`); the process is reaped off the pool.
        func abandon() {
            guard process.isRunning else { return }
            process.terminate()
            let process = self.process
            DispatchQueue.global().async { process.waitUntilExit() }
        }

        private func exited() async {
            let process = self.process
            await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
                DispatchQueue.global().async {
                    process.waitUntilExit()
                    done.resume()
                }
            }
        }
    }

    struct ServeError: Error, CustomStringConvertible {
        let description: String
    }

    /// What a client under load was told: every acknowledged exchange (status, message id, log seq) and every
    /// send that got no answer (the kill cut it off), which a careful partner retries under the same key.
    actor Ledger {
        struct Acknowledged {
            let status: Int
            let messageId: UUID
            let seq: Int64
            let key: String?
        }
        var acknowledged: [Acknowledged] = []
        var unanswered: [String] = []
        var refused: [String] = []
        var stopped = false

        func record(_ reply: Reply, key: String?) {
            guard let id = reply.messageId, let seq = reply.headers.first(name: "X-Log-Seq").flatMap(Int64.init) else {
                refused.append("\(reply.status) without X-Message-Id/X-Log-Seq: \(reply.text.prefix(200))")
                return
            }
            acknowledged.append(Acknowledged(status: reply.status, messageId: id, seq: seq, key: key))
        }
        func lost(key: String?) { if let key { unanswered.append(key) } }
        func stop() { stopped = true }
    }

    /// Lookups by the NSSF and notices sent by Egypt's ministry, `workers` at a time, until the ledger is stopped.
    static func load(_ fixture: Fixture, port: Int, ledger: Ledger, workers: Int = 4) -> Task<Void, Never> {
        let nationalIds = fixture.samples.nationalIds
        return Task {
            await withTaskGroup(of: Void.self) { group in
                for worker in 0..<workers {
                    group.addTask {
                        var count = 0
                        while !(await ledger.stopped) {
                            count += 1
                            let key = worker % 2 == 1 ? "crash-\(worker)-\(count)" : nil
                            do {
                                let reply =
                                    if let key {
                                        try await fixture.send(Array(InboundSendTests.notice.utf8), key: key, port: port)
                                    } else {
                                        try await fixture.get("/v1/employment-records?nationalId=\(nationalIds[count % nationalIds.count])", as: "LB-NSSF", port: port)
                                    }
                                await ledger.record(reply, key: key)
                            } catch {
                                await ledger.lost(key: key)
                                try? await Task.sleep(for: .milliseconds(50))
                            }
                        }
                    }
                }
            }
        }
    }

    func outbox(_ fixture: Fixture, partner: String) async throws -> [(id: UUID, state: String)] {
        var rows: [(UUID, String)] = []
        for row in try await fixture.store.query("SELECT message_id, state FROM relay_outbox WHERE partner_id = \(partner)").decode((UUID, String).self) {
            rows.append(row)
        }
        return rows
    }

    @Test(
        """
        SIGKILL under load (lookups, inbound sends, deliveries), then a restart: every acknowledged exchange in the log under its seq, \
        every accepted send in the inbox once (an unanswered one retried under its key), every outbox message delivered, a repeat \
        only under its own message id, the log verifies
        """)
    func killedUnderLoad() async throws {
        let fixture = try await Self.fixture.value
        try await fixture.grantEgyptSend()
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
        defer { serve.abandon() }
        // The producer starts at the end of the change feed: wait until it has taken its place.
        let ready = ContinuousClock.now + .seconds(30)
        var started = false
        while !started, ContinuousClock.now < ready {
            for count in try await fixture.store.query("SELECT count(*) FROM relay_feed").decode(Int64.self) { started = count > 0 }
            if !started { try await Task.sleep(for: .milliseconds(100)) }
        }
        let startLog = (try? String(contentsOfFile: fixture.directory + "/serve-1.log", encoding: .utf8)) ?? ""
        #expect(started, "jisr serve did not start its relay: \(startLog)")

        // Exchanges under way from here to the kill; enough answered before the relay's work begins.
        let ledger = Ledger()
        let load = Self.load(fixture, port: try await serve.exchangePort(), ledger: ledger)
        let busy = ContinuousClock.now + .seconds(30)
        while await ledger.acknowledged.count < 40, ContinuousClock.now < busy { try await Task.sleep(for: .milliseconds(50)) }

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
        // Kill it once a few deliveries are through and more are in flight, with exchanges under way. (Under the
        // exchange load the workers can be between picks when the fourth delivery lands: wait for one in flight.)
        _ = try await partner.waitFor(4)
        let inFlight = ContinuousClock.now + .seconds(10)
        while try await !outbox(fixture, partner: "EG-CRASH").contains(where: { $0.state == "in-flight" }), ContinuousClock.now < inFlight {
            try await Task.sleep(for: .milliseconds(10))
        }
        await serve.kill()
        await ledger.stop()
        await load.value
        let deliveredBeforeKill = partner.deliveries.count
        let atKill = try await outbox(fixture, partner: "EG-CRASH")
        #expect(deliveredBeforeKill < renewed, "the kill came before the end")
        #expect(atKill.contains { $0.state == "in-flight" }, "some deliveries were under way when it died: \(Dictionary(grouping: atKill, by: \.state).mapValues(\.count))")

        serve = try ServeProcess(fixture: fixture, logFile: fixture.directory + "/serve-2.log")
        let port = try await serve.exchangePort()
        let acknowledged = await ledger.acknowledged
        let unanswered = await ledger.unanswered
        let refused = await ledger.refused
        #expect(refused.isEmpty, "\(refused.prefix(3))")
        #expect(acknowledged.filter { $0.key == nil }.count >= 10 && acknowledged.filter { $0.key != nil }.count >= 10, "load on both paths before the kill")
        // A partner whose send was cut off sends it again under the same key; one whose send was acknowledged and
        // sends again hears the same message id.
        var accepted: [String: UUID] = [:]
        for key in unanswered {
            let reply = try await fixture.send(Array(InboundSendTests.notice.utf8), key: key, port: port)
            #expect(reply.status == 202, "retry of \(key): \(reply.status) \(reply.text)")
            accepted[key] = reply.json?["messageId"]?.stringValue.flatMap(UUID.init(uuidString:))
        }
        for entry in acknowledged {
            guard let key = entry.key else { continue }
            #expect(entry.status == 202)
            accepted[key] = entry.messageId
            let again = try await fixture.send(Array(InboundSendTests.notice.utf8), key: key, port: port)
            #expect(again.status == 202 && again.json?["duplicate"] == .bool(true) && again.json?["messageId"]?.stringValue.flatMap(UUID.init(uuidString:)) == entry.messageId, "resend of \(key): \(again.text)")
        }
        // Every acknowledged exchange is in the log, with the seq its answer named.
        let log = fixture.log()
        for entry in acknowledged {
            let logged = try await log.entry(messageId: entry.messageId)
            #expect(logged?.seq == entry.seq && logged?.draft.status == entry.status, "acknowledged \(entry.messageId) (seq \(entry.seq)): \(String(describing: logged?.seq))")
        }
        // Every accepted send is in the inbox once, under the message id it was answered with.
        var stored: [String: [UUID]] = [:]
        // The inbox holds keyed hashes of the keys: each row maps back to a key a worker sent (this fixture's only sends).
        var keyOf: [String: String] = [:]
        for key in accepted.keys { keyOf[try fixture.inboxReference(key)] = key }
        for (reference, id) in try await fixture.store.query("SELECT idempotency_reference, message_id FROM inbox").decode((String, UUID).self) {
            stored[keyOf[reference] ?? "unknown reference \(reference.prefix(12))", default: []].append(id)
        }
        #expect(Set(stored.keys) == Set(accepted.keys), "inbox keys \(stored.count), accepted \(accepted.count)")
        for (key, id) in accepted { #expect(stored[key] == [id], "\(key): \(stored[key] ?? [])") }

        let deadline = ContinuousClock.now + .seconds(90)
        var rows = try await outbox(fixture, partner: "EG-CRASH")
        while rows.contains(where: { $0.state != "delivered" }) || rows.count < renewed, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(200))
            rows = try await outbox(fixture, partner: "EG-CRASH")
        }
        await serve.stop()

        #expect(rows.count == renewed, "one outbox message per change: \(rows.count) for \(renewed) (at the kill: \(atKill.count))")
        #expect(rows.allSatisfy { $0.state == "delivered" }, "\(Dictionary(grouping: rows, by: \.state).mapValues(\.count))")
        let queued = Set(rows.map { $0.id.uuidString.lowercased() })
        let received = partner.deliveries.map { $0.messageId.lowercased() }
        #expect(Set(received) == queued, "every queued message arrived, and nothing else")
        let repeats = received.count - Set(received).count
        #expect(partner.deliveries.filter(\.duplicate).count == repeats, "a repeat carries the id of a message delivered before")
        // Every delivered message is the logged one, and the chain still verifies.
        let verify = try await JisrCLI.run(["log", "verify", "--pki", fixture.directory + "/pki", "--database-url", fixture.configuration.database.description])
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
