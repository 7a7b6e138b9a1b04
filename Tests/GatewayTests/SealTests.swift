import Crypto
import Foundation
import NIOHTTP1
import Records
import Schemas
import Storage
import Testing

@testable import MessageLog

/// The log proves itself: signed Merkle seals, receipts with inclusion proofs, consistency proofs, and a
/// `jisr log verify` that catches what the chain alone cannot.
@Suite("Seals, receipts and consistency", .serialized)
struct SealTests {
    static let fixture = Task { try await Fixture.make("seals") }
    /// Sealed by count on its own, and tampered with: a fixture of its own, kept for the run like every fixture.
    static let tampered = Task { () throws -> Fixture in
        var sealing = SealerConfiguration()
        sealing.everyEntries = 5
        sealing.every = .seconds(3600)
        sealing.checkInterval = .milliseconds(100)
        return try await Fixture.make("sealtamper", sealing: sealing)
    }

    func query(_ fixture: Fixture) async throws -> UUID {
        let reply = try await fixture.get("/v1/establishments/\(try #require(fixture.samples.establishmentNumbers.first))", as: "LB-NSSF")
        #expect(reply.status == 200)
        return try #require(reply.messageId)
    }

    func seal(_ fixture: Fixture) async throws -> Int64 {
        let result = try await JisrCLI.run(["log", "seal", "--pki", fixture.directory + "/pki", "--database-url", fixture.databaseURL])
        #expect(result.status == 0, "\(result.output)")
        return Int64(try #require(result.output.firstMatch(of: /sealed ([0-9]+) entries/)).1) ?? 0
    }

    @Test("A receipt is pending until the seal, then carries an inclusion proof that verifies against the signed tree head")
    func receipts() async throws {
        let fixture = try await Self.fixture.value
        let messageId = try await query(fixture)
        let path = "/v1/messages/\(messageId.uuidString.lowercased())/receipt"
        let pending = try await fixture.get(path, as: "LB-NSSF", purpose: nil)
        #expect(pending.status == 200, "\(pending.text)")
        #expect(pending.json?["status"] == .string("pending"))
        #expect(pending.headers.first(name: "Retry-After") != nil)
        #expect(try await fixture.get(path, as: "EG-MOL", purpose: nil).status == 404, "another partner's message is nobody's business")
        #expect(try await fixture.get("/v1/messages/\(UUID().uuidString)/receipt", as: "LB-NSSF", purpose: nil).status == 404)

        let size = try await seal(fixture)
        let reply = try await fixture.get(path, as: "LB-NSSF", purpose: nil)
        let receipt = try #require(reply.json)
        #expect(receipt["status"] == .string("sealed"), "\(reply.text)")
        let entry = try #require(receipt["entry"])
        let head = try #require(receipt["treeHead"])
        #expect(head["size"] == .integer(size))

        // The entry hash is recomputable from the receipt's fields alone.
        func text(_ key: String) -> String? { entry[key]?.stringValue }
        let draft = EntryDraft(
            messageId: try #require(UUID(uuidString: text("messageId") ?? "")), correlationId: text("correlationId").flatMap(UUID.init(uuidString:)),
            partner: text("partner"), certificateFingerprint: text("certificateFingerprint"), direction: try #require(Direction(rawValue: text("direction") ?? "")),
            contract: text("contract"), operation: text("operation"), purpose: text("purpose"), caseReference: text("caseReference"),
            subjectReference: text("subjectReference"), status: Int(try #require(entry["status"].flatMap { if case .integer(let n) = $0 { n } else { nil } })),
            problemType: text("problemType"), requestDigest: text("requestDigest") ?? "", responseDigest: text("responseDigest"), detail: text("detail"))
        guard case .integer(let seq)? = entry["seq"], case .integer(let recordedAt)? = entry["recordedAtMicros"] else { Issue.record("no seq"); return }
        #expect(LogEntry.hash(seq: seq, recordedAt: recordedAt, draft: draft, prevHash: text("prevHash") ?? "") == text("entryHash"))

        // The inclusion proof leads from that entry to the signed root (RFC 9162 verification).
        let proof = try #require(receipt["inclusionProof"]?.arrayValue).compactMap { $0.stringValue.flatMap(Hex.decode) }
        let root = try #require(head["rootHash"]?.stringValue.flatMap(Hex.decode))
        let leaf = MerkleTree.leafHash(try #require(text("entryHash").flatMap(Hex.decode)))
        #expect(MerkleTree.verifyInclusion(leaf: leaf, index: Int(seq - 1), size: Int(size), proof: proof, root: root))
        #expect(!MerkleTree.verifyInclusion(leaf: MerkleTree.leafHash(Array(repeating: 0, count: 32)), index: Int(seq - 1), size: Int(size), proof: proof, root: root))

        // The tree head's signature checks with openssl against the certificate the receipt carries.
        let signedText = try #require(head["signedText"]?.stringValue)
        #expect(signedText.contains("size: \(size)\n") && signedText.contains("root: \(root.hex)\n"))
        let work = fixture.directory + "/receipt-\(seq)"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        try signedText.write(toFile: work + "/tree-head.txt", atomically: true, encoding: .utf8)
        try Data(base64Encoded: try #require(head["signature"]?.stringValue))!.write(to: URL(fileURLWithPath: work + "/tree-head.sig"))
        try (head["certificate"]?.stringValue ?? "").write(toFile: work + "/log-signing.crt", atomically: true, encoding: .utf8)
        let key = try await JisrCLI.runProgram("/usr/bin/openssl", ["x509", "-in", work + "/log-signing.crt", "-pubkey", "-noout", "-out", work + "/log-signing.pub"])
        #expect(key.status == 0, "\(key.output)")
        let checked = try await JisrCLI.runProgram(
            "/usr/bin/openssl", ["dgst", "-sha256", "-verify", work + "/log-signing.pub", "-signature", work + "/tree-head.sig", work + "/tree-head.txt"])
        #expect(checked.status == 0 && checked.output.contains("Verified OK"), "\(checked.output)")
        let chain = try await JisrCLI.runProgram("/usr/bin/openssl", ["verify", "-CAfile", fixture.directory + "/ca.crt", work + "/log-signing.crt"])
        #expect(chain.status == 0, "the signing certificate chains to the gateway CA: \(chain.output)")
    }

    @Test("A consistency proof between two seals shows the log only grew; sizes outside the sealed log are refused")
    func consistency() async throws {
        let fixture = try await Self.fixture.value
        _ = try await query(fixture)
        let first = try await seal(fixture)
        for _ in 0..<5 { _ = try await query(fixture) }
        let second = try await seal(fixture)
        #expect(second > first)
        let reply = try await fixture.get("/v1/log/consistency?from=\(first)&to=\(second)", as: "EG-MOL", purpose: nil)
        #expect(reply.status == 200, "\(reply.text)")
        let document = try #require(reply.json)
        let oldRoot = try #require(document["fromTreeHead"]?["rootHash"]?.stringValue.flatMap(Hex.decode))
        let newRoot = try #require(document["toTreeHead"]?["rootHash"]?.stringValue.flatMap(Hex.decode))
        let proof = try #require(document["proof"]?.arrayValue).compactMap { $0.stringValue.flatMap(Hex.decode) }
        #expect(MerkleTree.verifyConsistency(oldSize: Int(first), oldRoot: oldRoot, newSize: Int(second), newRoot: newRoot, proof: proof))
        #expect(!MerkleTree.verifyConsistency(oldSize: Int(first), oldRoot: newRoot, newSize: Int(second), newRoot: newRoot, proof: proof))
        for bad in ["from=0&to=\(second)", "from=\(second)&to=\(first)", "from=1&to=\(second + 1000)", "from=a&to=2", "from=1&to=2&x=1"] {
            let refused = try await fixture.get("/v1/log/consistency?\(bad)", as: "EG-MOL", purpose: nil)
            #expect(refused.status == 400, "\(bad): \(refused.text)")
        }
        let verify = try await JisrCLI.run(["log", "verify", "--database-url", fixture.databaseURL])
        #expect(verify.status == 0 && verify.output.contains("seals verified"), "\(verify.output)")
    }

    @Test("The sealer seals by count on its own; cutting off the newest entries, or rewriting one with a recomputed chain, breaks the seal")
    func tampering() async throws {
        let fixture = try await Self.tampered.value
        for _ in 0..<6 { _ = try await query(fixture) }
        let store = SealStore(database: fixture.store, logger: Fixture.quiet)
        let deadline = ContinuousClock.now + .seconds(10)
        var sealed: Int64 = 0
        while sealed < 5, ContinuousClock.now < deadline {
            sealed = try await store.latest()?.treeHead.size ?? 0
            if sealed < 5 { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(sealed >= 5, "sealed after five entries without anyone asking")
        // The gateway stopped (its sealer too), so that nothing writes behind the edits below.
        fixture.serverTask.cancel()
        _ = await fixture.serverTask.result
        let before = try await JisrCLI.run(["log", "verify", "--database-url", fixture.databaseURL])
        #expect(before.status == 0, "\(before.output)")

        // Cut off the newest entries, which the chain alone cannot notice; then put them back.
        try await fixture.sql("CREATE TABLE cut_off AS SELECT * FROM message_log WHERE seq > \(sealed - 2)")
        try await fixture.sql("DELETE FROM message_log WHERE seq > \(sealed - 2)")
        let truncated = try await JisrCLI.run(["log", "verify", "--database-url", fixture.databaseURL])
        #expect(truncated.status == 1 && truncated.output.contains("truncated"), "\(truncated.output)")
        try await fixture.sql("INSERT INTO message_log SELECT * FROM cut_off")
        #expect(try await JisrCLI.run(["log", "verify", "--database-url", fixture.databaseURL]).status == 0)

        // Rewrite an early entry and recompute the whole chain after it, as a database administrator could.
        var entries: [LogEntry] = []
        for row in try await fixture.store.query("SELECT \(unescaped: MessageLogStore.columns) FROM message_log ORDER BY seq") {
            entries.append(try MessageLogStore.decode(row))
        }
        var previous = LogEntry.genesisHash
        for index in entries.indices {
            if index == 2 { entries[index].draft.status = 404 }
            entries[index].prevHash = previous
            entries[index].entryHash = entries[index].computedHash
            previous = entries[index].entryHash
        }
        for entry in entries {
            try await fixture.store.query(
                "UPDATE message_log SET status = \(entry.draft.status), prev_hash = \(entry.prevHash), entry_hash = \(entry.entryHash) WHERE seq = \(entry.seq)")
        }
        let rewritten = try await JisrCLI.run(["log", "verify", "--database-url", fixture.databaseURL])
        #expect(rewritten.status == 1 && rewritten.output.contains("seal-broken"), "the chain is whole again, the seal is not: \(rewritten.output)")
    }
}
