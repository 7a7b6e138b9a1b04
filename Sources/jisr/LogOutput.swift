import Foundation
import Logging
import Schemas
import Synchronization

/// The process's log level: one value every handler reads, so that SIGHUP can change it without a restart.
final class SharedLogLevel: Sendable {
    private let level: Mutex<Logger.Level>

    init(_ level: Logger.Level) { self.level = Mutex(level) }

    var value: Logger.Level {
        get { level.withLock { $0 } }
        set { level.withLock { $0 = newValue } }
    }
}

/// One JSON object per line on standard error, for a log collector (`log.format: json`): the time, level, label,
/// message and source, and the metadata under its stable keys (`jisr.message_id`, `jisr.partner`, …) as strings.
struct JSONLogHandler: LogHandler {
    let label: String
    let level: SharedLogLevel
    var metadataProvider: Logger.MetadataProvider?
    var metadata: Logger.Metadata = [:]

    var logLevel: Logger.Level {
        get { level.value }
        set { level.value = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    // A log line is written whole, by one write: lines of concurrent tasks never interleave.
    private static let lock = Mutex(())

    func log(event: LogEvent) {
        var fields: [String: String] = [
            "time": Self.timestamp(), "level": event.level.rawValue, "label": label, "message": "\(event.message)", "source": event.source,
        ]
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        for (key, value) in merged where fields[key] == nil { fields[key] = "\(value)" }
        let first = ["time", "level", "label", "message", "source"]
        let ordered = first + fields.keys.filter { !first.contains($0) }.sorted()
        let line = JSONWriter.string(.object(JSONObject(ordered.map { ($0, JSONValue.string(fields[$0] ?? "")) }))) + "\n"
        Self.lock.withLock { _ in FileHandle.standardError.write(Data(line.utf8)) }
    }

    /// UTC, to the millisecond: `2026-12-07T03:01:14.319Z`.
    static func timestamp() -> String {
        Date().formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }
}

/// swift-log's text handler, its level read from the shared one.
struct LevelledStreamHandler: LogHandler {
    var stream: StreamLogHandler
    let level: SharedLogLevel

    var logLevel: Logger.Level {
        get { level.value }
        set { level.value = newValue }
    }

    var metadata: Logger.Metadata {
        get { stream.metadata }
        set { stream.metadata = newValue }
    }

    var metadataProvider: Logger.MetadataProvider? {
        get { stream.metadataProvider }
        set { stream.metadataProvider = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { stream[metadataKey: key] }
        set { stream[metadataKey: key] = newValue }
    }

    func log(event: LogEvent) {
        stream.log(event: event)
    }
}
