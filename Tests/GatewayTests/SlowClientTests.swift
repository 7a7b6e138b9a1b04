import Administration
import Foundation
import Gateway
import MessageLog
import PKI
import Registry
import Schemas
import Storage
import Testing

/// Clients that send nothing, or too slowly: closed, with 408 for a request begun too slowly; the server goes on.
@Suite("Idle and slow clients")
struct SlowClientTests {
    static let fixture = Task { () throws -> Fixture in
        let fixture = try await Fixture.make("slow") { configuration in
            // The head deadline is shorter than the idle timeout, as by default (10 s and 30 s): the idle timeout,
            // which sees no HTTP part until a head is whole, would otherwise close a slow head first, silently.
            configuration.idleTimeoutSeconds = 5
            configuration.requestDeadlines.head = .seconds(2)
            configuration.requestDeadlines.body = .seconds(2)
        }
        // Egypt's ministry may send notices: a slow body reaches the route, which waits for it.
        try await fixture.grantEgyptSend()
        try await fixture.writeRegisteredCredential(partner: "EG-MOL", name: "slow-client")
        try await fixture.registryInForce()
        return fixture
    }

    /// The server still answers a new request. (The suite's pooled client connections are themselves closed by the
    /// 5 s idle timeout, so a request may meet one being closed: it is tried again.)
    func stillServes(_ fixture: Fixture) async throws -> Bool {
        for _ in 0..<3 {
            if let reply = try? await fixture.get("/v1/contracts", as: "LB-NSSF"), reply.status == 200 { return true }
            try await Task.sleep(for: .milliseconds(200))
        }
        return false
    }

    /// Runs Python with an open TLS connection (`stream`) as Egypt's ministry and `time` imported; returns what it printed.
    func python(_ fixture: Fixture, _ body: String) async throws -> [String] {
        let indented = body.split(separator: "\n", omittingEmptySubsequences: false).map { "        " + $0 }.joined(separator: "\n")
        let script = """
            import socket, ssl, sys, time
            port, cert, key, ca = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
            context = ssl.create_default_context(cafile=ca)
            context.load_cert_chain(cert, key)
            def closed_or_data(stream, wait):
                stream.settimeout(wait)
                try:
                    data = stream.recv(4096)
                except (TimeoutError, socket.timeout):
                    return None
                except (OSError, ssl.SSLError):
                    return b""
                return data
            with socket.create_connection(("127.0.0.1", int(port))) as raw:
                with context.wrap_socket(raw, server_hostname="localhost") as stream:
            \(indented)
            """
        // Off the concurrency pool: a blocking wait there would stall the server's own async work (the TLS verifier).
        let result = try await ChildProcess.run(
            "/usr/bin/python3",
            ["-c", script, String(fixture.exchangePort), fixture.directory + "/slow-client.crt", fixture.directory + "/slow-client.key", fixture.directory + "/ca.crt"])
        #expect(result.0 == 0, "\(result.1)")
        return result.1.split(separator: "\n").map(String.init)
    }

    @Test("A connection that sends nothing is closed after the idle timeout (5 s here)")
    func idle() async throws {
        let fixture = try await Self.fixture.value
        let lines = try await python(fixture, """
            start = time.monotonic()
            data = closed_or_data(stream, 10)
            print("closed" if data == b"" else "open", round(time.monotonic() - start, 1))
            """)
        let fields = lines.last?.split(separator: " ") ?? []
        #expect(fields.first == "closed", "\(lines)")
        #expect((4...9).contains(Double(fields.last ?? "") ?? 99), "closed after \(fields.last ?? "?") s")
        #expect(try await stillServes(fixture))
    }

    @Test("A request head sent a byte at a time (slow-loris) gets 408 request-timeout and the connection closed, though never idle")
    func slowHead() async throws {
        let fixture = try await Self.fixture.value
        let lines = try await python(fixture, """
            head = b"GET /v1/contracts HTTP/1.1\\r\\nHost: localhost\\r\\nX-Purpose: nssf-contribution-verification\\r\\n\\r\\n"
            start = time.monotonic()
            answer = None
            for i in range(len(head)):
                try:
                    stream.sendall(head[i:i + 1])
                except (OSError, ssl.SSLError):
                    break
                answer = closed_or_data(stream, 0.3)
                if answer is not None:
                    break
            print(answer.split(b"\\r\\n")[0].decode() if answer else "nothing", i, round(time.monotonic() - start, 1))
            rest = closed_or_data(stream, 5)
            while rest:
                rest = closed_or_data(stream, 5)
            print("closed" if rest == b"" else "open")
            """)
        #expect(lines.first?.hasPrefix("HTTP/1.1 408") == true, "\(lines)")
        #expect(lines.last == "closed", "\(lines)")
        #expect(try await stillServes(fixture))
    }

    @Test("A body trickled slower than the body deadline gets 408 and the connection closed; nothing is stored")
    func slowBody() async throws {
        let fixture = try await Self.fixture.value
        let lines = try await python(fixture, """
            stream.sendall(b"POST /v1/messages HTTP/1.1\\r\\nHost: localhost\\r\\nContent-Type: application/json\\r\\nX-Contract: work-permit-event/1\\r\\n"
                           b"X-Purpose: mou-work-permit-notification\\r\\nIdempotency-Key: slow-body\\r\\nContent-Length: 1000\\r\\n\\r\\n")
            answer = None
            for i in range(1000):
                try:
                    stream.sendall(b" ")
                except (OSError, ssl.SSLError):
                    break
                answer = closed_or_data(stream, 0.3)
                if answer is not None:
                    break
            print(answer.split(b"\\r\\n")[0].decode() if answer else "nothing", i)
            """)
        #expect(lines.first?.hasPrefix("HTTP/1.1 408") == true, "\(lines)")
        #expect(try await fixture.store.query("SELECT count(*) FROM inbox WHERE idempotency_reference = \(try fixture.inboxReference("slow-body"))").first?[0].decode(Int64.self) == 0)
        #expect(try await stillServes(fixture))
        #expect(try await fixture.log().verify().firstBreak == nil)
    }
}
