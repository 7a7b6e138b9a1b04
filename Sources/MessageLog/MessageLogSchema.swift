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
            portable: [
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
            portable: ["ALTER TABLE message_log ADD COLUMN detail text"]),
        Migration(
            module: "message-log", version: 3, name: "Merkle tree nodes and signed seals",
            portable: [
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
        Migration(
            module: "message-log", version: 4, name: "agreements, disclosed fields and subjects of entries (jisr-log/2)",
            portable: [
                // Rows written before keep format 1 and hash as they did.
                "ALTER TABLE message_log ADD COLUMN hash_format smallint NOT NULL DEFAULT 1",
                "ALTER TABLE message_log ADD COLUMN agreement_id bigint",
                // Line-feed separated, as the hash takes them.
                "ALTER TABLE message_log ADD COLUMN disclosed_fields text",
                "ALTER TABLE message_log ADD COLUMN subjects text",
                // Which entries concern a subject reference: derived from the entries' subjects (hashed there), kept so
                // that a person's report reads its rows by index, never by scanning the log.
                "CREATE TABLE log_subjects (subject_reference text NOT NULL, seq bigint NOT NULL, PRIMARY KEY (subject_reference, seq))",
                "INSERT INTO log_subjects (subject_reference, seq) SELECT subject_reference, seq FROM message_log WHERE subject_reference IS NOT NULL",
            ]),
        Migration(
            module: "message-log", version: 5, name: "Merkle tree tiles instead of nodes",
            portable: [
                // 16 hashes of one level in a row (SealStore): a proof decodes a few rows instead of dozens. Derived data,
                // rebuilt from the entries on the next seal, so the nodes are dropped rather than converted.
                "CREATE TABLE log_tree_tiles (level smallint NOT NULL, idx bigint NOT NULL, hashes bytea NOT NULL, PRIMARY KEY (level, idx))",
                "DROP TABLE log_tree_nodes",
            ]),
        Migration(
            module: "message-log", version: 6, name: "disclosure moment of entries (jisr-log/3)",
            portable: [
                // Rows written before keep their format and hash as they did; theirs stays NULL (see AccessReporter).
                "ALTER TABLE message_log ADD COLUMN disclosable_at bigint"
            ]),
    ]
}

extension MessageLogSchema {
    /// The log, its tree tiles and its seals as `jisr store copy` moves them: entries keep their seq and hashes.
    public static let copiedTables: [CopiedTable] = [
        CopiedTable(
            "message_log",
            [("seq", .integer), ("recorded_at", .integer), ("message_id", .uuid), ("correlation_id", .uuid), ("partner", .text),
             ("certificate_fingerprint", .text), ("direction", .text), ("contract", .text), ("operation", .text), ("purpose", .text),
             ("case_reference", .text), ("subject_reference", .text), ("status", .integer), ("problem_type", .text), ("request_digest", .text),
             ("response_digest", .text), ("prev_hash", .text), ("entry_hash", .text), ("detail", .text), ("hash_format", .integer),
             ("agreement_id", .integer), ("disclosed_fields", .text), ("subjects", .text), ("disclosable_at", .integer)], key: ["seq"]),
        CopiedTable("log_subjects", [("subject_reference", .text), ("seq", .integer)], key: ["subject_reference", "seq"]),
        CopiedTable("log_tree_tiles", [("level", .integer), ("idx", .integer), ("hashes", .bytes)], key: ["level", "idx"]),
        CopiedTable(
            "log_seals",
            [("tree_size", .integer), ("root_hash", .text), ("sealed_at_ms", .integer), ("signature", .bytes), ("public_key", .text),
             ("certificate", .text), ("timestamp_token", .bytes), ("timestamped_at", .instant)], key: ["tree_size"]),
    ]
}
