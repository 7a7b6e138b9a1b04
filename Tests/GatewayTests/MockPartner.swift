import Foundation
import Gateway
import PKI

/// Jisr's own mock partner (`jisr mock-partner`), started in the test process with a certificate from the test CA.
final class TestPartner: Sendable {
    let partner: MockPartner
    let port: Int
    let name: String
    private let task: Task<Void, any Error>

    var deliveries: [MockPartner.Delivery] { partner.deliveries }
    var endpoint: String { "https://localhost:\(port)/inbox" }

    func fail(next count: Int, status: Int) { partner.fail(next: count, status: status) }
    func stop() { task.cancel() }

    /// The first delivery of message `id`, once it has arrived; throws if it never does.
    func delivery(of id: UUID) async throws -> MockPartner.Delivery {
        try await Fixture.until("message \(id) delivered to \(name)") { deliveries(of: id).count > 0 }
        return deliveries(of: id)[0]
    }

    /// Every delivery so far, once there are at least `count`; throws if there never are.
    func waitFor(_ count: Int) async throws -> [MockPartner.Delivery] {
        try await Fixture.until("\(count) deliveries to \(name) (\(deliveries.count) so far)") { deliveries.count >= count }
        return deliveries
    }

    /// Every delivery of message `id` so far (a partner de-duplicates redeliveries by this id).
    func deliveries(of id: UUID) -> [MockPartner.Delivery] {
        deliveries.filter { UUID(uuidString: $0.messageId) == id }
    }

    init(authority: CertificateAuthority, directory: String, name: String) async throws {
        try PEMFiles.write(try authority.issueServer(dnsNames: ["localhost"], ipAddresses: [[127, 0, 0, 1]]), directory: directory, name: name)
        let configuration = MockPartnerConfiguration(
            partnerID: name, certificatePath: directory + "/\(name).crt", keyPath: directory + "/\(name).key", clientCAPaths: [directory + "/ca.crt"])
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let partner = MockPartner(configuration: configuration, logger: Fixture.quiet, onListening: { continuation.yield($0) })
        self.partner = partner
        self.name = name
        task = Task { try await partner.run() }
        var bound = 0
        for await port in ports {
            bound = port
            break
        }
        self.port = bound
    }
}
