import Storage

/// The message log's tables.
///
/// `seq` is gapless and assigned by the single writer; hashes are hex text so that anyone with `psql` can
/// read and recompute them. The table is append-only for the application role; the chain makes any change
/// by someone else visible to `jisr log verify`.
public enum MessageLogSchema {
    public static let migrations: [Migration] = [
        Migration(
            module: "message-log", version: 1, name: "message log",
            statements: [
                """
                CREATE TABLE message_log (
                    seq bigint PRIMARY KEY,
                    recorded_at bigint NOT NULL,
                    message_id uuid NOT NULL,
                    correlation_id uuid,
                    partner text,
                    certificate_fingerprint text,
                    direction text NOT NULL,
                    contract text,
                    operation text,
                    purpose text,
                    case_reference text,
                    subject_reference text,
                    status integer NOT NULL,
                    problem_type text,
                    request_digest text NOT NULL,
                    response_digest text,
                    prev_hash text NOT NULL,
                    entry_hash text NOT NULL
                )
                """,
                "CREATE INDEX message_log_message_id ON message_log (message_id)",
                "CREATE INDEX message_log_subject ON message_log (subject_reference) WHERE subject_reference IS NOT NULL",
                "CREATE INDEX message_log_partner ON message_log (partner, seq)",
            ]),
        Migration(
            module: "message-log", version: 2, name: "detail of administrative entries",
            statements: ["ALTER TABLE message_log ADD COLUMN detail text"]),
        Migration(
            module: "message-log", version: 3, name: "Merkle tree nodes and signed seals",
            statements: [
                // Derived from the entries, kept so that proofs over millions of entries stay cheap.
                "CREATE TABLE log_tree_nodes (height smallint NOT NULL, idx bigint NOT NULL, hash bytea NOT NULL, PRIMARY KEY (height, idx))",
                """
                CREATE TABLE log_seals (
                    tree_size bigint PRIMARY KEY CHECK (tree_size > 0),
                    root_hash text NOT NULL CHECK (root_hash ~ '^[0-9a-f]{64}$'),
                    sealed_at_ms bigint NOT NULL,
                    signature bytea NOT NULL, public_key text NOT NULL, certificate text NOT NULL,
                    timestamp_token bytea, timestamped_at timestamptz)
                """,
                "CREATE INDEX log_seals_awaiting_timestamp ON log_seals (tree_size) WHERE timestamp_token IS NULL",
            ]),
    ]
}
