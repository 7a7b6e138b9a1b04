import AsyncHTTPClient
import Foundation
import Gateway
import MessageLog
import NIOCore
import NIOHTTP1
import PKI
import Storage
import Testing

/// The per-certificate limit ahead of every route: a certificate flooding the gateway — a revoked one, one whose
/// partner is suspended, or an active partner's — cannot grow the log faster than its limit, whatever it asks.
@Suite("Per-certificate rate limits")
struct CertificateLimitTests {
    /// Tiny limits, so a test reaches them in a few requests: refills come every 20 s and 30 s, far apart.
    static let fixture = Task {
        try await Fixture.make("certlimit") {
            $0.certificateRateLimit = 3
            $0.refusedCertificateRateLimit = 2
        }
    }

    func logged(_ fixture: Fixture, fingerprint: String) async throws -> Int {
        for count in try await fixture.store.query("SELECT count(*) FROM message_log WHERE certificate_fingerprint = \(fingerprint)").decode(Int64.self) {
            return Int(count)
        }
        return 0
    }

    @Test("A suspended partner's certificate: its refusals are logged up to the limit, one refusal says so, the rest leave no entry")
    func refusedCertificate() async throws {
        let fixture = try await Self.fixture.value
        var replies: [Reply] = []
        // Metadata, a receipt and a consistency proof: routes without a purpose, which no agreement limits.
        for path in ["/v1/contracts", "/v1/log/consistency?from=1&to=2", "/v1/messages/\(UUID())/receipt", "/v1/openapi.json"] + Array(repeating: "/v1/contracts", count: 8) {
            replies.append(try await fixture.get(path, as: "LB-SUSP", purpose: nil))
        }
        #expect(replies.prefix(2).allSatisfy { $0.status == 403 && $0.problemType?.hasSuffix("/partner-not-active") == true }, "\(replies.prefix(2).map(\.status))")
        #expect(replies.dropFirst(2).allSatisfy { $0.status == 429 && $0.problemType?.hasSuffix("/certificate-rate-limited") == true })
        #expect(replies.dropFirst(2).allSatisfy { $0.headers.first(name: "Retry-After").flatMap(Int.init).map { $0 >= 1 } == true })
        #expect(replies.prefix(3).allSatisfy { $0.headers.first(name: "X-Log-Seq") != nil }, "admitted requests and the first refusal are logged")
        #expect(replies.dropFirst(3).allSatisfy { $0.headers.first(name: "X-Log-Seq") == nil }, "the rest of the flood is not")
        let first = try #require(replies.first?.messageId)
        let fingerprint = try #require(try await fixture.log().entry(messageId: first)?.draft.certificateFingerprint)
        #expect(try await logged(fixture, fingerprint: fingerprint) == 3, "twelve requests, three entries")
        let limited = try #require(replies[2].messageId)
        #expect(try await fixture.log().entry(messageId: limited)?.draft.problemType == "certificate-rate-limited")
    }

    @Test("An active partner's certificate is limited on every route, and another partner's is not touched by it")
    func activeCertificate() async throws {
        let fixture = try await Self.fixture.value
        var replies: [Reply] = []
        for _ in 0..<6 { replies.append(try await fixture.get("/v1/contracts", as: "QA-MOL", purpose: nil)) }
        #expect(replies.map(\.status) == [200, 200, 200, 429, 429, 429])
        #expect(replies[3].headers.first(name: "X-Log-Seq") != nil && replies[4].headers.first(name: "X-Log-Seq") == nil)
        #expect(try await fixture.get("/v1/contracts", as: "EG-MOL", purpose: nil).status == 200)
        #expect(try await fixture.log().verify().firstBreak == nil, "unlogged refusals leave the chain whole")
    }
}

/// Whoever holds a trusted CA can mint a certificate per request: refusals are counted per issuer and overall too,
/// so minted certificates grow the log no faster than one.
@Suite("Refusals limited per issuing CA")
struct IssuerLimitTests {
    static let fixture = Task { try await Fixture.make("issuerlimit") { $0.refusedCertificateRateLimit = 2 } }

    @Test("Five certificates minted by the partner CA for nobody: together, as many logged refusals as one")
    func mintedCertificatesShareTheirIssuersLimit() async throws {
        let fixture = try await Self.fixture.value
        var fingerprints: [String] = []
        var statuses: [Int] = []
        for index in 0..<5 {
            let minted = try fixture.authority.issueClient(partnerID: "LB-MINT\(index)", organization: "Minted", country: "LB")
            fingerprints.append(try minted.fingerprint)
            let client = try Fixture.httpClient(certificatePEM: try minted.certificatePEM, keyPEM: try minted.privateKeyPEM, trusting: fixture.authority)
            for _ in 0..<3 {
                let response = try await client.execute(HTTPClientRequest(url: "https://localhost:\(fixture.exchangePort)/v1/contracts"), timeout: .seconds(15))
                _ = try await response.body.collect(upTo: 1 << 20)
                statuses.append(Int(response.status.code))
            }
            try await client.shutdown()
        }
        #expect(statuses.filter { $0 == 403 }.count == 2, "the issuer's limit of two refusals a minute, whichever certificate: \(statuses)")
        #expect(statuses.filter { $0 == 429 }.count == 13)
        let list = fingerprints.map { "'\($0)'" }.joined(separator: ",")
        let logged = try await fixture.store.query(SQL(unsafeSQL: "SELECT count(*) FROM message_log WHERE certificate_fingerprint IN (\(list))"))
            .first?[0].decode(Int64.self)
        #expect(logged == 3, "two refusals and the first limited one: fifteen requests from five certificates")
    }
}
