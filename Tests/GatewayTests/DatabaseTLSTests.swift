import Foundation
import MessageLog
import Records
import Storage
import Testing

/// Jisr's connections to PostgreSQL over TLS, as between sites: a server that takes TLS only (`hostssl`), whose
/// certificate names `localhost` and chains to a CA of the test's own.
@Suite("PostgreSQL over TLS", .serialized, .enabled(if: Fixture.storeKind == .postgres, "a PostgreSQL server of the suite's own"))
struct DatabaseTLSTests {
    static let directory = NSTemporaryDirectory() + "jisr-pgtls-\(getpid())-\(UInt32.random(in: 0..<UInt32.max))"

    /// The server, started with `ssl = on` and a pg_hba that refuses every connection without TLS.
    static let server = Task { () throws -> LocalPostgres in
        let server = LocalPostgres(directory: directory, port: try await DatabaseOutageTests.freePort())
        try await DatabaseOutageTests.blocking { try server.start() }
        try await DatabaseOutageTests.blocking { try server.stop() }
        let tls = directory + "/tls"
        try FileManager.default.createDirectory(atPath: tls, withIntermediateDirectories: true)
        for (authority, name) in [("ca", "Jisr test database CA"), ("other-ca", "Another CA")] {
            try await openssl([
                "req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", "/CN=\(name)",
                "-keyout", "\(tls)/\(authority).key", "-out", "\(tls)/\(authority).crt",
            ])
        }
        try await openssl([
            "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=localhost",
            "-keyout", "\(directory)/data/server.key", "-out", "\(tls)/server.csr",
        ])
        try "subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n".write(toFile: "\(tls)/server.ext", atomically: true, encoding: .utf8)
        try await openssl([
            "x509", "-req", "-in", "\(tls)/server.csr", "-CA", "\(tls)/ca.crt", "-CAkey", "\(tls)/ca.key", "-CAcreateserial", "-days", "2",
            "-extfile", "\(tls)/server.ext", "-out", "\(directory)/data/server.crt",
        ])
        let settings = try String(contentsOfFile: "\(directory)/data/postgresql.conf", encoding: .utf8)
        try (settings + "\nssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n")
            .write(toFile: "\(directory)/data/postgresql.conf", atomically: true, encoding: .utf8)
        try "local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostnossl all all 127.0.0.1/32 reject\n"
            .write(toFile: "\(directory)/data/pg_hba.conf", atomically: true, encoding: .utf8)
        if geteuid() == 0 { _ = try await JisrCLI.runProgram("/bin/chown", ["-R", "postgres:postgres", directory + "/data"]) }
        _ = try await JisrCLI.runProgram("/bin/chmod", ["600", "\(directory)/data/server.key"])
        try await DatabaseOutageTests.blocking { try server.start() }
        // The gateway's own database: the CLI cases migrate `jisr`, and a fixture seeds only a store made for it.
        let created = try await JisrCLI.runProgram("/usr/bin/psql", ["-h", "127.0.0.1", "-p", String(server.port), "-U", "jisr", "-d", "postgres", "-c", "CREATE DATABASE gateway"])
        guard created.status == 0 else { throw FixtureError("CREATE DATABASE gateway: \(created.output)") }
        return server
    }

    // Kept for the life of the test process, like every fixture (its HTTP clients must not be deinitialised).
    static let fixture = Task {
        let url = try await Self.url(host: "localhost", database: "gateway", "sslmode=verify-full&sslrootcert=\(directory)/tls/ca.crt")
        return try await Fixture.make("pgtls", store: .postgres(try DatabaseURL(url)))
    }

    static func openssl(_ arguments: [String]) async throws {
        let (status, output) = try await JisrCLI.runProgram("/usr/bin/openssl", arguments)
        guard status == 0 else { throw FixtureError("openssl \(arguments.first ?? ""): \(output)") }
    }

    static func url(host: String, database: String = "jisr", _ query: String) async throws -> String {
        "postgres://jisr@\(host):\(try await server.value.port)/\(database)" + (query.isEmpty ? "" : "?" + query)
    }

    @Test("verify-full connects to the certificate's name; another name, another CA or no TLS at all is refused", arguments: [
        ("localhost", "sslmode=verify-full&sslrootcert=TLS/ca.crt", true, ""),
        ("127.0.0.1", "sslmode=verify-full&sslrootcert=TLS/ca.crt", false, "certificate"),
        ("127.0.0.1", "sslmode=verify-ca&sslrootcert=TLS/ca.crt", true, ""),
        ("localhost", "sslmode=verify-full&sslrootcert=TLS/other-ca.crt", false, "certificate"),
        ("localhost", "sslmode=require", false, "certificate"),
        ("localhost", "sslmode=disable", false, ""),
        ("localhost", "", false, ""),
    ])
    func modes(host: String, query: String, connects: Bool, says: String) async throws {
        _ = try await Self.server.value
        let url = try await Self.url(host: host, query.replacingOccurrences(of: "TLS/", with: Self.directory + "/tls/"))
        let (status, output) = try await JisrCLI.run(["migrate", "--database-url", url])
        #expect((status == 0) == connects, "\(url): \(output)")
        if !says.isEmpty { #expect(output.lowercased().contains(says), "\(url): \(output)") }
    }

    @Test("A mode that could fall back to no TLS, or a root certificate file that cannot be read, is refused before connecting", arguments: [
        ("sslmode=prefer", "allow and prefer would fall back"), ("sslmode=allow", "allow and prefer would fall back"),
        ("sslmode=verify-full&sslrootcert=/nonexistent/ca.crt", "cannot be read"), ("sslmode=disable&sslrootcert=TLS/ca.crt", "sslmode is disable"),
    ])
    func refusedModes(query: String, says: String) async throws {
        let url = try await Self.url(host: "localhost", query.replacingOccurrences(of: "TLS/", with: Self.directory + "/tls/"))
        let (status, output) = try await JisrCLI.run(["migrate", "--database-url", url])
        #expect(status != 0 && output.contains(says), "\(url): \(output)")
    }

    @Test("A gateway on a store reached with verify-full answers a lookup, logged")
    func gateway() async throws {
        let fixture = try await Self.fixture.value
        let reply = try await fixture.get("/v1/employment-records?nationalId=\(fixture.samples.nationalIds[0])", as: "LB-NSSF")
        #expect(reply.status == 200, "\(reply.text)")
        #expect(try await fixture.log().entry(messageId: try #require(reply.messageId)) != nil)
    }
}
