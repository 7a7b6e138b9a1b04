import Foundation
import PKI

/// What a verifier asks of the seals' RFC 3161 timestamps: a valid token from a TSA it trusts on every seal older
/// than the grace period (a missing token there is a finding, not a skip); a younger seal may still be waiting.
public struct TimestampRequirement: Sendable {
    public let rootsPEM: [String]
    public let grace: TimeInterval
    public let now: Date

    public init(rootsPEM: [String], grace: TimeInterval = 3600, now: Date = Date()) {
        self.rootsPEM = rootsPEM
        self.grace = grace
        self.now = now
    }

    /// Whether a seal made at `time` should carry its token by now.
    public func isOverdue(_ time: Date) -> Bool { now.timeIntervalSince(time) > grace }

    /// Why a seal's timestamp does not hold (nil: it holds, or it may still come); `awaited` is set for a young seal
    /// without a token.
    public func refusal(treeHead: TreeHead, token: [UInt8]?, awaited: inout Bool) async -> String? {
        guard let token else {
            if isOverdue(treeHead.time) {
                return "it has no timestamp token, and it was signed at \(TreeHead.format(treeHead.timeMilliseconds)), longer ago than the grace period of \(Int(grace)) s"
            }
            awaited = true
            return nil
        }
        do {
            try await TimestampToken(der: token).verify(stamping: treeHead.signedBytes, trustedRootsPEM: rootsPEM)
            return nil
        } catch {
            return "its timestamp: \(error)"
        }
    }
}
