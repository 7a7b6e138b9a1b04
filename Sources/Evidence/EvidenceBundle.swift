import Crypto
import Foundation
import MessageLog
import PKI

/// Why a bundle could not be written, or which of its items does not hold.
public struct EvidenceError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The file (relative to the bundle) the problem is in.
    public let item: String
    public let reason: String

    public init(_ item: String, _ reason: String) {
        self.item = item
        self.reason = reason
    }

    public var description: String { "\(item): \(reason)" }
}

/// A self-contained folder that proves what the log held, checkable offline without Jisr's database — by
/// `jisr log verify --bundle`, or by hand with OpenSSL as its README says.
///
/// ```
/// README.md                      how to check it, with the exact openssl commands
/// manifest.json                  what it covers, and the SHA-256 of every other file
/// entries.jsonl                  the entries, one JSON object per line (every field their hash covers)
/// seals/SIZE/tree-head.txt       each seal's signed tree head, its signature (.sig, DER) and timestamp (.tsr),
/// seals/SIZE/log-signing.crt     and the certificate chain and public key (.pub) of the key that signed it
/// proofs/inclusion/SEQ.json      each entry's RFC 9162 audit path to the first seal that covers it
/// proofs/consistency/M-N.json    consistency between successive seals
/// certificates/tsa-root.crt      the TSA root the exporter used (a verifier brings its own)
/// ```
///
/// The keys and certificates in a bundle say who signed; they are not why to believe it: the verifier trusts a
/// CA or pinned keys of its own (`LogSigningTrust`), as it would against the database.
public enum EvidenceBundle {
    /// What an export wrote.
    public struct Summary: Sendable {
        public let entries: Int
        public let seals: [Int64]
        /// Entries in the range that no seal covers yet (not exported: nothing could prove them).
        public let unsealed: Int
    }

    /// What an offline verification checked.
    public struct Report: Sendable {
        public let entries: Int
        public let seals: Int
        public let timestamps: Int
        /// Seals younger than the grace period that have no token yet.
        public let timestampsAwaited: Int
    }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    // MARK: Export

    public static func export(
        log: LogReader, seals store: SealStore, seqs: ClosedRange<Int64>, partner: String?, tsaRootPEM: String?, to directory: String
    ) async throws -> Summary {
        let manager = FileManager.default
        if manager.fileExists(atPath: directory), !((try? manager.contentsOfDirectory(atPath: directory)) ?? []).isEmpty {
            throw EvidenceError(directory, "exists and is not empty")
        }
        guard let newest = try await store.latest() else { throw EvidenceError("seals", "the log has no seal yet; run `jisr log seal` first") }
        let sealedThrough = min(seqs.upperBound, newest.treeHead.size)
        let selected = seqs.lowerBound <= sealedThrough ? try await log.entries(from: seqs.lowerBound, through: sealedThrough, partner: partner) : []
        let beyond = seqs.upperBound > sealedThrough ? try await log.entries(from: sealedThrough + 1, through: seqs.upperBound, partner: partner).count : 0
        guard !selected.isEmpty else { throw EvidenceError("entries", "no sealed entry in that range" + (partner.map { " for \($0)" } ?? "")) }

        var files: [String: [UInt8]] = [:]
        var lines: [UInt8] = []
        var sealsBySize: [Int64: Seal] = [:]
        for entry in selected {
            lines += try encoder.encode(EntryEvidence(entry)) + [0x0A]
            guard let seal = try await store.seal(covering: entry.seq) else { throw EvidenceError("seals", "no seal covers entry \(entry.seq)") }
            sealsBySize[seal.treeHead.size] = seal
            let proof = InclusionProof(
                seq: entry.seq, leafIndex: entry.seq - 1, treeSize: seal.treeHead.size,
                path: try await store.inclusionProof(seq: entry.seq, size: seal.treeHead.size).map(\.hex))
            files["proofs/inclusion/\(entry.seq).json"] = Array(try encoder.encode(proof))
        }
        files["entries.jsonl"] = lines
        let sizes = sealsBySize.keys.sorted()
        // PEM files end with a newline, as OpenSSL writes them (the README diffs one against OpenSSL's output).
        func pem(_ text: String) -> [UInt8] { Array((text.hasSuffix("\n") ? text : text + "\n").utf8) }
        for (size, seal) in sealsBySize {
            files["seals/\(size)/tree-head.txt"] = seal.treeHead.signedBytes
            files["seals/\(size)/tree-head.sig"] = seal.signature
            files["seals/\(size)/log-signing.crt"] = pem(seal.certificatePEM)
            files["seals/\(size)/log-signing.pub"] = pem(seal.publicKeyPEM)
            if let token = seal.timestampToken { files["seals/\(size)/tree-head.tsr"] = token }
        }
        for (old, new) in zip(sizes, sizes.dropFirst()) {
            let proof = ConsistencyProof(from: old, to: new, path: try await store.consistencyProof(oldSize: old, newSize: new).map(\.hex))
            files["proofs/consistency/\(old)-\(new).json"] = Array(try encoder.encode(proof))
        }
        if let tsaRootPEM { files["certificates/tsa-root.crt"] = pem(tsaRootPEM) }
        files["README.md"] = Array(readme(sizes: sizes, partner: partner, seqs: seqs, timestamped: sealsBySize.values.contains { $0.timestampToken != nil }).utf8)

        let manifest = Manifest(
            format: "jisr-evidence/1", fromSeq: seqs.lowerBound, toSeq: sealedThrough, partner: partner, entries: selected.count, seals: sizes,
            exportedAt: ISO8601DateFormatter().string(from: Date()),
            files: Dictionary(uniqueKeysWithValues: files.map { ($0.key, Array(SHA256.hash(data: $0.value)).hex) }))
        files["manifest.json"] = Array(try encoder.encode(manifest))
        for (name, bytes) in files {
            let path = directory + "/" + name
            try manager.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            guard manager.createFile(atPath: path, contents: Data(bytes)) else { throw EvidenceError(name, "cannot be written") }
        }
        return Summary(entries: selected.count, seals: sizes, unsealed: beyond)
    }

    // MARK: Verification

    /// Checks everything the bundle claims, naming the first item that does not hold: each seal must be signed by a
    /// key `trust` trusts; with `timestamps`, each seal past the grace period must carry a token from its TSA roots.
    public static func verify(directory: String, trust: LogSigningTrust, timestamps: TimestampRequirement?) async throws -> Report {
        func read(_ name: String) throws -> [UInt8] {
            guard let data = FileManager.default.contents(atPath: directory + "/" + name) else { throw EvidenceError(name, "is missing") }
            return Array(data)
        }
        func decode<T: Decodable>(_ type: T.Type, _ name: String) throws -> T {
            do { return try JSONDecoder().decode(type, from: Data(try read(name))) } catch let error as EvidenceError { throw error } catch {
                throw EvidenceError(name, "is not readable JSON of its kind")
            }
        }
        let manifest = try decode(Manifest.self, "manifest.json")
        guard manifest.format == "jisr-evidence/1" else { throw EvidenceError("manifest.json", "is not a jisr-evidence/1 bundle") }
        for (name, digest) in manifest.files.sorted(by: { $0.key < $1.key }) {
            guard Array(SHA256.hash(data: try read(name))).hex == digest else { throw EvidenceError(name, "was changed after the export (its SHA-256 differs from the manifest's)") }
        }

        // Seals: the signature of each tree head by the key beside it, which the verifier's trust must accept.
        var heads: [Int64: TreeHead] = [:]
        var stamped = 0
        var awaitedCount = 0
        for size in manifest.seals {
            let folder = "seals/\(size)/"
            guard let head = TreeHead(signedText: String(decoding: try read(folder + "tree-head.txt"), as: UTF8.self)), head.size == size else {
                throw EvidenceError(folder + "tree-head.txt", "is not the tree head of \(size) entries")
            }
            let publicKeyPEM = String(decoding: try read(folder + "log-signing.pub"), as: UTF8.self)
            let chainPEM = String(decoding: try read(folder + "log-signing.crt"), as: UTF8.self)
            let seal = Seal(treeHead: head, signature: try read(folder + "tree-head.sig"), publicKeyPEM: publicKeyPEM, certificatePEM: chainPEM)
            if let reason = await trust.refusal(publicKeyPEM: publicKeyPEM, certificatePEM: chainPEM, at: head.time) {
                throw EvidenceError(folder + "log-signing.pub", "the seal is not signed by a trusted log-signing key: \(reason)")
            }
            guard seal.isSignatureValid else { throw EvidenceError(folder + "tree-head.sig", "is not the signature of tree-head.txt by log-signing.pub") }
            if let timestamps {
                var awaited = false
                if let reason = await timestamps.refusal(treeHead: head, token: try? read(folder + "tree-head.tsr"), awaited: &awaited) {
                    throw EvidenceError(folder + "tree-head.tsr", reason)
                }
                if awaited { awaitedCount += 1 } else { stamped += 1 }
            }
            heads[size] = head
        }

        // Consistency between successive seals.
        for (old, new) in zip(manifest.seals, manifest.seals.dropFirst()) {
            let name = "proofs/consistency/\(old)-\(new).json"
            let proof = try decode(ConsistencyProof.self, name)
            guard let oldRoot = heads[old].flatMap({ Hex.decode($0.rootHash) }), let newRoot = heads[new].flatMap({ Hex.decode($0.rootHash) }),
                let path = proof.hashes, proof.from == old, proof.to == new,
                MerkleTree.verifyConsistency(oldSize: Int(old), oldRoot: oldRoot, newSize: Int(new), newRoot: newRoot, proof: path)
            else { throw EvidenceError(name, "does not prove that the log of \(old) entries is a prefix of the log of \(new)") }
        }

        // Entries: each hashes to its entryHash, and its audit path leads to its seal's signed root.
        var count = 0
        for (number, line) in try read("entries.jsonl").split(separator: 0x0A).enumerated() {
            let item = "entries.jsonl (line \(number + 1))"
            guard let entry = try? JSONDecoder().decode(EntryEvidence.self, from: Data(line)) else { throw EvidenceError(item, "is not an entry") }
            guard entry.recomputedHash == entry.entryHash, let entryHash = Hex.decode(entry.entryHash) else {
                throw EvidenceError(item, "entry \(entry.seq) does not hash to its entryHash: a field was altered")
            }
            let name = "proofs/inclusion/\(entry.seq).json"
            let proof = try decode(InclusionProof.self, name)
            guard let head = heads[proof.treeSize], let root = Hex.decode(head.rootHash), let path = proof.hashes, proof.seq == entry.seq,
                MerkleTree.verifyInclusion(leaf: MerkleTree.leafHash(entryHash), index: Int(entry.seq - 1), size: Int(proof.treeSize), proof: path, root: root)
            else { throw EvidenceError(name, "does not lead entry \(entry.seq) to the signed root of the seal of \(proof.treeSize) entries") }
            count += 1
        }
        guard count == manifest.entries else { throw EvidenceError("entries.jsonl", "holds \(count) entries, the manifest says \(manifest.entries)") }
        return Report(entries: count, seals: manifest.seals.count, timestamps: stamped, timestampsAwaited: awaitedCount)
    }

    // MARK: Files

    struct Manifest: Codable {
        let format: String
        let fromSeq: Int64
        let toSeq: Int64
        let partner: String?
        let entries: Int
        let seals: [Int64]
        let exportedAt: String
        let files: [String: String]
    }

    struct InclusionProof: Codable {
        let seq: Int64
        let leafIndex: Int64
        let treeSize: Int64
        let path: [String]
        var hashes: [[UInt8]]? { EvidenceBundle.hashes(path) }
    }

    struct ConsistencyProof: Codable {
        let from: Int64
        let to: Int64
        let path: [String]
        var hashes: [[UInt8]]? { EvidenceBundle.hashes(path) }
    }

    /// Hex SHA-256 hashes, or nil if any is not one.
    static func hashes(_ path: [String]) -> [[UInt8]]? {
        let decoded = path.compactMap(Hex.decode)
        return decoded.count == path.count && decoded.allSatisfy { $0.count == 32 } ? decoded : nil
    }

    static func readme(sizes: [Int64], partner: String?, seqs: ClosedRange<Int64>, timestamped: Bool) -> String {
        let example = sizes.first ?? 0
        return """
            # Evidence from the message log of Jisr, Lebanon's Ministry of Labour

            Entries \(seqs.lowerBound)–\(seqs.upperBound)\(partner.map { " exchanged with \($0)" } ?? ""), with the signed seals that cover them \
            (tree sizes \(sizes.map(String.init).joined(separator: ", "))).

            ## Check everything at once

                jisr log verify --bundle . --signing-ca the-ministry-ca-you-trust.crt [--tsa-root the-tsa-root-you-trust.crt]

            It checks that no file changed since the export, that every entry hashes to its `entryHash`, that each
            entry's audit path (proofs/inclusion/SEQ.json, RFC 9162) leads to the signed root of its seal, that each
            seal is signed by a log-signing certificate of the CA you name (or by a key you pin with `--signing-key
            SHA256-OF-ITS-SPKI`) — never merely by the key in the bundle —, that every seal older than the grace
            period carries a timestamp token from the TSA you trust, and that each seal is consistent with the next
            (proofs/consistency/). Use the CA certificate the ministry gave you at onboarding, not one from this folder.

            ## Check a seal by hand with OpenSSL

            The signature of a tree head (ECDSA P-256, SHA-256):

                openssl dgst -sha256 -verify seals/\(example)/log-signing.pub -signature seals/\(example)/tree-head.sig seals/\(example)/tree-head.txt

            The log-signing certificate carries that key and chains to the ministry's CA (the one you were given):

                openssl x509 -in seals/\(example)/log-signing.crt -pubkey -noout | diff - seals/\(example)/log-signing.pub
                openssl verify -CAfile ministry-ca.crt seals/\(example)/log-signing.crt

            The key's fingerprint, to compare with a pinned one:

                openssl pkey -pubin -in seals/\(example)/log-signing.pub -outform DER | sha256sum
            \(timestamped ? """

            The RFC 3161 timestamp of the tree head (use the TSA root you trust; the bundle's is in certificates/):

                openssl ts -verify -data seals/\(example)/tree-head.txt -in seals/\(example)/tree-head.tsr -token_in -CAfile certificates/tsa-root.crt
                openssl ts -reply -in seals/\(example)/tree-head.tsr -token_in -text

            """ : "")
            ## How an entry hash is computed

            An entry's `format` says which of three encodings its hash uses (no `format`: 1).

            Format 3 (every entry written since the disclosure moment is recorded): as format 2 below with `jisr-log/3`
            as its first bytes, the detail taken by its SHA-256 (lower-case hex of its UTF-8 bytes: `detailDigest`)
            instead of its text, and one more field at the end, disclosableAtMicros — from when the people the entry
            concerns may see it in their access reports, microseconds since the Unix epoch as decimal text; absent
            when at once.

            Format 2 (entries written since agreements, disclosed fields and subjects are recorded): SHA-256 over
            the ASCII bytes `jisr-log/2` followed by the entry's fields in this order, each as a 4-byte big-endian
            length and its UTF-8 bytes (an absent field as the four bytes FF FF FF FF; numbers as decimal text; ids as
            lower-case UUIDs): seq, recordedAtMicros, messageId, correlationId, partner, certificateFingerprint,
            direction, contract, operation, purpose, caseReference, subjectReference, status, problemType,
            requestDigest, responseDigest, prevHash, detail, agreementId, disclosedFields, subjectLeaves — the two
            lists each as one field, their items (sorted) joined by a line feed (0x0A), absent when empty. A subject
            leaf is the hex SHA-256 of the entry's messageId, a colon and one subject reference (the entry's
            subjectReference among them): salted by the entry, it names no one.

            Format 1 (entries written before): SHA-256 over the ASCII bytes `jisr-log/1` followed by the same fields
            up to prevHash, then detail only when present. A leaf of the Merkle tree
            is SHA-256(0x00 ‖ entry hash bytes); a node is SHA-256(0x01 ‖ left ‖ right) (RFC 6962).

            """
    }
}
