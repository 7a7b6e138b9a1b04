import Logging
import Synchronization

/// Everything a gateway logs, at every level down to trace, kept as the lines a stream handler would write (the
/// message, its metadata, source and place), for tests that read the server's own log.
final class CapturedLog: Sendable {
    private let lines = Mutex<[String]>([])

    /// A logger at trace level that writes here.
    var logger: Logger {
        var logger = Logger(label: "jisr-captured") { label in Handler(label: label, log: self) }
        logger.logLevel = .trace
        return logger
    }

    var text: String { lines.withLock { $0.joined(separator: "\n") } }

    func append(_ line: String) { lines.withLock { $0.append(line) } }

    struct Handler: LogHandler {
        let label: String
        let log: CapturedLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let merged = metadata.merging(event.metadata ?? [:]) { _, new in new }
            log.append("\(event.level) \(label): \(event.message) \(merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")) [\(event.source)] \(event.file):\(event.line) \(event.function)")
        }
    }
}
