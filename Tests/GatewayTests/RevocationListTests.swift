import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Storage
import Testing

/// The partner CA's CRL as relying parties use it: OpenSSL reads the file `jisr` writes and the list `jisr serve`
/// publishes over plain HTTP, and refuses a certificate once it is revoked.
@Suite(
    "Published revocation", .serialized,
    .enabled(if: Fixture.storeKind == .postgres, "the commands keep their own embedded store whatever the pass: run once"))
struct RevocationListTests {
    /// An empty folder with `jisr pki init` (CRL at `url`), a migrated embedded store and a partner JO-MOL.
    func prepare(crlURL url: String) async throws -> String {
        let folder = NSTemporaryDirectory() + "jisr-crl-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for arguments in [
            ["pki", "init", "--dir", "pki", "--crl-url", url], ["migrate"],
            ["partner", "add", "--id", "JO-MOL", "--name-ar", "الأردن", "--name-en", "Jordan MoL"],
        ] {
            let (status, output) = try await run(in: folder, jisr: arguments)
            #expect(status == 0, "jisr \(arguments.joined(separator: " ")): \(output)")
        }
        return folder
    }

    func run(in folder: String, jisr arguments: [String]) async throws -> (status: Int32, output: String) {
        try await JisrCLI.runProgram("/bin/sh", ["-c", "cd \"$0\" && exec \"$@\"", folder, try JisrCLI.binary()] + arguments)
    }

    func openssl(in folder: String, _ arguments: [String]) async throws -> (status: Int32, output: String) {
        try await JisrCLI.runProgram("/bin/sh", ["-c", "cd \"$0\" && exec openssl \"$@\"", folder] + arguments)
    }

    /// A key and CSR made by OpenSSL, as a partner makes them, signed by `jisr pki sign-csr`; returns the fingerprint.
    func issuePartnerCertificate(in folder: String) async throws -> String {
        let request = try await openssl(in: folder, [
            "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "jo.key", "-subj", "/CN=JO-MOL", "-out", "jo.csr",
        ])
        #expect(request.status == 0, "\(request.output)")
        let signed = try await run(in: folder, jisr: ["pki", "sign-csr", "--partner", "JO-MOL", "--csr", "jo.csr", "--out", "jo.crt"])
        #expect(signed.status == 0, "\(signed.output)")
        let fingerprint = try await openssl(in: folder, ["x509", "-in", "jo.crt", "-noout", "-fingerprint", "-sha256"])
        return String(fingerprint.output.split(separator: "=").last ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// `openssl verify -crl_check` of the partner's certificate against the CRL file `crl` (DER, converted to PEM).
    func verify(in folder: String, crl: String) async throws -> (status: Int32, output: String) {
        let converted = try await openssl(in: folder, ["crl", "-inform", "DER", "-in", crl, "-out", "crl.pem"])
        #expect(converted.status == 0, "\(converted.output)")
        return try await openssl(in: folder, ["verify", "-crl_check", "-CAfile", "pki/partner-ca.crt", "-CRLfile", "crl.pem", "jo.crt"])
    }

    @Test("Every certificate the partner CA issues names the CRL; jisr cert revoke re-signs it and openssl verify -crl_check refuses the revoked one")
    func revokedCertificateRefused() async throws {
        let url = "http://crl.jisr.test:8080/partner-ca.crl"
        let folder = try await prepare(crlURL: url)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        _ = try await issuePartnerCertificate(in: folder)
        for certificate in ["pki/server.crt", "pki/relay-client.crt", "pki/log-signing.crt", "jo.crt"] {
            let points = try await openssl(in: folder, ["x509", "-in", certificate, "-noout", "-ext", "crlDistributionPoints"])
            #expect(points.output.contains("URI:\(url)"), "\(certificate) names the CRL: \(points.output)")
        }
        let before = try await verify(in: folder, crl: "pki/partner-ca.crl")
        #expect(before.status == 0 && before.output.contains("jo.crt: OK"), "the new CA's empty CRL: \(before.output)")

        let fingerprint = try await issuePartnerCertificate(in: folder)
        let revoked = try await run(in: folder, jisr: ["cert", "revoke", fingerprint, "--reason", "key compromise"])
        #expect(revoked.status == 0 && revoked.output.contains("CRL"), "\(revoked.output)")
        let after = try await verify(in: folder, crl: "pki/partner-ca.crl")
        #expect(after.status != 0 && after.output.contains("certificate revoked"), "\(after.output)")

        // The list itself: signed by the CA, version 2, its number and the serial, as RFC 5280 has them.
        let text = try await openssl(in: folder, ["crl", "-inform", "DER", "-in", "pki/partner-ca.crl", "-CAfile", "pki/partner-ca.crt", "-noout", "-text", "-verify"])
        let serial = try await openssl(in: folder, ["x509", "-in", "jo.crt", "-noout", "-serial"])
        let hex = serial.output.split(separator: "=").last.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) } ?? "?"
        #expect(text.output.contains("verify OK") && text.output.contains("Version 2") && text.output.contains("CRL Number"), "\(text.output)")
        #expect(text.output.contains("Serial Number: \(hex)"), "the revoked serial \(hex) is listed: \(text.output)")

        // `jisr pki crl` signs the same list anew, here as PEM.
        let again = try await run(in: folder, jisr: ["pki", "crl", "--out", "again.pem", "--pem"])
        #expect(again.status == 0, "\(again.output)")
        let listed = try await openssl(in: folder, ["crl", "-in", "again.pem", "-noout", "-text"])
        #expect(listed.output.contains("Serial Number: \(hex)"), "\(listed.output)")
    }

    @Test("jisr serve publishes the CRL over plain HTTP, and a revocation made elsewhere reaches it within seconds")
    func servedOverHTTP() async throws {
        let crlPort = try PrometheusServer.freePort()
        let folder = try await prepare(crlURL: "http://127.0.0.1:\(crlPort)/partner-ca.crl")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let fingerprint = try await issuePartnerCertificate(in: folder)
        let (port, opsPort, adminPort) = (try PrometheusServer.freePort(), try PrometheusServer.freePort(), try PrometheusServer.freePort())
        let serve = try BackgroundProcess.jisr(
            [
                "serve", "--pki", "pki", "--host", "127.0.0.1", "--port", "\(port)", "--ops-port", "\(opsPort)", "--admin-port", "\(adminPort)",
                "--crl-host", "127.0.0.1", "--crl-port", "\(crlPort)", "--contracts", Fixture.repository.appendingPathComponent("contracts").path,
            ], in: folder, logFile: folder + "/serve.log")
        defer { serve.terminate() }

        /// The CRL as a relying party fetches it: over HTTP, then read by OpenSSL.
        func fetch() async throws -> (status: Int, contentType: String, text: String) {
            let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(crlPort)/partner-ca.crl"), timeout: .seconds(5))
            let body = try await response.body.collect(upTo: 1 << 20)
            try Data(body.readableBytesView).write(to: URL(fileURLWithPath: folder + "/fetched.crl"))
            let text = try await openssl(in: folder, ["crl", "-inform", "DER", "-in", "fetched.crl", "-CAfile", "pki/partner-ca.crt", "-noout", "-text", "-verify"])
            return (Int(response.status.code), response.headers.first(name: "content-type") ?? "", text.output)
        }
        try await serve.until("jisr serve's CRL listener") { (try? await fetch())?.status == 200 }
        let first = try await fetch()
        #expect(first.contentType == "application/pkix-crl")
        #expect(first.text.contains("verify OK") && first.text.contains("No Revoked Certificates"), "\(first.text)")
        // The ops listener says when the published list lapses: 30 days from its signing.
        let metrics = try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(opsPort)/metrics"), timeout: .seconds(5))
        let exposition = String(buffer: try await metrics.body.collect(upTo: 4 << 20))
        let nextUpdate = exposition.split(separator: "\n").first { $0.hasPrefix("jisr_crl_next_update_timestamp_seconds ") }
            .flatMap { Double($0.split(separator: " ").last ?? "") }
        let days = try #require(nextUpdate).distance(to: Date().timeIntervalSince1970) / -86_400
        #expect(days > 29.9 && days <= 30, "the CRL lapses in \(days) days")
        let other = try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(crlPort)/metrics"), timeout: .seconds(5))
        #expect(other.status == .notFound, "the CRL listener serves the CRL and nothing else")

        // Revoked by a command on a machine without the CA's key (no PKI folder): the gateway, which holds the key,
        // signs and publishes the new list itself.
        let revoked = try await run(in: folder, jisr: ["cert", "revoke", fingerprint, "--reason", "superseded", "--pki", folder + "/elsewhere"])
        #expect(revoked.status == 0 && revoked.output.contains("no partner CA key"), "\(revoked.output)")
        try await serve.until("the published CRL lists the revoked certificate") { (try? await fetch())?.text.contains("Serial Number:") == true }
        let verified = try await verify(in: folder, crl: "fetched.crl")
        #expect(verified.status != 0 && verified.output.contains("certificate revoked"), "\(verified.output)")
    }
}
