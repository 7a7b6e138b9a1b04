import Foundation
import Gateway
import Records
import Testing

/// No one can stop the gateway from outside: the CRL listener (reachable from anywhere) and the ops listener hold a
/// bounded number of connections and close idle ones, so a flood of them takes neither the process's descriptors nor
/// the exchange listener's service.
@Suite("Listeners under a flood", .serialized, TestPass.heavy)
struct ListenerFloodTests {
    static let crlPort = Task { try PrometheusServer.freePort() }
    static let fixture = Task {
        let crlPort = try await Self.crlPort.value
        return try await Fixture.make("flood") { configuration in
            configuration.crl = CRLPublication(host: "127.0.0.1", port: crlPort, file: NSTemporaryDirectory() + "flood-\(getpid())-partner-ca.crl")
            // Short enough that the flood's idle connections close within the test, as they would after 30 s.
            configuration.idleTimeoutSeconds = 3
        }
    }

    @Test("400 idle connections to the CRL listener and 150 to the ops listener: the process holds at most their caps, a partner's lookups keep answering, every flooding connection is closed")
    func floodBothPlainListeners() async throws {
        let fixture = try await Self.fixture.value
        let crlPort = try await Self.crlPort.value
        #expect(try await fixture.get("/v1/employment-records?nationalId=\(fixture.samples.nationalIds[0])", as: "LB-NSSF").status == 200)
        let baseline = Self.openDescriptors()

        // The flood comes from another process, as it would: its sockets are not this process's descriptors.
        let flood = try BackgroundProcess(
            "/usr/bin/env", ["python3", "-c", Self.flooder, "120", "127.0.0.1:\(crlPort):400", "127.0.0.1:\(fixture.opsPort):150"],
            logFile: fixture.directory + "/flood.log")
        defer { flood.terminate() }
        try await flood.until("the flood's connections opened") { flood.log.contains("opened 550") }

        // Until the idle timeout starts closing them, the process never holds more than the two listeners' caps.
        var highest = baseline
        var lookups: [Int] = []
        while !flood.log.contains("closed ") {
            highest = max(highest, Self.openDescriptors())
            if lookups.count < 20 {
                lookups.append(try await fixture.get("/v1/employment-records?nationalId=\(fixture.samples.nationalIds[lookups.count % 5])", as: "LB-NSSF").status)
            } else {
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        #expect(highest - baseline <= 256 + 64 + 40, "descriptors: \(baseline) before the flood, \(highest) at most during it")
        #expect(highest - baseline >= 200, "the flood reached the listeners (\(baseline) → \(highest))")
        #expect(lookups.count >= 5 && lookups.allSatisfy { $0 == 200 }, "the partner's lookups during the flood: \(lookups)")

        // Every flooding connection is closed by the gateway (the idle timeout), those that waited in the queue too.
        try await Fixture.until("the flood's end", limit: Duration.seconds(150)) { flood.log.contains("all closed") || flood.log.contains("still open") }
        #expect(flood.log.contains("all closed"), "every flooding connection closed by the gateway: \(flood.log.suffix(300))")
        #expect(try await fixture.get("/v1/employment-records?nationalId=\(fixture.samples.nationalIds[1])", as: "LB-NSSF").status == 200)
        let (status, _) = try await JisrCLI.runProgram("/usr/bin/curl", ["-sf", "-o", "/dev/null", "http://127.0.0.1:\(fixture.opsPort)/health/live"])
        #expect(status == 0, "the ops listener answers again")
    }

    static func openDescriptors() -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? 0
    }

    /// Opens the connections (non-blocking: those past a listener's queue keep trying), sends nothing, and reports each
    /// one the server closes, until all are closed or the time (first argument, seconds) is up.
    static let flooder = #"""
        import select, socket, sys, time
        limit = time.time() + float(sys.argv[1])
        sockets = []
        for target in sys.argv[2:]:
            host, port, count = target.split(":")
            for _ in range(int(count)):
                s = socket.socket()
                s.setblocking(False)
                s.connect_ex((host, int(port)))
                sockets.append(s)
        print("opened", len(sockets), flush=True)
        poller = select.poll()
        for s in sockets:
            poller.register(s, select.POLLIN | select.POLLHUP | select.POLLERR)
        closed = set()
        while len(closed) < len(sockets) and time.time() < limit:
            for fd, event in poller.poll(500):
                if fd in closed:
                    continue
                s = next(x for x in sockets if x.fileno() == fd)
                try:
                    if event & select.POLLIN and s.recv(1) != b"":
                        continue
                except BlockingIOError:
                    continue
                except OSError:
                    pass
                closed.add(fd)
                poller.unregister(fd)
                print("closed", len(closed), flush=True)
        print("all closed" if len(closed) == len(sockets) else "still open %d" % (len(sockets) - len(closed)), flush=True)
        """#
}
