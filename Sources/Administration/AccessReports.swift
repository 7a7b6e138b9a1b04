import Foundation
import MessageLog
import Records
import Registry
import Schemas
import Transparency

/// A person's access report, asked for by the ministry itself (a clerk, `jisr access-report`, the admin API).
extension Administration {
    /// Makes the report and logs the asking as an exchange about the person (under their subject references)
    /// before returning it: it appears in their next report.
    public func accessReport(
        for key: PersonKey, from: Date?, until: Date?, referencer: SubjectReferencer, by administrator: Administrator
    ) async throws -> AccessReport {
        let report = try await reporter(referencer).report(for: key, from: from, until: until)
        try await audited(
            "access-report", partner: nil, by: administrator, request: ["kind": key.kind, "rows": String(report.rows.count)],
            subjects: report.subject.references
        ) { _, _ in (before: Optional<Int>.none, after: report.rows.count) }
        return report
    }

    /// What the person's reports leave out for now (purposes with a disclosure delay), and until when. Looking is
    /// itself audited, as an exchange about the person that their reports show no sooner than the last item listed.
    public func withheld(for key: PersonKey, referencer: SubjectReferencer, by administrator: Administrator) async throws -> [AccessReporter.Withheld] {
        let listing = try await reporter(referencer).withheldListing(for: key)
        try await audited(
            "access-report.withheld", partner: nil, by: administrator, request: ["kind": key.kind, "withheld": String(listing.items.count)],
            subjects: listing.references, disclosableAt: listing.latest.map(AccessReporter.micros)
        ) { _, _ in (before: Optional<Int>.none, after: listing.items.count) }
        return listing.items
    }

    /// When `entry` may appear in the reports of the people it concerns (microseconds since the Unix epoch), nil at once:
    /// an entry that concerns it (reading a notice) inherits it, so that nothing reveals a withheld exchange.
    func disclosureMoment(of entry: LogEntry) async throws -> Int64? {
        let registry = try await RegistryStore(database: database, logger: logger).snapshot()
        return AccessReporter.disclosedAt(entry, registry: registry).map(AccessReporter.micros)
    }

    /// The report in `form` (the XML by the `access-report/1` contract, validated), as it is written or sent.
    public func rendered(_ report: AccessReport, as form: AccessReport.Form, language: AccessReportPage.Language) throws -> [UInt8] {
        guard let contract = catalog[AccessReport.contract] else {
            throw AdministrationError("contract-not-published", "the contract \(AccessReport.contract) is not in the catalog: publish contracts/access-report/1")
        }
        return try AccessReport.rendered(report, as: form, language: language, contract: contract)
    }

    private func reporter(_ referencer: SubjectReferencer) -> AccessReporter {
        AccessReporter(
            database: database, records: DatabaseRecordSource(database: database, logger: logger), referencer: referencer, catalog: catalog, logger: logger)
    }
}
