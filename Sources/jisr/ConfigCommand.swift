import ArgumentParser
import Foundation

/// `jisr config check FILE`: the configuration `jisr serve --config FILE` would run with, checked.
struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config", abstract: "Check a configuration file of `jisr serve`.", subcommands: [Check.self])

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate FILE and print the effective configuration: each key, its value and where it came from.",
            discussion: """
                The environment (JISR_…) is applied over the file, as `jisr serve` would. An unknown key, a value of the wrong \\
                type or out of range, or a file that cannot be read is refused, naming the key. Secrets are files: the \\
                output names them by path, and the database URL is printed without a password.
                """)

        @Argument(help: "The configuration file (YAML).") var file: String

        func run() async throws {
            let settings: ServeSettings
            do { settings = try ServeSettings(try await ServeSettingsSource.load(file: file, commandLine: [:])) } catch let error as SettingError {
                Console.say("REFUSED: \(error.description)")
                throw ExitCode(1)
            }
            print("OK: \(file)")
            let width = ServeSettingsTable.all.map(\.key.count).max() ?? 0
            for (setting, value, origin) in settings.effective {
                let padded = setting.key.padding(toLength: width, withPad: " ", startingAt: 0)
                print("  \(padded)  \(value)  (\(origin)\(setting.reloadable ? "; SIGHUP reloads it" : ""))")
            }
        }
    }
}
