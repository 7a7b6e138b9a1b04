import Foundation
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
}

/// Enforces agreements' rate limits, one bucket per agreement, in this process.
///
/// Several Jisr processes behind a load balancer each enforce the full limit; the README says so.
final class RateLimiter: Sendable {
    private let buckets = Mutex<[Int64: TokenBucket]>([:])
    private let clock: @Sendable () -> Double

    init(clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }) {
        self.clock = clock
    }

    /// nil when the request may proceed, else the seconds to wait (for `Retry-After`).
    func admit(agreement: Int64, limit: Int) -> Int? {
        let now = clock()
        return buckets.withLock { buckets in
            var bucket = buckets[agreement].flatMap { $0.limit == limit ? $0 : nil } ?? TokenBucket(limit: limit, now: now)
            let wait = bucket.take(now: now)
            buckets[agreement] = bucket
            return wait
        }
    }
}
