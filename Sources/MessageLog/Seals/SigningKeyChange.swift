import Foundation
import PKI
import Schemas

/// A change of the log-signing key, as the log records it: an administrative entry written just before the first
/// seal under the new key, so that the change is itself covered by a seal and a verifier can tell a rotation from
/// a key slipped in by whoever controls the database.
///
/// The detail names both keys by fingerprint (`LogSigningTrust.keyFingerprint`) and carries the new certificate.
public enum SigningKeyChange {
    public static let operation = "log-signing-key"

    /// The entry announcing `signer`'s key in place of the key `previousPublicKeyPEM`.
    public static func draft(signer: SealSigner, previousPublicKeyPEM: String) -> EntryDraft {
        let detail = JSONObject([
            ("publicKey", .string(signer.keyFingerprint)),
            ("previousPublicKey", .string(LogSigningTrust.keyFingerprint(publicKeyPEM: previousPublicKeyPEM) ?? "")),
            ("certificate", .string(signer.certificatePEM)),
        ])
        let text = String(decoding: JSONWriter.data(.object(detail)), as: UTF8.self)
        return EntryDraft(
            messageId: UUID(), partner: nil, certificateFingerprint: nil, direction: .admin, contract: nil, operation: operation, purpose: nil,
            caseReference: nil, subjectReference: nil, status: 200, problemType: nil, requestDigest: sha256Hex(Array(text.utf8)), responseDigest: nil,
            detail: text)
    }

    /// The key an entry announces, if it is such an entry.
    public static func announcedKey(_ draft: EntryDraft) -> String? {
        announcedKey(direction: draft.direction, operation: draft.operation, detail: draft.detail)
    }

    static func announcedKey(direction: Direction?, operation: String?, detail: String?) -> String? {
        guard direction == .admin, operation == Self.operation, let detail,
            let object = try? JSONSerialization.jsonObject(with: Data(detail.utf8)) as? [String: Any], let key = object["publicKey"] as? String
        else { return nil }
        return key
    }
}
