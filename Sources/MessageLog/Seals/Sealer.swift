import Foundation
import Logging
import Storage
import ServiceLifecycle
import Synchronization

/// When the log is sealed: after so many entries or so much time, whichever comes first.
public struct SealerConfiguration: Sendable {
    public var everyEntries: Int64 = 1000
    public var every: Duration = .seconds(10)
    /// How often the sealer looks at the log's head.
    public var checkInterval: Duration = .milliseconds(500)
    /// The longest one round of sealing or stamping may wait on the store before it is given up and started again.
    /// A round stores its tiles as it goes, so a long catch-up continues where the last round stopped.
    public var roundDeadline: Duration = .seconds(30)
    /// How long seals may wait for their timestamp before the operator's policy applies.
    public var timestampGrace: Duration = .seconds(3600)
    /// What happens after the grace period: keep exchanging (`continue`), or refuse new exchanges (`refuse`).
    public var timestampPolicy = TimestampPolicy.continue

    public init() {}
}

/// The operator's choice when the timestamping authority stays unreachable past the grace period.
public enum TimestampPolicy: String, Sendable, CaseIterable {
    case `continue`
    case refuse
}

/// The rounds of one process's sealer, for `/metrics`.
public struct SealingRounds: Sendable {
    /// When a round last ended without an error (whether or not the log was due for a seal).
    public var lastEnded: Date?
    /// Seals this process signed and stored; rounds that failed (or were given up at their deadline).
    public var signed = 0
    public var failed = 0
    /// Rounds not begun because the last one, given up at its deadline, was still running.
    public var fenced = 0
}

/// One round at a time: a round given up at its deadline goes on in its own task (the store may still answer it), and
/// the next round waits for it to end instead of running beside it — but not for ever. A round can wait for good on a
/// pooled connection that a failover took away (postgres-nio does not always end such a wait when it is cancelled):
/// the drill of scripts/cluster met a sealer fenced for good after two sites came back. Past `patience` the fence
/// opens; what two rounds could then both do is kept single by the store (the chain's lock, the seal's size as its
/// key, a key announced once under that lock).
final class RoundFence: Sendable {
    private let began = Mutex<ContinuousClock.Instant?>(nil)
    let patience: Duration

    init(patience: Duration) { self.patience = patience }

    /// Whether a round may begin now; if so, it holds the fence until `leave()` or until `patience` has passed.
    func enter(now: ContinuousClock.Instant = .now) -> Bool {
        began.withLock { began in
            if let started = began, now - started < patience { return false }
            began = now
            return true
        }
    }

    /// The round that entered at `instant` ends; a later round that entered past the patience keeps the fence.
    func leave(entered instant: ContinuousClock.Instant) { began.withLock { if $0 == instant { $0 = nil } } }
}

/// Gets an RFC 3161 timestamp token over a tree head's signed bytes (from the configured TSA, checked).
public protocol TreeHeadTimestamper: Sendable {
    func timestamp(_ bytes: [UInt8]) async throws -> [UInt8]
}

/// How timestamping stands, for the health endpoint, the metrics and the exchange gate.
public struct TimestampingStatus: Sendable {
    /// When the last token arrived (this process), or the newest stamped seal's time at start.
    public var lastTimestamp: Date?
    /// Seals waiting for their token, and since when the oldest has waited.
    public var awaiting = 0
    public var oldestWaitingSince: Date?
    public var consecutiveFailures = 0
    /// The policy says refuse and the oldest unstamped seal has waited past the grace period.
    public var refusing = false

    /// The TSA is failing now, or a seal has waited for it for more than a minute.
    public var degraded: Bool { consecutiveFailures > 0 || (oldestWaitingSince.map { Date().timeIntervalSince($0) > 60 } ?? false) }
}

/// Closes the log periodically: a Merkle root over every entry so far, signed with the gateway's log-signing key.
///
/// A seal is what makes the log evidence outside Jisr: an entry covered by a signed tree head cannot be changed,
/// removed or reordered — and the newest entries cannot be cut off — without breaking that signature's root.
///
/// When its key is not the key of the newest seal (the key was rotated), it first writes the change into the log
/// (`SigningKeyChange`), so that the first seal under the new key covers its own announcement.
public final class Sealer: Service, Sendable {
    let store: SealStore
    let log: LogWriter
    let signer: SealSigner
    let timestamper: (any TreeHeadTimestamper)?
    let configuration: SealerConfiguration
    let logger: Logger
    private let state = Mutex(TimestampingStatus())
    private let nextAttempt = Mutex(Date.distantPast)
    private let rounds = Mutex(SealingRounds())
    private let sealingFence: RoundFence
    private let stampingFence: RoundFence

    public init(
        database: Database, log: LogWriter, signer: SealSigner, timestamper: (any TreeHeadTimestamper)? = nil, configuration: SealerConfiguration = .init(),
        logger: Logger
    ) {
        self.store = SealStore(database: database, logger: logger)
        self.log = log
        self.signer = signer
        self.timestamper = timestamper
        self.configuration = configuration
        self.logger = logger
        // A round past its deadline is waited for as long again: the store may still answer it, and then it ends.
        self.sealingFence = RoundFence(patience: configuration.roundDeadline * 2)
        self.stampingFence = RoundFence(patience: configuration.roundDeadline * 2)
    }

    /// What this process's sealer has done: a sealer whose rounds stopped ending is stuck, whatever other gateways seal.
    public var sealing: SealingRounds { rounds.withLock { $0 } }

    /// How timestamping stands now; whether the grace period is over is decided at the moment of asking.
    public var timestamping: TimestampingStatus {
        var status = state.withLock { $0 }
        let grace = Double(configuration.timestampGrace.components.seconds)
        status.refusing =
            timestamper != nil && configuration.timestampPolicy == .refuse
            && (status.oldestWaitingSince.map { Date().timeIntervalSince($0) > grace } ?? false)
        return status
    }

    /// Seals and stamps in two loops, so that a TSA that takes its time never delays a seal.
    public func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                while !Task.isCancelled && !Task.isShuttingDownGracefully {
                    let entered = ContinuousClock.now
                    guard self.sealingFence.enter(now: entered) else {
                        self.rounds.withLock { $0.fenced += 1 }
                        self.logger.warning("the last sealing round, given up at its deadline, is still running; the next waits for it")
                        try? await Task.sleep(for: self.configuration.checkInterval)
                        continue
                    }
                    // Bounded: a lease that postgres-nio's pool never answered across a failover held the sealer for
                    // good (the drill met two gateways whose sealers both waited so, and the log went unsealed).
                    do {
                        let seal = try await self.store.database.withDeadline(self.configuration.roundDeadline) {
                            defer { self.sealingFence.leave(entered: entered) }
                            return try await self.sealIfDue()
                        }
                        self.rounds.withLock { rounds in
                            rounds.lastEnded = Date()
                            if seal != nil { rounds.signed += 1 }
                        }
                    } catch where Task.isCancelled || error is CancellationError {
                        break  // the gateway is stopping: a round cut short is not a failure
                    } catch {
                        self.rounds.withLock { $0.failed += 1 }
                        self.logger.warning("sealing the log failed; retrying", metadata: Self.metadata(error))
                    }
                    try? await Task.sleep(for: self.configuration.checkInterval)
                }
            }
            if timestamper != nil {
                group.addTask {
                    while !Task.isCancelled && !Task.isShuttingDownGracefully {
                        let entered = ContinuousClock.now
                        guard self.stampingFence.enter(now: entered) else {
                            try? await Task.sleep(for: self.configuration.checkInterval)
                            continue
                        }
                        do {
                            try await self.store.database.withDeadline(self.configuration.roundDeadline) {
                                defer { self.stampingFence.leave(entered: entered) }
                                try await self.stampWaitingSeals()
                            }
                        } catch {
                            self.logger.warning("reading seals awaiting a timestamp failed", metadata: Self.metadata(error))
                        }
                        try? await Task.sleep(for: self.configuration.checkInterval)
                    }
                }
            }
        }
    }

    /// The error's type, and a seal store's reason (it names seqs and tiles, never a person).
    static func metadata(_ error: any Error) -> Logger.Metadata {
        var metadata: Logger.Metadata = ["jisr.error": "\(String(reflecting: type(of: error)))"]
        if let error = error as? SealStoreError { metadata["jisr.reason"] = "\(error.reason)" }
        if let error = error as? DatabaseUnavailableError { metadata["jisr.reason"] = "\(error.reason)" }
        return metadata
    }

    /// Asks the TSA for the token of every seal still without one, oldest first; on failure, backs off
    /// exponentially (with jitter, up to five minutes) and keeps the seals waiting — they are stamped when it returns.
    public func stampWaitingSeals(now: Date = Date()) async throws {
        guard let timestamper else { return }
        let waiting = try await store.awaitingTimestamp(limit: 50)
        if state.withLock({ $0.lastTimestamp == nil }), let stamped = try await store.newestTimestampedAt() {
            state.withLock { $0.lastTimestamp = stamped }
        }
        updateWaiting(waiting, now: now)
        guard !waiting.isEmpty, now >= nextAttempt.withLock({ $0 }) else { return }
        for seal in waiting {
            do {
                let token = try await timestamper.timestamp(seal.treeHead.signedBytes)
                try await store.attachTimestamp(token, size: seal.treeHead.size)
                state.withLock {
                    $0.lastTimestamp = Date()
                    $0.consecutiveFailures = 0
                }
                logger.info("seal timestamped", metadata: ["jisr.tree_size": "\(seal.treeHead.size)"])
            } catch {
                let failures = state.withLock { status -> Int in
                    status.consecutiveFailures += 1
                    return status.consecutiveFailures
                }
                let backoff = min(300, pow(2, Double(min(failures, 9)))) * Double.random(in: 0.5...1)
                nextAttempt.withLock { $0 = Date().addingTimeInterval(backoff) }
                logger.warning(
                    "timestamping authority unavailable; seals wait for it", metadata: ["jisr.failures": "\(failures)", "jisr.error": "\(error)"])
                break
            }
        }
        updateWaiting(try await store.awaitingTimestamp(limit: 50), now: now)
    }

    private func updateWaiting(_ waiting: [Seal], now: Date) {
        state.withLock { status in
            status.awaiting = waiting.count
            status.oldestWaitingSince = waiting.first?.treeHead.time
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
        return try await seal(upTo: head, after: latest, now: now)
    }

    /// Seals everything committed now (`jisr log seal`); nil when nothing is new since the last seal.
    public func sealNow() async throws -> Seal? {
        let head = try await store.head()
        let latest = try await store.latest()
        guard head > (latest?.treeHead.size ?? 0) else { return nil }
        return try await seal(upTo: head, after: latest, now: Date())
    }

    private func seal(upTo head: Int64, after latest: Seal?, now: Date) async throws -> Seal? {
        var size = head
        if let latest, latest.publicKeyPEM != signer.publicKeyPEM,
            !(try await store.announcedKeys(after: latest.treeHead.size).contains(signer.keyFingerprint))
        {
            let draft = SigningKeyChange.draft(signer: signer, previousPublicKeyPEM: latest.publicKeyPEM)
            let key = signer.keyFingerprint
            do {
                // Checked again under the chain's lock, in the entry's own transaction: a round left running past its
                // deadline, or another gateway with the same key, that announced it first wins; the key is announced once.
                let announcement = try await log.append(draft) { connection, _ in
                    if try await SealStore.announcedKeys(after: latest.treeHead.size, on: connection).contains(key) { throw KeyAlreadyAnnounced() }
                    return draft.detail
                }
                size = max(size, announcement.seq)
                logger.notice("log-signing key changed; the change is logged", metadata: ["jisr.log_seq": "\(announcement.seq)", "jisr.key": "\(key)"])
            } catch is KeyAlreadyAnnounced {
                size = try await store.head()
            }
        }
        let root = try await store.root(size: size)
        // Signed now, not when the round began: a round that waited on the store must not date its head back.
        let signedAt = max(now, Date())
        let head = TreeHead(size: size, rootHash: root.hex, timeMilliseconds: Int64((signedAt.timeIntervalSince1970 * 1000).rounded(.down)))
        let seal = try signer.seal(head)
        guard try await store.insertIfNewest(seal) else { return nil }
        logger.info("log sealed", metadata: ["jisr.tree_size": "\(size)", "jisr.root": "\(head.rootHash)"])
        return seal
    }
}

/// Another round announced the key between this round's look and its append.
struct KeyAlreadyAnnounced: Error {}
