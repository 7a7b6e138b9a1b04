import Crypto
import Testing

@testable import MessageLog

/// RFC 6962 hashing and proofs: the Certificate Transparency test vectors, and every proof of small trees.
@Suite("Merkle tree")
struct MerkleTreeTests {
    /// The leaves of the CT reference test vectors (hex of the leaf *inputs*).
    static let inputs = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
    static let roots = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d", "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77", "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4", "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c", "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ]

    static func bytes(_ hex: String) -> [UInt8] {
        var result: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            result.append(UInt8(hex[index..<next], radix: 16)!)
            index = next
        }
        return result
    }

    static func hex(_ bytes: [UInt8]) -> String { bytes.hex }

    @Test("Roots of the reference vectors, and of the empty tree")
    func referenceRoots() {
        let leaves = Self.inputs.map { MerkleTree.leafHash(Self.bytes($0)) }
        for size in 1...leaves.count {
            #expect(Self.hex(MerkleTree.root(leaves[0..<size])) == Self.roots[size - 1], "size \(size)")
        }
        #expect(Self.hex(MerkleTree.root([])) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    @Test("The bottom-up root equals RFC 6962's recursive definition for every size up to 70")
    func rootMatchesDefinition() {
        func recursive(_ leaves: ArraySlice<[UInt8]>) -> [UInt8] {
            if leaves.count == 1 { return leaves.first! }
            let k = MerkleTree.split(leaves.count)
            return MerkleTree.nodeHash(recursive(leaves.prefix(k)), recursive(leaves.dropFirst(k)))
        }
        let leaves = (0..<70).map { MerkleTree.leafHash(Array(SHA256.hash(data: [UInt8(truncatingIfNeeded: $0)]))) }
        for size in 1...leaves.count { #expect(MerkleTree.root(leaves[0..<size]) == recursive(leaves[0..<size]), "size \(size)") }
    }

    @Test("Every hash in a proof, a leaf and a root is exactly 32 bytes: an empty leaf with an empty root proves nothing")
    func hashesAreThirtyTwoBytes() {
        #expect(!MerkleTree.verifyInclusion(leaf: [], index: 0, size: 1, proof: [], root: []))
        let leaf = MerkleTree.leafHash([1, 2, 3])
        #expect(MerkleTree.verifyInclusion(leaf: leaf, index: 0, size: 1, proof: [], root: leaf))
        #expect(!MerkleTree.verifyInclusion(leaf: leaf + [0], index: 0, size: 1, proof: [], root: leaf + [0]))
        let other = MerkleTree.leafHash([4])
        let root = MerkleTree.root([leaf, other])
        #expect(MerkleTree.verifyInclusion(leaf: leaf, index: 0, size: 2, proof: [other], root: root))
        #expect(!MerkleTree.verifyInclusion(leaf: leaf, index: 0, size: 2, proof: [Array(other.prefix(31))], root: root))
        #expect(!MerkleTree.verifyConsistency(oldSize: 1, oldRoot: [], newSize: 1, newRoot: [], proof: []))
        #expect(MerkleTree.verifyConsistency(oldSize: 1, oldRoot: leaf, newSize: 2, newRoot: root, proof: [other]))
        #expect(!MerkleTree.verifyConsistency(oldSize: 1, oldRoot: leaf, newSize: 2, newRoot: root, proof: [other + [0]]))
        #expect(!MerkleTree.verifyConsistency(oldSize: 0, oldRoot: [], newSize: 2, newRoot: root, proof: []))
    }

    @Test("Every inclusion proof of trees up to 33 leaves verifies; a wrong leaf, index, size or root does not")
    func inclusion() {
        let leaves = (0..<33).map { MerkleTree.leafHash(Array(SHA256.hash(data: [UInt8($0)]))) }
        for size in 1...leaves.count {
            let tree = leaves[0..<size]
            let root = MerkleTree.root(tree)
            for index in 0..<size {
                let proof = MerkleTree.inclusionProof(index: index, leaves: tree)
                #expect(MerkleTree.verifyInclusion(leaf: leaves[index], index: index, size: size, proof: proof, root: root), "\(index) of \(size)")
                #expect(!MerkleTree.verifyInclusion(leaf: leaves[(index + 1) % 33], index: index, size: size, proof: proof, root: root))
                if size > 1 {
                    #expect(!MerkleTree.verifyInclusion(leaf: leaves[index], index: (index + 1) % size, size: size, proof: proof, root: root))
                    #expect(!MerkleTree.verifyInclusion(leaf: leaves[index], index: index, size: size, proof: proof, root: leaves[0]))
                }
            }
        }
    }

    @Test("Every consistency proof between trees up to 33 leaves verifies; a rewritten history does not")
    func consistency() {
        let leaves = (0..<33).map { MerkleTree.leafHash(Array(SHA256.hash(data: [UInt8($0)]))) }
        var forged = leaves
        forged[2] = MerkleTree.leafHash([0xff])
        for newSize in 1...leaves.count {
            let newRoot = MerkleTree.root(leaves[0..<newSize])
            for oldSize in 1...newSize {
                let oldRoot = MerkleTree.root(leaves[0..<oldSize])
                let proof = MerkleTree.consistencyProof(oldSize: oldSize, leaves: leaves[0..<newSize])
                #expect(MerkleTree.verifyConsistency(oldSize: oldSize, oldRoot: oldRoot, newSize: newSize, newRoot: newRoot, proof: proof), "\(oldSize) → \(newSize)")
                if oldSize > 2 && oldSize < newSize {
                    // The old tree head of a log whose third entry was later rewritten.
                    let forgedRoot = MerkleTree.root(forged[0..<oldSize])
                    #expect(!MerkleTree.verifyConsistency(oldSize: oldSize, oldRoot: forgedRoot, newSize: newSize, newRoot: newRoot, proof: proof))
                    #expect(!MerkleTree.verifyConsistency(oldSize: oldSize, oldRoot: oldRoot, newSize: newSize, newRoot: MerkleTree.root(forged[0..<newSize]), proof: proof))
                }
            }
        }
    }

    @Test("Proofs assembled from aligned perfect subtrees (as the store keeps them) equal the recursive proofs")
    func rangesMatchRecursion() {
        let leaves = (0..<70).map { MerkleTree.leafHash(Array(SHA256.hash(data: [UInt8($0)]))) }
        func perfectRoot(_ start: Int, _ height: Int) -> [UInt8] { MerkleTree.root(leaves[start..<(start + (1 << height))]) }
        func rangeRoot(_ range: Range<Int>) -> [UInt8] { MerkleTree.fold(MerkleTree.pieces(of: range).map { perfectRoot($0.start, $0.height) }) }
        for size in 1...leaves.count {
            #expect(rangeRoot(0..<size) == MerkleTree.root(leaves[0..<size]), "root \(size)")
            for index in 0..<size {
                let fromRanges = MerkleTree.inclusionRanges(index: index, size: size).map(rangeRoot)
                #expect(fromRanges == MerkleTree.inclusionProof(index: index, leaves: leaves[0..<size]), "inclusion \(index) of \(size)")
            }
            for old in 0...size {
                let fromRanges = MerkleTree.consistencyRanges(oldSize: old, newSize: size).map(rangeRoot)
                #expect(fromRanges == MerkleTree.consistencyProof(oldSize: old, leaves: leaves[0..<size]), "consistency \(old) → \(size)")
            }
        }
    }
}

/// RFC 6962's recursive PATH and PROOF over leaves in memory: the reference the store's range-based proofs
/// (`MerkleTree.inclusionRanges`, `consistencyRanges`) are checked against.
extension MerkleTree {
    /// The audit path of leaf `index` in the tree of `leaves` (RFC 6962 PATH(m, D[n])).
    static func inclusionProof(index: Int, leaves: ArraySlice<Hash>) -> [Hash] {
        precondition(index >= 0 && index < leaves.count)
        guard leaves.count > 1 else { return [] }
        let k = split(leaves.count)
        let start = leaves.startIndex
        if index < k {
            return inclusionProof(index: index, leaves: leaves[start..<start + k]) + [root(leaves[(start + k)...])]
        }
        return inclusionProof(index: index - k, leaves: leaves[(start + k)...]) + [root(leaves[start..<start + k])]
    }

    /// The proof that the tree of the first `oldSize` leaves is a prefix of the tree of all `leaves`
    /// (RFC 6962 PROOF(m, D[n])).
    static func consistencyProof(oldSize: Int, leaves: ArraySlice<Hash>) -> [Hash] {
        precondition(oldSize >= 0 && oldSize <= leaves.count)
        guard oldSize > 0, oldSize < leaves.count else { return [] }
        return subproof(oldSize, leaves, complete: true)
    }

    private static func subproof(_ m: Int, _ leaves: ArraySlice<Hash>, complete: Bool) -> [Hash] {
        let n = leaves.count
        let start = leaves.startIndex
        if m == n { return complete ? [] : [root(leaves)] }
        let k = split(n)
        if m <= k {
            return subproof(m, leaves[start..<start + k], complete: complete) + [root(leaves[(start + k)...])]
        }
        return subproof(m - k, leaves[(start + k)...], complete: false) + [root(leaves[start..<start + k])]
    }
}
