@testable import Gateway
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
        let limiter = RateLimiter(clock: { 0 })
        #expect(limiter.admit(agreement: 1, limit: 1) == nil)
        #expect(limiter.admit(agreement: 1, limit: 1) == 60)
        #expect(limiter.admit(agreement: 2, limit: 1) == nil)
    }
}
