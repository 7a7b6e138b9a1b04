import Crypto
import Foundation
import MessageLog
import SwiftASN1
import X509

/// A JWS (RFC 7515) with detached content (its Appendix F): `header..signature`, signed with the log-signing key
/// (ES256) over the report's bytes exactly as written, whatever their format.
///
/// Detached JWS rather than CMS: it signs the file as it is (JSON, XML or HTML) with no canonical form to agree
/// on, any JOSE library checks it, and the header carries the certificate (`x5c`) the verifier then checks
/// against the CA it trusts, as for seals.
public enum DetachedSignature {
    /// Why a signature does not hold.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public let reason: String
        public var description: String { reason }
    }

    /// What a valid signature was made with.
    public struct Signer: Sendable {
        public let publicKeyPEM: String
        public let certificatePEM: String
    }

    /// The compact serialisation with an empty payload part.
    public static func sign(_ payload: [UInt8], signer: SealSigner, contentType: String) throws -> String {
        let chain = try PEMDocument.parseMultiple(pemString: signer.certificatePEM).map { Data($0.derBytes).base64EncodedString() }
        let header = try JSONSerialization.data(
            withJSONObject: ["alg": "ES256", "cty": contentType, "kid": signer.keyFingerprint, "x5c": chain], options: [.sortedKeys, .withoutEscapingSlashes])
        let protected = base64URL(Array(header))
        let signature = try signer.sign(Array("\(protected).\(base64URL(payload))".utf8))
        return "\(protected)..\(base64URL(signature))"
    }

    /// Checks `jws` over `payload`; gives the key and certificate it was made with (to be checked against a trust).
    public static func verify(_ jws: String, payload: [UInt8]) throws -> Signer {
        let parts = jws.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[1].isEmpty, let headerBytes = unbase64URL(String(parts[0])), let signature = unbase64URL(String(parts[2])) else {
            throw Failure(reason: "is not a detached JWS (header..signature)")
        }
        guard let header = try? JSONSerialization.jsonObject(with: Data(headerBytes)) as? [String: Any], header["alg"] as? String == "ES256",
            let chain = header["x5c"] as? [String], let first = chain.first, let der = Data(base64Encoded: first)
        else { throw Failure(reason: "its header is not ES256 with the signer's certificate (x5c)") }
        let certificate: Certificate
        let key: P256.Signing.PublicKey
        do {
            certificate = try Certificate(derEncoded: Array(der))
            guard let p256 = P256.Signing.PublicKey(certificate.publicKey) else { throw Failure(reason: "the signer's key is not P-256") }
            key = p256
        } catch let failure as Failure { throw failure } catch { throw Failure(reason: "the signer's certificate (x5c) cannot be read") }
        guard signature.count == 64, let ecdsa = try? P256.Signing.ECDSASignature(rawRepresentation: signature),
            key.isValidSignature(ecdsa, for: Array("\(parts[0]).\(base64URL(payload))".utf8))
        else { throw Failure(reason: "the signature does not match the report: it was changed after it was signed") }
        let pems = chain.compactMap { Data(base64Encoded: $0) }.map { PEMDocument(type: "CERTIFICATE", derBytes: Array($0)).pemString }
        return Signer(publicKeyPEM: key.pemRepresentation, certificatePEM: pems.joined(separator: "\n") + "\n")
    }

    static func base64URL(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    static func unbase64URL(_ text: String) -> [UInt8]? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        return Data(base64Encoded: base64).map(Array.init)
    }
}
