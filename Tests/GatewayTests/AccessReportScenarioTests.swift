import Administration
import Foundation
import Gateway
import MessageLog
import NIOHTTP1
import Records
import Registry
import Schemas
import Storage
import Testing
import Transparency

/// One worker's whole story through the gateway, then their report: every exchange about them and nothing else,
/// and no identifier of anyone's in clear in the store or in the server's own log at trace level.
@Suite("A person's access report after a full scenario", .serialized)
struct AccessReportScenarioTests {
    /// The gateway's own log, down to trace level, read at the end of the scenario.
    static let captured = CapturedLog()
    static let fixture = Task { try await Fixture.make("scenario", relay: true, sealing: Fixture.sealing(every: 4), logger: captured.logger) }

    /// An Egyptian worker with an NSSF number, an employment and a permit not yet issued; and someone else.
    struct Cast {
        let passport: String
        let nssfNumber: String
        let permit: String
        let otherNationalId: String
    }

    func cast(_ fixture: Fixture) async throws -> Cast {
        let rows = try await fixture.store.query(
            """
            SELECT p.passport_number, p.nssf_number, w.permit_number FROM ministry.persons p
            JOIN ministry.work_permits w ON w.person_id = p.id
            WHERE p.nationality = 'EG' AND p.nssf_number IS NOT NULL AND p.passport_number IS NOT NULL AND w.status <> 'issued'
              AND EXISTS (SELECT 1 FROM ministry.employments e WHERE e.person_id = p.id)
            ORDER BY p.id, w.id LIMIT 1
            """
        ).decode((String, String, String).self)
        let (passport, nssfNumber, permit) = try #require(rows.first, "the seeded population has an Egyptian worker with an NSSF number and a pending permit")
        let other = try #require(fixture.samples.nationalIds.first)
        return Cast(passport: passport, nssfNumber: nssfNumber, permit: permit, otherNationalId: other)
    }

    @Test("Looked up by the NSSF two ways, fetched by Egypt alone and in a page, relayed to Egypt, sent in, read, refused: exactly those rows, the right fields, nothing of another; no identifier in clear")
    func scenario() async throws {
        let fixture = try await Self.fixture.value
        let egypt = try await TestPartner(authority: fixture.authority, directory: fixture.directory, name: "mock-eg")
        let admin = try fixture.administration()
        let actor = Administrator(fingerprint: nil, name: "scenario")
        let catalog = try ContractCatalog.load(from: Fixture.repository.appendingPathComponent("contracts"))
        let event = try #require(catalog[WorkPermitEvent.contract])
        try await admin.addPartner(
            Partner(id: "EG-RELAY", nameAr: "وزارة العمل المصرية", nameEn: "Egypt's Ministry of Labour", country: "EG", status: .active, adapter: "standard",
                endpoint: egypt.endpoint, contact: "SCAN-CONTROL-4417"),
            by: actor)
        try await admin.grant(
            Agreement(
                partnerID: "EG-RELAY", contract: WorkPermitEvent.contract, operations: [.receive], purposes: ["mou-work-permit-notification"],
                fields: event.leafFields, validFrom: Date().addingTimeInterval(-60), validUntil: Date().addingTimeInterval(86_400), mouReference: "MoU LB-EG",
                scopeNationalities: ["EG"]),
            by: actor)
        try await fixture.grantEgyptSend()
        try await fixture.registryInForce()
        let cast = try await cast(fixture)
        let person = "passportNumber=\(cast.passport)&nationality=EG"
        var ours: [String: UUID] = [:]

        func expectStatus(_ reply: Reply, _ status: Int, _ what: String) throws -> UUID {
            #expect(reply.status == status, "\(what): \(reply.text.prefix(300))")
            guard let id = reply.messageId else { throw ScenarioFailure(what: "\(what) has no X-Message-Id") }
            return id
        }
        ours["nssf by passport"] = try expectStatus(try await fixture.get("/v1/employment-records?\(person)", as: "LB-NSSF"), 200, "NSSF by passport")
        let other = try expectStatus(try await fixture.get("/v1/employment-records?nationalId=\(cast.otherNationalId)", as: "LB-NSSF"), 200, "another person")
        ours["nssf by number"] = try expectStatus(
            try await fixture.get("/v1/employment-records?nssfNumber=\(cast.nssfNumber)", as: "LB-NSSF"), 200, "NSSF by NSSF number")

        // The ministry issues the permit; the relay tells Egypt.
        let changedSince = ISO8601DateFormatter().string(from: Date().addingTimeInterval(-2))
        func ids(_ sql: SQL) async throws -> [String] { try await fixture.store.query(sql).map { try $0[0].decode(UUID.self).uuidString } }
        let outboxBefore = Set(try await ids("SELECT message_id FROM relay_outbox"))
        try await fixture.sql(
            """
            UPDATE ministry.work_permits SET status = 'issued', issued_on = \(fixture.sqlToday), expires_on = \(fixture.sqlDays(after: fixture.sqlToday, 365)),
                updated_at = \(fixture.sqlNow) WHERE permit_number = '\(cast.permit)'
            """)
        try await Fixture.until("the permit change queued for EG-RELAY") {
            try await ids("SELECT message_id FROM relay_outbox WHERE partner_id = 'EG-RELAY'").contains { !outboxBefore.contains($0) }
        }
        let queued = try await ids("SELECT message_id FROM relay_outbox WHERE partner_id = 'EG-RELAY'").first { !outboxBefore.contains($0) }
        let relayed = try #require(queued.flatMap(UUID.init(uuidString:)))
        ours["relayed to Egypt"] = relayed
        let delivered = try await egypt.delivery(of: relayed)
        #expect(try event.read(delivered.body, format: .json)["permit"]?["permitNumber"]?.stringValue == cast.permit)

        ours["Egypt fetches the permit"] = try expectStatus(
            try await fixture.get("/v1/work-permits/\(cast.permit)", as: "EG-MOL", purpose: "mou-work-permit-notification"), 200, "Egypt by permit number")
        let page = try await fixture.get("/v1/work-permits?nationality=EG&changedSince=\(changedSince)&limit=50", as: "EG-MOL", purpose: "mou-work-permit-notification")
        ours["Egypt's page"] = try expectStatus(page, 200, "Egypt's page")
        #expect(page.json?["items"]?.arrayValue?.contains { $0["permitNumber"]?.stringValue == cast.permit } == true, "the page holds their permit")

        let notice = InboundSendTests.notice.replacingOccurrences(of: "EP1234567", with: cast.passport)
            .replacingOccurrences(of: "\"ET\"", with: "\"EG\"").replacingOccurrences(of: "WP-2024-0001234", with: cast.permit)
        let sent = try expectStatus(try await fixture.send(Array(notice.utf8), key: "scenario-notice-1"), 202, "Egypt's notice")
        ours["Egypt's notice"] = sent
        #expect(try await fixture.admin(.GET, "/admin/v1/inbox/\(sent.uuidString.lowercased())").status == 200)
        let read = try await ids("SELECT message_id FROM message_log WHERE operation = 'inbox.read' AND correlation_id = \(sent)")
        let readId = try #require(read.first.flatMap(UUID.init(uuidString:)))
        ours["the notice read"] = readId
        ours["refused"] = try expectStatus(
            try await fixture.get("/v1/employment-records?\(person)", as: "LB-NSSF", purpose: "mou-work-permit-notification"), 403, "a purpose not granted")

        var seqs: [String: Int64] = [:]
        for (name, id) in ours { seqs[name] = try await fixture.entry(messageId: id).seq }
        let otherSeq = try await fixture.entry(messageId: other).seq
        let last = try #require(seqs.values.max())
        let seals = SealStore(database: fixture.store, logger: Fixture.quiet)
        for _ in 0..<4 { _ = try await fixture.get("/v1/contracts", as: "EG-MOL", purpose: nil) }
        try await Fixture.until("a seal past seq \(last)") { try await seals.latest().map { $0.treeHead.size >= last } ?? false }

        let reply = try await fixture.admin(.GET, "/admin/v1/access-report?\(person)")
        #expect(reply.status == 200, "\(reply.text.prefix(300))")
        let report = try JSONDecoder().decode(AccessReport.self, from: Data(reply.body))
        let rows = Dictionary(uniqueKeysWithValues: report.rows.map { ($0.receipt.seq, $0) })
        #expect(Set(rows.keys) == Set(seqs.values), "exactly: \(seqs.sorted { $0.value < $1.value }) — listed \(rows.keys.sorted())")
        #expect(rows[otherSeq] == nil && report.subject.known)
        func row(_ name: String) throws -> AccessReport.Row {
            guard let row = seqs[name].flatMap({ rows[$0] }) else { throw ScenarioFailure(what: "\(name) is not in the report") }
            return row
        }
        for name in ["nssf by passport", "nssf by number"] {
            let nssf = try row(name)
            let paths = nssf.fields.map(\.path)
            #expect(paths.contains("person.name") && !paths.contains("employments.monthlySalary"), "\(name): what the NSSF's agreement grants: \(paths)")
            #expect(nssf.partner?.nameAr == "الضمان" && nssf.outcome == "answered" && nssf.mouReference == "TEST/1")
        }
        for name in ["relayed to Egypt", "Egypt fetches the permit", "Egypt's page", "Egypt's notice"] {
            let answered = try row(name)
            #expect(!answered.fields.isEmpty && answered.outcome == "answered", "\(name): \(answered)")
        }
        let (relayRow, fetch, pageRow, readRow) = (try row("relayed to Egypt"), try row("Egypt fetches the permit"), try row("Egypt's page"), try row("the notice read"))
        #expect(relayRow.partner?.nameEn == "Egypt's Ministry of Labour" && relayRow.direction == "outbound-relay" && relayRow.mouReference == "MoU LB-EG")
        #expect(pageRow.fields.map(\.path) == fetch.fields.map(\.path), "a page discloses what a fetch does")
        #expect(readRow.partner == nil && readRow.direction == "admin")
        let refused = try row("refused")
        #expect(refused.outcome == "refused" && refused.fields.isEmpty && refused.problem?.hasSuffix("purpose-not-granted") == true, "\(refused)")

        // By the NSSF number: the same exchanges, and the first report's asking besides.
        let byNumber = try JSONDecoder().decode(AccessReport.self, from: Data(try await fixture.admin(.GET, "/admin/v1/access-report?nssfNumber=\(cast.nssfNumber)").body))
        let asked = Set(byNumber.rows.map(\.receipt.seq)).subtracting(seqs.values)
        #expect(asked.count == 1 && byNumber.rows.first { asked.contains($0.receipt.seq) }?.direction == "admin", "\(asked)")

        // No identifier of anyone in clear: in any of the gateway's tables, or anywhere in its log at trace level.
        let identifiers = [cast.passport, cast.nssfNumber, cast.permit, cast.otherNationalId]
        let text = Data(reply.body)
        for identifier in [cast.passport, cast.otherNationalId] { #expect(text.range(of: Data(identifier.utf8)) == nil, "the report holds \(identifier)") }
        let found = try await Self.inClear(identifiers, in: fixture)
        #expect(found.isEmpty, "identifiers stored in clear: \(found)")
        // The scan finds what is there: a partner's contact, stored in clear as it should be.
        let control = try await Self.inClear(["SCAN-CONTROL-4417"], in: fixture)
        #expect(control.contains("partners.contact holds SCAN-CONTROL-4417"), "\(control)")
        let log = Self.captured.text
        let lookup = try #require(ours["nssf by passport"]).uuidString
        #expect(log.contains("trace ") && log.contains(lookup), "the server's log, at trace level, is what was read")
        for identifier in identifiers { #expect(!log.contains(identifier), "the server's log holds \(identifier): \(Self.around(identifier, in: log))") }
    }

    /// Every `table.column` of the gateway's own tables (not the ministry's records) whose value holds one of
    /// `identifiers`, compared as hex so that text and bytes alike are read.
    static func inClear(_ identifiers: [String], in fixture: Fixture) async throws -> [String] {
        /// Each column of the gateway's tables with the expression that reads it as hex.
        var columns: [(table: String, column: String, hex: String)] = []
        switch fixture.location.dialect {
        case .postgres:
            for (table, column, type) in try await fixture.store.query(
                "SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = current_schema()"
            ).decode((String, String, String).self) {
                let hex = type == "bytea" ? "encode(\"\(column)\", 'hex')" : "encode(convert_to(\"\(column)\"::text, 'UTF8'), 'hex')"
                columns.append((table, column, hex))
            }
        case .sqlite:
            for table in try await fixture.store.query("SELECT name FROM main.sqlite_master WHERE type = 'table'").decode(String.self) {
                for column in try await fixture.store.query(SQL(unsafeSQL: "SELECT name FROM pragma_table_info('\(table)')")).decode(String.self) {
                    columns.append((table, column, "lower(hex(\"\(column)\"))"))
                }
            }
        }
        let tables = Set(columns.map(\.table))
        #expect(tables.isSuperset(of: ["message_log", "log_subjects", "inbox", "relay_outbox", "partners", "agreements"]), "\(tables.sorted())")
        let hexes = identifiers.map { identifier in (identifier, identifier.utf8.map { String(format: "%02x", $0) }.joined()) }
        var found: [String] = []
        for (table, column, hex) in columns {
            for value in try await fixture.store.query(SQL(unsafeSQL: "SELECT \(hex) FROM \"\(table)\" WHERE \"\(column)\" IS NOT NULL")).decode(String.self) {
                for (identifier, needle) in hexes where value.contains(needle) { found.append("\(table).\(column) holds \(identifier)") }
            }
        }
        return Array(Set(found)).sorted()
    }

    static func around(_ needle: String, in text: String) -> String {
        guard let range = text.range(of: needle) else { return "" }
        let line = text[..<range.lowerBound].lastIndex(of: "\n").map { text.index(after: $0) } ?? text.startIndex
        return String(text[line...].prefix(400))
    }
}

struct ScenarioFailure: Error {
    let what: String
}
