import Crypto
import SwiftASN1

/// Why a timestamping exchange or token was refused; `reason` names what is wrong.
public struct TimestampError: Error, Sendable, Hashable, CustomStringConvertible {
    public let reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

/// Object identifiers of RFC 3161 and CMS that Jisr reads and writes.
enum TimestampOID {
    static let sha256: ASN1ObjectIdentifier = [2, 16, 840, 1, 101, 3, 4, 2, 1]
    static let signedData: ASN1ObjectIdentifier = [1, 2, 840, 113_549, 1, 7, 2]
    static let tstInfo: ASN1ObjectIdentifier = [1, 2, 840, 113_549, 1, 9, 16, 1, 4]
    static let contentTypeAttribute: ASN1ObjectIdentifier = [1, 2, 840, 113_549, 1, 9, 3]
    static let messageDigestAttribute: ASN1ObjectIdentifier = [1, 2, 840, 113_549, 1, 9, 4]
    static let ecdsaWithSHA256: ASN1ObjectIdentifier = [1, 2, 840, 10045, 4, 3, 2]
    static let ecdsaWithSHA384: ASN1ObjectIdentifier = [1, 2, 840, 10045, 4, 3, 3]
    static let rsaEncryption: ASN1ObjectIdentifier = [1, 2, 840, 113_549, 1, 1, 1]
    static let sha256WithRSA: ASN1ObjectIdentifier = [1, 2, 840, 113_549, 1, 1, 11]
}

/// An RFC 3161 `TimeStampReq` for the SHA-256 of some bytes, asking for the TSA's certificate in the token.
public struct TimestampQuery: Sendable, Hashable {
    public let digest: [UInt8]
    public let nonce: Int64

    public init(stamping bytes: [UInt8], nonce: Int64 = .random(in: 1...Int64.max)) {
        self.digest = Array(SHA256.hash(data: bytes))
        self.nonce = nonce
    }

    /// `application/timestamp-query` body.
    public func derEncoded() throws -> [UInt8] {
        var serializer = DER.Serializer()
        try serializer.appendConstructedNode(identifier: .sequence) { request in
            try request.serialize(1)
            try request.appendConstructedNode(identifier: .sequence) { imprint in
                try imprint.appendConstructedNode(identifier: .sequence) { algorithm in
                    try algorithm.serialize(TimestampOID.sha256)
                    try algorithm.serialize(ASN1Null())
                }
                try imprint.serialize(ASN1OctetString(contentBytes: digest[...]))
            }
            try request.serialize(nonce)
            try request.serialize(true)
        }
        return serializer.serializedBytes
    }
}

/// An RFC 3161 `TimeStampResp`: the TSA's verdict and, when granted, the token.
public struct TimestampResponse: Sendable {
    /// 0 granted, 1 granted with modifications, 2 rejection, 3 waiting, 4 revocation warning, 5 revocation notification.
    public let status: Int
    public let token: [UInt8]?

    public init(derEncoded bytes: [UInt8]) throws {
        let root: ASN1Node
        do { root = try DER.parse(bytes) } catch { throw TimestampError("the TSA's answer is not DER") }
        guard case .constructed(let items) = root.content else { throw TimestampError("the TSA's answer is not a TimeStampResp") }
        var iterator = items.makeIterator()
        guard let statusInfo = iterator.next(), case .constructed(let statusItems) = statusInfo.content, let statusNode = statusItems.first(where: { _ in true })
        else { throw TimestampError("the TSA's answer has no status") }
        self.status = try Int(derEncoded: statusNode)
        self.token = iterator.next().map { Array($0.encodedBytes) }
    }

    /// The token of a granted request.
    public func grantedToken() throws -> [UInt8] {
        guard status == 0 || status == 1, let token else { throw TimestampError("the TSA refused the request (status \(status))") }
        return token
    }
}
