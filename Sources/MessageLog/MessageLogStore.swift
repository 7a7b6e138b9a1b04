import Foundation
import Logging
import Storage

/// SQL of the message log table, in one place.
enum MessageLogStore {
    /// The advisory lock that serialises chain appends across processes.
    static let chainLock: Int64 = 0x4A_4953_52  // "JISR"

    static let columns = """
        seq, recorded_at, message_id, correlation_id, partner, certificate_fingerprint, direction, contract, operation,
        purpose, case_reference, subject_reference, status, problem_type, request_digest, response_digest, prev_hash, entry_hash, detail,
        hash_format, agreement_id, disclosed_fields, subjects, disclosable_at
        """

    static func head(on connection: DatabaseConnection) async throws -> (Int64, String) {
        let rows = try await connection.query(SQL("SELECT seq, entry_hash FROM message_log ORDER BY seq DESC LIMIT 1").prepared)
        return try rows.first?.decode((Int64, String).self) ?? (0, LogEntry.genesisHash)
    }

    /// The entries and the index of their subjects, on one connection (in the caller's transaction).
    static func insert(_ entries: [LogEntry], on connection: DatabaseConnection) async throws {
        try await connection.query(insertion(entries))
        if let subjects = subjectInsertion(entries) { try await connection.query(subjects) }
    }

    static func subjectInsertion(_ entries: [LogEntry]) -> SQL? {
        let rows = entries.flatMap { entry in entry.draft.canonicalSubjects.map { subject -> SQL in "(\(subject), \(entry.seq))" } }
        guard !rows.isEmpty else { return nil }
        return "INSERT INTO log_subjects (subject_reference, seq) VALUES " + SQL.joined(rows, separator: ",")
    }

    /// One multi-row `INSERT` of `entries`. A second writer that got to a seq first makes it fail as a unique violation
    /// (the primary key), whole: the chain cannot fork.
    static func insertion(_ entries: [LogEntry]) -> SQL {
        let rows = entries.map { entry -> SQL in
            let draft = entry.draft
            let row: SQL = """
                (\(entry.seq), \(entry.recordedAt), \(draft.messageId), \(draft.correlationId), \(draft.partner), \(draft.certificateFingerprint),
                 \(draft.direction.rawValue), \(draft.contract), \(draft.operation), \(draft.purpose), \(draft.caseReference), \(draft.subjectReference),
                 \(Int32(draft.status)), \(draft.problemType), \(draft.requestDigest), \(draft.responseDigest), \(entry.prevHash), \(entry.entryHash),
                 \(draft.detail), \(Int32(entry.format)), \(draft.agreementId), \(draft.canonicalFields.flatMap(Self.joined)),
                 \(Self.joined(draft.canonicalSubjects)), \(draft.disclosableAt))
                """
            return row
        }
        return "INSERT INTO message_log (\(unescaped: columns)) VALUES " + SQL.joined(rows, separator: ",")
    }

    static func decode(_ row: DatabaseRow) throws -> LogEntry {
        let cells = row
        guard let direction = Direction(rawValue: try cells[6].decode(String.self)) else {
            throw LogDecodingError(seq: try cells[0].decode(Int64.self))
        }
        let draft = EntryDraft(
            messageId: try cells[2].decode(UUID.self),
            correlationId: try cells[3].decode(UUID?.self),
            partner: try cells[4].decode(String?.self),
            certificateFingerprint: try cells[5].decode(String?.self),
            direction: direction,
            contract: try cells[7].decode(String?.self),
            operation: try cells[8].decode(String?.self),
            purpose: try cells[9].decode(String?.self),
            caseReference: try cells[10].decode(String?.self),
            subjectReference: try cells[11].decode(String?.self),
            status: Int(try cells[12].decode(Int32.self)),
            problemType: try cells[13].decode(String?.self),
            requestDigest: try cells[14].decode(String.self),
            responseDigest: try cells[15].decode(String?.self),
            detail: try cells[18].decode(String?.self),
            agreementId: try cells[20].decode(Int64?.self),
            disclosedFields: try cells[21].decode(String?.self).map(Self.split),
            subjects: try cells[22].decode(String?.self).map(Self.split) ?? [],
            disclosableAt: try cells[23].decode(Int64?.self)
        )
        return LogEntry(
            seq: try cells[0].decode(Int64.self), recordedAt: try cells[1].decode(Int64.self), draft: draft,
            prevHash: try cells[16].decode(String.self), entryHash: try cells[17].decode(String.self), format: Int(try cells[19].decode(Int32.self)))
    }

    /// Lists as their columns hold them: line-feed separated, NULL when empty.
    static func joined(_ items: [String]) -> String? { items.isEmpty ? nil : items.joined(separator: "\n") }
    static func split(_ text: String) -> [String] { text.split(separator: "\n").map(String.init) }
}

/// A row whose direction is not one Jisr writes: reported as a modified entry.
struct LogDecodingError: Error {
    let seq: Int64
}
