import Adapters
import Hummingbird
import NIOCore
import NIOSSL
import PKI
import Registry
import Synchronization

/// Who is calling, as the TLS handshake and the registry establish it.
public struct Caller: Sendable {
    /// SHA-256 of the client certificate's DER, lower-case hex.
    public let fingerprint: String
    public let resolution: IdentityResolution
    /// The partner's agreements in force, from the same registry snapshot as the resolution.
    public let agreements: [Agreement]
    /// The partner's attached mapping, when its adapter is `mapping`; same snapshot.
    public let mapping: MappingSource?
    /// The purpose registry of the same snapshot: an exchange's disclosure moment is fixed from it.
    public let purposes: [String: Purpose]
}

/// The request context of the exchange listener: the connection's channel and the authenticated caller.
public struct ExchangeContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let channel: any Channel
    /// Set once by `PartnerAuthenticator`; handlers ask here, never a header.
    public var caller: Caller?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.channel = source.channel
        self.caller = nil
    }

    /// Exchange bodies are small documents; anything larger is refused before it is read whole.
    public var maxUploadSize: Int { 1 << 20 }
}

/// Fingerprints of the peer certificate, computed once per connection.
///
/// Fetching and hashing the certificate on every request halves throughput; the certificate cannot change
/// within a TLS connection, so it is resolved on the first request and forgotten when the connection closes.
/// The registry status is still checked on every request, so a suspension applies at once.
final class PeerFingerprints: Sendable {
    private let cache = Mutex<[ObjectIdentifier: String]>([:])

    func fingerprint(of channel: any Channel) async throws -> String? {
        let key = ObjectIdentifier(channel)
        if let known = cache.withLock({ $0[key] }) { return known }
        guard let certificate = try await channel.nioSSL_peerCertificate().get() else { return nil }
        let fingerprint = Fingerprint.sha256(der: try certificate.toDERBytes())
        cache.withLock { $0[key] = fingerprint }
        channel.closeFuture.whenComplete { _ in self.cache.withLock { $0[key] = nil } }
        return fingerprint
    }

    var count: Int { cache.withLock { $0.count } }
}

/// Sets `context.caller` from the verified client certificate and the current registry snapshot.
struct PartnerAuthenticator: RouterMiddleware {
    typealias Context = ExchangeContext

    let fingerprints: PeerFingerprints
    let registry: RegistryWatcher

    func handle(_ request: Request, context: ExchangeContext, next: (Request, ExchangeContext) async throws -> Response) async throws -> Response {
        var context = context
        if let fingerprint = try await fingerprints.fingerprint(of: context.channel) {
            let snapshot = registry.snapshot
            let resolution = snapshot.resolve(fingerprint: fingerprint)
            var agreements: [Agreement] = []
            var mapping: MappingSource?
            if case .partner(let partner, _) = resolution {
                agreements = snapshot.agreements(for: partner.id)
                mapping = snapshot.mappings[partner.id]
            }
            context.caller = Caller(fingerprint: fingerprint, resolution: resolution, agreements: agreements, mapping: mapping, purposes: snapshot.purposes)
        }
        return try await next(request, context)
    }
}
