@testable import Gateway
import Synchronization
import Testing

/// The token bucket behind agreements' rate limits, advanced by a fake clock.
@Suite("Rate limits")
struct RateLimitTests {
    @Test("A bucket admits its limit at once, then one request per 60/limit seconds")
    func tokenBucket() {
        var bucket = TokenBucket(limit: 6, now: 0)
        for _ in 0..<6 { #expect(bucket.take(now: 0) == nil) }
        #expect(bucket.take(now: 0) == 10, "6 a minute: the next token comes in 10 s")
        #expect(bucket.take(now: 5) == 5)
        #expect(bucket.take(now: 10) == nil)
        #expect(bucket.take(now: 10) == 10)
        #expect(bucket.take(now: 1_000) == nil, "an idle bucket refills, up to its limit")
        for _ in 0..<5 { #expect(bucket.take(now: 1_000) == nil) }
        #expect(bucket.take(now: 1_000) != nil)
    }

    @Test("Agreements have their own buckets")
    func perAgreement() {
        let limiter = RateLimiter<Int64>(clock: { 0 })
        #expect(limiter.admit(1, limit: 1) == nil)
        #expect(limiter.admit(1, limit: 1) == 60)
        #expect(limiter.admit(2, limit: 1) == nil)
    }

    @Test("Only the first refusal of a run says so; an admitted request ends the run")
    func refusalRuns() {
        let now = Mutex(0.0)
        let limiter = RateLimiter<String>(clock: { now.withLock { $0 } })
        #expect(limiter.check("a", limit: 2) == nil)
        #expect(limiter.check("a", limit: 2) == nil)
        #expect(limiter.check("a", limit: 2)?.first == true)
        #expect(limiter.check("a", limit: 2)?.first == false)
        #expect(limiter.check("b", limit: 2) == nil, "another certificate has its own bucket")
        now.withLock { $0 = 30 }
        #expect(limiter.check("a", limit: 2) == nil, "a token came back in 30 s")
        #expect(limiter.check("a", limit: 2)?.first == true, "a new run")
    }

    @Test("Idle buckets are forgotten once there are many: the table stays bounded")
    func pruned() {
        let now = Mutex(0.0)
        let limiter = RateLimiter<Int>(pruneAbove: 10, clock: { now.withLock { $0 } })
        for key in 0..<10 { #expect(limiter.admit(key, limit: 60) == nil) }
        now.withLock { $0 = 120 }
        for key in 10..<20 { #expect(limiter.admit(key, limit: 60) == nil) }
        #expect(limiter.count <= 11)
    }
}
