import Storage

/// The registry's tables: partners, their certificates, purposes and agreements.
///
/// Every change bumps `registry_version` (by trigger, so hand edits count too); running gateways poll it
/// and reload, which is how a suspension reaches every process without a restart.
public enum RegistrySchema {
    public static let migrations: [Migration] = [
        Migration(
            module: "registry", version: 1, name: "partners, certificates, purposes, agreements",
            postgres: v1Tables + [
                """
                CREATE FUNCTION bump_registry_version() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN UPDATE registry_version SET version = version + 1; RETURN NULL; END $$
                """,
                "CREATE TRIGGER partners_changed AFTER INSERT OR UPDATE OR DELETE ON partners FOR EACH STATEMENT EXECUTE FUNCTION bump_registry_version()",
                "CREATE TRIGGER certificates_changed AFTER INSERT OR UPDATE OR DELETE ON partner_certificates FOR EACH STATEMENT EXECUTE FUNCTION bump_registry_version()",
                "CREATE TRIGGER purposes_changed AFTER INSERT OR UPDATE OR DELETE ON purposes FOR EACH STATEMENT EXECUTE FUNCTION bump_registry_version()",
                "CREATE TRIGGER agreements_changed AFTER INSERT OR UPDATE OR DELETE ON agreements FOR EACH STATEMENT EXECUTE FUNCTION bump_registry_version()",
            ],
            sqlite: v1Tables.map(Migration.sqliteDDL) + ["partners", "partner_certificates", "purposes", "agreements"].flatMap(sqliteVersionTriggers)),
        Migration(
            module: "registry", version: 2, name: "partner contact",
            statements: ["ALTER TABLE partners ADD COLUMN contact text"]),
        Migration(
            module: "registry", version: 3, name: "trusted partner CAs, certificate issuers and serials",
            postgres: v3 + [
                "CREATE TRIGGER trusted_cas_changed AFTER INSERT OR UPDATE OR DELETE ON trusted_cas FOR EACH STATEMENT EXECUTE FUNCTION bump_registry_version()"
            ],
            sqlite: v3.map(Migration.sqliteDDL) + sqliteVersionTriggers("trusted_cas")),
        Migration(
            module: "registry", version: 4, name: "row-level scope of agreements",
            portable: ["ALTER TABLE agreements ADD COLUMN scope_nationalities text[]"]),
        Migration(
            module: "registry", version: 5, name: "mapping files attached to partners",
            postgres: v5 + [
                "CREATE TRIGGER partner_mappings_changed AFTER INSERT OR UPDATE OR DELETE ON partner_mappings FOR EACH STATEMENT EXECUTE FUNCTION bump_registry_version()"
            ],
            sqlite: v5.map(Migration.sqliteDDL) + sqliteVersionTriggers("partner_mappings")),
        Migration(
            module: "registry", version: 6, name: "registry changes notify the gateways",
            postgres: [
                // Delivered at commit: gateways listening reload at once; the version poll stays as the fallback.
                """
                CREATE OR REPLACE FUNCTION bump_registry_version() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN UPDATE registry_version SET version = version + 1; PERFORM pg_notify('jisr_registry_changed', ''); RETURN NULL; END $$
                """
            ],
            // SQLite has no notifications: gateways on SQLite see registry changes by polling the version.
            sqlite: []),
        Migration(
            module: "registry", version: 7, name: "registered administrators",
            portable: [
                // The admin CA's signature is no longer enough: an administrator's certificate is registered and can be
                // revoked, like a partner's. Read on every admin request, so a revocation holds at once.
                """
                CREATE TABLE administrators (
                    fingerprint text PRIMARY KEY CHECK (fingerprint ~ '^[0-9a-f]{64}$'),
                    name text NOT NULL, subject text NOT NULL, not_after timestamptz NOT NULL,
                    status text NOT NULL CHECK (status IN ('active', 'revoked')), revoked_reason text,
                    created_at timestamptz NOT NULL DEFAULT now())
                """
            ]),
        Migration(
            module: "registry", version: 8, name: "disclosure delays of purposes",
            portable: [
                "ALTER TABLE purposes ADD COLUMN disclosure_delay_seconds bigint",
                "ALTER TABLE purposes ADD COLUMN disclosure_delay_basis text",
            ]),
        Migration(
            // A CRL dates every revocation (RFC 5280 §5.3); certificates revoked before this column existed are dated
            // by the list that first names them.
            module: "registry", version: 9, name: "revocation dates of certificates",
            portable: ["ALTER TABLE partner_certificates ADD COLUMN revoked_at timestamptz"]),
        Migration(
            // An Arabic report cites the law in Arabic; purposes registered before keep their English one only.
            module: "registry", version: 10, name: "Arabic legal basis of purposes",
            portable: ["ALTER TABLE purposes ADD COLUMN legal_basis_ar text"]),
    ]

    static let v1Tables = [
                """
                CREATE TABLE partners (
                    id text PRIMARY KEY CHECK (id ~ '^[A-Z]{2}-[A-Z0-9]{2,12}$'),
                    name_ar text NOT NULL, name_en text NOT NULL, country char(2) NOT NULL,
                    status text NOT NULL CHECK (status IN ('pending', 'active', 'suspended', 'retired')),
                    adapter text NOT NULL DEFAULT 'standard', endpoint text,
                    created_at timestamptz NOT NULL DEFAULT now())
                """,
                """
                CREATE TABLE partner_certificates (
                    fingerprint text PRIMARY KEY CHECK (fingerprint ~ '^[0-9a-f]{64}$'),
                    partner_id text NOT NULL REFERENCES partners (id),
                    subject text NOT NULL, not_before timestamptz NOT NULL, not_after timestamptz NOT NULL,
                    status text NOT NULL CHECK (status IN ('active', 'revoked')), revoked_reason text,
                    created_at timestamptz NOT NULL DEFAULT now())
                """,
                """
                CREATE TABLE purposes (
                    code text PRIMARY KEY CHECK (code ~ '^[a-z][a-z0-9-]{2,63}$'),
                    description_ar text NOT NULL, description_en text NOT NULL, legal_basis text NOT NULL)
                """,
                """
                CREATE TABLE agreements (
                    id bigserial PRIMARY KEY,
                    partner_id text NOT NULL REFERENCES partners (id),
                    contract text NOT NULL, contract_version integer NOT NULL,
                    operations text[] NOT NULL, purposes text[] NOT NULL, fields text[] NOT NULL,
                    valid_from timestamptz NOT NULL, valid_until timestamptz NOT NULL CHECK (valid_until > valid_from),
                    mou_reference text NOT NULL, rate_limit_per_minute integer,
                    status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'revoked')),
                    created_at timestamptz NOT NULL DEFAULT now())
                """,
                "CREATE TABLE registry_version (id boolean PRIMARY KEY DEFAULT true CHECK (id), version bigint NOT NULL)",
                "INSERT INTO registry_version VALUES (true, 1)",
    ]

    static let v3 = [
        """
        CREATE TABLE trusted_cas (
            fingerprint text PRIMARY KEY CHECK (fingerprint ~ '^[0-9a-f]{64}$'),
            subject text NOT NULL, pem text NOT NULL, not_after timestamptz NOT NULL,
            added_at timestamptz NOT NULL DEFAULT now())
        """,
        "ALTER TABLE partner_certificates ADD COLUMN issuer text",
        "ALTER TABLE partner_certificates ADD COLUMN serial text",
        // A CA never issues the same serial twice; Jisr refuses to register a repeat.
        "CREATE UNIQUE INDEX partner_certificates_issuer_serial ON partner_certificates (issuer, serial) WHERE serial IS NOT NULL",
    ]

    /// Never updated: attaching a new mapping adds a row, so every mapping a partner ever had stays readable.
    static let v5 = [
        """
        CREATE TABLE partner_mappings (
            id bigserial PRIMARY KEY, partner_id text NOT NULL REFERENCES partners (id),
            source text NOT NULL, files jsonb NOT NULL DEFAULT '{}', digest text NOT NULL,
            attached_at timestamptz NOT NULL DEFAULT now())
        """,
        "CREATE INDEX partner_mappings_partner ON partner_mappings (partner_id, id)",
    ]

    /// SQLite triggers name one event each; every change of `table` bumps the registry version.
    static func sqliteVersionTriggers(_ table: String) -> [String] {
        ["INSERT", "UPDATE", "DELETE"].map { event in
            "CREATE TRIGGER \(table)_\(event.lowercased())_bumps_version AFTER \(event) ON \(table) BEGIN UPDATE registry_version SET version = version + 1; END"
        }
    }
}

extension RegistrySchema {
    /// The registry's tables as `jisr store copy` moves them, parents before children.
    public static let copiedTables: [CopiedTable] = [
        CopiedTable(
            "purposes",
            [("code", .text), ("description_ar", .text), ("description_en", .text), ("legal_basis", .text), ("disclosure_delay_seconds", .integer),
             ("disclosure_delay_basis", .text), ("legal_basis_ar", .text)], key: ["code"]),
        CopiedTable(
            "partners",
            [("id", .text), ("name_ar", .text), ("name_en", .text), ("country", .text), ("status", .text), ("adapter", .text), ("endpoint", .text),
             ("created_at", .instant), ("contact", .text)], key: ["id"]),
        CopiedTable(
            "partner_certificates",
            [("fingerprint", .text), ("partner_id", .text), ("subject", .text), ("not_before", .instant), ("not_after", .instant), ("status", .text),
             ("revoked_reason", .text), ("created_at", .instant), ("issuer", .text), ("serial", .text), ("revoked_at", .instant)], key: ["fingerprint"]),
        CopiedTable(
            "agreements",
            [("id", .integer), ("partner_id", .text), ("contract", .text), ("contract_version", .integer), ("operations", .list), ("purposes", .list),
             ("fields", .list), ("valid_from", .instant), ("valid_until", .instant), ("mou_reference", .text), ("rate_limit_per_minute", .integer),
             ("status", .text), ("created_at", .instant), ("scope_nationalities", .list)], key: ["id"], serial: "id"),
        CopiedTable(
            "administrators",
            [("fingerprint", .text), ("name", .text), ("subject", .text), ("not_after", .instant), ("status", .text), ("revoked_reason", .text),
             ("created_at", .instant)], key: ["fingerprint"]),
        CopiedTable(
            "trusted_cas", [("fingerprint", .text), ("subject", .text), ("pem", .text), ("not_after", .instant), ("added_at", .instant)], key: ["fingerprint"]),
        CopiedTable(
            "partner_mappings",
            [("id", .integer), ("partner_id", .text), ("source", .text), ("files", .json), ("digest", .text), ("attached_at", .instant)], key: ["id"],
            serial: "id"),
        // The migration made the one row; the source's version replaces it.
        CopiedTable("registry_version", [("id", .bool), ("version", .integer)], key: ["id"], replacesTargetRows: true),
    ]
}
