/// A name written in Arabic script and in its Latin transliteration.
public struct LocalizedName: Codable, Sendable, Hashable {
    public var ar: String
    public var latin: String

    public init(ar: String, latin: String) {
        self.ar = ar
        self.latin = latin
    }
}

/// A person's full name in one script: given name, father's name, family name.
public struct PersonName: Codable, Sendable, Hashable {
    public var given: String
    public var father: String
    public var family: String

    public init(given: String, father: String, family: String) {
        self.given = given
        self.father = father
        self.family = family
    }
}

/// `employment-record/1`: a person and their employment history, as the NSSF sees it.
///
/// Property order is the contract's field order: it is the order of `schema.json`'s properties and of
/// the XSD's sequences, and the encoder keeps it.
public struct EmploymentRecord: Codable, Sendable, Hashable {
    public static let contract = ContractID(name: "employment-record", version: 1)

    /// The person the record is about.
    public struct Person: Codable, Sendable, Hashable {
        public var nationalId: String?
        public var passportNumber: String?
        public var nationality: String
        public var nssfNumber: String?
        public var name: Names
        public var motherName: LocalizedName?
        public var dateOfBirth: String?
        public var sex: String?

        public init(
            nationalId: String?, passportNumber: String?, nationality: String, nssfNumber: String?, name: Names,
            motherName: LocalizedName?, dateOfBirth: String?, sex: String?
        ) {
            self.nationalId = nationalId
            self.passportNumber = passportNumber
            self.nationality = nationality
            self.nssfNumber = nssfNumber
            self.name = name
            self.motherName = motherName
            self.dateOfBirth = dateOfBirth
            self.sex = sex
        }
    }

    /// The person's name in both scripts.
    public struct Names: Codable, Sendable, Hashable {
        public var ar: PersonName
        public var latin: PersonName

        public init(ar: PersonName, latin: PersonName) {
            self.ar = ar
            self.latin = latin
        }
    }

    /// The employer as the employment record names it.
    public struct Employer: Codable, Sendable, Hashable {
        public var registrationNumber: String
        public var nssfEmployerNumber: String?
        public var name: LocalizedName?

        public init(registrationNumber: String, nssfEmployerNumber: String?, name: LocalizedName?) {
            self.registrationNumber = registrationNumber
            self.nssfEmployerNumber = nssfEmployerNumber
            self.name = name
        }
    }

    /// A monthly salary in whole units of its currency.
    public struct Salary: Codable, Sendable, Hashable {
        public var amount: Int
        public var currency: String

        public init(amount: Int, currency: String) {
            self.amount = amount
            self.currency = currency
        }
    }

    /// One period of employment with one establishment.
    public struct Employment: Codable, Sendable, Hashable {
        public var establishment: Employer
        public var occupation: String?
        public var startDate: String
        public var endDate: String?
        public var status: String
        public var monthlySalary: Salary?
        public var workPermitNumber: String?

        public init(
            establishment: Employer, occupation: String?, startDate: String, endDate: String?, status: String,
            monthlySalary: Salary?, workPermitNumber: String?
        ) {
            self.establishment = establishment
            self.occupation = occupation
            self.startDate = startDate
            self.endDate = endDate
            self.status = status
            self.monthlySalary = monthlySalary
            self.workPermitNumber = workPermitNumber
        }
    }

    public var person: Person
    public var employments: [Employment]

    public init(person: Person, employments: [Employment]) {
        self.person = person
        self.employments = employments
    }
}
