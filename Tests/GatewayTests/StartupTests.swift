import Foundation
import Storage
import Testing

/// `jisr serve` on an empty store, again and again, with every service on (relay, sealing, admin): nothing
/// touches the store before every migration has run, so no start fails on a table a later migration creates.
@Suite("Start-up on an empty store", .serialized, TestPass.heavy)
struct StartupTests {
    static let fixture = Task { try await Fixture.make("startup", relay: true, serving: false) }

    /// One start on a new empty store: listening (which comes after the migrations), then a clean stop.
    func startOnce(_ fixture: Fixture, store: StoreLocation, run: Int) async throws -> (status: Int32, output: String) {
        let directory = fixture.directory
        let serve = try BackgroundProcess.jisr(
            [
                "serve", "--host", "127.0.0.1", "--port", "0", "--ops-port", "0", "--admin-port", "0", "--pki", directory + "/pki",
                "--server-cert", directory + "/server.crt", "--server-key", directory + "/server.key", "--partner-ca", directory + "/ca.crt",
                "--admin-ca", directory + "/admin-ca.crt", "--subject-key", directory + "/subject.key",
                "--relay-cert", directory + "/relay-client.crt", "--relay-key", directory + "/relay-client.key",
                "--contracts", Fixture.repository.appendingPathComponent("contracts").path, "--database-url", store.description,
            ], logFile: directory + "/startup-\(run).log")
        defer { serve.terminate() }
        // Listening is announced once the exchange listener runs, which waits for the store to be ready.
        try await serve.until("jisr serve listening on a new store") { serve.log.contains("exchange listener on 127.0.0.1:") }
        let status = await serve.stop()
        return (status, serve.log)
    }

    @Test("Eight starts on empty stores: each migrates, listens, and stops cleanly, with no error on the way")
    func emptyStores() async throws {
        let fixture = try await Self.fixture.value
        for run in 0..<8 {
            let name = "jisr_start_\(getpid())_\(run)_\(UInt32.random(in: 0..<UInt32.max))"
            let store = try await Fixture.freshStore(name, directory: fixture.directory + "/" + name)
            let (status, output) = try await startOnce(fixture, store: store, run: run)
            #expect(status == 0, "run \(run): exit \(status)\n\(output)")
            let troubles = output.split(separator: "\n").filter { $0.contains("error") || $0.contains("warning") || $0.contains("critical") }
            #expect(troubles.isEmpty, "run \(run): \(troubles.joined(separator: "\n"))")
        }
    }
}
