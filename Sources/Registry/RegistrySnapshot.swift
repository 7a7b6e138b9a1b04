import Adapters
import Foundation
import Logging
import Storage
import ServiceLifecycle
import Synchronization

/// Who a certificate fingerprint belongs to, and whether that party may exchange now.
public enum IdentityResolution: Sendable, Hashable {
    case partner(Partner, PartnerCertificate)
    /// Trusted by the CA but registered to nobody.
    case unregistered
    case certificateRevoked(partnerID: String)
    case partnerNotActive(partnerID: String, status: PartnerStatus)
}

/// An immutable copy of the registry, swapped whole when the database changes.
public struct RegistrySnapshot: Sendable {
    public let version: Int64
    public let partners: [String: Partner]
    public let certificates: [String: PartnerCertificate]
    public let purposes: [String: Purpose]
    public let agreementsByPartner: [String: [Agreement]]
    /// CAs added with `jisr pki trust add`, on top of the configured partner CA.
    public let trustedCAs: [TrustedCA]
    /// The mapping attached to each partner whose adapter is `mapping`.
    public let mappings: [String: MappingSource]

    public init(
        version: Int64, partners: [Partner], certificates: [PartnerCertificate], purposes: [Purpose], agreements: [Agreement], trustedCAs: [TrustedCA] = [],
        mappings: [String: MappingSource] = [:]
    ) {
        self.trustedCAs = trustedCAs
        self.mappings = mappings
        self.version = version
        self.partners = Dictionary(partners.map { ($0.id, $0) }, uniquingKeysWith: { $1 })
        self.certificates = Dictionary(certificates.map { ($0.fingerprint, $0) }, uniquingKeysWith: { $1 })
        self.purposes = Dictionary(purposes.map { ($0.code, $0) }, uniquingKeysWith: { $1 })
        self.agreementsByPartner = Dictionary(grouping: agreements, by: \.partnerID)
    }

    public static let empty = RegistrySnapshot(version: 0, partners: [], certificates: [], purposes: [], agreements: [])

    public func resolve(fingerprint: String) -> IdentityResolution {
        guard let certificate = certificates[fingerprint], let partner = partners[certificate.partnerID] else { return .unregistered }
        guard certificate.status == .active else { return .certificateRevoked(partnerID: partner.id) }
        guard partner.status == .active else { return .partnerNotActive(partnerID: partner.id, status: partner.status) }
        return .partner(partner, certificate)
    }

    public func agreements(for partnerID: String) -> [Agreement] { agreementsByPartner[partnerID] ?? [] }

    /// The adapter that speaks this partner's format, its mapping compiled (once) when it has one.
    public func adapter(for partner: Partner, in adapters: AdapterRegistry) throws(AdapterLookupError) -> any Adapter {
        try adapters.adapter(named: partner.adapter, mapping: mappings[partner.id])
    }
}

/// Keeps the gateway's registry snapshot current: polls `registry_version` and reloads on change.
///
/// Every registry change notifies (`pg_notify` from the version trigger, delivered at commit), and the watcher
/// reloads at once; polling the one-row version table every `interval` stays as the fallback for a lost
/// notification or connection. Works across processes and hand edits alike.
public final class RegistryWatcher: Service, Sendable {
    private let store: RegistryStore
    private let interval: Duration
    private let logger: Logger
    private let current: Mutex<RegistrySnapshot>
    private let confirmed = Mutex<Date?>(nil)

    public init(store: RegistryStore, interval: Duration = .milliseconds(250), logger: Logger) {
        self.store = store
        self.interval = interval
        self.logger = logger
        self.current = Mutex(.empty)
    }

    public var snapshot: RegistrySnapshot { current.withLock { $0 } }

    /// When the store last confirmed that the snapshot is current (a poll or a reload): a watcher that cannot reach
    /// the store keeps serving its snapshot, and this says for how long.
    public var confirmedAt: Date? { confirmed.withLock { $0 } }

    /// Loads the registry now; called once before the listeners open.
    public func reload() async throws {
        let fresh = try await store.snapshot()
        // Two reloads may overlap (a notification and a poll): the newer snapshot wins.
        current.withLock { if fresh.version >= $0.version { $0 = fresh } }
        confirmed.withLock { $0 = Date() }
    }

    public func run() async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await self.listen() }
            group.addTask {
                while !Task.isCancelled && !Task.isShuttingDownGracefully {
                    do {
                        let version = try await self.store.version()
                        if version != self.snapshot.version { try await self.reload() } else { self.confirmed.withLock { $0 = Date() } }
                    } catch where Task.isCancelled || error is CancellationError {
                        break  // the gateway is stopping: a poll cut short is not a failure
                    } catch {
                        self.logger.warning("registry reload failed; keeping the previous snapshot", metadata: ["jisr.error": "\(String(reflecting: type(of: error)))"])
                    }
                    try? await Task.sleep(for: self.interval)
                }
            }
            try await gracefulShutdown()
            group.cancelAll()
        }
    }

    /// On PostgreSQL, LISTEN holds one pooled connection while the gateway runs; it reconnects after a failure.
    private func listen() async {
        while !Task.isCancelled {
            do {
                let listening = try await store.database.listen(on: "jisr_registry_changed") {
                    do { try await self.reload() } catch {
                        self.logger.warning("registry reload failed; the poll will retry", metadata: ["jisr.error": "\(String(reflecting: type(of: error)))"])
                    }
                }
                // A store without notifications (SQLite): the poll alone keeps the snapshot current.
                if !listening { return }
            } catch {
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }
}
