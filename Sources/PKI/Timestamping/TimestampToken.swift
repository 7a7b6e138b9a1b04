import Crypto
import Foundation
import SwiftASN1
@_spi(FixedExpiryValidationTime) import X509

/// An RFC 3161 timestamp token (a CMS SignedData over a TSTInfo), read and checked without OpenSSL.
///
/// Checking means: the token stamps exactly the SHA-256 of the given bytes; its signed attributes carry the
/// TSTInfo's digest; the signature over them is the signing certificate's; that certificate is for time
/// stamping and chains to a trusted TSA root at the time it stamped.
public struct TimestampToken: Sendable {
    public let der: [UInt8]
    /// When the TSA says the bytes existed.
    public let genTime: Date
    /// The SHA-256 the TSA stamped.
    public let messageImprint: [UInt8]
    public let serialNumber: ArraySlice<UInt8>
    /// The nonce of the request it answers, when the request had one.
    public let nonce: Int64?
    let tstInfo: [UInt8]
    let signedAttributes: [UInt8]
    let attributesDigest: [UInt8]
    let signatureAlgorithm: Certificate.SignatureAlgorithm
    let signature: [UInt8]
    let certificates: [Certificate]

    public init(der: [UInt8]) throws {
        self.der = der
        do {
            let contentInfo = try Self.children(try DER.parse(der))
            guard contentInfo.count == 2, try ASN1ObjectIdentifier(derEncoded: contentInfo[0]) == TimestampOID.signedData else {
                throw TimestampError("the token is not CMS SignedData")
            }
            let signedData = try Self.children(try Self.only(contentInfo[1]))
            guard signedData.count >= 4 else { throw TimestampError("the token's SignedData is incomplete") }
            let encapsulated = try Self.children(signedData[2])
            guard encapsulated.count == 2, try ASN1ObjectIdentifier(derEncoded: encapsulated[0]) == TimestampOID.tstInfo else {
                throw TimestampError("the token does not carry a TSTInfo")
            }
            let tstInfo = Array(try ASN1OctetString(derEncoded: try Self.only(encapsulated[1])).bytes)
            self.tstInfo = tstInfo
            let info = try Self.children(try DER.parse(tstInfo))
            guard info.count >= 5 else { throw TimestampError("the TSTInfo is incomplete") }
            let imprint = try Self.children(info[2])
            guard imprint.count == 2, try ASN1ObjectIdentifier(derEncoded: try Self.children(imprint[0])[0]) == TimestampOID.sha256 else {
                throw TimestampError("the token does not stamp a SHA-256 digest")
            }
            self.messageImprint = Array(try ASN1OctetString(derEncoded: imprint[1]).bytes)
            self.serialNumber = try ArraySlice<UInt8>(derEncoded: info[3], withIdentifier: .integer)
            self.genTime = try Self.date(try GeneralizedTime(derEncoded: info[4]))
            self.nonce = try info.dropFirst(5).first(where: { $0.identifier == .integer }).map { try Int64(derEncoded: $0) }

            var certificates: [Certificate] = []
            var index = 3
            if signedData[index].identifier == ASN1Identifier(tagWithNumber: 0, tagClass: .contextSpecific) {
                certificates = try Self.children(signedData[index]).map { try Certificate(derEncoded: Array($0.encodedBytes)) }
                index += 1
            }
            if signedData[index].identifier == ASN1Identifier(tagWithNumber: 1, tagClass: .contextSpecific) { index += 1 }
            guard index < signedData.count else { throw TimestampError("the token has no signer") }
            let signers = try Self.children(signedData[index])
            guard signers.count == 1 else { throw TimestampError("the token must have exactly one signer") }
            let signer = try Self.children(signers[0])
            guard signer.count >= 6, signer[3].identifier == ASN1Identifier(tagWithNumber: 0, tagClass: .contextSpecific) else {
                throw TimestampError("the token's signer has no signed attributes")
            }
            guard try ASN1ObjectIdentifier(derEncoded: try Self.children(signer[2])[0]) == TimestampOID.sha256 else {
                throw TimestampError("the token's signer does not digest with SHA-256")
            }
            // The signature covers the attributes DER-encoded as a SET, not with their [0] IMPLICIT tag.
            var attributes = Array(signer[3].encodedBytes)
            attributes[0] = 0x31
            self.signedAttributes = attributes
            var digest: [UInt8]?
            var contentType: ASN1ObjectIdentifier?
            for attribute in try Self.children(signer[3]) {
                let parts = try Self.children(attribute)
                guard parts.count == 2 else { continue }
                let type = try ASN1ObjectIdentifier(derEncoded: parts[0])
                let value = try Self.only(parts[1])
                if type == TimestampOID.messageDigestAttribute { digest = Array(try ASN1OctetString(derEncoded: value).bytes) }
                if type == TimestampOID.contentTypeAttribute { contentType = try ASN1ObjectIdentifier(derEncoded: value) }
            }
            guard let digest, contentType == TimestampOID.tstInfo else { throw TimestampError("the token's signed attributes lack its digest or content type") }
            self.attributesDigest = digest
            let algorithm = try ASN1ObjectIdentifier(derEncoded: try Self.children(signer[4])[0])
            switch algorithm {
            case TimestampOID.ecdsaWithSHA256: signatureAlgorithm = .ecdsaWithSHA256
            case TimestampOID.ecdsaWithSHA384: signatureAlgorithm = .ecdsaWithSHA384
            case TimestampOID.sha256WithRSA, TimestampOID.rsaEncryption: signatureAlgorithm = .sha256WithRSAEncryption
            default: throw TimestampError("the token is signed with an algorithm Jisr does not accept (\(algorithm))")
            }
            self.signature = Array(try ASN1OctetString(derEncoded: signer[5]).bytes)
            self.certificates = certificates
        } catch let error as TimestampError {
            throw error
        } catch {
            throw TimestampError("the token cannot be read: \(error)")
        }
    }

    /// Checks the token against the bytes it should stamp and the trusted TSA roots; returns the time it gives.
    @discardableResult
    public func verify(stamping bytes: [UInt8], trustedRoots: [Certificate]) async throws -> Date {
        guard messageImprint == Array(SHA256.hash(data: bytes)) else { throw TimestampError("the token stamps other bytes") }
        guard attributesDigest == Array(SHA256.hash(data: tstInfo)) else { throw TimestampError("the token's signed digest does not match its TSTInfo") }
        guard let signer = certificates.first(where: { $0.publicKey.isValidSignature(signature, for: signedAttributes, signatureAlgorithm: signatureAlgorithm) })
        else { throw TimestampError("the token's signature is not from a certificate it carries") }
        guard let usage = try? signer.extensions.extendedKeyUsage, usage.contains(.timeStamping) else {
            throw TimestampError("the token's signer is not a timestamping certificate")
        }
        let stampedAt = genTime
        var verifier = Verifier(rootCertificates: CertificateStore(trustedRoots)) {
            RFC5280Policy(fixedExpiryValidationTime: stampedAt)
            TimestampingUsagePolicy()
        }
        let intermediates = CertificateStore(certificates.filter { $0 != signer })
        guard case .validCertificate = await verifier.validate(leaf: signer, intermediates: intermediates) else {
            throw TimestampError("the token's signer does not chain to a trusted timestamping authority")
        }
        return genTime
    }

    /// The same, with the roots as PEM texts (each may hold several certificates).
    @discardableResult
    public func verify(stamping bytes: [UInt8], trustedRootsPEM: [String]) async throws -> Date {
        let roots = try trustedRootsPEM.flatMap { pem in try PEMDocument.parseMultiple(pemString: pem).map { try Certificate(pemDocument: $0) } }
        return try await verify(stamping: bytes, trustedRoots: roots)
    }

    static func date(_ time: GeneralizedTime) throws -> Date {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let components = DateComponents(year: time.year, month: time.month, day: time.day, hour: time.hours, minute: time.minutes, second: time.seconds)
        guard let date = calendar.date(from: components) else { throw TimestampError("the token's time is not a date") }
        return date.addingTimeInterval(time.fractionalSeconds)
    }

    static func children(_ node: ASN1Node) throws -> [ASN1Node] {
        guard case .constructed(let items) = node.content else { throw TimestampError("unexpected primitive value in the token") }
        return Array(items)
    }

    static func only(_ node: ASN1Node) throws -> ASN1Node {
        guard let first = try children(node).first else { throw TimestampError("unexpected empty value in the token") }
        return first
    }
}

/// RFC 3161 §2.3: the TSA's certificate carries the timeStamping usage, and it is critical — which the RFC 5280
/// policy alone would refuse as an extension nobody handles.
struct TimestampingUsagePolicy: VerifierPolicy {
    let verifyingCriticalExtensions: [ASN1ObjectIdentifier] = [.X509ExtensionID.extendedKeyUsage]

    func chainMeetsPolicyRequirements(chain: UnverifiedCertificateChain) async -> PolicyEvaluationResult {
        guard let usage = try? chain.leaf.extensions.extendedKeyUsage, usage.contains(.timeStamping) else {
            return .failsToMeetPolicy(PolicyFailureReason("the signer lacks the timeStamping usage"))
        }
        return .meetsPolicy
    }
}
