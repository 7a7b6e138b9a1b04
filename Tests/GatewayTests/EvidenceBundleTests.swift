import Crypto
import Evidence
import Foundation
import Gateway
import MessageLog
import PKI
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
        let verified = try await JisrCLI.run(["log", "verify", "--pki", fixture.directory + "/pki", "--bundle", bundle, "--tsa-root", tsa.root])
        #expect(verified.status == 0, "\(verified.output)")
        var expected: Int64 = 0
        for count in try await fixture.store.query("SELECT count(*) FROM message_log WHERE partner = 'LB-NSSF'").decode(Int64.self) { expected = count }
        let counts = try #require(verified.output.firstMatch(of: /OK: ([0-9]+) entries, ([0-9]+) seals, ([0-9]+) RFC 3161 timestamps verified offline/))
        #expect(Int64(counts.1) == expected, "exactly LB-NSSF's entries: \(verified.output)")
        #expect(counts.2 == counts.3, "every seal in the bundle is timestamped")
        let ca = try String(contentsOfFile: fixture.directory + "/ca.crt", encoding: .utf8)
        #expect(verified.output.contains(try await PKICertificateFingerprint.of(pem: ca)), "the CA fingerprint is printed for comparison")

        // The check `jisr log export` prints works as printed, from another folder.
        let again = try await JisrCLI.run([
            "log", "export", "--from", "1", "--to", "1", "--out", fixture.directory + "/bundle-printed", "--tsa-root", tsa.root,
            "--pki", fixture.directory + "/pki", "--database-url", fixture.databaseURL,
        ])
        let printed = try #require(again.output.components(separatedBy: "check it with: ").last?.split(separator: "\n").first, "\(again.output)")
        #expect(again.output.contains("1 entry and 1 seal") || again.output.contains("1 entry and"), "\(again.output)")
        let run = try await JisrCLI.runProgram("/bin/sh", ["-c", "cd / && " + printed])
        #expect(run.status == 0 && run.output.contains("OK: "), "\(printed): \(run.output)")

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
        Alteration(
            name: "the signing key", file: { try first(#"seals/[0-9]+/log-signing\.pub"#, in: $0) },
            alter: { _ in Array(P256.Signing.PrivateKey().publicKey.pemRepresentation.utf8) }, named: "log-signing.pub"),
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

        let trust = try await Self.trust()
        let timestamps = TimestampRequirement(rootsPEM: [root])
        let caught = await #expect(throws: EvidenceError.self) { try await EvidenceBundle.verify(directory: copy, trust: trust, timestamps: timestamps) }
        #expect(caught?.item == file && caught?.reason.contains("changed after the export") == true, "\(String(describing: caught))")

        // Whoever alters the bundle can rewrite its manifest too: the item's own check still fails.
        let manifestURL = URL(fileURLWithPath: copy + "/manifest.json")
        var manifest = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: manifestURL)) as? [String: Any])
        var files = try #require(manifest["files"] as? [String: String])
        files[file] = SHA256.hash(data: changed).map { String(format: "%02x", $0) }.joined()
        manifest["files"] = files
        try JSONSerialization.data(withJSONObject: manifest).write(to: manifestURL)
        let deeper = await #expect(throws: EvidenceError.self) { try await EvidenceBundle.verify(directory: copy, trust: trust, timestamps: timestamps) }
        #expect(deeper?.item.contains(alteration.named) == true, "\(String(describing: deeper))")
    }

    /// The ministry's CA, as a partner holds it from onboarding.
    static func trust() async throws -> LogSigningTrust {
        let (fixture, _, _) = try await setup.value
        return try LogSigningTrust.authority(rootsPEM: [try String(contentsOfFile: fixture.directory + "/ca.crt", encoding: .utf8)])
    }

    /// A copy of the bundle changed by `change`, with its manifest rewritten to match, as whoever forges it would.
    static func rewrittenCopy(of bundle: String, _ change: (String) throws -> Void) throws -> String {
        let copy = NSTemporaryDirectory() + "jisr-bundle-\(UUID().uuidString)"
        try FileManager.default.copyItem(atPath: bundle, toPath: copy)
        try change(copy)
        let manifestURL = URL(fileURLWithPath: copy + "/manifest.json")
        var manifest = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: manifestURL)) as? [String: Any])
        var files: [String: String] = [:]
        for name in FileManager.default.enumerator(atPath: copy)?.compactMap({ $0 as? String }) ?? [] where name != "manifest.json" {
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: copy + "/" + name, isDirectory: &isFolder), !isFolder.boolValue else { continue }
            files[name] = SHA256.hash(data: try Data(contentsOf: URL(fileURLWithPath: copy + "/" + name))).map { String(format: "%02x", $0) }.joined()
        }
        manifest["files"] = files
        try JSONSerialization.data(withJSONObject: manifest).write(to: manifestURL)
        return copy
    }

    /// Every tree head of the bundle at `copy` signed again by `signer`, its key and certificate put beside it.
    static func resign(_ copy: String, with signer: SealSigner) throws {
        for size in try FileManager.default.contentsOfDirectory(atPath: copy + "/seals") {
            let folder = copy + "/seals/" + size + "/"
            let head = try #require(TreeHead(signedText: try String(contentsOfFile: folder + "tree-head.txt", encoding: .utf8)))
            try Data(try signer.seal(head).signature).write(to: URL(fileURLWithPath: folder + "tree-head.sig"))
            try signer.certificatePEM.write(toFile: folder + "log-signing.crt", atomically: true, encoding: .utf8)
            try signer.publicKeyPEM.write(toFile: folder + "log-signing.pub", atomically: true, encoding: .utf8)
        }
    }

    @Test("Seals re-signed with a key of another CA, or with a partner's certificate key, are refused; a pinned key is trusted exactly")
    func trustFromOutside() async throws {
        let (fixture, tsa, bundle) = try await Self.setup.value
        let trust = try await Self.trust()
        let seals = try FileManager.default.contentsOfDirectory(atPath: bundle + "/seals")

        // Whoever controls the bundle (or the database) re-signs every tree head with a key and CA of their own.
        let rogue = try CertificateAuthority.create(commonName: "Jisr test partner CA")
        let forged = try Self.rewrittenCopy(of: bundle) { copy in
            let credential = try rogue.issueLogSigner()
            let signer = try SealSigner(keyPEM: try credential.privateKeyPEM, certificatePEM: try credential.certificatePEM + (try rogue.credential.certificatePEM))
            try Self.resign(copy, with: signer)
        }
        defer { try? FileManager.default.removeItem(atPath: forged) }
        let refused = await #expect(throws: EvidenceError.self) { try await EvidenceBundle.verify(directory: forged, trust: trust, timestamps: nil) }
        #expect(refused?.item.hasSuffix("log-signing.pub") == true && refused?.reason.contains("not signed by a trusted log-signing key") == true, "\(String(describing: refused))")
        let cli = try await JisrCLI.run(["log", "verify", "--pki", fixture.directory + "/pki", "--bundle", forged])
        #expect(cli.status == 1 && cli.output.contains("BROKEN") && cli.output.contains("trusted log-signing key"), "\(cli.output)")

        // The same with a partner's TLS certificate from the ministry's own CA: a log-signing certificate it is not.
        let authority = try CertificateAuthority(
            certificatePEM: try String(contentsOfFile: fixture.directory + "/ca.crt", encoding: .utf8),
            privateKeyPEM: try String(contentsOfFile: fixture.directory + "/ca.key", encoding: .utf8))
        let partnerKey = try Self.rewrittenCopy(of: bundle) { copy in
            let credential = try authority.issueClient(partnerID: "LB-NSSF", organization: "NSSF", country: "LB")
            let signer = try SealSigner(keyPEM: try credential.privateKeyPEM, certificatePEM: try credential.certificatePEM + (try authority.credential.certificatePEM))
            try Self.resign(copy, with: signer)
        }
        defer { try? FileManager.default.removeItem(atPath: partnerKey) }
        let notASigner = await #expect(throws: EvidenceError.self) { try await EvidenceBundle.verify(directory: partnerKey, trust: trust, timestamps: nil) }
        #expect(notASigner?.reason.contains("not signed by a trusted log-signing key") == true, "\(String(describing: notASigner))")

        // Pinned: the real key verifies, another key does not.
        let publicKey = try String(contentsOfFile: bundle + "/seals/" + seals[0] + "/log-signing.pub", encoding: .utf8)
        let fingerprint = try #require(LogSigningTrust.keyFingerprint(publicKeyPEM: publicKey))
        let openssl = try await JisrCLI.runProgram("/bin/sh", ["-c", "openssl pkey -pubin -in '\(bundle)/seals/\(seals[0])/log-signing.pub' -outform DER | sha256sum"])
        #expect(openssl.output.hasPrefix(fingerprint), "the fingerprint is OpenSSL's: \(openssl.output)")
        let pinned = try await JisrCLI.run(["log", "verify", "--signing-key", fingerprint, "--bundle", bundle, "--tsa-root", tsa.root])
        #expect(pinned.status == 0, "\(pinned.output)")
        let other = try #require(LogSigningTrust.keyFingerprint(publicKeyPEM: P256.Signing.PrivateKey().publicKey.pemRepresentation))
        let wrongPin = try await JisrCLI.run(["log", "verify", "--signing-key", other, "--bundle", bundle])
        #expect(wrongPin.status == 1 && wrongPin.output.contains("not pinned"), "\(wrongPin.output)")
    }

    @Test("With a TSA root, a seal past the grace period without its token is a finding; within it, it is awaited")
    func missingTimestamps() async throws {
        let (fixture, tsa, bundle) = try await Self.setup.value
        let unstamped = try Self.rewrittenCopy(of: bundle) { copy in
            for size in try FileManager.default.contentsOfDirectory(atPath: copy + "/seals") {
                try FileManager.default.removeItem(atPath: copy + "/seals/" + size + "/tree-head.tsr")
            }
        }
        defer { try? FileManager.default.removeItem(atPath: unstamped) }
        let root = try String(contentsOfFile: tsa.root, encoding: .utf8)
        let trust = try await Self.trust()
        let overdue = await #expect(throws: EvidenceError.self) {
            try await EvidenceBundle.verify(directory: unstamped, trust: trust, timestamps: TimestampRequirement(rootsPEM: [root], grace: 0))
        }
        #expect(overdue?.item.hasSuffix("tree-head.tsr") == true && overdue?.reason.contains("no timestamp token") == true, "\(String(describing: overdue))")
        let cli = try await JisrCLI.run(["log", "verify", "--pki", fixture.directory + "/pki", "--bundle", unstamped, "--tsa-root", tsa.root, "--timestamp-grace-seconds", "0"])
        #expect(cli.status == 1 && cli.output.contains("no timestamp token"), "\(cli.output)")
        let young = try await EvidenceBundle.verify(directory: unstamped, trust: trust, timestamps: TimestampRequirement(rootsPEM: [root], grace: 3600))
        #expect(young.timestamps == 0 && young.timestampsAwaited == young.seals)
    }
}

/// The SHA-256 fingerprint of a PEM certificate, as `jisr log verify --bundle` prints the CA's.
enum PKICertificateFingerprint {
    static func of(pem: String) async throws -> String {
        let result = try await JisrCLI.runProgram("/bin/sh", ["-c", "printf '%s' \"$0\" | openssl x509 -outform DER | sha256sum", pem])
        return String(result.output.prefix(64))
    }
}
