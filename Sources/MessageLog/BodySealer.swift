import Crypto
import Foundation

/// Encrypts message bodies kept at rest (outbox and inbox) with AES-256-GCM under a key derived from the
/// gateway's secret; the message id is bound as associated data, so a body cannot be moved to another row.
public struct BodySealer: Sendable {
    private let key: [UInt8]

    /// Derives the sealing key from `secret` (the subject key) with HKDF-SHA256, label `jisr outbox v1`.
    public init(secret: [UInt8]) {
        let derived = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: secret), info: Array("jisr outbox v1".utf8), outputByteCount: 32)
        self.key = derived.withUnsafeBytes { Array($0) }
    }

    public func seal(_ body: [UInt8], messageId: UUID) throws -> [UInt8] {
        let box = try AES.GCM.seal(body, using: SymmetricKey(data: key), authenticating: Array(messageId.uuidString.lowercased().utf8))
        guard let combined = box.combined else { throw SealingError() }
        return Array(combined)
    }

    public func open(_ sealed: [UInt8], messageId: UUID) throws -> [UInt8] {
        let box = try AES.GCM.SealedBox(combined: sealed)
        return Array(try AES.GCM.open(box, using: SymmetricKey(data: key), authenticating: Array(messageId.uuidString.lowercased().utf8)))
    }
}

/// A body could not be sealed.
public struct SealingError: Error, Sendable {}
