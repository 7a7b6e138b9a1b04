import Logging

/// Runs `body` with an open store for one-shot commands (`migrate`, `seed`, `log verify`), then closes it.
public func withDatabase<Result: Sendable>(
    _ location: StoreLocation, connections: Int = 4, logger: Logger, _ body: @Sendable (Database) async throws -> Result
) async throws -> Result {
    if case .postgres(let url) = location { try await url.probe(logger: logger) }
    let database = Database(location, connections: connections, logger: logger)
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await database.run() }
        defer { group.cancelAll() }
        return try await body(database)
    }
}
