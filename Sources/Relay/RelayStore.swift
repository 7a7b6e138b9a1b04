import Foundation
import Logging
import Storage

/// A message waiting in (or gone through) the outbox.
struct OutboxRow: Sendable {
    let messageId: UUID
    let partnerID: String
    let contract: String
    let endpoint: String
    let mediaType: String
    let sealedBody: [UInt8]
}

/// A message a worker has claimed, with what it needs to deliver it.
struct ClaimedMessage: Sendable {
    let row: OutboxRow
    let attempts: Int
    let createdAt: Date
}

/// The outbox's SQL; claims use row locks with SKIP LOCKED so workers never share a message.
enum RelayStore {
    static func insert(_ row: OutboxRow, logSeq: Int64, on connection: DatabaseConnection) async throws {
        try await connection.query(
            """
            INSERT INTO relay_outbox (message_id, partner_id, contract, endpoint, media_type, sealed_body, state, log_seq)
            VALUES (\(row.messageId), \(row.partnerID), \(row.contract), \(row.endpoint), \(row.mediaType), \(row.sealedBody), 'queued', \(logSeq))
            """)
    }

    /// Claims up to `limit` due messages (queued and due, or in flight with an expired lease) for `lease`.
    /// Several gateways share the queue: on PostgreSQL each skips the rows another holds; on SQLite the statement
    /// runs under the store's write lock, so two claims never overlap.
    static func claim(limit: Int, lease: Duration, database: Database) async throws -> [ClaimedMessage] {
        let now = Date()
        let rows = try await database.query(
            """
            UPDATE relay_outbox SET state = 'in-flight', attempts = attempts + 1, locked_until = \(now.addingTimeInterval(seconds(lease)))
            WHERE message_id IN (
                SELECT message_id FROM relay_outbox
                WHERE (state = 'queued' AND next_attempt_at <= \(now)) OR (state = 'in-flight' AND locked_until < \(now))
                ORDER BY next_attempt_at LIMIT \(limit) \(unescaped: database.dialect.forUpdateSkipLocked))
            RETURNING message_id, partner_id, contract, endpoint, media_type, sealed_body, attempts, created_at
            """)
        return try rows.decode((UUID, String, String, String, String, [UInt8], Int32, Date).self).map { id, partner, contract, endpoint, mediaType, body, attempts, created in
            ClaimedMessage(
                row: OutboxRow(messageId: id, partnerID: partner, contract: contract, endpoint: endpoint, mediaType: mediaType, sealedBody: body),
                attempts: Int(attempts), createdAt: created)
        }
    }

    static func seconds(_ duration: Duration) -> TimeInterval {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    /// One attempt's hold on a message: the attempt count its claim set. A later claim (after the lease) counts on.
    struct Claim: Sendable {
        let messageId: UUID
        let attempt: Int
    }

    /// The outcome updates apply only while `claim` still holds the message (in flight, at its attempt);
    /// each returns whether it did.
    static func markDelivered(_ claim: Claim, on connection: DatabaseConnection) async throws -> Bool {
        try await !connection.query(
            """
            UPDATE relay_outbox SET state = 'delivered', delivered_at = \(Date()), locked_until = NULL, last_error = NULL
            WHERE \(held(claim)) RETURNING message_id
            """
        ).isEmpty
    }

    static func scheduleRetry(_ claim: Claim, after: Duration, error: String, on connection: DatabaseConnection) async throws -> Bool {
        try await !connection.query(
            """
            UPDATE relay_outbox SET state = 'queued', locked_until = NULL, last_error = \(error),
                next_attempt_at = \(Date().addingTimeInterval(seconds(after)))
            WHERE \(held(claim)) RETURNING message_id
            """
        ).isEmpty
    }

    static func deadLetter(_ claim: Claim, error: String, on connection: DatabaseConnection) async throws -> Bool {
        try await !connection.query(
            "UPDATE relay_outbox SET state = 'dead', locked_until = NULL, last_error = \(error) WHERE \(held(claim)) RETURNING message_id"
        ).isEmpty
    }

    private static func held(_ claim: Claim) -> SQL {
        "message_id = \(claim.messageId) AND state = 'in-flight' AND attempts = \(Int32(claim.attempt))"
    }
}

/// An outbox message as administrators see it (no body).
public struct OutboxMessage: Sendable, Codable, Hashable {
    /// Lower-case, as in `X-Message-Id`.
    public let messageId: String
    public let partnerID: String
    public let contract: String
    public let state: String
    public let attempts: Int
    public let lastError: String?
    public let createdAt: Date
    public let nextAttemptAt: Date
}

/// Counts of outbox messages by partner and state.
public struct RelayStatus: Sendable, Codable, Hashable {
    public let partnerID: String
    public let state: String
    public let count: Int
    public let oldestQueued: Date?
}

/// The outbox as administrators query and re-drive it.
public enum OutboxAdministration {
    public static func status(on connection: DatabaseConnection) async throws -> [RelayStatus] {
        try await connection.query(
            """
            SELECT partner_id, state, count(*), min(created_at) FILTER (WHERE state IN ('queued', 'in-flight'))
            FROM relay_outbox GROUP BY partner_id, state ORDER BY partner_id, state
            """
        ).decode((String, String, Int64, Date?).self).map { RelayStatus(partnerID: $0, state: $1, count: Int($2), oldestQueued: $3) }
    }

    public static func messages(state: String, partner: String?, limit: Int, on connection: DatabaseConnection) async throws -> [OutboxMessage] {
        var rows: [OutboxMessage] = []
        let partnerFilter: SQL = partner.map { "AND partner_id = \($0)" } ?? ""
        for (id, partnerID, contract, state, attempts, error, created, next) in try await connection.query(
            """
            SELECT message_id, partner_id, contract, state, attempts, last_error, created_at, next_attempt_at FROM relay_outbox
            WHERE state = \(state) \(partnerFilter) ORDER BY created_at LIMIT \(limit)
            """
        ).decode((UUID, String, String, String, Int32, String?, Date, Date).self) {
            rows.append(
                OutboxMessage(
                    messageId: id.uuidString.lowercased(), partnerID: partnerID, contract: contract, state: state, attempts: Int(attempts), lastError: error, createdAt: created,
                    nextAttemptAt: next))
        }
        return rows
    }

    /// Queues dead letters again (one, or all of a partner's) with a fresh attempt count; returns their ids.
    public static func redrive(messageId: UUID?, partner: String?, on connection: DatabaseConnection) async throws -> [UUID] {
        let messageFilter: SQL = messageId.map { "AND message_id = \($0)" } ?? ""
        let partnerFilter: SQL = partner.map { "AND partner_id = \($0)" } ?? ""
        return try await connection.query(
            """
            UPDATE relay_outbox SET state = 'queued', attempts = 0, next_attempt_at = \(Date()), last_error = NULL
            WHERE state = 'dead' \(messageFilter) \(partnerFilter)
            RETURNING message_id
            """
        ).decode(UUID.self)
    }
}
