import Foundation
import Hummingbird
import Logging

/// The CRL listener: `GET /partner-ca.crl` answers the partner CA's current CRL (DER, `application/pkix-crl`),
/// without TLS — a relying party checks a TLS certificate's revocation before it can trust any TLS — and nothing else.
struct CRLRoutes: Sendable {
    let publication: CRLPublication

    /// The path every certificate's distribution point names (`jisr pki init --crl-url`).
    static let path = "partner-ca.crl"

    func router() -> Router<BasicRequestContext> {
        let router = Router()
        let file = publication.file
        router.get(RouterPath(Self.path)) { _, _ -> Response in
            // Read at every request: `jisr cert revoke` replaces the file, and the next fetch has the new list.
            guard let data = FileManager.default.contents(atPath: file) else {
                return Response(status: .serviceUnavailable, headers: [.contentType: "text/plain; charset=utf-8", .retryAfter: "60"],
                                body: .init(byteBuffer: .init(string: "the CRL cannot be read\n")))
            }
            return Response(
                status: .ok, headers: [.contentType: "application/pkix-crl", .cacheControl: "max-age=300"],
                body: .init(byteBuffer: .init(bytes: data)))
        }
        return router
    }
}
