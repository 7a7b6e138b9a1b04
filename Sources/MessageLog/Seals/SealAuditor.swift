import PKI

/// Checks the seals against the entries as the chain walk goes by: each seal's root must be the root of the
/// entries up to its size, its signature must hold, and no seal may cover more entries than the log has.
///
/// With a trust (the verifier's own, from outside the database) each seal's signer must also be trusted by it, and
/// a seal signed by another key than the seal before it must follow the log's announcement of that key: a key
/// change is an entry of the log (`SigningKeyChange`), covered by the first seal under the new key.
///
/// Roots come from a compact range (one hash per set bit of the size), so memory stays logarithmic in the log.
/// Seals whose roots match the same entries are consistent with each other by construction.
public struct SealAuditor: Sendable {
    private var frontier: [(height: Int, hash: MerkleTree.Hash)] = []
    private var size: Int64 = 0
    private var pending: [Seal]
    /// Why the trust refuses each seal's signer, by tree size; nil when no trust was given.
    private let refusals: [Int64: String]?
    private var announced: Set<String> = []
    private var previousKey: String?
    /// Seals whose root and signature hold; with a trust, `verified` counts those whose signer it trusts too.
    public private(set) var matched = 0
    public private(set) var verified = 0
    public private(set) var latest: TreeHead?

    /// `seals` in any order; `refusals` as `trust` gave them (nil: signers are not checked against a trust).
    public init(seals: [Seal], refusals: [Int64: String]?) {
        pending = seals.sorted { $0.treeHead.size > $1.treeHead.size }
        self.refusals = refusals
    }

    /// Each seal's refusal by `trust`, computed ahead of the walk (path validation is asynchronous).
    public static func refusals(of seals: [Seal], by trust: LogSigningTrust) async -> [Int64: String] {
        var found: [Int64: String] = [:]
        for seal in seals {
            if let reason = await trust.refusal(publicKeyPEM: seal.publicKeyPEM, certificatePEM: seal.certificatePEM, at: seal.treeHead.time) {
                found[seal.treeHead.size] = reason
            }
        }
        return found
    }

    /// The log announced a new signing key (an entry at the current position).
    public mutating func announce(keyFingerprint: String) {
        announced.insert(keyFingerprint)
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
        matched += 1
        latest = head
        guard let refusals else { return nil }
        if let reason = refusals[head.size] {
            return ChainBreak(seq: head.size, kind: .sealBroken, reason: "the seal of \(head.size) entries is not signed by a trusted log-signing key: \(reason)")
        }
        let key = seal.keyFingerprint ?? ""
        if let previousKey, previousKey != key, !announced.contains(key) {
            return ChainBreak(
                seq: head.size, kind: .sealBroken,
                reason: "the seal of \(head.size) entries is signed by the key \(key), which the log never announced (a log-signing-key entry)")
        }
        previousKey = key
        verified += 1
        return nil
    }
}
