import Foundation
import Hummingbird
import MessageLog
import Records
import Schemas

/// Opaque, tamper-evident page cursors: the keyset position plus a MAC over it and the query's filter.
///
/// A cursor cannot be forged to jump elsewhere, nor reused with another filter (another nationality or
/// `changedSince`); either gets a 400.
struct PageCursors: Sendable {
    let referencer: SubjectReferencer

    func encode(_ key: PermitKey, for filter: String) -> String {
        let body = "\(key.changedAt).\(key.id)"
        let mac = referencer.reference(kind: "cursor", identifier: "\(filter)|\(body)").prefix(24)
        return Self.base64URL(Array("\(body).\(mac)".utf8))
    }

    func decode(_ cursor: String, for filter: String) -> PermitKey? {
        guard let bytes = Self.fromBase64URL(cursor) else { return nil }
        let parts = String(decoding: bytes, as: UTF8.self).split(separator: ".").map(String.init)
        guard parts.count == 3, let changedAt = Int64(parts[0]), let id = Int64(parts[1]) else { return nil }
        let expected = referencer.reference(kind: "cursor", identifier: "\(filter)|\(parts[0]).\(parts[1])").prefix(24)
        guard parts[2] == expected else { return nil }
        return PermitKey(changedAt: changedAt, id: id)
    }

    static func base64URL(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func fromBase64URL(_ text: String) -> [UInt8]? {
        guard text.count <= 200, text.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else { return nil }
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        return Data(base64Encoded: base64).map(Array.init)
    }
}

/// `GET /v1/work-permits?nationality=CC&changedSince=RFC3339&limit=N&cursor=…`, validated.
struct PermitQuery {
    var nationality: String?
    var changedSince: Int64?
    var limit = 100
    var after: PermitKey?

    /// What a cursor is bound to.
    var filter: String { "\(nationality ?? "*")|\(changedSince.map(String.init) ?? "*")" }

    init(_ parameters: Parameters, cursors: PageCursors) throws(Problem) {
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
            guard let key = cursors.decode(cursor, for: filter) else { throw Problem.invalidParameters("cursor is not one this query issued") }
            after = key
        }
    }
}
