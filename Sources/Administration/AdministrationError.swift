/// Why an administrative operation was refused: a stable code, and a message that names the problem.
public struct AdministrationError: Error, Sendable, Hashable, CustomStringConvertible {
    public let code: String
    public let message: String

    public init(_ code: String, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }

    static func notFound(_ what: String) -> Self { .init("not-found", "\(what) does not exist") }
}
