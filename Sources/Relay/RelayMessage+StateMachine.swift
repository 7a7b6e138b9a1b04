import Foundation

/// Where an outbound message stands. Stored as text in `relay_outbox.state`.
public enum RelayState: String, Sendable, Codable, CaseIterable {
    /// Waiting for its next attempt (the first, or a retry after backoff).
    case queued
    /// Claimed by a worker, which holds a lease until `locked_until`.
    case inFlight = "in-flight"
    /// The partner acknowledged it (2xx).
    case delivered
    /// The last attempt failed; kept, visible, and re-drivable.
    case dead
}

/// How many times and for how long a message is tried, and how long to wait between tries.
public struct RetryPolicy: Sendable, Hashable {
    public var maximumAttempts: Int = 8
    /// A message older than this is dead-lettered after its next failure, whatever the count.
    public var maximumAge: Duration = .seconds(24 * 3600)
    public var initialBackoff: Duration = .seconds(2)
    public var maximumBackoff: Duration = .seconds(3600)
    /// How long a claimed message stays locked; a worker that dies frees it after this.
    public var lease: Duration = .seconds(60)

    public init() {}

    /// Exponential backoff with full jitter: a random delay up to initial × 2^(attempt−1), capped.
    public func backoff(afterAttempt attempt: Int, random: Double) -> Duration {
        let exponential = initialBackoff * Int(pow(2, Double(min(attempt - 1, 30))))
        let capped = min(exponential, maximumBackoff)
        let seconds = Double(capped.components.seconds) + Double(capped.components.attoseconds) / 1e18
        return .milliseconds(Int64(max(seconds * min(max(random, 0), 1), 0.1) * 1000))
    }
}

/// The lifecycle of one outbound message, without I/O: given the state and what happened, the next state.
public struct RelayStateMachine: Sendable, Hashable {
    /// What the worker must do after an event.
    public enum Action: Sendable, Hashable {
        case deliver
        case markDelivered
        case scheduleRetry(after: Duration)
        case deadLetter(reason: String)
        case none
    }

    /// What happened to the message.
    public enum Event: Sendable, Hashable {
        /// A worker claimed it (its lease starts).
        case claimed
        /// The partner answered 2xx.
        case acknowledged
        /// The attempt failed: network error, timeout, 5xx, 429 (transient) or another 4xx (permanent).
        case failed(reason: String, permanent: Bool)
        /// An administrator asked for it to be tried again.
        case redriven
    }

    public private(set) var state: RelayState
    public private(set) var attempts: Int
    public let createdAt: Date

    public init(state: RelayState = .queued, attempts: Int = 0, createdAt: Date) {
        self.state = state
        self.attempts = attempts
        self.createdAt = createdAt
    }

    /// Applies an event; an event that makes no sense in the current state changes nothing.
    public mutating func handle(_ event: Event, policy: RetryPolicy, now: Date, random: Double) -> Action {
        switch (state, event) {
        case (.queued, .claimed):
            state = .inFlight
            attempts += 1
            return .deliver
        case (.inFlight, .acknowledged):
            state = .delivered
            return .markDelivered
        case (.inFlight, .failed(let reason, let permanent)):
            let age = now.timeIntervalSince(createdAt)
            let tooOld = age >= Double(policy.maximumAge.components.seconds)
            if permanent || attempts >= policy.maximumAttempts || tooOld {
                state = .dead
                let why = permanent ? "refused by the partner" : (tooOld ? "too old" : "\(attempts) attempts")
                return .deadLetter(reason: "\(why): \(reason)")
            }
            state = .queued
            return .scheduleRetry(after: policy.backoff(afterAttempt: attempts, random: random))
        case (.dead, .redriven):
            state = .queued
            attempts = 0
            return .none
        default:
            return .none
        }
    }
}
