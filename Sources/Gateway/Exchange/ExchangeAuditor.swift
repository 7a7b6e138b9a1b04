import Adapters
import Foundation
import HTTPTypes
import Hummingbird
import Instrumentation
import Logging
import MessageLog
import Tracing
import NIOCore
import Registry
import Schemas
import Storage

/// What a handler learns about the exchange for its log entry.
struct AuditNotes: Sendable {
    var contract: ContractID?
    var operation: Agreement.Operation?
    /// The identifier asked for, as a subject reference.
    var subjectReference: String?
    /// Everyone the answer disclosed (each of their identifiers, as subject references); the asked-for one is added.
    var subjects: [String] = []
    /// The agreement that decided the exchange, and the contract fields the answer disclosed.
    var agreementId: Int64?
    var disclosedFields: [String]?
    /// The message this one repeats or answers (a duplicate inbound send names the original).
    var correlationId: UUID?
    /// The status of a successful answer (202 for an accepted send).
    var successStatus = 200
    /// Storage that must commit with the log entry (an inbound document into the inbox); may refuse with a Problem.
    var work: EntryWork?
    /// When to come back, for an answer that is not final yet (a receipt before its seal).
    var retryAfter: Int?
    /// A detached JWS over the answer's bytes (an access report), sent as `X-JWS-Signature`.
    var signature: String?
}

/// An authenticated call, as handlers see it.
struct ExchangeCall: Sendable {
    /// The id of this exchange: its log entry's message id, and the inbox row's for a send.
    let messageId: UUID
    let partner: Partner
    let purpose: String?
    let format: DocumentFormat
    let agreements: [Agreement]
    /// The partner's attached mapping, for its adapter.
    let mapping: MappingSource?
    let now: Date
    let limiter: RateLimiter<Int64>

    /// Applies the partner's agreements — default deny, the rate limit — and gives the agreement in force (for its
    /// row-level scope and the log) and the fields to send.
    func grant(_ contract: Contract, _ operation: Agreement.Operation) throws(Problem) -> (agreement: Agreement, selection: FieldSelection) {
        guard let purpose else { throw Problem.purposeRequired }
        switch AgreementPolicy.decide(agreements: agreements, contract: contract, operation: operation, purpose: purpose, at: now) {
        case .success(let (agreement, selection)):
            if let limit = agreement.rateLimitPerMinute, let wait = limiter.admit(agreement.id, limit: limit) {
                throw Problem.rateLimited(retryAfter: wait, limit: limit)
            }
            return (agreement, selection)
        case .failure(.noAgreement): throw Problem.noAgreement
        case .failure(.operationNotGranted): throw Problem.operationNotGranted
        case .failure(.purposeNotGranted): throw Problem.purposeNotGranted
        case .failure(.outsideValidity): throw Problem.agreementNotInForce
        case .failure(.agreementIncomplete): throw Problem.agreementIncomplete
        case .failure(.scopeNotApplicable): throw Problem.scopeNotApplicable
        }
    }
}

/// Every exchange passes here: authenticate, run the handler, log, and only then answer.
///
/// This is the one place where problems become problem documents, and where invariant 1 holds: the
/// response is built, its digest goes into the log entry, the entry is committed, and only then are the
/// bytes returned. If the log cannot be written the caller gets 503 and nothing else.
struct ExchangeAuditor: Sendable {
    let log: LogWriter
    let referencer: SubjectReferencer
    let limiter: RateLimiter<Int64>
    /// Per client certificate, ahead of everything else the exchange does.
    let certificates: CertificateLimits
    /// True while the operator's policy refuses new exchanges because the log cannot be timestamped.
    let refusing: @Sendable () -> Bool
    let metrics: GatewayMetrics
    /// A span per exchange, continuing the partner's `traceparent`; no attribute carries a path, a query or a person.
    let tracer: any Tracer
    let logger: Logger

    /// Whether a caller's free-text reference carries what looks like a national id (12 digits) or an NSSF number
    /// (10): such a value would be stored and logged in clear, so it is refused rather than kept.
    /// Ten digits or more in a row, separators (`-`, `.`, `/`, `_`) ignored: a national id, or an NSSF number written
    /// `1000-0004-7517`, is refused outright rather than merely hashed.
    static func carriesIdentifier(_ value: String) -> Bool {
        var run = 0
        for character in value.utf8 {
            if [UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "/"), UInt8(ascii: "_")].contains(character) { continue }
            run = (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(character) ? run + 1 : 0
            if run >= 10 { return true }
        }
        return false
    }

    /// The domain a case reference is keyed under: a partner's reference can name a person in ways no rule recognises
    /// (a passport number), so the log keeps it only as a keyed hash, never in clear.
    static let caseReferenceKind = "case-reference"

    static let purposePattern = SimplePattern(checked: #"^[a-z][a-z0-9-]{2,63}$"#)
    static let casePattern = SimplePattern(checked: #"^[A-Za-z0-9._\/-]{1,64}$"#)

    func handle(
        _ request: Request, context: ExchangeContext, route: String, requirePurpose: Bool = true, direction: Direction = .inboundQuery,
        _ body: (ExchangeCall, inout AuditNotes) async throws -> WireDocument
    ) async -> Response {
        metrics.started(route: route)
        var parent = InstrumentationContext.topLevel
        tracer.extract(request.headers, into: &parent, using: HTTPFieldsExtractor())
        let method = GatewayMetrics.method(request.method.rawValue)
        let span = tracer.startSpan("\(method) \(route)", context: parent, ofKind: .server)
        span.attributes["http.request.method"] = method
        span.attributes["http.route"] = route
        let response = await InstrumentationContext.$current.withValue(span.context) {
            await answer(request, context: context, route: route, requirePurpose: requirePurpose, direction: direction, span: span, body)
        }
        span.attributes["http.response.status_code"] = Int64(response.status.code)
        if let messageId = response.headers[.messageId] { span.attributes["jisr.message_id"] = messageId }
        if let seq = response.headers[.logSeq].flatMap({ Int64($0) }) { span.attributes["jisr.log_seq"] = seq }
        if response.status.code >= 500 { span.setStatus(SpanStatus(code: .error)) }
        span.end()
        // A body's size as its head declared it (a chunked body without one counts 0; it is refused past the limit anyway).
        metrics.finished(
            route: route, method: request.method.rawValue, requestBytes: request.headers[.contentLength].flatMap { Int($0) } ?? 0,
            responseBytes: response.body.contentLength ?? 0)
        return response
    }

    private func answer(
        _ request: Request, context: ExchangeContext, route: String, requirePurpose: Bool, direction: Direction, span: any Span,
        _ body: (ExchangeCall, inout AuditNotes) async throws -> WireDocument
    ) async -> Response {
        let started = ContinuousClock.now
        let messageId = UUID()
        let format = Self.negotiate(request.headers[.accept])
        var notes = AuditNotes()
        var partnerID: String?
        var purpose: String?
        var caseReference: String?
        let outcome: Result<WireDocument, Problem>
        if let caller = context.caller, let refusal = certificates.check(caller) {
            // Past the first refusal of a run, a flood is answered without a log entry: it would grow the log
            // as fast as the caller sends, which is what the limit is there to stop.
            guard refusal.first else {
                metrics.record(
                    .init(route: route, method: request.method.rawValue, partner: caller.partnerID, contract: nil, operation: nil, status: refusal.problem.status,
                          problem: refusal.problem.code), took: ContinuousClock.now - started)
                return Self.unlogged(refusal.problem, messageId: messageId, format: format ?? .json)
            }
            partnerID = caller.partnerID
            outcome = .failure(refusal.problem)
        } else {
            outcome = await run(
                request, context: context, messageId: messageId, format: format, requirePurpose: requirePurpose, notes: &notes, partnerID: &partnerID,
                purpose: &purpose, caseReference: &caseReference, body)
        }

        let status: Int
        let wire: WireDocument
        switch outcome {
        case .success(let document):
            status = notes.successStatus
            wire = document
        case .failure(let problem):
            status = problem.status
            let rendered = problem.document(messageId: messageId, format: format ?? .json)
            wire = WireDocument(bytes: rendered.bytes, mediaType: rendered.mediaType)
        }
        var problem = outcome.failure
        var draft = EntryDraft(
            messageId: messageId, correlationId: notes.correlationId, partner: partnerID, certificateFingerprint: context.caller?.fingerprint, direction: direction,
            contract: notes.contract?.description, operation: notes.operation?.rawValue, purpose: purpose, caseReference: caseReference,
            subjectReference: notes.subjectReference, status: status, problemType: problem?.code,
            requestDigest: referencer.reference(kind: "request", identifier: "\(request.method.rawValue) \(request.uri.description)"),
            responseDigest: sha256Hex(wire.bytes), agreementId: notes.agreementId,
            // A refusal discloses nothing, whatever the handler had prepared.
            disclosedFields: problem == nil ? notes.disclosedFields : nil, subjects: notes.subjects,
            // Refused or answered, an exchange under a delayed purpose stays out of reports until its moment.
            disclosableAt: purpose.flatMap { context.caller?.purposes[$0] }?.disclosableAt(exchangedAt: Date()))
        // What the span may say: who asked for which contract and how it ended — never whom it was about.
        if let partnerID { span.attributes["jisr.partner"] = partnerID }
        if let contract = draft.contract { span.attributes["jisr.contract"] = contract }
        if let operation = draft.operation { span.attributes["jisr.operation"] = operation }
        if let code = problem?.code { span.attributes["jisr.problem"] = code }
        var entry: LogEntry
        var body = wire
        var answered = status
        do {
            if let work = notes.work, problem == nil {
                do {
                    entry = try await traced { try await log.append(draft, performing: work) }
                } catch let refusal as Problem {
                    // The storage refused (e.g. a concurrent send with the same key): log and answer the refusal instead.
                    let rendered = refusal.document(messageId: messageId, format: format ?? .json)
                    body = WireDocument(bytes: rendered.bytes, mediaType: rendered.mediaType)
                    answered = refusal.status
                    problem = refusal
                    draft.status = refusal.status
                    draft.problemType = refusal.code
                    draft.responseDigest = sha256Hex(body.bytes)
                    draft.disclosedFields = nil
                    entry = try await traced { try await log.append(draft) }
                }
            } else {
                entry = try await traced { try await log.append(draft) }
            }
        } catch {
            logger.error("exchange refused: message log unavailable", metadata: ["jisr.message_id": "\(messageId)", "jisr.route": "\(route)"])
            metrics.record(
                .init(route: route, method: request.method.rawValue, partner: partnerID, contract: draft.contract, operation: draft.operation,
                      status: Problem.logUnavailable.status, problem: Problem.logUnavailable.code), took: ContinuousClock.now - started)
            let refusal = Problem.logUnavailable.document(messageId: messageId, format: format ?? .json)
            var headers: HTTPFields = [.contentType: refusal.mediaType, .messageId: messageId.uuidString.lowercased()]
            headers[.retryAfter] = String(Problem.logUnavailable.retryAfter ?? 5)
            return Response(status: .serviceUnavailable, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: refusal.bytes)))
        }
        // The message log is the record of every exchange; a line per exchange on standard error is for debugging
        // (at a thousand exchanges a second it cost a tenth of the gateway's CPU).
        logger.debug(
            "exchange",
            metadata: [
                "jisr.message_id": "\(messageId)", "jisr.partner": "\(partnerID ?? "-")", "jisr.route": "\(route)",
                "jisr.status": "\(answered)", "jisr.log_seq": "\(entry.seq)",
            ])
        var headers: HTTPFields = [
            .contentType: body.mediaType, .messageId: messageId.uuidString.lowercased(), .logSeq: String(entry.seq), .logEntryHash: entry.entryHash,
        ]
        if let retry = problem?.retryAfter ?? (problem == nil ? notes.retryAfter : nil) { headers[.retryAfter] = String(retry) }
        if let allow = problem?.allow, !allow.isEmpty { headers[.allow] = allow.joined(separator: ", ") }
        if problem == nil, let signature = notes.signature { headers[.jwsSignature] = signature }
        metrics.record(
            .init(route: route, method: request.method.rawValue, partner: partnerID, contract: draft.contract, operation: draft.operation, status: answered,
                  problem: problem?.code), took: ContinuousClock.now - started)
        return Response(status: .init(code: answered), headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body.bytes)))
    }

    /// A log append as a child span of the exchange's: how long the entry took to be durable, and its seq.
    private func traced(_ append: () async throws -> LogEntry) async throws -> LogEntry {
        try await GatewayTracing.child(tracer, "jisr.log.append") { span in
            let entry = try await append()
            span.attributes["jisr.log_seq"] = entry.seq
            return entry
        }
    }

    /// Authenticates, checks the headers and runs the handler: what the exchange answered, or the problem.
    private func run(
        _ request: Request, context: ExchangeContext, messageId: UUID, format: DocumentFormat?, requirePurpose: Bool, notes: inout AuditNotes,
        partnerID: inout String?, purpose: inout String?, caseReference: inout String?, _ body: (ExchangeCall, inout AuditNotes) async throws -> WireDocument
    ) async -> Result<WireDocument, Problem> {
        do {
            if refusing() { throw Problem.timestampingUnavailable }
            guard let caller = context.caller else { throw Problem.certificateNotRegistered }
            let partner: Partner
            switch caller.resolution {
            case .partner(let found, _): partner = found
            case .unregistered: throw Problem.certificateNotRegistered
            case .certificateRevoked(let id):
                partnerID = id
                throw Problem.certificateRevoked
            case .partnerNotActive(let id, let status):
                partnerID = id
                throw Problem.partnerNotActive.with(detail: "the partner is \(status.rawValue)")
            }
            partnerID = partner.id
            guard let format else { throw Problem.notAcceptable }
            if let value = request.headers[.purpose] {
                guard Self.purposePattern.matches(value) else { throw Problem.invalidParameters("X-Purpose is not a purpose code") }
                purpose = value
            } else if requirePurpose {
                throw Problem.purposeRequired
            }
            if let value = request.headers[.caseReference] {
                guard Self.casePattern.matches(value) else { throw Problem.invalidParameters("X-Case-Reference must be 1–64 letters, digits or ._/-") }
                guard !Self.carriesIdentifier(value) else {
                    throw Problem.invalidParameters("X-Case-Reference must not carry a personal identifier (ten digits or more in a row)")
                }
                caseReference = referencer.reference(kind: Self.caseReferenceKind, identifier: value)
            }
            let call = ExchangeCall(
                messageId: messageId, partner: partner, purpose: purpose, format: format, agreements: caller.agreements, mapping: caller.mapping,
                now: Date(), limiter: limiter)
            return .success(try await body(call, &notes))
        } catch let problem as Problem {
            return .failure(problem)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            return .failure(.payloadTooLarge)
        } catch is NIOTooManyBytesError {
            // A chunked body has no Content-Length to refuse up front: it is cut off at the limit while collected.
            return .failure(.payloadTooLarge)
        } catch is DatabaseUnavailableError {
            return .failure(.storeUnavailable)
        } catch let error as ContractDocumentError {
            logger.error("outbound document breaks its contract", metadata: ["jisr.message_id": "\(messageId)", "jisr.contract": "\(error.contract)", "jisr.format": "\(error.format.rawValue)"])
            return .failure(.invalidOutbound)
        } catch {
            logger.error("exchange failed", metadata: ["jisr.message_id": "\(messageId)", "jisr.error": "\(String(reflecting: type(of: error)))"])
            return .failure(.internalError)
        }
    }

    /// A refusal answered without a log entry (a certificate flooding past its limit): the problem document only.
    static func unlogged(_ problem: Problem, messageId: UUID, format: DocumentFormat) -> Response {
        let rendered = problem.document(messageId: messageId, format: format)
        var headers: HTTPFields = [.contentType: rendered.mediaType, .messageId: messageId.uuidString.lowercased()]
        if let retry = problem.retryAfter { headers[.retryAfter] = String(retry) }
        return Response(status: .init(code: problem.status), headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: rendered.bytes)))
    }

    /// JSON unless the caller prefers XML; nil when it accepts neither.
    static func negotiate(_ accept: String?) -> DocumentFormat? {
        guard let accept, !accept.isEmpty else { return .json }
        var best: (format: DocumentFormat, quality: Double)?
        for part in accept.split(separator: ",") {
            let pieces = part.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            let type = pieces.first?.lowercased() ?? ""
            let quality = pieces.dropFirst().first { $0.hasPrefix("q=") }.flatMap { Double($0.dropFirst(2)) } ?? 1
            let format: DocumentFormat?
            switch type {
            case "application/json", "application/problem+json", "application/*", "*/*": format = .json
            case "application/xml", "text/xml", "application/problem+xml": format = .xml
            default: format = nil
            }
            if let format, quality > 0, quality > (best?.quality ?? 0) { best = (format, quality) }
        }
        return best?.format
    }
}

extension Result {
    var failure: Failure? {
        if case .failure(let failure) = self { return failure }
        return nil
    }
}

extension HTTPField.Name {
    static let purpose = Self("X-Purpose")!
    static let caseReference = Self("X-Case-Reference")!
    static let messageId = Self("X-Message-Id")!
    static let logSeq = Self("X-Log-Seq")!
    static let logEntryHash = Self("X-Log-Entry-Hash")!
    static let idempotencyKey = Self("Idempotency-Key")!
    static let jwsSignature = Self("X-JWS-Signature")!
    static let contract = Self("X-Contract")!
}
