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
