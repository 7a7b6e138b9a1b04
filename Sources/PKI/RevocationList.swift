import Foundation
import SwiftASN1
import X509

/// A certificate the CA has withdrawn, as a CRL lists it.
public struct RevokedSerial: Sendable, Hashable {
    /// The serial number's bytes (the content of its DER INTEGER).
    public let serial: [UInt8]
    public let revokedAt: Date

    public init(serial: [UInt8], revokedAt: Date) {
        self.serial = serial
        self.revokedAt = revokedAt
    }

    /// A serial as the registry stores it: hex bytes separated by colons (`Certificate.SerialNumber.description`).
    public init?(registrySerial text: String, revokedAt: Date) {
        let bytes = text.split(separator: ":").map { UInt8($0, radix: 16) }
        guard !bytes.isEmpty, bytes.allSatisfy({ $0 != nil }) else { return nil }
        self.init(serial: bytes.compactMap { $0 }, revokedAt: revokedAt)
    }
}

/// A certificate revocation list (RFC 5280 §5, version 2), signed by the CA, in DER.
///
/// swift-certificates reads certificates and OCSP but writes no CRL, so the structure is written here with SwiftASN1:
/// the CA's name and key identifier, this and the next update, every revoked serial with its date, and a CRL
/// number that grows with every list (RFC 5280 §5.2.3: the current time in seconds, so two gateways never go back).
public struct RevocationList: Sendable {
    public let der: [UInt8]

    public var pem: String { PEMDocument(type: "X509 CRL", derBytes: der).pemString + "\n" }

    /// How long a list is valid: a relying party that cannot fetch a newer one refuses the CA's certificates after it.
    public static let validity: TimeInterval = 30 * 86_400

    init(der: [UInt8]) { self.der = der }

    static let crlNumber = ASN1ObjectIdentifier("2.5.29.20")
    static let distributionPoints = ASN1ObjectIdentifier("2.5.29.31")
    static let ecdsaWithSHA256 = ASN1ObjectIdentifier("1.2.840.10045.4.3.2")
}

extension CertificateAuthority {
    /// The CA's CRL listing `revoked`, valid from now for `RevocationList.validity`.
    public func revocationList(revoked: [RevokedSerial], now: Date = Date()) throws -> RevocationList {
        var tbs = DER.Serializer()
        try tbs.appendConstructedNode(identifier: .sequence) { coder in
            try coder.serialize(1)  // v2
            try Self.serializeAlgorithm(into: &coder)
            try coder.serialize(credential.certificate.subject)
            try coder.serialize(try Self.time(now))
            try coder.serialize(try Self.time(now.addingTimeInterval(RevocationList.validity)))
            if !revoked.isEmpty {
                try coder.appendConstructedNode(identifier: .sequence) { list in
                    for entry in revoked.sorted(by: { $0.revokedAt < $1.revokedAt }) {
                        try list.appendConstructedNode(identifier: .sequence) { item in
                            try item.serialize(entry.serial[...])
                            try item.serialize(try Self.time(entry.revokedAt))
                        }
                    }
                }
            }
            try coder.appendConstructedNode(identifier: ASN1Identifier(tagWithNumber: 0, tagClass: .contextSpecific)) { explicit in
                try explicit.appendConstructedNode(identifier: .sequence) { extensions in
                    let keyIdentifier = SubjectKeyIdentifier(hash: credential.certificate.publicKey).keyIdentifier
                    try extensions.serialize(try Certificate.Extension(AuthorityKeyIdentifier(keyIdentifier: keyIdentifier), critical: false))
                    var number = DER.Serializer()
                    try number.serialize(Int64(now.timeIntervalSince1970))
                    try extensions.serialize(Certificate.Extension(oid: RevocationList.crlNumber, critical: false, value: number.serializedBytes[...]))
                }
            }
        }
        let signature = try credential.privateKey.sign(bytes: tbs.serializedBytes, signatureAlgorithm: .ecdsaWithSHA256)
        var list = DER.Serializer()
        try list.appendConstructedNode(identifier: .sequence) { coder in
            coder.serializeRawBytes(tbs.serializedBytes)
            try Self.serializeAlgorithm(into: &coder)
            try coder.serialize(ASN1BitString(bytes: signature.rawRepresentation[...]))
        }
        return RevocationList(der: list.serializedBytes)
    }

    private static func serializeAlgorithm(into coder: inout DER.Serializer) throws {
        try coder.appendConstructedNode(identifier: .sequence) { try $0.serialize(RevocationList.ecdsaWithSHA256) }
    }

    /// UTCTime, as RFC 5280 requires for dates before 2050.
    private static func time(_ date: Date) throws -> UTCTime {
        let parts = Calendar(identifier: .gregorian).dateComponents(in: TimeZone(identifier: "UTC")!, from: date)
        return try UTCTime(
            year: parts.year!, month: parts.month!, day: parts.day!, hours: parts.hour!, minutes: parts.minute!, seconds: parts.second!)
    }
}

/// The CRL distribution point extension (RFC 5280 §4.2.1.13) naming one HTTP URL.
struct CRLDistributionPoint {
    let url: String

    func extensionValue() -> Certificate.Extension {
        var coder = DER.Serializer()
        coder.appendConstructedNode(identifier: .sequence) { points in
            points.appendConstructedNode(identifier: .sequence) { point in
                // distributionPoint [0] (a CHOICE, so explicit) holding fullName [0] GeneralNames: one URI [6].
                point.appendConstructedNode(identifier: ASN1Identifier(tagWithNumber: 0, tagClass: .contextSpecific)) { name in
                    name.appendConstructedNode(identifier: ASN1Identifier(tagWithNumber: 0, tagClass: .contextSpecific)) { names in
                        names.appendPrimitiveNode(identifier: ASN1Identifier(tagWithNumber: 6, tagClass: .contextSpecific)) { $0.append(contentsOf: Array(url.utf8)) }
                    }
                }
            }
        }
        return Certificate.Extension(oid: RevocationList.distributionPoints, critical: false, value: coder.serializedBytes[...])
    }
}

extension RevocationList {
    /// Writes the DER to `file` through a temporary file and a rename.
    public static func write(_ list: RevocationList, to file: String) throws {
        let url = URL(fileURLWithPath: file)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(getpid())")
        try Data(list.der).write(to: temporary)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: temporary.path)
        guard rename(temporary.path, url.path) == 0 else {
            try? FileManager.default.removeItem(at: temporary)
            throw PKIError("crl-not-written", "cannot replace \(file): \(String(cString: strerror(errno)))")
        }
    }
}

extension RevocationList {
    /// When a CRL (DER) says a newer one will be issued: after it, relying parties that check revocation refuse the
    /// CA's certificates. Nil when the bytes are not a CRL with a next update.
    public static func nextUpdate(der: [UInt8]) -> Date? {
        guard let root = try? DER.parse(der), case .constructed(let list) = root.content, let tbs = list.first(where: { _ in true }),
            case .constructed(let fields) = tbs.content
        else { return nil }
        // thisUpdate and nextUpdate are the first two times of the TBSCertList (RFC 5280 §5.1.2.4–5).
        let times = fields.compactMap { node -> Date? in
            if let time = try? UTCTime(derEncoded: node) {
                return date(year: time.year, month: time.month, day: time.day, hours: time.hours, minutes: time.minutes, seconds: time.seconds)
            }
            if let time = try? GeneralizedTime(derEncoded: node) {
                return date(year: time.year, month: time.month, day: time.day, hours: time.hours, minutes: time.minutes, seconds: time.seconds)
            }
            return nil
        }
        return times.count >= 2 ? times[1] : nil
    }

    private static func date(year: Int, month: Int, day: Int, hours: Int, minutes: Int, seconds: Int) -> Date? {
        DateComponents(calendar: Calendar(identifier: .gregorian), timeZone: TimeZone(identifier: "UTC"), year: year, month: month, day: day, hour: hours,
                       minute: minutes, second: seconds).date
    }
}
