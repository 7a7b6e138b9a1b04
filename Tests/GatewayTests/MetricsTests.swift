import AsyncHTTPClient
import Foundation
import Gateway
import NIOCore
import NIOHTTP1
import Records
import Storage
import Testing

/// `/metrics` on the ops listener after real exchanges over mutual TLS: the exchanges counted by partner, route
/// template, contract, operation, status and problem, timed in seconds, the log's head and the relay's and inbox's
/// backlogs read from the store, in a text Prometheus's own linter accepts — and no label carrying a path, a query
/// string or a person's identifier.
@Suite("Metrics")
struct MetricsTests {
    static let fixture = Task { try await Fixture.make("metrics") }

    @Test("after lookups, a refusal and an unmatched path: counted by route template and outcome, nothing personal in a label, promtool check metrics clean")
    func exchangesCounted() async throws {
        let fixture = try await Self.fixture.value
        let nationalId = fixture.samples.nationalIds[0]
        for _ in 0..<3 {
            #expect(try await fixture.get("/v1/employment-records?nationalId=\(nationalId)", as: "LB-NSSF").status == 200)
        }
        #expect(try await fixture.get("/v1/employment-records?nationalId=\(nationalId)", as: "LB-NSSF", purpose: "marketing").status == 403)
        // An inbound notice from Egypt: a request body counted, a 202, a document waiting in the inbox.
        try await fixture.grantEgyptSend()
        try await fixture.registryInForce()
        let notice = try String(contentsOf: Fixture.repository.appendingPathComponent("contracts/work-permit-event/1/examples/valid/issued.json"), encoding: .utf8)
        #expect(try await fixture.send(Array(notice.utf8), key: "metrics-\(UUID())").status == 202)
        let last = try await fixture.get("/v1/no-such-thing/\(nationalId)?nationalId=\(nationalId)", as: "LB-NSSF")
        #expect(last.status == 404)
        let lastSeq = try #require(last.headers.first(name: "X-Log-Seq").flatMap(Double.init))

        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(fixture.opsPort)/metrics"), timeout: .seconds(10))
        #expect(response.status.code == 200)
        let text = String(buffer: try await response.body.collect(upTo: 4 << 20))

        let lookups = Self.value(
            in: text, "jisr_exchanges_total",
            ["partner": "LB-NSSF", "route": "/v1/employment-records", "contract": "employment-record/1", "operation": "query", "status": "200", "problem": "none"])
        #expect(lookups == 3, "three lookups answered 200")
        #expect(Self.samples(in: text, "jisr_exchanges_total").contains { $0.labels["status"] == "403" && $0.labels["problem"] != "none" }, "the refusal, with its problem type")
        #expect(Self.value(in: text, "jisr_exchanges_total", ["route": "(unmatched)", "status": "404"]) == 1, "an unknown path counts under one template")
        let timed = Self.value(
            in: text, "http_server_request_duration_seconds_count", ["http_route": "/v1/employment-records", "http_request_method": "GET", "http_response_status_code": "200"])
        #expect(timed == 3, "each lookup timed")

        // What the store holds, read as the scrape asks: the chain head at least where the last answer left it, the
        // relay's backlog and the inbox for every registered partner (zero included), the store answering.
        #expect(Self.value(in: text, "jisr_store_up", [:]) == 1)
        #expect(Self.value(in: text, "jisr_log_head_seq", [:]) >= lastSeq)
        let backlog = Self.samples(in: text, "jisr_relay_backlog")
        #expect(Set(backlog.compactMap { $0.labels["state"] }) == ["queued", "in-flight", "dead"])
        #expect(backlog.contains { $0.labels["partner"] == "EG-MOL" } && backlog.contains { $0.labels["partner"] == "LB-NSSF" }, "every registered partner")
        #expect(Self.samples(in: text, "jisr_inbox_unacknowledged").contains { $0.labels["partner"] == "EG-MOL" })
        #expect(Self.samples(in: text, "jisr_log_since_seal_seconds").count == 1)

        // Each exchange in and out of flight, its body sizes; the log writer's batches; the build; the registry's age.
        let lookupRoute = ["http_route": "/v1/employment-records", "http_request_method": "GET"]
        #expect(Self.value(in: text, "http_server_active_requests", ["http_route": "/v1/employment-records"]) == 0, "none in flight once answered")
        #expect(Self.value(in: text, "http_server_response_body_size_bytes_count", lookupRoute) == 4, "three lookups and the refusal")
        #expect(Self.value(in: text, "http_server_response_body_size_bytes_sum", lookupRoute) > 0)
        #expect(Self.value(in: text, "http_server_request_body_size_bytes_count", lookupRoute) == 4)
        let sends = ["http_route": "/v1/messages", "http_request_method": "POST"]
        #expect(Self.value(in: text, "http_server_request_body_size_bytes_sum", sends) == Double(notice.utf8.count), "the notice's body, in bytes")
        #expect(Self.value(in: text, "jisr_exchanges_total", ["partner": "EG-MOL", "route": "/v1/messages", "status": "202"]) == 1)
        #expect(Self.value(in: text, "jisr_inbox_unacknowledged", ["partner": "EG-MOL"]) >= 1, "the notice waits in the inbox")
        #expect(Self.value(in: text, "jisr_log_entries_appended_total", [:]) >= 5, "at least this test's five entries")
        let batches = Self.value(in: text, "jisr_log_commit_batch_entries_count", [:])
        #expect(batches >= 1 && Self.value(in: text, "jisr_log_commit_batch_entries_sum", [:]) == Self.value(in: text, "jisr_log_entries_appended_total", [:]))
        #expect(Self.value(in: text, "jisr_log_commit_duration_seconds_count", [:]) == batches, "every batch timed")
        #expect(Self.samples(in: text, "jisr_build_info").first?.labels["version"] == JisrBuild.version)
        // The store's pool: connections open (on PostgreSQL, LISTEN holds one for good), none waiting.
        let inUse = Self.value(in: text, "jisr_store_connections", ["state": "in-use"])
        #expect(inUse + Self.value(in: text, "jisr_store_connections", ["state": "idle"]) >= 1, "connections open")
        if Fixture.storeKind == .postgres { #expect(inUse >= 1, "the registry's LISTEN holds a connection") }
        // One sample; a scrape may catch a background request (the sealer's, the registry's) in the instant between
        // asking the pool and being given a connection, so none waiting is awaited, not demanded of this one scrape.
        #expect(Self.samples(in: text, "jisr_store_requests_waiting").count == 1)
        try await Fixture.until("a scrape with no request waiting for a store connection") {
            let again = try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(fixture.opsPort)/metrics"), timeout: .seconds(10))
            return Self.samples(in: String(buffer: try await again.body.collect(upTo: 4 << 20)), "jisr_store_requests_waiting").map(\.value) == [0]
        }
        let age = Self.value(in: text, "jisr_registry_snapshot_age_seconds", [:])
        #expect(age >= 0 && age < 60, "the registry confirmed current within the minute: \(age)")

        // Every certificate's expiry: the gateway's own from its configuration, each registered partner's.
        let expiries = Self.samples(in: text, "jisr_certificate_expiry_timestamp_seconds")
        let now = Date().timeIntervalSince1970
        for kind in ["server", "partner-ca", "partner"] {
            #expect(expiries.contains { $0.labels["kind"] == kind && $0.value > now }, "a \(kind) certificate's expiry, in the future: \(expiries.map(\.labels))")
        }
        #expect(expiries.contains { $0.labels["kind"] == "partner" && $0.labels["partner"] == "LB-NSSF" })
        // The server's file is a chain: its CA is labelled as the server's issuer, not as the server's own certificate.
        #expect(expiries.filter { $0.labels["kind"] == "server" }.count == 1, "\(expiries.map(\.labels))")
        #expect(expiries.contains { $0.labels["kind"] == "server-issuer" }, "\(expiries.map(\.labels))")
        #expect(!expiries.contains { $0.labels["partner"] == "LB-SUSP" && $0.value < now }, "no expired certificate listed")

        // Label values come from bounded sets: templates, registered partners, contracts; nothing from the request.
        let routes = Set(Self.samples(in: text, "jisr_exchanges_total").compactMap { $0.labels["route"] })
        #expect(routes.allSatisfy { $0 == "(unmatched)" || $0.hasPrefix("/v1/") }, "route templates only: \(routes)")
        for sample in Self.samples(in: text, nil) {
            for value in sample.labels.values {
                #expect(!value.contains("?") && !value.contains(nationalId) && !value.contains("no-such-thing"), "label value \(value) of \(sample.name)")
            }
        }
        #expect(!text.contains(nationalId))

        // Prometheus's own linter (Debian's `prometheus` package, which scripts/test installs).
        let file = NSTemporaryDirectory() + "jisr-metrics-\(UUID().uuidString).prom"
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let (status, output) = try await ChildProcess.run("/bin/sh", ["-c", "promtool check metrics < \"$0\"", file])
        #expect(status == 0, "promtool check metrics: \(output)")
    }

    struct Sample {
        let name: String
        let labels: [String: String]
        let value: Double
    }

    /// The samples of the exposition named `name` (every sample when nil), labels parsed.
    static func samples(in text: String, _ name: String?) -> [Sample] {
        text.split(separator: "\n").compactMap { line -> Sample? in
            guard !line.hasPrefix("#"), let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { return nil }
            let series = line[..<space]
            let metric = series.firstIndex(of: "{").map { String(series[..<$0]) } ?? String(series)
            guard name == nil || metric == name else { return nil }
            var labels: [String: String] = [:]
            if let open = series.firstIndex(of: "{"), series.hasSuffix("}") {
                for pair in series[series.index(after: open)..<series.index(before: series.endIndex)].matches(of: /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/) {
                    labels[String(pair.1)] = String(pair.2)
                }
            }
            return Sample(name: metric, labels: labels, value: value)
        }
    }

    /// The sum of the samples of `name` whose labels include `labels`.
    static func value(in text: String, _ name: String, _ labels: [String: String]) -> Double {
        samples(in: text, name).filter { sample in labels.allSatisfy { sample.labels[$0.key] == $0.value } }.reduce(0) { $0 + $1.value }
    }
}
