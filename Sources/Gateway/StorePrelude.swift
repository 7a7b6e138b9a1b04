import Foundation
import Logging
import Registry
import ServiceLifecycle
import Storage
import Synchronization

/// Opens once the store is ready: every migration applied (or found applied) and the registry read.
///
/// Services start together in a `ServiceGroup`; the ones that touch the store wait here first, so that none reads
/// a table a later migration creates (the relay's feed on an empty store) and none serves before the schema is
/// current.
final class StoreReady: Sendable {
    private enum State {
        case waiting([UUID: CheckedContinuation<Void, any Error>])
        case open
    }

    private let state = Mutex(State.waiting([:]))

    var isOpen: Bool {
        state.withLock { if case .open = $0 { true } else { false } }
    }

    func open() {
        let waiting = state.withLock { state -> [CheckedContinuation<Void, any Error>] in
            guard case .waiting(let waiting) = state else { return [] }
            state = .open
            return Array(waiting.values)
        }
        for continuation in waiting { continuation.resume() }
    }

    /// Returns once open; throws `CancellationError` if the waiting task is cancelled first (a shutdown).
    func wait() async throws {
        let id = UUID()
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let outcome = state.withLock { state -> Result<Void, any Error>? in
                    guard case .waiting(var waiting) = state else { return .success(()) }
                    // Cancelled before it could wait: the cancellation flag is set before the handler runs.
                    if Task.isCancelled { return .failure(CancellationError()) }
                    waiting[id] = continuation
                    state = .waiting(waiting)
                    return nil
                }
                if let outcome { continuation.resume(with: outcome) }
            }
        } onCancel: {
            let cancelled = state.withLock { state -> CheckedContinuation<Void, any Error>? in
                guard case .waiting(var waiting) = state, let continuation = waiting.removeValue(forKey: id) else { return nil }
                state = .waiting(waiting)
                return continuation
            }
            cancelled?.resume(throwing: CancellationError())
        }
    }
}

/// Brings the store to the current schema (or refuses one that is behind, with `--no-migrate`), reads the
/// registry, then opens `ready` and stays until the gateway stops.
struct StorePrelude: Service {
    let database: Database
    let migrate: Bool
    let registry: RegistryWatcher
    let ready: StoreReady
    let logger: Logger

    func run() async throws {
        if migrate {
            try await Migrator(database: database, logger: logger).migrate(JisrMigrations.all)
        } else {
            try await JisrMigrations.requireCurrent(database, logger: logger)
        }
        try await registry.reload()
        ready.open()
        try await gracefulShutdown()
    }
}

/// A service that starts only once the store is ready.
struct AfterStoreReady: Service {
    let ready: StoreReady
    let service: any Service

    func run() async throws {
        // A stop while the store is still being migrated ends the wait: the group waits for every service to return.
        let ready = self.ready
        do { try await cancelWhenGracefulShutdown { try await ready.wait() } } catch is CancellationError { return }
        try await service.run()
    }
}
