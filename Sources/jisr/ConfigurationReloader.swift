import Configuration
import Gateway
import Logging
import ServiceLifecycle
import Synchronization
import UnixSignals

/// SIGHUP (`systemctl reload jisr`): reads the configuration again and applies what can change safely while the
/// gateway runs — the log level, rate limits, the TSA's URL, the relay's attempts, maximum age and backoff. A changed
/// setting that needs a restart is logged by key, and the gateway keeps running as it was; a file that no longer
/// checks is logged and changes nothing.
final class ConfigurationReloader: Service, Sendable {
    let file: String?
    let commandLine: [String: ConfigValue]
    let gateway: Gateway
    /// The settings in force, by key, as `jisr config check` prints them.
    let current: Mutex<[String: String]>
    let logger: Logger

    init(file: String?, commandLine: [String: ConfigValue], settings: ServeSettings, gateway: Gateway, logger: Logger) {
        self.file = file
        self.commandLine = commandLine
        self.gateway = gateway
        self.current = Mutex(Self.values(settings))
        self.logger = logger
    }

    func run() async throws {
        for await _ in await UnixSignalsSequence(trapping: .sighup).cancelOnGracefulShutdown() {
            await reload()
        }
    }

    static func values(_ settings: ServeSettings) -> [String: String] {
        Dictionary(uniqueKeysWithValues: settings.effective.map { ($0.setting.key, $0.value) })
    }

    func reload() async {
        let fresh: ServeSettings
        do { fresh = try ServeSettings(try await ServeSettingsSource.load(file: file, commandLine: commandLine)) } catch {
            logger.error("configuration reload refused; nothing changed", metadata: ["jisr.reason": "\(error)"])
            return
        }
        let previous = current.withLock { $0 }
        let changed = fresh.effective.filter { previous[$0.setting.key] != $0.value }
        if let level = Logger.Level(rawValue: fresh.logLevel) { Console.level.value = level }
        // What the running gateway could not take (e.g. a TSA URL without a TSA client) is not applied, whatever the
        // setting says of itself.
        let refused = gateway.retune(fresh.configuration)
        let needsRestart = changed.map(\.setting.key).filter { key in
            !(changed.first { $0.setting.key == key }?.setting.reloadable ?? false) || refused.contains { key.hasPrefix($0) }
        }
        let applied = changed.map(\.setting.key).filter { !needsRestart.contains($0) }
        // Only what was applied becomes the running value: a change that waits for a restart is reported again at the
        // next reload, and never recorded as in force.
        current.withLock { running in
            for key in applied { running[key] = Self.values(fresh)[key] }
        }
        logger.notice(
            "configuration reloaded", metadata: ["jisr.applied": "\(applied.joined(separator: ","))", "jisr.unchanged_until_restart": "\(needsRestart.joined(separator: ","))"])
        if !needsRestart.isEmpty {
            logger.warning("configuration changes that need a restart; the gateway runs as before", metadata: ["jisr.keys": "\(needsRestart.joined(separator: ","))"])
        }
    }
}
