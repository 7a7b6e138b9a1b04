import Foundation
import PostgresNIO

/// Why a database URL cannot be used.
public struct DatabaseURLError: Error, Sendable, CustomStringConvertible {
    public let reason: String
    public var description: String { "database URL: \(reason)" }
}

/// Where the PostgreSQL store is: `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=disable|require]`.
///
/// `?host=/path/to/socket/dir` connects over a Unix socket instead. The password is a secret: it never
/// appears in `description`.
public struct DatabaseURL: Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var username: String
    public var password: String?
    public var database: String
    public var socketDirectory: String?
    public var requireTLS: Bool

    public init(_ text: String) throws {
        guard let components = URLComponents(string: text), ["postgres", "postgresql"].contains(components.scheme ?? "") else {
            throw DatabaseURLError(reason: "expected postgres://user@host:port/database")
        }
        guard let username = components.user, !username.isEmpty else { throw DatabaseURLError(reason: "missing user name") }
        let database = components.path.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        guard !database.isEmpty else { throw DatabaseURLError(reason: "missing database name") }
        let query = Dictionary((components.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { $1 })
        self.host = components.host ?? "127.0.0.1"
        self.port = components.port ?? 5432
        self.username = username
        self.password = components.password
        self.database = database
        self.socketDirectory = query["host"].flatMap { $0.hasPrefix("/") ? $0 : nil }
        self.requireTLS = query["sslmode"] == "require"
    }

    public var description: String {
        "postgres://\(username)@\(socketDirectory.map { "[\($0)]" } ?? "\(host):\(port)")/\(database)"
    }

    /// A client configuration with a pool of `connections`; `steady` for a long-running process that serves (the
    /// gateway).
    ///
    /// postgres-nio starts a keep-alive timer (and an idle timer for a connection above the minimum) each time a
    /// connection returns to the pool, and a timer it cancels still holds about 0.8 KB until it would have fired: with
    /// the defaults (30 s keep-alive, 60 s idle) a gateway answering 1,500 lookups a second held 60–100 MB that way
    /// (docs/benchmarks.md). A steady pool checks idle connections every 5 seconds and closes a connection idle for
    /// 10, so cancelled timers live seconds, not a minute.
    ///
    /// The minimum stays 0. postgres-nio requires it below the maximum, and its pool traps (a precondition) when a
    /// request must wait while fewer connections than the minimum are open — connections running a keep-alive or
    /// closing do not count as open, and an outage closes them all: with the minimum at the maximum, a gateway crashed
    /// in 1 of 6 database outages under load (DatabaseOutageTests).
    public func clientConfiguration(connections: Int = 16, steady: Bool = false) -> PostgresClient.Configuration {
        var configuration: PostgresClient.Configuration
        if let socketDirectory {
            configuration = .init(unixSocketPath: "\(socketDirectory)/.s.PGSQL.\(port)", username: username, password: password, database: database)
        } else {
            configuration = .init(
                host: host, port: port, username: username, password: password, database: database,
                tls: requireTLS ? .require(.makeClientConfiguration()) : .disable
            )
        }
        configuration.options.maximumConnections = connections
        configuration.options.minimumConnections = 0
        configuration.options.connectTimeout = .seconds(3)
        if steady {
            configuration.options.keepAliveBehavior = .init(frequency: .seconds(5))
            configuration.options.connectionIdleTimeout = .seconds(10)
        }
        return configuration
    }
}
