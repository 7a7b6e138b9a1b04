import Foundation
import Logging
import PostgresNIO

/// SQL of the message log table, in one place.
enum MessageLogStore {
    /// The advisory lock that serialises chain appends across processes.
    static let chainLock: Int64 = 0x4A_4953_52  // "JISR"

    static let columns = """
        seq, recorded_at, message_id, correlation_id, partner, certificate_fingerprint, direction, contract, operation,
        purpose, case_reference, subject_reference, status, problem_type, request_digest, response_digest, prev_hash, entry_hash, detail
        """

    static func head(on connection: PostgresConnection, logger: Logger) async throws -> (Int64, String) {
        let rows = try await connection.query("SELECT seq, entry_hash FROM message_log ORDER BY seq DESC LIMIT 1", logger: logger)
        for try await (seq, hash) in rows.decode((Int64, String).self) { return (seq, hash) }
        return (0, LogEntry.genesisHash)
    }

    static func insert(_ entries: [LogEntry], on connection: PostgresConnection, logger: Logger) async throws {
        var bindings = PostgresBindings(capacity: entries.count * 19)
        var sql = "INSERT INTO message_log (\(columns)) VALUES "
        for (row, entry) in entries.enumerated() {
            let base = row * 19
            sql += (row == 0 ? "" : ",") + "(" + (1...19).map { "$\(base + $0)" }.joined(separator: ",") + ")"
            let draft = entry.draft
            bindings.append(entry.seq)
            bindings.append(entry.recordedAt)
            bindings.append(draft.messageId)
            bindings.append(draft.correlationId)
            bindings.append(draft.partner)
            bindings.append(draft.certificateFingerprint)
            bindings.append(draft.direction.rawValue)
            bindings.append(draft.contract)
            bindings.append(draft.operation)
            bindings.append(draft.purpose)
            bindings.append(draft.caseReference)
            bindings.append(draft.subjectReference)
            bindings.append(Int32(draft.status))
            bindings.append(draft.problemType)
            bindings.append(draft.requestDigest)
            bindings.append(draft.responseDigest)
            bindings.append(entry.prevHash)
            bindings.append(entry.entryHash)
            bindings.append(draft.detail)
        }
        try await connection.query(PostgresQuery(unsafeSQL: sql, binds: bindings), logger: logger)
    }

    static func decode(_ row: PostgresRow) throws -> LogEntry {
        let cells = row.makeRandomAccess()
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
            detail: try cells[18].decode(String?.self)
        )
        return LogEntry(
            seq: try cells[0].decode(Int64.self), recordedAt: try cells[1].decode(Int64.self), draft: draft,
            prevHash: try cells[16].decode(String.self), entryHash: try cells[17].decode(String.self))
    }
}

/// A row whose direction is not one Jisr writes: reported as a modified entry.
struct LogDecodingError: Error {
    let seq: Int64
}
