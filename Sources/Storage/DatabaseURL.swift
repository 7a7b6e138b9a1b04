import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO

/// Why a database URL cannot be used.
public struct DatabaseURLError: Error, Sendable, CustomStringConvertible {
    public let reason: String
    public var description: String { "database URL: \(reason)" }
}

/// Where the PostgreSQL store is: `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=…&sslrootcert=FILE]`.
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
    public var tls: TLSMode
    /// The CA certificates (PEM) the server's certificate must chain to (`sslrootcert`); the system's trust store
    /// when nil.
    public var rootCertificates: String?

    /// How the connection is protected, by libpq's names for `sslmode`. Only modes that say exactly what happens:
    /// libpq's `allow` and `prefer` fall back to a plain connection without a word, so they are refused, and
    /// `require` checks the server's certificate and name as `verify-full` does (libpq's would encrypt to anyone).
    public enum TLSMode: String, Sendable, CaseIterable {
        /// No TLS: a loopback or Unix-socket connection inside one host.
        case disable
        /// TLS; the certificate chains to a trusted CA and names the host connected to.
        case require
        /// TLS; the certificate chains to a trusted CA, whatever name it carries.
        case verifyCA = "verify-ca"
        /// TLS; the certificate chains to a trusted CA and names the host connected to (its DNS name, or its IP
        /// address when the URL gives one).
        case verifyFull = "verify-full"
    }

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
        guard let tls = TLSMode(rawValue: query["sslmode"] ?? "disable") else {
            let modes = TLSMode.allCases.map(\.rawValue).joined(separator: ", ")
            throw DatabaseURLError(reason: "sslmode=\(query["sslmode"] ?? "") is not one of \(modes) (allow and prefer would fall back to no TLS)")
        }
        self.tls = tls
        self.rootCertificates = query["sslrootcert"]
        if let file = rootCertificates {
            guard tls != .disable else { throw DatabaseURLError(reason: "sslrootcert is given but sslmode is disable: name verify-full (or verify-ca)") }
            guard FileManager.default.isReadableFile(atPath: file) else { throw DatabaseURLError(reason: "sslrootcert \(file) cannot be read") }
        }
        if tls != .disable, socketDirectory != nil { throw DatabaseURLError(reason: "sslmode=\(tls.rawValue) over a Unix socket: TLS is for TCP connections") }
    }

    /// What postgres-nio is given for the mode: the trust roots and how much of the certificate is checked; nil
    /// without TLS.
    var tlsConfiguration: TLSConfiguration? {
        guard tls != .disable else { return nil }
        var configuration = TLSConfiguration.makeClientConfiguration()
        if let rootCertificates { configuration.trustRoots = .file(rootCertificates) }
        configuration.certificateVerification = tls == .verifyCA ? .noHostnameVerification : .fullVerification
        return configuration
    }

    /// Connects once and closes: what a one-shot command does first, so that a server it cannot use (refused, a
    /// certificate it does not trust, a password it does not take) is named at once, where the pool would keep
    /// retrying for a minute or more.
    public func probe(logger: Logger) async throws {
        guard socketDirectory == nil else { return }
        do {
            var configuration = PostgresConnection.Configuration(
                host: host, port: port, username: username, password: password, database: database,
                tls: try tlsConfiguration.map { .require(try NIOSSLContext(configuration: $0)) } ?? .disable)
            configuration.options.connectTimeout = TimeAmount.seconds(3)
            let connection = try await PostgresConnection.connect(
                on: MultiThreadedEventLoopGroup.singleton.any(), configuration: configuration, id: 0, logger: logger
            ).get()
            try await connection.close()
        } catch {
            // postgres-nio's description hides the cause; the reflection names it (a TLS alert, a refused connection).
            throw DatabaseUnavailableError(reason: "cannot connect to \(description): \(String(String(reflecting: error).prefix(400)))")
        }
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
                tls: tlsConfiguration.map { .require($0) } ?? .disable
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
