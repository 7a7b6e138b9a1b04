import Administration
import Foundation
import MessageLog
import Records
import Storage
import Testing

/// Two gateways on one PostgreSQL database, as two Jisr processes would run: the registry, the log and the relay's
/// outbox are shared. Heavy — two gateways' worth of services and a burst of load on each — so it runs in
/// scripts/test's pass of its own, never beside the timing-sensitive suites.
@Suite(
    "Several gateways on one database", .serialized, TestPass.heavy,
    .enabled(if: Fixture.storeKind == .postgres, "several gateways share a store on PostgreSQL only"))
struct SeveralGatewaysTests {
    @Test("A change made through one gateway is in force on the other without a restart; both append to one chain")
    func sharedRegistryAndLog() async throws {
        let fixture = try await OnboardingTests.fixture.value
        let (port, second, secondRegistry) = try await fixture.secondGateway()
        defer { second.cancel() }
        let admin = try fixture.administration()
        let path = "/v1/employment-records?nationalId=\(try #require(fixture.samples.nationalIds.first))"
        #expect(try await fixture.get(path, as: "LB-FLIP", port: port).status == 200)
        _ = try await admin.suspend(partner: "LB-FLIP", by: OnboardingTests.admin)
        // The change was made through the first gateway's writer; the second learns of it from the database alone.
        try await fixture.registryInForce(on: secondRegistry)
        let refused = try await fixture.get(path, as: "LB-FLIP", port: port)
        #expect(refused.status == 403 && refused.problemType?.hasSuffix("/partner-not-active") == true, "\(refused.text)")
        _ = try await admin.resume(partner: "LB-FLIP", by: OnboardingTests.admin)
        try await fixture.registryInForce(on: secondRegistry)
        #expect(try await fixture.get(path, as: "LB-FLIP", port: port).status == 200)
        // Both gateways append to the log at once: it stays one valid chain.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<30 {
                group.addTask {
                    let reply = try await fixture.get(path, as: "LB-NSSF", port: index % 2 == 0 ? port : nil)
                    try await expectLogged(reply, fixture: fixture, status: 200, problem: nil)
                }
            }
            try await group.waitForAll()
        }
        #expect(try await fixture.log().verify().firstBreak == nil)
    }

    @Test("Two gateways' relay workers share one outbox: 20 changes, 20 deliveries, none twice")
    func sharedOutbox() async throws {
        let (fixture, egypt, _) = try await RelayTests.setup.value
        let relay = RelayTests()
        let (_, second, _) = try await fixture.secondGateway()
        defer { second.cancel() }
        var messages: [UUID] = []
        var numbers: Set<String> = []
        for _ in 0..<20 {
            let relayed = try await relay.issueAndRelay(fixture, nationality: "EG")
            numbers.insert(relayed.number)
            messages.append(try #require(relayed.messages["EG-RELAY"]))
        }
        #expect(numbers.count == 20)
        for id in messages { try await relay.reaches(fixture, id, "delivered") }
        #expect(messages.allSatisfy { egypt.deliveries(of: $0).count == 1 }, "each delivered, none twice")
        #expect(try await fixture.log().verify().firstBreak == nil)
    }
}
