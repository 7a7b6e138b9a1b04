import Foundation
import HTTPTypes
import Instrumentation
import Logging
import OTel
import ServiceLifecycle
import Synchronization
import Tracing

/// Where spans go: an OpenTelemetry collector's OTLP/HTTP traces endpoint (protobuf), off by default.
public struct TracingConfiguration: Sendable {
    /// The traces URL, used as given: `http://collector.internal:4318/v1/traces`.
    public var endpoint: String
    /// `service.name` of every span.
    public var serviceName = "jisr"
    /// How long spans wait to be sent in a batch: short for tests, a few seconds in production.
    public var batchDelay: Duration = .seconds(5)

    public init(endpoint: String) {
        self.endpoint = endpoint
    }
}

/// A gateway's tracer and the service that exports its spans; a tracer that records nothing when tracing is off.
///
/// Not the process-wide `InstrumentationSystem`: several gateways share the test process, each with its own.
struct GatewayTracing: Sendable {
    let tracer: any Tracer
    let exporter: (any Service)?

    static let off = GatewayTracing(tracer: NoOpTracer(), exporter: nil)

    static func make(_ configuration: TracingConfiguration?, logger: Logger) throws -> GatewayTracing {
        guard let configuration else { return .off }
        var otel = OTel.Configuration.default
        otel.serviceName = configuration.serviceName
        otel.diagnosticLogger = .custom(logger)
        otel.propagators = [.traceContext]
        otel.metrics.enabled = false
        otel.logs.enabled = false
        otel.traces.enabled = true
        otel.traces.sampler = .parentBasedAlwaysOn
        otel.traces.exporter = .otlp
        otel.traces.otlpExporter.protocol = .httpProtobuf
        otel.traces.otlpExporter.endpoint = configuration.endpoint
        otel.traces.batchSpanProcessor.scheduleDelay = configuration.batchDelay
        let backend = try OTel.makeTracingBackend(configuration: otel)
        kept.withLock { $0 += [backend.factory, backend.service] }
        return GatewayTracing(tracer: backend.factory, exporter: backend.service)
    }

    /// Every tracing backend made in this process (its tracer, which holds the span processor and so the exporter, and
    /// its service), kept until the process ends. swift-otel's OTLP/HTTP exporter shuts its HTTP client down
    /// synchronously in its deinit, which AsyncHTTPClient refuses with a trap when that last release happens on an event
    /// loop — as it did at every stop of `jisr serve` with tracing on (its tasks run on the event loops). The service
    /// shuts the client down properly when the gateway stops; kept, the exporter is never released after that.
    private static let kept = Mutex<[any Sendable]>([])
}

/// Reads W3C trace context (`traceparent`, `tracestate`) from a request's fields.
struct HTTPFieldsExtractor: Extractor {
    func extract(key: String, from fields: HTTPFields) -> String? {
        HTTPField.Name(key).flatMap { fields[$0] }
    }
}

extension GatewayTracing {
    /// Runs `work` in a child span of the current one; a failure marks the span with the error's type only (a message
    /// could name a person).
    static func child<Result>(
        _ tracer: any Tracer, _ name: String, kind: SpanKind = .internal, _ work: (any Span) async throws -> Result
    ) async throws -> Result {
        let span = tracer.startSpan(name, context: InstrumentationContext.current ?? .topLevel, ofKind: kind)
        defer { span.end() }
        do { return try await work(span) } catch {
            span.setStatus(SpanStatus(code: .error, message: String(describing: type(of: error))))
            throw error
        }
    }

    /// The same for synchronous work.
    static func child<Result>(_ tracer: any Tracer, _ name: String, kind: SpanKind = .internal, _ work: (any Span) throws -> Result) throws -> Result {
        let span = tracer.startSpan(name, context: InstrumentationContext.current ?? .topLevel, ofKind: kind)
        defer { span.end() }
        do { return try work(span) } catch {
            span.setStatus(SpanStatus(code: .error, message: String(describing: type(of: error))))
            throw error
        }
    }
}
