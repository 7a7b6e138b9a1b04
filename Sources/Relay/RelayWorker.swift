import AsyncHTTPClient
import Foundation
import Instrumentation
import Logging
import MessageLog
import NIOCore
import NIOHTTP1
import NIOSSL
import Storage
import ServiceLifecycle
import Synchronization
import Tracing

/// How the relay reaches partners: Jisr's own client certificate, the CAs it trusts for partners' servers,
/// the retry policy and how many deliveries run at once.
public struct RelayConfiguration: Sendable {
    public var clientCertificatePath: String
    public var clientKeyPath: String
    public var trustedServerCAPaths: [String]
    public var policy = RetryPolicy()
    public var concurrency = 8
    /// The most one delivery may take; the lease must be longer (`RetryPolicy.lease`), or a slow attempt would
    /// still be running when another worker claims the message again.
    public var requestTimeout: Duration = .seconds(10)
    /// The most a claim of due messages may take before the worker gives up on it and claims again.
    public var claimTimeout: Duration = .seconds(10)
    /// Told of every recorded attempt: the partner and what became of the message (`delivered`, `retry`, `dead`).
    public var onAttempt: (@Sendable (_ partner: String, _ outcome: String) -> Void)?
    /// A span per delivery attempt, its trace carried to the partner in `traceparent`.
    public var tracer: any Tracer = NoOpTracer()

    public init(clientCertificatePath: String, clientKeyPath: String, trustedServerCAPaths: [String]) {
        self.clientCertificatePath = clientCertificatePath
        self.clientKeyPath = clientKeyPath
        self.trustedServerCAPaths = trustedServerCAPaths
    }
}

/// The relay's configuration cannot work; says why.
public struct RelayConfigurationError: Error, Sendable, CustomStringConvertible {
    public let reason: String
    public var description: String { reason }
}

/// Delivers outbox messages over mutual TLS, at least once, each attempt logged.
///
/// Claims due messages with row locks (SKIP LOCKED), so any number of workers in any number of processes
/// never deliver the same message at the same time; a worker that dies leaves a lease that expires. The
/// next state of each message comes from `RelayStateMachine`; the attempt's log entry and the outbox
/// update are committed together.
public final class RelayWorker: Service, Sendable {
    private let database: Database
    private let log: LogWriter
    private let sealer: BodySealer
    private let configuration: RelayConfiguration
    private let tls: TLSConfiguration
    private let logger: Logger
    private let wakeup = Wakeup()
    /// The retry policy's attempts, age and backoff, which SIGHUP may change while the worker runs (the lease stays).
    private let retries: Mutex<RetryPolicy>

    public init(database: Database, log: LogWriter, sealer: BodySealer, configuration: RelayConfiguration, logger: Logger) throws {
        self.database = database
        self.log = log
        self.sealer = sealer
        self.configuration = configuration
        self.logger = logger
        self.retries = Mutex(configuration.policy)
        guard configuration.policy.lease > configuration.requestTimeout else {
            throw RelayConfigurationError(
                reason: "the relay lease (\(configuration.policy.lease)) must be longer than a delivery may take (\(configuration.requestTimeout))")
        }
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        tls.certificateChain = try NIOSSLCertificate.fromPEMFile(configuration.clientCertificatePath).map { .certificate($0) }
        tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: configuration.clientKeyPath, format: .pem))
        var roots: [NIOSSLCertificate] = []
        for path in configuration.trustedServerCAPaths { roots += try NIOSSLCertificate.fromPEMFile(path) }
        tls.trustRoots = .certificates(roots)
        self.tls = tls
    }

    /// The policy in force.
    public var policy: RetryPolicy { retries.withLock { $0 } }

    /// Takes new attempts, maximum age and backoff for the next attempts; the lease is the one it started with (a
    /// claim made under the old lease must not outlive it).
    public func retune(attempts: Int, maximumAge: Duration, initialBackoff: Duration) {
        retries.withLock { policy in
            policy.maximumAttempts = attempts
            policy.maximumAge = maximumAge
            policy.initialBackoff = initialBackoff
        }
    }

    /// Wakes the worker early: new messages were queued or re-driven.
    public func notify() { wakeup.notify() }

    public func run() async throws {
        // Made here, not in init: a client that exists must be shut down, and a gateway whose build fails after
        // this worker was made never runs it (AsyncHTTPClient traps on a client dropped unshut).
        let timeout = TimeAmount(configuration.requestTimeout)
        let http = HTTPClient(
            eventLoopGroupProvider: .singleton,
            configuration: .init(tlsConfiguration: tls, redirectConfiguration: .disallow, timeout: .init(connect: min(.seconds(5), timeout), read: timeout)))
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            var claimed: [ClaimedMessage] = []
            do {
                // Bounded: a claim stuck on a connection to a primary that is gone (a failover) would stop this worker for
                // good. A claim that committed unanswered leaves its messages leased; the lease frees them.
                claimed = try await database.withDeadline(configuration.claimTimeout) {
                    try await RelayStore.claim(limit: self.configuration.concurrency, lease: self.configuration.policy.lease, database: self.database)
                }
            } catch {
                logger.warning("relay: claiming outbox messages failed", metadata: ["jisr.error": "\(String(reflecting: type(of: error)))"])
            }
            if claimed.isEmpty {
                await wakeup.wait(timeout: .seconds(1))
                continue
            }
            await withTaskGroup(of: Void.self) { group in
                for message in claimed { group.addTask { await self.attempt(message, with: http) } }
            }
        }
        try await http.shutdown()
    }

    private func attempt(_ message: ClaimedMessage, with http: HTTPClient) async {
        let row = message.row
        var machine = RelayStateMachine(state: .inFlight, attempts: message.attempts, createdAt: message.createdAt)
        // A trace of its own per attempt (a permit change, not a partner's request, started it), sent to the partner.
        let span = configuration.tracer.startSpan("jisr.relay.deliver", context: InstrumentationContext.topLevel, ofKind: .client)
        span.attributes["jisr.partner"] = row.partnerID
        span.attributes["jisr.message_id"] = row.messageId.uuidString.lowercased()
        span.attributes["jisr.contract"] = row.contract
        span.attributes["jisr.attempt"] = Int64(message.attempts)
        let (event, status, responseDigest) = await InstrumentationContext.$current.withValue(span.context) { await deliver(row, with: http) }
        span.attributes["http.response.status_code"] = Int64(status)
        if case .failed = event { span.setStatus(SpanStatus(code: .error)) }
        span.end()
        let action = machine.handle(event, policy: policy, now: Date(), random: Double.random(in: 0...1))
        let problem: String?
        switch action {
        case .markDelivered: problem = nil
        case .scheduleRetry: problem = "delivery-failed"
        case .deadLetter: problem = "dead-lettered"
        case .deliver, .none: problem = "unexpected-state"
        }
        let draft = EntryDraft(
            messageId: UUID(), correlationId: row.messageId, partner: row.partnerID, certificateFingerprint: nil, direction: .outboundRelay,
            contract: row.contract, operation: "deliver", purpose: nil, caseReference: nil, subjectReference: nil, status: status, problemType: problem,
            requestDigest: sha256Hex(row.sealedBody), responseDigest: responseDigest)
        do {
            _ = try await log.append(draft) { connection, logger in
                // Fenced: the outcome is written only while this attempt still holds its claim. An attempt that
                // outlived its lease is logged as what it did, but the message's state is the later attempt's.
                let claim = RelayStore.Claim(messageId: row.messageId, attempt: message.attempts)
                let note: String
                let held: Bool
                switch action {
                case .markDelivered:
                    held = try await RelayStore.markDelivered(claim, on: connection)
                    note = "attempt \(message.attempts): delivered"
                case .scheduleRetry(let after):
                    let reason = Self.reason(event)
                    held = try await RelayStore.scheduleRetry(claim, after: after, error: reason, on: connection)
                    note = "attempt \(message.attempts): \(reason); retry in \(after)"
                case .deadLetter(let reason):
                    held = try await RelayStore.deadLetter(claim, error: reason, on: connection)
                    note = "attempt \(message.attempts): dead-lettered (\(reason))"
                case .deliver, .none:
                    return nil
                }
                return held ? note : note + "; superseded: the message was claimed again after this attempt's lease, its state is left to that attempt"
            }
            switch action {
            case .markDelivered: configuration.onAttempt?(row.partnerID, "delivered")
            case .scheduleRetry: configuration.onAttempt?(row.partnerID, "retry")
            case .deadLetter: configuration.onAttempt?(row.partnerID, "dead")
            case .deliver, .none: break
            }
        } catch {
            // The lease expires and the message is claimed again: at least once, never lost.
            logger.warning("relay: recording a delivery attempt failed", metadata: ["jisr.message_id": "\(row.messageId)"])
        }
    }

    /// One HTTP attempt: 2xx acknowledges; 408, 429 and 5xx and network failures are transient; other 4xx permanent.
    private func deliver(_ row: OutboxRow, with http: HTTPClient) async -> (RelayStateMachine.Event, Int, String?) {
        do {
            let body = try sealer.open(row.sealedBody, messageId: row.messageId)
            var request = HTTPClientRequest(url: row.endpoint)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: row.mediaType)
            request.headers.add(name: "X-Message-Id", value: row.messageId.uuidString.lowercased())
            request.headers.add(name: "X-Jisr-Contract", value: row.contract)
            configuration.tracer.inject(InstrumentationContext.current ?? .topLevel, into: &request.headers, using: HTTPHeadersInjector())
            request.body = .bytes(ByteBuffer(bytes: body))
            let response = try await http.execute(request, timeout: .init(configuration.requestTimeout))
            let answer = try await response.body.collect(upTo: 1 << 20)
            let code = Int(response.status.code)
            let digest = sha256Hex(answer.readableBytesView)
            switch code {
            case 200..<300: return (.acknowledged, code, digest)
            case 408, 429, 500...: return (.failed(reason: "HTTP \(code)", permanent: false), code, digest)
            default: return (.failed(reason: "HTTP \(code)", permanent: true), code, digest)
            }
        } catch {
            return (.failed(reason: "no answer (\(String(describing: type(of: error))))", permanent: false), 0, nil)
        }
    }

    /// Writes W3C trace context into a delivery's headers.
    struct HTTPHeadersInjector: Injector {
        func inject(_ value: String, forKey key: String, into headers: inout HTTPHeaders) {
            headers.replaceOrAdd(name: key, value: value)
        }
    }

    private static func reason(_ event: RelayStateMachine.Event) -> String {
        if case .failed(let reason, _) = event { return reason }
        return "unknown"
    }
}
