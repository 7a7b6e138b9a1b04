import Administration
import AsyncHTTPClient
import Foundation
import MessageLog
import NIOCore
import NIOHTTP1
import PKI
import Records
import Registry
import Schemas
import Storage
import Testing

/// The admin API over mutual TLS with an admin-CA certificate: the same operations and audit as the CLI.
@Suite("Admin API", .serialized)
struct AdminAPITests {
    static let fixture = Task { try await Fixture.make("admin") }

    @Test("Onboard a partner through the API: add, sign its CSR, resume, grant; it queries; suspend refuses")
    func onboardingThroughTheAPI() async throws {
        let fixture = try await Self.fixture.value
        let added = try await fixture.admin(.POST, "/admin/v1/partners", json: #"{"id":"OM-MOL","nameAr":"وزارة العمل العمانية","nameEn":"Ministry of Labour, Oman","contact":"it@mol.gov.om"}"#)
        #expect(added.status == 201, "\(added.text)")
        #expect(added.json?["status"]?.stringValue == "pending")
        let (csr, key) = try await OnboardingTests.csr(subject: "/C=OM/O=Ministry of Labour/CN=OM-MOL")
        var body = JSONObject()
        body["csr"] = .string(csr)
        body["days"] = .integer(90)
        let issued = try await fixture.admin(.POST, "/admin/v1/partners/OM-MOL/certificates", json: JSONWriter.string(.object(body)))
        #expect(issued.status == 201, "\(issued.text)")
        let chain = try #require(issued.json?["chain"]?.stringValue)
        #expect(try await fixture.admin(.POST, "/admin/v1/partners/OM-MOL/resume").json?["status"]?.stringValue == "active")
        let grant = try await fixture.admin(
            .POST, "/admin/v1/agreements",
            json: #"{"partner":"OM-MOL","contract":"establishment/1","operations":["query"],"purposes":["nssf-contribution-verification"],"fields":["all"],"validFrom":"2026-01-01T00:00:00Z","validUntil":"2030-01-01T00:00:00Z","mouReference":"MoU LB-OM 2026/2"}"#)
        #expect(grant.status == 201, "\(grant.text)")

        let oman = try Fixture.httpClient(certificatePEM: chain, keyPEM: key, trusting: fixture.authority)
        let path = "/v1/establishments/\(try #require(fixture.samples.establishmentNumbers.first))"
        #expect(try await OnboardingTests().nextReply(fixture, path, with: oman).status == 200)
        #expect(try await fixture.admin(.POST, "/admin/v1/partners/OM-MOL/suspend").status == 200)
        #expect(try await OnboardingTests().nextReply(fixture, path, with: oman).status == 403)
        try await oman.shutdown()

        let shown = try await fixture.admin(.GET, "/admin/v1/partners/OM-MOL")
        #expect(shown.json?["certificates"]?.arrayValue?.count == 1)
        #expect(shown.json?["agreements"]?.arrayValue?.count == 1)
        // The audit entries carry the administrator's certificate fingerprint.
        var actors: Set<String> = []
        for actor in try await fixture.store.query(
            "SELECT certificate_fingerprint FROM message_log WHERE direction = 'admin' AND partner = 'OM-MOL'"
        ).decode(String?.self) {
            actors.insert(actor ?? "none")
        }
        #expect(actors.count == 1 && actors.first?.count == 64)
    }

    @Test("A partner's relay endpoint is set, refused when not https, and removed; each change is audited")
    func endpoints() async throws {
        let fixture = try await Self.fixture.value
        let set = try await fixture.admin(.PUT, "/admin/v1/partners/EG-MOL/endpoint", json: #"{"endpoint":"https://mol.gov.eg/jisr/inbox"}"#)
        #expect(set.status == 200 && set.json?["endpoint"]?.stringValue == "https://mol.gov.eg/jisr/inbox", "\(set.text)")
        let plain = try await fixture.admin(.PUT, "/admin/v1/partners/EG-MOL/endpoint", json: #"{"endpoint":"http://mol.gov.eg/jisr/inbox"}"#)
        #expect(plain.status == 422 && plain.problemType?.hasSuffix("/invalid-endpoint") == true, "\(plain.text)")
        #expect(try await fixture.admin(.PUT, "/admin/v1/partners/EG-MOL/endpoint", json: #"{"endpoint":"https://mol.gov.eg/jisr/inbox"}"#).status == 409)
        let cli = try await JisrCLI.run([
            "partner", "set-endpoint", "EG-MOL", "--none", "--database-url", fixture.databaseURL, "--contracts", Fixture.repository.appendingPathComponent("contracts").path,
        ])
        #expect(cli.status == 0 && cli.output.contains("has no relay endpoint"), "\(cli.output)")
        #expect(try await fixture.admin(.GET, "/admin/v1/partners/EG-MOL").json?["partner"]?["endpoint"] == nil)
        var actions: [String] = []
        for action in try await fixture.store.query(
            "SELECT operation FROM message_log WHERE direction = 'admin' AND partner = 'EG-MOL' AND operation = 'partner.set-endpoint'"
        ).decode(String.self) {
            actions.append(action)
        }
        #expect(actions.count == 2, "two changes, two audit entries (the refusals wrote none)")
    }

    @Test("Refusals are problem documents with the operation's code; nothing changes", arguments: [
        ("POST", "/admin/v1/partners", #"{"id":"LB-NSSF","nameAr":"x","nameEn":"x"}"#, 409, "duplicate-partner"),
        ("POST", "/admin/v1/partners", #"{"id":"lb nssf","nameAr":"x","nameEn":"x"}"#, 422, "invalid-partner-id"),
        ("POST", "/admin/v1/partners", #"{"id":"LB-X","id":"LB-Y","nameAr":"x","nameEn":"x"}"#, 400, "invalid-body"),
        ("POST", "/admin/v1/partners/XX-NONE/suspend", nil, 404, "not-found"),
        ("POST", "/admin/v1/agreements", #"{"partner":"LB-NSSF","contract":"employment-record/1","operations":["query"],"purposes":["nssf-contribution-verification"],"fields":["person.religion"],"validFrom":"2026-01-01T00:00:00Z","validUntil":"2027-01-01T00:00:00Z","mouReference":"M"}"#, 422, "unknown-field"),
        ("POST", "/admin/v1/agreements", #"{"partner":"LB-NSSF","contract":"employment-record/1","operations":["query"],"purposes":["nssf-contribution-verification"],"fields":["all"],"validFrom":"2027-01-01T00:00:00Z","validUntil":"2026-01-01T00:00:00Z","mouReference":"M"}"#, 422, "invalid-validity"),
    ] as [(String, String, String?, Int, String)])
    func refusals(method: String, path: String, body: String?, status: Int, code: String) async throws {
        let fixture = try await Self.fixture.value
        let before = try await fixture.log().count()
        let reply = try await fixture.admin(HTTPMethod(rawValue: method), path, json: body)
        #expect(reply.status == status, "\(reply.text)")
        #expect(reply.problemType == "https://jisr.labor.gov.lb/problems/admin/\(code)")
        #expect(try await fixture.log().count() == before)
    }

    @Test("A write that is not JSON, or that a browser sends from another site, is refused before anything reads it; nothing changes")
    func crossSiteWritesAreRefused() async throws {
        let fixture = try await Self.fixture.value
        let before = try await fixture.log().count()
        let partner = #"{"id":"LB-CSRF","nameAr":"x","nameEn":"x"}"#
        func post(_ path: String, body: String?, headers: [(String, String)]) async throws -> Reply {
            var request = HTTPClientRequest(url: "https://localhost:\(fixture.adminPort)\(path)")
            request.method = .POST
            for (name, value) in headers { request.headers.add(name: name, value: value) }
            if let body { request.body = .bytes(ByteBuffer(string: body)) }
            let response = try await fixture.clients["admin"]!.execute(request, timeout: .seconds(15))
            return Reply(status: Int(response.status.code), headers: response.headers, body: Array(buffer: try await response.body.collect(upTo: 1 << 20)))
        }
        let own = "https://localhost:\(fixture.adminPort)"
        for (body, headers, status, code) in [
            // What a form on another site posts: the JSON text as text/plain, or form-encoded.
            (partner, [("Content-Type", "text/plain")], 415, "unsupported-media-type"),
            (partner, [("Content-Type", "application/x-www-form-urlencoded")], 415, "unsupported-media-type"),
            (partner, [], 415, "unsupported-media-type"),
            // JSON, but the browser says it comes from elsewhere.
            (partner, [("Content-Type", "application/json"), ("Origin", "https://evil.example")], 403, "cross-site-request"),
            (partner, [("Content-Type", "application/json"), ("Sec-Fetch-Site", "cross-site"), ("Origin", own)], 403, "cross-site-request"),
            (partner, [("Content-Type", "application/json"), ("Sec-Fetch-Site", "same-site")], 403, "cross-site-request"),
        ] as [(String, [(String, String)], Int, String)] {
            let reply = try await post("/admin/v1/partners", body: body, headers: headers)
            #expect(reply.status == status && reply.problemType?.hasSuffix("/admin/\(code)") == true, "\(headers): \(reply.status) \(reply.text)")
        }
        // A body-less action from another site is refused as well.
        let suspend = try await post("/admin/v1/partners/LB-NSSF/suspend", body: nil, headers: [("Sec-Fetch-Site", "cross-site"), ("Sec-Fetch-Mode", "no-cors")])
        #expect(suspend.status == 403 && suspend.problemType?.hasSuffix("/admin/cross-site-request") == true, "\(suspend.text)")
        #expect(try await fixture.log().count() == before, "nothing was done, nothing audited")
        #expect(try await fixture.administration().partners().allSatisfy { $0.partner.id != "LB-CSRF" })
        #expect(try await fixture.administration().partner("LB-NSSF").partner.status == .active)
        // The administrator's own tools, and the same page (same origin), still act.
        let added = try await post(
            "/admin/v1/partners", body: partner, headers: [("Content-Type", "application/json; charset=utf-8"), ("Origin", own), ("Sec-Fetch-Site", "same-origin")])
        #expect(added.status == 201, "\(added.text)")
    }

    @Test(
        "A partner's certificate, or none, cannot reach the admin listener: the handshake fails with the server's alert",
        arguments: [("LB-NSSF", "TLSV1_ALERT_UNKNOWN_CA"), ("anonymous", "TLSV1_ALERT_CERTIFICATE_REQUIRED")])
    func partnersAreNotAdministrators(caller: String, alert: String) async throws {
        let fixture = try await Self.fixture.value
        let refusal = await Fixture.tlsRefusal { _ = try await fixture.admin(.GET, "/admin/v1/partners", as: caller) }
        #expect(refusal == alert)
    }

    @Test("An admin-CA certificate opens nothing until registered; revoked, it is refused at once; the last one cannot be revoked")
    func administratorsAreRegistered() async throws {
        let fixture = try await Self.fixture.value
        let adminCA = try CertificateAuthority(
            certificatePEM: try String(contentsOfFile: fixture.directory + "/admin-ca.crt", encoding: .utf8),
            privateKeyPEM: try String(contentsOfFile: fixture.directory + "/admin-ca.key", encoding: .utf8))
        let credential = try adminCA.issueClient(partnerID: "admin-2", organization: "MoL administrators", country: "LB")
        let second = try Fixture.httpClient(credential: credential, trusting: fixture.authority)
        func asSecond(_ method: HTTPMethod, _ path: String, json: String? = nil) async throws -> Reply {
            var request = HTTPClientRequest(url: "https://localhost:\(fixture.adminPort)\(path)")
            request.method = method
            if let json {
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .bytes(ByteBuffer(string: json))
            }
            let response = try await second.execute(request, timeout: .seconds(15))
            return Reply(status: Int(response.status.code), headers: response.headers, body: Array(buffer: try await response.body.collect(upTo: 1 << 20)))
        }
        let stranger = try await asSecond(.GET, "/admin/v1/partners")
        #expect(stranger.status == 403 && stranger.problemType?.hasSuffix("/administrator-not-registered") == true, "\(stranger.text)")

        var body = JSONObject()
        body["certificate"] = .string(try credential.certificatePEM)
        body["name"] = .string("Rania, second administrator")
        let registered = try await fixture.admin(.POST, "/admin/v1/administrators", json: JSONWriter.string(.object(body)))
        #expect(registered.status == 201, "\(registered.text)")
        let fingerprint = try credential.fingerprint
        #expect(registered.json?["fingerprint"]?.stringValue == fingerprint)
        #expect(try await fixture.admin(.POST, "/admin/v1/administrators", json: JSONWriter.string(.object(body))).status == 409, "registered once")
        // A partner's certificate is not an administrator's, even through the API.
        var partnerBody = JSONObject()
        partnerBody["certificate"] = .string(try fixture.authority.issueClient(partnerID: "LB-X", organization: "X", country: "LB").certificatePEM)
        let refusedPartner = try await fixture.admin(.POST, "/admin/v1/administrators", json: JSONWriter.string(.object(partnerBody)))
        #expect(refusedPartner.status == 422 && refusedPartner.problemType?.hasSuffix("/untrusted-certificate") == true, "\(refusedPartner.text)")

        #expect(try await asSecond(.GET, "/admin/v1/partners").status == 200)
        // Its actions are audited under its own name and fingerprint.
        let added = try await asSecond(.POST, "/admin/v1/purposes", json: #"{"code":"admin-two-purpose","descriptionAr":"غرض","descriptionEn":"A purpose","legalBasis":"Test"}"#)
        #expect(added.status == 201, "\(added.text)")
        let audited = try await fixture.store.query(
            "SELECT certificate_fingerprint, detail FROM message_log WHERE direction = 'admin' AND operation = 'purpose.add' ORDER BY seq DESC LIMIT 1"
        ).decode((String?, String?).self).first
        #expect(audited?.0 == fingerprint && audited?.1?.contains("Rania, second administrator") == true, "\(String(describing: audited))")

        // The first administrator revokes the second: refused on its very next request.
        let revoked = try await fixture.admin(.POST, "/admin/v1/administrators/\(fingerprint)/revoke", json: #"{"reason":"left the ministry"}"#)
        #expect(revoked.status == 200 && revoked.json?["status"]?.stringValue == "revoked", "\(revoked.text)")
        let after = try await asSecond(.GET, "/admin/v1/partners")
        #expect(after.status == 403 && after.problemType?.hasSuffix("/administrator-revoked") == true, "\(after.text)")
        try await second.shutdown()

        // The first is now the only active one: it cannot revoke itself out of existence.
        let listed = try await fixture.admin(.GET, "/admin/v1/administrators")
        let active = listed.json?.arrayValue?.filter { $0["status"]?.stringValue == "active" } ?? []
        #expect(active.count == 1)
        let own = try #require(active.first?["fingerprint"]?.stringValue)
        let last = try await fixture.admin(.POST, "/admin/v1/administrators/\(own)/revoke", json: #"{"reason":"test"}"#)
        #expect(last.status == 409 && last.problemType?.hasSuffix("/last-administrator") == true, "\(last.text)")
        #expect(try await fixture.admin(.GET, "/admin/v1/partners").status == 200)
    }
}
