import Logging
import PostgresNIO

/// Runs `body` with a connected client for one-shot commands (`migrate`, `seed`, `log verify`), then closes it.
public func withPostgres<Result: Sendable>(
    _ url: DatabaseURL, connections: Int = 4, logger: Logger, _ body: @Sendable (PostgresClient) async throws -> Result
) async throws -> Result {
    let client = PostgresClient(configuration: url.clientConfiguration(connections: connections), backgroundLogger: logger)
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { await client.run() }
        defer { group.cancelAll() }
        return try await body(client)
    }
}
