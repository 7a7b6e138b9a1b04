import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Storage
import Testing

/// `jisr` run as an installed program, away from any checkout: the executable in `PREFIX/bin`, the contracts,
/// OpenAPI documents and mappings in `PREFIX/share/jisr` (the package's layout), every command from an empty folder.
@Suite(
    "Installed layout", .serialized,
    .enabled(if: Fixture.storeKind == .postgres, "the commands keep their own embedded store whatever the pass: run once"))
struct InstalledLayoutTests {
    /// A prefix holding a copy of the built executable and, unless `share` is false, the shared files.
    func install(share: Bool) throws -> (prefix: String, jisr: String, empty: String) {
        let root = NSTemporaryDirectory() + "jisr-installed-\(UUID().uuidString.prefix(8))"
        let manager = FileManager.default
        try manager.createDirectory(atPath: root + "/usr/bin", withIntermediateDirectories: true)
        try manager.createDirectory(atPath: root + "/work", withIntermediateDirectories: true)
        // Copied by cp, not in this process: a child that another test spawns meanwhile would inherit the copy's open
        // descriptor, and exec of the new file would fail with "Text file busy" until that child execs in turn.
        let (copied, output) = try ChildProcess.run("/bin/cp", [try JisrCLI.binary(), root + "/usr/bin/jisr"])
        guard copied == 0 else { throw FixtureError("cp: \(output)") }
        if share {
            try manager.createDirectory(atPath: root + "/usr/share/jisr", withIntermediateDirectories: true)
            for folder in ["contracts", "openapi", "mappings"] {
                try manager.copyItem(atPath: Fixture.repository.appendingPathComponent(folder).path, toPath: root + "/usr/share/jisr/" + folder)
            }
        }
        return (root, root + "/usr/bin/jisr", root + "/work")
    }

    /// `jisr ARGUMENTS` in `folder`, through a shell so that the working folder is the empty one.
    func run(_ jisr: String, in folder: String, _ arguments: [String]) async throws -> (status: Int32, output: String) {
        try await JisrCLI.runProgram("/bin/sh", ["-c", "cd \"$0\" && exec \"$@\"", folder, jisr] + arguments)
    }

    @Test("From an empty folder, the installed jisr finds its shared files: pki init, migrate, partner add, serve")
    func commandsFromAnywhere() async throws {
        let (prefix, jisr, work) = try install(share: true)
        defer { try? FileManager.default.removeItem(atPath: prefix) }
        let initialised = try await run(jisr, in: work, ["pki", "init", "--dir", "pki"])
        #expect(initialised.status == 0, "\(initialised.output)")
        let migrated = try await run(jisr, in: work, ["migrate"])
        #expect(migrated.status == 0 && migrated.output.contains("applied"), "\(migrated.output)")
        let added = try await run(jisr, in: work, ["partner", "add", "--id", "JO-MOL", "--name-ar", "الأردن", "--name-en", "Jordan MoL"])
        #expect(added.status == 0, "\(added.output)")

        let (port, opsPort, adminPort) = (try PrometheusServer.freePort(), try PrometheusServer.freePort(), try PrometheusServer.freePort())
        let serve = try BackgroundProcess(
            jisr, ["serve", "--pki", "pki", "--host", "127.0.0.1", "--port", "\(port)", "--ops-port", "\(opsPort)", "--admin-port", "\(adminPort)", "--crl-port", "0"],
            in: work, logFile: prefix + "/serve.log")
        defer { serve.terminate() }
        try await serve.until("the installed jisr serving") {
            let ready = try? await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(opsPort)/health/ready"), timeout: .seconds(2))
            return ready?.status == .ok
        }
        // Serving means it read the contracts and the OpenAPI documents it answers /v1/contracts and the schemas with.
        #expect(serve.log.contains("exchange listener on 127.0.0.1:\(port)"), "\(serve.log)")
    }

    @Test("Without its shared files the installed jisr says where it looked")
    func missingSharedFiles() async throws {
        let (prefix, jisr, work) = try install(share: false)
        defer { try? FileManager.default.removeItem(atPath: prefix) }
        // A store first (a command pointed at none says so before anything else), then a command that needs the contracts.
        let migrated = try await run(jisr, in: work, ["migrate"])
        #expect(migrated.status == 0, "\(migrated.output)")
        let (status, output) = try await run(jisr, in: work, ["partner", "add", "--id", "JO-MOL", "--name-ar", "الأردن", "--name-en", "Jordan MoL"])
        #expect(status != 0)
        #expect(output.contains("cannot find the contracts folder") && output.contains(prefix + "/usr/share/jisr/contracts") && output.contains("/usr/share/jisr/contracts"),
                "\(output)")
    }
}
