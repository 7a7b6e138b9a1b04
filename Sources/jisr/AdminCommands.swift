import Adapters
import Administration
import ArgumentParser
import Foundation
import PKI
import Registry
import Schemas
import Storage

/// Options of every administrative command: the store, the contracts, and who is acting.
struct AdminOptions: ParsableArguments {
    @OptionGroup var store: StoreOptions
    @Option(help: "Contracts folder (default: the repository's contracts/).") var contracts: String?
    @Option(help: "The acting administrator's certificate (PEM), recorded in the audit entry (default: $JISR_ADMIN_CERT).")
    var adminCert: String?

    func administrator() throws -> Administrator {
        if let path = adminCert ?? ProcessInfo.processInfo.environment["JISR_ADMIN_CERT"] {
            let certificate = try PKICertificate(pemEncoded: try String(contentsOfFile: path, encoding: .utf8))
            return Administrator(fingerprint: certificate.fingerprint, name: certificate.subject)
        }
        let user = ProcessInfo.processInfo.environment["USER"] ?? "uid\(getuid())"
        return Administrator(fingerprint: nil, name: "cli:\(user)@\(ProcessInfo.processInfo.hostName)")
    }

    /// Runs `body` against the store with an audited `Administration`.
    func run<Result: Sendable>(_ body: @escaping @Sendable (Administration, Administrator) async throws -> Result) async throws -> Result {
        let logger = Console.logger()
        let administrator = try administrator()
        let contracts = self.contracts
        do {
            // The store first: a command pointed at no store says so before anything else.
            return try await store.withExistingStore(logger: logger) { database in
                let catalog = try ContractCatalog.load(from: try Console.contracts(contracts))
                return try await Administration.withLocal(database: database, catalog: catalog, logger: logger) { try await body($0, administrator) }
            }
        } catch let error as AdministrationError {
            throw Refusal(error.message)
        }
    }
}

/// Mapping files as the CLI reads them: refusals name the file and the line.
enum MappingFile {
    static func load(_ path: String) throws -> MappingSource {
        do { return try MappingSource.load(path: path) } catch { throw Refusal("\(path): \(error)") }
    }

    static func naming<Result>(_ path: String?, _ body: () async throws -> Result) async throws -> Result {
        do { return try await body() } catch let error as Refusal where path != nil {
            throw Refusal("\(path ?? ""): \(error.message)")
        }
    }
}

enum Output {
    static var dateFormatter: ISO8601DateFormatter {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withFullDate]
        return formatter
    }

    static func day(_ date: Date) -> String { dateFormatter.string(from: date) }

    static func describe(_ agreement: Agreement) -> String {
        """
        agreement \(agreement.id) [\(agreement.status)] \(agreement.partnerID) \(agreement.contract)
          operations: \(agreement.operations.map(\.rawValue).sorted().joined(separator: ", "))
          purposes:   \(agreement.purposes.sorted().joined(separator: ", "))
          fields:     \(agreement.fields.joined(separator: ", "))
          valid:      \(day(agreement.validFrom)) – \(day(agreement.validUntil))   MoU: \(agreement.mouReference)\(agreement.rateLimitPerMinute.map { "   rate limit: \($0)/min" } ?? "")
          scope:      \(agreement.scopeNationalities.map { "workers of nationality " + $0.sorted().joined(separator: ", ") } ?? "all records")
        """
    }

    static func describe(_ details: PartnerDetails) -> String {
        let partner = details.partner
        var lines = [
            "\(partner.id) [\(partner.status.rawValue)] \(partner.nameEn) — \(partner.nameAr)",
            "  country: \(partner.country)   adapter: \(partner.adapter)\(partner.endpoint.map { "   endpoint: \($0)" } ?? "")\(partner.contact.map { "   contact: \($0)" } ?? "")",
        ]
        if let mapping = details.mapping { lines.append("  mapping sha256:\(mapping.digest.prefix(16))… attached \(day(mapping.attachedAt))") }
        for certificate in details.certificates {
            let days = Int(certificate.notAfter.timeIntervalSinceNow / 86_400)
            lines.append("  certificate \(certificate.fingerprint) [\(certificate.status.rawValue)] expires \(day(certificate.notAfter)) (\(days) days)")
        }
        for agreement in details.agreements { lines.append(describe(agreement).split(separator: "\n").map { "  " + $0 }.joined(separator: "\n")) }
        return lines.joined(separator: "\n")
    }

    static func parseDate(_ text: String, option: String) throws -> Date {
        let full = ISO8601DateFormatter()
        if let date = full.date(from: text) ?? dateFormatter.date(from: text) { return date }
        throw ValidationError("\(option) must be a date (2026-01-31) or a date-time (2026-01-31T00:00:00Z)")
    }

    static func list(_ text: String) -> [String] {
        text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }
}

struct PartnerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "partner", abstract: "Register and manage partners.",
        subcommands: [Add.self, AddCertificate.self, SetAdapter.self, SetEndpoint.self, List.self, Show.self, Suspend.self, Resume.self, Retire.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Register a partner (CC-ABBREV id, names in Arabic and English).")
        @Option(help: "Partner id, CC-ABBREV (e.g. JO-MOL).") var id: String
        @Option(help: "Name in Arabic.") var nameAr: String
        @Option(help: "Name in English.") var nameEn: String
        @Option(help: "ISO 3166-1 alpha-2 country (default: the id's prefix).") var country: String?
        @Option(help: "Contact desk (e-mail or phone of the partner's integration team).") var contact: String?
        @Option(help: "Adapter that speaks the partner's format: standard, standard-xml, flat (default: standard, or mapping with --mapping).")
        var adapter: String?
        @Option(help: "Mapping file for a partner with a format of its own (attaches it; the adapter is then mapping).") var mapping: String?
        @Option(help: "Relay endpoint (https URL) for deliveries to the partner.") var endpoint: String?
        @Option(help: "Initial status: pending or active.") var status = "pending"
        @OptionGroup var options: AdminOptions

        func run() async throws {
            guard let status = PartnerStatus(rawValue: status), [.pending, .active].contains(status) else {
                throw ValidationError("--status is pending or active")
            }
            let source = try mapping.map(MappingFile.load)
            let partner = Partner(
                id: id, nameAr: nameAr, nameEn: nameEn, country: country ?? String(id.prefix(2)), status: status,
                adapter: adapter ?? (source == nil ? "standard" : MappingAdapter.kind), endpoint: endpoint, contact: contact)
            _ = try await MappingFile.naming(mapping) { try await options.run { admin, actor in try await admin.addPartner(partner, mapping: source, by: actor) } }
            print("registered \(partner.id) [\(status.rawValue)] with the \(partner.adapter) adapter")
        }
    }

    struct SetEndpoint: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set-endpoint", abstract: "Set the https endpoint the relay delivers a partner's messages to (or --none to stop deliveries).")
        @Argument(help: "Partner id.") var id: String
        @Argument(help: "The endpoint, https://…") var endpoint: String?
        @Flag(help: "Remove the endpoint: nothing more is queued for the partner.") var none = false
        @OptionGroup var options: AdminOptions

        func run() async throws {
            guard (endpoint == nil) == none else { throw ValidationError("give an endpoint or --none") }
            let (id, endpoint) = (self.id, self.endpoint)
            let partner = try await options.run { admin, actor in try await admin.setEndpoint(partner: id, endpoint: endpoint, by: actor) }
            print("\(partner.id) " + (partner.endpoint.map { "now receives deliveries at \($0)" } ?? "has no relay endpoint"))
        }
    }

    struct SetAdapter: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set-adapter",
            abstract: "Change the adapter that speaks a partner's format, or attach a new mapping file (checked first, refused with its line).")
        @Argument(help: "Partner id.") var id: String
        @Option(help: "A built-in adapter: standard, standard-xml or flat.") var adapter: String?
        @Option(help: "Mapping file (and the schema files it names, next to it).") var mapping: String?
        @OptionGroup var options: AdminOptions

        func run() async throws {
            guard (adapter == nil) != (mapping == nil) else { throw ValidationError("give --adapter NAME or --mapping FILE") }
            let source = try mapping.map(MappingFile.load)
            let (id, name) = (self.id, adapter ?? MappingAdapter.kind)
            let partner = try await MappingFile.naming(mapping) {
                try await options.run { admin, actor in try await admin.setAdapter(partner: id, adapter: name, mapping: source, by: actor) }
            }
            print("\(partner.id) now uses the \(partner.adapter) adapter" + (mapping.map { " (mapping \($0))" } ?? ""))
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List partners with their certificates and agreements.")
        @OptionGroup var options: AdminOptions

        func run() async throws {
            let partners = try await options.run { admin, _ in try await admin.partners() }
            print(partners.isEmpty ? "no partners" : partners.map(Output.describe).joined(separator: "\n\n"))
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one partner.")
        @Argument(help: "Partner id.") var id: String
        @OptionGroup var options: AdminOptions

        func run() async throws {
            let id = self.id
            print(Output.describe(try await options.run { admin, _ in try await admin.partner(id) }))
        }
    }

    struct Suspend: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Suspend a partner: its next request is refused.")
        @Argument(help: "Partner id.") var id: String
        @OptionGroup var options: AdminOptions

        func run() async throws { try await changeStatus(id, options, Administration.suspend) }
    }

    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make a pending or suspended partner active.")
        @Argument(help: "Partner id.") var id: String
        @OptionGroup var options: AdminOptions

        func run() async throws { try await changeStatus(id, options, Administration.resume) }
    }

    struct Retire: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Retire a partner for good (kept for the record).")
        @Argument(help: "Partner id.") var id: String
        @OptionGroup var options: AdminOptions

        func run() async throws { try await changeStatus(id, options, Administration.retire) }
    }
}

/// Suspend, resume and retire differ only in the operation they call.
private func changeStatus(
    _ id: String, _ options: AdminOptions, _ operation: @escaping @Sendable (Administration) -> (String, Administrator) async throws -> Partner
) async throws {
    let partner = try await options.run { admin, actor in try await operation(admin)(id, actor) }
    print("\(partner.id) is \(partner.status.rawValue)")
}

struct PurposeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "purpose", abstract: "The registry of purposes.", subcommands: [Add.self, List.self, SetDelay.self])

    /// A disclosure delay as options: a duration and its legal basis, both or neither.
    struct DelayOptions: ParsableArguments {
        @Option(help: "Keep exchanges under this purpose out of access reports this long: 180d, 12h, 30s.") var disclosureDelay: String?
        @Option(help: "The law that allows the delay (with --disclosure-delay).") var delayLegalBasis: String?

        func delay() throws -> DisclosureDelay? {
            switch (disclosureDelay, delayLegalBasis) {
            case (nil, nil): return nil
            case (let text?, let basis?):
                guard let match = text.wholeMatch(of: /([0-9]{1,9})([dhs])/), let amount = Int64(match.1) else {
                    throw ValidationError("--disclosure-delay is a number and d, h or s: 180d, 12h, 30s")
                }
                return DisclosureDelay(seconds: amount * (match.2 == "d" ? 86_400 : match.2 == "h" ? 3600 : 1), legalBasis: basis)
            default: throw ValidationError("--disclosure-delay and --delay-legal-basis go together")
            }
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Register a purpose with its legal basis.")
        @Option(help: "Purpose code (lower-case, hyphens).") var code: String
        @Option(help: "Description in Arabic.") var descriptionAr: String
        @Option(help: "Description in English.") var descriptionEn: String
        @Option(help: "The legal basis that allows it.") var legalBasis: String
        @Option(help: "The legal basis in Arabic, as Arabic access reports cite it.") var legalBasisAr: String?
        @OptionGroup var delay: DelayOptions
        @OptionGroup var options: AdminOptions

        func run() async throws {
            let purpose = Purpose(
                code: code, descriptionAr: descriptionAr, descriptionEn: descriptionEn, legalBasis: legalBasis, legalBasisAr: legalBasisAr,
                disclosureDelay: try delay.delay())
            _ = try await options.run { admin, actor in try await admin.addPurpose(purpose, by: actor) }
            print("registered purpose \(purpose.code)")
        }
    }

    struct SetDelay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set-delay", abstract: "Set how long exchanges under a purpose stay out of persons' access reports (--none lifts it).")
        @Argument(help: "Purpose code.") var code: String
        @OptionGroup var delay: DelayOptions
        @Flag(help: "Lift the delay: its exchanges appear in reports at once.") var none = false
        @OptionGroup var options: AdminOptions

        func run() async throws {
            let delay = try delay.delay()
            guard (delay == nil) == none else { throw ValidationError("give --disclosure-delay with --delay-legal-basis, or --none") }
            let code = self.code
            let purpose = try await options.run { admin, actor in try await admin.setDisclosureDelay(delay, purpose: code, by: actor) }
            print("purpose \(purpose.code): " + (purpose.disclosureDelay.map { "exchanges appear in access reports \($0.seconds) s after they happen (\($0.legalBasis))" } ?? "exchanges appear in access reports at once"))
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List purposes.")
        @OptionGroup var options: AdminOptions

        func run() async throws {
            for purpose in try await options.run({ admin, _ in try await admin.purposes() }) {
                print("\(purpose.code)\n  \(purpose.descriptionEn) — \(purpose.descriptionAr)\n  legal basis: \(purpose.legalBasis)")
                if let arabic = purpose.legalBasisAr { print("  السند القانوني: \(arabic)") }
                if let delay = purpose.disclosureDelay { print("  withheld from access reports for \(delay.seconds) s (\(delay.legalBasis))") }
            }
        }
    }
}

struct AgreementCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agreement", abstract: "Grant and revoke what partners may do.", subcommands: [Grant.self, Revoke.self, List.self])

    struct Grant: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Grant a partner a contract version under an MoU.")
        @Option(help: "Partner id.") var partner: String
        @Option(help: "Contract and version, e.g. employment-record/1.") var contract: String
        @Option(help: "Comma-separated: query, receive, send.") var operations: String
        @Option(help: "Comma-separated purpose codes.") var purposes: String
        @Option(help: "Comma-separated fields (dotted paths), or 'all', or 'all-except:F1,F2'.") var fields: String
        @Option(help: "Start of validity (date or date-time).") var validFrom: String
        @Option(help: "End of validity (date or date-time).") var validUntil: String
        @Option(help: "The MoU this agreement implements (number/date).") var mouRef: String
        @Option(help: "Requests a minute, e.g. 600/min.") var rateLimit: String?
        @Option(help: "Row-level scope: only records about workers of this nationality (repeat).") var scopeNationality: [String] = []
        @Flag(help: "Row-level scope: only records about the partner's own nationals.") var ownNationals = false
        @OptionGroup var options: AdminOptions

        func run() async throws {
            guard let id = ContractID(contract) else { throw ValidationError("--contract is NAME/VERSION, e.g. employment-record/1") }
            var parsedOperations: Set<Agreement.Operation> = []
            for name in Output.list(operations) {
                guard let operation = Agreement.Operation(rawValue: name) else { throw ValidationError("unknown operation \(name): use query, receive or send") }
                parsedOperations.insert(operation)
            }
            var limit: Int?
            if let rateLimit {
                guard let value = Int(rateLimit.replacingOccurrences(of: "/min", with: "")), value > 0 else { throw ValidationError("--rate-limit is N/min with N ≥ 1") }
                limit = value
            }
            let request = AgreementRequest(
                partner: partner, contract: id, operations: parsedOperations, purposes: Set(Output.list(purposes)), fields: fields,
                validFrom: try Output.parseDate(validFrom, option: "--valid-from"), validUntil: try Output.parseDate(validUntil, option: "--valid-until"),
                mouReference: mouRef, rateLimit: limit,
                scope: ownNationals ? [String(partner.prefix(2))] + scopeNationality : (scopeNationality.isEmpty ? nil : scopeNationality))
            let agreement = try await options.run { admin, actor in try await admin.grant(request.agreement(in: admin), by: actor) }
            print(Output.describe(agreement))
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke an agreement: the partner's next request under it is refused.")
        @Argument(help: "Agreement id.") var id: Int64
        @OptionGroup var options: AdminOptions

        func run() async throws {
            let id = self.id
            let agreement = try await options.run { admin, actor in try await admin.revokeAgreement(id, by: actor) }
            print("agreement \(agreement.id) is \(agreement.status)")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List agreements.")
        @Option(help: "Only this partner's.") var partner: String?
        @Flag(help: "Include revoked agreements.") var all = false
        @OptionGroup var options: AdminOptions

        func run() async throws {
            let (partner, all) = (self.partner, self.all)
            let agreements = try await options.run { admin, _ in try await admin.agreements(partner: partner, includeRevoked: all) }
            print(agreements.isEmpty ? "no agreements" : agreements.map(Output.describe).joined(separator: "\n"))
        }
    }
}

/// A grant as typed on the command line; `all` and `all-except:` are expanded against the contract.
struct AgreementRequest: Sendable {
    let partner: String
    let contract: ContractID
    let operations: Set<Agreement.Operation>
    let purposes: Set<String>
    let fields: String
    let validFrom: Date
    let validUntil: Date
    let mouReference: String
    let rateLimit: Int?
    let scope: [String]?

    func agreement(in admin: Administration) throws -> Agreement {
        Agreement(
            partnerID: partner, contract: contract, operations: operations, purposes: purposes, fields: try admin.expandFields(fields, of: contract),
            validFrom: validFrom, validUntil: validUntil, mouReference: mouReference, rateLimitPerMinute: rateLimit, scopeNationalities: scope.map(Set.init))
    }
}

struct CertificateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "cert", abstract: "Partner certificates.", subcommands: [Revoke.self])

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a certificate: refused on its next request.")
        @Argument(help: "SHA-256 fingerprint (hex, colons allowed).") var fingerprint: String
        @Option(help: "Why (key compromise, superseded, …).") var reason: String
        @OptionGroup var pkiOptions: PKIOptions
        @OptionGroup var options: AdminOptions

        func run() async throws {
            let (fingerprint, reason) = (self.fingerprint, self.reason)
            let pki = pkiOptions.directory
            // The partner CA's CRL is signed anew in the same command, when this machine holds the CA's key.
            let authority = try? pki.partnerCA()
            let (certificate, list) = try await options.run { admin, actor in
                let certificate = try await admin.revokeCertificate(fingerprint: fingerprint, reason: reason, by: actor)
                guard let authority else { return (certificate, nil as RevocationList?) }
                return (certificate, try await admin.revocationList(of: authority))
            }
            print("certificate \(certificate.fingerprint) of \(certificate.partnerID) is revoked")
            if let list {
                try pki.writeCRL(list)
                print("the partner CA's CRL in \(pki.partnerCRL) lists it")
            } else {
                print("no partner CA key in \(pki.path): sign the CRL where the key is, with `jisr pki crl`")
            }
        }
    }
}
