import Storage

/// The reference schema of the ministry's own database, in its own PostgreSQL schema `ministry`.
///
/// Jisr only reads these tables; `jisr seed` stands in for the ministry's systems that write them.
public enum MinistrySchema {
    public static let migrations: [Migration] = [
        Migration(
            module: "ministry-records", version: 1, name: "persons, establishments, employment, work permits",
            postgres: ["CREATE SCHEMA IF NOT EXISTS ministry"] + v1,
            // On SQLite the schema `ministry` is the records file the store attaches under that name.
            sqlite: v1.map(Migration.sqliteDDL)),
        Migration(
            module: "ministry-records", version: 2, name: "change feed of work permits",
            postgres: v2 + [
                """
                CREATE FUNCTION ministry.capture_permit_change() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF NEW.status IN ('issued', 'renewed', 'cancelled', 'expired')
                       AND (TG_OP = 'INSERT' OR NEW.status IS DISTINCT FROM OLD.status
                            OR (NEW.status = 'renewed' AND NEW.expires_on IS DISTINCT FROM OLD.expires_on)) THEN
                        INSERT INTO ministry.permit_changes (permit_id, event_type) VALUES (NEW.id, NEW.status);
                        PERFORM pg_notify('jisr_permit_changes', '');
                    END IF;
                    RETURN NULL;
                END $$
                """,
                """
                CREATE TRIGGER work_permits_changes AFTER INSERT OR UPDATE ON ministry.work_permits
                FOR EACH ROW EXECUTE FUNCTION ministry.capture_permit_change()
                """,
            ],
            sqlite: v2.map(Migration.sqliteDDL) + [
                """
                CREATE TRIGGER ministry.work_permits_inserted AFTER INSERT ON work_permits
                WHEN NEW.status IN ('issued', 'renewed', 'cancelled', 'expired')
                BEGIN INSERT INTO permit_changes (permit_id, event_type) VALUES (NEW.id, NEW.status); END
                """,
                """
                CREATE TRIGGER ministry.work_permits_updated AFTER UPDATE ON work_permits
                WHEN NEW.status IN ('issued', 'renewed', 'cancelled', 'expired')
                     AND (NEW.status IS NOT OLD.status OR (NEW.status = 'renewed' AND NEW.expires_on IS NOT OLD.expires_on))
                BEGIN INSERT INTO permit_changes (permit_id, event_type) VALUES (NEW.id, NEW.status); END
                """,
            ]),
    ]

    static let v1 = [
        """
        CREATE TABLE ministry.persons (
            id bigint PRIMARY KEY,
            national_id text UNIQUE,
            passport_number text,
            nationality char(2) NOT NULL,
            nssf_number text UNIQUE,
            given_ar text NOT NULL, father_ar text NOT NULL, family_ar text NOT NULL,
            given_latin text NOT NULL, father_latin text NOT NULL, family_latin text NOT NULL,
            mother_ar text NOT NULL, mother_latin text NOT NULL,
            date_of_birth date NOT NULL,
            sex char(1) NOT NULL CHECK (sex IN ('F', 'M')),
            UNIQUE (passport_number, nationality))
        """,
        """
        CREATE TABLE ministry.establishments (
            id bigint PRIMARY KEY,
            registration_number text NOT NULL UNIQUE,
            nssf_employer_number text UNIQUE,
            name_ar text NOT NULL, name_latin text NOT NULL,
            legal_form text NOT NULL,
            isic_section char(1) NOT NULL, isic_class char(4) NOT NULL,
            governorate text NOT NULL, district text NOT NULL, locality text,
            registered_on date NOT NULL,
            status text NOT NULL CHECK (status IN ('active', 'suspended', 'closed')))
        """,
        """
        CREATE TABLE ministry.employments (
            id bigint PRIMARY KEY,
            person_id bigint NOT NULL REFERENCES ministry.persons (id),
            establishment_id bigint NOT NULL REFERENCES ministry.establishments (id),
            occupation_isco08 char(4) NOT NULL,
            start_date date NOT NULL, end_date date,
            monthly_salary bigint NOT NULL, currency char(3) NOT NULL,
            work_permit_number text)
        """,
        "CREATE INDEX employments_person ON ministry.employments (person_id)",
        "CREATE INDEX employments_establishment ON ministry.employments (establishment_id) WHERE end_date IS NULL",
        """
        CREATE TABLE ministry.work_permits (
            id bigint PRIMARY KEY,
            permit_number text NOT NULL UNIQUE,
            person_id bigint NOT NULL REFERENCES ministry.persons (id),
            establishment_id bigint NOT NULL REFERENCES ministry.establishments (id),
            category smallint NOT NULL CHECK (category BETWEEN 1 AND 4),
            status text NOT NULL CHECK (status IN ('pre-approval', 'issued', 'renewed', 'cancelled', 'expired')),
            occupation_isco08 char(4) NOT NULL,
            pre_approval_reference text NOT NULL, pre_approval_date date NOT NULL,
            issued_on date, expires_on date, cancelled_on date,
            updated_at timestamptz NOT NULL)
        """,
        "CREATE INDEX work_permits_person ON ministry.work_permits (person_id)",
        "CREATE INDEX work_permits_changed ON ministry.work_permits (updated_at, id)",
    ]

    static let v2 = [
        // Captured by the database itself, so any writer — the ministry's systems or a plain SQL UPDATE — is seen.
        """
        CREATE TABLE ministry.permit_changes (
            id bigserial PRIMARY KEY,
            permit_id bigint NOT NULL REFERENCES ministry.work_permits (id),
            event_type text NOT NULL CHECK (event_type IN ('issued', 'renewed', 'cancelled', 'expired')),
            occurred_at timestamptz NOT NULL DEFAULT now())
        """,
    ]
}

extension MinistrySchema {
    /// The reference records as `jisr store copy` moves them; the change feed last, replacing what the permit
    /// trigger recorded while the permits were copied.
    public static let copiedTables: [CopiedTable] = [
        CopiedTable(
            "ministry.establishments",
            [("id", .integer), ("registration_number", .text), ("nssf_employer_number", .text), ("name_ar", .text), ("name_latin", .text),
             ("legal_form", .text), ("isic_section", .text), ("isic_class", .text), ("governorate", .text), ("district", .text), ("locality", .text),
             ("registered_on", .day), ("status", .text)], key: ["id"]),
        CopiedTable(
            "ministry.persons",
            [("id", .integer), ("national_id", .text), ("passport_number", .text), ("nationality", .text), ("nssf_number", .text), ("given_ar", .text),
             ("father_ar", .text), ("family_ar", .text), ("given_latin", .text), ("father_latin", .text), ("family_latin", .text), ("mother_ar", .text),
             ("mother_latin", .text), ("date_of_birth", .day), ("sex", .text)], key: ["id"]),
        CopiedTable(
            "ministry.employments",
            [("id", .integer), ("person_id", .integer), ("establishment_id", .integer), ("occupation_isco08", .text), ("start_date", .day),
             ("end_date", .day), ("monthly_salary", .integer), ("currency", .text), ("work_permit_number", .text)], key: ["id"]),
        CopiedTable(
            "ministry.work_permits",
            [("id", .integer), ("permit_number", .text), ("person_id", .integer), ("establishment_id", .integer), ("category", .integer),
             ("status", .text), ("occupation_isco08", .text), ("pre_approval_reference", .text), ("pre_approval_date", .day), ("issued_on", .day),
             ("expires_on", .day), ("cancelled_on", .day), ("updated_at", .instant)], key: ["id"]),
        CopiedTable(
            "ministry.permit_changes", [("id", .integer), ("permit_id", .integer), ("event_type", .text), ("occurred_at", .instant)], key: ["id"],
            replacesTargetRows: true, serial: "id"),
    ]
}
