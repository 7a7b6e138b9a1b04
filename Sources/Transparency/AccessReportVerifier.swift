import Foundation
import MessageLog
import PKI

/// Checks a person's access report offline, with only what the verifier trusts: each row's entry against its hash,
/// that the entry is about this person, each row's place in the signed tree, the tree head's signature and
/// timestamp, and the report's own signature. A finding names the row.
public enum AccessReportVerifier {
    /// What does not hold, and where (`row 3 (seq 41)`, `treeHead`, `signature`).
    public struct Finding: Error, Sendable, CustomStringConvertible {
        public let item: String
        public let reason: String
        public var description: String { "\(item): \(reason)" }
    }

    /// What was established.
    public struct Outcome: Sendable {
        public let rows: Int
        public let sealed: Int
        public let treeSize: Int64?
        public let timestamped: Bool
    }

    public static func verify(
        report bytes: [UInt8], signature jws: String, trust: LogSigningTrust, timestamps: TimestampRequirement?
    ) async throws -> Outcome {
        guard let report = try? JSONDecoder().decode(AccessReport.self, from: Data(bytes)) else {
            throw Finding(item: "report", reason: "is not an access report of Jisr's (access-report/1 JSON)")
        }
        let head = try await treeHead(report, trust: trust)
        let listed = Set(report.entries)
        for seq in report.entries where !report.rows.contains(where: { $0.receipt.seq == seq }) {
            throw Finding(item: "seq \(seq)", reason: "the report lists this exchange but its row is missing: a row was removed")
        }
        var sealed = 0
        for (index, row) in report.rows.enumerated() {
            let item = "row \(index + 1) (seq \(row.receipt.seq))"
            let entry = row.receipt.entry
            guard entry.seq == row.receipt.seq, entry.entryHash == row.receipt.entryHash, entry.recomputedHash == entry.entryHash else {
                throw Finding(item: item, reason: "the entry does not hash to its entry hash: a field was altered")
            }
            guard listed.contains(entry.seq) else { throw Finding(item: item, reason: "the report does not list this exchange: the row was added") }
            guard isAbout(entry, references: report.subject.references) else {
                throw Finding(item: item, reason: "the entry is not about this report's person: a row from someone else's report")
            }
            guard row.status == entry.status, row.problem == entry.problemType, row.contract == entry.contract, row.operation == entry.operation,
                row.direction == entry.direction, row.caseReference == entry.caseReference, row.purpose?.code == entry.purpose,
                // The ministry's own entries name no party; every other names the partner its entry recorded.
                row.partner?.id == (entry.direction == Direction.admin.rawValue ? nil : entry.partner),
                row.fields.allSatisfy({ field in (entry.disclosedFields ?? []).contains { $0 == field.path || $0.hasPrefix(field.path + ".") } })
            else { throw Finding(item: item, reason: "what the row says differs from its entry: the row was altered") }
            if let proof = row.receipt.inclusionProof {
                guard let head, let hashes = hashes(proof), let entryHash = Hex.decode(entry.entryHash), let root = Hex.decode(head.rootHash),
                    MerkleTree.verifyInclusion(leaf: MerkleTree.leafHash(entryHash), index: Int(entry.seq - 1), size: Int(head.size), proof: hashes, root: root)
                else { throw Finding(item: item, reason: "its inclusion proof does not lead to the signed root of the report's tree head") }
                sealed += 1
            }
        }
        let signer: DetachedSignature.Signer
        do { signer = try DetachedSignature.verify(jws, payload: bytes) } catch let failure as DetachedSignature.Failure {
            throw Finding(item: "signature", reason: failure.reason)
        }
        let signedAt = ISO8601DateFormatter().date(from: report.generatedAt) ?? Date()
        if let reason = await trust.refusal(publicKeyPEM: signer.publicKeyPEM, certificatePEM: signer.certificatePEM, at: signedAt) {
            throw Finding(item: "signature", reason: "the report is not signed by a trusted log-signing key: \(reason)")
        }
        var timestamped = false
        if let timestamps, let head, let signed = report.treeHead {
            var token: [UInt8]?
            if let text = signed.timestampToken {
                guard let bytes = Data(base64Encoded: text) else { throw Finding(item: "treeHead.timestampToken", reason: "is not base64") }
                token = Array(bytes)
            }
            var awaited = false
            if let reason = await timestamps.refusal(treeHead: head, token: token, awaited: &awaited) {
                throw Finding(item: "treeHead.timestampToken", reason: reason)
            }
            timestamped = !awaited
        }
        return Outcome(rows: report.rows.count, sealed: sealed, treeSize: head?.size, timestamped: timestamped)
    }

    /// The report's tree head, its signature checked and its key trusted; nil when the log was not sealed yet.
    static func treeHead(_ report: AccessReport, trust: LogSigningTrust) async throws -> MessageLog.TreeHead? {
        guard let signed = report.treeHead else { return nil }
        guard let head = MessageLog.TreeHead(signedText: signed.signedText), head.size == signed.size, head.rootHash == signed.rootHash else {
            throw Finding(item: "treeHead", reason: "its signed text is not the tree head it names")
        }
        guard let signature = Data(base64Encoded: signed.signature),
            Seal(treeHead: head, signature: Array(signature), publicKeyPEM: signed.publicKey, certificatePEM: signed.certificate).isSignatureValid
        else { throw Finding(item: "treeHead", reason: "is not signed by the key it names") }
        if let reason = await trust.refusal(publicKeyPEM: signed.publicKey, certificatePEM: signed.certificate, at: head.time) {
            throw Finding(item: "treeHead", reason: "the seal is not signed by a trusted log-signing key: \(reason)")
        }
        return head
    }

    /// Whether one of the person's references is among the entry's subjects (their salted leaves; for an entry of
    /// format 1, its subject reference).
    static func isAbout(_ entry: EntryEvidence, references: [String]) -> Bool {
        if let reference = entry.subjectReference, references.contains(reference) { return true }
        let leaves = Set(entry.subjectLeaves ?? [])
        return references.contains { leaves.contains(EntryDraft.subjectLeaf($0, messageId: entry.messageId)) }
    }

    static func hashes(_ path: [String]) -> [MerkleTree.Hash]? {
        let decoded = path.compactMap(Hex.decode)
        return decoded.count == path.count ? decoded : nil
    }
}
