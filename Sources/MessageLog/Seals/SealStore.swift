import Foundation
import Logging
import Storage

/// Why a proof or a seal could not be given.
public struct SealStoreError: Error, Sendable, CustomStringConvertible {
    public let reason: String
    public var description: String { reason }
}

/// The Merkle tree's stored tiles and the seals, in the log's database.
///
/// The tree is kept as tiles (`log_tree_tiles`): a tile of level L holds, in one row, the 16 consecutive hashes of
/// an aligned group at height 4L — level 0 the leaf hashes, level 1 the roots of 16 leaves, and so on — and the
/// 14 nodes above them within the group, so any node of the tree is one hash of one tile. Only complete tiles are
/// stored (about one row per 15 entries); the last, partial one of a level is derived when a proof needs it, from
/// the entries or from the complete tiles below. A busy person's report proves a thousand rows: with one row per stored node it
/// decoded some 28,000 rows (16 leaves per row and ~20 nodes), most of its time; with tiles, about 4,000.
/// Tiles are derived data: verification recomputes everything from the entries and trusts none of them.
public struct SealStore: Sendable {
    /// A tile holds 2^tileHeight hashes.
    public static let tileHeight = 4
    static let tileWidth = 1 << tileHeight

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

    /// Stores every complete tile within the first `size` leaves.
    public func storeTiles(upTo size: Int64) async throws {
        var level = 0
        while (size >> Self.span(level + 1)) > 0 {
            let complete = Int(size >> Self.span(level + 1))
            let known = try await database.query("SELECT coalesce(max(idx) + 1, 0) FROM log_tree_tiles WHERE level = \(Int16(level))")
                .first?[0].decode(Int.self) ?? 0
            var index = known
            while index < complete {
                let batch = min(complete - index, level == 0 ? 1024 : 64)
                var tiles: [[UInt8]] = []
                tiles.reserveCapacity(batch)
                if level == 0 {
                    let leaves = try await leaves(start: index << Self.tileHeight, count: batch << Self.tileHeight)
                    for tile in 0..<batch { tiles.append(Self.layered(Array(leaves[(tile * Self.tileWidth)..<((tile + 1) * Self.tileWidth)].joined()))) }
                } else {
                    let children = try await storedTiles(level: level - 1, from: index * Self.tileWidth, count: batch * Self.tileWidth)
                    for tile in 0..<batch {
                        tiles.append(Self.layered(Array(children[(tile * Self.tileWidth)..<((tile + 1) * Self.tileWidth)].map(Self.root(ofTile:)).joined())))
                    }
                }
                try await insertTiles(level: level, from: index, tiles)
                index += batch
            }
            level += 1
        }
    }

    /// Where each layer of a tile starts, in hashes: its 16 base hashes, then the 8, 4 and 2 nodes above them.
    static let layerStart = [0, 16, 24, 28]
    static let tileBytes = 30 * 32

    /// A tile's bytes from its base hashes (16, or fewer for the partial last tile of a level): the layers above
    /// them are stored too, so a proof takes its hashes as they are instead of hashing (which was, with the
    /// allocations of each SHA-256, a fifth of a busy person's report). A node whose hashes below are not all
    /// there (in a partial tile) is left zero; no proof within the tree's size refers to it.
    static func layered(_ base: [UInt8]) -> [UInt8] {
        var tile = base + [UInt8](repeating: 0, count: tileBytes - base.count)
        var held = base.count / 32
        for layer in 1..<layerStart.count {
            held /= 2
            for index in 0..<held {
                let below = layerStart[layer - 1] + 2 * index
                let hash = MerkleTree.nodeHash(Array(tile[(below * 32)..<((below + 1) * 32)]), Array(tile[((below + 1) * 32)..<((below + 2) * 32)]))
                let slot = layerStart[layer] + index
                tile.replaceSubrange((slot * 32)..<((slot + 1) * 32), with: hash)
            }
        }
        return tile
    }

    /// The root of a complete tile: the node above its top two.
    static func root(ofTile tile: [UInt8]) -> MerkleTree.Hash {
        let top = layerStart[layerStart.count - 1]
        return MerkleTree.nodeHash(Array(tile[(top * 32)..<((top + 1) * 32)]), Array(tile[((top + 1) * 32)..<((top + 2) * 32)]))
    }

    /// How many leaves a hash at the bottom of a tile of `level` spans, as a shift: 4L.
    static func span(_ level: Int) -> Int { level * tileHeight }

    private func storedTiles(level: Int, from index: Int, count: Int) async throws -> [[UInt8]] {
        let found = try await database.query(
            "SELECT hashes FROM log_tree_tiles WHERE level = \(Int16(level)) AND idx >= \(Int64(index)) AND idx < \(Int64(index + count)) ORDER BY idx"
        ).decode([UInt8].self)
        guard found.count == count, found.allSatisfy({ $0.count == Self.tileBytes }) else {
            throw SealStoreError(reason: "tree tiles at level \(level) from \(index) are missing")
        }
        return found
    }

    private func insertTiles(level: Int, from index: Int, _ tiles: [[UInt8]]) async throws {
        let rows = tiles.enumerated().map { offset, hashes -> SQL in "(\(Int16(level)), \(Int64(index + offset)), \(hashes))" }
        // Several gateways may store the same tile: it holds the same hashes, the first one stays.
        try await database.query(
            "INSERT INTO log_tree_tiles (level, idx, hashes) VALUES " + SQL.joined(rows, separator: ",") + " ON CONFLICT (level, idx) DO NOTHING")
    }

    /// A tile by level and index.
    struct TileKey: Hashable {
        let level: Int
        let index: Int
    }

    /// The roots of aligned perfect subtrees (`pieces`) within the first `size` leaves, in a few queries whatever
    /// their number: the complete tiles they lie in read per level at once, the partial last tile of a level
    /// derived from the entries (level 0) or from the complete tiles of the level below.
    func roots(of pieces: [(start: Int, height: Int)], size: Int) async throws -> [MerkleTree.Hash] {
        let width = Self.tileWidth
        func tile(of piece: (start: Int, height: Int)) -> (key: TileKey, offset: Int, count: Int) {
            let level = piece.height / Self.tileHeight
            let first = piece.start >> Self.span(level)
            return (TileKey(level: level, index: first / width), first % width, 1 << (piece.height - Self.span(level)))
        }
        func isComplete(_ key: TileKey) -> Bool { (key.index + 1) << Self.span(key.level + 1) <= size }

        var wanted: [Int: Set<Int>] = [:]
        var partial = Set<TileKey>()
        for piece in pieces {
            let key = tile(of: piece).key
            if isComplete(key) { wanted[key.level, default: []].insert(key.index) } else { partial.insert(key) }
        }
        // A partial tile's hashes at level L > 0 are the roots of complete tiles of level L - 1.
        var held = [TileKey: Int]()  // partial tile -> how many of its hashes exist
        for key in partial {
            let count = (size >> Self.span(key.level)) - key.index * width
            held[key] = count
            if key.level > 0 { for child in 0..<count { wanted[key.level - 1, default: []].insert(key.index * width + child) } }
        }
        var tiles: [TileKey: [UInt8]] = [:]
        for (level, indices) in wanted {
            for chunk in Self.chunks(indices.sorted(), of: 500) {
                let list = chunk.map(String.init).joined(separator: ",")
                for (index, hashes) in try await database.query(
                    "SELECT idx, hashes FROM log_tree_tiles WHERE level = \(Int16(level)) AND idx IN (\(unescaped: list))"
                ).decode((Int64, [UInt8]).self) where hashes.count == Self.tileBytes {
                    tiles[TileKey(level: level, index: Int(index))] = hashes
                }
            }
        }
        for (key, count) in held {
            if key.level == 0 {
                tiles[key] = Self.layered(Array(try await leaves(start: key.index * width, count: count).joined()))
            } else {
                tiles[key] = Self.layered(Array(try (0..<count).map { child -> MerkleTree.Hash in
                    guard let below = tiles[TileKey(level: key.level - 1, index: key.index * width + child)] else {
                        throw SealStoreError(reason: "tree tiles at level \(key.level - 1) from \(key.index * width + child) are missing")
                    }
                    return Self.root(ofTile: below)
                }.joined()))
            }
        }
        return try pieces.map { piece in
            let (key, offset, count) = tile(of: piece)
            let layer = count.trailingZeroBitCount
            let slot = Self.layerStart[layer] + offset >> layer
            guard let hashes = tiles[key], hashes.count == Self.tileBytes else {
                throw SealStoreError(reason: "tree tiles at level \(key.level) from \(key.index) are missing")
            }
            return Array(hashes[(slot * 32)..<((slot + 1) * 32)])
        }
    }

    /// The Merkle roots of ranges of leaves that an RFC 6962 proof refers to, within the first `size` leaves.
    func roots(of ranges: [Range<Int>], size: Int) async throws -> [MerkleTree.Hash] {
        let pieces = ranges.map(MerkleTree.pieces(of:))
        var roots = try await roots(of: Array(pieces.joined()), size: size)[...]
        return pieces.map { group in
            defer { roots = roots.dropFirst(group.count) }
            return MerkleTree.fold(Array(roots.prefix(group.count)))
        }
    }

    public func root(size: Int64) async throws -> MerkleTree.Hash {
        try await storeTiles(upTo: size)
        return try await roots(of: [0..<Int(size)], size: Int(size))[0]
    }

    /// The audit path of entry `seq` in the tree of `size` entries.
    public func inclusionProof(seq: Int64, size: Int64) async throws -> [MerkleTree.Hash] {
        guard seq >= 1, seq <= size else { throw SealStoreError(reason: "entry \(seq) is not in a tree of \(size)") }
        try await storeTiles(upTo: size)
        return try await roots(of: MerkleTree.inclusionRanges(index: Int(seq - 1), size: Int(size)), size: Int(size))
    }

    /// The audit paths of many entries in the tree of `size`, in a few queries whatever their number (a person's
    /// report proves each of its rows; one `inclusionProof` per row was some thirty queries each).
    public func inclusionProofs(seqs: [Int64], size: Int64) async throws -> [Int64: [MerkleTree.Hash]] {
        if let outside = seqs.first(where: { $0 < 1 || $0 > size }) { throw SealStoreError(reason: "entry \(outside) is not in a tree of \(size)") }
        guard !seqs.isEmpty else { return [:] }
        try await storeTiles(upTo: size)
        let plans = seqs.map { seq in (seq, MerkleTree.inclusionRanges(index: Int(seq - 1), size: Int(size))) }
        var roots = try await roots(of: Array(plans.map(\.1).joined()), size: Int(size))[...]
        var proofs: [Int64: [MerkleTree.Hash]] = [:]
        for (seq, ranges) in plans {
            proofs[seq] = Array(roots.prefix(ranges.count))
            roots = roots.dropFirst(ranges.count)
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
        try await storeTiles(upTo: newSize)
        return try await roots(of: MerkleTree.consistencyRanges(oldSize: Int(oldSize), newSize: Int(newSize)), size: Int(newSize))
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

    /// The newest seal as `connection` sees it (in the caller's snapshot).
    public static func latest(on connection: DatabaseConnection) async throws -> Seal? {
        try await connection.query("SELECT \(unescaped: sealColumns) FROM log_seals ORDER BY tree_size DESC LIMIT 1").first.map(decode)
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
        try await database.withConnection { try await Self.announcedKeys(after: seq, on: $0) }
    }

    /// The signing keys the log announced after entry `seq`, as `connection` sees them (in the caller's transaction).
    static func announcedKeys(after seq: Int64, on connection: DatabaseConnection) async throws -> Set<String> {
        let rows = try await connection.query(
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
