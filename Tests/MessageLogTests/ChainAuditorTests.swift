import Foundation
import MessageLog
import Testing

/// The chain auditor names the first modified, deleted, inserted or reordered entry, without a database.
@Suite("Chain auditor")
struct ChainAuditorTests {
    static func chain(_ count: Int) -> [LogEntry] {
        var entries: [LogEntry] = []
        var previous = LogEntry.genesisHash
        for seq in 1...Int64(count) {
            let draft = EntryDraft(
                messageId: UUID(), partner: "LB-NSSF", certificateFingerprint: String(repeating: "a", count: 64), direction: .inboundQuery,
                contract: "employment-record/1", operation: "query", purpose: "nssf-contribution-verification", caseReference: nil,
                subjectReference: String(repeating: "b", count: 64), status: 200, problemType: nil, requestDigest: "r\(seq)", responseDigest: "s\(seq)")
            let hash = LogEntry.hash(seq: seq, recordedAt: 1_000 + seq, draft: draft, prevHash: previous)
            entries.append(LogEntry(seq: seq, recordedAt: 1_000 + seq, draft: draft, prevHash: previous, entryHash: hash))
            previous = hash
        }
        return entries
    }

    func audit(_ entries: [LogEntry]) -> (ChainBreak?, Int64) {
        var auditor = ChainAuditor()
        for entry in entries {
            if let found = auditor.feed(entry) { return (found, auditor.verified) }
        }
        return (auditor.finish(), auditor.verified)
    }

    @Test("An intact chain verifies completely")
    func intact() {
        let (found, verified) = audit(Self.chain(50))
        #expect(found == nil)
        #expect(verified == 50)
    }

    @Test("A changed field is reported as modified at its seq", arguments: [1, 17, 50])
    func modified(seq: Int) {
        var entries = Self.chain(50)
        entries[seq - 1].draft.status = 403
        let (found, _) = audit(entries)
        #expect(found?.seq == Int64(seq))
        #expect(found?.kind == .modified)
    }

    @Test("A modified entry whose hash was recomputed is still found at its seq")
    func rehashed() {
        var entries = Self.chain(30)
        entries[9].draft.partner = "EG-MOL"
        entries[9].entryHash = entries[9].computedHash
        let (found, _) = audit(entries)
        #expect(found?.seq == 10)
        #expect(found?.kind == .modified)
    }

    @Test("A deleted entry is reported at the missing seq")
    func deleted() {
        var entries = Self.chain(30)
        entries.remove(at: 11)
        let (found, _) = audit(entries)
        #expect(found?.seq == 12)
        #expect(found?.kind == .deleted)
    }

    @Test("Two swapped entries are reported as reordered at the first")
    func reordered() {
        var entries = Self.chain(30)
        let first = entries[4]
        entries[4] = entries[5]
        entries[5] = first
        entries[4].seq = 5
        entries[5].seq = 6
        let (found, _) = audit(entries)
        #expect(found?.seq == 5)
        #expect(found?.kind == .reordered)
    }

    @Test("An entry slipped into the chain is reported as inserted")
    func inserted() {
        var entries = Self.chain(30)
        var forged = entries[7]
        forged.draft.partner = "XX-FORGED"
        entries.insert(forged, at: 8)
        for index in 8..<entries.count { entries[index].seq = Int64(index + 1) }
        let (found, _) = audit(entries)
        #expect(found?.seq == 9)
        #expect(found?.kind == .inserted || found?.kind == .modified)
    }

    @Test("Truncated tail entries cannot be seen by the chain alone (seals close this gap)")
    func truncation() {
        let (found, verified) = audit(Array(Self.chain(30).prefix(25)))
        #expect(found == nil)
        #expect(verified == 25)
    }

    @Test("Subject references are keyed: same identifier, different keys, different references")
    func subjectReferences() {
        let one = SubjectReferencer(key: Array(repeating: 1, count: 32))
        let two = SubjectReferencer(key: Array(repeating: 2, count: 32))
        #expect(one.reference(kind: "nationalId", identifier: "000123456789") == one.reference(kind: "nationalId", identifier: "000123456789"))
        #expect(one.reference(kind: "nationalId", identifier: "000123456789") != two.reference(kind: "nationalId", identifier: "000123456789"))
        #expect(one.reference(kind: "nationalId", identifier: "1") != one.reference(kind: "nssf", identifier: "1"))
        #expect(!one.reference(kind: "nationalId", identifier: "000123456789").contains("000123456789"))
    }
}
