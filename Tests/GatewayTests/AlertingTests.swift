import Administration
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Records
import Registry
import Schemas
import Storage
import Testing

/// The alert rules of `deploy/prometheus/`: unit-tested by Prometheus's own `promtool`, and evaluated by a real
/// Prometheus (Debian's) that scrapes a running gateway — the dead-letter alert fires once a delivery is dead-lettered.
@Suite("Alerting", .serialized)
struct AlertingTests {
    static let rules = Fixture.repository.appendingPathComponent("deploy/prometheus")

    @Test("promtool: the rules file is valid and every unit test of deploy/prometheus/tests passes")
    func promtoolUnitTests() async throws {
        let (checked, checkOutput) = try await ChildProcess.run("/usr/bin/promtool", ["check", "rules", Self.rules.appendingPathComponent("jisr-rules.yml").path])
        #expect(checked == 0, "promtool check rules: \(checkOutput)")
        let tests = try FileManager.default.contentsOfDirectory(atPath: Self.rules.appendingPathComponent("tests").path).filter { $0.hasSuffix(".test.yml") }
        #expect(!tests.isEmpty)
        for test in tests {
            let (status, output) = try await ChildProcess.run("/usr/bin/promtool", ["test", "rules", Self.rules.appendingPathComponent("tests/\(test)").path])
            #expect(status == 0, "promtool test rules \(test): \(output)")
        }
    }

    // Kept for the whole run, like every suite's fixture: its HTTP clients must outlive the tests.
    static let setup = Task { () throws -> (Fixture, TestPartner) in
        let fixture = try await Fixture.make("alerting", relay: true)
        return (fixture, try await TestPartner(authority: fixture.authority, directory: fixture.directory, name: "mock-alert"))
    }

    @Test("A real Prometheus scrapes the gateway: no alert while deliveries succeed; JisrDeadLetter fires for the partner once one is dead-lettered")
    func deadLetterAlertFires() async throws {
        let (fixture, partner) = try await Self.setup.value
        try await fixture.addEgyptianReceiver("EG-ALERT", endpoint: partner.endpoint)

        let prometheus = try await PrometheusServer(scraping: fixture.opsPort, rules: Self.rules.appendingPathComponent("jisr-rules.yml").path, directory: fixture.directory)
        defer { prometheus.stop() }

        // A delivery that succeeds, scraped and evaluated: no dead-letter alert, pending or firing.
        let delivered = try await fixture.issuePermit(nationality: "EG")
        try await Fixture.until("the first delivery") { partner.deliveries.count >= 1 }
        try await Fixture.until("Prometheus scraped the gateway after the delivery", limit: .seconds(120)) {
            try await prometheus.value("sum(jisr_relay_attempts_total{partner=\"EG-ALERT\", outcome=\"delivered\"})") == 1
        }
        let scraped = Date()
        try await Fixture.until("the alert rules evaluated after that scrape", limit: .seconds(120)) {
            try await prometheus.lastEvaluation(of: "jisr").map { $0 > scraped } ?? false
        }
        #expect(try await prometheus.alerts(named: "JisrDeadLetter").isEmpty, "no dead letter yet (permit \(delivered))")

        // The partner refuses for good (400): the next message is dead-lettered at once, and the alert fires.
        partner.fail(next: 1000, status: 400)
        _ = try await fixture.issuePermit(nationality: "EG")
        try await Fixture.until("a dead letter in the outbox") {
            try await fixture.store.query("SELECT count(*) FROM relay_outbox WHERE partner_id = 'EG-ALERT' AND state = 'dead'").first?[0].decode(Int64.self) == 1
        }
        try await Fixture.until("JisrDeadLetter firing in Prometheus", limit: .seconds(120)) {
            try await prometheus.alerts(named: "JisrDeadLetter").contains { $0.state == "firing" }
        }
        let alert = try #require(try await prometheus.alerts(named: "JisrDeadLetter").first { $0.state == "firing" })
        #expect(alert.labels["partner"] == "EG-ALERT")
        #expect(alert.labels["severity"] == "critical")
        #expect(alert.annotations["description"]?.contains("jisr relay dead-letters --partner EG-ALERT") == true, "\(alert.annotations)")
        // Prometheus read the gateway's own counters too.
        #expect(try await prometheus.value("sum(jisr_relay_dead_letters_total{partner=\"EG-ALERT\"})") == 1)
    }
}

/// Debian's Prometheus, started for one test: scrapes one gateway's ops listener every second and evaluates the
/// rules every second, its data in a folder of the test's.
final class PrometheusServer: Sendable {
    let port: Int
    let process: Process
    let http = HTTPClient.shared

    struct Alert {
        let state: String
        let labels: [String: String]
        let annotations: [String: String]
    }

    init(scraping opsPort: Int, rules: String, directory: String) async throws {
        port = try Self.freePort()
        let folder = directory + "/prometheus-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: folder + "/data", withIntermediateDirectories: true)
        let configuration = """
            global:
              scrape_interval: 1s
              evaluation_interval: 1s
            rule_files: ["\(rules)"]
            scrape_configs:
              - job_name: jisr
                static_configs:
                  - targets: ["127.0.0.1:\(opsPort)"]
            """
        try configuration.write(toFile: folder + "/prometheus.yml", atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/prometheus")
        process.arguments = [
            "--config.file=\(folder)/prometheus.yml", "--storage.tsdb.path=\(folder)/data", "--web.listen-address=127.0.0.1:\(port)",
            "--log.level=warn",
        ]
        let log = folder + "/prometheus.log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.standardOutput = output
        process.standardError = output
        try process.run()
        self.process = process
        let http = self.http
        let port = self.port
        try await Fixture.until("Prometheus ready on port \(port) (its log: \(log))", limit: .seconds(60), interval: .milliseconds(100)) {
            guard process.isRunning else { throw FixtureError("Prometheus exited: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")") }
            let response = try? await http.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/-/ready"), timeout: .seconds(2))
            return response?.status.code == 200
        }
    }

    func stop() {
        process.terminate()
    }

    /// When the rule group `name` was last evaluated.
    func lastEvaluation(of name: String) async throws -> Date? {
        let data = try await get("/api/v1/rules")
        let groups = ((data["data"] as? [String: Any])?["groups"] as? [[String: Any]]) ?? []
        guard let text = groups.first(where: { $0["name"] as? String == name })?["lastEvaluation"] as? String else { return nil }
        // RFC 3339 with nanoseconds: the fraction cut to milliseconds for the formatter.
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.date(from: text.replacing(/\.(\d{3})\d*/, with: { ".\($0.1)" }))
    }

    /// The value of an instant query that yields one sample; nil when it yields none.
    func value(_ query: String) async throws -> Double? {
        let data = try await get("/api/v1/query?query=" + (query.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""))
        guard let result = ((data["data"] as? [String: Any])?["result"] as? [[String: Any]])?.first, let pair = result["value"] as? [Any],
            let text = pair.last as? String
        else { return nil }
        return Double(text)
    }

    /// The alerts named `name`, pending or firing, as Prometheus's API lists them.
    func alerts(named name: String) async throws -> [Alert] {
        let data = try await get("/api/v1/alerts")
        let alerts = ((data["data"] as? [String: Any])?["alerts"] as? [[String: Any]]) ?? []
        return alerts.compactMap { alert in
            let labels = alert["labels"] as? [String: String] ?? [:]
            guard labels["alertname"] == name else { return nil }
            return Alert(state: alert["state"] as? String ?? "", labels: labels, annotations: alert["annotations"] as? [String: String] ?? [:])
        }
    }

    private func get(_ path: String) async throws -> [String: Any] {
        let response = try await http.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)"), timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 1 << 20)
        return try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any] ?? [:]
    }

    static func freePort() throws -> Int {
        let (status, output) = try ChildProcess.run(
            "/usr/bin/python3", ["-c", "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1]); s.close()"])
        guard status == 0, let port = Int(output.trimmingCharacters(in: .whitespacesAndNewlines)) else { throw FixtureError("no free port: \(output)") }
        return port
    }
}
