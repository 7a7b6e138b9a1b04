import Adapters
import Administration
import Foundation
import HTTPTypes
import Hummingbird
import MessageLog
import NIOCore
import PKI
import Records
import Registry
import Relay
import Schemas
import Transparency

/// The admin API (v1): the `jisr` administrative commands as JSON resources, on the same `Administration`.
struct AdminRoutes: Sendable {
    let administration: Administration
    let partnerCA: CertificateAuthority?
    let partnerCAPEMs: [String]
    /// What an administrator's certificate must chain to before it is registered.
    let adminCAPEMs: [String]
    let openAPI: OpenAPIDocument
    let sealer: BodySealer
    /// For the subject references a person's access report is filed under.
    let referencer: SubjectReferencer
    /// Signs access reports (the log-signing key); without sealing, reports go out unsigned.
    let reportSigner: SealSigner?

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }()

    func register(on router: Router<AdminContext>) {
        let v1 = router.group("admin/v1")
        v1.get("openapi.json") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: openAPI.bytes)))
        }
        v1.get("partners") { _, _ in try Self.json(try await run { try await administration.partners() }) }
        v1.post("partners") { request, context in
            let body = try await Self.decode(PartnerRequest.self, request, context)
            let partner = Partner(
                id: body.id, nameAr: body.nameAr, nameEn: body.nameEn, country: body.country ?? String(body.id.prefix(2)),
                status: body.status ?? .pending, adapter: body.adapter ?? "standard", endpoint: body.endpoint, contact: body.contact)
            guard [.pending, .active].contains(partner.status) else {
                throw AdminProblem(status: .unprocessableContent, code: "invalid-status", message: "a new partner is pending or active")
            }
            let adapted = body.mapping == nil || body.adapter != nil ? partner : partner.with(adapter: MappingAdapter.kind)
            return try Self.json(
                try await run { try await administration.addPartner(adapted, mapping: body.mapping, by: context.administrator!) }, status: .created)
        }
        v1.put("partners/:id/endpoint") { request, context in
            let id = try context.parameters.require("id")
            let body = try await Self.decode(EndpointRequest.self, request, context)
            return try Self.json(try await run { try await administration.setEndpoint(partner: id, endpoint: body.endpoint, by: context.administrator!) })
        }
        v1.put("partners/:id/adapter") { request, context in
            let id = try context.parameters.require("id")
            let body = try await Self.decode(AdapterRequest.self, request, context)
            return try Self.json(try await run { try await administration.setAdapter(partner: id, adapter: body.adapter, mapping: body.mapping, by: context.administrator!) })
        }
        v1.get("partners/:id") { _, context in
            let id = try context.parameters.require("id")
            return try Self.json(try await run { try await administration.partner(id) })
        }
        for (action, operation) in [("suspend", Administration.suspend), ("resume", Administration.resume), ("retire", Administration.retire)] {
            v1.post("partners/:id/\(action)") { _, context in
                let id = try context.parameters.require("id")
                return try Self.json(try await run { try await operation(administration)(id, context.administrator!) })
            }
        }
        v1.post("partners/:id/certificates") { request, context in
            let id = try context.parameters.require("id")
            let body = try await Self.decode(CertificateRequest.self, request, context)
            switch (body.csr, body.certificate) {
            case (let csr?, nil):
                guard let partnerCA else { throw AdminProblem(status: .unprocessableContent, code: "no-partner-ca", message: "this gateway holds no partner CA key") }
                let chain = try await run { try await administration.signCSR(partner: id, csrPEM: csr, days: body.days ?? 365, authority: partnerCA, by: context.administrator!) }
                return try Self.json(IssuedChain(fingerprint: try PKICertificate(pemEncoded: chain).fingerprint, chain: chain), status: .created)
            case (nil, let pem?):
                return try Self.json(try await run { try await administration.addCertificate(partner: id, pem: pem, partnerCAPEMs: partnerCAPEMs, by: context.administrator!) }, status: .created)
            default:
                throw AdminProblem(status: .unprocessableContent, code: "invalid-request", message: "give either csr (PEM) or certificate (PEM)")
            }
        }
        v1.post("certificates/:fingerprint/revoke") { request, context in
            let fingerprint = try context.parameters.require("fingerprint")
            let body = try await Self.decode(RevocationRequest.self, request, context)
            return try Self.json(try await run { try await administration.revokeCertificate(fingerprint: fingerprint, reason: body.reason, by: context.administrator!) })
        }
        v1.get("administrators") { _, _ in try Self.json(try await run { try await administration.administrators() }) }
        v1.post("administrators") { request, context in
            let body = try await Self.decode(AdministratorRequest.self, request, context)
            return try Self.json(
                try await run { try await administration.registerAdministrator(pem: body.certificate, name: body.name, adminCAPEMs: adminCAPEMs, by: context.administrator!) },
                status: .created)
        }
        v1.post("administrators/:fingerprint/revoke") { request, context in
            let fingerprint = try context.parameters.require("fingerprint")
            let body = try await Self.decode(RevocationRequest.self, request, context)
            return try Self.json(try await run { try await administration.revokeAdministrator(fingerprint: fingerprint, reason: body.reason, by: context.administrator!) })
        }
        v1.post("trusted-cas") { request, context in
            let body = try await Self.decode(TrustRequest.self, request, context)
            return try Self.json(try await run { try await administration.trust(caPEM: body.certificate, by: context.administrator!) }, status: .created)
        }
        v1.get("purposes") { _, _ in try Self.json(try await run { try await administration.purposes() }) }
        v1.post("purposes") { request, context in
            let purpose = try await Self.decode(Purpose.self, request, context)
            try await run { try await administration.addPurpose(purpose, by: context.administrator!) }
            return try Self.json(purpose, status: .created)
        }
        v1.put("purposes/:code/disclosure-delay") { request, context in
            let code = try context.parameters.require("code")
            let delay = try await Self.decode(DisclosureDelay.self, request, context)
            return try Self.json(try await run { try await administration.setDisclosureDelay(delay, purpose: code, by: context.administrator!) })
        }
        v1.delete("purposes/:code/disclosure-delay") { _, context in
            let code = try context.parameters.require("code")
            return try Self.json(try await run { try await administration.setDisclosureDelay(nil, purpose: code, by: context.administrator!) })
        }
        v1.get("access-report/withheld") { request, context in
            let key = try Self.personKey(request.uri.queryParameters)
            return try Self.json(try await run { try await administration.withheld(for: key, referencer: referencer, by: context.administrator!) })
        }
        v1.get("agreements") { request, _ in
            let partner = request.uri.queryParameters["partner"].map(String.init)
            let all = request.uri.queryParameters["all"] == "true"
            return try Self.json(try await run { try await administration.agreements(partner: partner, includeRevoked: all) })
        }
        v1.post("agreements") { request, context in
            let body = try await Self.decode(GrantRequest.self, request, context)
            guard let contract = ContractID(body.contract) else {
                throw AdminProblem(status: .unprocessableContent, code: "unknown-contract", message: "contract is NAME/VERSION, e.g. employment-record/1")
            }
            var operations: Set<Agreement.Operation> = []
            for name in body.operations {
                guard let operation = Agreement.Operation(rawValue: name) else {
                    throw AdminProblem(status: .unprocessableContent, code: "unknown-operation", message: "unknown operation \(name): use query, receive or send")
                }
                operations.insert(operation)
            }
            let agreement = try await run {
                try await administration.grant(
                    Agreement(
                        partnerID: body.partner, contract: contract, operations: operations, purposes: Set(body.purposes),
                        fields: try administration.expandFields(body.fields.joined(separator: ","), of: contract), validFrom: body.validFrom,
                        validUntil: body.validUntil, mouReference: body.mouReference, rateLimitPerMinute: body.rateLimitPerMinute,
                        scopeNationalities: body.scopeNationalities.map(Set.init)),
                    by: context.administrator!)
            }
            return try Self.json(agreement, status: .created)
        }
        v1.get("access-report") { request, context in
            let query = request.uri.queryParameters
            let key = try Self.personKey(query)
            let (from, until) = (try Self.day(query.get("from"), "from"), try Self.day(query.get("to"), "to")?.addingTimeInterval(86_400))
            let format = try Self.choice(query.get("format"), "format", default: AccessReport.Form.json)
            let language = try Self.choice(query.get("lang"), "lang", default: AccessReportPage.Language.ar)
            let bytes = try await run {
                let report = try await administration.accessReport(for: key, from: from, until: until, referencer: referencer, by: context.administrator!)
                return try administration.rendered(report, as: format, language: language)
            }
            var headers: HTTPFields = [.contentType: format.mediaType]
            if let reportSigner, format != .html {
                // A detached JWS over the body exactly as sent: save both, check them with `jisr access-report verify`.
                headers[HTTPField.Name("X-JWS-Signature")!] = try DetachedSignature.sign(bytes, signer: reportSigner, contentType: "access-report+\(format.rawValue)")
            }
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
        }
        v1.get("relay/status") { _, _ in try Self.json(try await run { try await administration.relayStatus() }) }
        v1.get("relay/dead-letters") { request, _ in
            let partner = request.uri.queryParameters["partner"].map(String.init)
            return try Self.json(try await run { try await administration.deadLetters(partner: partner) })
        }
        v1.post("relay/redrive") { request, context in
            let body = try await Self.decode(RedriveBody.self, request, context)
            let ids = try await run { try await administration.redrive(messageId: body.messageId, partner: body.partner, by: context.administrator!) }
            return try Self.json(["redriven": ids.map { $0.uuidString.lowercased() }])
        }
        v1.get("inbox") { request, _ in
            let partner = request.uri.queryParameters["partner"].map(String.init)
            let all = request.uri.queryParameters["all"] == "true"
            return try Self.json(try await run { try await administration.inbox(partner: partner, unacknowledgedOnly: !all) })
        }
        v1.get("inbox/:id") { _, context in
            guard let id = UUID(uuidString: try context.parameters.require("id")) else { throw AdminProblem(status: .notFound, code: "not-found", message: "no such message") }
            let (row, body) = try await run { try await administration.inboxMessage(id, sealer: sealer, by: context.administrator!) }
            return Response(status: .ok, headers: [.contentType: row.mediaType], body: .init(byteBuffer: ByteBuffer(bytes: body)))
        }
        v1.post("inbox/:id/ack") { _, context in
            guard let id = UUID(uuidString: try context.parameters.require("id")) else { throw AdminProblem(status: .notFound, code: "not-found", message: "no such message") }
            try await run { try await administration.acknowledge(id, by: context.administrator!) }
            return try Self.json(["acknowledged": id.uuidString.lowercased()])
        }
        v1.post("agreements/:id/revoke") { _, context in
            guard let id = Int64(try context.parameters.require("id")) else { throw AdminProblem(status: .notFound, code: "not-found", message: "no such agreement") }
            return try Self.json(try await run { try await administration.revokeAgreement(id, by: context.administrator!) })
        }
    }

    /// Exactly one way of naming a person, as on the exchange API.
    static func personKey(_ query: Parameters) throws -> PersonKey {
        let known: Set<String> = ["nationalId", "passportNumber", "nationality", "nssfNumber", "from", "to", "format", "lang"]
        if let stray = query.first(where: { !known.contains(String($0.key)) }) {
            throw AdminProblem(status: .badRequest, code: "invalid-parameters", message: "unknown parameter \(String(stray.key).prefix(40))")
        }
        let value = { (name: String) in query.get(name) }
        do {
            return try PersonKey(nationalId: value("nationalId"), passport: value("passportNumber"), nationality: value("nationality"), nssfNumber: value("nssfNumber"))
        } catch let error as PersonKeyError { throw AdminProblem(status: .badRequest, code: "invalid-parameters", message: error.message) }
    }

    static func day(_ text: String?, _ name: String) throws -> Date? {
        guard let text else { return nil }
        guard let date = AccessReporter.day(parsing: text) else {
            throw AdminProblem(status: .badRequest, code: "invalid-parameters", message: "\(name) is a date (2026-01-31)")
        }
        return date
    }

    /// One of a parameter's values, or its default when absent.
    static func choice<Choice: RawRepresentable & CaseIterable>(_ text: String?, _ name: String, default value: Choice) throws -> Choice
    where Choice.RawValue == String {
        guard let text else { return value }
        guard let choice = Choice(rawValue: text) else {
            throw AdminProblem(
                status: .badRequest, code: "invalid-parameters", message: "\(name) is one of \(Choice.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return choice
    }

    /// Administration errors become problems with the operation's code.
    @discardableResult
    private func run<Value>(_ body: () async throws -> Value) async throws -> Value {
        do { return try await body() } catch let error as AdministrationError { throw AdminProblem(error) }
    }

    static func decode<Value: Decodable>(_ type: Value.Type, _ request: Request, _ context: AdminContext) async throws -> Value {
        let buffer = try await request.body.collect(upTo: context.maxUploadSize)
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        do {
            // The strict parser first: duplicate keys and malformed UTF-8 are refused, not guessed at.
            _ = try JSONParser.parse(buffer.readableBytesView)
            return try decoder.decode(Value.self, from: Data(buffer.readableBytesView))
        } catch {
            throw AdminProblem(status: .badRequest, code: "invalid-body", message: "the body is not the JSON this resource expects: \(Self.describe(error))")
        }
    }

    private static func describe(_ error: any Error) -> String {
        switch error {
        case let syntax as JSONSyntaxError: return syntax.description
        case DecodingError.keyNotFound(let key, _): return "missing \(key.stringValue)"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context), DecodingError.dataCorrupted(let context):
            return context.codingPath.map(\.stringValue).joined(separator: ".") + ": " + context.debugDescription
        default: return "unreadable"
        }
    }

    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
    }
}

/// `POST /admin/v1/partners`.
struct PartnerRequest: Decodable {
    let id: String
    let nameAr: String
    let nameEn: String
    let country: String?
    let contact: String?
    let adapter: String?
    /// A mapping to attach (the adapter is then `mapping`).
    let mapping: MappingSource?
    let endpoint: String?
    let status: PartnerStatus?
}

/// `PUT /admin/v1/partners/{id}/endpoint`: the relay endpoint, or null to stop deliveries.
struct EndpointRequest: Decodable {
    let endpoint: String?
}

/// `PUT /admin/v1/partners/{id}/adapter`: a built-in adapter, or `mapping` with the mapping's text and files.
struct AdapterRequest: Decodable {
    let adapter: String
    let mapping: MappingSource?
}

/// `POST /admin/v1/partners/{id}/certificates`: a CSR to sign, or a certificate from a trusted CA.
/// `POST /admin/v1/administrators`: the certificate (PEM) and, optionally, the holder's name (else its subject).
struct AdministratorRequest: Decodable {
    let certificate: String
    let name: String?
}

struct CertificateRequest: Decodable {
    let csr: String?
    let certificate: String?
    let days: Int?
}

/// The certificate chain issued from a CSR.
struct IssuedChain: Encodable {
    let fingerprint: String
    let chain: String
}

/// `POST /admin/v1/certificates/{fingerprint}/revoke`.
struct RevocationRequest: Decodable {
    let reason: String
}

/// `POST /admin/v1/trusted-cas`.
struct TrustRequest: Decodable {
    let certificate: String
}

/// `POST /admin/v1/agreements`.
struct GrantRequest: Decodable {
    let partner: String
    let contract: String
    let operations: [String]
    let purposes: [String]
    /// Field paths, or `["all"]`, or `["all-except:F1", "F2"]`.
    let fields: [String]
    let validFrom: Date
    let validUntil: Date
    let mouReference: String
    let rateLimitPerMinute: Int?
    /// Row-level scope: only records about workers of these nationalities.
    let scopeNationalities: [String]?
}

/// `POST /admin/v1/relay/redrive`: one dead letter by id, or all of a partner's.
struct RedriveBody: Decodable {
    let messageId: UUID?
    let partner: String?
}
