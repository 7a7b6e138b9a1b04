import Foundation
import MessageLog
import Storage
import Testing

/// Nothing in the executable writes synthetic data into a store it did not make: `jisr seed` and
/// `jisr access-report bench` refuse a store that holds real data, and change nothing in it.
@Suite("Synthetic data stays out of real stores")
struct SyntheticDataTests {
    @Test("jisr seed (with --replace) and jisr access-report bench refuse a store made by jisr migrate that holds real data; it is unchanged")
    func refusedOnARealStore() async throws {
        let name = "jisr_real_\(getpid())_\(UInt32.random(in: 0..<UInt32.max))"
        let directory = NSTemporaryDirectory() + "jisr-test-" + name
        let location = try await Fixture.freshStore(name, directory: directory)
        let url = location.description
        let pki = directory + "/pki"
        // The ministry's store as an operator makes it: schema, a PKI, a partner (an audited, real entry).
        let migrated = try await JisrCLI.run(["migrate", "--database-url", url])
        #expect(migrated.status == 0, "\(migrated.output)")
        #expect(try await JisrCLI.run(["pki", "init", "--dir", pki, "--dns-name", "localhost"]).status == 0)
        let added = try await JisrCLI.run(
            ["partner", "add", "--id", "LB-NSSF", "--name-ar", "الضمان", "--name-en", "NSSF", "--database-url", url])
        #expect(added.status == 0, "\(added.output)")
        func state() async throws -> [Int64] {
            try await withDatabase(location, connections: 1, logger: Fixture.quiet) { database in
                [
                    try await database.query("SELECT count(*) FROM message_log").first?[0].decode(Int64.self) ?? -1,
                    try await database.query("SELECT count(*) FROM ministry.persons").first?[0].decode(Int64.self) ?? -1,
                    try await database.query("SELECT count(*) FROM partners").first?[0].decode(Int64.self) ?? -1,
                ]
            }
        }
        let before = try await state()
        #expect(before[0] >= 1 && before[1] == 0 && before[2] == 1, "\(before)")
        for arguments in [
            ["seed", "--persons", "10", "--database-url", url],
            ["seed", "--persons", "10", "--replace", "--database-url", url],
            ["access-report", "bench", "--pki", pki, "--entries", "50", "--reports", "1", "--database-url", url],
        ] {
            let refused = try await JisrCLI.run(arguments)
            #expect(refused.status != 0 && refused.output.contains("not made for synthetic data"), "\(arguments): \(refused.output)")
            #expect(try await state() == before, "\(arguments) changed the store")
        }

        // A new store is another matter: jisr seed makes it, marks it, and may seed it again.
        let sandboxName = name + "_demo"
        let sandbox = try await Fixture.freshStore(sandboxName, directory: directory + "/sandbox")
        let seeded = try await JisrCLI.run(["seed", "--persons", "10", "--database-url", sandbox.description])
        #expect(seeded.status == 0, "\(seeded.output)")
        let again = try await JisrCLI.run(["seed", "--persons", "12", "--replace", "--database-url", sandbox.description])
        #expect(again.status == 0 && again.output.contains("12 persons"), "\(again.output)")
    }
}
