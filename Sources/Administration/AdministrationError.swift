/// Why an administrative operation was refused: a stable code, and a message that names the problem.
public struct AdministrationError: Error, Sendable, Hashable, CustomStringConvertible {
    public let code: String
    public let message: String
    /// The line of an attached file the refusal is about (a mapping), when there is one.
    public let line: Int?

    public init(_ code: String, _ message: String, line: Int? = nil) {
        self.code = code
        self.message = message
        self.line = line
    }

    public var description: String { message }

    static func notFound(_ what: String) -> Self { .init("not-found", "\(what) does not exist") }
}
