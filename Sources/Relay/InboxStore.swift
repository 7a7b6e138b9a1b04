import Foundation
import Logging
import NIOCore
import PostgresNIO
import Storage

/// What a partner sent in, as stored: sealed body, its digest and the idempotency key it came with.
public struct InboxRow: Sendable, Hashable, Codable {
    public let messageId: UUID
    public let partnerID: String
    public let idempotencyKey: String
    public let requestDigest: String
    public let contract: String
    public let mediaType: String
    public let receivedAt: Date
    public let acknowledgedAt: Date?
}

/// The inbox of documents partners sent (`POST /v1/messages`): stored in the transaction of their log entry.
public enum InboxStore {
    public static let migrations = [
        Migration(
            module: "inbox", version: 1, name: "inbox of inbound sends",
            statements: [
                """
                CREATE TABLE inbox (
                    message_id uuid PRIMARY KEY,
                    partner_id text NOT NULL,
                    idempotency_key text NOT NULL,
                    request_digest text NOT NULL,
                    contract text NOT NULL,
                    media_type text NOT NULL,
                    sealed_body bytea NOT NULL,
                    received_at timestamptz NOT NULL DEFAULT now(),
                    acknowledged_at timestamptz,
                    UNIQUE (partner_id, idempotency_key))
                """
            ])
    ]

    static let columns = "message_id, partner_id, idempotency_key, request_digest, contract, media_type, received_at, acknowledged_at"

    public static func insert(
        messageId: UUID, partner: String, key: String, digest: String, contract: String, mediaType: String, sealedBody: [UInt8],
        on connection: PostgresConnection, logger: Logger
    ) async throws {
        try await connection.query(
            """
            INSERT INTO inbox (message_id, partner_id, idempotency_key, request_digest, contract, media_type, sealed_body)
            VALUES (\(messageId), \(partner), \(key), \(digest), \(contract), \(mediaType), \(ByteBuffer(bytes: sealedBody)))
            """, logger: logger)
    }

    /// The row a partner's idempotency key already names, if any.
    public static func find(partner: String, key: String, client: PostgresClient, logger: Logger) async throws -> InboxRow? {
        for try await row in try await client.query(
            "SELECT \(unescaped: columns) FROM inbox WHERE partner_id = \(partner) AND idempotency_key = \(key)", logger: logger)
        {
            return try decode(row)
        }
        return nil
    }

    public static func list(partner: String?, unacknowledgedOnly: Bool, limit: Int, client: PostgresClient, logger: Logger) async throws -> [InboxRow] {
        var rows: [InboxRow] = []
        for try await row in try await client.query(
            """
            SELECT \(unescaped: columns) FROM inbox
            WHERE (\(partner)::text IS NULL OR partner_id = \(partner)) AND (NOT \(unacknowledgedOnly) OR acknowledged_at IS NULL)
            ORDER BY received_at LIMIT \(limit)
            """, logger: logger)
        {
            rows.append(try decode(row))
        }
        return rows
    }

    /// The stored (sealed) body of a message.
    public static func sealedBody(_ id: UUID, client: PostgresClient, logger: Logger) async throws -> (InboxRow, [UInt8])? {
        for try await row in try await client.query("SELECT \(unescaped: columns), sealed_body FROM inbox WHERE message_id = \(id)", logger: logger) {
            return (try decode(row), Array(try row.makeRandomAccess()[8].decode(ByteBuffer.self).readableBytesView))
        }
        return nil
    }

    public static func acknowledge(_ id: UUID, on connection: PostgresConnection, logger: Logger) async throws -> Bool {
        var found = false
        for try await _ in try await connection.query(
            "UPDATE inbox SET acknowledged_at = now() WHERE message_id = \(id) AND acknowledged_at IS NULL RETURNING message_id", logger: logger
        ).decode(UUID.self) {
            found = true
        }
        return found
    }

    static func decode(_ row: PostgresRow) throws -> InboxRow {
        let c = row.makeRandomAccess()
        return InboxRow(
            messageId: try c[0].decode(UUID.self), partnerID: try c[1].decode(String.self), idempotencyKey: try c[2].decode(String.self),
            requestDigest: try c[3].decode(String.self), contract: try c[4].decode(String.self), mediaType: try c[5].decode(String.self),
            receivedAt: try c[6].decode(Date.self), acknowledgedAt: try c[7].decode(Date?.self))
    }
}
