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

/// A person named other than exactly one well-formed way.
public struct PersonKeyError: Error, Sendable {
    public let message: String
}

extension PersonKey {
    /// Exactly one of a national id (12 digits), a passport (6–12 of A–Z 0–9) with its nationality (two capital
    /// letters), or an NSSF number (10 digits).
    public init(nationalId: String?, passport: String?, nationality: String?, nssfNumber: String?) throws {
        switch (nationalId, passport, nationality, nssfNumber) {
        case (let id?, nil, nil, nil) where id.wholeMatch(of: /[0-9]{12}/) != nil: self = .nationalId(id)
        case (nil, let number?, let country?, nil) where number.wholeMatch(of: /[A-Z0-9]{6,12}/) != nil && country.wholeMatch(of: /[A-Z]{2}/) != nil:
            self = .passport(number: number, nationality: country)
        case (nil, nil, nil, let number?) where number.wholeMatch(of: /[0-9]{10}/) != nil: self = .nssfNumber(number)
        default:
            throw PersonKeyError(
                message: "name the person one way: a national id (12 digits), a passport (6–12 of A–Z 0–9) with its nationality (2 capital letters), or an NSSF number (10 digits)")
        }
    }

    /// Every key the person a record is about is known by: national id, passport with nationality, NSSF number.
    public static func keys(of person: EmploymentRecord.Person) -> [PersonKey] {
        var keys: [PersonKey] = []
        if let id = person.nationalId { keys.append(.nationalId(id)) }
        if let passport = person.passportNumber { keys.append(.passport(number: passport, nationality: person.nationality)) }
        if let number = person.nssfNumber { keys.append(.nssfNumber(number)) }
        return keys
    }

    /// The identifier spaces an exchange about the holder of `permit` is found under: the permit's number (its holder
    /// is found through their permits) and the worker's passport.
    public static func subjects(of permit: WorkPermit) -> [(kind: String, identifier: String)] {
        var subjects = [permitSubject(permit.permitNumber)]
        if let passport = permit.worker.passportNumber { subjects.append(PersonKey.passport(number: passport, nationality: permit.worker.nationality).subject) }
        return subjects
    }

    /// The subject of a permit number, asked for or disclosed.
    public static func permitSubject(_ number: String) -> (kind: String, identifier: String) { ("permit", number) }
}

/// Where the ministry's own records come from. Jisr reads them through this and never writes them.
public protocol RecordSource: Sendable {
    /// The person's full employment record, or nil when no such person exists.
    func employmentRecord(for key: PersonKey) async throws -> EmploymentRecord?
    /// The establishment's full registration, or nil when none has that number.
    func establishment(registrationNumber: String) async throws -> Establishment?
    /// The numbers of every permit of the person `key` names (none for someone unknown).
    func permitNumbers(of key: PersonKey) async throws -> [String]
    /// The permit with this number, or nil.
    func workPermit(number: String) async throws -> WorkPermit?
    /// Changes of permits after feed position `after`, oldest first: (position, event type, time, permit).
    func permitChanges(after: Int64, limit: Int) async throws -> [PermitChange]
    /// The newest position of the change feed (0 when empty).
    func permitChangeHead() async throws -> Int64
    /// Permits changed at or after `changedSince`, in (change time, id) order after `after`, workers of
    /// `nationalities` only (nil: any), at most `limit`, each with the key to continue after it.
    func workPermits(nationalities: Set<String>?, changedSince: Int64?, after: PermitKey?, limit: Int) async throws -> [(WorkPermit, PermitKey)]
}

/// Where a page of permits stopped: the change time (microseconds since the epoch) and the permit's row id.
///
/// Keyset order on (change time, id) keeps paging stable under concurrent changes: a permit changed while a
/// client pages moves after the cursor and is seen again, never skipped.
public struct PermitKey: Sendable, Hashable {
    public let changedAt: Int64
    public let id: Int64

    public init(changedAt: Int64, id: Int64) {
        self.changedAt = changedAt
        self.id = id
    }
}

/// One entry of the permit change feed, with the permit as it stands now.
public struct PermitChange: Sendable {
    public let position: Int64
    public let eventType: String
    /// RFC 3339, UTC.
    public let occurredAt: String
    public let permit: WorkPermit

    public init(position: Int64, eventType: String, occurredAt: String, permit: WorkPermit) {
        self.position = position
        self.eventType = eventType
        self.occurredAt = occurredAt
        self.permit = permit
    }
}
