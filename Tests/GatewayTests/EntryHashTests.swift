import Foundation
import MessageLog
import Testing

/// The entry hash as the evidence bundle's README describes it, recomputed by a second implementation (Python,
/// written from that description) for each format still in use.
@Suite("Entry hashes")
struct EntryHashTests {
    static let draft = EntryDraft(
        messageId: UUID(uuidString: "8F0C3A52-6C1E-4B8B-9B7A-1D2E3F405162")!, correlationId: UUID(uuidString: "00000000-0000-4000-8000-000000000001"),
        partner: "EG-MOL", certificateFingerprint: String(repeating: "c", count: 64), direction: .inboundQuery, contract: "employment-record/1",
        operation: "query", purpose: "labour-inspection", caseReference: "INS/2026/7", subjectReference: String(repeating: "a", count: 64), status: 200,
        problemType: nil, requestDigest: String(repeating: "d", count: 64), responseDigest: String(repeating: "e", count: 64),
        detail: #"{"action":"inbox.read","actor":"clerk-3"}"#, agreementId: 12,
        disclosedFields: ["person.name", "employments"], subjects: [String(repeating: "b", count: 64)], disclosableAt: 1_812_345_678_000_000)

    @Test("Format 3 covers the disclosure moment; formats 2 and 1 hash as they always did, whatever the draft carries")
    func momentCoveredFromFormatThree() {
        let prev = String(repeating: "f", count: 64)
        var later = Self.draft
        later.disclosableAt = (later.disclosableAt ?? 0) + 1
        var atOnce = Self.draft
        atOnce.disclosableAt = nil
        let three = LogEntry.hash(seq: 7, recordedAt: 1_796_000_000_000_000, draft: Self.draft, prevHash: prev, format: 3)
        #expect(three != LogEntry.hash(seq: 7, recordedAt: 1_796_000_000_000_000, draft: later, prevHash: prev, format: 3))
        #expect(three != LogEntry.hash(seq: 7, recordedAt: 1_796_000_000_000_000, draft: atOnce, prevHash: prev, format: 3))
        for format in [1, 2] {
            #expect(
                LogEntry.hash(seq: 7, recordedAt: 1_796_000_000_000_000, draft: Self.draft, prevHash: prev, format: format)
                    == LogEntry.hash(seq: 7, recordedAt: 1_796_000_000_000_000, draft: atOnce, prevHash: prev, format: format))
        }
    }

    @Test("A second implementation, written from the README's description, computes the same hash", arguments: [1, 2, 3])
    func independentImplementationAgrees(format: Int) async throws {
        let prev = String(repeating: "f", count: 64)
        let entry = LogEntry(
            seq: 7, recordedAt: 1_796_000_000_000_000, draft: Self.draft, prevHash: prev,
            entryHash: LogEntry.hash(seq: 7, recordedAt: 1_796_000_000_000_000, draft: Self.draft, prevHash: prev, format: format), format: format)
        let evidence = EntryEvidence(entry)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let input = String(decoding: try encoder.encode(evidence), as: UTF8.self)
        let (status, output) = try await JisrCLI.runProgram("/usr/bin/env", ["python3", "-c", Self.script, input])
        #expect(status == 0, "\(output)")
        #expect(output.trimmingCharacters(in: .whitespacesAndNewlines) == entry.entryHash, "format \(format)")
        #expect(evidence.recomputedHash == entry.entryHash)
        // What a person's report carries: from format 3 the detail's digest without the detail (no staff name), same hash.
        let shown = evidence.withoutDetail
        #expect(shown.recomputedHash == entry.entryHash)
        #expect((shown.detail == nil) == (format >= 3))
    }

    /// The README's "How an entry hash is computed", in Python: given one entry's evidence (JSON) as its argument.
    static let script = #"""
        import hashlib, json, struct, sys
        e = json.loads(sys.argv[1])
        fmt = e.get("format") or 1
        out = bytearray(("jisr-log/%d" % fmt).encode())
        def field(v):
            if v is None:
                out.extend(b"\xff\xff\xff\xff")
                return
            b = str(v).encode("utf-8")
            out.extend(struct.pack(">I", len(b)))
            out.extend(b)
        for k in ["seq", "recordedAtMicros", "messageId", "correlationId", "partner", "certificateFingerprint", "direction", "contract",
                  "operation", "purpose", "caseReference", "subjectReference", "status", "problemType", "requestDigest", "responseDigest", "prevHash"]:
            v = e.get(k)
            field(v.lower() if k in ("messageId", "correlationId") and v else v)
        if fmt == 1:
            if e.get("detail") is not None:
                field(e["detail"])
        else:
            if fmt >= 3:
                digest = e.get("detailDigest")
                if digest is None and e.get("detail") is not None:
                    digest = hashlib.sha256(e["detail"].encode("utf-8")).hexdigest()
                field(digest)
            else:
                field(e.get("detail"))
            field(e.get("agreementId"))
            for k in ["disclosedFields", "subjectLeaves"]:
                items = sorted(e.get(k) or [])
                field("\n".join(items) if items else None)
            if fmt >= 3:
                field(e.get("disclosableAtMicros"))
        print(hashlib.sha256(bytes(out)).hexdigest())
        """#
}
