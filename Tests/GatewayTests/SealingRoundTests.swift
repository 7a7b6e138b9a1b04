import Foundation
import Gateway
import MessageLog
import PKI
import Storage
import Synchronization
import Testing

/// One sealing round at a time: a round given up at its deadline keeps running, and the next waits for it; a new
/// signing key is announced in the log once, however many rounds or gateways race to announce it.
@Suite("Sealing rounds are fenced")
struct SealingRoundTests {
    /// Held for the whole run, as every fixture is (its clients live as long as the process).
    static let fixture = Task { try await Fixture.make("rounds", serving: false) }

    @Test("A round stuck past its deadline fences the next for as long again, no longer; a rotated key is announced once by two gateways' sealers")
    func oneRoundAtATime() async throws {
        let fixture = try await Self.fixture.value
        let first = try SealSigner(
            keyPEM: try String(contentsOfFile: fixture.directory + "/pki/log-signing.key", encoding: .utf8),
            certificatePEM: try String(contentsOfFile: fixture.directory + "/pki/log-signing.crt", encoding: .utf8))
        func append(_ count: Int) async throws {
            for _ in 0..<count {
                _ = try await fixture.logWriter.append(
                    EntryDraft(
                        messageId: UUID(), partner: "LB-NSSF", certificateFingerprint: nil, direction: .inboundQuery, contract: nil, operation: "query",
                        purpose: nil, caseReference: nil, subjectReference: nil, status: 200, problemType: nil, requestDigest: "r", responseDigest: nil))
            }
        }
        try await append(3)
        #expect(try await Sealer(database: fixture.store, log: fixture.logWriter, signer: first, logger: Fixture.quiet).sealNow() != nil)

        // The key is rotated; two gateways (each its own log writer) seal with the new one.
        let rotated = try fixture.authority.issueLogSigner()
        let second = try SealSigner(keyPEM: try rotated.privateKeyPEM, certificatePEM: try rotated.certificatePEM + (try fixture.authority.credential.certificatePEM))
        var configuration = SealerConfiguration()
        configuration.everyEntries = 1
        configuration.checkInterval = .milliseconds(10)
        configuration.roundDeadline = .milliseconds(200)
        let otherWriter = LogWriter(database: fixture.store, logger: Fixture.quiet)
        let otherWriting = Task { try await otherWriter.run() }
        defer { otherWriting.cancel() }
        let sealers = [
            Sealer(database: fixture.store, log: fixture.logWriter, signer: second, configuration: configuration, logger: Fixture.quiet),
            Sealer(database: fixture.store, log: otherWriter, signer: second, configuration: configuration, logger: Fixture.quiet),
        ]

        // The chain held by someone else (as a slow store would hold it): each sealer's round waits in its announcement
        // past the deadline, and the rounds after it must not run beside it.
        try await append(2)
        let (held, release) = (Gate(), Gate())
        let holding = Task {
            try await fixture.store.withTransaction { connection in
                switch fixture.location.dialect {
                case .postgres: try await connection.query("SELECT pg_advisory_xact_lock(\(Int64(0x4A_4953_52)))")
                case .sqlite: try await connection.query("UPDATE log_seals SET tree_size = tree_size WHERE 1 = 0")
                }
                held.open()
                await release.wait()
            }
        }
        await held.wait()
        let running = sealers.map { sealer in Task { try await sealer.run() } }
        defer { running.forEach { $0.cancel() } }
        // Fenced while the stuck round may still end, but not for ever: past twice the deadline the next round begins
        // (and, the chain still held, is given up too). A fence that never opened left a sealer stuck after a failover.
        try await Fixture.until("both sealers gave a round up at its deadline, waited for it, then began another") {
            sealers.allSatisfy { $0.sealing.fenced > 0 && $0.sealing.failed >= 2 }
        }
        release.open()
        try await holding.value

        let store = SealStore(database: fixture.store, logger: Fixture.quiet)
        try await Fixture.until("a seal by the new key") { try await store.latest()?.keyFingerprint == second.keyFingerprint }
        try await append(2)
        let size = try await store.head()
        try await Fixture.until("a seal of all \(size) entries") { try await store.latest().map { $0.treeHead.size >= size } ?? false }
        running.forEach { $0.cancel() }
        let announcements = try await fixture.store.query(
            "SELECT seq FROM message_log WHERE operation = \(SigningKeyChange.operation)").map { try $0.decode(Int64.self) }
        #expect(announcements.count == 1, "the new key is announced once: \(announcements)")
        #expect(sealers.allSatisfy { $0.sealing.fenced > 0 }, "the rounds after the stuck one waited for it")
        #expect(try await fixture.log().verify().firstBreak == nil)
    }
}

/// Opens once; every waiter goes on.
final class Gate: Sendable {
    private let state = Mutex<(open: Bool, waiting: [CheckedContinuation<Void, Never>])>((false, []))

    func wait() async {
        await withCheckedContinuation { continuation in
            let resume = state.withLock { state -> Bool in
                if state.open { return true }
                state.waiting.append(continuation)
                return false
            }
            if resume { continuation.resume() }
        }
    }

    func open() {
        let waiting = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.open = true
            defer { state.waiting = [] }
            return state.waiting
        }
        waiting.forEach { $0.resume() }
    }
}
