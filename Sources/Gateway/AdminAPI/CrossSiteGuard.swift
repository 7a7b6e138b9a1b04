import Foundation
import HTTPTypes
import Hummingbird

/// Keeps the admin listener's requests to what an administrator's own tools send: once administrators' certificates
/// sit in browsers (the console), a page on another site could otherwise make the browser act as the administrator.
///
/// A write's body is JSON and says so (a form or `text/plain` post, which a browser sends cross-site without asking,
/// is refused with 415 before anything reads it); a request a browser marks as coming from another site
/// (`Sec-Fetch-Site`), or whose `Origin` is not this listener, is refused with 403 — but for a plain navigation, which
/// changes nothing.
struct CrossSiteGuard: RouterMiddleware {
    typealias Context = AdminContext

    func handle(_ request: Request, context: AdminContext, next: (Request, AdminContext) async throws -> Response) async throws -> Response {
        let writes = ![.get, .head, .options].contains(request.method)
        if let site = request.headers[.secFetchSite]?.lowercased(), !["same-origin", "none"].contains(site),
            writes || request.headers[.secFetchMode]?.lowercased() != "navigate"
        {
            throw Self.crossSite("the browser says this request comes from another site (Sec-Fetch-Site: \(site))")
        }
        if writes, let origin = request.headers[.origin] {
            guard let authority = request.head.authority, origin.lowercased() == "https://" + authority.lowercased() else {
                throw Self.crossSite("the request's Origin (\(origin)) is not this listener")
            }
        }
        if writes {
            let mediaType = request.headers[.contentType].map { $0.split(separator: ";").first.map(String.init) ?? $0 }?
                .trimmingCharacters(in: .whitespaces).lowercased()
            let hasBody = request.headers[.contentLength].map { $0 != "0" } ?? (request.headers[.transferEncoding] != nil)
            if mediaType.map({ $0 != "application/json" }) ?? hasBody {
                throw AdminProblem(
                    status: .unsupportedMediaType, code: "unsupported-media-type",
                    message: "the admin API takes JSON bodies only: send Content-Type: application/json")
            }
        }
        return try await next(request, context)
    }

    static func crossSite(_ message: String) -> AdminProblem {
        AdminProblem(status: .forbidden, code: "cross-site-request", message: message + ": the admin API answers only the administrator's own tools")
    }
}

extension HTTPField.Name {
    static let secFetchSite = Self("Sec-Fetch-Site")!
    static let secFetchMode = Self("Sec-Fetch-Mode")!
}
