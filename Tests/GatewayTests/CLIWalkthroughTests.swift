import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import PKI
import Records
import Storage
import Testing

/// The README's onboarding walkthrough, command by command with the real `jisr` executable, against a
/// running gateway; the partner's queries go over real TLS with the certificate the walkthrough issued.
@Suite("README onboarding walkthrough", .serialized)
struct CLIWalkthroughTests {
    static let fixture = Task { try await Fixture.make("walkthrough") }

    func jisr(_ fixture: Fixture, _ arguments: [String]) async throws -> String {
        let result = try await JisrCLI.run(arguments + ["--database-url", fixture.databaseURL, "--contracts", Fixture.repository.appendingPathComponent("contracts").path])
        #expect(result.status == 0, "jisr \(arguments.joined(separator: " ")): \(result.output)")
        return result.output
    }

    @Test("CSR → partner add → pki sign-csr → resume → agreement grant → query; suspend, resume, cert revoke")
    func walkthrough() async throws {
        let fixture = try await Self.fixture.value
        let (csr, key) = try await OnboardingTests.csr(subject: "/C=JO/O=Ministry of Labour/CN=JO-MOL")
        let work = fixture.directory + "/walkthrough"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        try csr.write(toFile: work + "/jo-mol.csr", atomically: true, encoding: .utf8)

        _ = try await jisr(fixture, ["partner", "add", "--id", "JO-MOL", "--name-ar", "وزارة العمل الأردنية", "--name-en", "Ministry of Labour, Jordan", "--contact", "integration@mol.gov.jo"])
        let signed = try await jisr(fixture, ["pki", "sign-csr", "--partner", "JO-MOL", "--csr", work + "/jo-mol.csr", "--days", "365", "--out", work + "/jo-mol.crt", "--pki", fixture.directory + "/pki"])
        #expect(signed.contains("issued and registered JO-MOL"))
        _ = try await jisr(fixture, ["partner", "resume", "JO-MOL"])
        let granted = try await jisr(fixture, [
            "agreement", "grant", "--partner", "JO-MOL", "--contract", "establishment/1", "--operations", "query",
            "--purposes", "nssf-contribution-verification", "--fields", "all-except:nssfEmployerNumber",
            "--valid-from", "2026-01-01", "--valid-until", "2030-12-31", "--mou-ref", "MoU LB-JO 2026/7", "--rate-limit", "600/min",
        ])
        #expect(granted.contains("establishment/1"))

        let chain = try String(contentsOfFile: work + "/jo-mol.crt", encoding: .utf8)
        let jordan = try Fixture.httpClient(certificatePEM: chain, keyPEM: key, trusting: fixture.authority)
        let path = "/v1/establishments/\(try #require(fixture.samples.establishmentNumbers.first))"
        let onboarding = OnboardingTests()
        #expect(try await onboarding.nextReply(fixture, path, with: jordan).status == 200)

        _ = try await jisr(fixture, ["partner", "suspend", "JO-MOL"])
        #expect(try await onboarding.nextReply(fixture, path, with: jordan).problemType?.hasSuffix("/partner-not-active") == true)
        _ = try await jisr(fixture, ["partner", "resume", "JO-MOL"])
        #expect(try await onboarding.nextReply(fixture, path, with: jordan).status == 200)
        let shown = try await jisr(fixture, ["partner", "show", "JO-MOL"])
        let fingerprint = try #require(shown.firstMatch(of: /certificate ([0-9a-f]{64})/).map { String($0.1) })
        _ = try await jisr(fixture, ["cert", "revoke", fingerprint, "--reason", "key compromise"])
        #expect(try await onboarding.nextReply(fixture, path, with: jordan).problemType?.hasSuffix("/certificate-revoked") == true)
        try await jordan.shutdown()

        let verify = try await JisrCLI.run(["log", "verify", "--pki", fixture.directory + "/pki", "--database-url", fixture.databaseURL])
        #expect(verify.status == 0 && verify.output.contains("OK: "))
    }

    @Test("A partner with its own format: a broken mapping is refused with the file, the line and the reason; the good one is attached")
    func mappingAtOnboarding() async throws {
        let fixture = try await Self.fixture.value
        let folder = fixture.directory + "/iq-mapping"
        try? FileManager.default.removeItem(atPath: folder)
        try FileManager.default.copyItem(atPath: Fixture.repository.appendingPathComponent("mappings/iq-molsa").path, toPath: folder)
        let good = try String(contentsOfFile: folder + "/mapping.json", encoding: .utf8)
        let broken = good.replacingOccurrences(of: #""dateFormat": "dd/MM/yyyy""#, with: #""dateFormat": "dd/MM/yy""#)
        try broken.write(toFile: folder + "/broken.json", atomically: true, encoding: .utf8)
        let line = 1 + broken.components(separatedBy: "\n").firstIndex { $0.contains(#""dateFormat""#) }!
        let contracts = Fixture.repository.appendingPathComponent("contracts").path

        let refused = try await JisrCLI.run([
            "partner", "add", "--id", "IQ-MOLSA", "--name-ar", "وزارة العمل العراقية", "--name-en", "MOLSA Iraq", "--mapping", folder + "/broken.json",
            "--database-url", fixture.databaseURL, "--contracts", contracts,
        ])
        #expect(refused.status != 0)
        #expect(refused.output.contains("broken.json: the mapping is refused at line \(line): "), "\(refused.output)")
        #expect(refused.output.contains(#"date pattern "dd/MM/yy" has an unknown letter "y""#), "\(refused.output)")
        #expect(try await JisrCLI.run(["partner", "show", "IQ-MOLSA", "--database-url", fixture.databaseURL, "--contracts", contracts]).status != 0, "nothing registered")
        let unknown = try await JisrCLI.run([
            "partner", "add", "--id", "IQ-MOLSA", "--name-ar", "وزارة", "--name-en", "MOLSA", "--adapter", "telex", "--database-url", fixture.databaseURL, "--contracts", contracts,
        ])
        #expect(unknown.status != 0 && unknown.output.contains("there is no adapter telex"), "\(unknown.output)")

        let added = try await jisr(fixture, ["partner", "add", "--id", "IQ-MOLSA", "--name-ar", "وزارة العمل العراقية", "--name-en", "MOLSA Iraq", "--mapping", folder + "/mapping.json"])
        #expect(added.contains("with the mapping adapter"))
        let shown = try await jisr(fixture, ["partner", "show", "IQ-MOLSA"])
        #expect(shown.contains("adapter: mapping") && shown.contains("mapping sha256:"), "\(shown)")
        let back = try await jisr(fixture, ["partner", "set-adapter", "IQ-MOLSA", "--adapter", "standard-xml"])
        #expect(back.contains("now uses the standard-xml adapter"))
        let again = try await JisrCLI.run(["partner", "set-adapter", "IQ-MOLSA", "--mapping", folder + "/broken.json", "--database-url", fixture.databaseURL, "--contracts", contracts])
        #expect(again.status != 0 && again.output.contains("line \(line)"), "\(again.output)")
        #expect(try await jisr(fixture, ["partner", "show", "IQ-MOLSA"]).contains("adapter: standard-xml"), "a refused mapping changes nothing")
    }

    @Test("jisr administrator issue → the admin API answers its certificate; list; revoke → refused at once; a partner's certificate is refused")
    func administrators() async throws {
        let fixture = try await Self.fixture.value
        let issued = try await jisr(fixture, ["administrator", "issue", "ops-2", "--pki", fixture.directory])
        #expect(issued.contains("admins/ops-2.crt"), "\(issued)")
        let certificate = try String(contentsOfFile: fixture.directory + "/admins/ops-2.crt", encoding: .utf8)
        let key = fixture.directory + "/admins/ops-2.key"
        #expect(try FileManager.default.attributesOfItem(atPath: key)[.posixPermissions] as? Int == 0o600)
        let client = try Fixture.httpClient(certificatePEM: certificate, keyPEM: try String(contentsOfFile: key, encoding: .utf8), trusting: fixture.authority)
        func partners() async throws -> Reply {
            let response = try await client.execute(HTTPClientRequest(url: "https://localhost:\(fixture.adminPort)/admin/v1/partners"), timeout: .seconds(15))
            return Reply(status: Int(response.status.code), headers: response.headers, body: Array(buffer: try await response.body.collect(upTo: 1 << 20)))
        }
        #expect(try await partners().status == 200)
        let listed = try await jisr(fixture, ["administrator", "list"])
        let fingerprint = try #require(listed.split(separator: "\n").first { $0.contains("ops-2") }?.firstMatch(of: /^([0-9a-f]{64})/).map { String($0.1) })
        #expect(listed.contains("[active] ops-2"))
        _ = try await jisr(fixture, ["administrator", "revoke", fingerprint, "--reason", "left the ministry"])
        let refused = try await partners()
        #expect(refused.status == 403 && refused.problemType?.hasSuffix("/administrator-revoked") == true, "\(refused.text)")
        try await client.shutdown()
        #expect(try await jisr(fixture, ["administrator", "list"]).contains("[revoked (left the ministry)] ops-2"))

        let partnerCertificate = fixture.directory + "/walkthrough-partner.crt"
        try fixture.authority.issueClient(partnerID: "LB-X", organization: "X", country: "LB").certificatePEM.write(toFile: partnerCertificate, atomically: true, encoding: .utf8)
        let wrongCA = try await JisrCLI.run([
            "administrator", "add", "--cert", partnerCertificate, "--pki", fixture.directory, "--database-url", fixture.databaseURL,
            "--contracts", Fixture.repository.appendingPathComponent("contracts").path,
        ])
        #expect(wrongCA.status != 0 && wrongCA.output.contains("does not chain to the admin CA"), "\(wrongCA.output)")
    }

    @Test("CLI refusals name the problem and exit non-zero")
    func refusals() async throws {
        let fixture = try await Self.fixture.value
        let unknownField = try await JisrCLI.run([
            "agreement", "grant", "--partner", "LB-NSSF", "--contract", "employment-record/1", "--operations", "query",
            "--purposes", "nssf-contribution-verification", "--fields", "person.religion", "--valid-from", "2026-01-01", "--valid-until", "2027-01-01",
            "--mou-ref", "M", "--database-url", fixture.databaseURL, "--contracts", Fixture.repository.appendingPathComponent("contracts").path,
        ])
        #expect(unknownField.status != 0)
        #expect(unknownField.output.contains("employment-record/1 has no field person.religion"))
        let misspelt = try await JisrCLI.run([
            "agreement", "grant", "--partner", "LB-NSSF", "--contract", "employment-record/1", "--operations", "query",
            "--purposes", "nssf-contribution-verificaton", "--fields", "person.nationalty", "--valid-from", "2026-01-01", "--valid-until", "2027-01-01",
            "--mou-ref", "M", "--database-url", fixture.databaseURL, "--contracts", Fixture.repository.appendingPathComponent("contracts").path,
        ])
        #expect(misspelt.status == 1 && misspelt.output.contains("did you mean person.nationality?"), "\(misspelt.output)")
        let inverted = try await JisrCLI.run([
            "agreement", "grant", "--partner", "LB-NSSF", "--contract", "employment-record/1", "--operations", "query",
            "--purposes", "nssf-contribution-verification", "--fields", "all", "--valid-from", "2027-01-01", "--valid-until", "2026-01-01",
            "--mou-ref", "M", "--database-url", fixture.databaseURL, "--contracts", Fixture.repository.appendingPathComponent("contracts").path,
        ])
        #expect(inverted.status != 0)
        #expect(inverted.output.contains("inverted"))
        let duplicate = try await JisrCLI.run(["partner", "add", "--id", "LB-NSSF", "--name-ar", "x", "--name-en", "x", "--database-url", fixture.databaseURL])
        #expect(duplicate.status != 0 && duplicate.output.contains("already exists"))
        // A refusal is not a usage error: no usage text after it. A missing trust for verification neither.
        let untrusted = try await JisrCLI.run(["log", "verify", "--pki", fixture.directory + "/no-such-pki", "--database-url", fixture.databaseURL])
        for refusal in [unknownField, inverted, duplicate, untrusted] {
            #expect(refusal.status == 1 && refusal.output.contains("Error: ") && !refusal.output.contains("Usage:"), "\(refusal.output)")
        }
        // A real usage error still shows how the command is used.
        let usage = try await JisrCLI.run(["seed", "--database-url", fixture.databaseURL])
        #expect(usage.status != 0 && usage.output.contains("Usage:") && usage.output.contains("--persons"), "\(usage.output)")
    }

    @Test("jisr store copy moves a live gateway's store to the other kind: progress, the same chain head, a non-empty target refused unless --replace")
    func storeCopy() async throws {
        let fixture = try await Self.fixture.value
        _ = try await fixture.get("/v1/contracts", as: "LB-NSSF")
        let other: SQLDialect = Fixture.storeKind == .postgres ? .sqlite : .postgres
        let name = "jisr_copy_\(getpid())_\(UInt32.random(in: 0..<UInt32.max))"
        let target = try await Fixture.freshStore(name, directory: fixture.directory + "/" + name, kind: other).description
        let copied = try await JisrCLI.run(["store", "copy", "--from", fixture.databaseURL, "--to", target])
        #expect(copied.status == 0, "\(copied.output)")
        #expect(copied.output.contains("message_log: "), "progress per table")
        let head = try #require(copied.output.firstMatch(of: /log verified on the target: ([0-9]+) entries, chain head ([0-9a-f]{64})/), "\(copied.output)")
        let verified = try await JisrCLI.run(["log", "verify", "--pki", fixture.directory + "/pki", "--database-url", target])
        #expect(verified.status == 0 && verified.output.contains(String(head.2)), "\(verified.output)")
        let again = try await JisrCLI.run(["store", "copy", "--from", fixture.databaseURL, "--to", target])
        #expect(again.status != 0 && again.output.contains("not empty"), "\(again.output)")
        #expect(try await JisrCLI.run(["store", "copy", "--from", fixture.databaseURL, "--to", target, "--replace"]).status == 0)
    }

    @Test("A command run in an empty folder without --database-url makes no store and says what to do")
    func noStoreIsMadeByAReader() async throws {
        let folder = NSTemporaryDirectory() + "jisr-empty-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        for command in ["relay status", "partner list", "log verify --signing-key \(String(repeating: "ab", count: 32))"] {
            let run = try await JisrCLI.runProgram("/bin/sh", ["-c", "cd '\(folder)' && env -u JISR_DATABASE_URL '\(try JisrCLI.binary())' \(command)"])
            #expect(run.status == 1 && run.output.contains("there is no store at") && run.output.contains("--database-url"), "\(command): \(run.output)")
            #expect(!run.output.contains("no such table") && !run.output.contains("Usage:"), "\(run.output)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder).isEmpty, "nothing was created")
    }

    @Test("Without --database-url the CLI uses the embedded store in the current folder and says so; migrating twice changes nothing")
    func embeddedDefault() async throws {
        let folder = NSTemporaryDirectory() + "jisr-default-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let migrate = "cd '\(folder)' && env -u JISR_DATABASE_URL '\(try JisrCLI.binary())' migrate"
        let first = try await JisrCLI.runProgram("/bin/sh", ["-c", migrate])
        #expect(first.status == 0, "\(first.output)")
        #expect(first.output.contains("using the embedded store sqlite:\(folder)/jisr.sqlite"), "\(first.output)")
        #expect(first.output.contains("applied message-log/1"))
        #expect(FileManager.default.fileExists(atPath: folder + "/jisr.sqlite") && FileManager.default.fileExists(atPath: folder + "/jisr-ministry.sqlite"))
        let second = try await JisrCLI.runProgram("/bin/sh", ["-c", migrate])
        #expect(second.status == 0 && second.output.contains("schema is up to date"), "\(second.output)")
    }

    @Test("jisr serve --no-migrate refuses a store that lacks migrations, naming jisr migrate; nothing is created in it")
    func serveWithoutMigrating() async throws {
        let fixture = try await Self.fixture.value
        let folder = fixture.directory + "/unmigrated-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let directory = fixture.directory
        // The server's own log lines are silenced: written from other threads, they could land inside the refusal.
        let arguments = [
            "serve", "--no-migrate", "--host", "127.0.0.1", "--port", "0", "--ops-port", "0", "--admin-port", "0", "--pki", directory + "/no-pki",
            "--server-cert", directory + "/server.crt", "--server-key", directory + "/server.key", "--partner-ca", directory + "/ca.crt",
            "--subject-key", directory + "/subject.key", "--contracts", Fixture.repository.appendingPathComponent("contracts").path,
            "--database-url", "sqlite:\(folder)/jisr.sqlite",
        ]
        let command = "JISR_LOG_LEVEL=critical exec '\(try JisrCLI.binary())' " + arguments.map { "'\($0)'" }.joined(separator: " ")
        let serve = try await JisrCLI.runProgram("/bin/sh", ["-c", command])
        #expect(serve.status != 0)
        #expect(serve.output.contains("run `jisr migrate` first"), "\(serve.output)")
    }
}
