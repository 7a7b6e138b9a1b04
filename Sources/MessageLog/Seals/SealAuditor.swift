/// Checks the seals against the entries as the chain walk goes by: each seal's root must be the root of the
/// entries up to its size, its signature must hold, and no seal may cover more entries than the log has.
///
/// Roots come from a compact range (one hash per set bit of the size), so memory stays logarithmic in the log.
/// Seals whose roots match the same entries are consistent with each other by construction.
public struct SealAuditor: Sendable {
    private var frontier: [(height: Int, hash: MerkleTree.Hash)] = []
    private var size: Int64 = 0
    private var pending: [Seal]
    public private(set) var verified = 0
    public private(set) var latest: TreeHead?

    /// `seals` in any order.
    public init(seals: [Seal]) {
        pending = seals.sorted { $0.treeHead.size > $1.treeHead.size }
    }

    /// Adds the next entry's hash (seq order); returns a break when a seal ending here does not hold.
    public mutating func feed(entryHash: [UInt8]) -> ChainBreak? {
        var node = (height: 0, hash: MerkleTree.leafHash(entryHash))
        while let last = frontier.last, last.height == node.height {
            frontier.removeLast()
            node = (node.height + 1, MerkleTree.nodeHash(last.hash, node.hash))
        }
        frontier.append(node)
        size += 1
        while let seal = pending.last, seal.treeHead.size <= size {
            pending.removeLast()
            if let found = check(seal) { return found }
        }
        return nil
    }

    /// After the last entry: a seal beyond the end means entries were cut off.
    public mutating func finish() -> ChainBreak? {
        guard let beyond = pending.first else { return nil }
        let first = pending.last?.treeHead.size ?? beyond.treeHead.size
        return ChainBreak(
            seq: size + 1, kind: .truncated,
            reason: "the log ends at entry \(size) but a signed seal covers \(beyond.treeHead.size) entries (from \(first)): newer entries were removed")
    }

    private mutating func check(_ seal: Seal) -> ChainBreak? {
        let head = seal.treeHead
        guard head.size == size else {
            return ChainBreak(seq: head.size, kind: .sealBroken, reason: "a seal of \(head.size) entries was met at \(size)")
        }
        guard seal.isSignatureValid else {
            return ChainBreak(seq: head.size, kind: .sealBroken, reason: "the seal of \(head.size) entries does not carry a valid signature of its tree head")
        }
        let root = MerkleTree.fold(frontier.map(\.hash)).hex
        guard root == head.rootHash else {
            return ChainBreak(
                seq: head.size, kind: .sealBroken,
                reason: "the entries up to \(head.size) no longer have the root their signed seal of \(TreeHead.format(head.timeMilliseconds)) holds")
        }
        verified += 1
        latest = head
        return nil
    }
}
