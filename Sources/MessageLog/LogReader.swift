import Foundation
import Logging
import PKI
import Storage

/// The outcome of walking the whole chain.
public struct VerificationReport: Sendable {
    public let verified: Int64
    public let headHash: String
    public let firstBreak: ChainBreak?
    /// Seals whose root and signature hold against the entries; of those, the ones signed by a trusted key (zero
    /// when no trust was given), and the newest seal.
    public var sealsMatched = 0
    public var sealsVerified = 0
    public var latestSeal: TreeHead?
    /// Seals with an RFC 3161 token, and how many of those tokens were checked.
    public var timestampsPresent = 0
    public var timestampsVerified = 0
    /// Seals younger than the grace period still waiting for their token (checked only with a requirement).
    public var timestampsAwaited = 0
}

/// Reads the message log: single entries for receipts and tests, and the whole chain for verification.
public struct LogReader: Sendable {
    let database: Database
    let logger: Logger

    public init(database: Database, logger: Logger) {
        self.database = database
        self.logger = logger
    }

    /// The committed entry for a message, if any.
    public func entry(messageId: UUID) async throws -> LogEntry? {
        let rows = try await database.query(
            "SELECT \(unescaped: MessageLogStore.columns) FROM message_log WHERE message_id = \(messageId) ORDER BY seq LIMIT 1")
        return try rows.first.map(MessageLogStore.decode)
    }

    /// Entries of a seq range, in order, optionally only one partner's.
    public func entries(from first: Int64, through last: Int64, partner: String?) async throws -> [LogEntry] {
        let partnerFilter: SQL = partner.map { "AND partner = \($0)" } ?? ""
        let rows = try await database.query(
            "SELECT \(unescaped: MessageLogStore.columns) FROM message_log WHERE seq >= \(first) AND seq <= \(last) \(partnerFilter) ORDER BY seq")
        return try rows.map(MessageLogStore.decode)
    }

    /// The entries that concern any of `references` (by the subject index, never a scan), in seq order; entries of
    /// format 1 are indexed by their subject reference alone.
    public func entries(concerning references: [String]) async throws -> [LogEntry] {
        try await database.withConnection { try await Self.entries(concerning: references, on: $0) }
    }

    /// The entries that concern any of `references`, as `connection` sees them (in the caller's snapshot).
    public static func entries(concerning references: [String], on connection: DatabaseConnection) async throws -> [LogEntry] {
        guard !references.isEmpty else { return [] }
        let list = SQL.joined(Array(Set(references)).sorted().map { reference -> SQL in "\(reference)" }, separator: ",")
        let rows = try await connection.query(
            """
            SELECT \(unescaped: MessageLogStore.columns) FROM message_log
            WHERE seq IN (SELECT seq FROM log_subjects WHERE subject_reference IN (\(list))) ORDER BY seq
            """)
        return try rows.map(MessageLogStore.decode)
    }

    /// The seqs of the entries recorded between two moments (inclusive), if any.
    public func seqs(recordedFrom start: Date, through end: Date) async throws -> ClosedRange<Int64>? {
        let (from, to) = (Int64(start.timeIntervalSince1970 * 1_000_000), Int64(end.timeIntervalSince1970 * 1_000_000))
        let rows = try await database.query("SELECT min(seq), max(seq) FROM message_log WHERE recorded_at >= \(from) AND recorded_at <= \(to)")
        guard let (low, high) = try rows.first?.decode((Int64?, Int64?).self), let low, let high else { return nil }
        return low...high
    }

    /// The log's size: the newest entry's seq (the chain has no gap), 0 for an empty log.
    public func size() async throws -> Int64 {
        try await database.query("SELECT coalesce(max(seq), 0) FROM message_log").first?[0].decode(Int64.self) ?? 0
    }

    public func count() async throws -> Int64 {
        try await database.query("SELECT count(*) FROM message_log").first?[0].decode(Int64.self) ?? 0
    }

    /// Walks every entry in seq order; `progress` is called with the number verified every `progressEvery` entries.
    ///
    /// Every seal's root is matched against the entries. With `trust` — which must come from outside the database:
    /// the CA the verifier names, or the keys it pins — every seal must also be signed by a key it trusts, and a key
    /// change must be announced in the log. With `timestamps`, every seal past the grace period must carry a valid
    /// token. Without them the walk proves only that the log is consistent with its own seals.
    public func verify(
        trust: LogSigningTrust? = nil, timestamps: TimestampRequirement? = nil, batchSize: Int = 20_000, progressEvery: Int64 = 100_000,
        progress: (Int64) -> Void = { _ in }
    ) async throws -> VerificationReport {
        var auditor = ChainAuditor()
        let allSeals = try await SealStore(database: database, logger: logger).all()
        let refusals: [Int64: String]? = if let trust { await SealAuditor.refusals(of: allSeals, by: trust) } else { nil }
        var seals = SealAuditor(seals: allSeals, refusals: refusals)
        func report(_ found: ChainBreak?) -> VerificationReport {
            var report = VerificationReport(verified: auditor.verified, headHash: auditor.headHash, firstBreak: found)
            report.sealsMatched = seals.matched
            report.sealsVerified = seals.verified
            report.latestSeal = seals.latest
            return report
        }
        // A seal that fails is reported after the walk unless the chain names a break first: the chain's diagnosis
        // (which entry, and how) is the more precise one; the seals catch what the chain cannot see.
        var sealBreak: ChainBreak?
        var after: Int64 = Int64.min
        var seen: Int64 = 0
        while true {
            let rows = try await database.query(
                "SELECT \(unescaped: MessageLogStore.columns) FROM message_log WHERE seq > \(after) ORDER BY seq LIMIT \(batchSize)")
            var fetched = 0
            for row in rows {
                fetched += 1
                let entry: LogEntry
                do { entry = try MessageLogStore.decode(row) } catch let error as LogDecodingError {
                    return report(ChainBreak(seq: error.seq, kind: .modified, reason: "it holds a value Jisr never writes"))
                }
                after = entry.seq
                seen += 1
                if seen % progressEvery == 0 { progress(seen) }
                if let found = auditor.feed(entry) { return report(found) }
                if let key = SigningKeyChange.announcedKey(entry.draft) { seals.announce(keyFingerprint: key) }
                // The seals are checked against the entry hashes as stored; the chain check above vouches for them.
                if let found = seals.feed(entryHash: Hex.decode(entry.entryHash) ?? []), sealBreak == nil { sealBreak = found }
            }
            if fetched < batchSize { break }
        }
        if let found = auditor.finish() { return report(found) }
        if let found = sealBreak ?? seals.finish() { return report(found) }
        var result = report(nil)
        result.timestampsPresent = allSeals.filter { $0.timestampToken != nil }.count
        guard let timestamps else { return result }
        for seal in allSeals.sorted(by: { $0.treeHead.size < $1.treeHead.size }) {
            var awaited = false
            if let reason = await timestamps.refusal(treeHead: seal.treeHead, token: seal.timestampToken, awaited: &awaited) {
                return report(ChainBreak(seq: seal.treeHead.size, kind: .sealBroken, reason: "the seal of \(seal.treeHead.size) entries: \(reason)"))
            }
            if awaited { result.timestampsAwaited += 1 } else { result.timestampsVerified += 1 }
        }
        return result
    }
}
