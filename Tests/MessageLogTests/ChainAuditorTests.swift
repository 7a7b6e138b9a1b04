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

    /// A chain of format-1 entries (written before agreements, fields and subjects were recorded), then format-2 ones.
    static func mixedChain() -> [LogEntry] {
        var entries: [LogEntry] = []
        var previous = LogEntry.genesisHash
        for seq in Int64(1)...20 {
            let format = seq <= 10 ? 1 : 2
            let draft = EntryDraft(
                messageId: UUID(), partner: "LB-NSSF", certificateFingerprint: nil, direction: .inboundQuery, contract: "employment-record/1",
                operation: "query", purpose: "nssf-contribution-verification", caseReference: nil, subjectReference: String(repeating: "b", count: 64),
                status: 200, problemType: nil, requestDigest: "r\(seq)", responseDigest: "s\(seq)", agreementId: format == 2 ? 7 : nil,
                disclosedFields: format == 2 ? ["person.name.latin.given", "employments.employer.name.en"] : nil,
                subjects: format == 2 ? [String(repeating: "c", count: 64)] : [])
            let hash = LogEntry.hash(seq: seq, recordedAt: 1_000 + seq, draft: draft, prevHash: previous, format: format)
            entries.append(LogEntry(seq: seq, recordedAt: 1_000 + seq, draft: draft, prevHash: previous, entryHash: hash, format: format))
            previous = hash
        }
        return entries
    }

    @Test("Format-1 entries verify as they were written, and format-2 entries after them")
    func formatsSideBySide() {
        let entries = Self.mixedChain()
        #expect(audit(entries).0 == nil)
        #expect(entries[0].entryHash == LogEntry.hash(seq: 1, recordedAt: 1_001, draft: entries[0].draft, prevHash: LogEntry.genesisHash, format: 1))
        #expect(entries[10].draft.canonicalSubjects == [String(repeating: "b", count: 64), String(repeating: "c", count: 64)], "the asked-for subject is among them")
    }

    @Test("In format 2 the agreement, each disclosed field and each subject are covered by the hash")
    func formatTwoCovers() {
        for alter in [
            { (draft: inout EntryDraft) in draft.agreementId = 8 },
            { (draft: inout EntryDraft) in draft.disclosedFields = ["person.name.latin.given"] },
            { (draft: inout EntryDraft) in draft.disclosedFields?.append("employments.monthlySalary") },
            { (draft: inout EntryDraft) in draft.subjects.append(String(repeating: "d", count: 64)) },
            { (draft: inout EntryDraft) in draft.subjects.removeLast() },
        ] {
            var entries = Self.mixedChain()
            alter(&entries[14].draft)
            let (found, _) = audit(entries)
            #expect(found?.seq == 15 && found?.kind == .modified)
        }
        // A format-2 entry passed off as format 1 (the new fields dropped) does not hash to its hash either.
        var entries = Self.mixedChain()
        entries[14].format = 1
        #expect(audit(entries).0?.seq == 15)
    }

    @Test("Lists are hashed in a canonical order: the same fields in another order are the same entry")
    func canonicalLists() {
        let one = EntryDraft(
            messageId: UUID(), partner: nil, certificateFingerprint: nil, direction: .inboundQuery, contract: nil, operation: nil, purpose: nil,
            caseReference: nil, subjectReference: nil, status: 200, problemType: nil, requestDigest: "r", responseDigest: nil, disclosedFields: ["b", "a", "a"],
            subjects: ["y", "x"])
        var other = one
        other.disclosedFields = ["a", "b"]
        other.subjects = ["x", "y"]
        #expect(LogEntry.hash(seq: 1, recordedAt: 1, draft: one, prevHash: LogEntry.genesisHash) == LogEntry.hash(seq: 1, recordedAt: 1, draft: other, prevHash: LogEntry.genesisHash))
    }
}
