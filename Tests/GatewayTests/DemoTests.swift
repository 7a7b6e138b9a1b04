import AsyncHTTPClient
import Foundation
import Gateway
import NIOCore
import NIOHTTP1
import NIOSSL
import Records
import Storage
import Testing

/// `jisr demo`, the README's first command, run as a new user would: from an empty folder, on its embedded store.
@Suite(
    "The demo", .serialized, TestPass.heavy,
    .enabled(if: Fixture.storeKind == .postgres, "the demo keeps its own embedded store whatever the pass: run once"))
struct DemoTests {
    @Test("jisr demo from an empty folder: serves, and demo.json lists every partner's purposes as its agreements grant them; the NSSF's lookup works as the manifest says")
    func demoFromAnEmptyFolder() async throws {
        let folder = NSTemporaryDirectory() + "jisr-demo-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: folder + "/empty", withIntermediateDirectories: true)
        let (port, opsPort, adminPort) = (try PrometheusServer.freePort(), try PrometheusServer.freePort(), try PrometheusServer.freePort())
        let crlPort = try PrometheusServer.freePort()
        let demo = try BackgroundProcess.jisr(
            [
                "demo", "--dir", folder + "/demo", "--persons", "300", "--port", "\(port)", "--ops-port", "\(opsPort)", "--admin-port", "\(adminPort)",
                "--crl-port", "\(crlPort)",
            ], in: folder + "/empty", logFile: folder + "/demo.log")
        defer { demo.terminate() }
        func log() -> String { demo.log }
        try await demo.until("the demo serving", limit: .seconds(240)) {
            let ready = try? await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(opsPort)/health/ready"), timeout: .seconds(2))
            return ready?.status == .ok && log().contains("curl")
        }
        #expect(log().contains("embedded store"), "it says it keeps the embedded store: \(log())")

        let manifest = try JSONDecoder().decode(DemoManifest.self, from: Data(contentsOf: URL(fileURLWithPath: folder + "/demo/demo.json")))
        let purposes = Dictionary(uniqueKeysWithValues: manifest.partners.map { ($0.id, $0.purposes) })
        #expect(purposes["LB-NSSF"] == ["nssf-contribution-verification"])
        #expect(purposes["EG-MOL"] == ["mou-work-permit-notification"], "EG-MOL's agreements grant it")
        #expect(purposes["IQ-MOLSA"] == ["mou-work-permit-notification"], "IQ-MOLSA's agreements grant it")
        #expect(purposes["LB-PORTAL"] == ["data-subject-access"])
        #expect(manifest.partners.allSatisfy { !$0.purposes.isEmpty }, "every partner can be called with a purpose it holds")

        // The demo's CA publishes its CRL where its certificates say (testssl checks the server certificate names one).
        let crl = try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(crlPort)/partner-ca.crl"), timeout: .seconds(5))
        #expect(crl.status == .ok && crl.headers.first(name: "content-type") == "application/pkix-crl")
        let points = try await JisrCLI.runProgram("/usr/bin/openssl", ["x509", "-in", folder + "/demo/pki/server.crt", "-noout", "-ext", "crlDistributionPoints"])
        #expect(points.output.contains("URI:http://127.0.0.1:\(crlPort)/partner-ca.crl"), "\(points.output)")

        // The NSSF as the manifest describes it: its certificate, a purpose it was granted, a sample person.
        let nssf = try #require(manifest.partners.first { $0.id == "LB-NSSF" })
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .file(manifest.caCertificate)
        tls.certificateChain = try NIOSSLCertificate.fromPEMFile(nssf.certificate).map { .certificate($0) }
        tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: nssf.key, format: .pem))
        let client = Fixture.httpClient(tls: tls)
        var request = HTTPClientRequest(url: "\(manifest.exchangeURL)/v1/employment-records?nationalId=\(try #require(manifest.samples.nationalIds.first))")
        request.headers.add(name: "X-Purpose", value: try #require(nssf.purposes.first))
        let response = try await client.execute(request, timeout: .seconds(15))
        _ = try await response.body.collect(upTo: 1 << 20)
        #expect(response.status.code == 200)
        try await client.shutdown()

        // The commands it prints run as printed, from any folder: the running jisr, never `swift run`.
        #expect(!log().contains("swift run"), "\(log())")
        let relayStatus = try #require(log().split(separator: "\n").first { $0.contains(" relay status --database-url") }, "\(log())")
        let printed = try await JisrCLI.runProgram("/bin/sh", ["-c", "cd / && " + String(relayStatus)])
        #expect(printed.status == 0, "\(relayStatus): \(printed.output)")

        let status = await demo.stop()
        #expect(status == 0, "the demo stops cleanly on SIGTERM: \(log().suffix(2000))")
        try? FileManager.default.removeItem(atPath: folder)
    }
}
