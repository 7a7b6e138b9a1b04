import Foundation
import Schemas

/// The repository's contracts folder, found from this file's location.
enum Repository {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let contracts = root.appendingPathComponent("contracts")
    static let catalog: ContractCatalog = try! ContractCatalog.load(from: contracts)

    /// Every example file: (contract, path, format, valid, expected violation for invalid ones).
    static func examples() -> [Example] {
        var found: [Example] = []
        for id in catalog.ids {
            let folder = contracts.appendingPathComponent("\(id.name)/\(id.version)/examples")
            for validity in ["valid", "invalid"] {
                let directory = folder.appendingPathComponent(validity)
                let files = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
                for file in files.sorted() where file.hasSuffix(".json") || file.hasSuffix(".xml") {
                    let url = directory.appendingPathComponent(file)
                    let expect = try? String(contentsOf: url.appendingPathExtension("expect"), encoding: .utf8)
                    found.append(
                        Example(
                            contract: id, url: url, format: file.hasSuffix(".json") ? .json : .xml, valid: validity == "valid",
                            expected: expect?.trimmingCharacters(in: .whitespacesAndNewlines)))
                }
            }
        }
        return found
    }

    /// Runs a program to completion off the concurrency pool: the gateway suites share this test process, and a
    /// blocking wait on one of the pool's two threads stalls every gateway in it.
    static func run(_ program: String, _ arguments: [String]) async throws -> (status: Int32, output: String) {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(with: Result { try runBlocking(program, arguments) }) }
        }
    }

    private static func runBlocking(_ program: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [program] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}

/// One golden example file.
struct Example: CustomTestStringConvertible, Sendable {
    let contract: ContractID
    let url: URL
    let format: DocumentFormat
    let valid: Bool
    let expected: String?

    var bytes: [UInt8] { Array(try! Data(contentsOf: url)) }
    var relativePath: String { "\(contract.name)/\(contract.version)/\(valid ? "valid" : "invalid")/\(url.lastPathComponent)" }
    var testDescription: String { relativePath }
}

import Testing
