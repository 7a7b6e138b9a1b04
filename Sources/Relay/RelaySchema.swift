import Storage

/// The relay's tables: the outbox of messages to deliver, and how far the change feed has been read.
public enum RelaySchema {
    public static let migrations: [Migration] = [
        Migration(
            module: "relay", version: 1, name: "outbox and change-feed position",
            statements: [
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
