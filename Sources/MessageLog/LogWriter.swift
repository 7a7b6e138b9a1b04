import Foundation
import Logging
import Storage
import ServiceLifecycle
import Synchronization

/// The log could not be written; the exchange that asked must not proceed (503).
public struct LogUnavailableError: Error, Sendable, CustomStringConvertible {
    public let reason: String
    public var description: String { "message log unavailable: \(reason)" }
}

/// Database work committed in the same transaction as its log entry; returns the entry's detail.
public typealias EntryWork = @Sendable (DatabaseConnection, Logger) async throws -> String?

/// Database work committed with a group of entries; gets their future seqs, returns their details.
public typealias GroupWork = @Sendable (DatabaseConnection, Logger, [Int64]) async throws -> [String?]

/// What the log writer has committed since it started.
public struct LogWriterStatistics: Sendable, Hashable {
    public var transactions = 0
    public var entries = 0
    public var largestBatch = 0
    /// Batches that met another writer's entries at the seqs they were chained onto, and were chained again.
    public var collisions = 0
}

/// Tuning for the single log writer.
public struct LogWriterConfiguration: Sendable {
    /// Most entries committed in one transaction.
    public var maximumBatch: Int = 256
    /// How long an append may wait for its commit, counted from the moment it is asked for, before the request is
    /// answered 503. An append queued behind a batch that is itself waiting for the database shares that wait: it
    /// is not given a fresh limit when its own batch starts (during an outage that tripled the wait).
    public var commitTimeout: Duration = .seconds(5)
    /// How much longer a batch whose COMMIT is already on its way may take before its callers are answered.
    public var commitGrace: Duration = .seconds(2)
    /// Told of every committed batch: its entries and how long its transaction took (the gateway's metrics).
    public var onCommit: (@Sendable (_ entries: Int, _ took: Duration) -> Void)?

    public init() {}
}

/// The only writer of the message log: appends from concurrent requests are committed together.
///
/// Each caller waits until its entry is durable (group commit: one transaction and one fsync for every
/// entry that arrived while the previous batch was being written). The chain head is read inside the
/// transaction under an advisory lock, so several Jisr processes sharing one database still build one chain.
///
/// On PostgreSQL a batch of plain entries (no work to commit with them) skips the head's read when the writer knows
/// the head from its own last commit: it is chained onto it and inserted under the lock, four round trips (with its
/// transaction) instead of five. If another process appended in between, the insert collides with that process's
/// seqs (the primary key), fails whole, and the batch is chained again on the head read under the lock. Every insert
/// holds the lock, so a batch chained on the head it read under the lock never collides.
public final class LogWriter: Service, Sendable {
    private struct Pending {
        let drafts: [EntryDraft]
        let work: GroupWork?
        let deadline: ContinuousClock.Instant
        let continuation: CheckedContinuation<[LogEntry], any Error>
    }

    private struct State {
        var pending: [Pending] = []
        var closed = false
        var statistics = LogWriterStatistics()
        /// The chain head as this writer last committed it; nil until its first commit and after any failure.
        var head: (seq: Int64, hash: String)?
        /// A batch whose COMMIT was sent but whose outcome could not be learnt before its callers were answered 503:
        /// looked up before the next batch, so that the operators learn what became of it.
        var unresolved: ClaimedCommit?
    }

    private let database: Database
    private let logger: Logger
    private let configuration: LogWriterConfiguration
    private let state = Mutex(State())
    private let wakeups: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation

    public init(database: Database, configuration: LogWriterConfiguration = .init(), logger: Logger) {
        self.database = database
        self.configuration = configuration
        self.logger = logger
        (self.wakeups, self.wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// How many transactions and entries this writer has committed: the ratio shows the group commit at work.
    public var statistics: LogWriterStatistics { state.withLock { $0.statistics } }

    /// Appends one entry and returns it once it is committed; throws `LogUnavailableError` otherwise.
    public func append(_ draft: EntryDraft) async throws -> LogEntry {
        try await enqueue([draft], work: nil)[0]
    }

    /// Appends an entry together with `work`, in the same transaction: both are committed or neither is.
    ///
    /// This is how administrative changes are audited: the registry change and its log entry cannot be
    /// separated by a crash. The work's result becomes the entry's detail (what changed, before and after).
    /// If the work throws, its error is rethrown and nothing of it is logged; other entries of the batch are
    /// unaffected (each work runs under its own savepoint).
    public func append(_ draft: EntryDraft, performing work: @escaping EntryWork) async throws -> LogEntry {
        try await enqueue([draft]) { connection, logger, _ in [try await work(connection, logger)] }[0]
    }

    /// Appends several entries and `work` as one unit: all are committed, consecutive in the chain, or none.
    ///
    /// The relay uses it to write one outbox row and one entry per recipient of a change, together with the
    /// change feed's new position, so that a crash can neither lose a recipient nor repeat one. `work`
    /// receives the seqs the entries will get and returns each entry's detail (or nil).
    public func append(group drafts: [EntryDraft], performing work: @escaping GroupWork) async throws -> [LogEntry] {
        try await enqueue(drafts, work: work)
    }

    private func enqueue(_ drafts: [EntryDraft], work: GroupWork?) async throws -> [LogEntry] {
        let deadline = ContinuousClock.now + configuration.commitTimeout
        return try await withCheckedThrowingContinuation { continuation in
            let accepted = state.withLock { state -> Bool in
                guard !state.closed else { return false }
                state.pending.append(Pending(drafts: drafts, work: work, deadline: deadline, continuation: continuation))
                return true
            }
            if accepted {
                wake.yield()
            } else {
                continuation.resume(throwing: LogUnavailableError(reason: "the log writer has stopped"))
            }
        }
    }

    public func run() async throws {
        await withGracefulShutdownHandler {
            for await _ in wakeups {
                await drain()
            }
            // Stopped: commit what arrived last, then refuse further appends.
            await drain()
        } onGracefulShutdown: {
            self.wake.finish()
        }
        let leftovers = state.withLock { state -> [Pending] in
            state.closed = true
            defer { state.pending = [] }
            return state.pending
        }
        for item in leftovers { item.continuation.resume(throwing: LogUnavailableError(reason: "the log writer has stopped")) }
    }

    private func drain() async {
        while true {
            let queued = state.withLock { state -> [Pending] in
                // At least one unit, then whole units up to the batch size.
                var count = 0
                var entries = 0
                while count < state.pending.count, count == 0 || entries + state.pending[count].drafts.count <= configuration.maximumBatch {
                    entries += state.pending[count].drafts.count
                    count += 1
                }
                defer { state.pending.removeFirst(count) }
                return Array(state.pending.prefix(count))
            }
            if queued.isEmpty { return }
            // Appends whose time ran out while an earlier batch waited are refused without another wait.
            let now = ContinuousClock.now
            let batch = queued.filter { $0.deadline > now }
            for item in queued where item.deadline <= now {
                item.continuation.resume(throwing: LogUnavailableError(reason: "no answer within \(configuration.commitTimeout)"))
            }
            guard let earliest = batch.map(\.deadline).min() else { continue }
            // Looking up an unresolved batch takes at most half the callers' wait: asked on its own time, it made a
            // request wait for it and then for its own commit (15 s answers inside a site cut off, where 12 s is the
            // most); given all of it, a batch that never committed (its seqs empty until a later batch fills them)
            // left no time for any later batch, and the writer refused everything after it.
            await reportUnresolved(until: now + (earliest - now) / 2)
            let remaining = earliest - ContinuousClock.now
            guard remaining > .zero else {
                for item in batch { item.continuation.resume(throwing: LogUnavailableError(reason: "no answer within \(configuration.commitTimeout)")) }
                continue
            }
            do {
                let began = ContinuousClock.now
                let outcomes = try await commitWithTimeout(batch.map { ($0.drafts, $0.work) }, within: remaining)
                let committed = outcomes.reduce(0) { total, outcome in total + ((try? outcome.get().count) ?? 0) }
                configuration.onCommit?(committed, ContinuousClock.now - began)
                state.withLock {
                    $0.statistics.transactions += 1
                    $0.statistics.entries += committed
                    $0.statistics.largestBatch = max($0.statistics.largestBatch, committed)
                }
                for (item, outcome) in zip(batch, outcomes) { item.continuation.resume(with: outcome) }
            } catch {
                logger.error("message log commit failed", metadata: ["jisr.batch": "\(batch.count)", "jisr.error": "\(String(reflecting: type(of: error)))"])
                let failure = error as? LogUnavailableError ?? LogUnavailableError(reason: "the database did not accept the entries")
                for item in batch { item.continuation.resume(throwing: failure) }
            }
        }
    }

    /// A batch that misses its deadline is answered 503 and abandoned: if its transaction gets a connection later
    /// (the database back), it rolls itself back rather than log exchanges whose callers were told they failed.
    ///
    /// A batch whose COMMIT was sent is different: if the answer to it is lost — the connection cut, the primary
    /// gone in a failover — the entries may be durable or not, and only the database knows. The writer asks it (the
    /// entries at the batch's seqs, by their hashes) until the callers' time is up: committed, its callers get their
    /// entries, as if the answer had arrived; not there, 503. Nothing is written again meanwhile, so the chain gets
    /// neither a duplicate nor a gap, and the next batch reads the head from the database.
    private func commitWithTimeout(_ items: [([EntryDraft], GroupWork?)], within limit: Duration) async throws -> [Result<[LogEntry], any Error>] {
        let abandoned = AbandonedBatch()
        let deadline = ContinuousClock.now + limit + configuration.commitGrace
        do {
            return try await database.withDeadline(limit, unless: { !abandoned.abandonIfPending() }, extendedBy: configuration.commitGrace) {
                try await self.commit(items, unless: abandoned)
            }
        } catch {
            guard let claimed = abandoned.claimed else {
                if let error = error as? DatabaseUnavailableError { throw LogUnavailableError(reason: error.reason) }
                throw error
            }
            state.withLock { $0.head = nil }
            logger.warning("message log commit sent but not acknowledged: asking the database", metadata: claimed.metadata)
            switch await claimed.outcome(in: database, until: deadline, logger: logger) {
            case .committed?:
                state.withLock { $0.head = claimed.head }
                logger.notice("message log commit had gone through: its entries are answered", metadata: claimed.metadata)
                return claimed.outcomes
            case .absent?:
                logger.error("message log commit had not gone through: its exchanges are answered 503", metadata: claimed.metadata)
            case nil:
                state.withLock { $0.unresolved = claimed }
                logger.error("message log commit outcome unknown at its deadline: answered 503, looked up again before the next batch", metadata: claimed.metadata)
            }
            throw LogUnavailableError(reason: (error as? DatabaseUnavailableError)?.reason ?? "the answer to the commit was lost")
        }
    }

    /// A batch answered 503 while its outcome was unknown, looked up (until `deadline`) once the database answers
    /// again: operators learn from the log whether exchanges their partners were told failed are in the message log
    /// after all.
    private func reportUnresolved(until deadline: ContinuousClock.Instant) async {
        guard let claimed = state.withLock({ $0.unresolved }) else { return }
        switch await claimed.outcome(in: database, until: deadline, logger: logger) {
        case .committed?:
            state.withLock { $0.unresolved = nil }
            logger.error("a message log batch answered 503 had committed: its entries are in the log", metadata: claimed.metadata)
        case .absent?:
            state.withLock { $0.unresolved = nil }
            logger.notice("a message log batch answered 503 had not committed", metadata: claimed.metadata)
        case nil:
            break
        }
    }

    private func commit(_ items: [([EntryDraft], GroupWork?)], unless abandoned: AbandonedBatch) async throws -> [Result<[LogEntry], any Error>] {
        let now = Int64((Date().timeIntervalSince1970 * 1_000_000).rounded())
        if database.dialect == .postgres, items.allSatisfy({ $0.1 == nil }), let head = state.withLock({ $0.head }) {
            var (seq, prevHash) = head
            let units = items.map { drafts, _ in Self.chain(drafts, after: &seq, prevHash: &prevHash, at: now) }
            let entries = units.flatMap { $0 }
            do {
                // A transaction of its own, although one statement would do: the commit must come after the claim, so
                // that an insert still waiting at the deadline (a lock, a slow disk) rolls back instead of landing
                // after its callers were answered 503.
                let claim = ClaimedCommit(entries: entries, outcomes: units.map { .success($0) }, head: (seq, prevHash))
                try await database.withTransaction { connection in
                    if abandoned.isSet { throw LogUnavailableError(reason: "the batch was abandoned at its deadline") }
                    // Under the lock too: without it, another gateway's batches chained this way landed between a
                    // batch's reading of the head under the lock and its insert, eight times running at the start of
                    // the failover drill, and those exchanges were answered 503.
                    try await connection.lock(MessageLogStore.chainLock)
                    try await MessageLogStore.insert(entries, on: connection)
                    guard abandoned.claimCommit(claim) else { throw LogUnavailableError(reason: "the batch was abandoned at its deadline") }
                }
                state.withLock { $0.head = (seq, prevHash) }
                return units.map { .success($0) }
            } catch let error as DatabaseConstraintError where error.kind == .unique {
                // Another process appended since this writer's last commit: chain the batch again, under the lock.
                state.withLock {
                    $0.head = nil
                    $0.statistics.collisions += 1
                }
            } catch {
                state.withLock { $0.head = nil }
                throw error
            }
        }
        state.withLock { $0.head = nil }
        // Every insert holds the lock, so no batch lands between this transaction's reading of the head and its
        // insert — unless a process of an older Jisr (one that inserted without the lock) shares the database during
        // an upgrade: then the insert collides on the seq key, rolls back whole (its work too), and is chained again.
        var attempt = 1
        while true {
            do {
                return try await commitUnderLock(items, unless: abandoned)
            } catch let error as DatabaseConstraintError where error.kind == .unique && database.dialect == .postgres && attempt < Self.lockedAttempts {
                attempt += 1
                state.withLock { $0.statistics.collisions += 1 }
            }
        }
    }

    /// How often a batch chained under the lock is chained again after colliding with an insert made without it (an
    /// older Jisr); each collision means another process committed meanwhile, so this bounds a race, not a wait.
    static let lockedAttempts = 8

    /// The batch in one transaction under the chain lock: the head read, each unit's work, the entries inserted.
    private func commitUnderLock(_ items: [([EntryDraft], GroupWork?)], unless abandoned: AbandonedBatch) async throws -> [Result<[LogEntry], any Error>] {
        let now = Int64((Date().timeIntervalSince1970 * 1_000_000).rounded())
        let (outcomes, head) = try await database.withTransaction { connection -> ([Result<[LogEntry], any Error>], (Int64, String)) in
            try await connection.lock(MessageLogStore.chainLock)
            if abandoned.isSet { throw LogUnavailableError(reason: "the batch was abandoned at its deadline") }
            var (seq, prevHash) = try await MessageLogStore.head(on: connection)
            var outcomes: [Result<[LogEntry], any Error>] = []
            var entries: [LogEntry] = []
            entries.reserveCapacity(items.count)
            for (drafts, work) in items {
                var drafts = drafts
                if let work {
                    do {
                        let first = seq + 1
                        let details = try await connection.savepoint { try await work(connection, logger, Array(first...(first + Int64(drafts.count) - 1))) }
                        for (index, detail) in details.enumerated() where index < drafts.count { drafts[index].detail = detail }
                    } catch {
                        outcomes.append(.failure(error))
                        continue
                    }
                }
                let unit = Self.chain(drafts, after: &seq, prevHash: &prevHash, at: now)
                entries += unit
                outcomes.append(.success(unit))
            }
            if abandoned.isSet { throw LogUnavailableError(reason: "the batch was abandoned at its deadline") }
            if !entries.isEmpty { try await MessageLogStore.insert(entries, on: connection) }
            // The transaction commits when this returns: from here the deadline waits for it instead of abandoning
            // it (a COMMIT that went through after its callers were told 503 would log exchanges that never were).
            guard abandoned.claimCommit(ClaimedCommit(entries: entries, outcomes: outcomes, head: (seq, prevHash))) else {
                throw LogUnavailableError(reason: "the batch was abandoned at its deadline")
            }
            return (outcomes, (seq, prevHash))
        }
        state.withLock { $0.head = head }
        return outcomes
    }

    /// `drafts` as consecutive entries after `seq`/`prevHash`, which move to the last of them.
    private static func chain(_ drafts: [EntryDraft], after seq: inout Int64, prevHash: inout String, at now: Int64) -> [LogEntry] {
        var unit: [LogEntry] = []
        unit.reserveCapacity(drafts.count)
        for draft in drafts {
            seq += 1
            let hash = LogEntry.hash(seq: seq, recordedAt: now, draft: draft, prevHash: prevHash)
            unit.append(LogEntry(seq: seq, recordedAt: now, draft: draft, prevHash: prevHash, entryHash: hash))
            prevHash = hash
        }
        return unit
    }
}

/// Who decides a batch's fate at its deadline: the writer, by claiming its commit, or the deadline, by abandoning it
/// — whichever comes first, once. An abandoned batch's callers are told it failed, so it must never commit; a
/// batch whose commit was claimed is waited for, because its entries may already be durable.
final class AbandonedBatch: Sendable {
    enum Phase { case pending, committing(ClaimedCommit), abandoned }
    private let state = Mutex(Phase.pending)

    var isSet: Bool {
        state.withLock {
            if case .abandoned = $0 { return true }
            return false
        }
    }

    /// What the commit that was claimed would make durable; nil before the claim (and for an abandoned batch).
    var claimed: ClaimedCommit? {
        state.withLock {
            if case .committing(let claimed) = $0 { return claimed }
            return nil
        }
    }

    /// The writer is about to send the statement that commits `claimed`; false if the deadline abandoned the batch first.
    func claimCommit(_ claimed: ClaimedCommit) -> Bool {
        state.withLock { phase in
            guard case .pending = phase else { return false }
            phase = .committing(claimed)
            return true
        }
    }

    /// The deadline gives the batch up; false if its commit was already claimed (then the outcome is awaited).
    func abandonIfPending() -> Bool {
        state.withLock { phase in
            guard case .pending = phase else { return false }
            phase = .abandoned
            return true
        }
    }
}

/// A batch as its COMMIT would make it durable: its entries (seqs and hashes), its callers' outcomes, the head after it.
struct ClaimedCommit: Sendable {
    let entries: [LogEntry]
    let outcomes: [Result<[LogEntry], any Error>]
    let head: (seq: Int64, hash: String)

    enum Outcome { case committed, absent }

    var metadata: Logger.Metadata {
        guard let first = entries.first, let last = entries.last else { return ["jisr.batch": "0"] }
        return ["jisr.batch": "\(entries.count)", "jisr.seqs": "\(first.seq)-\(last.seq)"]
    }

    /// Whether the batch is in the log, asked until `deadline`: committed when the entries at its seqs carry its
    /// hashes; absent when other entries hold those seqs (the chain went on without it); nil when neither is known
    /// by then. Seqs still empty prove nothing: a COMMIT waiting for the synchronous standby is invisible until the
    /// standby answers, and becomes visible if its session is ended — PostgreSQL has committed it locally already.
    ///
    /// Each question has a few seconds of its own: one that hangs (a lease from a pool whose connections died with
    /// their server) must not use up the whole wait, and the next one asks on whatever connection answers then.
    func outcome(in database: Database, until deadline: ContinuousClock.Instant, logger: Logger) async -> Outcome? {
        guard let first = entries.first?.seq, let last = entries.last?.seq else { return .committed }
        var asked = 0
        var failures: [String: Int] = [:]
        defer {
            if !failures.isEmpty {
                logger.info("message log commit outcome asked", metadata: metadata.merging([
                    "jisr.questions": "\(asked)",
                    "jisr.failures": "\(failures.sorted { $0.key < $1.key }.map { "\($0.key)×\($0.value)" }.joined(separator: ", "))",
                ]) { old, _ in old })
            }
        }
        while ContinuousClock.now < deadline {
            asked += 1
            do {
                let rows = try await database.withDeadline(max(min(deadline - ContinuousClock.now, Self.question), .milliseconds(1))) {
                    try await database.query("SELECT seq, entry_hash FROM message_log WHERE seq >= \(first) AND seq <= \(last) ORDER BY seq")
                        .decode((Int64, String).self)
                }
                let found = Dictionary(rows, uniquingKeysWith: { first, _ in first })
                if entries.allSatisfy({ found[$0.seq] == $0.entryHash }) { return .committed }
                if entries.contains(where: { entry in found[entry.seq].map { $0 != entry.entryHash } ?? false }) { return .absent }
                failures["not yet visible", default: 0] += 1
            } catch {
                failures[String(describing: error), default: 0] += 1
            }
            try? await Task.sleep(for: .milliseconds(200))
        }
        return nil
    }

    /// How long one question about a batch's outcome may take before it is asked again.
    static let question: Duration = .seconds(3)
}

extension LogWriter {
    /// Runs `body` with a log writer that lives exactly as long (one-shot commands: `jisr log seal`, the CLI's
    /// administration).
    public static func withLocal<Result: Sendable>(
        database: Database, logger: Logger, _ body: @Sendable (LogWriter) async throws -> Result
    ) async throws -> Result {
        let writer = LogWriter(database: database, logger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await writer.run() }
            defer { group.cancelAll() }
            return try await body(writer)
        }
    }
}
