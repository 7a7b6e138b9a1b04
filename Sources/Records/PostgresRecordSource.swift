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
}
