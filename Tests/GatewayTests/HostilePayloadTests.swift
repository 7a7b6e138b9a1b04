import Administration
import Foundation
import Gateway
import Records
import MessageLog
import NIOHTTP1
import PKI
import Registry
import Schemas
import Storage
import Testing

/// Hostile input against the live exchange listener over TLS: each gets a 4xx problem document, the server goes on
/// serving, nothing is stored, and the log still verifies.
@Suite("Hostile payloads, live", .serialized)
struct HostilePayloadTests {
    static let fixture = Task { () throws -> Fixture in
        let fixture = try await Fixture.make("hostile")
        try await fixture.grantEgyptSend()
        // A certificate of EG-MOL's on disk, for the raw-socket clients.
        try await fixture.writeRegisteredCredential(partner: "EG-MOL", name: "raw-client")
        try await fixture.registryInForce()
        return fixture
    }

    static let validNotice = try! String(
        contentsOf: Fixture.repository.appendingPathComponent("contracts/work-permit-event/1/examples/valid/issued.json"), encoding: .utf8)

    /// A hostile body: what it is, how it is sent, and the problem types that may refuse it.
    struct Payload: Sendable, CustomStringConvertible {
        let description: String
        let contentType: String
        let body: [UInt8]
        let problems: Set<String>
    }

    static var payloads: [Payload] {
        let xml = "application/xml"
        let json = "application/json"
        let document = ["malformed-document", "invalid-document"]
        func text(_ name: String, _ type: String, _ body: String) -> Payload { Payload(description: name, contentType: type, body: Array(body.utf8), problems: Set(document)) }
        let laughs = (1...9).map { level in "<!ENTITY l\(level) \"" + String(repeating: "&l\(level - 1);", count: 10) + "\">" }.joined()
        let quadratic = String(repeating: "a", count: 50_000)
        return [
            text("XML external entity (file)", xml, #"<?xml version="1.0"?><!DOCTYPE n [<!ENTITY e SYSTEM "file:///etc/passwd">]><n>&e;</n>"#),
            text("XML external entity (http)", xml, #"<?xml version="1.0"?><!DOCTYPE n [<!ENTITY e SYSTEM "http://127.0.0.1:9/x">]><n>&e;</n>"#),
            text("XML parameter entity", xml, #"<?xml version="1.0"?><!DOCTYPE n [<!ENTITY % p SYSTEM "http://127.0.0.1:9/x.dtd"> %p;]><n/>"#),
            text("billion laughs", xml, #"<?xml version="1.0"?><!DOCTYPE n [<!ENTITY l0 "ha">"# + laughs + "]><n>&l9;</n>"),
            text("quadratic blow-up", xml, #"<?xml version="1.0"?><!DOCTYPE n [<!ENTITY a ""# + quadratic + #"">]><n>"# + String(repeating: "&a;", count: 20_000) + "</n>"),
            text("a DTD at all", xml, #"<?xml version="1.0"?><!DOCTYPE n><n/>"#),
            text("10,000-deep XML", xml, String(repeating: "<n>", count: 10_000) + String(repeating: "</n>", count: 10_000)),
            Payload(description: "invalid UTF-8 in XML", contentType: xml, body: Array("<?xml version=\"1.0\" encoding=\"UTF-8\"?><n>".utf8) + [0xC3, 0x28] + Array("</n>".utf8), problems: Set(document)),
            Payload(description: "invalid UTF-8 in JSON", contentType: json, body: Array("{\"eventType\": \"".utf8) + [0xFF, 0xFE] + Array("\"}".utf8), problems: Set(document)),
            text("duplicate JSON keys", json, validNotice.replacingOccurrences(of: "{", with: "{\"eventType\": \"issued\", ", options: [], range: validNotice.range(of: "{"))),
            text("a number out of range", json, validNotice.replacingOccurrences(of: "\"category\": ", with: "\"category\": 1e400, \"x\": ")),
            text("10,000-deep JSON", json, String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)),
        ]
    }

    @Test("Each hostile body: a 4xx problem document, nothing stored, and the next request served", arguments: payloads)
    func refused(_ payload: Payload) async throws {
        let fixture = try await Self.fixture.value
        let key = "hostile-\(UUID().uuidString)"
        let reply = try await fixture.send(payload.body, key: key, contentType: payload.contentType)
        #expect((400..<500).contains(reply.status), "\(payload): \(reply.status) \(reply.text.prefix(300))")
        #expect(reply.headers["Content-Type"].first?.hasPrefix("application/problem+") == true)
        #expect(payload.problems.contains { reply.problemType?.hasSuffix("/\($0)") == true }, "\(payload): \(reply.problemType ?? "no type")")
        #expect(!reply.text.contains("root:"), "no file content leaks")
        #expect(try await fixture.store.query("SELECT count(*) FROM inbox WHERE idempotency_reference = \(try fixture.inboxReference(key))").first?[0].decode(Int64.self) == 0)
        #expect(try await fixture.get("/v1/contracts", as: "LB-NSSF").status == 200, "the server still serves")
    }

    @Test("Paths with .. or encoded slashes in the schema routes are refused without reaching the file system")
    func traversal() async throws {
        let fixture = try await Self.fixture.value
        for path in [
            "/v1/contracts/..%2F..%2F..%2Fetc/passwd/schema.json", "/v1/contracts/work-permit/1/..%2F..%2F..%2Fetc%2Fpasswd",
            "/v1/contracts/%2e%2e/%2e%2e/schema.xsd", "/v1/contracts/work-permit/..%2f1/schema.json", "/v1/contracts/../../../etc/passwd",
        ] {
            let reply = try await fixture.get(path, as: "LB-NSSF")
            #expect((400..<500).contains(reply.status), "\(path): \(reply.status)")
            #expect(!reply.text.contains("root:"), "\(path) leaked a file")
        }
        #expect(try await fixture.get("/v1/contracts/work-permit/1/schema.json", as: "LB-NSSF").status == 200)
    }

    @Test("A body over the limit is refused before it is read whole: 413 while most of a 100 MB upload is still unsent")
    func oversizedBody() async throws {
        let fixture = try await Self.fixture.value
        let over = try await fixture.send(Array(repeating: UInt8(ascii: " "), count: (1 << 20) + 1), key: "too-big")
        #expect(over.status == 413 && over.problemType?.hasSuffix("/payload-too-large") == true, "\(over.status)")
        let result = try await raw(fixture, """
            stream.sendall(b"POST /v1/messages HTTP/1.1\\r\\nHost: localhost\\r\\nContent-Type: application/json\\r\\nX-Contract: work-permit-event/1\\r\\n"
                           b"X-Purpose: mou-work-permit-notification\\r\\nIdempotency-Key: huge\\r\\nContent-Length: 104857600\\r\\n\\r\\n")
            sent = 0
            stream.settimeout(0.05)
            answer = b""
            while sent < 104857600 and not answer:
                try:
                    stream.sendall(b" " * 65536)
                    sent += 65536
                except OSError:
                    break
                try:
                    answer = stream.recv(4096)
                except (TimeoutError, socket.timeout, ssl.SSLWantReadError):
                    pass
            stream.settimeout(5)
            while b"\\r\\n" not in answer:
                chunk = stream.recv(4096)
                if not chunk: break
                answer += chunk
            print(answer.split(b"\\r\\n")[0].decode(), sent)
            """)
        let fields = result.split(separator: " ")
        #expect(result.hasPrefix("HTTP/1.1 413"), "\(result)")
        #expect((Int(fields.last ?? "") ?? Int.max) < 10 << 20, "answered after \(fields.last ?? "?") bytes of 100 MB")
        #expect(try await fixture.get("/v1/contracts", as: "LB-NSSF").status == 200)
    }

    @Test("A case reference that carries a national id is refused, and nothing of it is stored; any other is logged only as a keyed hash")
    func identifiersInReferences() async throws {
        let fixture = try await Self.fixture.value
        let path = "/v1/establishments/\(try #require(fixture.samples.establishmentNumbers.first))"
        let id = try #require(fixture.samples.nationalIds.first)
        let refused = try await fixture.get(path, as: "LB-NSSF", headers: [("X-Case-Reference", "CASE/\(id)")])
        #expect(refused.status == 400 && refused.text.contains("personal identifier"), "\(refused.text)")
        let refusedId = try #require(refused.messageId)
        let entry = try #require(try await fixture.log().entry(messageId: refusedId))
        #expect(entry.draft.caseReference == nil, "the refused value is not logged")
        // An NSSF number written with dashes is an identifier too.
        #expect(try await fixture.get(path, as: "LB-NSSF", headers: [("X-Case-Reference", "1000-0004-7517")]).status == 400)
        // What no rule recognises (a passport number) reaches the log only as a keyed hash, like every case reference.
        let referencer = SubjectReferencer(key: try SubjectKeyFile.read(fixture.directory + "/subject.key"))
        for reference in ["CASE/2026-0417", "B00000001"] {
            let accepted = try await fixture.get(path, as: "LB-NSSF", headers: [("X-Case-Reference", reference)])
            #expect(accepted.status == 200)
            let logged = try await fixture.entry(of: accepted).draft.caseReference
            #expect(logged == referencer.reference(kind: "case-reference", identifier: reference) && logged != reference, "\(reference) is kept hashed")
            let raw = try await fixture.store.query("SELECT count(*) FROM message_log WHERE case_reference = \(reference)").first?[0].decode(Int64.self)
            #expect(raw == 0, "\(reference) is nowhere in clear")
        }
    }

    @Test("A chunked body over the limit (no Content-Length to refuse up front) is answered 413, not 500")
    func oversizedChunkedBody() async throws {
        let fixture = try await Self.fixture.value
        let result = try await raw(fixture, """
            stream.sendall(b"POST /v1/messages HTTP/1.1\\r\\nHost: localhost\\r\\nContent-Type: application/json\\r\\nX-Contract: work-permit-event/1\\r\\n"
                           b"X-Purpose: mou-work-permit-notification\\r\\nIdempotency-Key: chunked\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n")
            chunk = b"10000\\r\\n" + b" " * 65536 + b"\\r\\n"
            stream.settimeout(0.05)
            answer = b""
            for _ in range(64):
                try:
                    stream.sendall(chunk)
                except OSError:
                    break
                try:
                    answer = stream.recv(4096)
                except (TimeoutError, socket.timeout, ssl.SSLWantReadError):
                    pass
                if answer: break
            stream.settimeout(5)
            while b"\\r\\n" not in answer:
                more = stream.recv(4096)
                if not more: break
                answer += more
            print(answer.split(b"\\r\\n")[0].decode())
            """)
        #expect(result.hasPrefix("HTTP/1.1 413"), "\(result)")
        #expect(try await fixture.get("/v1/contracts", as: "LB-NSSF").status == 200)
    }

    @Test("An oversized header, too many headers and bytes that are not HTTP: a problem document each, the connection closed, the server serving")
    func headers() async throws {
        let fixture = try await Self.fixture.value
        let result = try await raw(fixture, """
            def answer(request):
                with socket.create_connection(("127.0.0.1", int(port))) as raw:
                    with context.wrap_socket(raw, server_hostname="localhost") as s:
                        s.settimeout(10)
                        try:
                            s.sendall(request)
                        except (OSError, ssl.SSLError):
                            pass  # the server may answer and close before it has read everything
                        data = b""
                        try:
                            while True:
                                chunk = s.recv(65536)
                                if not chunk:
                                    break
                                data += chunk
                        except (OSError, ssl.SSLError):
                            pass
                        head, _, body = data.partition(b"\\r\\n\\r\\n")
                        lines = head.decode(errors="replace").split("\\r\\n")
                        kind = next((l.split(":", 1)[1].strip() for l in lines if l.lower().startswith("content-type:")), "")
                        return "%s|%s|%s" % (lines[0], kind, body.decode(errors="replace"))
            big = b"GET /v1/contracts HTTP/1.1\\r\\nHost: localhost\\r\\nX-Big: " + b"a" * 200000 + b"\\r\\n\\r\\n"
            many = b"GET /v1/contracts HTTP/1.1\\r\\nHost: localhost\\r\\n" + b"".join(b"X-Header-%05d: value\\r\\n" % i for i in range(5000)) + b"\\r\\n"
            garbage = b"\\x16\\x03\\x01 not http at all\\r\\n\\r\\n"
            for request in (big, many, garbage):
                print(answer(request))
            """, connect: false)
        let answers = result.split(separator: "\n").map { $0.split(separator: "|", maxSplits: 2, omittingEmptySubsequences: false).map(String.init) }
        #expect(answers.count == 3, "\(result)")
        for (answer, (status, code)) in zip(answers, [("431", "request-headers-too-large"), ("431", "request-headers-too-large"), ("400", "malformed-request")]) {
            #expect(answer.count == 3 && answer[0].hasPrefix("HTTP/1.1 \(status)"), "\(answer)")
            #expect(answer.count == 3 && answer[1] == "application/problem+json", "\(answer)")
            #expect(answer.count == 3 && answer[2].contains("/problems/\(code)"), "\(answer)")
        }
        #expect(try await fixture.get("/v1/contracts", as: "LB-NSSF").status == 200)
    }

    @Test("The log verifies after every hostile request above")
    func logStillVerifies() async throws {
        let fixture = try await Self.fixture.value
        let report = try await fixture.log().verify()
        #expect(report.firstBreak == nil && report.verified > 0)
    }

    /// Runs Python with a TLS connection as EG-MOL (`stream`) already open, unless `connect` is false.
    func raw(_ fixture: Fixture, _ body: String, connect: Bool = true) async throws -> String {
        let indented = body.split(separator: "\n", omittingEmptySubsequences: false).map { "        " + $0 }.joined(separator: "\n")
        let script =
            """
            import socket, ssl, sys
            port, cert, key, ca = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
            context = ssl.create_default_context(cafile=ca)
            context.load_cert_chain(cert, key)
            """ + "\n"
            + (connect
                ? """
                with socket.create_connection(("127.0.0.1", int(port))) as raw:
                    with context.wrap_socket(raw, server_hostname="localhost") as stream:
                \(indented)
                """
                : body)
        // Off the concurrency pool: a blocking wait there would stall the server's own async work (the TLS verifier).
        let result = try await ChildProcess.run(
            "/usr/bin/python3",
            ["-c", script, String(fixture.exchangePort), fixture.directory + "/raw-client.crt", fixture.directory + "/raw-client.key", fixture.directory + "/ca.crt"])
        #expect(result.0 == 0, "\(result.1)")
        return result.1.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
