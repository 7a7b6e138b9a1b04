import Administration
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Schemas

/// An admin API refusal, rendered as an RFC 9457 problem with the operation's stable code.
struct AdminProblem: Error, HTTPResponseError {
    let status: HTTPResponse.Status
    let code: String
    let message: String
    /// The line of the attached file the refusal is about (a mapping).
    var line: Int? = nil

    init(status: HTTPResponse.Status, code: String, message: String, line: Int? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.line = line
    }

    init(_ error: AdministrationError) {
        let status: HTTPResponse.Status
        switch error.code {
        case "not-found": status = .notFound
        case _ where error.code.hasPrefix("duplicate-"), "no-change", "partner-retired", "reused-serial", "last-administrator": status = .conflict
        default: status = .unprocessableContent
        }
        self.init(status: status, code: error.code, message: error.message, line: error.line)
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var object = JSONObject()
        object["type"] = .string(Problem.typeBase + "admin/" + code)
        object["title"] = .string(message)
        object["status"] = .integer(Int64(status.code))
        if let line { object["line"] = .integer(Int64(line)) }
        return Response(
            status: status, headers: [.contentType: "application/problem+json"],
            body: .init(byteBuffer: ByteBuffer(bytes: JSONWriter.data(.object(object)))))
    }
}
