import Administration
import ArgumentParser
import Foundation
import Gateway
import MessageLog
import PKI
import Records
import Transparency

/// `jisr access-report`: a person's report of every exchange about them, as a clerk makes it for someone who asks.
struct AccessReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "access-report",
        abstract: "A person's report of every exchange about them: who received what, when, why and under which MoU, each with its receipt.")

    @OptionGroup var person: PersonOptions
    @Option(help: "First day covered (YYYY-MM-DD, Beirut time; default: the start of the log).") var from: String?
    @Option(help: "Last day covered, inclusive (default: today).") var to: String?
    @Option(help: "Where to write the report (JSON).") var out: String
    @OptionGroup var pkiOptions: PKIOptions
    @OptionGroup var options: AdminOptions

    func run() async throws {
        let key = try person.key()
        let (start, end) = (try from.map { try Self.day($0, option: "--from") }, try to.map { try Self.day($0, option: "--to").addingTimeInterval(86_400) })
        if let start, let end, start >= end { throw ValidationError("--from is after --to") }
        let referencer = SubjectReferencer(key: try SubjectKeyFile.read(pkiOptions.directory.subjectKey))
        let report = try await options.run { admin, actor in try await admin.accessReport(for: key, from: start, until: end, referencer: referencer, by: actor) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try encoder.encode(report).write(to: URL(fileURLWithPath: out))
        print("\(report.rows.count) exchanges about \(report.subject.masked)\(report.subject.known ? "" : " (not in the ministry's records)") written to \(out)")
    }

    static func day(_ text: String, option: String) throws -> Date {
        guard let date = AccessReporter.day(parsing: text) else { throw ValidationError("\(option) must be a date (2026-01-31)") }
        return date
    }
}

/// Exactly one way of naming the person, each checked for its shape.
struct PersonOptions: ParsableArguments {
    @Option(help: "Lebanese national identity number (12 digits).") var nationalId: String?
    @Option(help: "Passport number (with --nationality).") var passport: String?
    @Option(help: "Nationality of the passport (ISO 3166-1 alpha-2).") var nationality: String?
    @Option(help: "NSSF number (10 digits).") var nssfNumber: String?

    func key() throws -> PersonKey {
        do { return try PersonKey(nationalId: nationalId, passport: passport, nationality: nationality, nssfNumber: nssfNumber) } catch let error as PersonKeyError {
            throw ValidationError(error.message)
        }
    }
}
