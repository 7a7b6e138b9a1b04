import Crypto
import Foundation

/// Which way a message went.
public enum Direction: String, Sendable, Codable, CaseIterable {
    case inboundQuery = "inbound-query"
    case inboundSend = "inbound-send"
    case outboundRelay = "outbound-relay"
    case admin
}

/// What a request handler knows about an exchange before it is logged.
public struct EntryDraft: Sendable, Hashable {
    public var messageId: UUID
    public var correlationId: UUID?
    public var partner: String?
    public var certificateFingerprint: String?
    public var direction: Direction
    public var contract: String?
    public var operation: String?
    public var purpose: String?
    public var caseReference: String?
    public var subjectReference: String?
    public var status: Int
    public var problemType: String?
    public var requestDigest: String
    public var responseDigest: String?
    /// For administrative entries: what changed, before and after (JSON). Never personal data.
    public var detail: String?
    /// The agreement under which the exchange was answered or refused, when one applied.
    public var agreementId: Int64?
    /// The contract field paths the answer disclosed (after minimisation: what was in the document sent); nil when
    /// no document about anyone left.
    public var disclosedFields: [String]?
    /// The subject references of every person the exchange concerned: each identifier of each person disclosed (a
    /// page of permits names them all), beside the asked-for `subjectReference`. Keyed hashes only.
    public var subjects: [String]
    /// From when the people it concerns may see the exchange in their access reports (microseconds since the Unix
    /// epoch); nil: at once. Fixed when the exchange happens, from its purpose's disclosure delay then, and covered by
    /// the hash (format 3), so that a later change of delay neither hides nor reveals it.
    public var disclosableAt: Int64?

    public init(
        messageId: UUID, correlationId: UUID? = nil, partner: String?, certificateFingerprint: String?, direction: Direction,
        contract: String?, operation: String?, purpose: String?, caseReference: String?, subjectReference: String?,
        status: Int, problemType: String?, requestDigest: String, responseDigest: String?, detail: String? = nil,
        agreementId: Int64? = nil, disclosedFields: [String]? = nil, subjects: [String] = [], disclosableAt: Int64? = nil
    ) {
        self.disclosableAt = disclosableAt
        self.detail = detail
        self.agreementId = agreementId
        self.disclosedFields = disclosedFields
        self.subjects = subjects
        self.messageId = messageId
        self.correlationId = correlationId
        self.partner = partner
        self.certificateFingerprint = certificateFingerprint
        self.direction = direction
        self.contract = contract
        self.operation = operation
        self.purpose = purpose
        self.caseReference = caseReference
        self.subjectReference = subjectReference
        self.status = status
        self.problemType = problemType
        self.requestDigest = requestDigest
        self.responseDigest = responseDigest
    }
}

extension EntryDraft {
    /// The subjects as the hash covers and the store indexes them: sorted, unique, the asked-for one included.
    public var canonicalSubjects: [String] { Array(Set(subjects + (subjectReference.map { [$0] } ?? []))).sorted() }
    /// The disclosed fields as the hash covers them: sorted, unique; nil when none.
    public var canonicalFields: [String]? { disclosedFields.flatMap { $0.isEmpty ? nil : Array(Set($0)).sorted() } }

    /// What the hash covers of the subjects: for each, SHA-256 of the message id and the reference, sorted. Salted by
    /// the entry, so that evidence of one person's entry (their report) shows how many others it concerned but
    /// nothing that links any of them to another entry; the person's own leaf is recomputed from their reference.
    public var subjectLeaves: [String] { canonicalSubjects.map { Self.subjectLeaf($0, messageId: messageId) }.sorted() }

    public static func subjectLeaf(_ reference: String, messageId: UUID) -> String {
        SHA256.hash(data: Array("\(messageId.uuidString.lowercased()):\(reference)".utf8)).hex
    }
}

/// A committed entry of the message log: the draft, its place in the chain and its hash.
public struct LogEntry: Sendable, Hashable {
    public var seq: Int64
    /// Microseconds since the Unix epoch, as the writer stamped it.
    public var recordedAt: Int64
    public var draft: EntryDraft
    /// Hex SHA-256 of the previous entry (64 zeros for the first).
    public var prevHash: String
    public var entryHash: String
    /// The hash format: 1 (`jisr-log/1`, entries written before agreements, disclosed fields and subjects were
    /// recorded), 2 (`jisr-log/2`, entries written before their disclosure moment was) — both still verify — or 3
    /// (`jisr-log/3`, every entry written now).
    public var format: Int

    /// The format new entries are written in.
    public static let currentFormat = 3

    public init(seq: Int64, recordedAt: Int64, draft: EntryDraft, prevHash: String, entryHash: String, format: Int = LogEntry.currentFormat) {
        self.format = format
        self.seq = seq
        self.recordedAt = recordedAt
        self.draft = draft
        self.prevHash = prevHash
        self.entryHash = entryHash
    }

    public static let genesisHash = String(repeating: "0", count: 64)

    /// SHA-256 over a length-prefixed encoding of every field and the previous hash.
    ///
    /// Length prefixes make the encoding unambiguous (no field can bleed into the next); the seq is inside,
    /// so an entry cannot be moved to another place in the chain without changing its hash. Format 2 adds, after
    /// the fields of format 1, the detail (always, absent or not), the agreement id, the disclosed fields and the
    /// subjects' leaves (each list one field, its items joined by a line feed, absent when empty); format 3 takes the
    /// detail by its SHA-256 (hex) instead of its text — so that a person's report can prove an administrative entry
    /// without showing who on the ministry's staff acted — and adds the disclosure moment (absent when at once).
    /// Evidence that carries the leaves but not the references (`subjectLeaves`), or the detail's digest but not the
    /// detail (`detailDigest`), hashes the same.
    public static func hash(
        seq: Int64, recordedAt: Int64, draft: EntryDraft, prevHash: String, format: Int = LogEntry.currentFormat, subjectLeaves: [String]? = nil,
        detailDigest: String? = nil
    ) -> String {
        var bytes: [UInt8] = Array("jisr-log/\(format)".utf8)
        bytes.reserveCapacity(512)
        func field(_ text: String?) {
            guard let text else {
                bytes.append(contentsOf: [0xFF, 0xFF, 0xFF, 0xFF])
                return
            }
            let utf8 = Array(text.utf8)
            withUnsafeBytes(of: UInt32(utf8.count).bigEndian) { bytes.append(contentsOf: $0) }
            bytes.append(contentsOf: utf8)
        }
        field(String(seq))
        field(String(recordedAt))
        field(draft.messageId.uuidString.lowercased())
        field(draft.correlationId?.uuidString.lowercased())
        field(draft.partner)
        field(draft.certificateFingerprint)
        field(draft.direction.rawValue)
        field(draft.contract)
        field(draft.operation)
        field(draft.purpose)
        field(draft.caseReference)
        field(draft.subjectReference)
        field(String(draft.status))
        field(draft.problemType)
        field(draft.requestDigest)
        field(draft.responseDigest)
        field(prevHash)
        if format == 1 {
            // Entries without detail hash exactly as before the column existed; with it, it comes last.
            if let detail = draft.detail { field(detail) }
        } else {
            field(format >= 3 ? detailDigest ?? draft.detail.map { sha256Hex(Array($0.utf8)) } : draft.detail)
            field(draft.agreementId.map { String($0) })
            field(draft.canonicalFields?.joined(separator: "\n"))
            let leaves = subjectLeaves ?? draft.subjectLeaves
            field(leaves.isEmpty ? nil : leaves.joined(separator: "\n"))
            if format >= 3 { field(draft.disclosableAt.map { String($0) }) }
        }
        return SHA256.hash(data: bytes).hex
    }

    public var computedHash: String { Self.hash(seq: seq, recordedAt: recordedAt, draft: draft, prevHash: prevHash, format: format) }
}

extension Sequence where Element == UInt8 {
    /// Lower-case hexadecimal.
    // Inlinable, so that it is specialised where it is used: generic over a sequence from another module it was an
    // eighth of a busy person's access report (tens of thousands of proof hashes).
    @inlinable public var hex: String {
        var output: [UInt8] = []
        output.reserveCapacity(underestimatedCount * 2)
        for byte in self {
            let (high, low) = (byte >> 4, byte & 0x0F)
            output.append(high < 10 ? 0x30 + high : 0x57 + high)
            output.append(low < 10 ? 0x30 + low : 0x57 + low)
        }
        return String(decoding: output, as: UTF8.self)
    }
}

extension Digest {
    public var hex: String { Array(self).hex }
}

/// Hex SHA-256 of a body, as entries record request and response digests.
public func sha256Hex(_ bytes: some DataProtocol) -> String { SHA256.hash(data: bytes).hex }

/// Turns a person's identifier into a subject reference: HMAC-SHA256 under the gateway's subject key.
///
/// The log can then answer "who accessed this person" (compute the reference, look it up) without ever
/// holding the identifier; without the key, references cannot be reversed by trying identifiers.
public struct SubjectReferencer: Sendable {
    private let key: [UInt8]

    public init(key: [UInt8]) {
        precondition(key.count >= 32, "the subject key must be at least 256 bits")
        self.key = key
    }

    /// `kind` distinguishes identifier spaces (`nationalId`, `passport`, `nssf`), so equal strings never collide.
    public func reference(kind: String, identifier: String) -> String {
        HMAC<SHA256>.authenticationCode(for: Array("\(kind):\(identifier)".utf8), using: SymmetricKey(data: key)).hex
    }
}

extension HashedAuthenticationCode {
    var hex: String { Array(self).hex }
}
