import Foundation
import Logging
import Storage

/// Why a proof or a seal could not be given.
public struct SealStoreError: Error, Sendable, CustomStringConvertible {
    public let reason: String
    public var description: String { reason }
}

/// The Merkle tree's stored nodes and the seals, in the log's database.
///
/// Aligned perfect subtrees of 16 leaves and up are kept (`log_tree_nodes`, about one row per 8 entries), so that
/// a root or a proof over millions of entries takes a few lookups and at most a few dozen leaves: a busy person's
/// report proves a thousand rows, and with subtrees of 256 it read a quarter of a million leaves to do so. A log
/// whose nodes were kept from 256 up gets the lower ones on its first seal after the upgrade (one pass).
/// Nodes are derived data: verification recomputes everything from the entries and trusts none of them.
public struct SealStore: Sendable {
    /// Perfect subtrees at least this high are stored.
    public static let storedHeight = 4

    let database: Database
    let logger: Logger

    public init(database: Database, logger: Logger) {
        self.database = database
        self.logger = logger
    }

    // MARK: The tree

    /// The number of committed entries (seq is gapless from 1).
    public func head() async throws -> Int64 {
        try await database.query("SELECT coalesce(max(seq), 0) FROM message_log").first?[0].decode(Int64.self) ?? 0
    }

    /// Leaf hashes of seq `start+1 … start+count`.
    func leaves(start: Int, count: Int) async throws -> [MerkleTree.Hash] {
        var leaves: [MerkleTree.Hash] = []
        leaves.reserveCapacity(count)
        let rows = try await database.query(
            "SELECT entry_hash FROM message_log WHERE seq > \(Int64(start)) AND seq <= \(Int64(start + count)) ORDER BY seq")
        for hash in try rows.decode(String.self) { leaves.append(try Self.leaf(hash, seq: Int64(start + leaves.count + 1))) }
        guard leaves.count == count else { throw SealStoreError(reason: "entries \(start + 1)–\(start + count) are not all in the log") }
        return leaves
    }

    /// The leaf hash of an entry's recorded hash.
    static func leaf(_ entryHash: String, seq: Int64) throws -> MerkleTree.Hash {
        guard let bytes = Hex.decode(entryHash), bytes.count == 32 else { throw SealStoreError(reason: "entry \(seq) has no valid hash") }
        return MerkleTree.leafHash(bytes)
    }

    /// Stores every complete perfect subtree of height ≥ `storedHeight` within the first `size` leaves.
    public func storeNodes(upTo size: Int64) async throws {
        var height = Self.storedHeight
        while (size >> height) > 0 {
            let complete = Int(size >> height)
            let known = try await database.query("SELECT coalesce(max(idx) + 1, 0) FROM log_tree_nodes WHERE height = \(Int16(height))")
                .first?[0].decode(Int.self) ?? 0
            var index = known
            while index < complete {
                let batch = min(complete - index, height == Self.storedHeight ? 1024 : 4096)
                var hashes: [MerkleTree.Hash] = []
                if height == Self.storedHeight {
                    let leaves = try await leaves(start: index << height, count: batch << height)
                    for block in 0..<batch { hashes.append(MerkleTree.root(leaves[(block << height)..<((block + 1) << height)])) }
                } else {
                    let children = try await nodes(height: height - 1, from: index * 2, count: batch * 2)
                    for pair in 0..<batch { hashes.append(MerkleTree.nodeHash(children[2 * pair], children[2 * pair + 1])) }
                }
                try await insertNodes(height: height, from: index, hashes)
                index += batch
            }
            height += 1
        }
    }

    private func nodes(height: Int, from index: Int, count: Int) async throws -> [MerkleTree.Hash] {
        let found = try await database.query(
            "SELECT hash FROM log_tree_nodes WHERE height = \(Int16(height)) AND idx >= \(Int64(index)) AND idx < \(Int64(index + count)) ORDER BY idx"
        ).decode([UInt8].self)
        guard found.count == count else { throw SealStoreError(reason: "tree nodes at height \(height) from \(index) are missing") }
        return found
    }

    private func insertNodes(height: Int, from index: Int, _ hashes: [MerkleTree.Hash]) async throws {
        let rows = hashes.enumerated().map { offset, hash -> SQL in "(\(Int16(height)), \(Int64(index + offset)), \(hash))" }
        // Several gateways may store the same node: it is the same hash, the first one stays.
        try await database.query(
            "INSERT INTO log_tree_nodes (height, idx, hash) VALUES " + SQL.joined(rows, separator: ",") + " ON CONFLICT (height, idx) DO NOTHING")
    }

    /// The root of an aligned perfect subtree.
    func perfect(start: Int, height: Int) async throws -> MerkleTree.Hash {
        if height >= Self.storedHeight {
            let found = try await nodes(height: height, from: start >> height, count: 1)
            return found[0]
        }
        return MerkleTree.root(try await leaves(start: start, count: 1 << height))
    }

    /// The Merkle root of a range of leaves that an RFC 6962 proof refers to.
    func root(of range: Range<Int>) async throws -> MerkleTree.Hash {
        var roots: [MerkleTree.Hash] = []
        for piece in MerkleTree.pieces(of: range) { roots.append(try await perfect(start: piece.start, height: piece.height)) }
        return MerkleTree.fold(roots)
    }

    public func root(size: Int64) async throws -> MerkleTree.Hash {
        try await storeNodes(upTo: size)
        return try await root(of: 0..<Int(size))
    }

    /// The audit path of entry `seq` in the tree of `size` entries.
    public func inclusionProof(seq: Int64, size: Int64) async throws -> [MerkleTree.Hash] {
        guard seq >= 1, seq <= size else { throw SealStoreError(reason: "entry \(seq) is not in a tree of \(size)") }
        try await storeNodes(upTo: size)
        var proof: [MerkleTree.Hash] = []
        for range in MerkleTree.inclusionRanges(index: Int(seq - 1), size: Int(size)) { proof.append(try await root(of: range)) }
        return proof
    }

    /// The audit paths of many entries in the tree of `size`, in a few queries whatever their number: the stored
    /// nodes they need are read per height at once, the leaves by the blocks of 16 that hold them. A person's
    /// report proves each of its rows; one `inclusionProof` per row was some thirty queries each.
    public func inclusionProofs(seqs: [Int64], size: Int64) async throws -> [Int64: [MerkleTree.Hash]] {
        if let outside = seqs.first(where: { $0 < 1 || $0 > size }) { throw SealStoreError(reason: "entry \(outside) is not in a tree of \(size)") }
        guard !seqs.isEmpty else { return [:] }
        try await storeNodes(upTo: size)
        let block = Self.storedHeight
        let plans = seqs.map { seq in (seq, MerkleTree.inclusionRanges(index: Int(seq - 1), size: Int(size)).map(MerkleTree.pieces(of:))) }
        var wanted: [Int: Set<Int>] = [:]
        var blocks = Set<Int>()
        for (_, ranges) in plans {
            for piece in ranges.joined() {
                if piece.height >= block { wanted[piece.height, default: []].insert(piece.start >> piece.height) } else { blocks.insert(piece.start >> block) }
            }
        }
        var nodes: [Int: [Int: MerkleTree.Hash]] = [:]
        for (height, indices) in wanted {
            for chunk in Self.chunks(indices.sorted(), of: 500) {
                let list = chunk.map(String.init).joined(separator: ",")
                for (index, hash) in try await database.query(
                    "SELECT idx, hash FROM log_tree_nodes WHERE height = \(Int16(height)) AND idx IN (\(unescaped: list))"
                ).decode((Int64, [UInt8]).self) {
                    nodes[height, default: [:]][Int(index)] = hash
                }
            }
        }
        var leaves: [Int: [MerkleTree.Hash]] = [:]
        // The blocks' seqs listed, not their ranges OR'ed: SQLite answers a list by the primary key but scanned the
        // whole log for the ranges.
        for chunk in Self.chunks(blocks.sorted(), of: 50) {
            let list = chunk.flatMap { (Int64($0 << block) + 1)...min(Int64(($0 + 1) << block), size) }.map(String.init).joined(separator: ",")
            for (seq, hash) in try await database.query("SELECT seq, entry_hash FROM message_log WHERE seq IN (\(unescaped: list)) ORDER BY seq")
                .decode((Int64, String).self)
            {
                leaves[Int(seq - 1) >> block, default: []].append(try Self.leaf(hash, seq: seq))
            }
        }
        var proofs: [Int64: [MerkleTree.Hash]] = [:]
        for (seq, ranges) in plans {
            proofs[seq] = try ranges.map { pieces in
                MerkleTree.fold(
                    try pieces.map { piece in
                        if piece.height >= block {
                            guard let hash = nodes[piece.height]?[piece.start >> piece.height] else {
                                throw SealStoreError(reason: "tree nodes at height \(piece.height) from \(piece.start >> piece.height) are missing")
                            }
                            return hash
                        }
                        let offset = piece.start & ((1 << block) - 1)
                        guard let held = leaves[piece.start >> block], offset + (1 << piece.height) <= held.count else {
                            throw SealStoreError(reason: "entries \(piece.start + 1)–\(piece.start + (1 << piece.height)) are not all in the log")
                        }
                        return MerkleTree.root(held[offset..<(offset + (1 << piece.height))])
                    })
            }
        }
        return proofs
    }

    /// Consecutive slices of at most `size` items, to keep lists in a query short.
    static func chunks(_ items: [Int], of size: Int) -> [ArraySlice<Int>] {
        stride(from: 0, to: items.count, by: size).map { items[$0..<min($0 + size, items.count)] }
    }

    /// The proof that the tree of `oldSize` entries is a prefix of the tree of `newSize`.
    public func consistencyProof(oldSize: Int64, newSize: Int64) async throws -> [MerkleTree.Hash] {
        guard oldSize >= 0, oldSize <= newSize else { throw SealStoreError(reason: "a tree of \(oldSize) cannot be a prefix of a tree of \(newSize)") }
        try await storeNodes(upTo: newSize)
        var proof: [MerkleTree.Hash] = []
        for range in MerkleTree.consistencyRanges(oldSize: Int(oldSize), newSize: Int(newSize)) { proof.append(try await root(of: range)) }
        return proof
    }

    // MARK: Seals

    static let sealColumns = "tree_size, root_hash, sealed_at_ms, signature, public_key, certificate, timestamp_token"

    /// Stores a seal unless one of the same or a larger size exists (another gateway sealed meanwhile), so that
    /// seals grow with time; returns whether it was stored.
    public func insertIfNewest(_ seal: Seal) async throws -> Bool {
        let head = seal.treeHead
        // The WHERE clause also lets SQLite read ON CONFLICT as the upsert, not as a join constraint.
        let rows = try await database.query(
            """
            INSERT INTO log_seals (tree_size, root_hash, sealed_at_ms, signature, public_key, certificate)
            SELECT \(head.size), \(head.rootHash), \(head.timeMilliseconds), \(seal.signature), \(seal.publicKeyPEM), \(seal.certificatePEM)
            WHERE NOT EXISTS (SELECT 1 FROM log_seals WHERE tree_size >= \(head.size))
            ON CONFLICT (tree_size) DO NOTHING
            RETURNING tree_size
            """)
        return !rows.isEmpty
    }

    public func attachTimestamp(_ token: [UInt8], size: Int64) async throws {
        try await database.query(
            "UPDATE log_seals SET timestamp_token = \(token), timestamped_at = \(Date()) WHERE tree_size = \(size) AND timestamp_token IS NULL")
    }

    /// When the newest timestamp arrived, across every gateway.
    public func newestTimestampedAt() async throws -> Date? {
        try await database.query("SELECT max(timestamped_at) FROM log_seals").first?[0].decode(Date?.self)
    }

    public func latest() async throws -> Seal? {
        try await seals(where: "ORDER BY tree_size DESC LIMIT 1").first
    }

    /// The first seal that covers entry `seq`.
    public func seal(covering seq: Int64) async throws -> Seal? {
        try await database.query("SELECT \(unescaped: Self.sealColumns) FROM log_seals WHERE tree_size >= \(seq) ORDER BY tree_size LIMIT 1")
            .first.map(Self.decode)
    }

    public func seal(size: Int64) async throws -> Seal? {
        try await database.query("SELECT \(unescaped: Self.sealColumns) FROM log_seals WHERE tree_size = \(size)").first.map(Self.decode)
    }

    /// Every seal, oldest first.
    public func all() async throws -> [Seal] { try await seals(where: "ORDER BY tree_size") }

    /// The signing keys the log announced after entry `seq` (`SigningKeyChange`).
    public func announcedKeys(after seq: Int64) async throws -> Set<String> {
        let rows = try await database.query(
            "SELECT direction, detail FROM message_log WHERE seq > \(seq) AND operation = \(SigningKeyChange.operation) ORDER BY seq")
        var keys: Set<String> = []
        for (direction, detail) in try rows.decode((String, String?).self) {
            if let key = SigningKeyChange.announcedKey(direction: Direction(rawValue: direction), operation: SigningKeyChange.operation, detail: detail) {
                keys.insert(key)
            }
        }
        return keys
    }

    /// Seals still waiting for their timestamp, oldest first.
    public func awaitingTimestamp(limit: Int = 100) async throws -> [Seal] {
        try await seals(where: "WHERE timestamp_token IS NULL ORDER BY tree_size LIMIT \(limit)")
    }

    private func seals(where clause: SQL) async throws -> [Seal] {
        try await database.query("SELECT \(unescaped: Self.sealColumns) FROM log_seals \(clause)").map(Self.decode)
    }

    static func decode(_ row: DatabaseRow) throws -> Seal {
        let (size, root, time, signature, publicKey, certificate, token) = try row.decode((Int64, String, Int64, [UInt8], String, String, [UInt8]?).self)
        return Seal(
            treeHead: TreeHead(size: size, rootHash: root, timeMilliseconds: time), signature: signature, publicKeyPEM: publicKey,
            certificatePEM: certificate, timestampToken: token)
    }
}

/// Reading hex back (writing it is `Sequence.hex`).
public enum Hex {
    public static func decode(_ text: String) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(utf8.count / 2)
        var index = 0
        while index < utf8.count {
            guard let high = value(utf8[index]), let low = value(utf8[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }

    private static func value(_ digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): digit - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
