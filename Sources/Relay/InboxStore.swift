import Foundation
import Logging
import MessageLog
import Storage

/// What a partner sent in, as stored: sealed body, its digest and a keyed hash of the idempotency key it came with.
public struct InboxRow: Sendable, Hashable, Codable {
    public let messageId: UUID
    public let partnerID: String
    /// HMAC of the partner's `Idempotency-Key` under the subject key: a key can carry anything (a national id), so
    /// it is never stored as sent; the same key from the same partner still finds its row.
    public let idempotencyReference: String
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
            portable: [
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
            ]),
        Migration(
            module: "inbox", version: 2, name: "idempotency keys kept as keyed hashes",
            portable: [
                "ALTER TABLE inbox RENAME COLUMN idempotency_key TO idempotency_reference",
                // Keys stored in clear before this version cannot be hashed here (the database never holds the subject
                // key): they are erased, so a partner repeating one of those sends after the upgrade is stored anew.
                "UPDATE inbox SET idempotency_reference = 'erased:' || message_id",
            ]),
    ]

    static let columns = "message_id, partner_id, idempotency_reference, request_digest, contract, media_type, received_at, acknowledged_at"

    public static func insert(
        messageId: UUID, partner: String, reference: String, digest: String, contract: String, mediaType: String, sealedBody: [UInt8],
        on connection: DatabaseConnection
    ) async throws {
        try await connection.query(
            """
            INSERT INTO inbox (message_id, partner_id, idempotency_reference, request_digest, contract, media_type, sealed_body)
            VALUES (\(messageId), \(partner), \(reference), \(digest), \(contract), \(mediaType), \(sealedBody))
            """)
    }

    /// What the inbox keeps of an `Idempotency-Key`: its keyed hash, in an identifier space of its own.
    public static func reference(idempotencyKey key: String, referencer: SubjectReferencer) -> String {
        referencer.reference(kind: "idempotency-key", identifier: key)
    }

    /// The row a partner's idempotency key (by its reference) already names, if any.
    public static func find(partner: String, reference: String, database: Database) async throws -> InboxRow? {
        try await database.query(
            SQL("SELECT \(unescaped: columns) FROM inbox WHERE partner_id = \(partner) AND idempotency_reference = \(reference)").prepared)
            .first.map(decode)
    }

    public static func list(partner: String?, unacknowledgedOnly: Bool, limit: Int, database: Database) async throws -> [InboxRow] {
        let partnerFilter: SQL = partner.map { "AND partner_id = \($0)" } ?? ""
        let pendingFilter: SQL = unacknowledgedOnly ? "AND acknowledged_at IS NULL" : ""
        return try await database.query(
            "SELECT \(unescaped: columns) FROM inbox WHERE true \(partnerFilter) \(pendingFilter) ORDER BY received_at LIMIT \(limit)"
        ).map(decode)
    }

    /// The stored (sealed) body of a message.
    public static func sealedBody(_ id: UUID, database: Database) async throws -> (InboxRow, [UInt8])? {
        guard let row = try await database.query("SELECT \(unescaped: columns), sealed_body FROM inbox WHERE message_id = \(id)").first else { return nil }
        return (try decode(row), try row[8].decode([UInt8].self))
    }

    public static func acknowledge(_ id: UUID, on connection: DatabaseConnection) async throws -> Bool {
        try await !connection.query(
            "UPDATE inbox SET acknowledged_at = \(Date()) WHERE message_id = \(id) AND acknowledged_at IS NULL RETURNING message_id"
        ).isEmpty
    }

    static func decode(_ row: DatabaseRow) throws -> InboxRow {
        let c = row
        return InboxRow(
            messageId: try c[0].decode(UUID.self), partnerID: try c[1].decode(String.self), idempotencyReference: try c[2].decode(String.self),
            requestDigest: try c[3].decode(String.self), contract: try c[4].decode(String.self), mediaType: try c[5].decode(String.self),
            receivedAt: try c[6].decode(Date.self), acknowledgedAt: try c[7].decode(Date?.self))
    }
}
