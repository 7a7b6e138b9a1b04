import Foundation

/// A log entry as evidence carries it (receipts, bundles): every field its hash covers, and the hash, so that
/// anyone can recompute it without Jisr.
public struct EntryEvidence: Codable, Sendable, Hashable {
    public var seq: Int64
    public var recordedAtMicros: Int64
    public var messageId: UUID
    public var correlationId: UUID?
    public var partner: String?
    public var certificateFingerprint: String?
    public var direction: String
    public var contract: String?
    public var operation: String?
    public var purpose: String?
    public var caseReference: String?
    public var subjectReference: String?
    public var status: Int
    public var problemType: String?
    public var requestDigest: String
    public var responseDigest: String?
    public var prevHash: String
    /// What changed, for an administrative entry (who acted among it); left out of a person's report, where format 3
    /// and later keep only `detailDigest`.
    public var detail: String?
    /// Format 3 and later: the detail's SHA-256 (hex), which the hash covers in its place.
    public var detailDigest: String?
    /// Format 2 and later; absent in evidence of format-1 entries (and in bundles made before formats existed).
    public var format: Int?
    public var agreementId: Int64?
    public var disclosedFields: [String]?
    /// The subjects as the hash covers them (`EntryDraft.subjectLeaves`): salted hashes, never the references.
    public var subjectLeaves: [String]?
    /// Format 3 and later: from when the people concerned may see the entry (microseconds since the Unix epoch);
    /// absent: at once.
    public var disclosableAtMicros: Int64?
    public var entryHash: String

    public init(_ entry: LogEntry) {
        let draft = entry.draft
        seq = entry.seq
        recordedAtMicros = entry.recordedAt
        messageId = draft.messageId
        correlationId = draft.correlationId
        partner = draft.partner
        certificateFingerprint = draft.certificateFingerprint
        direction = draft.direction.rawValue
        contract = draft.contract
        operation = draft.operation
        purpose = draft.purpose
        caseReference = draft.caseReference
        subjectReference = draft.subjectReference
        status = draft.status
        problemType = draft.problemType
        requestDigest = draft.requestDigest
        responseDigest = draft.responseDigest
        prevHash = entry.prevHash
        detail = draft.detail
        if entry.format >= 2 {
            format = entry.format
            agreementId = draft.agreementId
            disclosedFields = draft.canonicalFields
            let leaves = draft.subjectLeaves
            subjectLeaves = leaves.isEmpty ? nil : leaves
        }
        if entry.format >= 3 {
            disclosableAtMicros = draft.disclosableAt
            detailDigest = draft.detail.map { sha256Hex(Array($0.utf8)) }
        }
        entryHash = entry.entryHash
    }

    /// The hash its fields give; equal to `entryHash` unless something was altered.
    public var recomputedHash: String? {
        guard let direction = Direction(rawValue: direction) else { return nil }
        let draft = EntryDraft(
            messageId: messageId, correlationId: correlationId, partner: partner, certificateFingerprint: certificateFingerprint, direction: direction,
            contract: contract, operation: operation, purpose: purpose, caseReference: caseReference, subjectReference: subjectReference, status: status,
            problemType: problemType, requestDigest: requestDigest, responseDigest: responseDigest, detail: detail, agreementId: agreementId,
            disclosedFields: disclosedFields, disclosableAt: disclosableAtMicros)
        return LogEntry.hash(
            seq: seq, recordedAt: recordedAtMicros, draft: draft, prevHash: prevHash, format: format ?? 1, subjectLeaves: subjectLeaves ?? [],
            detailDigest: detail == nil ? detailDigest : nil)
    }

    /// The evidence without the detail's text, where its digest proves it (format 3 and later): what a person's report
    /// shows of an entry, so that it names the ministry and never a member of its staff.
    public var withoutDetail: EntryEvidence {
        guard (format ?? 1) >= 3 else { return self }
        var copy = self
        copy.detail = nil
        return copy
    }
}
