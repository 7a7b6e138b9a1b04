import Schemas

/// How a partner names the person it asks about.
public enum PersonKey: Sendable, Hashable {
    case nationalId(String)
    case passport(number: String, nationality: String)
    case nssfNumber(String)

    /// The identifier space and value, for subject references.
    public var subject: (kind: String, identifier: String) {
        switch self {
        case .nationalId(let id): ("nationalId", id)
        case .passport(let number, let nationality): ("passport", "\(nationality):\(number)")
        case .nssfNumber(let number): ("nssf", number)
        }
    }
}

/// Where the ministry's own records come from. Jisr reads them through this and never writes them.
public protocol RecordSource: Sendable {
    /// The person's full employment record, or nil when no such person exists.
    func employmentRecord(for key: PersonKey) async throws -> EmploymentRecord?
    /// The establishment's full registration, or nil when none has that number.
    func establishment(registrationNumber: String) async throws -> Establishment?
}
