import Adapters
import Foundation
import Logging
import MessageLog
import Storage
import Records
import Registry
import Schemas
import ServiceLifecycle

/// Turns the ministry's permit changes into outbox messages, one per partner entitled to receive them.
///
/// Reads the change feed incrementally from its stored position (woken by NOTIFY, polling as a fallback).
/// For each change, every recipient's log entry, its outbox row and the feed's new position are committed
/// together (`LogWriter.append(group:)`): a crash repeats a whole change or none of it.
public final class RelayProducer: Service, Sendable {
    static let feed = "work-permits"

    private let database: Database
    private let records: any RecordSource
    private let registry: RegistryWatcher
    private let catalog: ContractCatalog
    private let adapters: AdapterRegistry
    private let log: LogWriter
    private let sealer: BodySealer
    private let referencer: SubjectReferencer
    private let logger: Logger
    private let wakeup = Wakeup()
    let workerWakeup: @Sendable () -> Void

    public init(
        database: Database, records: any RecordSource, registry: RegistryWatcher, catalog: ContractCatalog, adapters: AdapterRegistry, log: LogWriter,
        sealer: BodySealer, referencer: SubjectReferencer, logger: Logger, onQueued: @escaping @Sendable () -> Void = {}
    ) {
        self.database = database
        self.records = records
        self.registry = registry
        self.catalog = catalog
        self.adapters = adapters
        self.log = log
        self.sealer = sealer
        self.referencer = referencer
        self.logger = logger
        self.workerWakeup = onQueued
    }

    public func run() async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await self.listen() }
            group.addTask {
                try await self.awaitRegistry()
                var position = try await self.startingPosition()
                while !Task.isCancelled && !Task.isShuttingDownGracefully {
                    do {
                        position = try await self.processAvailable(after: position)
                    } catch where Task.isCancelled || error is CancellationError {
                        break  // the gateway is stopping: a read cut short is not a failure
                    } catch {
                        self.logger.warning("relay: reading the change feed failed; retrying", metadata: ["jisr.error": "\(String(reflecting: type(of: error)))"])
                    }
                    await self.wakeup.wait(timeout: .seconds(1))
                }
            }
            try await gracefulShutdown()
            group.cancelAll()
        }
    }

    /// Recipients come from the registry: a change read before it is loaded would find nobody to tell and be
    /// passed over for good. (The crash test found this: a restarted gateway skipped the change it resumed at.)
    private func awaitRegistry() async throws {
        while registry.snapshot.version == 0 {
            do { try await registry.reload() } catch {
                logger.warning("relay: the registry cannot be read yet; waiting", metadata: ["jisr.error": "\(String(reflecting: type(of: error)))"])
            }
            if registry.snapshot.version == 0 { try await Task.sleep(for: .milliseconds(250)) }
        }
    }

    /// On PostgreSQL, LISTEN holds one pooled connection for as long as the producer runs; on SQLite the
    /// producer reads the feed every second.
    private func listen() async {
        while !Task.isCancelled {
            do {
                if try await !database.listen(on: "jisr_permit_changes", { self.wakeup.notify() }) { return }
            } catch {
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }

    /// The stored position, or — on first start — the current end of the feed: history is not news.
    private func startingPosition() async throws -> Int64 {
        if let position = try await database.query("SELECT position FROM relay_feed WHERE feed = \(Self.feed)").first {
            return try position[0].decode(Int64.self)
        }
        let head = try await records.permitChangeHead()
        try await database.query("INSERT INTO relay_feed (feed, position) VALUES (\(Self.feed), \(head)) ON CONFLICT (feed) DO NOTHING")
        return head
    }

    /// Processes changes until the feed is drained; returns the new position.
    ///
    /// Several producers (several Jisr processes) may read the same feed: each change is claimed by a
    /// compare-and-set on the stored position inside its unit, so exactly one producer enqueues it; the
    /// others find the position moved, re-read it and go on from there.
    func processAvailable(after start: Int64) async throws -> Int64 {
        var position = start
        while true {
            let changes = try await records.permitChanges(after: position, limit: 100)
            if changes.isEmpty { return position }
            for change in changes {
                do {
                    try await enqueue(change, expecting: position)
                    position = change.position
                } catch is FeedMoved {
                    position = try await storedPosition()
                    break
                }
            }
        }
    }

    private func storedPosition() async throws -> Int64 {
        try await database.query("SELECT position FROM relay_feed WHERE feed = \(Self.feed)").first?[0].decode(Int64.self) ?? 0
    }

    private func enqueue(_ change: PermitChange, expecting previous: Int64) async throws {
        guard let contract = catalog[WorkPermitEvent.contract] else { throw RelayError("work-permit-event/1 is not published") }
        let snapshot = registry.snapshot
        let now = Date()
        let event = try DocumentEncoder.encode(WorkPermitEvent(eventType: change.eventType, occurredAt: change.occurredAt, permit: change.permit))
        var drafts: [EntryDraft] = []
        var rows: [OutboxRow] = []
        // Entries for partners the event could not be translated for: audited, never queued, and never in the way
        // of the others (a mapping without a code for some value must not stop the feed).
        var refusals: [EntryDraft] = []
        for partner in snapshot.partners.values.sorted(by: { $0.id < $1.id }) where partner.status == .active {
            guard let endpoint = partner.endpoint,
                let agreement = snapshot.agreements(for: partner.id).first(where: {
                    $0.contract == contract.id && $0.operations.contains(.receive) && $0.validFrom <= now && now < $0.validUntil
                        && $0.covers(nationality: change.permit.worker.nationality)
                })
            else { continue }
            let messageId = UUID()
            let subject = change.permit.worker.passportNumber.map {
                PersonKey.passport(number: $0, nationality: change.permit.worker.nationality).subject
            }
            let subjectReference = subject.map { referencer.reference(kind: $0.kind, identifier: $0.identifier) }
            let subjects = PersonKey.subjects(of: change.permit).map { referencer.reference(kind: $0.kind, identifier: $0.identifier) }
            /// A delivery not made, audited: what it would have been, refused.
            func refusal(_ status: Int, _ problem: String, purpose: String?, detail: String? = nil) -> EntryDraft {
                EntryDraft(
                    messageId: messageId, partner: partner.id, certificateFingerprint: nil, direction: .outboundRelay, contract: contract.id.description,
                    operation: "receive", purpose: purpose, caseReference: nil, subjectReference: subjectReference, status: status, problemType: problem,
                    requestDigest: sha256Hex(JSONWriter.data(event)), responseDigest: nil, detail: detail, agreementId: agreement.id, subjects: subjects,
                    disclosableAt: purpose.flatMap { snapshot.purposes[$0] }?.disclosableAt(exchangedAt: now))
            }
            // A delivery is made under its agreement's delivery purpose, which fixes when the people it concerns see
            // it. An agreement granted before that rule may name several: nothing is sent rather than a purpose
            // guessed, and the refusal is audited (under no purpose, so that it hides nothing).
            guard let purpose = agreement.deliveryPurpose else {
                logger.error("agreement names no single delivery purpose; nothing sent", metadata: ["jisr.partner": "\(partner.id)", "jisr.message_id": "\(messageId)"])
                refusals.append(refusal(403, "delivery-purpose-ambiguous", purpose: nil))
                continue
            }
            // An agreement granted before grants were checked may lack fields its documents require: nothing is sent
            // rather than fields nobody granted, and the refusal is audited.
            guard contract.missingCompanions(of: agreement.fields).isEmpty else {
                logger.error("agreement lacks fields its contract requires; nothing sent", metadata: ["jisr.partner": "\(partner.id)", "jisr.message_id": "\(messageId)"])
                refusals.append(refusal(403, "agreement-incomplete", purpose: purpose))
                continue
            }
            let wire: WireDocument
            let minimised = contract.selection(granting: agreement.fields).apply(to: event)
            do {
                let adapter = try snapshot.adapter(for: partner, in: adapters)
                wire = try adapter.render(minimised, contract: contract, format: adapter.pushFormat)
            } catch {
                logger.error("event cannot be rendered for partner", metadata: ["jisr.partner": "\(partner.id)", "jisr.message_id": "\(messageId)"])
                refusals.append(refusal(422, "untranslatable", purpose: purpose, detail: "\(error)"))
                continue
            }
            drafts.append(
                EntryDraft(
                    messageId: messageId, partner: partner.id, certificateFingerprint: nil, direction: .outboundRelay, contract: contract.id.description,
                    operation: "receive", purpose: purpose, caseReference: nil,
                    subjectReference: subjectReference, status: 202, problemType: nil,
                    requestDigest: sha256Hex(wire.bytes), responseDigest: nil, agreementId: agreement.id,
                    disclosedFields: FieldSelection.disclosed(in: minimised), subjects: subjects,
                    disclosableAt: snapshot.purposes[purpose]?.disclosableAt(exchangedAt: now)))
            rows.append(
                OutboxRow(
                    messageId: messageId, partnerID: partner.id, contract: contract.id.description, endpoint: endpoint, mediaType: wire.mediaType,
                    sealedBody: try sealer.seal(wire.bytes, messageId: messageId)))
        }
        // Queued entries first: the outbox rows pair with the first sequence numbers.
        drafts += refusals
        let position = change.position
        if drafts.isEmpty {
            let moved = try await database.query(
                "UPDATE relay_feed SET position = \(position) WHERE feed = \(Self.feed) AND position = \(previous) RETURNING position"
            ).isEmpty
            if moved { throw FeedMoved() }
            return
        }
        let queuedRows = rows
        _ = try await log.append(group: drafts) { connection, logger, seqs in
            // Claim the change: only if the stored position is still where this producer read it.
            let claimed = try await !connection.query(
                "UPDATE relay_feed SET position = \(position) WHERE feed = \(Self.feed) AND position = \(previous) RETURNING position"
            ).isEmpty
            guard claimed else { throw FeedMoved() }
            for (row, seq) in zip(queuedRows, seqs) { try await RelayStore.insert(row, logSeq: seq, on: connection) }
            return Array(repeating: nil, count: seqs.count)
        }
        workerWakeup()
    }
}

/// Another producer already enqueued the change this one was about to.
struct FeedMoved: Error {}

/// A relay failure that is Jisr's own (configuration or data), not the partner's.
public struct RelayError: Error, Sendable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
