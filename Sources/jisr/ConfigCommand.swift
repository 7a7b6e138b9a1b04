import ArgumentParser
import Foundation
import Gateway

/// `jisr config check FILE`: the configuration `jisr serve --config FILE` would run with, checked.
struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config", abstract: "Check a configuration file of `jisr serve`.", subcommands: [Check.self])

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate FILE and print the effective configuration: each key, its value and where it came from.",
            discussion: """
                The environment (JISR_…) is applied over the file, as `jisr serve` would. An unknown key, a value of the wrong \\
                type or out of range, or a file that cannot be read is refused, naming the key; then every file the \\
                configuration names is checked, and all that are missing, unreadable or (secrets) readable by others are \\
                listed in one run. Secrets are files: the \\
                output names them by path, and the database URL is printed without a password.
                """)

        @Argument(help: "The configuration file (YAML).") var file: String

        func run() async throws {
            let settings: ServeSettings
            do { settings = try ServeSettings(try await ServeSettingsSource.load(file: file, commandLine: [:])) } catch let error as SettingError {
                Console.say("REFUSED: \(error.description)")
                throw ExitCode(1)
            }
            // Every file it names, all problems in one run: a configuration is mended in one pass.
            let problems = settings.missingNamedFiles + settings.configuration.fileProblems()
            print(problems.isEmpty ? "OK: \(file)" : "REFUSED: \(file): \(Console.count(problems.count, "file", "files")) it names cannot be used (below)")
            let width = ServeSettingsTable.all.map(\.key.count).max() ?? 0
            for (setting, value, origin) in settings.effective {
                let padded = setting.key.padding(toLength: width, withPad: " ", startingAt: 0)
                print("  \(padded)  \(value)  (\(origin)\(setting.reloadable ? "; SIGHUP reloads it" : ""))")
            }
            for problem in problems { print("REFUSED: \(problem.description)") }
            if !problems.isEmpty { throw ExitCode(1) }
        }
    }
}
