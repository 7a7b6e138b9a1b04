import Crypto
import Foundation
import PKI
import Schemas

/// A signed statement of the log's size and Merkle root at a moment: what a seal commits to.
///
/// The signed bytes are a short UTF-8 text, so that `openssl dgst -sha256 -verify` checks a tree head by hand
/// and a timestamping authority can stamp exactly those bytes.
public struct TreeHead: Sendable, Hashable, Codable {
    public let size: Int64
    /// Hex SHA-256 Merkle root (RFC 6962) over the entry hashes of seq 1…size.
    public let rootHash: String
    /// Milliseconds since the Unix epoch.
    public let timeMilliseconds: Int64

    public init(size: Int64, rootHash: String, timeMilliseconds: Int64) {
        self.size = size
        self.rootHash = rootHash
        self.timeMilliseconds = timeMilliseconds
    }

    public var time: Date { Date(timeIntervalSince1970: Double(timeMilliseconds) / 1000) }

    public var signedText: String {
        "jisr-tree-head/1\nsize: \(size)\nroot: \(rootHash)\ntime: \(Self.format(timeMilliseconds))\n"
    }

    public var signedBytes: [UInt8] { Array(signedText.utf8) }

    /// Reads the signed text back (an evidence bundle holds only the text).
    public init?(signedText text: String) {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.count == 5, lines[0] == "jisr-tree-head/1", lines[4].isEmpty, lines[1].hasPrefix("size: "), lines[2].hasPrefix("root: "),
            lines[3].hasPrefix("time: "), let size = Int64(lines[1].dropFirst(6)), let time = Self.parse(String(lines[3].dropFirst(6)))
        else { return nil }
        let root = String(lines[2].dropFirst(6))
        guard root.count == 64, root.allSatisfy(\.isHexDigit) else { return nil }
        self.init(size: size, rootHash: root, timeMilliseconds: time)
        guard signedText == text else { return nil }
    }

    /// ISO 8601 in UTC with milliseconds, as tree heads write their time.
    public static func format(_ milliseconds: Int64) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: Date(timeIntervalSince1970: Double(milliseconds) / 1000))
    }

    /// Read without Foundation's formatter: a tree head may come from an evidence bundle, and ICU's parser can be
    /// crashed by a crafted fraction (see `RFC3339`).
    static func parse(_ text: String) -> Int64? {
        RFC3339.microseconds(text).map { $0 >= 0 ? $0 / 1000 : ($0 - 999) / 1000 }
    }
}

/// A seal as stored: the tree head, its signature, who signed, and (once the TSA answered) its timestamp.
public struct Seal: Sendable, Hashable {
    public let treeHead: TreeHead
    /// ECDSA P-256 over SHA-256 of `treeHead.signedBytes`, DER.
    public let signature: [UInt8]
    /// The signing key's public half (SPKI PEM), and its certificate chain (PEM), which leads to the gateway CA.
    public let publicKeyPEM: String
    public let certificatePEM: String
    /// The RFC 3161 timestamp token over the signed bytes, when the timestamping authority has answered.
    public var timestampToken: [UInt8]?

    public init(treeHead: TreeHead, signature: [UInt8], publicKeyPEM: String, certificatePEM: String, timestampToken: [UInt8]? = nil) {
        self.treeHead = treeHead
        self.signature = signature
        self.publicKeyPEM = publicKeyPEM
        self.certificatePEM = certificatePEM
        self.timestampToken = timestampToken
    }

    /// The signing key's fingerprint (`LogSigningTrust.keyFingerprint`); nil if the stored key is not a P-256 key.
    public var keyFingerprint: String? { LogSigningTrust.keyFingerprint(publicKeyPEM: publicKeyPEM) }

    /// Whether the signature is the stored key's over the tree head. That proves nothing by itself — whoever rewrites
    /// the log can sign with a key of their own —: `LogSigningTrust` says whether the key is one to believe.
    public var isSignatureValid: Bool {
        guard let key = try? P256.Signing.PublicKey(pemRepresentation: publicKeyPEM),
            let signature = try? P256.Signing.ECDSASignature(derRepresentation: signature)
        else { return false }
        return key.isValidSignature(signature, for: treeHead.signedBytes)
    }
}

/// The gateway's log-signing key (P-256) and its certificate chain.
public struct SealSigner: Sendable {
    // The key type is not Sendable; its raw scalar is, and rebuilding the key per seal costs nothing next to the tree.
    private let rawKey: [UInt8]
    public let certificatePEM: String
    public let publicKeyPEM: String

    public init(keyPEM: String, certificatePEM: String) throws {
        let key = try P256.Signing.PrivateKey(pemRepresentation: keyPEM)
        self.rawKey = Array(key.rawRepresentation)
        self.publicKeyPEM = key.publicKey.pemRepresentation
        self.certificatePEM = certificatePEM
        self.keyFingerprint = LogSigningTrust.keyFingerprint(publicKeyPEM: key.publicKey.pemRepresentation) ?? ""
    }

    /// SHA-256 of the public key's SubjectPublicKeyInfo, hex.
    public let keyFingerprint: String

    /// An ECDSA P-256 signature over SHA-256 of `bytes`, as JWS ES256 wants it: r and s, 32 bytes each.
    public func sign(_ bytes: [UInt8]) throws -> [UInt8] {
        Array(try P256.Signing.PrivateKey(rawRepresentation: rawKey).signature(for: bytes).rawRepresentation)
    }

    public func seal(_ head: TreeHead) throws -> Seal {
        let key = try P256.Signing.PrivateKey(rawRepresentation: rawKey)
        let signature = try key.signature(for: head.signedBytes).derRepresentation
        return Seal(treeHead: head, signature: Array(signature), publicKeyPEM: publicKeyPEM, certificatePEM: certificatePEM)
    }
}
