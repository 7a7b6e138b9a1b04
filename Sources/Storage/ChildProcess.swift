import Foundation

/// Why a helper program could not be started.
public struct ChildProcessError: Error, Sendable, CustomStringConvertible {
    public let program: String
    public let errno: Int32
    public var description: String { "\(program) cannot start (errno \(errno))" }
}

/// Runs the helper programs Jisr drives (PostgreSQL's for the private cluster, OpenSSL's for the development TSA).
public enum ChildProcess {
    /// Runs a program to completion with posix_spawn and waitpid; Foundation's `Process.waitUntilExit`
    /// can wait forever when called from a concurrency thread on Linux. Returns the exit code and the
    /// combined output.
    public static func run(_ program: String, _ arguments: [String]) throws -> (Int32, String) {
        let path = program.hasPrefix("/") ? program : "/usr/bin/env"
        let argv = (program.hasPrefix("/") ? [program] : ["/usr/bin/env", program]) + arguments
        // Output goes to a file, not a pipe: the server that `pg_ctl start` leaves running would hold a pipe open.
        let outputPath = NSTemporaryDirectory() + "jisr-child-\(UUID().uuidString).out"
        defer { try? FileManager.default.removeItem(atPath: outputPath) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var cArguments = argv.map { strdup($0) } + [nil]
        defer { for argument in cArguments { free(argument) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, path, &actions, nil, &cArguments, environ)
        guard spawned == 0 else { throw ChildProcessError(program: program, errno: spawned) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        let data = FileManager.default.contents(atPath: outputPath) ?? Data()
        let exitCode: Int32 = (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
        return (exitCode, String(decoding: data, as: UTF8.self))
    }

    /// The same, off the concurrency pool: a blocking wait must not hold one of its few threads.
    public static func run(_ program: String, _ arguments: [String]) async throws -> (Int32, String) {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(with: Result { try run(program, arguments) }) }
        }
    }
}
