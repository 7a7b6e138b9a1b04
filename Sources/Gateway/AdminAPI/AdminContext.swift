import Administration
import Hummingbird
import NIOCore
import NIOSSL
import PKI
import Registry
import Storage

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

/// Sets `context.administrator`: the admin listener completes handshakes only with certificates from the admin CA,
/// and of those only a registered, unrevoked one is an administrator (read from the store on every request, so a
/// revocation holds at once on every gateway); the fingerprint and subject go into every audit entry.
struct AdministratorAuthenticator: RouterMiddleware {
    typealias Context = AdminContext
    let administration: Administration

    func handle(_ request: Request, context: AdminContext, next: (Request, AdminContext) async throws -> Response) async throws -> Response {
        guard let certificate = try await context.channel.nioSSL_peerCertificate().get() else {
            throw AdminProblem(status: .forbidden, code: "administrator-required", message: "an administrator certificate is required")
        }
        let parsed = try PKICertificate(derEncoded: try certificate.toDERBytes())
        let registered: RegisteredAdministrator?
        do { registered = try await administration.administrator(fingerprint: parsed.fingerprint) } catch is DatabaseUnavailableError {
            throw AdminProblem(status: .serviceUnavailable, code: "store-unavailable", message: "the store does not answer; try again")
        }
        guard let registered else {
            throw AdminProblem(
                status: .forbidden, code: "administrator-not-registered",
                message: "certificate \(parsed.fingerprint) is not a registered administrator's: register it with `jisr administrator add --cert FILE`")
        }
        guard registered.status == .active else {
            throw AdminProblem(status: .forbidden, code: "administrator-revoked", message: "this administrator certificate was revoked")
        }
        var context = context
        context.administrator = Administrator(fingerprint: parsed.fingerprint, name: registered.name)
        return try await next(request, context)
    }
}
