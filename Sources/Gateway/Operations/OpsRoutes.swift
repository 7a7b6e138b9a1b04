import Hummingbird
import Logging
import PostgresNIO
import Registry

/// The ops listener: liveness and readiness for probes, on loopback, without TLS.
struct OpsRoutes: Sendable {
    let client: PostgresClient
    let registry: RegistryWatcher
    let logger: Logger

    func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.get("health/live") { _, _ in "ok\n" }
        router.get("health/ready") { _, _ -> Response in
            do {
                try await client.query("SELECT 1", logger: logger)
                guard registry.snapshot.version > 0 else { return Self.text(.serviceUnavailable, "registry not loaded\n") }
                return Self.text(.ok, "ready\n")
            } catch {
                return Self.text(.serviceUnavailable, "database unreachable\n")
            }
        }
        return router
    }

    private static func text(_ status: HTTPResponse.Status, _ body: String) -> Response {
        Response(status: status, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: .init(string: body)))
    }
}
