import Foundation

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
