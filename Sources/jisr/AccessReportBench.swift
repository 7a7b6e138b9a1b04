import ArgumentParser
import Foundation
import Gateway
import Logging
import MessageLog
import PKI
import Records
import Schemas
import Storage
import Transparency

/// `jisr access-report bench` (for `scripts/bench`, not listed): fills the message log with the log writer's own
/// code to a given size, one person with many entries and one with few among thousands, seals it, then times
/// that person's reports as a clerk would make them. Prints one tab-separated line per person.
struct AccessReportBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Fill the log to --entries and time access reports (scripts/bench).", shouldDisplay: false)

    @OptionGroup var store: StoreOptions
    @OptionGroup var pkiOptions: PKIOptions
    @Option(help: "The size the log is filled to (entries already there count).") var entries: Int = 10_000_000
    @Option(help: "Entries about the busiest person.") var manyEntries: Int = 1_000
    @Option(help: "Entries about the quietest one.") var fewEntries: Int = 3
    @Option(help: "Reports timed for each of the two.") var reports: Int = 100
    @Option(help: "The folder of published contracts (default: ./contracts or $JISR_CONTRACTS_DIR).") var contracts: String?

    func run() async throws {
        let logger = Console.logger()
        let pki = pkiOptions.directory
        let referencer = SubjectReferencer(key: try SubjectKeyFile.read(pki.subjectKey))
        let signer = try SealSigner(keyPEM: try pki.read(pki.logSigningKey), certificatePEM: try pki.read(pki.logSigningCertificate))
        let catalog = try ContractCatalog.load(from: try Console.contracts(contracts))
        let location = try store.location()
        try await withDatabase(location, logger: logger) { database in
            // Synthetic entries join the permanent chain: only of a store made for them (`jisr seed` into a new one).
            try await SyntheticStore.claim(database, by: "jisr access-report bench", logger: logger)
            try await Migrator(database: database, logger: logger).migrate(JisrMigrations.all)
            let ids = try await database.query(
                "SELECT national_id FROM ministry.persons WHERE national_id IS NOT NULL ORDER BY id DESC LIMIT 10000"
            ).map { try $0[0].decode(String.self) }
            // From the last seeded persons: the first ones are those the benchmark's lookups ask about.
            guard ids.count >= 3 else { throw Refusal("seed the ministry's records first (jisr seed)") }
            let references = ids.map { referencer.reference(kind: PersonKey.nationalId($0).subject.kind, identifier: $0) }
            let present = Int(try await LogReader(database: database, logger: logger).count())
            let missing = max(0, entries - present)
            let started = ContinuousClock.now
            try await LogWriter.withLocal(database: database, logger: logger) { log in
                try await Self.fill(log, count: missing, references: references, many: manyEntries, few: fewEntries)
                _ = try await Sealer(database: database, log: log, signer: signer, logger: logger).sealNow()
            }
            let filled = ContinuousClock.now - started
            FileHandle.standardError.write(Data("filled \(missing) entries and sealed in \(filled)\n".utf8))

            let reporter = AccessReporter(
                database: database, records: DatabaseRecordSource(database: database, logger: logger), referencer: referencer, catalog: catalog,
                logger: logger)
            let store = location.dialect == .postgres ? "PostgreSQL" : "embedded"
            for (name, id) in [("many", ids[0]), ("few", ids[1])] {
                var times: [Double] = []
                var rows = 0
                for _ in 0..<reports {
                    let begun = ContinuousClock.now
                    rows = try await reporter.report(for: .nationalId(id)).rows.count
                    let elapsed = ContinuousClock.now - begun
                    times.append(Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15)
                }
                times.sort()
                let percentile = { (p: Double) in times[min(times.count - 1, Int((Double(times.count) * p).rounded(.up)) - 1)] }
                print([store, String(present + missing), name, String(rows), String(reports), String(format: "%.1f", percentile(0.5)),
                       String(format: "%.1f", percentile(0.99)), String(format: "%.1f", times.last ?? 0)].joined(separator: "\t"))
            }
        }
    }

    /// `count` entries through the writer, many appends in flight so that its group commit batches them; the first
    /// reference gets `many` of them spread through the log, the second `few`, the rest go round the others.
    static func fill(_ log: LogWriter, count: Int, references: [String], many: Int, few: Int) async throws {
        guard count > 0 else { return }
        let (manyEvery, fewEvery) = (max(1, count / max(1, many)), max(1, count / max(1, few)))
        let fields = ["person.nationalId", "person.name", "person.nationality", "employments.establishment", "employments.status"]
        try await withThrowingTaskGroup(of: Void.self) { group in
            let writers = 512
            for writer in 0..<writers {
                group.addTask {
                    for index in stride(from: writer, to: count, by: writers) {
                        let reference =
                            index % manyEvery == 0 ? references[0]
                            : index % fewEvery == 1 ? references[1] : references[2 + index % (references.count - 2)]
                        let digest = String(repeating: "0", count: 48) + String(format: "%016x", index)
                        _ = try await log.append(
                            EntryDraft(
                                messageId: UUID(), partner: "LB-NSSF", certificateFingerprint: nil, direction: .inboundQuery, contract: "employment-record/1",
                                operation: "query", purpose: "nssf-contribution-verification", caseReference: nil, subjectReference: reference, status: 200,
                                problemType: nil, requestDigest: digest, responseDigest: digest, disclosedFields: fields, subjects: [reference]))
                        if index > 0, index % 1_000_000 == 0 { FileHandle.standardError.write(Data("  \(index) entries\n".utf8)) }
                    }
                }
            }
            try await group.waitForAll()
        }
    }
}
