import Foundation
import Schemas

/// A refusal or failure as the caller sees it: an RFC 9457 problem with a stable type.
///
/// Handlers throw or return these; they become problem documents in exactly one place
/// (`ExchangeAuditor`), in JSON or XML to match the caller.
public struct Problem: Error, Sendable, Hashable {
    public let code: String
    public let status: Int
    public let title: String
    public let detail: String?
    public let violations: [String]
    public let retryAfter: Int?
    /// The methods the resource has, for 405 (`Allow`, RFC 9110 §15.5.6).
    public let allow: [String]

    public init(code: String, status: Int, title: String, detail: String? = nil, violations: [String] = [], retryAfter: Int? = nil, allow: [String] = []) {
        self.code = code
        self.status = status
        self.title = title
        self.detail = detail
        self.violations = violations
        self.retryAfter = retryAfter
        self.allow = allow
    }

    public static let typeBase = "https://jisr.labor.gov.lb/problems/"
    public var type: String { Self.typeBase + code }

    // The catalogue: every problem Jisr answers, by stable code.
    public static let certificateNotRegistered = Problem(code: "certificate-not-registered", status: 403, title: "The client certificate is not registered to a partner")
    public static let certificateRevoked = Problem(code: "certificate-revoked", status: 403, title: "The client certificate has been revoked")
    public static let partnerNotActive = Problem(code: "partner-not-active", status: 403, title: "The partner is not active")
    public static let purposeRequired = Problem(code: "purpose-required", status: 400, title: "The X-Purpose header is required")
    public static let noAgreement = Problem(code: "no-agreement", status: 403, title: "No agreement grants this contract to the partner")
    public static let operationNotGranted = Problem(code: "operation-not-granted", status: 403, title: "The agreement does not grant this operation")
    public static let purposeNotGranted = Problem(code: "purpose-not-granted", status: 403, title: "The agreement does not list this purpose")
    public static let agreementNotInForce = Problem(code: "agreement-not-in-force", status: 403, title: "The agreement is not in force at this time")
    public static let agreementIncomplete = Problem(
        code: "agreement-incomplete", status: 403, title: "The agreement does not grant every field its contract requires beside the ones it grants")
    public static let scopeNotApplicable = Problem(
        code: "agreement-scope-not-applicable", status: 403, title: "The agreement's nationality scope cannot apply to this contract or operation")
    public static let requestTimeout = Problem(code: "request-timeout", status: 408, title: "The request was not received in time")
    public static let headersTooLarge = Problem(
        code: "request-headers-too-large", status: 431, title: "The request's head is larger than the gateway accepts (80 KiB)")
    public static let malformedRequest = Problem(code: "malformed-request", status: 400, title: "The request is not valid HTTP/1.1")
    public static let notFound = Problem(code: "not-found", status: 404, title: "No such resource")
    public static let personNotFound = Problem(code: "person-not-found", status: 404, title: "No person matches the identifier")
    /// Also the answer for a permit outside the caller's scope: indistinguishable from one that does not exist.
    public static let permitNotFound = Problem(code: "permit-not-found", status: 404, title: "No work permit has this number")
    public static let establishmentNotFound = Problem(code: "establishment-not-found", status: 404, title: "No establishment has this registration number")
    public static let notAcceptable = Problem(code: "not-acceptable", status: 406, title: "Only application/json and application/xml are offered")
    public static func noConsistencyProof(_ detail: String) -> Problem {
        Problem(code: "no-consistency-proof", status: 404, title: "No consistency proof between these tree sizes", detail: detail)
    }

    public static func methodNotAllowed(allow: [String]) -> Problem {
        Problem(
            code: "method-not-allowed", status: 405, title: "The method is not allowed on this resource",
            detail: "this resource answers \(allow.joined(separator: ", "))", allow: allow)
    }
    public static let storeUnavailable = Problem(code: "store-unavailable", status: 503, title: "The records cannot be read just now", retryAfter: 5)
    public static let logUnavailable = Problem(code: "log-unavailable", status: 503, title: "The message log cannot be written; nothing was exchanged", retryAfter: 5)
    public static let invalidOutbound = Problem(code: "invalid-outbound-document", status: 500, title: "The gateway produced a document that breaks its contract")
    public static let payloadTooLarge = Problem(code: "payload-too-large", status: 413, title: "The body is larger than the gateway accepts (1 MiB)")
    public static let idempotencyKeyRequired = Problem(code: "idempotency-key-required", status: 400, title: "An Idempotency-Key header (1–128 of A–Z a–z 0–9 . _ : -) is required")
    public static let idempotencyKeyReused = Problem(code: "idempotency-key-reused", status: 409, title: "This Idempotency-Key was used with a different body")
    public static let idempotencyKeyInFlight = Problem(
        code: "idempotency-key-in-flight", status: 409, title: "A send with this Idempotency-Key was accepted concurrently; repeat it to get the original answer")
    public static let unsupportedMediaType = Problem(code: "unsupported-media-type", status: 415, title: "Send application/json or application/xml")
    public static let contractRequired = Problem(code: "contract-required", status: 400, title: "An X-Contract header naming a published contract (NAME/VERSION) is required")
    public static let contractConflict = Problem(
        code: "contract-conflict", status: 400, title: "X-Contract names another contract than the path: send one, or the same in both")

    public static func invalidDocument(_ violations: [String]) -> Problem {
        Problem(code: "invalid-document", status: 422, title: "The document breaks its contract", violations: violations)
    }

    public static func malformedDocument(_ reasons: [String]) -> Problem {
        Problem(code: "malformed-document", status: 400, title: "The body is not a well-formed, safe document", violations: reasons)
    }

    public static let timestampingUnavailable = Problem(
        code: "timestamping-unavailable", status: 503,
        title: "The message log cannot be timestamped and this gateway's policy is to refuse new exchanges until it can", retryAfter: 60)
    public static let internalError = Problem(code: "internal-error", status: 500, title: "Internal error")

    public static func invalidParameters(_ detail: String) -> Problem {
        Problem(code: "invalid-parameters", status: 400, title: "The request's parameters are not valid", detail: detail)
    }

    public static func rateLimited(retryAfter: Int, limit: Int) -> Problem {
        Problem(
            code: "rate-limited", status: 429, title: "The agreement's rate limit is exceeded", detail: "the limit is \(limit) requests a minute",
            retryAfter: retryAfter)
    }

    public static func certificateRateLimited(retryAfter: Int, limit: Int) -> Problem {
        Problem(
            code: "certificate-rate-limited", status: 429, title: "This client certificate's rate limit is exceeded",
            detail: "the limit is \(limit) requests a minute for one certificate; further refusals are answered without a log entry until one is admitted",
            retryAfter: retryAfter)
    }

    /// The same problem with a detail; everything else it carries (violations, Retry-After, Allow) is kept.
    public func with(detail: String) -> Problem {
        Problem(code: code, status: status, title: title, detail: detail, violations: violations, retryAfter: retryAfter, allow: allow)
    }

    /// The problem document, in the caller's format.
    public func document(messageId: UUID, format: DocumentFormat) -> (bytes: [UInt8], mediaType: String) {
        var object = JSONObject()
        object["type"] = .string(type)
        object["title"] = .string(title)
        object["status"] = .integer(Int64(status))
        if let detail { object["detail"] = .string(detail) }
        object["instance"] = .string("urn:uuid:\(messageId.uuidString.lowercased())")
        object["messageId"] = .string(messageId.uuidString.lowercased())
        if !violations.isEmpty { object["violations"] = .array(violations.map { .string($0) }) }
        switch format {
        case .json:
            return (JSONWriter.data(.object(object)), "application/problem+json")
        case .xml:
            var xml = #"<?xml version="1.0" encoding="UTF-8"?>"# + "\n" + #"<problem xmlns="urn:ietf:rfc:7807">"#
            for member in object.members {
                switch member.value {
                case .array(let items):
                    xml += "<\(member.key)>" + items.compactMap(\.stringValue).map { "<i>\(Self.escape($0))</i>" }.joined() + "</\(member.key)>"
                case .integer(let number):
                    xml += "<\(member.key)>\(number)</\(member.key)>"
                default:
                    xml += "<\(member.key)>\(Self.escape(member.value.stringValue ?? ""))</\(member.key)>"
                }
            }
            xml += "</problem>\n"
            return (Array(xml.utf8), "application/problem+xml")
        }
    }

    private static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}
