import Crypto
import Evidence
import Foundation
import Gateway
import MessageLog
import Records
import Storage
import Testing

/// `jisr log export` writes evidence that stands outside Jisr: checked offline by `jisr log verify --bundle`,
/// by hand with the README's OpenSSL commands, and refused when any item is altered.
@Suite("Evidence bundles", .serialized)
struct EvidenceBundleTests {
    static let setup = Task { () throws -> (Fixture, TestTSA, String) in
        let tsa = try await TestTSA(directory: NSTemporaryDirectory() + "jisr-test-bundle-tsa-\(getpid())")
        var sealing = SealerConfiguration()
        sealing.everyEntries = 1_000_000
        sealing.every = .seconds(3600)
        sealing.checkInterval = .milliseconds(100)
        let fixture = try await Fixture.make("bundles", sealing: sealing, timestamping: TimestampingConfiguration(url: tsa.url, trustedRootPaths: [tsa.root]))
        let store = SealStore(database: fixture.store, logger: Fixture.quiet)
        let path = "/v1/establishments/\(fixture.samples.establishmentNumbers.first ?? "")"
        for round in 0..<2 {
            for caller in ["LB-NSSF", "LB-NSSF", "LB-FLIP"] { _ = try await fixture.get(path, as: caller) }
            let sealed = try await JisrCLI.run(["log", "seal", "--pki", fixture.directory + "/pki", "--database-url", fixture.databaseURL])
            guard sealed.status == 0, let size = sealed.output.firstMatch(of: /sealed ([0-9]+) entries/).flatMap({ Int64($0.1) }) else {
                throw FixtureError("seal \(round): \(sealed.output)")
            }
            let deadline = ContinuousClock.now + .seconds(15)
            while try await store.seal(size: size)?.timestampToken == nil, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(100)) }
        }
        let head = try await store.head()
        let out = fixture.directory + "/bundle"
        let exported = try await JisrCLI.run([
            "log", "export", "--from", "1", "--to", String(head), "--partner", "LB-NSSF", "--out", out, "--tsa-root", tsa.root, "--database-url", fixture.databaseURL,
        ])
        guard exported.status == 0 else { throw FixtureError("export: \(exported.output)") }
        return (fixture, tsa, out)
    }

    @Test("The bundle verifies offline; its README's OpenSSL commands succeed as written")
    func verifiesOffline() async throws {
        let (fixture, tsa, bundle) = try await Self.setup.value
        let verified = try await JisrCLI.run(["log", "verify", "--bundle", bundle, "--tsa-root", tsa.root])
        #expect(verified.status == 0, "\(verified.output)")
        var expected: Int64 = 0
        for count in try await fixture.store.query("SELECT count(*) FROM message_log WHERE partner = 'LB-NSSF'").decode(Int64.self) { expected = count }
        let counts = try #require(verified.output.firstMatch(of: /OK: ([0-9]+) entries, ([0-9]+) seals, ([0-9]+) RFC 3161 timestamps verified offline/))
        #expect(Int64(counts.1) == expected, "exactly LB-NSSF's entries: \(verified.output)")
        #expect(counts.2 == counts.3, "every seal in the bundle is timestamped")
        let ca = try String(contentsOfFile: fixture.directory + "/ca.crt", encoding: .utf8)
        #expect(verified.output.contains(try await PKICertificateFingerprint.of(pem: ca)), "the CA fingerprint is printed for comparison")

        // Every openssl command the README lists, run in the bundle as a partner would (with the ministry's CA at hand).
        try FileManager.default.copyItem(atPath: fixture.directory + "/ca.crt", toPath: bundle + "/ministry-ca.crt")
        let readme = try String(contentsOfFile: bundle + "/README.md", encoding: .utf8)
        let commands = readme.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { $0.hasPrefix("openssl ") }
        #expect(commands.count >= 5)
        for command in commands {
            let result = try await JisrCLI.runProgram("/bin/sh", ["-c", "cd '\(bundle)' && \(command)"])
            #expect(result.status == 0, "\(command): \(result.output)")
            if command.contains("dgst") { #expect(result.output.contains("Verified OK")) }
            if command.contains("ts -verify") { #expect(result.output.contains("Verification: OK")) }
        }
    }

    /// One kind of item, how to alter one byte of it, and the item verification must name.
    struct Alteration: CustomTestStringConvertible, Sendable {
        let name: String
        let file: @Sendable (String) throws -> String
        let alter: @Sendable ([UInt8]) -> [UInt8]
        let named: String
        var testDescription: String { name }
    }

    static func first(_ pattern: String, in bundle: String) throws -> String {
        let files = FileManager.default.enumerator(atPath: bundle)?.compactMap { $0 as? String } ?? []
        guard let found = files.sorted().first(where: { $0.wholeMatch(of: try! Regex(pattern)) != nil }) else { throw FixtureError("no \(pattern) in the bundle") }
        return found
    }

    /// Flips one hex digit after `marker` (a byte of a hash, kept valid JSON or text).
    static func flipHex(after marker: String) -> @Sendable ([UInt8]) -> [UInt8] {
        { bytes in
            var copy = bytes
            let text = String(decoding: bytes, as: UTF8.self)
            guard let range = text.range(of: marker) else { return copy }
            var index = text.utf8.distance(from: text.startIndex, to: range.upperBound)
            while index < copy.count, !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(copy[index]) && !(UInt8(ascii: "a")...UInt8(ascii: "f")).contains(copy[index]) {
                index += 1
            }
            copy[index] = copy[index] == UInt8(ascii: "0") ? UInt8(ascii: "1") : UInt8(ascii: "0")
            return copy
        }
    }

    static let alterations: [Alteration] = [
        Alteration(name: "an entry", file: { _ in "entries.jsonl" }, alter: flipHex(after: "\"requestDigest\":\""), named: "entries.jsonl (line 1)"),
        Alteration(name: "a tree head", file: { try first(#"seals/[0-9]+/tree-head\.txt"#, in: $0) }, alter: flipHex(after: "root: "), named: "tree-head"),
        Alteration(
            name: "a seal's signature", file: { try first(#"seals/[0-9]+/tree-head\.sig"#, in: $0) },
            alter: { var copy = $0; copy[copy.count - 5] ^= 0x01; return copy }, named: "tree-head.sig"),
        Alteration(
            name: "a timestamp token", file: { try first(#"seals/[0-9]+/tree-head\.tsr"#, in: $0) },
            alter: { var copy = $0; copy[copy.count - 20] ^= 0x01; return copy }, named: "tree-head.tsr"),
        Alteration(name: "an inclusion proof", file: { try first(#"proofs/inclusion/[0-9]+\.json"#, in: $0) }, alter: flipHex(after: "\"path\":[\""), named: "proofs/inclusion/"),
        Alteration(name: "a consistency proof", file: { try first(#"proofs/consistency/.*\.json"#, in: $0) }, alter: flipHex(after: "\"path\":[\""), named: "proofs/consistency/"),
        Alteration(name: "the signing key", file: { _ in "certificates/log-signing.pub" }, alter: { _ in Array(P256.Signing.PrivateKey().publicKey.pemRepresentation.utf8) }, named: "certificates/log-signing.pub"),
    ]

    @Test("Altering one byte of any item fails verification and names it — also when the manifest is rewritten to match", arguments: alterations)
    func altered(_ alteration: Alteration) async throws {
        let (_, tsa, bundle) = try await Self.setup.value
        let root = try String(contentsOfFile: tsa.root, encoding: .utf8)
        let copy = NSTemporaryDirectory() + "jisr-bundle-\(UUID().uuidString)"
        try FileManager.default.copyItem(atPath: bundle, toPath: copy)
        defer { try? FileManager.default.removeItem(atPath: copy) }
        let file = try alteration.file(copy)
        let original = Array(try Data(contentsOf: URL(fileURLWithPath: copy + "/" + file)))
        let changed = alteration.alter(original)
        #expect(changed != original)
        try Data(changed).write(to: URL(fileURLWithPath: copy + "/" + file))

        let caught = await #expect(throws: EvidenceError.self) { try await EvidenceBundle.verify(directory: copy, tsaRootsPEM: [root]) }
        #expect(caught?.item == file && caught?.reason.contains("changed after the export") == true, "\(String(describing: caught))")

        // Whoever alters the bundle can rewrite its manifest too: the item's own check still fails.
        let manifestURL = URL(fileURLWithPath: copy + "/manifest.json")
        var manifest = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: manifestURL)) as? [String: Any])
        var files = try #require(manifest["files"] as? [String: String])
        files[file] = SHA256.hash(data: changed).map { String(format: "%02x", $0) }.joined()
        manifest["files"] = files
        try JSONSerialization.data(withJSONObject: manifest).write(to: manifestURL)
        let deeper = await #expect(throws: EvidenceError.self) { try await EvidenceBundle.verify(directory: copy, tsaRootsPEM: [root]) }
        #expect(deeper?.item.contains(alteration.named) == true, "\(String(describing: deeper))")
    }
}

/// The SHA-256 fingerprint of a PEM certificate, as `jisr log verify --bundle` prints the CA's.
enum PKICertificateFingerprint {
    static func of(pem: String) async throws -> String {
        let result = try await JisrCLI.runProgram("/bin/sh", ["-c", "printf '%s' \"$0\" | openssl x509 -outform DER | sha256sum", pem])
        return String(result.output.prefix(64))
    }
}
