import HTTPTypes
import Hummingbird

/// What the router finds no handler for, answered like every other exchange — a problem document, logged — instead
/// of the router's empty 404: a method the resource does not have (`TRACE /v1/contracts`, `POST /v1/work-permits`) is
/// 405 with `Allow`, and a path the API does not have is 404, whatever the method.
///
/// Added to the router after every route, so that it wraps only the router's not-found answer (Hummingbird applies a
/// middleware to the routes added after it, and to the not-found answer always).
struct UnroutedRequests: RouterMiddleware {
    typealias Context = ExchangeContext

    /// The API's route templates (`/v1/establishments/{registrationNumber}`) with the methods each has.
    let routes: [(template: String, segments: [Substring], methods: [String])]
    let auditor: ExchangeAuditor

    init(routes described: [(method: String, path: String)], auditor: ExchangeAuditor) {
        var byTemplate: [String: Set<String>] = [:]
        for route in described where !route.path.contains("*") {
            let template = "/" + route.path.split(separator: "/").map { $0.hasPrefix(":") ? "{\($0.dropFirst())}" : String($0) }.joined(separator: "/")
            byTemplate[template, default: []].insert(route.method)
        }
        self.routes = byTemplate.map { ($0.key, $0.key.split(separator: "/"), $0.value.sorted()) }.sorted { $0.template < $1.template }
        self.auditor = auditor
    }

    func handle(_ request: Request, context: ExchangeContext, next: (Request, ExchangeContext) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            let path = request.uri.path.split(separator: "/")
            // A literal segment beats a parameter, as in the router: /v1/work-permits is not /v1/work-permits/{permitNumber}.
            let matches = routes.filter { route in
                route.segments.count == path.count && zip(route.segments, path).allSatisfy { $0.hasPrefix("{") || $0 == $1 }
            }
            guard let route = matches.min(by: { $0.segments.filter { $0.hasPrefix("{") }.count < $1.segments.filter { $0.hasPrefix("{") }.count }) else {
                return await auditor.handle(request, context: context, route: "(unmatched)", requirePurpose: false) { _, _ in throw Problem.notFound }
            }
            return await auditor.handle(request, context: context, route: route.template, requirePurpose: false) { _, _ in
                throw Problem.methodNotAllowed(allow: route.methods)
            }
        }
    }
}
