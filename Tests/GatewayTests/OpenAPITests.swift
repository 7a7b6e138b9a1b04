import Foundation
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
        }
        return routes
    }

    @Test("Every route the listeners register is documented, and every documented route exists", arguments: [("exchange", "exchange.json"), ("admin", "admin.json")])
    func routesMatch(listener: String, file: String) async throws {
        let fixture = try await Shared.fixture.value
        let served = try #require(fixture.routes[listener])
        let documented = try Self.documented(file)
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
}
