import Crypto
import Foundation

/// Encrypts message bodies kept at rest (outbox and inbox) with AES-256-GCM; the message id is bound as
/// associated data, so a body cannot be moved to another row.
///
/// Each sealed body names the key that sealed it (`"JB1" ‖ key-id length ‖ key id ‖ nonce ‖ ciphertext ‖ tag`),
/// so keys rotate: new bodies use the newest key, older bodies stay readable with theirs. The log itself
/// never needs a key — its entries hold digests of the plaintext.
public struct BodySealer: Sendable {
    /// The key derived from the subject key: the only one until a key folder is made, and kept after it so
    /// bodies sealed before the first rotation stay readable.
    public static let derivedKeyId = "subject-v1"
    static let magic: [UInt8] = [0x4A, 0x42, 0x01]

    private let keys: [String: [UInt8]]
    public let currentKeyId: String

    /// Only the key derived from `secret` (the subject key) with HKDF-SHA256, label `jisr outbox v1`.
    public init(secret: [UInt8]) {
        self.keys = [Self.derivedKeyId: Self.derive(secret)]
        self.currentKeyId = Self.derivedKeyId
    }

    /// The derived key plus every `ID.key` in `keyFolder` (32 random bytes, hex); the greatest id is current,
    /// so ids made from the time of rotation (`jisr pki rotate-body-key`) sort in order.
    ///
    /// A folder that does not exist holds no key yet (none was rotated); one that exists but cannot be read is an
    /// error, never a quiet return to the derived key (bodies would be sealed under a key the operator retired).
    public init(secret: [UInt8], keyFolder: String) throws {
        var keys = [Self.derivedKeyId: Self.derive(secret)]
        let names: [String]
        if FileManager.default.fileExists(atPath: keyFolder) {
            do { names = try FileManager.default.contentsOfDirectory(atPath: keyFolder) } catch {
                throw BodyKeyError(keyId: "folder", reason: "\(keyFolder) cannot be read: \((error as NSError).localizedDescription)")
            }
        } else {
            names = []
        }
        let ids = names.filter { $0.hasSuffix(".key") }.map { String($0.dropLast(4)) }.sorted()
        for id in ids {
            let text = try String(contentsOfFile: keyFolder + "/" + id + ".key", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            guard Self.isValidID(id), let key = Hex.decode(text), key.count == 32 else { throw BodyKeyError(keyId: id, reason: "is not 32 bytes in hex") }
            keys[id] = key
        }
        self.keys = keys
        self.currentKeyId = ids.last ?? Self.derivedKeyId
    }

    public var keyIds: [String] { keys.keys.sorted() }

    static func isValidID(_ id: String) -> Bool {
        !id.isEmpty && id.utf8.count <= 64 && id.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }
    }

    static func derive(_ secret: [UInt8]) -> [UInt8] {
        HKDF<SHA256>.deriveKey(inputKeyMaterial: SymmetricKey(data: secret), info: Array("jisr outbox v1".utf8), outputByteCount: 32)
            .withUnsafeBytes { Array($0) }
    }

    public func seal(_ body: [UInt8], messageId: UUID) throws -> [UInt8] {
        guard let key = keys[currentKeyId] else { throw BodyKeyError(keyId: currentKeyId, reason: "is missing") }
        let box = try AES.GCM.seal(body, using: SymmetricKey(data: key), authenticating: Array(messageId.uuidString.lowercased().utf8))
        guard let combined = box.combined else { throw SealingError() }
        let id = Array(currentKeyId.utf8)
        return Self.magic + [UInt8(id.count)] + id + Array(combined)
    }

    public func open(_ sealed: [UInt8], messageId: UUID) throws -> [UInt8] {
        guard let keyId = Self.keyId(of: sealed) else { throw SealingError() }
        guard let key = keys[keyId] else { throw BodyKeyError(keyId: keyId, reason: "is not in this gateway's key folder") }
        let box = try AES.GCM.SealedBox(combined: sealed.dropFirst(Self.magic.count + 1 + keyId.utf8.count))
        return Array(try AES.GCM.open(box, using: SymmetricKey(data: key), authenticating: Array(messageId.uuidString.lowercased().utf8)))
    }

    /// The id of the key a body was sealed with.
    public static func keyId(of sealed: [UInt8]) -> String? {
        guard sealed.count > magic.count + 1, Array(sealed.prefix(magic.count)) == magic else { return nil }
        let length = Int(sealed[magic.count])
        guard sealed.count > magic.count + 1 + length else { return nil }
        let id = String(decoding: sealed[(magic.count + 1)..<(magic.count + 1 + length)], as: UTF8.self)
        return isValidID(id) ? id : nil
    }

    /// A new key file in `keyFolder` whose id sorts after every existing one; returns its id.
    public static func rotate(keyFolder: String, now: Date = Date()) throws -> String {
        try FileManager.default.createDirectory(atPath: keyFolder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        var id = formatter.string(from: now)
        let existing = ((try? FileManager.default.contentsOfDirectory(atPath: keyFolder)) ?? []).filter { $0.hasSuffix(".key") }.map { String($0.dropLast(4)) }
        if let last = existing.max(), last >= id { id = last + "-1" }
        var key = [UInt8](repeating: 0, count: 32)
        var generator = SystemRandomNumberGenerator()
        for index in key.indices { key[index] = generator.next() }
        let path = keyFolder + "/" + id + ".key"
        guard FileManager.default.createFile(atPath: path, contents: Data((key.hex + "\n").utf8), attributes: [.posixPermissions: 0o600]) else {
            throw BodyKeyError(keyId: id, reason: "cannot be written to \(keyFolder)")
        }
        return id
    }
}

/// A body could not be sealed or opened.
public struct SealingError: Error, Sendable {}

/// A body key is missing or unreadable; names the key, never its bytes.
public struct BodyKeyError: Error, Sendable, CustomStringConvertible {
    public let keyId: String
    public let reason: String
    public var description: String { "body key \(keyId) \(reason)" }
}
