import Administration
import Hummingbird
import NIOCore
import NIOSSL
import PKI

/// The request context of the admin listener: the channel and the authenticated administrator.
public struct AdminContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let channel: any Channel
    /// Set by `AdministratorAuthenticator` from the verified admin-CA certificate.
    public var administrator: Administrator?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.channel = source.channel
        self.administrator = nil
    }

    public var maxUploadSize: Int { 1 << 20 }
}

/// Sets `context.administrator`: the admin listener only completes handshakes with certificates from the
/// admin CA, so holding one is the admin role; the fingerprint and subject go into every audit entry.
struct AdministratorAuthenticator: RouterMiddleware {
    typealias Context = AdminContext

    func handle(_ request: Request, context: AdminContext, next: (Request, AdminContext) async throws -> Response) async throws -> Response {
        var context = context
        if let certificate = try await context.channel.nioSSL_peerCertificate().get() {
            let parsed = try PKICertificate(derEncoded: try certificate.toDERBytes())
            context.administrator = Administrator(fingerprint: parsed.fingerprint, name: parsed.subject)
        }
        guard context.administrator != nil else { throw AdminProblem(status: .forbidden, code: "administrator-required", message: "an administrator certificate is required") }
        return try await next(request, context)
    }
}
