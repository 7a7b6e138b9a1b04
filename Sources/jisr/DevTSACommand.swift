import ArgumentParser
import Gateway

struct DevTSACommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dev-tsa",
        abstract: "Run a development RFC 3161 timestamping authority (OpenSSL's ts), with its own root certificate.",
        discussion: """
            Point `jisr serve` at it with --tsa-url http://127.0.0.1:PORT/ --tsa-root DIR/tsa-root.crt. \
            For development and tests only: in production, use the TSA your legal framework recognises.
            """)

    @Option(help: "Folder for its root, certificate, key and OpenSSL configuration (created on first run).") var dir = "dev-tsa"
    @Option(help: "Listening address (loopback unless gateways on other hosts stamp with it).") var host = "127.0.0.1"
    @Option(help: "Listening port.") var port = 9318

    func run() async throws {
        let logger = Console.logger()
        let directory = dir
        let host = host
        let tsa = try DevelopmentTSA(directory: dir, host: host, port: port, logger: logger) { port in
            Console.say("Development TSA on http://\(host):\(port)/ (root certificate: \(directory)/tsa-root.crt)")
        }
        try await tsa.runUntilSignalled(logger: logger)
    }
}
