/// The first place where the chain is broken, and how.
public struct ChainBreak: Sendable, Hashable, CustomStringConvertible {
    /// The kind of tampering the break shows.
    public enum Kind: String, Sendable {
        /// The entry's content no longer matches its own hash.
        case modified
        /// One or more entries are missing from the sequence.
        case deleted
        /// An entry that was never appended by the writer sits in the chain.
        case inserted
        /// Entries are out of the order in which they were chained.
        case reordered
        /// A signed seal does not hold: its root differs from the entries', or its signature is wrong.
        case sealBroken = "seal-broken"
        /// The newest entries are gone: a seal covers more entries than the log has.
        case truncated
    }

    public let seq: Int64
    public let kind: Kind
    public let reason: String

    public var description: String { "entry \(seq) \(kind.rawValue): \(reason)" }
}

/// Walks the chain entry by entry and names the first break; pure, so it is tested without a database.
///
/// It keeps a few entries of lookahead: telling a reordered pair from an inserted or modified entry needs
/// to see what comes next.
public struct ChainAuditor: Sendable {
    public private(set) var verified: Int64 = 0
    public private(set) var headHash = LogEntry.genesisHash
    private var expectedSeq: Int64 = 1
    private var window: [LogEntry] = []
    private let lookahead = 4

    public init() {}

    /// Adds the next entry in seq order; returns a break as soon as one is certain.
    public mutating func feed(_ entry: LogEntry) -> ChainBreak? {
        window.append(entry)
        return window.count > lookahead ? checkFront() : nil
    }

    /// Checks what remains at the end of the log.
    public mutating func finish() -> ChainBreak? {
        while !window.isEmpty {
            if let found = checkFront() { return found }
        }
        return nil
    }

    private mutating func checkFront() -> ChainBreak? {
        let entry = window.removeFirst()
        let next = window.first
        if entry.seq > expectedSeq {
            let missing = entry.seq - expectedSeq == 1 ? "entry \(expectedSeq) is missing" : "entries \(expectedSeq)–\(entry.seq - 1) are missing"
            return ChainBreak(seq: expectedSeq, kind: .deleted, reason: missing)
        }
        if entry.seq < expectedSeq {
            return ChainBreak(seq: entry.seq, kind: .reordered, reason: "seq \(entry.seq) appears again after \(expectedSeq - 1)")
        }
        if entry.prevHash != headHash {
            if window.contains(where: { $0.entryHash == entry.prevHash }) {
                return ChainBreak(seq: entry.seq, kind: .reordered, reason: "it chains to an entry that now comes after it")
            }
            if next?.prevHash == headHash {
                return ChainBreak(seq: entry.seq, kind: .inserted, reason: "the entry after it chains to the entry before it")
            }
            return ChainBreak(
                seq: entry.seq - 1, kind: .modified,
                reason: "its hash was rewritten: entry \(entry.seq) chains to a different hash")
        }
        if entry.computedHash != entry.entryHash {
            if let next, next.prevHash == headHash {
                return ChainBreak(seq: entry.seq, kind: .inserted, reason: "the entry after it chains to the entry before it")
            }
            return ChainBreak(seq: entry.seq, kind: .modified, reason: "its content does not match its hash")
        }
        headHash = entry.entryHash
        expectedSeq += 1
        verified += 1
        return nil
    }
}
