/// `establishment/1`: an establishment's registration with the ministry.
public struct Establishment: Codable, Sendable, Hashable {
    public static let contract = ContractID(name: "establishment", version: 1)

    /// The establishment's economic activity, ISIC Rev.4.
    public struct Activity: Codable, Sendable, Hashable {
        public var isicSection: String
        public var isicClass: String

        public init(isicSection: String, isicClass: String) {
            self.isicSection = isicSection
            self.isicClass = isicClass
        }
    }

    /// Where the establishment is registered.
    public struct Address: Codable, Sendable, Hashable {
        public var governorate: String
        public var district: String?
        public var locality: String?

        public init(governorate: String, district: String?, locality: String?) {
            self.governorate = governorate
            self.district = district
            self.locality = locality
        }
    }

    public var registrationNumber: String
    public var nssfEmployerNumber: String?
    public var name: LocalizedName?
    public var legalForm: String?
    public var activity: Activity?
    public var address: Address?
    public var registeredOn: String?
    public var status: String
    public var employeeCount: Int?

    public init(
        registrationNumber: String, nssfEmployerNumber: String?, name: LocalizedName?, legalForm: String?, activity: Activity?,
        address: Address?, registeredOn: String?, status: String, employeeCount: Int?
    ) {
        self.registrationNumber = registrationNumber
        self.nssfEmployerNumber = nssfEmployerNumber
        self.name = name
        self.legalForm = legalForm
        self.activity = activity
        self.address = address
        self.registeredOn = registeredOn
        self.status = status
        self.employeeCount = employeeCount
    }
}
