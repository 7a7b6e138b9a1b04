import Foundation
import Logging
import MessageLog
import Records
import Registry
import Schemas
import Storage

/// Makes a person's access report: finds every identifier they are known by (and their permits) in the ministry's
/// records, reads the entries the log files under those subject references (by index, never by scanning the
/// log), and explains each with the registry and the contract's labels.
public struct AccessReporter: Sendable {
    let database: Database
    let records: any RecordSource
    let referencer: SubjectReferencer
    let catalog: ContractCatalog
    let logger: Logger

    public init(database: Database, records: any RecordSource, referencer: SubjectReferencer, catalog: ContractCatalog, logger: Logger) {
        self.database = database
        self.records = records
        self.referencer = referencer
        self.catalog = catalog
        self.logger = logger
    }

    /// The report on the person `key` names, for exchanges recorded from `from` (inclusive) until `until` (exclusive).
    public func report(for key: PersonKey, from: Date? = nil, until: Date? = nil, now: Date = Date()) async throws -> AccessReport {
        let (references, known) = try await references(of: key)
        // The entries and the tree head they are proved against are read in one snapshot: read apart, a seal made in
        // between would cover entries the report lacks.
        let (latest, found) = try await database.withSnapshot { connection in
            (try await SealStore.latest(on: connection), try await LogReader.entries(concerning: references, on: connection))
        }
        var entries = found
        let (low, high) = (from.map(Self.micros), until.map(Self.micros))
        entries = entries.filter { entry in low.map { entry.recordedAt >= $0 } ?? true && high.map { entry.recordedAt < $0 } ?? true }

        let registry = try await RegistryStore(database: database, logger: logger).snapshot()
        // Exchanges with a disclosure moment stay out until it has passed, leaving no trace.
        entries = entries.filter { Self.disclosedAt($0, registry: registry).map { $0 <= now } ?? true }
        let agreements = Dictionary(
            try await database.withConnection { try await RegistryWrites.agreements(partner: nil, includeRevoked: true, on: $0) }.map { ($0.id, $0) },
            uniquingKeysWith: { first, _ in first })
        var proofs: [Int64: [MerkleTree.Hash]] = [:]
        if let latest {
            // Tiles are derived from entries the snapshot already saw (seq ≤ the head's size): what a later read finds of
            // them is the same.
            proofs = try await SealStore(database: database, logger: logger).inclusionProofs(seqs: entries.map(\.seq).filter { $0 <= latest.treeHead.size }, size: latest.treeHead.size)
        }
        // Most rows of a busy person disclose the same fields of the same contract: labelled once each.
        var labelled: [[String?]: [AccessReport.DisclosedField]] = [:]
        let rows = entries.map { entry in
            let key = [entry.draft.contract] + (entry.draft.canonicalFields ?? [])
            let fields = labelled[key] ?? fields(of: entry.draft)
            labelled[key] = fields
            return row(entry, registry: registry, agreements: agreements, fields: fields, proof: proofs[entry.seq].map { $0.map(\.hex) })
        }
        return AccessReport(
            generatedAt: Self.beirut(now), subject: AccessReport.Subject(kind: key.kind, masked: Self.masked(key), known: known, references: references),
            from: from.map(Self.day), to: until.map { Self.day($0.addingTimeInterval(-1)) }, entries: rows.map(\.receipt.seq), rows: rows,
            treeHead: latest.map(Self.treeHead))
    }

    /// An exchange withheld from the person's reports for now, for the administrator who asks.
    public struct Withheld: Sendable, Codable, Hashable {
        public var seq: Int64
        public var at: String
        public var partner: String?
        public var purpose: String?
        /// The law that allows the delay, as the purpose registry gives it today (nil when it no longer says).
        public var legalBasis: String?
        /// When it will appear in the person's reports, Beirut time.
        public var until: String
    }

    /// What the person's reports leave out today, and until when.
    public func withheld(for key: PersonKey, now: Date = Date()) async throws -> [Withheld] { try await withheldListing(for: key, now: now).items }

    /// What is withheld, with the person's subject references and the latest moment among the items: the listing is
    /// itself an exchange about the person, logged under those references and disclosed no sooner than what it lists.
    public func withheldListing(for key: PersonKey, now: Date = Date()) async throws -> (references: [String], items: [Withheld], latest: Date?) {
        let (references, _) = try await references(of: key)
        let registry = try await RegistryStore(database: database, logger: logger).snapshot()
        var latest: Date?
        let items = try await LogReader(database: database, logger: logger).entries(concerning: references).compactMap { entry -> Withheld? in
            guard let until = Self.disclosedAt(entry, registry: registry), until > now else { return nil }
            latest = max(latest ?? until, until)
            return Withheld(
                seq: entry.seq, at: Self.beirut(Self.date(entry)), partner: entry.draft.partner, purpose: entry.draft.purpose,
                legalBasis: entry.draft.purpose.flatMap { registry.purposes[$0]?.disclosureDelay?.legalBasis }, until: Self.beirut(until))
        }
        return (references, items, latest)
    }

    /// When an entry may appear in reports; nil when at once.
    ///
    /// An entry of format 3 or later carries its moment, fixed when the exchange happened and covered by its hash: the
    /// registry plays no part. Entries written before (formats 1 and 2) recorded none; for them alone the purpose's
    /// delay as the registry gives it today still decides.
    public static func disclosedAt(_ entry: LogEntry, registry: RegistrySnapshot) -> Date? {
        if entry.format >= 3 { return entry.draft.disclosableAt.map { Date(timeIntervalSince1970: Double($0) / 1_000_000) } }
        guard let code = entry.draft.purpose, let delay = registry.purposes[code]?.disclosureDelay else { return nil }
        return date(entry).addingTimeInterval(TimeInterval(delay.seconds))
    }

    static func date(_ entry: LogEntry) -> Date { Date(timeIntervalSince1970: Double(entry.recordedAt) / 1_000_000) }

    /// Every subject reference the person's exchanges are filed under, and whether the records know them.
    func references(of key: PersonKey) async throws -> (references: [String], known: Bool) {
        var keys = [key]
        var known = false
        if let record = try await records.employmentRecord(for: key) {
            known = true
            keys = PersonKey.keys(of: record.person)
            if !keys.contains(key) { keys.append(key) }
        }
        var subjects = keys.map(\.subject)
        var permits: [String] = []
        for key in keys { permits += try await records.permitNumbers(of: key) }
        subjects += Array(Set(permits)).sorted().map(PersonKey.permitSubject)
        var seen = Set<String>()
        let references = subjects.map { referencer.reference(kind: $0.kind, identifier: $0.identifier) }.filter { seen.insert($0).inserted }
        return (references, known)
    }

    func row(
        _ entry: LogEntry, registry: RegistrySnapshot, agreements: [Int64: Agreement], fields: [AccessReport.DisclosedField], proof: [String]?
    ) -> AccessReport.Row {
        let draft = entry.draft
        let agreement = draft.agreementId.flatMap { agreements[$0] }
        return AccessReport.Row(
            at: Self.beirut(Self.date(entry)),
            partner: (draft.direction == .admin ? nil : draft.partner).map { id in
                let known = registry.partners[id]
                return AccessReport.Party(id: id, nameAr: known?.nameAr, nameEn: known?.nameEn, country: known?.country)
            },
            direction: draft.direction.rawValue, contract: draft.contract, operation: draft.operation, fields: fields,
            purpose: draft.purpose.map { code in
                let known = registry.purposes[code]
                return AccessReport.Purpose(
                    code: code, ar: known?.descriptionAr, en: known?.descriptionEn, legalBasis: known?.legalBasis, legalBasisAr: known?.legalBasisAr)
            },
            mouReference: agreement?.mouReference, caseReference: draft.caseReference, outcome: Self.outcome(draft.status), problem: draft.problemType,
            status: draft.status, receipt: AccessReport.Receipt(seq: entry.seq, entryHash: entry.entryHash, entry: EntryEvidence(entry).withoutDetail, inclusionProof: proof))
    }

    /// The labelled groups of the fields that left, in the contract's order.
    func fields(of draft: EntryDraft) -> [AccessReport.DisclosedField] {
        guard let disclosed = draft.canonicalFields, let contract = draft.contract.flatMap(ContractID.init).flatMap({ catalog[$0] }) else { return [] }
        let order = Dictionary(contract.fields.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
        var groups: [String: FieldLabel] = [:]
        for field in disclosed {
            // A field no label covers (a contract published without one) is still listed, under its path.
            let (path, label) = contract.label(of: field) ?? (field, FieldLabel(ar: field, en: field))
            groups[path] = label
        }
        return groups.sorted { (order[$0.key] ?? .max, $0.key) < (order[$1.key] ?? .max, $1.key) }.map {
            AccessReport.DisclosedField(path: $0.key, ar: $0.value.ar, en: $0.value.en)
        }
    }

    static func outcome(_ status: Int) -> String {
        switch status {
        case 200..<300: "answered"
        case 404: "nothing-found"
        default: "refused"
        }
    }

    static func treeHead(_ seal: Seal) -> AccessReport.TreeHead {
        AccessReport.TreeHead(
            size: seal.treeHead.size, rootHash: seal.treeHead.rootHash, time: MessageLog.TreeHead.format(seal.treeHead.timeMilliseconds),
            signedText: seal.treeHead.signedText, signature: Data(seal.signature).base64EncodedString(), publicKey: seal.publicKeyPEM,
            certificate: seal.certificatePEM, timestampToken: seal.timestampToken.map { Data($0).base64EncodedString() })
    }

    /// All but the last four characters hidden: enough for the person to recognise, not enough to be of use.
    static func masked(_ key: PersonKey) -> String {
        let (value, suffix): (String, String) =
            switch key {
            case .nationalId(let id): (id, "")
            case .passport(let number, let nationality): (number, " (\(nationality))")
            case .nssfNumber(let number): (number, "")
            }
        return String(repeating: "•", count: max(0, value.count - 4)) + value.suffix(4) + suffix
    }

    static let beirutZone = TimeZone(identifier: "Asia/Beirut") ?? TimeZone(secondsFromGMT: 2 * 3600)!

    // Format styles are values, made once: a formatter object per row was a tenth of a busy person's report.
    static let instantStyle = Date.ISO8601FormatStyle(
        dateSeparator: .dash, dateTimeSeparator: .standard, timeSeparator: .colon, timeZoneSeparator: .colon, includingFractionalSeconds: false,
        timeZone: beirutZone)
    static let dayStyle = Date.ISO8601FormatStyle(timeZone: beirutZone).year().month().day()

    static func beirut(_ date: Date) -> String { date.formatted(instantStyle) }

    static func day(_ date: Date) -> String { date.formatted(dayStyle) }

    /// A civil day (`2026-01-31`) in Beirut, as its first instant; nil for anything else.
    public static func day(parsing text: String) -> Date? {
        guard text.wholeMatch(of: /[0-9]{4}-[0-9]{2}-[0-9]{2}/) != nil else { return nil }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withFullDate]
        formatter.timeZone = beirutZone
        return formatter.date(from: text)
    }

    public static func micros(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1_000_000).rounded()) }
}

extension PersonKey {
    /// The name of the identifier, as reports and the portal's query say it.
    public var kind: String {
        switch self {
        case .nationalId: "nationalId"
        case .passport: "passport"
        case .nssfNumber: "nssfNumber"
        }
    }
}
