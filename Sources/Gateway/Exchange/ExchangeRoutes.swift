import Adapters
import Foundation
import Hummingbird
import Logging
import Storage
import Relay
import MessageLog
import Records
import Registry
import Schemas
import Tracing
import Transparency

/// The exchange API (v1): lookups, the allowed-methods metaservice and the published schemas.
struct ExchangeRoutes: Sendable {
    let catalog: ContractCatalog
    let adapters: AdapterRegistry
    let records: any RecordSource
    let referencer: SubjectReferencer
    let auditor: ExchangeAuditor
    let openAPI: OpenAPIDocument
    let sealer: BodySealer
    let inbox: Database
    /// How long a send waits for the inbox's answer (then 503): the store's deadline, as record reads have it.
    let storeDeadline: Duration
    let evidence: EvidenceRoutes
    /// A person's report for the citizen portal, and the key that signs it (none without sealing).
    let reporter: AccessReporter
    let reportSigner: SealSigner?
    let logger: Logger

    static let nationalIdPattern = SimplePattern(checked: #"^[0-9]{12}$"#)
    static let passportPattern = SimplePattern(checked: #"^[A-Z0-9]{6,12}$"#)
    static let nationalityPattern = SimplePattern(checked: #"^[A-Z]{2}$"#)
    static let nssfPattern = SimplePattern(checked: #"^[0-9]{10}$"#)
    static let registrationPattern = SimplePattern(checked: #"^[0-9]{7}$"#)
    static let contractNamePattern = SimplePattern(checked: #"^[a-z][a-z0-9-]{1,63}$"#)
    static let permitPattern = SimplePattern(checked: #"^WP-[0-9]{4}-[0-9]{7}$"#)

    func register(on router: Router<ExchangeContext>) {
        let v1 = router.group("v1")
        v1.get("employment-records") { request, context in
            await auditor.handle(request, context: context, route: "/v1/employment-records") { call, notes in
                try await employmentRecords(request, call, &notes)
            }
        }
        v1.get("establishments/:registrationNumber") { request, context in
            await auditor.handle(request, context: context, route: "/v1/establishments/{registrationNumber}") { call, notes in
                try await establishment(context.parameters.get("registrationNumber") ?? "", call, &notes)
            }
        }
        v1.get("work-permits/:permitNumber") { request, context in
            await auditor.handle(request, context: context, route: "/v1/work-permits/{permitNumber}") { call, notes in
                try await workPermit(context.parameters.get("permitNumber") ?? "", call, &notes)
            }
        }
        v1.get("work-permits") { request, context in
            await auditor.handle(request, context: context, route: "/v1/work-permits") { call, notes in
                try await workPermits(request.uri.queryParameters, call, &notes)
            }
        }
        // The contract a document belongs to, in the path (what the OpenAPI document describes, one operation per
        // contract, so a generated client has a typed body) or in X-Contract (the relay's form). The router keeps one
        // capture per position, so the contract's name is captured as `id`, as GET /v1/messages/{id}/receipt has it.
        v1.post("messages/:id/:version") { request, context in
            await auditor.handle(request, context: context, route: "/v1/messages/{contract}/{version}", direction: .inboundSend) { call, notes in
                let named = "\(context.parameters.get("id") ?? "")/\(context.parameters.get("version") ?? "")"
                return try await receive(request, context, call, &notes, contract: named)
            }
        }
        v1.post("messages") { request, context in
            await auditor.handle(request, context: context, route: "/v1/messages", direction: .inboundSend) { call, notes in
                try await receive(request, context, call, &notes, contract: nil)
            }
        }
        v1.get("access-report") { request, context in
            await auditor.handle(request, context: context, route: "/v1/access-report") { call, notes in
                try await accessReport(request.uri.queryParameters, call, &notes)
            }
        }
        evidence.register(on: v1)
        v1.get("contracts") { request, context in
            await auditor.handle(request, context: context, route: "/v1/contracts", requirePurpose: false) { call, _ in
                try allowedContracts(call)
            }
        }
        v1.get("openapi.json") { request, context in
            await auditor.handle(request, context: context, route: "/v1/openapi.json", requirePurpose: false) { _, _ in
                WireDocument(bytes: openAPI.bytes, mediaType: "application/json")
            }
        }
        v1.get("contracts/:contract/:version/:document") { request, context in
            await auditor.handle(request, context: context, route: "/v1/contracts/{contract}/{version}/{document}", requirePurpose: false) { _, _ in
                try schemaDocument(context.parameters.get("contract"), context.parameters.get("version"), context.parameters.get("document"))
            }
        }
        // Anything else — another method, another path — is answered as an exchange and logged: 405 with Allow, or 404.
        router.add(middleware: UnroutedRequests(routes: router.routes.map { ($0.method.rawValue, $0.path.description) }, auditor: auditor))
    }

    // MARK: Handlers

    private func employmentRecords(_ request: Request, _ call: ExchangeCall, _ notes: inout AuditNotes) async throws -> WireDocument {
        let contract = try contract(EmploymentRecord.contract)
        notes.contract = contract.id
        notes.operation = .query
        let key = try Self.personKey(request.uri.queryParameters)
        notes.subjectReference = referencer.reference(kind: key.subject.kind, identifier: key.subject.identifier)
        let (agreement, selection) = try call.grant(contract, .query)
        notes.agreementId = agreement.id
        // Out of scope answers exactly like a person Jisr does not know.
        guard let record = try await reading({ try await records.employmentRecord(for: key) }), agreement.covers(nationality: record.person.nationality) else {
            throw Problem.personNotFound
        }
        notes.subjects = PersonKey.keys(of: record.person).map { keyed($0.subject) }
        return try render(try DocumentEncoder.encode(record), contract: contract, selection: selection, call: call, notes: &notes)
    }

    private func establishment(_ number: String, _ call: ExchangeCall, _ notes: inout AuditNotes) async throws -> WireDocument {
        let contract = try contract(Establishment.contract)
        notes.contract = contract.id
        notes.operation = .query
        guard Self.registrationPattern.matches(number) else {
            throw Problem.invalidParameters("registrationNumber must be 7 digits")
        }
        let (agreement, selection) = try call.grant(contract, .query)
        notes.agreementId = agreement.id
        guard let establishment = try await reading({ try await records.establishment(registrationNumber: number) }) else { throw Problem.establishmentNotFound }
        return try render(try DocumentEncoder.encode(establishment), contract: contract, selection: selection, call: call, notes: &notes)
    }

    private func workPermit(_ number: String, _ call: ExchangeCall, _ notes: inout AuditNotes) async throws -> WireDocument {
        let contract = try contract(WorkPermit.contract)
        notes.contract = contract.id
        notes.operation = .query
        guard Self.permitPattern.matches(number) else { throw Problem.invalidParameters("permitNumber is WP-YYYY-NNNNNNN") }
        // The permit's number is what was asked for: its holder finds the exchange through their permits, refused or not.
        notes.subjects = [keyed(PersonKey.permitSubject(number))]
        let (agreement, selection) = try call.grant(contract, .query)
        notes.agreementId = agreement.id
        // Out of scope answers exactly like a permit that does not exist: nothing tells the two apart.
        guard let permit = try await reading({ try await records.workPermit(number: number) }), agreement.covers(nationality: permit.worker.nationality) else {
            throw Problem.permitNotFound
        }
        if let passport = permit.worker.passportNumber {
            let key = PersonKey.passport(number: passport, nationality: permit.worker.nationality).subject
            notes.subjectReference = referencer.reference(kind: key.kind, identifier: key.identifier)
        }
        notes.subjects = PersonKey.subjects(of: permit).map(keyed)
        return try render(try DocumentEncoder.encode(permit), contract: contract, selection: selection, call: call, notes: &notes)
    }

    private func workPermits(_ parameters: Parameters, _ call: ExchangeCall, _ notes: inout AuditNotes) async throws -> WireDocument {
        let contract = try contract(WorkPermit.contract)
        notes.contract = contract.id
        notes.operation = .query
        let query = try PermitQuery(parameters)
        let (agreement, selection) = try call.grant(contract, .query)
        notes.agreementId = agreement.id
        var nationalities = query.nationality.map { Set([$0]) }
        if let scope = agreement.scopeNationalities { nationalities = nationalities.map { $0.intersection(scope) } ?? scope }
        let rows = nationalities?.isEmpty == true
            ? [] : try await reading({ try await records.workPermits(nationalities: nationalities, changedSince: query.changedSince, after: query.after, limit: query.limit + 1) })
        let items = try rows.prefix(query.limit).map { try selection.apply(to: DocumentEncoder.encode($0.0)) }
        // A page concerns every worker on it: each is found in the entry by their permit and their passport.
        notes.subjects = rows.prefix(query.limit).flatMap { PersonKey.subjects(of: $0.0).map(keyed) }
        if !items.isEmpty { notes.disclosedFields = items.flatMap(FieldSelection.disclosed) }
        var page = JSONObject([("items", .array(items))])
        if rows.count > query.limit, let last = rows.prefix(query.limit).last?.1 {
            page["nextCursor"] = .string(PageCursor.encode(last))
        }
        return try rendering(contract, call.format) { try adapter(for: call).render(.object(page), contract: contract, shape: WorkPermit.page, format: call.format) }
    }

    /// A person's access report, for a partner that authenticated them itself (the ministry's citizen portal); the
    /// asking is an exchange about them like any other, so it appears in their next report.
    private func accessReport(_ parameters: Parameters, _ call: ExchangeCall, _ notes: inout AuditNotes) async throws -> WireDocument {
        let contract = try contract(AccessReport.contract)
        notes.contract = contract.id
        notes.operation = .query
        let key = try Self.personKey(parameters)
        notes.subjectReference = keyed(key.subject)
        let (agreement, selection) = try call.grant(contract, .query)
        notes.agreementId = agreement.id
        let report = try await reporter.report(for: key)
        notes.subjects = report.subject.references
        let wire = try render(try DocumentEncoder.encode(report), contract: contract, selection: selection, call: call, notes: &notes)
        if let reportSigner { notes.signature = try DetachedSignature.sign(wire.bytes, signer: reportSigner, contentType: "access-report+\(call.format.rawValue)") }
        return wire
    }

    /// An inbound send: validated, stored in the inbox with its log entry, answered 202; repeats get the original answer.
    /// `path` is the contract the path names, if it names one; X-Contract, when also sent, must name the same.
    private func receive(
        _ request: Request, _ context: ExchangeContext, _ call: ExchangeCall, _ notes: inout AuditNotes, contract path: String?
    ) async throws -> WireDocument {
        guard let key = request.headers[.idempotencyKey], key.wholeMatch(of: /[A-Za-z0-9._:-]{1,128}/) != nil else { throw Problem.idempotencyKeyRequired }
        let header = request.headers[.contract]
        if let path, let header, header != path { throw Problem.contractConflict }
        guard let name = path ?? header, let id = ContractID(name), let contract = catalog[id] else {
            throw path == nil ? Problem.contractRequired : Problem.notFound
        }
        notes.contract = contract.id
        notes.operation = .send
        let mediaType = request.headers[.contentType]?.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        let format: DocumentFormat
        switch mediaType {
        case "application/json": format = .json
        case "application/xml", "text/xml": format = .xml
        default: throw Problem.unsupportedMediaType
        }
        notes.agreementId = try call.grant(contract, .send).agreement.id
        // A declared length over the limit is refused before a byte of the body is read.
        if let declared = request.headers[.contentLength].flatMap(Int.init), declared > context.maxUploadSize { throw Problem.payloadTooLarge }
        let body = Array(try await request.body.collect(upTo: context.maxUploadSize).readableBytesView)
        let digest = sha256Hex(body)
        let reference = InboxStore.reference(idempotencyKey: key, referencer: referencer)
        // Bounded like every read of an exchange: while the primary is gone, a pooled connection was seen to wait
        // until the failover ended (a notice answered after 17 s in the drill of scripts/cluster).
        let (inbox, partnerId) = (inbox, call.partner.id)
        if let original = try await inbox.withDeadline(storeDeadline, { try await InboxStore.find(partner: partnerId, reference: reference, database: inbox) }) {
            guard original.requestDigest == digest else { throw Problem.idempotencyKeyReused }
            notes.correlationId = original.messageId
            notes.successStatus = 202
            return try accepted(original.messageId, duplicate: true, format: call.format)
        }
        let document: JSONValue
        let adapter = try adapter(for: call)
        do { document = try adapter.read(body, contract: contract, format: format) } catch {
            throw error.kind == .invalid ? Problem.invalidDocument(error.violations) : Problem.malformedDocument(error.violations)
        }
        if let worker = document["permit"]?["worker"], let passport = worker["passportNumber"]?.stringValue, let nationality = worker["nationality"]?.stringValue {
            let subject = PersonKey.passport(number: passport, nationality: nationality).subject
            notes.subjectReference = referencer.reference(kind: subject.kind, identifier: subject.identifier)
        }
        if let number = document["permit"]?["permitNumber"]?.stringValue { notes.subjects = [keyed(PersonKey.permitSubject(number))] }
        // What the partner's document carried about the person, as the report will list it.
        notes.disclosedFields = FieldSelection.disclosed(in: document)
        let (messageId, partner, sealed) = (call.messageId, call.partner.id, try sealer.seal(body, messageId: call.messageId))
        let contractName = contract.id.description
        let storedType = format.mediaType
        notes.successStatus = 202
        notes.work = { connection, logger in
            do {
                try await InboxStore.insert(
                    messageId: messageId, partner: partner, reference: reference, digest: digest, contract: contractName, mediaType: storedType, sealedBody: sealed,
                    on: connection)
            } catch let error as DatabaseConstraintError where error.kind == .unique {
                // Another request with the same key won the race; the log writer rolls this unit back.
                throw Problem.idempotencyKeyInFlight
            }
            return nil
        }
        return try accepted(messageId, duplicate: false, format: call.format)
    }

    private func accepted(_ messageId: UUID, duplicate: Bool, format: DocumentFormat) throws -> WireDocument {
        let id = messageId.uuidString.lowercased()
        let document: JSONValue = .object(
            JSONObject([
                ("messageId", .string(id)), ("status", .string("accepted")), ("duplicate", .bool(duplicate)),
                ("receipt", .string("/v1/messages/\(id)/receipt")),
            ]))
        switch format {
        case .json: return WireDocument(bytes: JSONWriter.data(document), mediaType: "application/json")
        case .xml:
            return WireDocument(
                bytes: XMLForm(rootElement: "accepted", namespace: "urn:lb:labour:jisr:meta:1", schema: .permissive).render(document), mediaType: "application/xml")
        }
    }

    private func allowedContracts(_ call: ExchangeCall) throws -> WireDocument {
        let iso = ISO8601DateFormatter()
        let entries: [JSONValue] = call.agreements.sorted { ($0.contract, $0.id) < ($1.contract, $1.id) }.map { agreement in
            var object = JSONObject()
            object["contract"] = .string(agreement.contract.name)
            object["version"] = .integer(Int64(agreement.contract.version))
            object["operations"] = .array(agreement.operations.map(\.rawValue).sorted().map(JSONValue.string))
            // Exactly as stored, listed and audited: what the agreement grants is what is sent.
            object["fields"] = .array(agreement.fields.map(JSONValue.string))
            object["purposes"] = .array(agreement.purposes.sorted().map(JSONValue.string))
            object["validFrom"] = .string(iso.string(from: agreement.validFrom))
            object["validUntil"] = .string(iso.string(from: agreement.validUntil))
            object["mouReference"] = .string(agreement.mouReference)
            object["inForce"] = .bool(agreement.validFrom <= call.now && call.now < agreement.validUntil)
            return .object(object)
        }
        let document: JSONValue = .object(JSONObject([("partner", .string(call.partner.id)), ("agreements", .array(entries))]))
        switch call.format {
        case .json: return WireDocument(bytes: JSONWriter.data(document), mediaType: "application/json")
        case .xml: return WireDocument(bytes: Self.metaForm.render(document), mediaType: "application/xml")
        }
    }

    private static let metaForm: XMLForm = {
        // The metaservice has no contract; its XML uses the generic form with `item` for list entries.
        XMLForm(rootElement: "allowedContracts", namespace: "urn:lb:labour:jisr:meta:1", schema: .permissive)
    }()

    private func schemaDocument(_ name: String?, _ version: String?, _ document: String?) throws -> WireDocument {
        guard let name, Self.contractNamePattern.matches(name), let version, let number = Int(version), number > 0,
            String(number) == version, let contract = catalog[ContractID(name: name, version: number)]
        else { throw Problem.notFound }
        switch document {
        case "schema.json": return WireDocument(bytes: contract.jsonSchemaDocument, mediaType: "application/schema+json")
        case "schema.xsd": return WireDocument(bytes: contract.xsdDocument, mediaType: "application/xml")
        default: throw Problem.notFound
        }
    }

    // MARK: Helpers

    private func contract(_ id: ContractID) throws -> Contract {
        guard let contract = catalog[id] else { throw Problem.internalError }
        return contract
    }

    /// The minimised document in the partner's form; the fields it holds are what the log records as disclosed.
    private func render(_ document: JSONValue, contract: Contract, selection: FieldSelection, call: ExchangeCall, notes: inout AuditNotes) throws -> WireDocument {
        let minimised = selection.apply(to: document)
        notes.disclosedFields = FieldSelection.disclosed(in: minimised)
        return try rendering(contract, call.format) { try adapter(for: call).render(minimised, contract: contract, format: call.format) }
    }

    /// A read of the ministry's records, as a child span of the exchange's.
    private func reading<Result>(_ read: () async throws -> Result) async throws -> Result {
        try await GatewayTracing.child(auditor.tracer, "jisr.records.read", kind: .client) { _ in try await read() }
    }

    /// Rendering into the partner's form and validating it against its contract (JSON Schema or XSD), as a child span.
    private func rendering(_ contract: Contract, _ format: DocumentFormat, _ render: () throws -> WireDocument) throws -> WireDocument {
        try GatewayTracing.child(auditor.tracer, "jisr.render") { span in
            span.attributes["jisr.contract"] = contract.id.description
            span.attributes["jisr.format"] = format.rawValue
            return try render()
        }
    }

    /// A subject as the log files it: its keyed reference.
    private func keyed(_ subject: (kind: String, identifier: String)) -> String {
        referencer.reference(kind: subject.kind, identifier: subject.identifier)
    }

    /// The partner's adapter; one that cannot be built (a mapping the contracts outgrew) is the gateway's fault.
    private func adapter(for call: ExchangeCall) throws -> any Adapter {
        do { return try adapters.adapter(named: call.partner.adapter, mapping: call.mapping) } catch {
            logger.error("partner adapter unavailable", metadata: ["jisr.partner": "\(call.partner.id)", "jisr.adapter": "\(call.partner.adapter)", "jisr.reason": "\(error.reason)"])
            throw Problem.internalError
        }
    }

    /// Exactly one way of naming a person, and nothing else in the query.
    static func personKey(_ parameters: Parameters) throws(Problem) -> PersonKey {
        var values: [String: String] = [:]
        for (name, value) in parameters {
            let key = String(name)
            guard ["nationalId", "passportNumber", "nationality", "nssfNumber"].contains(key) else {
                throw Problem.invalidParameters("unknown parameter \(key.prefix(40))")
            }
            guard values[key] == nil else { throw Problem.invalidParameters("parameter \(key) is repeated") }
            values[key] = String(value)
        }
        switch (values["nationalId"], values["passportNumber"], values["nationality"], values["nssfNumber"]) {
        case (let id?, nil, nil, nil):
            guard nationalIdPattern.matches(id) else { throw Problem.invalidParameters("nationalId must be 12 digits") }
            return .nationalId(id)
        case (nil, let number?, let nationality?, nil):
            guard passportPattern.matches(number) else { throw Problem.invalidParameters("passportNumber must be 6–12 capital letters or digits") }
            guard nationalityPattern.matches(nationality) else { throw Problem.invalidParameters("nationality must be an ISO 3166-1 alpha-2 code") }
            return .passport(number: number, nationality: nationality)
        case (nil, nil, nil, let number?):
            guard nssfPattern.matches(number) else { throw Problem.invalidParameters("nssfNumber must be 10 digits") }
            return .nssfNumber(number)
        default:
            throw Problem.invalidParameters("give exactly one of: nationalId; passportNumber and nationality; nssfNumber")
        }
    }
}
