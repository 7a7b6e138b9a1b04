/// Who performs an administrative action, as the audit entry records it.
public struct Administrator: Sendable, Hashable {
    /// SHA-256 fingerprint of the administrator's certificate (admin API, or `--admin-cert` on the CLI).
    public let fingerprint: String?
    /// A readable name: the certificate's subject, or `cli:USER@HOST` for a local command without one.
    public let name: String

    public init(fingerprint: String?, name: String) {
        self.fingerprint = fingerprint
        self.name = name
    }
}
