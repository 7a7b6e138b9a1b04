import AsyncHTTPClient
import Foundation
import MessageLog
import NIOCore
import NIOHTTP1
import Schemas
import Testing

/// The committed OpenAPI documents are served, valid OpenAPI 3.1, and list exactly the routes the server has.
@Suite("OpenAPI documents")
struct OpenAPITests {
    static func documented(_ file: String) throws -> Set<String> {
        let document = try JSONParser.parse(Array(try Data(contentsOf: Fixture.repository.appendingPathComponent("openapi/\(file)"))))
        var routes: Set<String> = []
        for path in document["paths"]?.objectValue?.members ?? [] {
            for operation in path.value.objectValue?.keys ?? [] where ["get", "post", "put", "delete", "patch"].contains(operation) {
                routes.insert("\(operation.uppercased()) \(path.key)")
            }
            // A form a schema cannot describe, described beside the operations (POST /v1/messages with X-Contract).
            if path.value["x-jisr-post"] != nil { routes.insert("POST \(path.key)") }
        }
        return routes
    }

    @Test("Every route the listeners register is documented, and every documented route exists", arguments: [("exchange", "exchange.json"), ("admin", "admin.json")])
    func routesMatch(listener: String, file: String) async throws {
        let fixture = try await Shared.fixture.value
        let served = try #require(fixture.routes[listener])
        // A served template documented as literal paths (POST /v1/messages/{contract}/{version}: one operation per
        // contract) counts as documented; each literal path must match a template.
        let templates = try served.filter { $0.contains("{") }.map { ($0, try Regex(NSRegularExpression.escapedPattern(for: $0).replacing(/\\\{[A-Za-z]+\\\}/, with: "[^/]+"))) }
        var documented: Set<String> = []
        for route in try Self.documented(file) {
            let template = served.contains(route) ? nil : templates.first { route.wholeMatch(of: $0.1) != nil }?.0
            documented.insert(template ?? route)
        }
        #expect(served.subtracting(documented).isEmpty, "undocumented: \(served.subtracting(documented).sorted())")
        #expect(documented.subtracting(served).isEmpty, "documented but not served: \(documented.subtracting(served).sorted())")
    }

    @Test("Both documents are valid OpenAPI 3.1 (openapi-spec-validator) and are served as committed")
    func validAndServed() async throws {
        for file in ["exchange.json", "admin.json"] {
            let path = Fixture.repository.appendingPathComponent("openapi/\(file)").path
            let result = try await JisrCLI.runProgram(
                "/usr/bin/env", ["python3", "-c", "import json,sys; from openapi_spec_validator import validate; validate(json.load(open(sys.argv[1])))", path])
            #expect(result.status == 0, "\(file): \(result.output)")
        }
        let fixture = try await Shared.fixture.value
        let committed = Array(try Data(contentsOf: Fixture.repository.appendingPathComponent("openapi/exchange.json")))
        #expect(try await fixture.get("/v1/openapi.json", as: "LB-NSSF", purpose: nil).body == committed)
        let admin = Array(try Data(contentsOf: Fixture.repository.appendingPathComponent("openapi/admin.json")))
        #expect(try await fixture.admin(.GET, "/admin/v1/openapi.json").body == admin)
    }

    @Test("The document carries the contracts' schemas as contracts/ has them (scripts/openapi --check)")
    func contractsEmbedded() async throws {
        let result = try await JisrCLI.runProgram("/usr/bin/env", ["python3", Fixture.repository.appendingPathComponent("scripts/openapi").path, "--check"])
        #expect(result.status == 0, "\(result.output)")
    }

    @Test("A method a resource does not have is 405 with Allow, a path the API does not have 404: problem documents, logged", arguments: [
        ("TRACE", "/v1/contracts", 405, "GET"), ("DELETE", "/v1/work-permits/WP-2026-0000001", 405, "GET"), ("PUT", "/v1/messages", 405, "POST"),
        ("OPTIONS", "/v1/log/consistency", 405, "GET"), ("DELETE", "/v1/no-such-thing", 404, ""), ("TRACE", "/elsewhere", 404, ""),
    ])
    func unknownMethods(method: String, path: String, status: Int, allow: String) async throws {
        let fixture = try await Shared.fixture.value
        var request = HTTPClientRequest(url: "https://localhost:\(fixture.exchangePort)\(path)")
        request.method = HTTPMethod(rawValue: method)
        let response = try await fixture.clients["LB-NSSF"]!.execute(request, timeout: .seconds(15))
        let reply = Reply(status: Int(response.status.code), headers: response.headers, body: Array(buffer: try await response.body.collect(upTo: 1 << 20)))
        #expect(reply.status == status, "\(method) \(path): \(reply.text)")
        #expect(reply.headers.first(name: "Allow") == (allow.isEmpty ? nil : allow))
        #expect(reply.headers.first(name: "Content-Type") == "application/problem+json")
        #expect(reply.problemType?.hasSuffix(status == 405 ? "/method-not-allowed" : "/not-found") == true, "\(reply.text)")
        let entry = try await fixture.entry(of: reply)
        #expect(entry.draft.status == status && entry.draft.partner == "LB-NSSF", "logged like every exchange")
    }
}

