import Foundation
import Logging
import MessageLog
import PKI
import Storage

/// A signed tree head someone kept — a partner's last receipt, an auditor's note — checked against a log: does the
/// log still hold everything that head covers? After a point-in-time restore this is how a partner tells exactly
/// what was lost; after a failover, that the new primary's log extends the old one.
public enum HeldTreeHead {
    /// What the log says to the head.
    public enum Finding: Sendable, Equatable {
        /// The log holds the head's entries unchanged: the consistency proof from the head to the log's current size
        /// (computed from the entries, not taken from a seal) verifies.
        case contained(headSize: Int64, logSize: Int64)
        /// The log ends before the head does: `count` entries the head covers are not in it.
        case missing(count: Int64, headSize: Int64, logSize: Int64)
        /// The log is long enough but does not extend the head: entries the head covers were changed.
        case diverged(headSize: Int64, logSize: Int64)
    }

    /// The head in `json` — a receipt (`GET /v1/messages/{id}/receipt`) or its `treeHead` object alone — once its
    /// signature holds and `trust` trusts the key that made it; throws `EvidenceError` otherwise.
    public static func read(json: Data, trust: LogSigningTrust) async throws -> TreeHead {
        let signed: SignedHead
        if let receipt = try? JSONDecoder().decode(Receipt.Document.self, from: json), let head = receipt.treeHead {
            signed = head
        } else if let head = try? JSONDecoder().decode(SignedHead.self, from: json) {
            signed = head
        } else {
            throw EvidenceError("treeHead", "is neither a sealed receipt nor a signed tree head (signedText, signature, publicKey, certificate)")
        }
        return try await verify(signed, trust: trust)
    }

    /// The signed head's tree head once its signature and its key's trust hold.
    static func verify(_ signed: SignedHead, trust: LogSigningTrust) async throws -> TreeHead {
        guard let head = TreeHead(signedText: signed.signedText) else { throw EvidenceError("treeHead.signedText", "is not a tree head") }
        guard let signature = Data(base64Encoded: signed.signature) else { throw EvidenceError("treeHead.signature", "is not base64") }
        let seal = Seal(treeHead: head, signature: Array(signature), publicKeyPEM: signed.publicKey, certificatePEM: signed.certificate)
        guard seal.isSignatureValid else { throw EvidenceError("treeHead.signature", "is not the signature of the tree head by the key it names") }
        if let reason = await trust.refusal(publicKeyPEM: signed.publicKey, certificatePEM: signed.certificate, at: head.time) {
            throw EvidenceError("treeHead", "the seal is not signed by a trusted log-signing key: \(reason)")
        }
        return head
    }

    /// Compares `head` with the log in `database`.
    public static func compare(_ head: TreeHead, with database: Database, logger: Logger) async throws -> Finding {
        let size = try await LogReader(database: database, logger: logger).size()
        guard size >= head.size else { return .missing(count: head.size - size, headSize: head.size, logSize: size) }
        guard let oldRoot = Hex.decode(head.rootHash) else { return .diverged(headSize: head.size, logSize: size) }
        let seals = SealStore(database: database, logger: logger)
        let newRoot = try await seals.root(size: size)
        let proof = try await seals.consistencyProof(oldSize: head.size, newSize: size)
        let holds = MerkleTree.verifyConsistency(oldSize: Int(head.size), oldRoot: Array(oldRoot), newSize: Int(size), newRoot: newRoot, proof: proof)
        return holds ? .contained(headSize: head.size, logSize: size) : .diverged(headSize: head.size, logSize: size)
    }
}

/// A seal as receipts carry it: the signed text, its signature, the key and certificate that made it.
struct SignedHead: Decodable {
    let signedText: String
    let signature: String
    let publicKey: String
    let certificate: String
    let timestampToken: String?
}
