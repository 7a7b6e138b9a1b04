import Foundation
import Registry
import Synchronization

/// A token bucket: `limit` requests a minute, refilled continuously, bursts up to `limit`.
///
/// Pure state, advanced by the caller's clock, so it is tested without waiting.
struct TokenBucket: Sendable, Hashable {
    let limit: Int
    private(set) var tokens: Double
    private(set) var updated: Double

    init(limit: Int, now: Double) {
        self.limit = limit
        self.tokens = Double(limit)
        self.updated = now
    }

    /// Takes a token if there is one; otherwise the seconds until there will be.
    mutating func take(now: Double) -> Int? {
        let rate = Double(limit) / 60
        tokens = min(Double(limit), tokens + max(0, now - updated) * rate)
        updated = now
        if tokens >= 1 {
            tokens -= 1
            return nil
        }
        return max(1, Int(((1 - tokens) / rate).rounded(.up)))
    }

    /// Whether the bucket would be full by `now`: forgetting it changes nothing.
    func isFull(now: Double) -> Bool { tokens + max(0, now - updated) * Double(limit) / 60 >= Double(limit) }
}

/// Enforces rate limits, one bucket per key (an agreement, a client certificate), in this process.
///
/// Several Jisr processes behind a load balancer each enforce the full limit; the README says so.
final class RateLimiter<Key: Hashable & Sendable>: Sendable {
    private struct State: Sendable {
        var buckets: [Key: TokenBucket] = [:]
        /// Keys whose last request was refused: only the first refusal of such a run is worth a log entry.
        var refusing: Set<Key> = []
    }

    private let state = Mutex(State())
    private let clock: @Sendable () -> Double
    /// Past this many buckets, full ones (keys idle for a minute) are dropped: they would start full again anyway.
    private let pruneAbove: Int

    init(pruneAbove: Int = 10_000, clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }) {
        self.pruneAbove = pruneAbove
        self.clock = clock
    }

    /// How many buckets are held.
    var count: Int { state.withLock { $0.buckets.count } }

    /// nil when the request may proceed, else the seconds to wait (for `Retry-After`).
    func admit(_ key: Key, limit: Int) -> Int? { check(key, limit: limit)?.wait }

    /// Like `admit`, and says whether a refusal is the first since this key was last admitted.
    func check(_ key: Key, limit: Int) -> (wait: Int, first: Bool)? {
        let now = clock()
        return state.withLock { state in
            var bucket = state.buckets[key].flatMap { $0.limit == limit ? $0 : nil } ?? TokenBucket(limit: limit, now: now)
            let wait = bucket.take(now: now)
            state.buckets[key] = bucket
            if state.buckets.count > pruneAbove {
                state.buckets = state.buckets.filter { !$0.value.isFull(now: now) || $0.key == key }
                state.refusing = state.refusing.filter { state.buckets[$0] != nil }
            }
            guard let wait else {
                state.refusing.remove(key)
                return nil
            }
            return (wait, state.refusing.insert(key).inserted)
        }
    }
}

/// The per-certificate limits, checked before anything else an exchange does: one bucket per client certificate.
final class CertificateLimits: Sendable {
    /// Requests a minute of a certificate registered to an active partner, and of any other certificate that completed
    /// the handshake (all of them refusals); nil: none. SIGHUP may change both.
    private let limits: Mutex<(partner: Int?, refused: Int?)>
    let limiter = RateLimiter<String>()

    init(partner: Int?, refused: Int?) { limits = Mutex((partner, refused)) }

    var partner: Int? { limits.withLock { $0.partner } }
    var refused: Int? { limits.withLock { $0.refused } }

    func set(partner: Int?, refused: Int?) { limits.withLock { $0 = (partner, refused) } }

    /// How many refused certificates' limits the overall budget of refusals holds.
    static let refusedOverall = 10

    /// The refusal when `caller` is past its limit, and whether it is the first of this run (the one logged).
    ///
    /// A refused certificate (one registered to no active partner) is counted three times: as itself, as one of its
    /// issuer's (whoever holds a trusted CA can mint a certificate per request) and in one budget for all refusals,
    /// so no number of certificates grows the log faster than the issuer's limit, or ten limits in all.
    func check(_ caller: Caller) -> (problem: Problem, first: Bool)? {
        let active = if case .partner(_, _) = caller.resolution { true } else { false }
        guard let limit = active ? partner : refused else { return nil }
        // The widest bucket first: a certificate minted afresh must not find a full bucket of its own (and a first
        // refusal to log) while its issuer's is empty.
        let buckets: [(String, Int)] =
            active
            ? [("certificate " + caller.fingerprint, limit)]
            : [("refusals", limit * Self.refusedOverall), ("issuer " + caller.issuer, limit), ("certificate " + caller.fingerprint, limit)]
        for (key, bound) in buckets {
            if let (wait, first) = limiter.check(key, limit: bound) { return (Problem.certificateRateLimited(retryAfter: wait, limit: bound), first) }
        }
        return nil
    }
}

extension Caller {
    /// The partner the certificate belongs to, active or not; nil for one registered to nobody.
    var partnerID: String? {
        switch resolution {
        case .partner(let partner, _): partner.id
        case .unregistered: nil
        case .certificateRevoked(let id), .partnerNotActive(let id, _): id
        }
    }
}
