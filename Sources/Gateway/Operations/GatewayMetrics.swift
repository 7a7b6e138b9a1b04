import Foundation
import Prometheus
import Storage

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

    public init() {}

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
        // A method is whatever token the client sent: anything but the known ones is `_OTHER` (OpenTelemetry's rule),
        // or a hostile client could mint label values without end.
        let method = Self.methods.contains(exchange.method) ? exchange.method : "_OTHER"
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
    func refresh(from database: Database, partners: [String], now: Date = Date()) async {
        var values: [(MetricNameDescriptor, [(String, String)], Double)] = []
        do {
            let counts = try await database.withDeadline(.seconds(2)) { () -> StoreCounts in
                let head = try await database.query("SELECT coalesce(max(seq), 0) FROM message_log").first?[0].decode(Int64.self) ?? 0
                let seal = try await database.query("SELECT max(tree_size), max(sealed_at_ms) FROM log_seals").first?.decode((Int64?, Int64?).self)
                let backlog = try await database.query(
                    "SELECT partner_id, state, count(*), min(created_at) FROM relay_outbox WHERE state <> 'delivered' GROUP BY partner_id, state"
                ).decode((String, String, Int64, Date).self)
                let inbox = try await database.query("SELECT partner_id, count(*) FROM inbox WHERE acknowledged_at IS NULL GROUP BY partner_id")
                    .decode((String, Int64).self)
                return StoreCounts(head: head, sealedSize: seal?.0, sealedAtMs: seal?.1, backlog: backlog, inbox: inbox)
            }
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
    }

    private struct StoreCounts: Sendable {
        let head: Int64
        let sealedSize: Int64?
        let sealedAtMs: Int64?
        let backlog: [(String, String, Int64, Date)]
        let inbox: [(String, Int64)]
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
