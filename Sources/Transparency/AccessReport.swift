import Foundation
import MessageLog
import Schemas

/// A person's report of every exchange about them: who received what, when, why and under which MoU, each row
/// with the evidence that it is in the message log ("حقك بيوصلك").
///
/// Built from the log's subject index and the registry; holds nothing about anyone else (an entry that concerned
/// several people shows only how many, as salted leaves).
public struct AccessReport: Codable, Sendable, Hashable {
    /// The contract the citizen portal receives it under (`GET /v1/access-report`).
    public static let contract = ContractID(name: "access-report", version: 1)
    /// Who the report is about, as far as it may say: the identifier masked, and the subject references searched.
    public struct Subject: Codable, Sendable, Hashable {
        /// `nationalId`, `passport` or `nssfNumber`.
        public var kind: String
        /// The identifier as asked for, all but its last characters masked (`••••••••7517`).
        public var masked: String
        /// Whether the ministry's records know the person (else only exchanges under this identifier are listed).
        public var known: Bool
        /// The keyed hashes the log files the person's exchanges under: every identifier of theirs and each permit.
        public var references: [String]
    }

    /// A party to the exchange: its id as the entry recorded it, and its names as the registry gives them today.
    ///
    /// The names are presentation: a verifier checks the id against the entry, never the names, so that a partner
    /// renamed or retired leaves every report verifying.
    public struct Party: Codable, Sendable, Hashable {
        public var id: String
        public var nameAr: String?
        public var nameEn: String?
        public var country: String?
    }

    /// A group of fields that left, under its labels from the contract.
    public struct DisclosedField: Codable, Sendable, Hashable {
        public var path: String
        public var ar: String
        public var en: String
    }

    /// Why the data was asked for: the code the entry recorded, with its descriptions and legal basis as the registry
    /// gives them today.
    ///
    /// Only the code is checked against the entry. A code the registry does not know (a partner's typo, refused as
    /// `purpose-not-granted`) has no labels: the page shows it as an unknown code.
    public struct Purpose: Codable, Sendable, Hashable {
        public var code: String
        public var ar: String?
        public var en: String?
        public var legalBasis: String?
        /// The legal basis in Arabic, where the purpose has one.
        public var legalBasisAr: String?
    }

    /// Where the entry is in the sealed log: the inclusion proof against `AccessReport.treeHead`, when sealed.
    public struct Receipt: Codable, Sendable, Hashable {
        public var seq: Int64
        public var entryHash: String
        /// Every field the entry hash covers, so anyone can recompute it.
        public var entry: EntryEvidence
        /// Hex hashes from the entry's leaf to the root of the report's tree head; nil when no seal covers it yet.
        public var inclusionProof: [String]?
    }

    /// One exchange about the person.
    public struct Row: Codable, Sendable, Hashable {
        /// When, in Beirut time (ISO 8601 with its offset).
        public var at: String
        /// The partner that asked, received or sent; nil for the ministry itself (an administrator).
        public var partner: Party?
        /// `inbound-query`, `inbound-send`, `outbound-relay` or `admin`.
        public var direction: String
        public var contract: String?
        public var operation: String?
        /// What left (or came in, for a send), under the contract's labels; empty when nothing did.
        public var fields: [DisclosedField]
        public var purpose: Purpose?
        public var mouReference: String?
        public var caseReference: String?
        /// `answered`, `nothing-found` or `refused`.
        public var outcome: String
        /// For a refusal or nothing found: the problem type and HTTP status.
        public var problem: String?
        public var status: Int
        public var receipt: Receipt
    }

    /// The signed tree head the receipts are proved against, as `GET /v1/messages/{id}/receipt` gives it.
    public struct TreeHead: Codable, Sendable, Hashable {
        public var size: Int64
        public var rootHash: String
        public var time: String
        public var signedText: String
        public var signature: String
        public var publicKey: String
        public var certificate: String
        public var timestampToken: String?
    }

    public var report = "access-report/1"
    /// When the report was made, in Beirut time.
    public var generatedAt: String
    public var subject: Subject
    /// The period asked for (dates, inclusive); nil: from the start, or up to now.
    public var from: String?
    public var to: String?
    /// The seqs of the exchanges listed, so that a verifier names a row taken out.
    public var entries: [Int64]
    public var rows: [Row]
    public var treeHead: TreeHead?
}

extension AccessReport {
    /// The report as written and signed: JSON, keys sorted, indented for a reader.
    public static func encoded(_ report: AccessReport) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(report))
    }
}

extension AccessReport {
    /// The forms a report is written in: the signed JSON, the contract's XML, or a page to print.
    public enum Form: String, Sendable, CaseIterable {
        case json, xml, html

        public var mediaType: String {
            switch self {
            case .json: "application/json"
            case .xml: "application/xml"
            case .html: "text/html; charset=utf-8"
            }
        }
    }

    /// The report in `form`: JSON as `encoded` writes it; XML as `access-report/1` defines it, validated against its
    /// XSD; HTML as `AccessReportPage` lays it out in `language`.
    public static func rendered(_ report: AccessReport, as form: Form, language: AccessReportPage.Language, contract: Contract) throws -> [UInt8] {
        switch form {
        case .json: try encoded(report)
        case .xml: try contract.render(try DocumentEncoder.encode(report), as: .xml)
        case .html: Array(try AccessReportPage(language: language).render(report).utf8)
        }
    }
}
