import Foundation
import Hummingbird
import HTTPTypes
import HummingbirdTLS
import Logging
import NIOCore
import NIOSSL
import PKI
import ServiceLifecycle
import Synchronization

/// A partner ministry's receiving endpoint for relay tests: mutual TLS, records what arrives, fails on demand.
final class MockPartner: Sendable {
    /// One delivery as the partner saw it.
    struct Delivery: Sendable {
        let messageId: String
        let contentType: String
        let body: [UInt8]
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    private struct State {
        var deliveries: [Delivery] = []
        var failures: [Int] = []
    }

    /// Shared with the route handler, which outlives no one but needs a reference.
    private final class Box: Sendable {
        let mutex = Mutex(State())
    }

    private let box = Box()
    let port: Int
    private let task: Task<Void, any Error>

    var deliveries: [Delivery] { box.mutex.withLock { $0.deliveries } }

    /// The next `count` deliveries are answered with `status` (and not recorded).
    func fail(next count: Int, status: Int) { box.mutex.withLock { $0.failures += Array(repeating: status, count: count) } }

    func stop() { task.cancel() }

    /// Waits up to `timeout` for at least `count` deliveries.
    func waitFor(_ count: Int, timeout: Duration = .seconds(10)) async throws -> [Delivery] {
        let deadline = ContinuousClock.now + timeout
        while deliveries.count < count, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        return deliveries
    }

    init(authority: CertificateAuthority, directory: String, name: String) async throws {
        try PEMFiles.write(try authority.issueServer(dnsNames: ["localhost"], ipAddresses: [[127, 0, 0, 1]]), directory: directory, name: name)
        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(directory + "/\(name).crt").map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: directory + "/\(name).key", format: .pem)))
        tls.certificateVerification = .noHostnameVerification
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(directory + "/ca.crt"))
        let router = Router()
        let box = self.box
        router.post("inbox") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 1 << 20)
            let failure = box.mutex.withLock { state -> Int? in state.failures.isEmpty ? nil : state.failures.removeFirst() }
            if let failure { return Response(status: .init(code: failure)) }
            box.mutex.withLock {
                $0.deliveries.append(
                    Delivery(
                        messageId: request.headers[HTTPField.Name("X-Message-Id")!] ?? "", contentType: request.headers[.contentType] ?? "",
                        body: Array(body.readableBytesView)))
            }
            return Response(status: .ok)
        }
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            router: router, server: try .tls(.http1(), tlsConfiguration: tls), configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { continuation.yield($0.localAddress?.port ?? 0) }, logger: Fixture.quiet)
        task = Task { try await app.runService(gracefulShutdownSignals: []) }
        var bound = 0
        for await port in ports {
            bound = port
            break
        }
        self.port = bound
    }

    var endpoint: String { "https://localhost:\(port)/inbox" }
}
