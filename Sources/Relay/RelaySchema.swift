import Storage

/// The relay's tables: the outbox of messages to deliver, and how far the change feed has been read.
public enum RelaySchema {
    public static let migrations: [Migration] = [
        Migration(
            module: "relay", version: 1, name: "outbox and change-feed position",
            portable: [
                """
                CREATE TABLE relay_outbox (
                    message_id uuid PRIMARY KEY,
                    partner_id text NOT NULL,
                    contract text NOT NULL,
                    endpoint text NOT NULL,
                    media_type text NOT NULL,
                    sealed_body bytea NOT NULL,
                    state text NOT NULL CHECK (state IN ('queued', 'in-flight', 'delivered', 'dead')),
                    attempts integer NOT NULL DEFAULT 0,
                    next_attempt_at timestamptz NOT NULL DEFAULT now(),
                    locked_until timestamptz,
                    last_error text,
                    log_seq bigint NOT NULL,
                    created_at timestamptz NOT NULL DEFAULT now(),
                    delivered_at timestamptz)
                """,
                "CREATE INDEX relay_outbox_due ON relay_outbox (next_attempt_at) WHERE state IN ('queued', 'in-flight')",
                "CREATE INDEX relay_outbox_partner ON relay_outbox (partner_id, state)",
                "CREATE TABLE relay_feed (feed text PRIMARY KEY, position bigint NOT NULL)",
            ])
    ]
}

extension RelaySchema {
    /// The outbox, the feed position and the inbox as `jisr store copy` moves them.
    public static let copiedTables: [CopiedTable] = [
        CopiedTable(
            "relay_outbox",
            [("message_id", .uuid), ("partner_id", .text), ("contract", .text), ("endpoint", .text), ("media_type", .text), ("sealed_body", .bytes),
             ("state", .text), ("attempts", .integer), ("next_attempt_at", .instant), ("locked_until", .instant), ("last_error", .text),
             ("log_seq", .integer), ("created_at", .instant), ("delivered_at", .instant)], key: ["message_id"]),
        CopiedTable("relay_feed", [("feed", .text), ("position", .integer)], key: ["feed"]),
        CopiedTable(
            "inbox",
            [("message_id", .uuid), ("partner_id", .text), ("idempotency_reference", .text), ("request_digest", .text), ("contract", .text),
             ("media_type", .text), ("sealed_body", .bytes), ("received_at", .instant), ("acknowledged_at", .instant)], key: ["message_id"]),
    ]
}
