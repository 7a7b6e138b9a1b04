import Foundation
import Schemas

/// Why a mapping file was refused: the line in the file and the reason, as an administrator must fix it.
public struct MappingError: Error, Sendable, Hashable, CustomStringConvertible {
    public let line: Int
    public let reason: String

    public init(line: Int, reason: String) {
        self.line = line
        self.reason = reason
    }

    public var description: String { "line \(line): \(reason)" }
}

/// A reason not yet placed on a line; the compiler knows where the offending value stands.
struct MappingReason: Error, Sendable {
    let text: String
    init(_ text: String) { self.text = text }
}

/// A mapping as it is attached to a partner: the file's text and the schema files it names, by the name it
/// uses for them. Stored whole in the registry, so every gateway compiles the same mapping.
public struct MappingSource: Sendable, Hashable, Codable {
    public var text: String
    public var files: [String: String]

    public init(text: String, files: [String: String] = [:]) {
        self.text = text
        self.files = files
    }

    /// The keys of a contract section that name a file next to the mapping.
    static let fileKeys = ["xsd", "jsonSchema"]

    /// Reads a mapping file and the schema files it names (relative to the mapping's folder).
    public static func load(path: String) throws(MappingError) -> MappingSource {
        let url = URL(fileURLWithPath: path)
        guard let data = FileManager.default.contents(atPath: url.path) else { throw MappingError(line: 0, reason: "\(path) cannot be read") }
        let located: LocatedJSON
        do { located = try JSONParser.parseLocated(Array(data)) } catch {
            throw MappingError(line: LocatedJSON.line(at: error.offset, in: Array(data)), reason: "not valid JSON: \(error.reason.rawValue)")
        }
        var files: [String: String] = [:]
        for contract in located.value["contracts"]?.objectValue?.members ?? [] {
            for key in fileKeys {
                guard let name = contract.value[key]?.stringValue else { continue }
                let pointer = "/contracts/\(LocatedJSON.escape(contract.key))/\(key)"
                let fileURL = url.deletingLastPathComponent().appendingPathComponent(name)
                guard let contents = FileManager.default.contents(atPath: fileURL.path), let text = String(data: contents, encoding: .utf8) else {
                    throw MappingError(line: located.line(of: pointer), reason: "\(key) file \(name) cannot be read next to the mapping")
                }
                files[name] = text
            }
        }
        return MappingSource(text: String(decoding: data, as: UTF8.self), files: files)
    }
}
