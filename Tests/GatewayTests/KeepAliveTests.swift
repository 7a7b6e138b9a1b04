import Foundation
import PKI
import Testing

/// HTTP/1.0 clients that ask for keep-alive (ApacheBench, legacy systems) keep their TLS connection.
@Suite("HTTP/1.0 keep-alive")
struct KeepAliveTests {
    static let fixture = Task { try await Fixture.make("keepalive") }

    @Test("Two HTTP/1.0 requests with Connection: keep-alive are answered on one TLS connection; without it the server closes")
    func http10() async throws {
        let fixture = try await Self.fixture.value
        let client = try fixture.authority.issueClient(partnerID: "LB-TEMP", organization: "Test", country: "LB")
        try PEMFiles.write(client, directory: fixture.directory, name: "keepalive-client")
        let script = """
            import socket, ssl, sys
            port, cert, key, ca = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
            context = ssl.create_default_context(cafile=ca)
            context.load_cert_chain(cert, key)
            def exchange(stream, keep):
                stream.sendall(b"GET /v1/contracts HTTP/1.0\\r\\nHost: localhost\\r\\n" + (b"Connection: keep-alive\\r\\n" if keep else b"") + b"\\r\\n")
                data = b""
                while b"\\r\\n\\r\\n" not in data:
                    chunk = stream.recv(4096)
                    if not chunk: break
                    data += chunk
                head, _, body = data.partition(b"\\r\\n\\r\\n")
                headers = {l.split(b":")[0].strip().lower(): l.split(b":", 1)[1].strip() for l in head.split(b"\\r\\n")[1:]}
                length = int(headers.get(b"content-length", b"-1"))
                while len(body) < length:
                    body += stream.recv(4096)
                return head.split(b"\\r\\n")[0].decode(), headers.get(b"connection", b"").decode().lower(), length
            with socket.create_connection(("127.0.0.1", int(port))) as raw:
                with context.wrap_socket(raw, server_hostname="localhost") as stream:
                    print(*exchange(stream, True))
                    print(*exchange(stream, True))
                    print(*exchange(stream, False))
                    stream.settimeout(5)
                    try:
                        print("closed" if stream.recv(1) == b"" else "open")
                    except (TimeoutError, socket.timeout):
                        print("open")
            """
        let result = try await JisrCLI.runProgram(
            "/usr/bin/python3",
            ["-c", script, String(fixture.exchangePort), fixture.directory + "/keepalive-client.crt", fixture.directory + "/keepalive-client.key", fixture.directory + "/ca.crt"])
        let lines = result.output.split(separator: "\n").map(String.init)
        #expect(result.status == 0, "\(result.output)")
        #expect(lines.count == 4, "\(result.output)")
        #expect(lines.prefix(2).allSatisfy { $0.contains(" 403 ") && $0.contains("keep-alive") }, "answered on the same connection, saying so: \(lines)")
        #expect(lines.dropFirst(2).first?.contains("keep-alive") == false)
        #expect(lines.last == "closed", "an HTTP/1.0 request without keep-alive closes the connection: \(lines)")
    }
}
