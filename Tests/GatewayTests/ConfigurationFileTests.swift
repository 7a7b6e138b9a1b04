import AsyncHTTPClient
import Foundation
import Gateway
import NIOCore
import NIOHTTP1
import PKI
import Storage
import Testing

/// `jisr serve --config FILE` and `jisr config check FILE`: one YAML file holds every setting, the environment
/// overrides it, the command line overrides both; a bad file is refused by key; SIGHUP applies what can change safely.
@Suite("Configuration file", .serialized)
struct ConfigurationFileTests {
    static let fixture = Task { try await Fixture.make("configfile", serving: false) }
    static let example = Fixture.repository.appendingPathComponent("deploy/jisr.yml").path

    /// `jisr ARGUMENTS` with `environment` added to this process's.
    func jisr(_ arguments: [String], environment: [String: String] = [:]) async throws -> (status: Int32, output: String) {
        try await JisrCLI.runProgram("/usr/bin/env", environment.map { "\($0.key)=\($0.value)" } + [try JisrCLI.binary()] + arguments)
    }

    @Test("The example deploy/jisr.yml sets every setting of serve; config check prints each with where it came from, the environment winning, no password")
    func exampleChecks() async throws {
        let fixture = try await Self.fixture.value
        let passwordFile = fixture.directory + "/database-password"
        try "not-printed-anywhere\n".write(toFile: passwordFile, atomically: true, encoding: .utf8)
        // A secret others can read is refused before anything else.
        let (exposed, exposedOutput) = try await jisr(["config", "check", Self.example], environment: ["JISR_DATABASE_PASSWORD_FILE": passwordFile])
        #expect(exposed == 1 && exposedOutput.contains("database.passwordFile") && exposedOutput.contains("readable by others"), "\(exposedOutput)")
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: passwordFile)
        let (status, output) = try await jisr(
            ["config", "check", Self.example],
            environment: ["JISR_DATABASE_PASSWORD_FILE": passwordFile, "JISR_EXCHANGE_PORT": "9444", "JISR_DATABASE_URL": "postgres://jisr:hunter2@db.internal:5432/jisr"])
        // Not on this machine: the files the example names under /etc/jisr. Every one of them is named, in one run.
        #expect(status == 1, "\(output)")
        for path in [
            "/etc/jisr/pki/server.crt", "/etc/jisr/pki/server.key", "/etc/jisr/pki/partner-ca.crt", "/etc/jisr/pki/partner-ca.key",
            "/etc/jisr/pki/subject.key", "/etc/jisr/pki/admin-ca.crt", "/etc/jisr/pki/relay-client.crt", "/etc/jisr/pki/log-signing.key",
        ] {
            #expect(output.contains("REFUSED: \(path): ") && output.contains("no such file"), "\(path) is named: \(output)")
        }
        #expect(output.contains("so the relay is off") && output.contains("so the log is not sealed"), "parts off for a missing file are said: \(output)")
        let lines = output.split(separator: "\n").map(String.init)
        let settings = lines.filter { $0.hasPrefix("  ") }
        #expect(settings.count >= 44, "every setting listed: \(settings.count)")
        #expect(settings.filter { !$0.contains("(file") && !$0.contains("(environment") }.isEmpty, "the example sets every key: \(settings.filter { $0.contains("(default") })")
        #expect(lines.contains { $0.contains("exchange.port") && $0.contains("9444") && $0.contains("environment JISR_EXCHANGE_PORT") })
        #expect(lines.contains { $0.contains("database.url") && $0.contains("postgres://jisr@db.internal:5432/jisr") })
        #expect(!output.contains("hunter2") && !output.contains("not-printed-anywhere"), "no secret in the output")
        #expect(lines.contains { $0.contains("log.level") && $0.contains("SIGHUP reloads it") })
    }

    @Test("A misspelt key, a value of the wrong type, a password in the file's URL and a missing file are refused, naming the key")
    func badFilesRefused() async throws {
        let fixture = try await Self.fixture.value
        let cases: [(String, String)] = [
            ("exchange:\n  prot: 8443\n", "unknown key exchange.prot (did you mean exchange.port?)"),
            ("relay:\n  attempts: many\n", "relay.attempts (from the file): expected a whole number"),
            ("tls:\n  partnerCAs: /one/file.crt\n", "tls.partnerCAs (from the file): expected a list of paths"),
            ("database:\n  url: postgres://jisr:secret@db/jisr\n", "database.url (from the file): holds a password"),
            ("relay:\n  leaseSeconds: 5\n  timeoutSeconds: 10\n", "relay.leaseSeconds (5) must be longer than relay.timeoutSeconds (10)"),
            ("timestamping:\n  policy: sometimes\n", "timestamping.policy: continue or refuse"),
            ("- a list\n", "expected a mapping of settings at the top"),
        ]
        for (index, (text, message)) in cases.enumerated() {
            let file = fixture.directory + "/bad-\(index).yml"
            try text.write(toFile: file, atomically: true, encoding: .utf8)
            let (status, output) = try await jisr(["config", "check", file])
            #expect(status == 1 && output.contains("REFUSED") && output.contains(message), "\(text): \(output)")
            // serve refuses the same file, before it touches anything.
            let (served, serveOutput) = try await jisr(["serve", "--config", file])
            #expect(served != 0 && serveOutput.contains(message), "serve --config with \(text): \(serveOutput)")
        }
        let (status, output) = try await jisr(["config", "check", fixture.directory + "/no-such.yml"])
        #expect(status == 1 && output.contains("no-such.yml: cannot be read"), "\(output)")
        // A wrong type in the environment is named by its variable.
        let file = fixture.directory + "/empty.yml"
        try "log:\n  level: info\n".write(toFile: file, atomically: true, encoding: .utf8)
        let (envStatus, envOutput) = try await jisr(["config", "check", file], environment: ["JISR_RELAY_CONCURRENCY": "lots"])
        #expect(envStatus == 1 && envOutput.contains("relay.concurrency (from the environment JISR_RELAY_CONCURRENCY): expected a whole number"), "\(envOutput)")
    }

    @Test("serve --config: the file's settings in force, the environment over the file, the command line over both; SIGHUP applies a new rate limit, and names what needs a restart")
    func serveAndReload() async throws {
        let fixture = try await Self.fixture.value
        let directory = fixture.directory
        let (filePort, environmentPort) = (try PrometheusServer.freePort(), try PrometheusServer.freePort())
        let collectorPort = try PrometheusServer.freePort()  // nobody there: the spans are lost, the trace ids are logged
        let file = directory + "/jisr.yml"
        func write(refusedLimit: Int, level: String, exchangePort: Int) throws {
            try """
                exchange:
                  host: 127.0.0.1
                  port: \(exchangePort)
                  refusedCertificateRateLimit: \(refusedLimit)
                ops:
                  port: \(filePort)
                admin:
                  port: 0
                  cas: [\(directory)/admin-ca.crt]
                pki:
                  dir: \(directory)/no-pki
                tls:
                  serverCertificate: \(directory)/server.crt
                  serverKey: \(directory)/server.key
                  partnerCAs: [\(directory)/ca.crt]
                keys:
                  subject: \(directory)/subject.key
                database:
                  url: \(fixture.configuration.database.description)
                contracts:
                  dir: \(Fixture.repository.appendingPathComponent("contracts").path)
                relay:
                  enabled: false
                tracing:
                  endpoint: http://127.0.0.1:\(collectorPort)/v1/traces
                log:
                  level: \(level)
                  format: json
                """.write(toFile: file, atomically: true, encoding: .utf8)
        }
        let exchangePort = try PrometheusServer.freePort()
        try write(refusedLimit: 60, level: "info", exchangePort: exchangePort)
        // The environment names another ops port than the file; the command line another admin port than both.
        let adminPort = try PrometheusServer.freePort()
        let serve = try BackgroundProcess(
            "/usr/bin/env", ["JISR_OPS_PORT=\(environmentPort)", "JISR_ADMIN_PORT=1", try JisrCLI.binary(), "serve", "--config", file, "--admin-port", "\(adminPort)"],
            logFile: directory + "/serve-config.log")
        defer { serve.terminate() }
        func log() -> String { serve.log }
        try await serve.until("jisr serve --config listening") { log().contains("exchange listener on 127.0.0.1:\(exchangePort)") }
        let ready = try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(environmentPort)/health/ready"), timeout: .seconds(10))
        #expect(ready.status == .ok, "the ops listener on the environment's port, not the file's")
        #expect(log().contains("\"message\":\"Server started and listening on 127.0.0.1:\(adminPort)\""), "the admin listener on the command line's port, as JSON lines: \(log())")

        // A certificate of the partner CA that no partner holds: every request is a refusal, 60 a minute allowed.
        let stranger = try fixture.authority.issueClient(partnerID: "XX-NOBODY", organization: "Nobody", country: "LB")
        let client = try Fixture.httpClient(certificatePEM: stranger.certificatePEM, keyPEM: stranger.privateKeyPEM, trusting: fixture.authority)
        func status() async throws -> Int {
            var request = HTTPClientRequest(url: "https://localhost:\(exchangePort)/v1/contracts")
            request.headers.add(name: "X-Purpose", value: "nssf-contribution-verification")
            let response = try await client.execute(request, timeout: .seconds(15))
            _ = try await response.body.collect(upTo: 1 << 20)
            return Int(response.status.code)
        }
        #expect(try await status() == 403)
        #expect(try await status() == 403, "the second refusal within the minute is within the limit of 60")

        // SIGHUP: one refusal a minute from now on, debug lines; a new exchange port needs a restart.
        try write(refusedLimit: 1, level: "debug", exchangePort: exchangePort + 1)
        kill(serve.processIdentifier, SIGHUP)
        try await Fixture.until("the configuration reloaded") { log().contains("configuration reloaded") }
        #expect(log().contains("\"jisr.applied\":\"exchange.refusedCertificateRateLimit,log.level\""), "\(log())")
        #expect(log().contains("\"jisr.keys\":\"exchange.port\""), "the port needs a restart: \(log())")
        // What waits for a restart is not recorded as in force: the next reload names it again.
        func count(_ text: String) -> Int { log().components(separatedBy: text).count - 1 }
        let reloads = count("configuration reloaded")
        kill(serve.processIdentifier, SIGHUP)
        try await Fixture.until("the configuration reloaded again") { count("configuration reloaded") > reloads }
        #expect(count("\"jisr.keys\":\"exchange.port\"") == 2, "the port change is still pending: \(log())")
        #expect(log().contains("\"jisr.applied\":\"\""), "nothing new applied the second time: \(log())")
        // A changed limit starts its bucket afresh: one more request passes the limit check, the next is refused.
        #expect(try await status() == 403)
        #expect(try await status() == 429, "past the reloaded limit of one a minute")
        // log.format json: every log line one JSON object with the time, level and message, metadata under its keys.
        let lines = log().split(separator: "\n").filter { $0.hasPrefix("{") }
        #expect(lines.count >= 4)
        var exchanges: [[String: String]] = []
        for line in lines {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String]
            #expect(object?["time"]?.hasSuffix("Z") == true && object?["level"] != nil && object?["message"] != nil, "\(line)")
            if let object, object["message"] == "exchange" { exchanges.append(object) }
        }
        // At debug (since the reload) a line per logged exchange: its message id, and its trace id (tracing is on).
        #expect(!exchanges.isEmpty, "\(log())")
        for line in exchanges {
            #expect(line["jisr.message_id"]?.count == 36 && line["jisr.trace_id"]?.count == 32, "\(line)")
        }
        try await client.shutdown()
    }
}
