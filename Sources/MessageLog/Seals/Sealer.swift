import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle

/// When the log is sealed: after so many entries or so much time, whichever comes first.
public struct SealerConfiguration: Sendable {
    public var everyEntries: Int64 = 1000
    public var every: Duration = .seconds(10)
    /// How often the sealer looks at the log's head.
    public var checkInterval: Duration = .milliseconds(500)

    public init() {}
}

/// Closes the log periodically: a Merkle root over every entry so far, signed with the gateway's log-signing key.
///
/// A seal is what makes the log evidence outside Jisr: an entry covered by a signed tree head cannot be changed,
/// removed or reordered — and the newest entries cannot be cut off — without breaking that signature's root.
public final class Sealer: Service, Sendable {
    let store: SealStore
    let signer: SealSigner
    let configuration: SealerConfiguration
    let logger: Logger

    public init(client: PostgresClient, signer: SealSigner, configuration: SealerConfiguration = .init(), logger: Logger) {
        self.store = SealStore(client: client, logger: logger)
        self.signer = signer
        self.configuration = configuration
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do { _ = try await sealIfDue() } catch {
                logger.warning("sealing the log failed; retrying", metadata: ["jisr.error": "\(String(reflecting: type(of: error)))"])
            }
            try? await Task.sleep(for: configuration.checkInterval)
        }
    }

    /// Seals when enough entries or enough time has passed since the last seal.
    public func sealIfDue(now: Date = Date()) async throws -> Seal? {
        let head = try await store.head()
        let latest = try await store.latest()
        let sealed = latest?.treeHead.size ?? 0
        guard head > sealed else { return nil }
        let age = latest.map { now.timeIntervalSince($0.treeHead.time) } ?? .infinity
        let interval = Double(configuration.every.components.seconds) + Double(configuration.every.components.attoseconds) / 1e18
        guard head - sealed >= configuration.everyEntries || age >= interval else { return nil }
        return try await seal(upTo: head, now: now)
    }

    /// Seals everything committed now (`jisr log seal`); nil when nothing is new since the last seal.
    public func sealNow() async throws -> Seal? {
        let head = try await store.head()
        guard head > (try await store.latest()?.treeHead.size ?? 0) else { return nil }
        return try await seal(upTo: head, now: Date())
    }

    private func seal(upTo size: Int64, now: Date) async throws -> Seal? {
        let root = try await store.root(size: size)
        let head = TreeHead(size: size, rootHash: root.hex, timeMilliseconds: Int64((now.timeIntervalSince1970 * 1000).rounded(.down)))
        let seal = try signer.seal(head)
        guard try await store.insertIfNewest(seal) else { return nil }
        logger.info("log sealed", metadata: ["jisr.tree_size": "\(size)", "jisr.root": "\(head.rootHash)"])
        return seal
    }
}
