import Foundation
import Gateway
import PKI

/// Jisr's own mock partner (`jisr mock-partner`), started in the test process with a certificate from the test CA.
final class TestPartner: Sendable {
    let partner: MockPartner
    let port: Int
    private let task: Task<Void, any Error>

    var deliveries: [MockPartner.Delivery] { partner.deliveries }
    var endpoint: String { "https://localhost:\(port)/inbox" }

    func fail(next count: Int, status: Int) { partner.fail(next: count, status: status) }
    func stop() { task.cancel() }

    /// Waits up to `timeout` for at least `count` deliveries.
    func waitFor(_ count: Int, timeout: Duration = .seconds(10)) async throws -> [MockPartner.Delivery] {
        let deadline = ContinuousClock.now + timeout
        while deliveries.count < count, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        return deliveries
    }

    init(authority: CertificateAuthority, directory: String, name: String) async throws {
        try PEMFiles.write(try authority.issueServer(dnsNames: ["localhost"], ipAddresses: [[127, 0, 0, 1]]), directory: directory, name: name)
        let configuration = MockPartnerConfiguration(
            partnerID: name, certificatePath: directory + "/\(name).crt", keyPath: directory + "/\(name).key", clientCAPaths: [directory + "/ca.crt"])
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let partner = MockPartner(configuration: configuration, logger: Fixture.quiet, onListening: { continuation.yield($0) })
        self.partner = partner
        task = Task { try await partner.run() }
        var bound = 0
        for await port in ports {
            bound = port
            break
        }
        self.port = bound
    }
}
