import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTLS
import Logging
import Schemas
import NIOCore
import NIOSSL
import ServiceLifecycle
import Synchronization

/// How a mock partner listens and misbehaves.
public struct MockPartnerConfiguration: Sendable {
    /// The partner it plays (for its log lines and its receipts).
    public var partnerID: String
    public var host = "127.0.0.1"
    /// 0 picks a free port; `onListening` reports it.
    public var port = 0
    /// Its server certificate chain and key; Jisr's relay must trust the issuer.
    public var certificatePath: String
    public var keyPath: String
    /// CAs whose client certificates it accepts (the one that issued Jisr's relay client certificate).
    public var clientCAPaths: [String]
    /// Answer the first N deliveries with `failureStatus`, as a partner that is down would.
    public var failNext = 0
    public var failureStatus = 503
    /// Wait this long before answering each delivery, as a slow partner would.
    public var delay: Duration = .zero
    /// A folder that receives each delivery as a file (`0001-MESSAGEID.xml`), or nil.
    public var recordDirectory: String?
    /// A loopback plain-HTTP port to steer it while it runs (`POST /fail?count=3&status=503`, `POST /delay?ms=2000`,
    /// `GET /deliveries`), or nil.
    public var controlPort: Int?

    public init(partnerID: String, certificatePath: String, keyPath: String, clientCAPaths: [String]) {
        self.partnerID = partnerID
        self.certificatePath = certificatePath
        self.keyPath = keyPath
        self.clientCAPaths = clientCAPaths
    }
}

/// A partner ministry's receiving endpoint, for the demo, the tests and a partner's own integration tests:
/// mutual TLS, `POST /inbox` with `X-Message-Id`, records what arrives, answers with a receipt in the format it
/// was sent in, and fails or slows down on demand.
public final class MockPartner: Service, Sendable {
    /// One delivery as the partner saw it.
    public struct Delivery: Sendable, Codable {
        public let messageId: String
        public let contentType: String
        public let body: [UInt8]
        public let receivedAt: Date
        /// Whether a delivery with the same message id had arrived before (a redelivery the partner de-duplicates).
        public let duplicate: Bool
        /// The W3C trace context the delivery carried, to follow it into the partner's own traces.
        public var traceparent: String?
        public var text: String { String(decoding: body, as: UTF8.self) }
    }

    private struct State {
        var deliveries: [Delivery] = []
        var failures: [Int] = []
        var delay: Duration = .zero
        var seen: Set<String> = []
    }

    private let state: Mutex<State>
    private let configuration: MockPartnerConfiguration
    private let logger: Logger
    private let onListening: @Sendable (Int) async -> Void

    public init(configuration: MockPartnerConfiguration, logger: Logger, onListening: @escaping @Sendable (Int) async -> Void = { _ in }) {
        self.configuration = configuration
        self.logger = logger
        self.onListening = onListening
        self.state = Mutex(State(failures: Array(repeating: configuration.failureStatus, count: configuration.failNext), delay: configuration.delay))
    }

    public var deliveries: [Delivery] { state.withLock { $0.deliveries } }

    /// The next `count` deliveries are answered with `status` (and not recorded).
    public func fail(next count: Int, status: Int = 503) { state.withLock { $0.failures += Array(repeating: status, count: count) } }

    /// Each answer waits `delay` from now on.
    public func slow(_ delay: Duration) { state.withLock { $0.delay = delay } }

    public func run() async throws {
        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(configuration.certificatePath).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: configuration.keyPath, format: .pem)))
        tls.minimumTLSVersion = .tlsv12
        tls.certificateVerification = .noHostnameVerification
        tls.trustRoots = .certificates(try configuration.clientCAPaths.flatMap { try NIOSSLCertificate.fromPEMFile($0) })
        let router = Router()
        router.post("inbox") { request, _ in try await self.receive(request) }
        let onListening = self.onListening
        let app = Application(
            router: router, server: try .tls(.http1(), tlsConfiguration: tls),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "mock-\(configuration.partnerID)"),
            onServerRunning: { await onListening($0.localAddress?.port ?? 0) }, logger: logger)
        guard let controlPort = configuration.controlPort else { return try await app.run() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.run() }
            group.addTask { try await self.control(port: controlPort).run() }
            try await group.next()
            group.cancelAll()
        }
    }

    private func receive(_ request: Request) async throws -> Response {
        let body = Array(try await request.body.collect(upTo: 4 << 20).readableBytesView)
        let (failure, delay) = state.withLock { state -> (Int?, Duration) in (state.failures.isEmpty ? nil : state.failures.removeFirst(), state.delay) }
        if delay > .zero { try await Task.sleep(for: delay) }
        if let failure {
            logger.notice("mock partner failed a delivery on purpose", metadata: ["jisr.partner": "\(configuration.partnerID)", "jisr.status": "\(failure)"])
            return Response(status: .init(code: failure), headers: [.retryAfter: "1"])
        }
        guard let messageId = request.headers[HTTPField.Name("X-Message-Id")!], messageId.wholeMatch(of: /[A-Za-z0-9-]{1,64}/) != nil else {
            return Response(status: .badRequest, body: .init(byteBuffer: ByteBuffer(string: "X-Message-Id (a UUID) is required\n")))
        }
        let contentType = request.headers[.contentType] ?? ""
        let (delivery, count) = state.withLock { state -> (Delivery, Int) in
            let delivery = Delivery(
                messageId: messageId, contentType: contentType, body: body, receivedAt: Date(), duplicate: !state.seen.insert(messageId).inserted,
                traceparent: request.headers[HTTPField.Name("traceparent")!])
            state.deliveries.append(delivery)
            return (delivery, state.deliveries.count)
        }
        logger.info(
            "mock partner received a delivery",
            metadata: [
                "jisr.partner": "\(configuration.partnerID)", "jisr.message_id": "\(messageId)", "jisr.media_type": "\(contentType)", "jisr.bytes": "\(body.count)",
                "jisr.duplicate": "\(delivery.duplicate)",
            ])
        if let folder = configuration.recordDirectory {
            try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            let suffix = contentType.contains("xml") ? "xml" : "json"
            let name = String(format: "%04d-%@.%@", count, messageId, suffix)
            _ = FileManager.default.createFile(atPath: folder + "/" + name, contents: Data(body))
        }
        return receipt(messageId: messageId, duplicate: delivery.duplicate, xml: contentType.contains("xml"))
    }

    /// An acknowledgement in the format the delivery came in.
    private func receipt(messageId: String, duplicate: Bool, xml: Bool) -> Response {
        let partner = configuration.partnerID
        let body =
            xml
            ? #"<?xml version="1.0" encoding="UTF-8"?><Receipt><Partner>\#(partner)</Partner><MessageId>\#(messageId)</MessageId><Duplicate>\#(duplicate)</Duplicate></Receipt>"#
            : #"{"partner":"\#(partner)","messageId":"\#(messageId)","duplicate":\#(duplicate)}"#
        return Response(
            status: .ok, headers: [.contentType: xml ? "application/xml" : "application/json"], body: .init(byteBuffer: ByteBuffer(string: body + "\n")))
    }

    /// Plain HTTP on loopback only: steering a test double needs no certificate.
    private func control(port: Int) -> some ApplicationProtocol {
        let router = Router()
        router.post("fail") { request, _ -> Response in
            let count = request.uri.queryParameters.get("count", as: Int.self) ?? 1
            let status = request.uri.queryParameters.get("status", as: Int.self) ?? 503
            guard (0...10_000).contains(count), (400...599).contains(status) else { return Response(status: .badRequest) }
            self.fail(next: count, status: status)
            return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "the next \(count) deliveries get \(status)\n")))
        }
        router.post("delay") { request, _ -> Response in
            guard let milliseconds = request.uri.queryParameters.get("ms", as: Int.self), (0...600_000).contains(milliseconds) else {
                return Response(status: .badRequest)
            }
            self.slow(.milliseconds(milliseconds))
            return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "each answer waits \(milliseconds) ms\n")))
        }
        router.get("deliveries") { _, _ -> Response in
            let listed = JSONValue.array(
                self.deliveries.map { delivery in
                    .object(
                        JSONObject([
                            ("messageId", .string(delivery.messageId)), ("contentType", .string(delivery.contentType)),
                            ("bytes", .integer(Int64(delivery.body.count))), ("duplicate", .bool(delivery.duplicate)),
                        ]))
                })
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: JSONWriter.data(listed))))
        }
        return Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port), serverName: "mock-control"), logger: logger)
    }
}
