import Foundation

/// A program a test runs in the background as an operator would — `jisr serve`, `jisr demo` —, its output in a log
/// file the test reads while it runs.
///
/// Stopping is the test's to say (`defer { serve.terminate() }` or `await serve.stop()`): a stop in `deinit` could
/// come as soon as the test last names the object, before it is done with the program.
final class BackgroundProcess: @unchecked Sendable {
    let logFile: String
    private let process = Process()
    private let output: FileHandle
    private let exited = AsyncStream.makeStream(of: Int32.self)

    /// Starts `executable arguments` in `folder` (the test process's own by default), writing into `logFile`.
    init(_ executable: String, _ arguments: [String], in folder: String? = nil, logFile: String) throws {
        self.logFile = logFile
        _ = FileManager.default.createFile(atPath: logFile, contents: nil)
        output = try FileHandle(forWritingTo: URL(fileURLWithPath: logFile))
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let folder { process.currentDirectoryURL = URL(fileURLWithPath: folder) }
        process.standardOutput = output
        process.standardError = output
        let continuation = exited.continuation
        process.terminationHandler = { continuation.yield($0.terminationStatus) }
        try process.run()
    }

    /// `jisr arguments`, the built executable.
    static func jisr(_ arguments: [String], in folder: String? = nil, logFile: String) throws -> BackgroundProcess {
        try BackgroundProcess(try JisrCLI.binary(), arguments, in: folder, logFile: logFile)
    }

    deinit { try? output.close() }

    /// What the program has written so far.
    var log: String { (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? "" }

    var processIdentifier: Int32 { process.processIdentifier }

    /// Waits until `condition` holds; fails at once, with the log, when the program stops first.
    func until(_ what: String, limit: Duration = Fixture.eventLimit, _ condition: () async throws -> Bool) async throws {
        try await Fixture.until(what, limit: limit) {
            guard process.isRunning else { throw FixtureError("waiting for \(what), the program stopped (status \(process.terminationStatus)): \(log)") }
            return try await condition()
        }
    }

    /// SIGTERM, without waiting.
    func terminate() {
        if process.isRunning { process.terminate() }
    }

    /// SIGTERM, then its exit status, awaited without holding a thread of the concurrency pool.
    func stop() async -> Int32 {
        terminate()
        for await status in exited.stream { return status }
        return process.terminationStatus
    }
}
