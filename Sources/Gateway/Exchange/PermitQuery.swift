import Foundation
import Hummingbird
import Records
import Schemas

/// A page cursor: the position after which the next page starts, in the listing's order (the time a permit last
/// changed, in microseconds since 1970, then the ministry's row number) — `1767225600000000-42`.
///
/// A position, not a capability: the filters and the agreement's scope decide what a page may hold, so any
/// well-formed cursor is a fair question ("what follows here?") and is answered, with whatever nationality and
/// `changedSince` it comes with. What the OpenAPI document's pattern allows is exactly what is accepted.
enum PageCursor {
    static func encode(_ key: PermitKey) -> String { "\(key.changedAt)-\(key.id)" }

    static func decode(_ cursor: String) -> PermitKey? {
        guard let match = cursor.wholeMatch(of: /([0-9]{1,18})-([0-9]{1,18})/), let changedAt = Int64(match.1), let id = Int64(match.2) else {
            return nil
        }
        return PermitKey(changedAt: changedAt, id: id)
    }
}

/// `GET /v1/work-permits?nationality=CC&changedSince=RFC3339&limit=N&cursor=…`, validated.
struct PermitQuery {
    var nationality: String?
    var changedSince: Int64?
    var limit = 100
    var after: PermitKey?

    init(_ parameters: Parameters) throws(Problem) {
        var cursor: String?
        var seen: Set<String> = []
        for (name, value) in parameters {
            let key = String(name)
            guard seen.insert(key).inserted else { throw Problem.invalidParameters("parameter \(key.prefix(40)) is repeated") }
            let value = String(value)
            switch key {
            case "nationality":
                guard value.wholeMatch(of: /[A-Z]{2}/) != nil else { throw Problem.invalidParameters("nationality must be an ISO 3166-1 alpha-2 code") }
                nationality = value
            case "changedSince":
                guard let instant = RFC3339.microseconds(value) else {
                    throw Problem.invalidParameters("changedSince must be an RFC 3339 date-time, e.g. 2026-01-31T00:00:00Z")
                }
                changedSince = instant
            case "limit":
                guard let number = Int(value), (1...500).contains(number) else { throw Problem.invalidParameters("limit must be 1–500") }
                limit = number
            case "cursor":
                cursor = value
            default:
                throw Problem.invalidParameters("unknown parameter \(key.prefix(40))")
            }
        }
        if let cursor {
            guard let key = PageCursor.decode(cursor) else {
                throw Problem.invalidParameters("cursor must be a position as a page's nextCursor gives it: digits, a hyphen, digits")
            }
            after = key
        }
    }
}
