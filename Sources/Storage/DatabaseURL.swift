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

    /// A client configuration with a pool of `connections`.
    public func clientConfiguration(connections: Int = 16) -> PostgresClient.Configuration {
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
        configuration.options.minimumConnections = 1
        configuration.options.connectTimeout = .seconds(3)
        return configuration
    }
}

/// Where Jisr's store is: a PostgreSQL database (`postgres://…`) or an SQLite file (`sqlite:PATH`).
///
/// `--database-url` and `JISR_DATABASE_URL` take either form. Without one, `jisr serve` and `jisr demo` use an
/// SQLite file in their folder.
public enum StoreLocation: Sendable, CustomStringConvertible {
    case postgres(DatabaseURL)
    case sqlite(path: String)

    public init(_ text: String) throws {
        if text.hasPrefix("sqlite:") {
            var path = String(text.dropFirst("sqlite:".count))
            // sqlite:///abs/path and sqlite://localhost/abs/path, as URL habits write them.
            if path.hasPrefix("//") {
                path = String(path.dropFirst(2))
                if let slash = path.firstIndex(of: "/") { path = String(path[slash...]) } else { path = "" }
            }
            guard !path.isEmpty else { throw DatabaseURLError(reason: "expected sqlite:PATH") }
            let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
            self = .sqlite(path: URL(fileURLWithPath: absolute).standardizedFileURL.path)
        } else if text.hasPrefix("postgres:") || text.hasPrefix("postgresql:") {
            self = .postgres(try DatabaseURL(text))
        } else {
            throw DatabaseURLError(reason: "expected postgres://user@host:port/database or sqlite:PATH")
        }
    }

    /// The file of the ministry's reference records beside an embedded store (attached as the schema `ministry`).
    public static func recordsPath(forStore path: String) -> String {
        (path.hasSuffix(".sqlite") ? String(path.dropLast(7)) : path) + "-ministry.sqlite"
    }

    public var dialect: SQLDialect {
        if case .postgres = self { return .postgres }
        return .sqlite
    }

    public var description: String {
        switch self {
        case .postgres(let url): url.description
        case .sqlite(let path): "sqlite:\(path)"
        }
    }
}

/// The one gateway process of an embedded store.
///
/// Several gateways sharing a store is PostgreSQL's job (row locks, notifications, a server reachable from
/// every machine). On SQLite a second `jisr serve` on the same file is refused at start rather than left to
/// contend for the file's single write lock; the CLI's short administrative commands may still open the store.
public final class EmbeddedStoreClaim: Sendable {
    private let descriptor: Int32

    public init(path: String) throws {
        let lockPath = path + ".gateway-lock"
        let descriptor = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw SQLiteStoreError(reason: "cannot open \(lockPath) (errno \(errno))") }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            close(descriptor)
            throw SQLiteStoreError(
                reason: "another jisr gateway already serves \(path); the embedded store takes one gateway process — run several instances on PostgreSQL")
        }
        self.descriptor = descriptor
    }

    deinit { close(descriptor) }
}
