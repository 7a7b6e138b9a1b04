import Foundation
import Schemas
import Testing

/// Contracts are data: every example under contracts/ is a test case, for Jisr's validators and for
/// independent ones (Python's jsonschema, xmllint).
@Suite("Golden contract examples")
struct GoldenExampleTests {
    @Test("Jisr's validators accept valid examples and name the violation of invalid ones", arguments: Repository.examples())
    func validatesExample(_ example: Example) throws {
        let contract = try #require(Repository.catalog[example.contract])
        if example.valid {
            _ = try contract.read(example.bytes, format: example.format)
        } else {
            let expected = try #require(example.expected, "\(example.relativePath) needs a .expect file naming its violation")
            do {
                _ = try contract.read(example.bytes, format: example.format)
                Issue.record("\(example.relativePath) was accepted")
            } catch {
                #expect(error.kind == .invalid)
                #expect(error.violations.contains { $0.contains(expected) }, "expected «\(expected)» in \(error.violations)")
            }
        }
    }

    @Test("Python jsonschema (Draft 2020-12, formats checked) gives the same verdict and violations on every JSON example")
    func agreesWithPythonJSONSchema() async throws {
        let script = Repository.root.appendingPathComponent("scripts/check-json-examples.py").path
        let (status, output) = try await Repository.run("python3", [script, Repository.contracts.path])
        try #require(status == 0, "python jsonschema failed: \(output)")
        var verdicts: [String: (valid: Bool, violations: [String])] = [:]
        var current: String?
        for line in output.split(separator: "\n").map(String.init) {
            if line.hasPrefix("  "), let path = current {
                verdicts[path]?.violations.append(line.trimmingCharacters(in: .whitespaces))
            } else {
                let parts = line.split(separator: " ", maxSplits: 1).map(String.init)
                current = parts[1]
                verdicts[parts[1]] = (parts[0] == "valid", [])
            }
        }
        let examples = Repository.examples().filter { $0.format == .json }
        #expect(verdicts.count == examples.count)
        for example in examples {
            let verdict = try #require(verdicts[example.relativePath.replacingOccurrences(of: "/valid/", with: "/examples/valid/").replacingOccurrences(of: "/invalid/", with: "/examples/invalid/")])
            let contract = try #require(Repository.catalog[example.contract])
            let ours = contract.jsonSchema.validate(try JSONParser.parse(example.bytes)).map { "\($0.keyword) at \($0.path.isEmpty ? "/" : $0.path)" }
            #expect(verdict.valid == ours.isEmpty, "\(example.relativePath): python says \(verdict.valid ? "valid" : "invalid"), Jisr found \(ours)")
            #expect(Set(verdict.violations) == Set(ours), "\(example.relativePath): python \(verdict.violations) vs Jisr \(ours)")
        }
    }

    @Test("xmllint --schema gives the same verdict on every XML example", arguments: Repository.examples().filter { $0.format == .xml })
    func agreesWithXmllint(_ example: Example) async throws {
        let xsd = Repository.contracts.appendingPathComponent("\(example.contract.name)/\(example.contract.version)/schema.xsd").path
        let (status, output) = try await Repository.run("xmllint", ["--noout", "--nonet", "--schema", xsd, example.url.path])
        #expect((status == 0) == example.valid, "\(example.relativePath): xmllint said \(output)")
        if let expected = example.expected { #expect(output.contains(expected)) }
    }

    @Test("Each valid JSON example and its XML twin carry the same information")
    func jsonAndXMLTwinsAgree() throws {
        let valid = Repository.examples().filter(\.valid)
        var pairs = 0
        for json in valid where json.format == .json {
            guard let xml = valid.first(where: { $0.format == .xml && $0.url.deletingPathExtension() == json.url.deletingPathExtension() }) else { continue }
            let contract = try #require(Repository.catalog[json.contract])
            #expect(try contract.read(json.bytes, format: .json) == contract.read(xml.bytes, format: .xml), "\(json.relativePath)")
            pairs += 1
        }
        #expect(pairs >= 4)
    }
}
