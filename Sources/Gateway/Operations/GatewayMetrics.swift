import Foundation
import Prometheus

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
        registry.makeDurationHistogram(
            descriptor: Self.duration,
            labels: [("http_route", exchange.route), ("http_request_method", exchange.method), ("http_response_status_code", String(exchange.status))],
            buckets: Self.durationBuckets
        ).record(duration)
    }

    /// The metrics in the Prometheus text format.
    public func exposition() -> String { registry.emitToString() }
}
