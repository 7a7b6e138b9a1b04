/// `work-permit/1`: a foreign worker's permit to work in Lebanon, with its status and dates.
///
/// Property order is the contract's field order (schema.json and the XSD's sequence).
public struct WorkPermit: Codable, Sendable, Hashable {
    public static let contract = ContractID(name: "work-permit", version: 1)
    /// The JSON Schema definition and XML element of a page of permits (`GET /v1/work-permits`).
    public static let page = DocumentShape(definition: "workPermitPage", rootElement: "workPermitPage")

    /// The pre-approval that precedes every permit.
    public struct PreApproval: Codable, Sendable, Hashable {
        public var reference: String
        public var date: String

        public init(reference: String, date: String) {
            self.reference = reference
            self.date = date
        }
    }

    /// The worker the permit is for.
    public struct Worker: Codable, Sendable, Hashable {
        public var passportNumber: String?
        public var nationality: String
        public var name: EmploymentRecord.Names?
        public var dateOfBirth: String?
        public var sex: String?

        public init(passportNumber: String?, nationality: String, name: EmploymentRecord.Names?, dateOfBirth: String?, sex: String?) {
            self.passportNumber = passportNumber
            self.nationality = nationality
            self.name = name
            self.dateOfBirth = dateOfBirth
            self.sex = sex
        }
    }

    /// The establishment that employs the worker.
    public struct Employer: Codable, Sendable, Hashable {
        public var registrationNumber: String
        public var name: LocalizedName?

        public init(registrationNumber: String, name: LocalizedName?) {
            self.registrationNumber = registrationNumber
            self.name = name
        }
    }

    public var permitNumber: String
    /// 1 investors and managers, 2 skilled, 3 workers, 4 domestic workers.
    public var category: Int
    public var status: String
    public var preApproval: PreApproval?
    public var issuedOn: String?
    public var expiresOn: String?
    public var cancelledOn: String?
    public var worker: Worker
    public var employer: Employer?
    public var occupation: String?
    public var updatedAt: String?

    public init(
        permitNumber: String, category: Int, status: String, preApproval: PreApproval?, issuedOn: String?, expiresOn: String?, cancelledOn: String?,
        worker: Worker, employer: Employer?, occupation: String?, updatedAt: String?
    ) {
        self.permitNumber = permitNumber
        self.category = category
        self.status = status
        self.preApproval = preApproval
        self.issuedOn = issuedOn
        self.expiresOn = expiresOn
        self.cancelledOn = cancelledOn
        self.worker = worker
        self.employer = employer
        self.occupation = occupation
        self.updatedAt = updatedAt
    }
}

/// `work-permit-event/1`: a permit was issued, renewed, cancelled or expired; the permit as it now stands.
public struct WorkPermitEvent: Codable, Sendable, Hashable {
    public static let contract = ContractID(name: "work-permit-event", version: 1)

    public var eventType: String
    public var occurredAt: String
    public var permit: WorkPermit

    public init(eventType: String, occurredAt: String, permit: WorkPermit) {
        self.eventType = eventType
        self.occurredAt = occurredAt
        self.permit = permit
    }
}
