import Administration
import ArgumentParser
import Foundation
import Gateway
import MessageLog
import PKI
import Records
import Transparency

/// `jisr access-report`: a person's report of every exchange about them, as a clerk makes it for someone who asks,
/// signed; `jisr access-report verify` checks one offline.
struct AccessReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "access-report",
        abstract: "A person's report of every exchange about them: who received what, when, why and under which MoU, each with its receipt.",
        subcommands: [Make.self, Verify.self, Withheld.self, AccessReportBench.self], defaultSubcommand: Make.self)

    struct Withheld: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "For an administrator: the person's exchanges their reports leave out for now (purposes with a disclosure delay), and until when.")
        @OptionGroup var person: PersonOptions
        @Option(help: "The subject-reference key (default: PKI/subject.key).") var subjectKey: String?
        @OptionGroup var pkiOptions: PKIOptions
        @OptionGroup var options: AdminOptions

        func run() async throws {
            let key = try person.key()
            let referencer = SubjectReferencer(key: try SubjectKeyFile.read(subjectKey ?? pkiOptions.directory.subjectKey))
            let withheld = try await options.run { admin, actor in try await admin.withheld(for: key, referencer: referencer, by: actor) }
            if withheld.isEmpty { print("nothing is withheld from this person's reports") }
            for row in withheld {
                print("seq \(row.seq) at \(row.at) \(row.partner ?? "-") purpose \(row.purpose ?? "-"): withheld until \(row.until)" + (row.legalBasis.map { " (\($0))" } ?? ""))
            }
        }
    }

    struct Make: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the report and its detached signature (JWS ES256 by the log-signing key).",
            discussion: """
                --format json (the default) writes FILE and FILE.jws; xml writes the access-report/1 XML (validated against its \
                XSD) and FILE.jws over it; html writes a page to print on A4, Arabic unless --lang en, whose foot names the \
                digest of the signed JSON copy written beside it as FILE.json and FILE.json.jws.
                """)

        @OptionGroup var person: PersonOptions
        @Option(help: "First day covered (YYYY-MM-DD, Beirut time; default: the start of the log).") var from: String?
        @Option(help: "Last day covered, inclusive (default: today).") var to: String?
        @Option(help: "Where to write the report; its signature goes to FILE.jws.") var out: String
        @Option(help: "json, xml or html (a page to print).") var format: AccessReport.Form = .json
        @Option(name: .customLong("lang"), help: "The page's language: ar (right to left) or en.") var language: AccessReportPage.Language = .ar
        @Option(help: "The subject-reference key (default: PKI/subject.key).") var subjectKey: String?
        @Option(help: "The log-signing key and certificate that sign the report (default: PKI/log-signing.*).") var logSigningKey: String?
        @Option var logSigningCert: String?
        @OptionGroup var pkiOptions: PKIOptions
        @OptionGroup var options: AdminOptions

        func run() async throws {
            let key = try person.key()
            let (start, end) = (try from.map { try Self.day($0, option: "--from") }, try to.map { try Self.day($0, option: "--to").addingTimeInterval(86_400) })
            if let start, let end, start >= end { throw ValidationError("--from is after --to") }
            let pki = pkiOptions.directory
            let referencer = SubjectReferencer(key: try SubjectKeyFile.read(subjectKey ?? pki.subjectKey))
            let signer: SealSigner
            do {
                signer = try SealSigner(
                    keyPEM: try String(contentsOfFile: logSigningKey ?? pki.logSigningKey, encoding: .utf8),
                    certificatePEM: try String(contentsOfFile: logSigningCert ?? pki.logSigningCertificate, encoding: .utf8))
            } catch { throw Refusal("the report is signed with the log-signing key: \(logSigningKey ?? pki.logSigningKey) and its certificate cannot be read") }
            let (format, language) = (format, language)
            let (report, bytes) = try await options.run { admin, actor in
                let report = try await admin.accessReport(for: key, from: start, until: end, referencer: referencer, by: actor)
                return (report, try admin.rendered(report, as: format, language: language))
            }
            let about = "\(Console.count(report.rows.count, "exchange", "exchanges")) about \(report.subject.masked)\(report.subject.known ? "" : " (not in the ministry's records)")"
            try Data(bytes).write(to: URL(fileURLWithPath: out))
            if format == .html {
                // The page is not signed itself: its foot names the digest of this signed JSON copy, kept beside it.
                let json = try AccessReport.encoded(report)
                try Self.write(json, signedBy: signer, as: .json, to: out + ".json")
                print("\(about) written to \(out) (\(language == .ar ? "Arabic" : "English"), A4); the signed JSON copy is \(out).json")
            } else {
                try Self.write(bytes, signedBy: signer, as: format, to: out)
                print("\(about) written to \(out), signed in \(out).jws")
            }
        }

        /// `bytes` to `path` and their detached signature to `path.jws`.
        static func write(_ bytes: [UInt8], signedBy signer: SealSigner, as format: AccessReport.Form, to path: String) throws {
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            let signature = try DetachedSignature.sign(bytes, signer: signer, contentType: "access-report+\(format.rawValue)")
            try Data((signature + "\n").utf8).write(to: URL(fileURLWithPath: path + ".jws"))
        }

        static func day(_ text: String, option: String) throws -> Date {
            guard let date = AccessReporter.day(parsing: text) else { throw ValidationError("\(option) must be a date (2026-01-31)") }
            return date
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a report offline: its signature, every row's entry hash, that each entry is about the person, every inclusion proof and the tree head's signature and timestamp.")
        @Argument(help: "The report (JSON).") var file: String
        @Option(help: "Its detached signature (default: FILE.jws).") var signature: String?
        @OptionGroup var trustOptions: TrustOptions

        func run() async throws {
            guard let bytes = FileManager.default.contents(atPath: file) else { throw Refusal("cannot read \(file)") }
            let signaturePath = signature ?? file + ".jws"
            guard let jws = FileManager.default.contents(atPath: signaturePath) else { throw Refusal("cannot read the signature \(signaturePath)") }
            let (trust, timestamps) = (try trustOptions.trust(), try trustOptions.timestamps())
            do {
                let outcome = try await AccessReportVerifier.verify(
                    report: Array(bytes), signature: String(decoding: jws, as: UTF8.self), trust: trust, timestamps: timestamps)
                print("OK: \(outcome.rows) rows, each entry hashed and about this person; \(outcome.sealed) in the seal of \(outcome.treeSize ?? 0) entries")
                print("    the report and its tree head are signed by \(trust.summary)\(outcome.timestamped ? "; the tree head's RFC 3161 timestamp verified" : "")")
            } catch let error as AccessReportVerifier.Finding {
                print("BROKEN: \(error.item): \(error.reason)")
                throw ExitCode(1)
            }
        }
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

extension AccessReport.Form: ExpressibleByArgument {}
extension AccessReportPage.Language: ExpressibleByArgument {}
