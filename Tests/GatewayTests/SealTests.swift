import Crypto
import Foundation
import NIOHTTP1
import PKI
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
    static let tampered = Task { try await Fixture.make("sealtamper", sealing: Fixture.sealing(every: 5)) }

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
            problemType: text("problemType"), requestDigest: text("requestDigest") ?? "", responseDigest: text("responseDigest"), detail: text("detail"),
            agreementId: entry["agreementId"].flatMap { if case .integer(let n) = $0 { n } else { nil } },
            disclosedFields: entry["disclosedFields"]?.arrayValue?.compactMap(\.stringValue),
            disclosableAt: entry["disclosableAtMicros"].flatMap { if case .integer(let n) = $0 { n } else { nil } })
        guard case .integer(let seq)? = entry["seq"], case .integer(let recordedAt)? = entry["recordedAtMicros"], case .integer(let format)? = entry["format"] else {
            Issue.record("no seq or format")
            return
        }
        #expect(format == 3, "entries are written in format 3")
        let leaves = entry["subjectLeaves"]?.arrayValue?.compactMap(\.stringValue) ?? []
        #expect(
            LogEntry.hash(seq: seq, recordedAt: recordedAt, draft: draft, prevHash: text("prevHash") ?? "", format: Int(format), subjectLeaves: leaves)
                == text("entryHash"))

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

        // Offline, against the CA the partner holds: the receipt verifies; altered, or re-signed by another key, it does not.
        try reply.text.write(toFile: work + "/receipt.json", atomically: true, encoding: .utf8)
        let offline = try await JisrCLI.run(["log", "verify", "--signing-ca", fixture.directory + "/ca.crt", "--receipt", work + "/receipt.json"])
        #expect(offline.status == 0 && offline.output.contains("OK: entry \(seq)"), "\(offline.output)")
        try reply.text.replacingOccurrences(of: "\"status\":200", with: "\"status\":404").write(toFile: work + "/altered.json", atomically: true, encoding: .utf8)
        let altered = try await JisrCLI.run(["log", "verify", "--signing-ca", fixture.directory + "/ca.crt", "--receipt", work + "/altered.json"])
        #expect(altered.status == 1 && altered.output.contains("does not hash to its entryHash"), "\(altered.output)")
        let rogue = try CertificateAuthority.create(commonName: "Jisr test partner CA")
        let credential = try rogue.issueLogSigner()
        let forger = try SealSigner(keyPEM: try credential.privateKeyPEM, certificatePEM: try credential.certificatePEM + (try rogue.credential.certificatePEM))
        let forgedSeal = try forger.seal(try #require(TreeHead(signedText: signedText)))
        var forged = try #require(try JSONSerialization.jsonObject(with: Data(reply.text.utf8)) as? [String: Any])
        var forgedHead = try #require(forged["treeHead"] as? [String: Any])
        forgedHead["signature"] = Data(forgedSeal.signature).base64EncodedString()
        forgedHead["publicKey"] = forger.publicKeyPEM
        forgedHead["certificate"] = forger.certificatePEM
        forged["treeHead"] = forgedHead
        try JSONSerialization.data(withJSONObject: forged).write(to: URL(fileURLWithPath: work + "/forged.json"))
        let refused = try await JisrCLI.run(["log", "verify", "--signing-ca", fixture.directory + "/ca.crt", "--receipt", work + "/forged.json"])
        #expect(refused.status == 1 && refused.output.contains("not signed by a trusted log-signing key"), "\(refused.output)")
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
        // Malformed sizes are refused; well-formed ones without a proof between them name nothing (as the document says).
        for bad in ["from=0&to=\(second)", "from=a&to=2", "from=1&to=2&x=1", "from=1&to=9223372036854775808"] {
            let refused = try await fixture.get("/v1/log/consistency?\(bad)", as: "EG-MOL", purpose: nil)
            #expect(refused.status == 400, "\(bad): \(refused.text)")
        }
        for missing in ["from=\(second)&to=\(first)", "from=1&to=\(second + 1000)"] {
            let absent = try await fixture.get("/v1/log/consistency?\(missing)", as: "EG-MOL", purpose: nil)
            #expect(absent.status == 404 && absent.text.contains("no-consistency-proof"), "\(missing): \(absent.text)")
        }
        let verify = try await JisrCLI.run(["log", "verify", "--pki", fixture.directory + "/pki", "--database-url", fixture.databaseURL])
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
        let before = try await JisrCLI.run(["log", "verify", "--pki", fixture.directory + "/pki", "--database-url", fixture.databaseURL])
        #expect(before.status == 0, "\(before.output)")

        // Cut off the newest entries, which the chain alone cannot notice; then put them back.
        try await fixture.sql("CREATE TABLE cut_off AS SELECT * FROM message_log WHERE seq > \(sealed - 2)")
        try await fixture.sql("DELETE FROM message_log WHERE seq > \(sealed - 2)")
        let truncated = try await JisrCLI.run(["log", "verify", "--pki", fixture.directory + "/pki", "--database-url", fixture.databaseURL])
        #expect(truncated.status == 1 && truncated.output.contains("truncated"), "\(truncated.output)")
        try await fixture.sql("INSERT INTO message_log SELECT * FROM cut_off")
        #expect(try await JisrCLI.run(["log", "verify", "--pki", fixture.directory + "/pki", "--database-url", fixture.databaseURL]).status == 0)

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
        // The stored tree tiles are derived from the old entries: the administrator drops them, the store derives
        // them again from the rewritten ones (verification never reads them).
        try await fixture.sql("DELETE FROM log_tree_tiles")
        let rewritten = try await JisrCLI.run(["log", "verify", "--pki", fixture.directory + "/pki", "--database-url", fixture.databaseURL])
        #expect(rewritten.status == 1 && rewritten.output.contains("seal-broken"), "the chain is whole again, the seal is not: \(rewritten.output)")

        // And re-sign every seal over the rewritten entries, as the review did: with a fresh key and a CA of the
        // attacker's own, then with a partner's TLS certificate under the ministry's CA. Neither is trusted.
        let rogue = try CertificateAuthority.create(commonName: "Jisr test partner CA")
        let rogueSigner = try rogue.issueLogSigner()
        let authority = try CertificateAuthority(
            certificatePEM: try String(contentsOfFile: fixture.directory + "/ca.crt", encoding: .utf8),
            privateKeyPEM: try String(contentsOfFile: fixture.directory + "/ca.key", encoding: .utf8))
        let partnerCertificate = try authority.issueClient(partnerID: "LB-NSSF", organization: "NSSF", country: "LB")
        for (credential, ca) in [(rogueSigner, rogue), (partnerCertificate, authority)] {
            let forger = try SealSigner(keyPEM: try credential.privateKeyPEM, certificatePEM: try credential.certificatePEM + (try ca.credential.certificatePEM))
            for seal in try await store.all() {
                let head = TreeHead(size: seal.treeHead.size, rootHash: try await store.root(size: seal.treeHead.size).hex, timeMilliseconds: seal.treeHead.timeMilliseconds)
                let forged = try forger.seal(head)
                try await fixture.store.query(
                    """
                    UPDATE log_seals SET root_hash = \(head.rootHash), signature = \(forged.signature), public_key = \(forged.publicKeyPEM),
                    certificate = \(forged.certificatePEM), timestamp_token = NULL WHERE tree_size = \(head.size)
                    """)
            }
            let resigned = try await JisrCLI.run(["log", "verify", "--pki", fixture.directory + "/pki", "--database-url", fixture.databaseURL])
            #expect(
                resigned.status == 1 && resigned.output.contains("not signed by a trusted log-signing key"),
                "a seal signed by a key the verifier does not trust: \(resigned.output)")
            // The database alone (no trust given) is consistent with itself: that is all it can say.
            #expect(try await fixture.log().verify().firstBreak == nil)
        }
        let realKey = try P256.Signing.PrivateKey(pemRepresentation: try String(contentsOfFile: fixture.directory + "/pki/log-signing.key", encoding: .utf8))
        let pinned = try await JisrCLI.run([
            "log", "verify", "--signing-key", try #require(LogSigningTrust.keyFingerprint(publicKeyPEM: realKey.publicKey.pemRepresentation)),
            "--database-url", fixture.databaseURL,
        ])
        #expect(pinned.status == 1 && pinned.output.contains("not pinned"), "\(pinned.output)")
        let untrusting = try await JisrCLI.run(["log", "verify", "--pki", fixture.directory + "/no-such-pki", "--database-url", fixture.databaseURL])
        #expect(untrusting.status != 0 && untrusting.output.contains("--signing-ca"), "nothing to trust the key by: \(untrusting.output)")
    }

    @Test("The log-signing key rotates: the change is logged, and a seal by a new key the log never announced is refused")
    func keyRotation() async throws {
        let fixture = try await Self.fixture.value
        _ = try await query(fixture)
        _ = try await seal(fixture)
        let authority = try CertificateAuthority(
            certificatePEM: try String(contentsOfFile: fixture.directory + "/ca.crt", encoding: .utf8),
            privateKeyPEM: try String(contentsOfFile: fixture.directory + "/ca.key", encoding: .utf8))
        let rotated = fixture.directory + "/rotated"
        try PEMFiles.write(try authority.issueLogSigner(), chain: [authority.credential.certificate], directory: rotated, name: "log-signing")
        _ = try await query(fixture)
        let sealed = try await JisrCLI.run([
            "log", "seal", "--pki", fixture.directory + "/pki", "--signing-key", rotated + "/log-signing.key", "--signing-cert", rotated + "/log-signing.crt",
            "--database-url", fixture.databaseURL,
        ])
        #expect(sealed.status == 0, "\(sealed.output)")
        let signer = try SealSigner(
            keyPEM: try String(contentsOfFile: rotated + "/log-signing.key", encoding: .utf8),
            certificatePEM: try String(contentsOfFile: rotated + "/log-signing.crt", encoding: .utf8))
        let announcements = try await fixture.store.query("SELECT seq, detail FROM message_log WHERE operation = 'log-signing-key'").decode((Int64, String?).self)
        #expect(announcements.count == 1 && announcements.first?.1?.contains(signer.keyFingerprint) == true, "\(announcements)")
        let store = SealStore(database: fixture.store, logger: Fixture.quiet)
        let newest = try #require(try await store.latest())
        #expect(newest.keyFingerprint == signer.keyFingerprint && newest.treeHead.size >= (announcements.first?.0 ?? .max), "the first seal by the new key covers its announcement")
        let verified = try await JisrCLI.run(["log", "verify", "--pki", fixture.directory + "/pki", "--database-url", fixture.databaseURL])
        #expect(verified.status == 0, "\(verified.output)")
        let bothPinned = try await JisrCLI.run([
            "log", "verify", "--signing-key", try #require(Set(try await store.all().compactMap(\.keyFingerprint)).sorted().first),
            "--signing-key", try #require(Set(try await store.all().compactMap(\.keyFingerprint)).sorted().last), "--database-url", fixture.databaseURL,
        ])
        #expect(bothPinned.status == 0, "both keys pinned across the rotation: \(bothPinned.output)")

        // A seal by yet another key from the same CA, slipped into the table without the log announcing it.
        _ = try await query(fixture)
        let other = try authority.issueLogSigner()
        let otherSigner = try SealSigner(keyPEM: try other.privateKeyPEM, certificatePEM: try other.certificatePEM + (try authority.credential.certificatePEM))
        let size = try await store.head()
        let head = TreeHead(size: size, rootHash: try await store.root(size: size).hex, timeMilliseconds: Int64(Date().timeIntervalSince1970 * 1000))
        #expect(try await store.insertIfNewest(try otherSigner.seal(head)))
        let refused = try await JisrCLI.run(["log", "verify", "--pki", fixture.directory + "/pki", "--database-url", fixture.databaseURL])
        #expect(refused.status == 1 && refused.output.contains("never announced"), "\(refused.output)")
        try await fixture.sql("DELETE FROM log_seals WHERE tree_size = \(size)")
    }
}
