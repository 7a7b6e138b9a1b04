import ArgumentParser
import Foundation
import Gateway
import PKI

struct MockPartnerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mock-partner",
        abstract: "Play a partner ministry's receiving endpoint: mutual TLS, records what the relay delivers, fails or slows down on demand.",
        discussion: """
            Set the partner's relay endpoint to https://localhost:PORT/inbox. Without --cert, a server certificate is issued from the PKI's \
            partner CA (which the relay trusts) into PKI/mock-partners/. With --control-port, steer it while it runs:
              curl -X POST 'http://127.0.0.1:CONTROL/fail?count=3&status=503'   the next 3 deliveries fail
              curl -X POST 'http://127.0.0.1:CONTROL/delay?ms=2000'             each answer waits 2 s
              curl http://127.0.0.1:CONTROL/deliveries                          what arrived
            """)

    @Option(help: "The partner it plays (e.g. EG-MOL).") var id: String
    @Option(help: "Listening address.") var host = "127.0.0.1"
    @Option(help: "Listening port.") var port = 9101
    @OptionGroup var pkiOptions: PKIOptions
    @Option(help: "Server certificate chain (PEM) (default: issued from the PKI's partner CA).") var cert: String?
    @Option(help: "Its private key (PEM).") var key: String?
    @Option(help: "CA of the client certificates to accept (default: the PKI's partner CA, issuer of Jisr's relay certificate).") var clientCa: [String] = []
    @Option(help: "Answer the first N deliveries with --fail-status.") var failNext = 0
    @Option(help: "The status of a failed delivery.") var failStatus = 503
    @Option(help: "Wait this many milliseconds before each answer.") var delayMs = 0
    @Option(help: "Folder to write each delivery to (NNNN-MESSAGEID.xml|json).") var record: String?
    @Option(help: "Loopback port of the plain-HTTP control API.") var controlPort: Int?

    func validate() throws {
        guard (cert == nil) == (key == nil) else { throw ValidationError("give --cert and --key together") }
        guard (400...599).contains(failStatus) else { throw ValidationError("--fail-status is a 4xx or 5xx status") }
        guard failNext >= 0, delayMs >= 0 else { throw ValidationError("--fail-next and --delay-ms are not negative") }
    }

    func run() async throws {
        let logger = Console.logger()
        let pki = pkiOptions.directory
        var certificatePath = cert
        var keyPath = key
        if certificatePath == nil {
            let name = "mock-\(id)"
            let folder = pki.path + "/mock-partners"
            if !FileManager.default.fileExists(atPath: "\(folder)/\(name).crt") {
                let authority = try pki.partnerCA()
                try PEMFiles.write(
                    try authority.issueServer(dnsNames: ["localhost"], ipAddresses: [[127, 0, 0, 1]]), chain: [authority.credential.certificate],
                    directory: folder, name: name)
                Console.say("Issued a server certificate for the mock \(id) from \(pki.partnerCACertificate)")
            }
            (certificatePath, keyPath) = ("\(folder)/\(name).crt", "\(folder)/\(name).key")
        }
        var configuration = MockPartnerConfiguration(
            partnerID: id, certificatePath: certificatePath ?? "", keyPath: keyPath ?? "", clientCAPaths: clientCa.isEmpty ? [pki.partnerCACertificate] : clientCa)
        configuration.host = host
        configuration.port = port
        configuration.failNext = failNext
        configuration.failureStatus = failStatus
        configuration.delay = .milliseconds(delayMs)
        configuration.recordDirectory = record
        configuration.controlPort = controlPort
        let (id, host, controlPort) = (self.id, self.host, self.controlPort)
        let partner = MockPartner(configuration: configuration, logger: logger) { port in
            Console.say("Mock \(id) listening on https://\(host == "0.0.0.0" ? "localhost" : host):\(port)/inbox (mutual TLS)"
                + (controlPort.map { "; control on http://127.0.0.1:\($0)" } ?? ""))
        }
        try await partner.runUntilSignalled(logger: logger)
    }
}
