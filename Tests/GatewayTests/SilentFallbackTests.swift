import Foundation
import Gateway
import MessageLog
import PKI
import Testing

/// No silent fallback: what the gateway cannot do as configured is said (an error or a warning), never replaced by
/// something weaker without a word.
@Suite("No silent fallback")
struct SilentFallbackTests {
    @Test("A body-key folder that cannot be read is an error; one that does not exist yet holds no key")
    func unreadableBodyKeyFolder() throws {
        let directory = NSTemporaryDirectory() + "jisr-body-keys-\(getpid())-\(UInt32.random(in: 0..<UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let secret = [UInt8](repeating: 7, count: 32)
        // A file where the folder should be: not readable as a folder (root reads any folder, whatever its mode).
        _ = FileManager.default.createFile(atPath: directory + "/not-a-folder", contents: Data("x".utf8))
        #expect(throws: BodyKeyError.self) { try BodySealer(secret: secret, keyFolder: directory + "/not-a-folder") }
        let fresh = try BodySealer(secret: secret, keyFolder: directory + "/none-yet")
        #expect(fresh.keyIds == [BodySealer.derivedKeyId])
    }

    @Test("A secret readable by others — a private key, the database password — is refused, naming the file and the mode")
    func secretsAreTheirOwnersAlone() throws {
        let path = NSTemporaryDirectory() + "jisr-secret-\(getpid())-\(UInt32.random(in: 0..<UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: path) }
        _ = FileManager.default.createFile(atPath: path, contents: Data("secret\n".utf8), attributes: [.posixPermissions: 0o644])
        #expect(throws: ConfigurationError.self) { try SecretFile.checkPrivate(path, "the database password file") }
        do { try SecretFile.checkPrivate(path, "the database password file") } catch {
            #expect("\(error)".contains("mode 644") && "\(error)".contains(path))
        }
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
        try SecretFile.checkPrivate(path, "the database password file")
    }

    @Test("A trusted CA that cannot be read is named, not dropped in silence")
    func unreadableCA() throws {
        let good = try CertificateAuthority.create(commonName: "Readable CA").credential.certificatePEM
        var unreadable: [(Int, String)] = []
        _ = TrustStore(pems: [good, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "not a PEM at all"]) { unreadable.append(($0, $1)) }
        #expect(unreadable.map(\.0) == [1, 2], "\(unreadable)")
    }

    @Test("A problem given a detail keeps its Allow, its Retry-After and its violations")
    func detailKeepsTheRest() {
        let refused = Problem.methodNotAllowed(allow: ["GET", "HEAD"]).with(detail: "this resource is read-only")
        #expect(refused.allow == ["GET", "HEAD"] && refused.detail == "this resource is read-only" && refused.status == 405)
        let limited = Problem.rateLimited(retryAfter: 12, limit: 5).with(detail: "again")
        #expect(limited.retryAfter == 12)
    }
}
