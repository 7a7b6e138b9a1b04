import Adapters
import Foundation
import Hummingbird
import Logging
import MessageLog
import Registry
import Schemas

/// What a party to an exchange can prove with: the receipt of its message and the log's consistency proofs.
///
/// Both are exchanges like any other (authenticated, logged), answered in JSON: they carry hashes, signatures
/// and proofs that an RFC 9162 library checks, not contract documents.
struct EvidenceRoutes: Sendable {
    let auditor: ExchangeAuditor
    let log: LogReader
    let seals: SealStore
    /// How often the log is sealed here, for a pending receipt's "come back in"; nil when this gateway does not seal.
    let sealEvery: Duration?

    func register(on v1: RouterGroup<ExchangeContext>) {
        v1.get("messages/:id/receipt") { request, context in
            await auditor.handle(request, context: context, route: "/v1/messages/{id}/receipt", requirePurpose: false) { call, notes in
                try await receipt(context.parameters.get("id") ?? "", call, &notes)
            }
        }
        v1.get("log/consistency") { request, context in
            await auditor.handle(request, context: context, route: "/v1/log/consistency", requirePurpose: false) { _, _ in
                try await consistency(request.uri.queryParameters)
            }
        }
    }

    /// A party's receipt for one of its messages; another party's message answers exactly like an unknown one.
    private func receipt(_ id: String, _ call: ExchangeCall, _ notes: inout AuditNotes) async throws -> WireDocument {
        guard let messageId = UUID(uuidString: id), let entry = try await log.entry(messageId: messageId), entry.draft.partner == call.partner.id else {
            throw Problem.notFound
        }
        var document = JSONObject([("messageId", .string(messageId.uuidString.lowercased()))])
        document["entry"] = Self.describe(entry)
        guard let seal = try await seals.seal(covering: entry.seq) else {
            let wait = Int(sealEvery.map { Double($0.components.seconds) + 1 } ?? 60)
            document["status"] = .string("pending")
            document["retryAfterSeconds"] = .integer(Int64(wait))
            notes.retryAfter = wait
            return WireDocument(bytes: JSONWriter.data(.object(Self.ordered(document))), mediaType: "application/json")
        }
        document["status"] = .string("sealed")
        document["leafIndex"] = .integer(entry.seq - 1)
        document["treeHead"] = Self.describe(seal)
        document["inclusionProof"] = .array(try await seals.inclusionProof(seq: entry.seq, size: seal.treeHead.size).map { .string($0.hex) })
        return WireDocument(bytes: JSONWriter.data(.object(Self.ordered(document))), mediaType: "application/json")
    }

    /// The RFC 6962 consistency proof between two sizes of the sealed log.
    private func consistency(_ parameters: Parameters) async throws -> WireDocument {
        for (name, _) in parameters where !["from", "to"].contains(String(name)) {
            throw Problem.invalidParameters("unknown parameter \(String(name).prefix(40))")
        }
        guard let fromText = parameters.get("from"), let toText = parameters.get("to"), let from = Int64(fromText), let to = Int64(toText), from >= 1, to >= 1
        else {
            throw Problem.invalidParameters("from and to are tree sizes (whole numbers, at least 1)")
        }
        // Well-formed sizes without a proof between them (the wrong way round, or past the newest seal) name no resource.
        guard let latest = try await seals.latest() else { throw Problem.noConsistencyProof("the log has not been sealed yet") }
        guard from <= to, to <= latest.treeHead.size else {
            throw Problem.noConsistencyProof("a proof exists for 1 ≤ from ≤ to ≤ \(latest.treeHead.size), the size of the newest seal")
        }
        var document = JSONObject([("from", .integer(from)), ("to", .integer(to))])
        document["fromRoot"] = .string(try await seals.root(size: from).hex)
        document["toRoot"] = .string(try await seals.root(size: to).hex)
        document["proof"] = .array(try await seals.consistencyProof(oldSize: from, newSize: to).map { .string($0.hex) })
        if let seal = try await seals.seal(size: from) { document["fromTreeHead"] = Self.describe(seal) }
        if let seal = try await seals.seal(size: to) { document["toTreeHead"] = Self.describe(seal) }
        return WireDocument(bytes: JSONWriter.data(.object(document)), mediaType: "application/json")
    }

    /// Every field the entry's hash covers, under the names the log uses, so a partner can recompute it
    /// (the same form as in evidence bundles; absent fields are null).
    static func describe(_ entry: LogEntry) -> JSONValue {
        let evidence = EntryEvidence(entry)
        func optional(_ text: String?) -> JSONValue { text.map(JSONValue.string) ?? .null }
        var object = JSONObject([
            ("seq", .integer(evidence.seq)), ("recordedAtMicros", .integer(evidence.recordedAtMicros)),
            ("messageId", .string(evidence.messageId.uuidString.lowercased())), ("correlationId", optional(evidence.correlationId?.uuidString.lowercased())),
            ("partner", optional(evidence.partner)), ("certificateFingerprint", optional(evidence.certificateFingerprint)), ("direction", .string(evidence.direction)),
            ("contract", optional(evidence.contract)), ("operation", optional(evidence.operation)), ("purpose", optional(evidence.purpose)),
            ("caseReference", optional(evidence.caseReference)), ("subjectReference", optional(evidence.subjectReference)),
            ("status", .integer(Int64(evidence.status))), ("problemType", optional(evidence.problemType)), ("requestDigest", .string(evidence.requestDigest)),
            ("responseDigest", optional(evidence.responseDigest)), ("prevHash", .string(evidence.prevHash)),
        ])
        if let detail = evidence.detail { object["detail"] = .string(detail) }
        if let format = evidence.format {
            object["format"] = .integer(Int64(format))
            object["agreementId"] = evidence.agreementId.map(JSONValue.integer) ?? .null
            object["disclosedFields"] = evidence.disclosedFields.map { .array($0.map(JSONValue.string)) } ?? .null
            object["subjectLeaves"] = evidence.subjectLeaves.map { .array($0.map(JSONValue.string)) } ?? .null
            if format >= 3 {
                object["disclosableAtMicros"] = evidence.disclosableAtMicros.map(JSONValue.integer) ?? .null
                object["detailDigest"] = evidence.detailDigest.map(JSONValue.string) ?? .null
            }
        }
        object["entryHash"] = .string(evidence.entryHash)
        return .object(object)
    }

    static func describe(_ seal: Seal) -> JSONValue {
        var object = JSONObject([
            ("size", .integer(seal.treeHead.size)), ("rootHash", .string(seal.treeHead.rootHash)), ("time", .string(TreeHead.format(seal.treeHead.timeMilliseconds))),
            ("signedText", .string(seal.treeHead.signedText)), ("signature", .string(Data(seal.signature).base64EncodedString())),
            ("signatureAlgorithm", .string("ecdsa-p256-sha256")), ("publicKey", .string(seal.publicKeyPEM)), ("certificate", .string(seal.certificatePEM)),
        ])
        if let token = seal.timestampToken { object["timestampToken"] = .string(Data(token).base64EncodedString()) }
        return .object(object)
    }

    /// The status first, for a reader of the raw document.
    static func ordered(_ document: JSONObject) -> JSONObject {
        let first = ["messageId", "status"]
        return JSONObject(first.compactMap { key in document[key].map { (key, $0) } } + document.members.filter { !first.contains($0.key) })
    }
}
