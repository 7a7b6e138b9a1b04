import Logging
import NIOCore
import PostgresNIO
import Storage

/// The reference tables already hold records; seeding again needs `replace`.
public struct RecordsPresentError: Error, Sendable, CustomStringConvertible {
    public let persons: Int64
    public var description: String { "the ministry records already hold \(persons) persons; pass --replace to seed anew" }
}

/// Fills the reference schema with a synthetic population in chunks: COPY on PostgreSQL, multi-row inserts on SQLite.
public struct Seeder: Sendable {
    /// What was written.
    public struct Summary: Sendable {
        public var persons = 0
        public var establishments = 0
        public var employments = 0
        public var workPermits = 0
    }

    let database: Database
    let logger: Logger

    public init(database: Database, logger: Logger) {
        self.database = database
        self.logger = logger
    }

    /// Seeds `persons` persons from `seed`; `progress` gets (persons written, total) after each chunk.
    public func seed(persons: Int, seed: UInt64, replace: Bool, chunk: Int = 10_000, progress: @Sendable (Int, Int) -> Void = { _, _ in }) async throws -> Summary {
        // Jisr never writes the ministry's records: only a store made for synthetic data takes them.
        guard try await SyntheticStore.isMarked(database) else { throw RealStoreError(creator: "seeding synthetic records") }
        let existing = try await count()
        if existing > 0 {
            guard replace else { throw RecordsPresentError(persons: existing) }
            if database.dialect == .postgres {
                try await database.query(
                    "TRUNCATE ministry.permit_changes, ministry.work_permits, ministry.employments, ministry.persons, ministry.establishments")
            } else {
                try await database.withTransaction { connection in
                    for table in ["permit_changes", "work_permits", "employments", "persons", "establishments"] {
                        try await connection.query("DELETE FROM ministry.\(unescaped: table)")
                    }
                }
            }
        }
        let population = SyntheticPopulation(persons: persons, seed: seed)
        var summary = Summary()
        let establishments = population.establishments()
        try await copy(establishments, into: "establishments", columns: [
            "id", "registration_number", "nssf_employer_number", "name_ar", "name_latin", "legal_form", "isic_section", "isic_class",
            "governorate", "district", "locality", "registered_on", "status",
        ])
        summary.establishments = establishments.count
        var start = 0
        while start < persons {
            let range = start..<min(persons, start + chunk)
            let rows = population.rows(for: range)
            try await copy(rows.persons, into: "persons", columns: [
                "id", "national_id", "passport_number", "nationality", "nssf_number", "given_ar", "father_ar", "family_ar",
                "given_latin", "father_latin", "family_latin", "mother_ar", "mother_latin", "date_of_birth", "sex",
            ])
            try await copy(rows.employments, into: "employments", columns: [
                "id", "person_id", "establishment_id", "occupation_isco08", "start_date", "end_date", "monthly_salary", "currency", "work_permit_number",
            ])
            try await copy(rows.workPermits, into: "work_permits", columns: [
                "id", "permit_number", "person_id", "establishment_id", "category", "status", "occupation_isco08",
                "pre_approval_reference", "pre_approval_date", "issued_on", "expires_on", "cancelled_on", "updated_at",
            ])
            summary.persons += rows.persons.count
            summary.employments += rows.employments.count
            summary.workPermits += rows.workPermits.count
            start = range.upperBound
            progress(start, persons)
        }
        if database.dialect == .postgres {
            try await database.query("ANALYZE ministry.persons")
            try await database.query("ANALYZE ministry.employments")
        } else {
            try await database.query("ANALYZE ministry")
        }
        return summary
    }

    public func count() async throws -> Int64 {
        try await database.query("SELECT count(*) FROM ministry.persons").first?[0].decode(Int64.self) ?? 0
    }

    /// Sample identifiers that exist, for the demo's manifest and for tests.
    public func samples(limit: Int = 5) async throws -> RecordSamples {
        var samples = RecordSamples()
        for id in try await database.query("SELECT p.national_id FROM ministry.persons p WHERE p.national_id IS NOT NULL AND EXISTS (SELECT 1 FROM ministry.employments m WHERE m.person_id = p.id) ORDER BY p.id LIMIT \(limit)").decode(String.self) {
            samples.nationalIds.append(id)
        }
        for (number, nationality) in try await database.query("SELECT p.passport_number, p.nationality FROM ministry.persons p WHERE p.nationality <> 'LB' AND EXISTS (SELECT 1 FROM ministry.employments m WHERE m.person_id = p.id) ORDER BY p.id LIMIT \(limit)").decode((String, String).self) {
            samples.passports.append(.init(passportNumber: number, nationality: nationality))
        }
        for number in try await database.query("SELECT p.nssf_number FROM ministry.persons p WHERE p.nssf_number IS NOT NULL AND EXISTS (SELECT 1 FROM ministry.employments m WHERE m.person_id = p.id) ORDER BY p.id LIMIT \(limit)").decode(String.self) {
            samples.nssfNumbers.append(number)
        }
        for number in try await database.query("SELECT registration_number FROM ministry.establishments WHERE status = 'active' ORDER BY id LIMIT \(limit)").decode(String.self) {
            samples.establishmentNumbers.append(number)
        }
        return samples
    }

    private func copy(_ rows: [[String?]], into table: String, columns: [String]) async throws {
        guard !rows.isEmpty else { return }
        guard let client = database.postgresClient else { return try await insert(rows, into: table, columns: columns) }
        try await client.withTransaction(logger: logger) { connection -> Void in
            // postgres-nio quotes the table name whole, so the schema comes from the search path.
            try await connection.query("SET LOCAL search_path TO ministry", logger: logger)
            // Seeding is history, not news: keep the change feed out of it where the role allows (superuser).
            try await connection.query("SAVEPOINT quiet", logger: logger)
            do {
                try await connection.query("SET LOCAL session_replication_role = replica", logger: logger)
                try await connection.query("RELEASE SAVEPOINT quiet", logger: logger)
            } catch {
                try await connection.query("ROLLBACK TO SAVEPOINT quiet", logger: logger)
            }
            try await connection.copyFrom(table: table, columns: columns, logger: logger) { writer in
                var buffer = ByteBuffer()
                buffer.reserveCapacity(1 << 20)
                for row in rows {
                    for (position, value) in row.enumerated() {
                        if position > 0 { buffer.writeInteger(UInt8(ascii: "\t")) }
                        if let value { Self.writeEscaped(value, into: &buffer) } else { buffer.writeStaticString("\\N") }
                    }
                    buffer.writeInteger(UInt8(ascii: "\n"))
                    if buffer.readableBytes > 1 << 20 {
                        try await writer.write(buffer)
                        buffer.clear()
                    }
                }
                if buffer.readableBytes > 0 { try await writer.write(buffer) }
            }
        }
    }

    /// SQLite has no COPY: multi-row inserts in one transaction, a few hundred rows per statement. Values are text,
    /// which column affinity turns into integers; instants become microseconds. Seeding is history, not news: the
    /// changes the permit trigger records are removed in the same transaction.
    private func insert(_ rows: [[String?]], into table: String, columns: [String]) async throws {
        let perStatement = max(1, 8_000 / columns.count)
        try await database.withTransaction { connection in
            let feedHead = try await connection.query("SELECT coalesce(max(id), 0) FROM ministry.permit_changes").first?[0].decode(Int64.self) ?? 0
            var start = 0
            while start < rows.count {
                let values = rows[start..<min(rows.count, start + perStatement)].map { row -> SQL in
                    let cells = zip(columns, row).map { column, value -> SQL in
                        column == "updated_at" ? "CAST(unixepoch(substr(\(value), 1, 19)) * 1000000 AS INTEGER)" : "\(value)"
                    }
                    return "(" + SQL.joined(cells, separator: ", ") + ")"
                }
                try await connection.query(
                    "INSERT INTO ministry.\(unescaped: table) (\(unescaped: columns.joined(separator: ", "))) VALUES " + SQL.joined(values, separator: ", "))
                start += perStatement
            }
            try await connection.query("DELETE FROM ministry.permit_changes WHERE id > \(feedHead)")
        }
    }

    /// COPY text format: backslash, tab, newline and carriage return are escaped.
    private static func writeEscaped(_ value: String, into buffer: inout ByteBuffer) {
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\\"): buffer.writeStaticString("\\\\")
            case UInt8(ascii: "\t"): buffer.writeStaticString("\\t")
            case UInt8(ascii: "\n"): buffer.writeStaticString("\\n")
            case UInt8(ascii: "\r"): buffer.writeStaticString("\\r")
            default: buffer.writeInteger(byte)
            }
        }
    }
}

/// Identifiers that exist in the seeded records.
public struct RecordSamples: Sendable, Codable {
    /// A foreign worker's passport and nationality.
    public struct Passport: Sendable, Codable {
        public var passportNumber: String
        public var nationality: String
    }

    public var nationalIds: [String] = []
    public var passports: [Passport] = []
    public var nssfNumbers: [String] = []
    public var establishmentNumbers: [String] = []
}
