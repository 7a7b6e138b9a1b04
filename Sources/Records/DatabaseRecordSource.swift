import Foundation
import Logging
import Storage
import Schemas

/// Reads the ministry's records from the reference schema (`ministry.*`), on either store.
///
/// Civil dates are `date` on PostgreSQL and ISO text on SQLite; instants are `timestamptz` and integer
/// microseconds. The few expressions that differ come from `RecordColumns`.
public struct DatabaseRecordSource: RecordSource {
    let database: Database
    let logger: Logger
    /// Every read answers within this or fails as unavailable: an exchange waiting on a store that is down is
    /// answered 503, not held.
    let deadline: Duration
    private let columns: RecordColumns

    public init(database: Database, deadline: Duration = .seconds(5), logger: Logger) {
        self.database = database
        self.deadline = deadline
        self.logger = logger
        self.columns = RecordColumns(database.dialect)
    }

    private func read(_ sql: SQL) async throws -> [DatabaseRow] {
        let database = self.database
        return try await database.withDeadline(deadline) { try await database.query(sql) }
    }

    /// One round trip: the person and each employment on a row of their own (a person with none on one row of nulls).
    public func employmentRecord(for key: PersonKey) async throws -> EmploymentRecord? {
        let condition = Self.condition(key)
        let rows = try await read(
            SQL(
                """
                SELECT \(unescaped: columns.person), e.registration_number, e.nssf_employer_number, e.name_ar, e.name_latin, m.occupation_isco08,
                       \(unescaped: columns.day("m.start_date")), \(unescaped: columns.day("m.end_date")), m.monthly_salary, m.currency, m.work_permit_number
                FROM ministry.persons p
                LEFT JOIN ministry.employments m ON m.person_id = p.id LEFT JOIN ministry.establishments e ON e.id = m.establishment_id
                WHERE \(condition) ORDER BY p.id, m.start_date, m.id
                """
            ).prepared)
        guard let first = rows.first else { return nil }
        let c = first
        let person = EmploymentRecord.Person(
            nationalId: try c[1].decode(String?.self), passportNumber: try c[2].decode(String?.self),
            nationality: try c[3].decode(String.self), nssfNumber: try c[4].decode(String?.self),
            name: .init(
                ar: PersonName(given: try c[5].decode(String.self), father: try c[6].decode(String.self), family: try c[7].decode(String.self)),
                latin: PersonName(given: try c[8].decode(String.self), father: try c[9].decode(String.self), family: try c[10].decode(String.self))),
            motherName: LocalizedName(ar: try c[11].decode(String.self), latin: try c[12].decode(String.self)),
            dateOfBirth: try c[13].decode(String.self), sex: try c[14].decode(String.self))
        let personID = try c[0].decode(Int64.self)
        var employments: [EmploymentRecord.Employment] = []
        // Each key names one person (unique indexes); the guard keeps a second match from mixing into the record.
        for c in rows {
            guard try c[0].decode(Int64.self) == personID, let registrationNumber = try c[15].decode(String?.self) else { continue }
            let endDate = try c[21].decode(String?.self)
            employments.append(
                EmploymentRecord.Employment(
                    establishment: .init(
                        registrationNumber: registrationNumber, nssfEmployerNumber: try c[16].decode(String?.self),
                        name: LocalizedName(ar: try c[17].decode(String.self), latin: try c[18].decode(String.self))),
                    occupation: try c[19].decode(String.self), startDate: try c[20].decode(String.self), endDate: endDate,
                    status: endDate == nil ? "active" : "ended",
                    monthlySalary: .init(amount: Int(try c[22].decode(Int64.self)), currency: try c[23].decode(String.self)),
                    workPermitNumber: try c[24].decode(String?.self)))
        }
        return EmploymentRecord(person: person, employments: employments)
    }

    public func establishment(registrationNumber: String) async throws -> Establishment? {
        let rows = try await read(
            SQL(
                """
                SELECT registration_number, nssf_employer_number, name_ar, name_latin, legal_form, isic_section, isic_class,
                       governorate, district, locality, \(unescaped: columns.day("registered_on")), status,
                       (SELECT count(*) FROM ministry.employments m WHERE m.establishment_id = e.id AND m.end_date IS NULL)
                FROM ministry.establishments e WHERE registration_number = \(registrationNumber)
                """
            ).prepared)
        for c in rows {
            return Establishment(
                registrationNumber: try c[0].decode(String.self), nssfEmployerNumber: try c[1].decode(String?.self),
                name: LocalizedName(ar: try c[2].decode(String.self), latin: try c[3].decode(String.self)),
                legalForm: try c[4].decode(String.self),
                activity: .init(isicSection: try c[5].decode(String.self), isicClass: try c[6].decode(String.self)),
                address: .init(governorate: try c[7].decode(String.self), district: try c[8].decode(String.self), locality: try c[9].decode(String?.self)),
                registeredOn: try c[10].decode(String.self), status: try c[11].decode(String.self),
                employeeCount: Int(try c[12].decode(Int64.self)))
        }
        return nil
    }

    /// The persons row `key` names (`p`).
    private static func condition(_ key: PersonKey) -> SQL {
        switch key {
        case .nationalId(let id): "p.national_id = \(id)"
        case .passport(let number, let nationality): "p.passport_number = \(number) AND p.nationality = \(nationality)"
        case .nssfNumber(let number): "p.nssf_number = \(number)"
        }
    }

    public func permitNumbers(of key: PersonKey) async throws -> [String] {
        let condition = Self.condition(key)
        return try await read(
            SQL("SELECT w.permit_number FROM ministry.work_permits w JOIN ministry.persons p ON p.id = w.person_id WHERE \(condition) ORDER BY w.id").prepared
        ).map { try $0[0].decode(String.self) }
    }

    public func workPermit(number: String) async throws -> WorkPermit? {
        try await read(SQL("SELECT \(unescaped: columns.permit) \(unescaped: RecordColumns.permitJoin) WHERE w.permit_number = \(number)").prepared)
            .first.map { try Self.permit($0).0 }
    }

    public func workPermits(nationalities: Set<String>?, changedSince: Int64?, after: PermitKey?, limit: Int) async throws -> [(WorkPermit, PermitKey)] {
        var filter: SQL = ""
        if let nationalities {
            let codes = nationalities.sorted().map { code -> SQL in "\(code)" }
            filter = codes.isEmpty ? "AND false" : "AND p.nationality IN (" + SQL.joined(codes, separator: ", ") + ")"
        }
        let since = changedSince ?? Int64.min
        let (afterTime, afterID) = after.map { ($0.changedAt, $0.id) } ?? (Int64.min, Int64.min)
        let changedAt = columns.micros("w.updated_at")
        return try await read(
            """
            SELECT \(unescaped: columns.permit) \(unescaped: RecordColumns.permitJoin)
            WHERE \(unescaped: changedAt) >= \(since) AND (\(unescaped: changedAt), w.id) > (\(afterTime), \(afterID)) \(filter)
            ORDER BY w.updated_at, w.id
            LIMIT \(limit)
            """
        ).map { try Self.permit($0) }
    }

    private static func permit(_ row: DatabaseRow, offset: Int = 0) throws -> (WorkPermit, PermitKey) {
        let c = { (index: Int) in row[index + offset] }
        let key = PermitKey(changedAt: try c(1).decode(Int64.self), id: try c(0).decode(Int64.self))
        let permit = WorkPermit(
            permitNumber: try c(2).decode(String.self), category: Int(try c(3).decode(Int16.self)), status: try c(4).decode(String.self),
            preApproval: .init(reference: try c(5).decode(String.self), date: try c(6).decode(String.self)),
            issuedOn: try c(7).decode(String?.self), expiresOn: try c(8).decode(String?.self), cancelledOn: try c(9).decode(String?.self),
            worker: .init(
                passportNumber: try c(10).decode(String?.self), nationality: try c(11).decode(String.self),
                name: .init(
                    ar: PersonName(given: try c(12).decode(String.self), father: try c(13).decode(String.self), family: try c(14).decode(String.self)),
                    latin: PersonName(given: try c(15).decode(String.self), father: try c(16).decode(String.self), family: try c(17).decode(String.self))),
                dateOfBirth: try c(18).decode(String.self), sex: try c(19).decode(String.self)),
            employer: .init(registrationNumber: try c(20).decode(String.self), name: LocalizedName(ar: try c(21).decode(String.self), latin: try c(22).decode(String.self))),
            occupation: try c(23).decode(String.self), updatedAt: try c(24).decode(String.self))
        return (permit, key)
    }

    public func permitChanges(after: Int64, limit: Int) async throws -> [PermitChange] {
        let rows = try await read(
            """
            SELECT c.id, c.event_type, \(unescaped: columns.isoInstant("c.occurred_at")), \(unescaped: columns.permit)
            \(unescaped: RecordColumns.permitJoin) JOIN ministry.permit_changes c ON c.permit_id = w.id
            WHERE c.id > \(after) ORDER BY c.id LIMIT \(limit)
            """)
        var changes: [PermitChange] = []
        for row in rows {
            let c = row
            changes.append(
                PermitChange(
                    position: try c[0].decode(Int64.self), eventType: try c[1].decode(String.self), occurredAt: try c[2].decode(String.self),
                    permit: try Self.permit(row, offset: 3).0))
        }
        return changes
    }

    public func permitChangeHead() async throws -> Int64 {
        try await read("SELECT coalesce(max(id), 0) FROM ministry.permit_changes").first?[0].decode(Int64.self) ?? 0
    }
}

/// The select lists of the records, with each store's expressions for dates and instants.
struct RecordColumns: Sendable {
    let dialect: SQLDialect

    init(_ dialect: SQLDialect) { self.dialect = dialect }

    var person: String {
        """
        p.id, p.national_id, p.passport_number, p.nationality, p.nssf_number, p.given_ar, p.father_ar, p.family_ar,
        p.given_latin, p.father_latin, p.family_latin, p.mother_ar, p.mother_latin, \(day("p.date_of_birth")), p.sex
        """
    }

    var permit: String {
        """
        w.id, \(micros("w.updated_at")), w.permit_number, w.category, w.status, w.pre_approval_reference,
        \(day("w.pre_approval_date")), \(day("w.issued_on")), \(day("w.expires_on")),
        \(day("w.cancelled_on")), p.passport_number, p.nationality, p.given_ar, p.father_ar, p.family_ar, p.given_latin,
        p.father_latin, p.family_latin, \(day("p.date_of_birth")), p.sex, e.registration_number, e.name_ar, e.name_latin,
        w.occupation_isco08, \(isoInstant("w.updated_at"))
        """
    }

    static let permitJoin = """
        FROM ministry.work_permits w JOIN ministry.persons p ON p.id = w.person_id JOIN ministry.establishments e ON e.id = w.establishment_id
        """

    /// A civil date as `YYYY-MM-DD`.
    func day(_ column: String) -> String { dialect == .postgres ? "to_char(\(column), 'YYYY-MM-DD')" : column }

    /// An instant as integer microseconds since 1970.
    func micros(_ column: String) -> String { dialect == .postgres ? "(extract(epoch FROM \(column)) * 1000000)::bigint" : column }

    /// An instant as ISO 8601 UTC text, to the second.
    func isoInstant(_ column: String) -> String {
        dialect == .postgres
            ? "to_char(\(column) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
            : "strftime('%Y-%m-%dT%H:%M:%SZ', \(column) / 1000000, 'unixepoch')"
    }
}
