import Foundation
import Testing

@testable import MessageLog

/// Bodies at rest under rotating keys: each sealed body names its key; new bodies use the newest key.
@Suite("Body keys")
struct BodySealerTests {
    let secret = Array(String(repeating: "ab", count: 32).utf8)

    @Test("A body sealed before a rotation opens after it; new bodies use the new key; a gateway without that key cannot open them")
    func rotation() throws {
        let folder = NSTemporaryDirectory() + "jisr-body-keys-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let messageId = UUID()
        let before = BodySealer(secret: secret)
        let old = try before.seal(Array("before".utf8), messageId: messageId)
        #expect(BodySealer.keyId(of: old) == BodySealer.derivedKeyId)

        let first = try BodySealer.rotate(keyFolder: folder, now: Date(timeIntervalSince1970: 1_800_000_000))
        let second = try BodySealer.rotate(keyFolder: folder, now: Date(timeIntervalSince1970: 1_800_000_000))
        #expect(second > first, "a second rotation in the same second still sorts last")
        let after = try BodySealer(secret: secret, keyFolder: folder)
        #expect(after.currentKeyId == second)
        #expect(try after.open(old, messageId: messageId) == Array("before".utf8), "older bodies stay readable")
        let new = try after.seal(Array("after".utf8), messageId: messageId)
        #expect(BodySealer.keyId(of: new) == second)
        #expect(try after.open(new, messageId: messageId) == Array("after".utf8))
        #expect(throws: BodyKeyError.self) { try before.open(new, messageId: messageId) }
        #expect(throws: (any Error).self) { try after.open(new, messageId: UUID()) }
        var tampered = new
        tampered[tampered.count - 1] ^= 0x01
        #expect(throws: (any Error).self) { try after.open(tampered, messageId: messageId) }
        let permissions = try FileManager.default.attributesOfItem(atPath: folder + "/\(second).key")[.posixPermissions] as? Int
        #expect(permissions == 0o600)
    }
}
