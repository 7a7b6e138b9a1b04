import Foundation
import Logging
import PostgresNIO
import Schemas

/// Reads the ministry's records from the reference schema (`ministry.*`).
public struct PostgresRecordSource: RecordSource {
    let client: PostgresClient
    let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    private static let personColumns = """
        id, national_id, passport_number, nationality, nssf_number, given_ar, father_ar, family_ar,
        given_latin, father_latin, family_latin, mother_ar, mother_latin, to_char(date_of_birth, 'YYYY-MM-DD'), sex
        """

    public func employmentRecord(for key: PersonKey) async throws -> EmploymentRecord? {
        let query: PostgresQuery
        switch key {
        case .nationalId(let id):
            query = "SELECT \(unescaped: Self.personColumns) FROM ministry.persons WHERE national_id = \(id)"
        case .passport(let number, let nationality):
            query = "SELECT \(unescaped: Self.personColumns) FROM ministry.persons WHERE passport_number = \(number) AND nationality = \(nationality)"
        case .nssfNumber(let number):
            query = "SELECT \(unescaped: Self.personColumns) FROM ministry.persons WHERE nssf_number = \(number)"
        }
        var found: (Int64, EmploymentRecord.Person)?
        for try await row in try await client.query(query, logger: logger) {
            let c = row.makeRandomAccess()
            let person = EmploymentRecord.Person(
                nationalId: try c[1].decode(String?.self), passportNumber: try c[2].decode(String?.self),
                nationality: try c[3].decode(String.self), nssfNumber: try c[4].decode(String?.self),
                name: .init(
                    ar: PersonName(given: try c[5].decode(String.self), father: try c[6].decode(String.self), family: try c[7].decode(String.self)),
                    latin: PersonName(given: try c[8].decode(String.self), father: try c[9].decode(String.self), family: try c[10].decode(String.self))),
                motherName: LocalizedName(ar: try c[11].decode(String.self), latin: try c[12].decode(String.self)),
                dateOfBirth: try c[13].decode(String.self), sex: try c[14].decode(String.self))
            found = (try c[0].decode(Int64.self), person)
        }
        guard let (personID, person) = found else { return nil }
        let rows = try await client.query(
            """
            SELECT e.registration_number, e.nssf_employer_number, e.name_ar, e.name_latin, m.occupation_isco08,
                   to_char(m.start_date, 'YYYY-MM-DD'), to_char(m.end_date, 'YYYY-MM-DD'), m.monthly_salary, m.currency, m.work_permit_number
            FROM ministry.employments m JOIN ministry.establishments e ON e.id = m.establishment_id
            WHERE m.person_id = \(personID) ORDER BY m.start_date, m.id
            """, logger: logger)
        var employments: [EmploymentRecord.Employment] = []
        for try await row in rows {
            let c = row.makeRandomAccess()
            let endDate = try c[6].decode(String?.self)
            employments.append(
                EmploymentRecord.Employment(
                    establishment: .init(
                        registrationNumber: try c[0].decode(String.self), nssfEmployerNumber: try c[1].decode(String?.self),
                        name: LocalizedName(ar: try c[2].decode(String.self), latin: try c[3].decode(String.self))),
                    occupation: try c[4].decode(String.self), startDate: try c[5].decode(String.self), endDate: endDate,
                    status: endDate == nil ? "active" : "ended",
                    monthlySalary: .init(amount: Int(try c[7].decode(Int64.self)), currency: try c[8].decode(String.self)),
                    workPermitNumber: try c[9].decode(String?.self)))
        }
        return EmploymentRecord(person: person, employments: employments)
    }

    public func establishment(registrationNumber: String) async throws -> Establishment? {
        let rows = try await client.query(
            """
            SELECT registration_number, nssf_employer_number, name_ar, name_latin, legal_form, isic_section, isic_class,
                   governorate, district, locality, to_char(registered_on, 'YYYY-MM-DD'), status,
                   (SELECT count(*) FROM ministry.employments m WHERE m.establishment_id = e.id AND m.end_date IS NULL)
            FROM ministry.establishments e WHERE registration_number = \(registrationNumber)
            """, logger: logger)
        for try await row in rows {
            let c = row.makeRandomAccess()
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

    private static let permitColumns = """
        w.id, (extract(epoch FROM w.updated_at) * 1000000)::bigint, w.permit_number, w.category, w.status, w.pre_approval_reference,
        to_char(w.pre_approval_date, 'YYYY-MM-DD'), to_char(w.issued_on, 'YYYY-MM-DD'), to_char(w.expires_on, 'YYYY-MM-DD'),
        to_char(w.cancelled_on, 'YYYY-MM-DD'), p.passport_number, p.nationality, p.given_ar, p.father_ar, p.family_ar, p.given_latin,
        p.father_latin, p.family_latin, to_char(p.date_of_birth, 'YYYY-MM-DD'), p.sex, e.registration_number, e.name_ar, e.name_latin,
        w.occupation_isco08, to_char(w.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
        """
    private static let permitJoin = """
        FROM ministry.work_permits w JOIN ministry.persons p ON p.id = w.person_id JOIN ministry.establishments e ON e.id = w.establishment_id
        """

    public func workPermit(number: String) async throws -> WorkPermit? {
        let rows = try await client.query(
            "SELECT \(unescaped: Self.permitColumns) \(unescaped: Self.permitJoin) WHERE w.permit_number = \(number)", logger: logger)
        for try await row in rows { return try Self.permit(row).0 }
        return nil
    }

    public func workPermits(nationalities: Set<String>?, changedSince: Int64?, after: PermitKey?, limit: Int) async throws -> [(WorkPermit, PermitKey)] {
        let filter = nationalities.map { $0.sorted() }
        let since = changedSince ?? Int64.min
        let (afterTime, afterID) = after.map { ($0.changedAt, $0.id) } ?? (Int64.min, Int64.min)
        let rows = try await client.query(
            """
            SELECT \(unescaped: Self.permitColumns) \(unescaped: Self.permitJoin)
            WHERE (\(filter)::text[] IS NULL OR p.nationality = ANY(\(filter)::text[]))
              AND (extract(epoch FROM w.updated_at) * 1000000)::bigint >= \(since)
              AND ((extract(epoch FROM w.updated_at) * 1000000)::bigint, w.id) > (\(afterTime), \(afterID))
            ORDER BY w.updated_at, w.id
            LIMIT \(limit)
            """, logger: logger)
        var page: [(WorkPermit, PermitKey)] = []
        for try await row in rows { page.append(try Self.permit(row)) }
        return page
    }

    private static func permit(_ row: PostgresRow, offset: Int = 0) throws -> (WorkPermit, PermitKey) {
        let all = row.makeRandomAccess()
        let c = { (index: Int) in all[index + offset] }
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
        let rows = try await client.query(
            """
            SELECT c.id, c.event_type, to_char(c.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), \(unescaped: Self.permitColumns)
            \(unescaped: Self.permitJoin) JOIN ministry.permit_changes c ON c.permit_id = w.id
            WHERE c.id > \(after) ORDER BY c.id LIMIT \(limit)
            """, logger: logger)
        var changes: [PermitChange] = []
        for try await row in rows {
            let c = row.makeRandomAccess()
            changes.append(
                PermitChange(
                    position: try c[0].decode(Int64.self), eventType: try c[1].decode(String.self), occurredAt: try c[2].decode(String.self),
                    permit: try Self.permit(row, offset: 3).0))
        }
        return changes
    }

    public func permitChangeHead() async throws -> Int64 {
        for try await head in try await client.query("SELECT coalesce(max(id), 0) FROM ministry.permit_changes", logger: logger).decode(Int64.self) {
            return head
        }
        return 0
    }
}
