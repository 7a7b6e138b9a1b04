import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Why the private PostgreSQL cluster could not be started; names the step and where its log is.
public struct LocalPostgresError: Error, Sendable, CustomStringConvertible {
    public let step: String
    public let detail: String
    public var description: String { "local PostgreSQL: \(step) failed: \(detail)" }
}

/// A private PostgreSQL cluster in a folder, on loopback only: the demo's store when no URL is given.
///
/// Uses Debian's `initdb` and `pg_ctl`. PostgreSQL refuses to run as root, so as root the cluster belongs
/// to the `postgres` system user and the tools run through `runuser`.
public struct LocalPostgres: Sendable {
    public let directory: String
    public let port: Int

    public init(directory: String, port: Int = 54329) {
        self.directory = directory
        self.port = port
    }

    var dataDirectory: String { directory + "/data" }
    var socketDirectory: String { directory + "/socket" }
    var logFile: String { directory + "/postgres.log" }

    /// The URL of the `jisr` database in this cluster.
    public var url: DatabaseURL {
        get throws { try DatabaseURL("postgres://jisr@127.0.0.1:\(port)/jisr") }
    }

    /// Creates the cluster if needed and starts it; returns once it accepts connections.
    public func start() throws {
        let manager = FileManager.default
        try manager.createDirectory(atPath: socketDirectory, withIntermediateDirectories: true)
        let asRoot = geteuid() == 0
        if asRoot { try run("chown", ["-R", "postgres:postgres", directory], step: "chown") }
        if !manager.fileExists(atPath: dataDirectory + "/PG_VERSION") {
            try run(try Self.tool("initdb"), ["-D", dataDirectory, "-U", "jisr", "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8"], asPostgres: asRoot, step: "initdb")
        }
        if (try? run(try Self.tool("pg_ctl"), ["-D", dataDirectory, "status"], asPostgres: asRoot, step: "status")) == nil {
            try run(
                try Self.tool("pg_ctl"),
                ["-D", dataDirectory, "-l", logFile, "-w", "-t", "60", "-o", "-p \(port) -k \(socketDirectory) -c listen_addresses=127.0.0.1", "start"],
                asPostgres: asRoot, step: "pg_ctl start (see \(logFile))")
        }
        let exists = try capture(try Self.tool("psql"), ["-h", "127.0.0.1", "-p", String(port), "-U", "jisr", "-d", "postgres", "-tAc", "SELECT 1 FROM pg_database WHERE datname = 'jisr'"])
        if exists.trimmingCharacters(in: .whitespacesAndNewlines) != "1" {
            try run(try Self.tool("createdb"), ["-h", "127.0.0.1", "-p", String(port), "-U", "jisr", "jisr"], step: "createdb")
        }
    }

    /// Stops the cluster (fast shutdown: sessions are ended, committed data is kept).
    public func stop() throws {
        try run(try Self.tool("pg_ctl"), ["-D", dataDirectory, "-m", "fast", "-w", "stop"], asPostgres: geteuid() == 0, step: "pg_ctl stop")
    }

    /// Finds a PostgreSQL program: `JISR_PG_BIN`, then Debian's versioned folders, then `PATH`.
    static func tool(_ name: String) throws -> String {
        var folders: [String] = []
        if let configured = ProcessInfo.processInfo.environment["JISR_PG_BIN"] { folders.append(configured) }
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        folders += versions.sorted { (Int($0) ?? 0) > (Int($1) ?? 0) }.map { "/usr/lib/postgresql/\($0)/bin" }
        folders += (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
        for folder in folders where FileManager.default.isExecutableFile(atPath: "\(folder)/\(name)") { return "\(folder)/\(name)" }
        throw LocalPostgresError(step: name, detail: "not found; install Debian's postgresql package (apt-get install postgresql)")
    }

    @discardableResult
    private func run(_ program: String, _ arguments: [String], asPostgres: Bool = false, step: String) throws -> String {
        let (status, output) = try execute(asPostgres ? "/usr/sbin/runuser" : program, asPostgres ? ["-u", "postgres", "--", program] + arguments : arguments)
        guard status == 0 else { throw LocalPostgresError(step: step, detail: output.suffix(400).trimmingCharacters(in: .whitespacesAndNewlines)) }
        return output
    }

    private func capture(_ program: String, _ arguments: [String]) throws -> String {
        try execute(program, arguments).1
    }

    private func execute(_ program: String, _ arguments: [String]) throws -> (Int32, String) {
        do { return try ChildProcess.run(program, arguments) } catch { throw LocalPostgresError(step: program, detail: "\(error)") }
    }
}
