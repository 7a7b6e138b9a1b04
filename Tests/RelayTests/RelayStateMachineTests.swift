import Foundation
import Relay
import Testing

/// The outbound message lifecycle, tested without I/O.
@Suite("Relay state machine")
struct RelayStateMachineTests {
    let start = Date(timeIntervalSince1970: 1_800_000_000)
    var policy: RetryPolicy {
        var policy = RetryPolicy()
        policy.maximumAttempts = 3
        policy.initialBackoff = .seconds(2)
        policy.maximumBackoff = .seconds(10)
        return policy
    }

    @Test("Queued → in flight → delivered")
    func happyPath() {
        var machine = RelayStateMachine(createdAt: start)
        #expect(machine.handle(.claimed, policy: policy, now: start, random: 0.5) == .deliver)
        #expect(machine.state == .inFlight && machine.attempts == 1)
        #expect(machine.handle(.acknowledged, policy: policy, now: start, random: 0.5) == .markDelivered)
        #expect(machine.state == .delivered)
        #expect(machine.handle(.claimed, policy: policy, now: start, random: 0.5) == .none, "a delivered message is never sent again")
    }

    @Test("Transient failures retry with growing, jittered, capped backoff; the last attempt dead-letters")
    func retriesThenDead() {
        var machine = RelayStateMachine(createdAt: start)
        var waits: [Duration] = []
        for _ in 1...2 {
            #expect(machine.handle(.claimed, policy: policy, now: start, random: 1) == .deliver)
            guard case .scheduleRetry(let after) = machine.handle(.failed(reason: "503", permanent: false), policy: policy, now: start, random: 1) else {
                Issue.record("expected a retry")
                return
            }
            waits.append(after)
            #expect(machine.state == .queued)
        }
        #expect(waits == [.seconds(2), .seconds(4)])
        #expect(machine.handle(.claimed, policy: policy, now: start, random: 1) == .deliver)
        #expect(machine.handle(.failed(reason: "timeout", permanent: false), policy: policy, now: start, random: 1) == .deadLetter(reason: "3 attempts: timeout"))
        #expect(machine.state == .dead)
        #expect(policy.backoff(afterAttempt: 10, random: 1) == .seconds(10), "capped")
        #expect(policy.backoff(afterAttempt: 3, random: 0.25) == .seconds(2), "full jitter: a fraction of 8 s")
    }

    @Test("A permanent refusal dead-letters at once; a message too old dead-letters on its next failure")
    func permanentAndTooOld() {
        var refused = RelayStateMachine(createdAt: start)
        _ = refused.handle(.claimed, policy: policy, now: start, random: 0)
        #expect(refused.handle(.failed(reason: "HTTP 400", permanent: true), policy: policy, now: start, random: 0) == .deadLetter(reason: "refused by the partner: HTTP 400"))
        var old = RelayStateMachine(createdAt: start)
        _ = old.handle(.claimed, policy: policy, now: start, random: 0)
        let later = start.addingTimeInterval(25 * 3600)
        #expect(old.handle(.failed(reason: "503", permanent: false), policy: policy, now: later, random: 0) == .deadLetter(reason: "too old: 503"))
    }

    @Test("Re-driving a dead letter queues it with a fresh attempt count; re-driving anything else does nothing")
    func redrive() {
        var machine = RelayStateMachine(state: .dead, attempts: 8, createdAt: start)
        #expect(machine.handle(.redriven, policy: policy, now: start, random: 0) == .none)
        #expect(machine.state == .queued && machine.attempts == 0)
        var delivered = RelayStateMachine(state: .delivered, attempts: 1, createdAt: start)
        _ = delivered.handle(.redriven, policy: policy, now: start, random: 0)
        #expect(delivered.state == .delivered)
    }
}
