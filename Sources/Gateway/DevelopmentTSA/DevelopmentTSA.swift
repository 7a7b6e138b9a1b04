import Foundation
import Hummingbird
import Logging
import NIOCore
import PKI
import ServiceLifecycle
import Storage
import Synchronization

/// A real RFC 3161 timestamping authority on loopback, for the demo and the tests: nothing depends on the network.
///
/// Its own root and a certificate with the timeStamping usage live in its folder; each `POST` of an
/// `application/timestamp-query` is answered by OpenSSL's `ts -reply`. Not for production: use the TSA your
/// legal framework recognises there.
public final class DevelopmentTSA: Service, Sendable {
    /// The folder's files.
    public struct Layout: Sendable {
        public let directory: String
        public var rootCertificate: String { directory + "/tsa-root.crt" }
        public var certificate: String { directory + "/tsa.crt" }
        public var key: String { directory + "/tsa.key" }
        public var configuration: String { directory + "/openssl-tsa.cnf" }
        public var serial: String { directory + "/serial" }
    }

    public let layout: Layout
    let host: String
    let port: Int
    let logger: Logger
    let onListening: @Sendable (Int) async -> Void
    /// `ts -reply` keeps a serial number file: one answer at a time.
    private let busy = Mutex(false)

    /// Creates the TSA's root, certificate and OpenSSL configuration in `directory` unless they are there.
    public init(directory: String, host: String = "127.0.0.1", port: Int = 9318, logger: Logger, onListening: @escaping @Sendable (Int) async -> Void = { _ in }) throws {
        self.layout = Layout(directory: URL(fileURLWithPath: directory).standardizedFileURL.path)
        self.host = host
        self.port = port
        self.logger = logger
        self.onListening = onListening
        try Self.prepare(layout)
    }

    static func prepare(_ layout: Layout) throws {
        guard !FileManager.default.fileExists(atPath: layout.key) else { return }
        let root = try CertificateAuthority.create(commonName: "Jisr development TSA root")
        try PEMFiles.write(root.credential, directory: layout.directory, name: "tsa-root")
        try PEMFiles.write(try root.issueTimestampingAuthority(), chain: [root.credential.certificate], directory: layout.directory, name: "tsa")
        try PEMFiles.write("01\n", to: layout.serial, secret: false)
        try PEMFiles.write(
            """
            [ tsa ]
            default_tsa = jisr_development_tsa

            [ jisr_development_tsa ]
            serial = \(layout.serial)
            crypto_device = builtin
            signer_cert = \(layout.certificate)
            signer_key = \(layout.key)
            signer_digest = sha256
            default_policy = 1.3.6.1.4.1.58781.1.1
            digests = sha256, sha384, sha512
            accuracy = secs:1
            ordering = yes
            tsa_name = yes
            ess_cert_id_alg = sha256

            """, to: layout.configuration, secret: false)
    }

    public func run() async throws {
        let router = Router()
        router.post("/") { request, _ in try await self.answer(request) }
        let onListening = self.onListening
        let app = Application(
            router: router, configuration: .init(address: .hostname(host, port: port), serverName: "jisr-dev-tsa"),
            onServerRunning: { await onListening($0.localAddress?.port ?? 0) }, logger: logger)
        try await app.run()
    }

    private func answer(_ request: Request) async throws -> Response {
        guard request.headers[.contentType]?.lowercased().hasPrefix("application/timestamp-query") == true else {
            return Response(status: .unsupportedMediaType)
        }
        let query = Array(try await request.body.collect(upTo: 64 << 10).readableBytesView)
        let stem = NSTemporaryDirectory() + "jisr-tsa-\(UUID().uuidString)"
        defer {
            try? FileManager.default.removeItem(atPath: stem + ".tsq")
            try? FileManager.default.removeItem(atPath: stem + ".tsr")
        }
        guard FileManager.default.createFile(atPath: stem + ".tsq", contents: Data(query)) else { return Response(status: .internalServerError) }
        let arguments = ["ts", "-reply", "-config", layout.configuration, "-queryfile", stem + ".tsq", "-out", stem + ".tsr"]
        let (status, output) = try await withTurn { try await ChildProcess.run("/usr/bin/openssl", arguments) }
        guard status == 0, let reply = FileManager.default.contents(atPath: stem + ".tsr") else {
            logger.warning("development TSA could not answer", metadata: ["jisr.output": "\(output.suffix(300))"])
            return Response(status: .badRequest)
        }
        return Response(
            status: .ok, headers: [.contentType: "application/timestamp-reply"], body: .init(byteBuffer: ByteBuffer(bytes: Array(reply))))
    }

    private func withTurn<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        // A lock cannot be held across an await, so a second request waits its turn briefly (answers take ms).
        while !busy.withLock({ taken in
            if taken { return false }
            taken = true
            return true
        }) {
            try await Task.sleep(for: .milliseconds(2))
        }
        defer { busy.withLock { $0 = false } }
        return try await body()
    }
}
