import Foundation
import Schemas

/// Where a partner stands; only `active` partners exchange data.
public enum PartnerStatus: String, Sendable, Codable, CaseIterable {
    case pending, active, suspended, retired
}

/// An institution Jisr exchanges with.
public struct Partner: Sendable, Hashable, Codable {
    public var id: String
    public var nameAr: String
    public var nameEn: String
    public var country: String
    public var status: PartnerStatus
    public var adapter: String
    public var endpoint: String?
    /// Who to call at the partner (a desk, not a person's private data).
    public var contact: String?

    public init(
        id: String, nameAr: String, nameEn: String, country: String, status: PartnerStatus, adapter: String = "standard", endpoint: String? = nil,
        contact: String? = nil
    ) {
        self.contact = contact
        self.id = id
        self.nameAr = nameAr
        self.nameEn = nameEn
        self.country = country
        self.status = status
        self.adapter = adapter
        self.endpoint = endpoint
    }

    /// `CC-ABBREV`: an ISO 3166 alpha-2 country code, a hyphen, 2–12 upper-case letters or digits.
    public static func isValidID(_ id: String) -> Bool {
        id.wholeMatch(of: /[A-Z]{2}-[A-Z0-9]{2,12}/) != nil
    }

    /// The same partner with another adapter.
    public func with(adapter: String) -> Partner {
        var copy = self
        copy.adapter = adapter
        return copy
    }
}

/// An administrator's certificate, registered: only these open the admin listener, and a revoked one no longer does.
public struct RegisteredAdministrator: Sendable, Hashable, Codable {
    public var fingerprint: String
    /// Who holds it, as the audit entries name them.
    public var name: String
    public var subject: String
    public var notAfter: Date
    public var status: PartnerCertificate.Status
    public var revokedReason: String?

    public init(fingerprint: String, name: String, subject: String, notAfter: Date, status: PartnerCertificate.Status = .active, revokedReason: String? = nil) {
        self.fingerprint = fingerprint
        self.name = name
        self.subject = subject
        self.notAfter = notAfter
        self.status = status
        self.revokedReason = revokedReason
    }
}

/// A client certificate registered to a partner; its SHA-256 fingerprint is the partner's identity.
public struct PartnerCertificate: Sendable, Hashable, Codable {
    /// Whether the certificate may still be used.
    public enum Status: String, Sendable, Codable { case active, revoked }

    public var fingerprint: String
    public var partnerID: String
    public var subject: String
    public var notBefore: Date
    public var notAfter: Date
    public var status: Status
    /// The issuing CA's subject and the serial it gave, unique together.
    public var issuer: String?
    public var serial: String?

    public init(
        fingerprint: String, partnerID: String, subject: String, notBefore: Date, notAfter: Date, status: Status = .active, issuer: String? = nil,
        serial: String? = nil
    ) {
        self.issuer = issuer
        self.serial = serial
        self.fingerprint = fingerprint
        self.partnerID = partnerID
        self.subject = subject
        self.notBefore = notBefore
        self.notAfter = notAfter
        self.status = status
    }
}

/// A purpose a partner can invoke, with the legal basis that allows it.
public struct Purpose: Sendable, Hashable, Codable {
    public var code: String
    public var descriptionAr: String
    public var descriptionEn: String
    public var legalBasis: String
    /// The legal basis in Arabic, as an Arabic access report cites it (the English one where a purpose has none).
    public var legalBasisAr: String?
    /// How long exchanges under this purpose stay out of the persons' access reports (a labour inspection under
    /// way must not be tipped off), and the law that allows it; nil: shown at once.
    public var disclosureDelay: DisclosureDelay?

    public init(
        code: String, descriptionAr: String, descriptionEn: String, legalBasis: String, legalBasisAr: String? = nil, disclosureDelay: DisclosureDelay? = nil
    ) {
        self.legalBasisAr = legalBasisAr
        self.disclosureDelay = disclosureDelay
        self.code = code
        self.descriptionAr = descriptionAr
        self.descriptionEn = descriptionEn
        self.legalBasis = legalBasis
    }
}

extension Purpose {
    /// From when an exchange made at `date` under this purpose may appear in the access reports of the people it
    /// concerns (microseconds since the Unix epoch); nil: at once. The one place the moment is derived: the entry
    /// records it when the exchange happens, and a later change of delay applies to later exchanges only.
    public func disclosableAt(exchangedAt date: Date) -> Int64? {
        disclosureDelay.map { Int64((date.timeIntervalSince1970 * 1_000_000).rounded()) + $0.seconds * 1_000_000 }
    }
}

/// A purpose's delay before its exchanges appear in access reports, with its legal basis.
public struct DisclosureDelay: Sendable, Hashable, Codable {
    public var seconds: Int64
    public var legalBasis: String

    public init(seconds: Int64, legalBasis: String) {
        self.seconds = seconds
        self.legalBasis = legalBasis
    }
}

/// What one partner may do with one contract version under an MoU.
public struct Agreement: Sendable, Hashable, Codable {
    /// What the partner may do with the contract: query Jisr, receive relayed documents, send documents in.
    public enum Operation: String, Sendable, Codable, CaseIterable { case query, receive, send }

    public var id: Int64
    public var partnerID: String
    public var contract: ContractID
    public var operations: Set<Operation>
    public var purposes: Set<String>
    public var fields: [String]
    public var validFrom: Date
    public var validUntil: Date
    public var mouReference: String
    public var rateLimitPerMinute: Int?
    /// Row-level scope: only records about workers of these nationalities (ISO 3166-1 alpha-2); nil = all.
    public var scopeNationalities: Set<String>?
    /// `active`, or `revoked` once withdrawn (kept for the record).
    public var status: String = "active"

    /// Whether a record about a worker of `nationality` is inside this agreement's scope.
    public func covers(nationality: String) -> Bool {
        scopeNationalities?.contains(nationality) ?? true
    }

    public init(
        id: Int64 = 0, partnerID: String, contract: ContractID, operations: Set<Operation>, purposes: Set<String>, fields: [String],
        validFrom: Date, validUntil: Date, mouReference: String, rateLimitPerMinute: Int? = nil, scopeNationalities: Set<String>? = nil
    ) {
        self.scopeNationalities = scopeNationalities
        self.id = id
        self.partnerID = partnerID
        self.contract = contract
        self.operations = operations
        self.purposes = purposes
        self.fields = fields
        self.validFrom = validFrom
        self.validUntil = validUntil
        self.mouReference = mouReference
        self.rateLimitPerMinute = rateLimitPerMinute
    }
}

extension Agreement {
    /// The purpose the relay delivers under, and logs each delivery with: the one purpose of an agreement that grants
    /// `receive` (a grant that would name several is refused). Nil for an agreement that names several, granted
    /// before the rule: the relay then sends nothing rather than choose.
    public var deliveryPurpose: String? { purposes.count == 1 ? purposes.first : nil }
}

/// A CA whose client certificates the exchange listener accepts, besides the configured partner CA.
public struct TrustedCA: Sendable, Hashable, Codable {
    public var fingerprint: String
    public var subject: String
    public var pem: String
    public var notAfter: Date

    public init(fingerprint: String, subject: String, pem: String, notAfter: Date) {
        self.fingerprint = fingerprint
        self.subject = subject
        self.pem = pem
        self.notAfter = notAfter
    }
}

/// The mapping a partner has attached: which one (SHA-256 of its text and files) and since when.
public struct MappingSummary: Sendable, Codable, Hashable {
    public let digest: String
    public let attachedAt: Date
}
