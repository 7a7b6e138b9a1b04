import Administration
import AsyncHTTPClient
import Foundation
import Gateway
import NIOCore
import NIOHTTP1
import Records
import Registry
import Schemas
import Storage
import Testing

/// Traces over OTLP/HTTP, received by a collector of the test's own (scripts/lib/otlp_receiver.py, which decodes
/// them with the official protobuf definitions): a span per exchange continuing the partner's `traceparent`, its
/// record read, rendering and log append as children, a span per relay delivery whose trace the partner receives —
/// and no attribute that carries a path, a query string or a person's identifier.
@Suite("Traces", .serialized)
struct TracingTests {
    static let setup = Task { () throws -> (Fixture, TestPartner, Receiver) in
        let receiver = try await Receiver()
        let fixture = try await Fixture.make("tracing", relay: true) { configuration in
            var tracing = TracingConfiguration(endpoint: "http://127.0.0.1:\(receiver.port)/v1/traces")
            tracing.batchDelay = .milliseconds(200)
            configuration.tracing = tracing
        }
        let partner = try await TestPartner(authority: fixture.authority, directory: fixture.directory, name: "mock-trace")
        try await fixture.addEgyptianReceiver("EG-TRACE", endpoint: partner.endpoint)
        return (fixture, partner, receiver)
    }

    @Test("A lookup with a partner's traceparent: one server span continuing it, with the record read, the rendering and the log append as its children; nothing personal in any attribute")
    func exchangeSpans() async throws {
        let (fixture, _, receiver) = try await Self.setup.value
        let nationalId = fixture.samples.nationalIds[0]
        let (traceId, parentId) = ((0..<16).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined(), "00f067aa0ba902b7")
        var request = HTTPClientRequest(url: "https://localhost:\(fixture.exchangePort)/v1/employment-records?nationalId=\(nationalId)")
        request.headers.add(name: "X-Purpose", value: "nssf-contribution-verification")
        request.headers.add(name: "traceparent", value: "00-\(traceId)-\(parentId)-01")
        let client = try #require(fixture.clients["LB-NSSF"])
        let response = try await client.execute(request, timeout: .seconds(15))
        _ = try await response.body.collect(upTo: 1 << 20)
        #expect(response.status.code == 200)
        let messageId = try #require(response.headers.first(name: "X-Message-Id"))

        let spans = try await receiver.spans(of: traceId, atLeast: 4)
        let server = try #require(spans.first { $0.name == "GET /v1/employment-records" }, "\(spans.map(\.name))")
        #expect(server.kind == 2, "a server span")
        #expect(server.parentSpanId == parentId, "it continues the partner's trace")
        #expect(server.service == "jisr")
        #expect(server.attributes["http.route"] as? String == "/v1/employment-records")
        #expect(server.attributes["http.response.status_code"] as? String == "200" || server.attributes["http.response.status_code"] as? Int == 200)
        #expect(server.attributes["jisr.partner"] as? String == "LB-NSSF")
        #expect(server.attributes["jisr.message_id"] as? String == messageId)
        for child in ["jisr.records.read", "jisr.render", "jisr.log.append"] {
            let span = try #require(spans.first { $0.name == child }, "\(child) among \(spans.map(\.name))")
            #expect(span.parentSpanId == server.spanId, "\(child) is a child of the exchange's span")
        }
        #expect(spans.first { $0.name == "jisr.render" }?.attributes["jisr.contract"] as? String == "employment-record/1")

        // Nothing about the person, no path and no query, in any span this gateway exported so far.
        for span in try receiver.all() {
            for (key, value) in span.attributes {
                let text = "\(value)"
                #expect(!text.contains(nationalId) && !text.contains("?") && !text.contains("nationalId="), "\(span.name) \(key)=\(text)")
            }
            #expect(!span.name.contains(nationalId))
        }
    }

    @Test("jisr serve with tracing on stops cleanly on SIGTERM: its exporter is shut down, nothing traps")
    func cleanStopWithTracing() async throws {
        let folder = NSTemporaryDirectory() + "jisr-tracing-stop-\(getpid())"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let jisr = try JisrCLI.binary()
        let made = try await JisrCLI.runProgram("/bin/sh", ["-c", "cd \"$0\" && exec \"$@\"", folder, jisr, "pki", "init", "--dir", "pki", "--dns-name", "localhost"])
        #expect(made.status == 0, "\(made.output)")
        let ports = try (0..<5).map { _ in try PrometheusServer.freePort() }
        // The collector's port is closed: spans that cannot be sent must not change how the gateway stops.
        let serve = try BackgroundProcess(
            "/usr/bin/env",
            [
                "JISR_TRACING_ENDPOINT=http://127.0.0.1:\(ports[4])/v1/traces", jisr, "serve", "--pki", "pki", "--host", "127.0.0.1", "--port", "\(ports[0])",
                "--ops-port", "\(ports[1])", "--admin-port", "\(ports[2])", "--crl-host", "127.0.0.1", "--crl-port", "\(ports[3])",
                "--contracts", Fixture.repository.appendingPathComponent("contracts").path,
            ], in: folder, logFile: folder + "/serve.log")
        defer { serve.terminate() }
        try await serve.until("jisr serve listening, tracing on") { serve.log.contains("exchange listener on 127.0.0.1:") }
        let status = await serve.stop()
        #expect(status == 0, "a clean stop, not a trap: \(serve.log.suffix(2000))")
    }

    @Test("A relay delivery: a client span per attempt, and the partner receives its trace in traceparent")
    func deliverySpans() async throws {
        let (fixture, partner, receiver) = try await Self.setup.value
        _ = try await fixture.issuePermit(nationality: "EG")
        let delivery = try #require(try await partner.waitFor(1).first)
        let traceparent = try #require(delivery.traceparent, "the delivery carried a traceparent")
        let parts = traceparent.split(separator: "-").map(String.init)
        #expect(parts.count == 4 && parts[0] == "00" && parts[1].count == 32 && parts[2].count == 16)
        let spans = try await receiver.spans(of: parts[1], atLeast: 1)
        let span = try #require(spans.first { $0.name == "jisr.relay.deliver" }, "\(spans.map(\.name))")
        #expect(span.kind == 3, "a client span")
        #expect(span.spanId == parts[2], "the partner's parent is the delivery span")
        #expect(span.attributes["jisr.partner"] as? String == "EG-TRACE")
        #expect(span.attributes["jisr.message_id"] as? String == delivery.messageId)
    }

    /// The test's OTLP receiver, a child process.
    final class Receiver: Sendable {
        let port: Int
        let file: String
        let process: Process

        struct Span {
            let traceId: String
            let spanId: String
            let parentSpanId: String
            let name: String
            let kind: Int
            let service: String?
            let attributes: [String: any Sendable]
        }

        init() async throws {
            port = try PrometheusServer.freePort()
            file = NSTemporaryDirectory() + "jisr-spans-\(UUID().uuidString).jsonl"
            let log = file + ".log"
            _ = FileManager.default.createFile(atPath: log, contents: nil)
            let output = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
            process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["python3", Fixture.repository.appendingPathComponent("scripts/lib/otlp_receiver.py").path, "--port", "\(port)", "--out", file]
            process.standardOutput = output
            process.standardError = output
            try process.run()
            let process = self.process
            try await Fixture.until("the OTLP receiver listening (its log: \(log))") {
                guard process.isRunning else { throw FixtureError("the OTLP receiver stopped: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")") }
                return ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("listening")
            }
        }

        deinit { process.terminate() }

        /// Every span received so far.
        func all() throws -> [Span] {
            let text = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
            return try text.split(separator: "\n").map { line in
                let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] ?? [:]
                let attributes = (object["attributes"] as? [String: Any] ?? [:]).mapValues { value -> any Sendable in
                    if let number = value as? Int { return number }
                    return "\(value)"
                }
                return Span(
                    traceId: object["traceId"] as? String ?? "", spanId: object["spanId"] as? String ?? "", parentSpanId: object["parentSpanId"] as? String ?? "",
                    name: object["name"] as? String ?? "", kind: object["kind"] as? Int ?? 0, service: object["service"] as? String, attributes: attributes)
            }
        }

        /// The spans of trace `traceId`, once at least `count` have arrived.
        func spans(of traceId: String, atLeast count: Int) async throws -> [Span] {
            try await Fixture.until("\(count) spans of trace \(traceId) at the receiver") { try all().filter { $0.traceId == traceId }.count >= count }
            return try all().filter { $0.traceId == traceId }
        }
    }
}
