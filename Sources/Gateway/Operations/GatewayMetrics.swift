import Foundation
import Prometheus
import Registry
import Storage
import SwiftASN1
import Synchronization
import X509

/// One gateway's metrics, in the Prometheus text format its ops listener serves at `/metrics`.
///
/// A collector registry of the gateway's own, not a process-wide one: several gateways in one process (the tests run
/// twenty) each count only their own exchanges. Every label value comes from a bounded set — route templates,
/// registered partners (or `unregistered`), contract ids, operations, status codes, problem codes — and never from
/// a path, a query string or anything about a person.
public final class GatewayMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()

    // Descriptors are not Sendable: made where they are used.
    static var exchanges: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "jisr", metricName: "exchanges", unitName: "total",
            helpText: "Exchanges answered, by partner, route template, contract, operation, status and problem type (each one is a log entry).")
    }
    static var duration: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "http", subsystem: "server", metricName: "request_duration", unitName: "seconds",
            helpText: "How long exchanges took, from the request's head to the answer, by route template, method and status.")
    }

    /// OpenTelemetry's default `http.server.request.duration` buckets, in seconds.
    static let durationBuckets: [Duration] = [5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10_000].map { .milliseconds($0) }

    static let methods: Set<String> = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]

    /// The certificates the gateway was started with, each with when it expires (read once: they change with a restart).
    let certificates: [ConfiguredCertificate]

    public init(certificates: [ConfiguredCertificate] = []) {
        self.certificates = certificates
        registry.makeGauge(descriptor: Self.buildInfo, labels: [("version", JisrBuild.version)]).set(1.0)
    }

    /// A certificate of the gateway's configuration: what it is (`server`, `partner-ca`, `admin-ca`, `log-signing`,
    /// `tsa-root`, `relay-client`), its subject, and when it expires.
    public struct ConfiguredCertificate: Sendable {
        public let kind: String
        public let subject: String
        public let notAfter: Date

        /// Every certificate of a PEM file, under `kind`: each of a bundle (CAs), or — for a chain whose first is the
        /// leaf (`leafFirst`) — the leaf under `kind` and the CAs after it under `kind-issuer`, so that an alert about a
        /// CA in the server's chain does not read as the server's own certificate.
        public static func read(kind: String, pemFile path: String, leafFirst: Bool = false) throws -> [ConfiguredCertificate] {
            let text = try String(contentsOfFile: path, encoding: .utf8)
            return try PEMDocument.parseMultiple(pemString: text).filter { $0.discriminator == "CERTIFICATE" }.enumerated().map { index, document in
                let certificate = try Certificate(pemDocument: document)
                return ConfiguredCertificate(
                    kind: leafFirst && index > 0 ? kind + "-issuer" : kind, subject: certificate.subject.description, notAfter: certificate.notValidAfter)
            }
        }
    }

    // MARK: Exchanges

    /// An exchange begins: counted in flight until `finished`.
    func started(route: String) {
        registry.makeGauge(descriptor: Self.active, labels: [("http_route", route)]).increment()
    }

    /// An exchange is answered: out of flight, and the sizes of its request and response bodies recorded.
    func finished(route: String, method: String, requestBytes: Int, responseBytes: Int) {
        registry.makeGauge(descriptor: Self.active, labels: [("http_route", route)]).decrement()
        let labels = [("http_route", route), ("http_request_method", Self.method(method))]
        registry.makeValueHistogram(descriptor: Self.requestSize, labels: labels, buckets: Self.sizeBuckets).record(Double(requestBytes))
        registry.makeValueHistogram(descriptor: Self.responseSize, labels: labels, buckets: Self.sizeBuckets).record(Double(responseBytes))
    }

    // MARK: The log writer and the relay

    /// A batch of log entries committed by this gateway: its size and how long its transaction took.
    func committed(entries: Int, took: Duration) {
        registry.makeValueHistogram(descriptor: Self.batchEntries, buckets: Self.batchBuckets).record(Double(entries))
        registry.makeDurationHistogram(descriptor: Self.commitDuration, buckets: Self.commitBuckets).record(took)
        registry.makeCounter(descriptor: Self.appended).increment(by: Int64(entries))
    }

    /// A delivery attempt of this gateway's relay, and what became of the message.
    func relayAttempt(partner: String, outcome: String) {
        registry.makeCounter(descriptor: Self.relayAttempts, labels: [("partner", partner), ("outcome", outcome)]).increment()
        if outcome == "dead" { registry.makeCounter(descriptor: Self.deadLetters, labels: [("partner", partner)]).increment() }
    }

    /// A method as a label: anything but the known ones is `_OTHER` (OpenTelemetry's rule), or a hostile client
    /// could mint label values without end.
    static func method(_ method: String) -> String { methods.contains(method) ? method : "_OTHER" }

    /// What one exchange was, as its log entry has it.
    struct Exchange {
        let route: String
        let method: String
        let partner: String?
        let contract: String?
        let operation: String?
        let status: Int
        let problem: String?
    }

    /// Counts an exchange (`jisr_exchanges_total`) and how long it took from its head to its answer
    /// (`http_server_request_duration_seconds`, OpenTelemetry's `http.server.request.duration`).
    func record(_ exchange: Exchange, took duration: Duration) {
        registry.makeCounter(
            descriptor: Self.exchanges,
            labels: [
                ("partner", exchange.partner ?? "unregistered"), ("route", exchange.route), ("contract", exchange.contract ?? "none"),
                ("operation", exchange.operation ?? "none"), ("status", String(exchange.status)), ("problem", exchange.problem ?? "none"),
            ]
        ).increment()
        let method = Self.method(exchange.method)
        registry.makeDurationHistogram(
            descriptor: Self.duration,
            labels: [("http_route", exchange.route), ("http_request_method", method), ("http_response_status_code", String(exchange.status))],
            buckets: Self.durationBuckets
        ).record(duration)
    }

    /// The metrics in the Prometheus text format.
    public func exposition() -> String { registry.emitToString() }

    /// The relay states a message waits in; `dead` is a dead letter.
    static let waitingStates = ["queued", "in-flight", "dead"]

    /// Reads what the store holds — the chain head and the last seal, the relay's backlog, the inbox — into gauges,
    /// as a scrape asks; bounded, so that `/metrics` answers while the store is down (`jisr_store_up` 0). Partners
    /// are the registered ones, each given every state, so a backlog that empties reads 0 rather than vanishing.
    func refresh(from database: Database, registry snapshot: RegistrySnapshot, confirmedAt: Date?, now: Date = Date()) async {
        let partners = snapshot.partners.keys.sorted()
        var values: [(MetricNameDescriptor, [(String, String)], Double)] = []
        values.append((Self.registryAge, [], confirmedAt.map { now.timeIntervalSince($0) } ?? -1))
        for certificate in certificates {
            values.append((Self.expiry, [("kind", certificate.kind), ("partner", ""), ("subject", certificate.subject)], certificate.notAfter.timeIntervalSince1970))
        }
        // Registered partner certificates still in use (active); a revoked or superseded one no longer matters.
        for certificate in snapshot.certificates.values where certificate.status == .active {
            values.append((
                Self.expiry, [("kind", "partner"), ("partner", certificate.partnerID), ("subject", certificate.subject)], certificate.notAfter.timeIntervalSince1970
            ))
        }
        do {
            let counts = try await database.withDeadline(.seconds(2)) { () -> StoreCounts in
                let head = try await database.query("SELECT coalesce(max(seq), 0) FROM message_log").first?[0].decode(Int64.self) ?? 0
                let seal = try await database.query("SELECT max(tree_size), max(sealed_at_ms) FROM log_seals").first?.decode((Int64?, Int64?).self)
                let backlog = try await database.query(
                    "SELECT partner_id, state, count(*), min(created_at) FROM relay_outbox WHERE state <> 'delivered' GROUP BY partner_id, state"
                ).decode((String, String, Int64, Date).self)
                let inbox = try await database.query("SELECT partner_id, count(*) FROM inbox WHERE acknowledged_at IS NULL GROUP BY partner_id")
                    .decode((String, Int64).self)
                return StoreCounts(head: head, sealedSize: seal?.0, sealedAtMs: seal?.1, backlog: backlog, inbox: inbox, pool: try await database.poolUsage())
            }
            values.append((Self.connections, [("state", "in-use")], Double(counts.pool.inUse)))
            values.append((Self.connections, [("state", "idle")], Double(counts.pool.idle)))
            values.append((Self.waiting, [], Double(counts.pool.waiting)))
            values.append((Self.storeUp, [], 1))
            values.append((Self.headSeq, [], Double(counts.head)))
            values.append((Self.sinceSeal, [], Double(counts.head - (counts.sealedSize ?? 0))))
            values.append((Self.secondsSinceSeal, [], counts.sealedAtMs.map { now.timeIntervalSince1970 - Double($0) / 1000 } ?? -1))
            for partner in partners {
                for state in Self.waitingStates {
                    let count = counts.backlog.first { $0.0 == partner && $0.1 == state }?.2 ?? 0
                    values.append((Self.backlog, [("partner", partner), ("state", state)], Double(count)))
                }
                let oldest = counts.backlog.filter { $0.0 == partner && $0.1 != "dead" }.map(\.3).min()
                values.append((Self.oldestUndelivered, [("partner", partner)], oldest.map { now.timeIntervalSince($0) } ?? 0))
                values.append((Self.inboxUnacknowledged, [("partner", partner)], Double(counts.inbox.first { $0.0 == partner }?.1 ?? 0)))
            }
        } catch {
            values.append((Self.storeUp, [], 0))
        }
        for (descriptor, labels, value) in values { registry.makeGauge(descriptor: descriptor, labels: labels).set(value) }
        // A certificate revoked or replaced since the last scrape is no longer in force: its gauge goes, or an expiry
        // alert would go on firing for a certificate nobody uses.
        let current = Dictionary(
            values.filter { $0.0.name == Self.expiry.name }.map { ($0.1.map { "\($0.0)=\($0.1)" }.joined(separator: ","), $0.1) }, uniquingKeysWith: { $1 })
        let gone = expiryGauges.withLock { previous -> [[(String, String)]] in
            defer { previous = current }
            return previous.filter { current[$0.key] == nil }.map(\.value)
        }
        for labels in gone { registry.unregisterGauge(registry.makeGauge(descriptor: Self.expiry, labels: labels)) }
    }

    /// The expiry gauges' labels at the last scrape, by their text.
    private let expiryGauges = Mutex<[String: [(String, String)]]>([:])

    // MARK: Names

    static let sizeBuckets: [Double] = [256, 1024, 4096, 16_384, 65_536, 262_144, 1_048_576, 4_194_304]
    static let batchBuckets: [Double] = [1, 2, 4, 8, 16, 32, 64, 128, 256]
    static let commitBuckets: [Duration] = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000].map { .milliseconds($0) }

    static var buildInfo: MetricNameDescriptor {
        MetricNameDescriptor(namespace: "jisr", metricName: "build_info", unitName: "", helpText: "Always 1; the running jisr's version in its label.")
    }
    static var active: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "http", subsystem: "server", metricName: "active_requests", unitName: "",
            helpText: "Exchanges being handled now, by route template (OpenTelemetry's http.server.active_requests).")
    }
    static var requestSize: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "http", subsystem: "server", metricName: "request_body_size", unitName: "bytes",
            helpText: "Sizes of exchange request bodies, by route template and method (OpenTelemetry's http.server.request.body.size).")
    }
    static var responseSize: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "http", subsystem: "server", metricName: "response_body_size", unitName: "bytes",
            helpText: "Sizes of exchange response bodies, by route template and method (OpenTelemetry's http.server.response.body.size).")
    }
    static var batchEntries: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "jisr", metricName: "log_commit_batch_entries", unitName: "", helpText: "Entries per message log transaction this gateway committed (group commit).")
    }
    static var commitDuration: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "jisr", metricName: "log_commit_duration", unitName: "seconds",
            helpText: "How long this gateway's message log transactions took, from the first statement to the commit's answer.")
    }
    static var appended: MetricNameDescriptor {
        MetricNameDescriptor(namespace: "jisr", metricName: "log_entries_appended", unitName: "total", helpText: "Message log entries this gateway committed.")
    }
    static var relayAttempts: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "jisr", metricName: "relay_attempts", unitName: "total",
            helpText: "Delivery attempts of this gateway's relay, by partner and outcome (delivered, retry, dead).")
    }
    static var deadLetters: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "jisr", metricName: "relay_dead_letters", unitName: "total",
            helpText: "Messages this gateway's relay dead-lettered after their last attempt, by partner (each one needs an operator).")
    }
    static var expiry: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "jisr", metricName: "certificate_expiry", unitName: "timestamp_seconds",
            helpText: "When a certificate expires (Unix time), by kind (server, partner-ca, admin-ca, log-signing, tsa-root, relay-client, partner), partner and subject.")
    }
    static var registryAge: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "jisr", metricName: "registry_snapshot_age", unitName: "seconds",
            helpText: "Seconds since the store last confirmed that the registry this gateway serves is current (-1: never).")
    }

    private struct StoreCounts: Sendable {
        let head: Int64
        let sealedSize: Int64?
        let sealedAtMs: Int64?
        let backlog: [(String, String, Int64, Date)]
        let inbox: [(String, Int64)]
        let pool: PoolUsage
    }

    static var connections: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "jisr", metricName: "store_connections", unitName: "",
            helpText: "This gateway's connections to its store, by state: in-use (this scrape's own question among them) or idle.")
    }
    static var waiting: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "jisr", metricName: "store_requests_waiting", unitName: "", helpText: "Requests of this gateway waiting for a connection to its store.")
    }
    static var storeUp: MetricNameDescriptor {
        MetricNameDescriptor(namespace: "jisr", metricName: "store_up", unitName: "", helpText: "1 when the store answered this scrape's questions within 2 s, else 0.")
    }
    static var headSeq: MetricNameDescriptor {
        MetricNameDescriptor(namespace: "jisr", metricName: "log_head_seq", unitName: "", helpText: "The seq of the newest message log entry.")
    }
    static var sinceSeal: MetricNameDescriptor {
        MetricNameDescriptor(namespace: "jisr", metricName: "log_entries_unsealed", unitName: "", helpText: "Entries appended since the newest seal.")
    }
    static var secondsSinceSeal: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "jisr", metricName: "log_since_seal", unitName: "seconds", helpText: "Seconds since the newest seal was signed (-1: the log has no seal).")
    }
    static var backlog: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "jisr", metricName: "relay_backlog", unitName: "",
            helpText: "Outbound messages not delivered, by partner and state (queued, in-flight, dead: a dead letter).")
    }
    static var oldestUndelivered: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "jisr", metricName: "relay_oldest_undelivered", unitName: "seconds",
            helpText: "Age of the oldest message still to deliver (queued or in flight), by partner; 0 when none.")
    }
    static var inboxUnacknowledged: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "jisr", metricName: "inbox_unacknowledged", unitName: "", helpText: "Documents partners sent in that the ministry has not acknowledged yet, by partner.")
    }
}
