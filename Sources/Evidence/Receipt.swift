import Foundation
import MessageLog
import PKI

/// A receipt (`GET /v1/messages/{id}/receipt`) checked offline: the entry hashes to its `entryHash`, its audit
/// path leads to the seal's root, the tree head is signed by a key the verifier trusts (not merely by the key the
/// receipt carries), and — with a TSA requirement — its timestamp token holds.
public enum Receipt {
    /// What the check established.
    public struct Report: Sendable {
        public let seq: Int64
        public let entryHash: String
        public let treeSize: Int64
        /// Whether the seal carried a timestamp that was checked.
        public let timestamped: Bool
    }

    struct Document: Decodable {
        let status: String
        let entry: EntryEvidence
        let leafIndex: Int64?
        let treeHead: SignedHead?
        let inclusionProof: [String]?
    }

    /// Checks the receipt's JSON; throws `EvidenceError` naming what does not hold.
    public static func verify(json: Data, trust: LogSigningTrust, timestamps: TimestampRequirement?) async throws -> Report {
        let document: Document
        do { document = try JSONDecoder().decode(Document.self, from: json) } catch {
            throw EvidenceError("receipt", "is not a receipt of Jisr's (JSON with entry, treeHead and inclusionProof)")
        }
        let entry = document.entry
        guard entry.recomputedHash == entry.entryHash, let entryHash = Hex.decode(entry.entryHash) else {
            throw EvidenceError("entry", "entry \(entry.seq) does not hash to its entryHash: a field was altered")
        }
        guard document.status == "sealed", let signed = document.treeHead, let path = document.inclusionProof else {
            throw EvidenceError("treeHead", "the receipt is pending: no seal covered the entry yet; ask for it again after the next seal")
        }
        let head = try await HeldTreeHead.verify(signed, trust: trust)
        guard let hashes = EvidenceBundle.hashes(path), let root = Hex.decode(head.rootHash), document.leafIndex.map({ $0 == entry.seq - 1 }) ?? true,
            MerkleTree.verifyInclusion(leaf: MerkleTree.leafHash(entryHash), index: Int(entry.seq - 1), size: Int(head.size), proof: hashes, root: root)
        else { throw EvidenceError("inclusionProof", "does not lead entry \(entry.seq) to the signed root of the seal of \(head.size) entries") }
        var timestamped = false
        if let timestamps {
            var token: [UInt8]?
            if let text = signed.timestampToken {
                guard let bytes = Data(base64Encoded: text) else { throw EvidenceError("treeHead.timestampToken", "is not base64") }
                token = Array(bytes)
            }
            var awaited = false
            if let reason = await timestamps.refusal(treeHead: head, token: token, awaited: &awaited) {
                throw EvidenceError("treeHead.timestampToken", "the seal of \(head.size) entries: \(reason)")
            }
            timestamped = !awaited
        }
        return Report(seq: entry.seq, entryHash: entry.entryHash, treeSize: head.size, timestamped: timestamped)
    }
}
