import Foundation
import Schemas

/// A committed OpenAPI 3.1 document, served as is; read once at start-up.
struct OpenAPIDocument: Sendable {
    let bytes: [UInt8]

    init(file: URL) throws {
        guard let data = FileManager.default.contents(atPath: file.path) else {
            throw ConfigurationError(item: file.path, reason: "the OpenAPI document is missing (it lives in openapi/ next to contracts/)")
        }
        do { _ = try JSONParser.parse(Array(data)) } catch { throw ConfigurationError(item: file.path, reason: "not valid JSON: \(error)") }
        self.bytes = Array(data)
    }
}
