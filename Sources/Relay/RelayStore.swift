import Foundation
import Logging
import NIOCore
import PostgresNIO

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
    static func insert(_ row: OutboxRow, logSeq: Int64, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query(
            """
            INSERT INTO relay_outbox (message_id, partner_id, contract, endpoint, media_type, sealed_body, state, log_seq)
            VALUES (\(row.messageId), \(row.partnerID), \(row.contract), \(row.endpoint), \(row.mediaType), \(ByteBuffer(bytes: row.sealedBody)), 'queued', \(logSeq))
            """, logger: logger)
    }

    /// Claims up to `limit` due messages (queued and due, or in flight with an expired lease) for `lease`.
    static func claim(limit: Int, lease: Duration, client: PostgresClient, logger: Logger) async throws -> [ClaimedMessage] {
        let leaseSeconds = Double(lease.components.seconds)
        let rows = try await client.query(
            """
            UPDATE relay_outbox SET state = 'in-flight', attempts = attempts + 1, locked_until = now() + make_interval(secs => \(leaseSeconds))
            WHERE message_id IN (
                SELECT message_id FROM relay_outbox
                WHERE (state = 'queued' AND next_attempt_at <= now()) OR (state = 'in-flight' AND locked_until < now())
                ORDER BY next_attempt_at LIMIT \(limit) FOR UPDATE SKIP LOCKED)
            RETURNING message_id, partner_id, contract, endpoint, media_type, sealed_body, attempts, created_at
            """, logger: logger)
        var claimed: [ClaimedMessage] = []
        for try await (id, partner, contract, endpoint, mediaType, body, attempts, created) in rows.decode(
            (UUID, String, String, String, String, ByteBuffer, Int32, Date).self)
        {
            claimed.append(
                ClaimedMessage(
                    row: OutboxRow(
                        messageId: id, partnerID: partner, contract: contract, endpoint: endpoint, mediaType: mediaType, sealedBody: Array(body.readableBytesView)),
                    attempts: Int(attempts), createdAt: created))
        }
        return claimed
    }

    static func markDelivered(_ id: UUID, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query(
            "UPDATE relay_outbox SET state = 'delivered', delivered_at = now(), locked_until = NULL, last_error = NULL WHERE message_id = \(id)",
            logger: logger)
    }

    static func scheduleRetry(_ id: UUID, after: Duration, error: String, on connection: PostgresConnection, logger: Logger) async throws {
        let seconds = Double(after.components.seconds) + Double(after.components.attoseconds) / 1e18
        try await connection.query(
            """
            UPDATE relay_outbox SET state = 'queued', locked_until = NULL, last_error = \(error),
                next_attempt_at = now() + make_interval(secs => \(seconds))
            WHERE message_id = \(id)
            """, logger: logger)
    }

    static func deadLetter(_ id: UUID, error: String, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query(
            "UPDATE relay_outbox SET state = 'dead', locked_until = NULL, last_error = \(error) WHERE message_id = \(id)", logger: logger)
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
    public static func status(on connection: PostgresConnection, logger: Logger) async throws -> [RelayStatus] {
        var rows: [RelayStatus] = []
        for try await (partner, state, count, oldest) in try await connection.query(
            """
            SELECT partner_id, state, count(*), min(created_at) FILTER (WHERE state IN ('queued', 'in-flight'))
            FROM relay_outbox GROUP BY partner_id, state ORDER BY partner_id, state
            """, logger: logger
        ).decode((String, String, Int64, Date?).self) {
            rows.append(RelayStatus(partnerID: partner, state: state, count: Int(count), oldestQueued: oldest))
        }
        return rows
    }

    public static func messages(state: String, partner: String?, limit: Int, on connection: PostgresConnection, logger: Logger) async throws -> [OutboxMessage] {
        var rows: [OutboxMessage] = []
        for try await (id, partnerID, contract, state, attempts, error, created, next) in try await connection.query(
            """
            SELECT message_id, partner_id, contract, state, attempts, last_error, created_at, next_attempt_at FROM relay_outbox
            WHERE state = \(state) AND (\(partner)::text IS NULL OR partner_id = \(partner)) ORDER BY created_at LIMIT \(limit)
            """, logger: logger
        ).decode((UUID, String, String, String, Int32, String?, Date, Date).self) {
            rows.append(
                OutboxMessage(
                    messageId: id.uuidString.lowercased(), partnerID: partnerID, contract: contract, state: state, attempts: Int(attempts), lastError: error, createdAt: created,
                    nextAttemptAt: next))
        }
        return rows
    }

    /// Queues dead letters again (one, or all of a partner's) with a fresh attempt count; returns their ids.
    public static func redrive(messageId: UUID?, partner: String?, on connection: PostgresConnection, logger: Logger) async throws -> [UUID] {
        var ids: [UUID] = []
        for try await id in try await connection.query(
            """
            UPDATE relay_outbox SET state = 'queued', attempts = 0, next_attempt_at = now(), last_error = NULL
            WHERE state = 'dead' AND (\(messageId)::uuid IS NULL OR message_id = \(messageId)) AND (\(partner)::text IS NULL OR partner_id = \(partner))
            RETURNING message_id
            """, logger: logger
        ).decode(UUID.self) {
            ids.append(id)
        }
        return ids
    }
}
