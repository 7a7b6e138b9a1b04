import Crypto

/// RFC 6962 / RFC 9162 Merkle tree hashing over the log's entry hashes, and the proofs a partner checks.
///
/// Leaf `i` is `SHA-256(0x00 ‖ entry hash of seq i+1)`; a node is `SHA-256(0x01 ‖ left ‖ right)`; the tree
/// of `n` leaves splits at the largest power of two below `n`. Verification needs nothing but the hashes, so
/// a partner can check a receipt or a consistency proof with any RFC 9162 library.
public enum MerkleTree {
    public typealias Hash = [UInt8]

    public static func leafHash(_ entryHash: [UInt8]) -> Hash {
        var hasher = SHA256()
        hasher.update(data: [0x00])
        hasher.update(data: entryHash)
        return Array(hasher.finalize())
    }

    static func nodeHash(_ left: Hash, _ right: Hash) -> Hash {
        var hasher = SHA256()
        hasher.update(data: [0x01])
        hasher.update(data: left)
        hasher.update(data: right)
        return Array(hasher.finalize())
    }

    /// The largest power of two strictly below `n` (n ≥ 2).
    static func split(_ n: Int) -> Int {
        var k = 1
        while k << 1 < n { k <<= 1 }
        return k
    }

    /// The root of the tree over `leaves` (already leaf-hashed); SHA-256 of nothing for the empty tree.
    public static func root(_ leaves: ArraySlice<Hash>) -> Hash {
        switch leaves.count {
        case 0: return Array(SHA256.hash(data: [UInt8]()))
        case 1: return leaves[leaves.startIndex]
        default:
            // Bottom-up over perfect subtrees keeps the recursion shallow and allocates one level at a time.
            var level = Array(leaves)
            while level.count > 1 {
                var next: [Hash] = []
                next.reserveCapacity((level.count + 1) / 2)
                var index = 0
                while index + 1 < level.count {
                    next.append(nodeHash(level[index], level[index + 1]))
                    index += 2
                }
                // An odd last node is carried up unchanged: that is exactly RFC 6962's split for any n.
                if index < level.count { next.append(level[index]) }
                level = next
            }
            return level[0]
        }
    }

    public static func root(_ leaves: [Hash]) -> Hash { root(leaves[...]) }

    /// Whether `hash` is one: exactly 32 bytes (SHA-256).
    public static func isHash(_ hash: Hash) -> Bool { hash.count == 32 }

    /// RFC 9162 §2.1.3.2: does `proof` show leaf `index` in the tree of `size` with `root`?
    public static func verifyInclusion(leaf: Hash, index: Int, size: Int, proof: [Hash], root: Hash) -> Bool {
        // Every hash is a SHA-256: an empty leaf and an empty root must not "verify" a tree of one.
        guard index >= 0, index < size, isHash(leaf), isHash(root), proof.allSatisfy(isHash) else { return false }
        var fn = index
        var sn = size - 1
        var r = leaf
        for p in proof {
            guard sn > 0 else { return false }
            if fn & 1 == 1 || fn == sn {
                r = nodeHash(p, r)
                if fn & 1 == 0 {
                    repeat {
                        fn >>= 1
                        sn >>= 1
                    } while fn & 1 == 0 && fn != 0
                }
            } else {
                r = nodeHash(r, p)
            }
            fn >>= 1
            sn >>= 1
        }
        return sn == 0 && r == root
    }

    /// RFC 9162 §2.1.4.2: does `proof` show the tree (`oldSize`, `oldRoot`) is a prefix of (`newSize`, `newRoot`)?
    public static func verifyConsistency(oldSize: Int, oldRoot: Hash, newSize: Int, newRoot: Hash, proof: [Hash]) -> Bool {
        guard oldSize >= 0, oldSize <= newSize, isHash(oldRoot), isHash(newRoot), proof.allSatisfy(isHash) else { return false }
        if oldSize == newSize { return proof.isEmpty && oldRoot == newRoot }
        if oldSize == 0 { return proof.isEmpty }
        guard !proof.isEmpty else { return false }
        var path = proof
        if oldSize & (oldSize - 1) == 0 { path.insert(oldRoot, at: 0) }
        var fn = oldSize - 1
        var sn = newSize - 1
        while fn & 1 == 1 {
            fn >>= 1
            sn >>= 1
        }
        var fr = path[0]
        var sr = path[0]
        for c in path.dropFirst() {
            guard sn > 0 else { return false }
            if fn & 1 == 1 || fn == sn {
                fr = nodeHash(c, fr)
                sr = nodeHash(c, sr)
                if fn & 1 == 0 {
                    repeat {
                        fn >>= 1
                        sn >>= 1
                    } while fn & 1 == 0 && fn != 0
                }
            } else {
                sr = nodeHash(sr, c)
            }
            fn >>= 1
            sn >>= 1
        }
        return sn == 0 && fr == oldRoot && sr == newRoot
    }

    // MARK: Proofs as ranges of leaves

    // A store that keeps the hashes of aligned perfect subtrees answers any proof with a few lookups: every
    // hash in an RFC 6962 proof is the root of a range of leaves, and every such range is a run of aligned
    // perfect subtrees, largest first.

    /// The ranges of leaves whose roots make up the audit path of `index` in a tree of `size`, in proof order.
    public static func inclusionRanges(index: Int, size: Int) -> [Range<Int>] {
        precondition(index >= 0 && index < size)
        var ranges: [Range<Int>] = []
        var (start, count, m) = (0, size, index)
        var stack: [Range<Int>] = []
        while count > 1 {
            let k = split(count)
            if m < k {
                stack.append((start + k)..<(start + count))
                count = k
            } else {
                stack.append(start..<(start + k))
                start += k
                count -= k
                m -= k
            }
        }
        // The recursion appends on the way back up: the innermost sibling comes first.
        while let range = stack.popLast() { ranges.append(range) }
        return ranges
    }

    /// The ranges of leaves whose roots make up the consistency proof from `oldSize` to `newSize`.
    public static func consistencyRanges(oldSize: Int, newSize: Int) -> [Range<Int>] {
        precondition(oldSize >= 0 && oldSize <= newSize)
        guard oldSize > 0, oldSize < newSize else { return [] }
        var stack: [Range<Int>] = []
        var (start, count, m, complete) = (0, newSize, oldSize, true)
        while m != count {
            let k = split(count)
            if m <= k {
                stack.append((start + k)..<(start + count))
                count = k
            } else {
                stack.append(start..<(start + k))
                start += k
                count -= k
                m -= k
                complete = false
            }
        }
        var ranges: [Range<Int>] = complete ? [] : [start..<(start + count)]
        while let range = stack.popLast() { ranges.append(range) }
        return ranges
    }

    /// The aligned perfect subtrees that make up a range, largest first: `(first leaf, height)`.
    public static func pieces(of range: Range<Int>) -> [(start: Int, height: Int)] {
        var pieces: [(Int, Int)] = []
        var start = range.lowerBound
        var remaining = range.count
        while remaining > 0 {
            var height = 0
            while 1 << (height + 1) <= remaining && start % (1 << (height + 1)) == 0 { height += 1 }
            pieces.append((start, height))
            start += 1 << height
            remaining -= 1 << height
        }
        return pieces
    }

    /// The root of a range from the roots of its pieces (as `pieces(of:)` lists them).
    public static func fold(_ pieceRoots: [Hash]) -> Hash {
        guard var root = pieceRoots.last else { return Array(SHA256.hash(data: [UInt8]())) }
        for piece in pieceRoots.dropLast().reversed() { root = nodeHash(piece, root) }
        return root
    }
}
