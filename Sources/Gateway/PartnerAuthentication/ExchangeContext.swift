import Adapters
import Hummingbird
import NIOCore
import NIOSSL
import PKI
import Registry
import SwiftASN1
import Synchronization
import X509

/// Who is calling, as the TLS handshake and the registry establish it.
public struct Caller: Sendable {
    /// SHA-256 of the client certificate's DER, lower-case hex.
    public let fingerprint: String
    /// The distinguished name of the CA that issued it (RFC 4514): whoever holds a trusted CA can mint certificates,
    /// so refusals are also limited per issuer.
    public let issuer: String
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
    private let cache = Mutex<[ObjectIdentifier: (fingerprint: String, issuer: String)]>([:])

    /// The peer certificate's fingerprint and its issuer's name.
    func fingerprint(of channel: any Channel) async throws -> (fingerprint: String, issuer: String)? {
        let key = ObjectIdentifier(channel)
        if let known = cache.withLock({ $0[key] }) { return known }
        guard let certificate = try await channel.nioSSL_peerCertificate().get() else { return nil }
        let der = try certificate.toDERBytes()
        // The handshake verified the chain, so the certificate parses; an issuer that would not is keyed as such.
        let issuer = (try? Certificate(derEncoded: der)).map { String(describing: $0.issuer) } ?? "(unreadable issuer)"
        let identity = (Fingerprint.sha256(der: der), issuer)
        cache.withLock { $0[key] = identity }
        channel.closeFuture.whenComplete { _ in self.cache.withLock { $0[key] = nil } }
        return identity
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
        if let (fingerprint, issuer) = try await fingerprints.fingerprint(of: context.channel) {
            let snapshot = registry.snapshot
            let resolution = snapshot.resolve(fingerprint: fingerprint)
            var agreements: [Agreement] = []
            var mapping: MappingSource?
            if case .partner(let partner, _) = resolution {
                agreements = snapshot.agreements(for: partner.id)
                mapping = snapshot.mappings[partner.id]
            }
            context.caller = Caller(
                fingerprint: fingerprint, issuer: issuer, resolution: resolution, agreements: agreements, mapping: mapping, purposes: snapshot.purposes)
        }
        return try await next(request, context)
    }
}
