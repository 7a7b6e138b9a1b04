import AsyncHTTPClient
import Foundation
import Synchronization
import MessageLog
import NIOCore
import NIOHTTP1
import PKI
import SwiftASN1
import X509

/// Where the timestamping authority is and which roots its tokens must chain to.
public struct TimestampingConfiguration: Sendable {
    /// The TSA's RFC 3161 HTTP endpoint (`application/timestamp-query`).
    public var url: String
    /// Root certificates (PEM) of the TSA; a token that does not chain to one is refused.
    public var trustedRootPaths: [String]
    /// A TSA that does not answer within this is counted as unavailable (the HTTP client retries connecting until then).
    public var requestTimeout: Duration = .seconds(5)

    public init(url: String, trustedRootPaths: [String]) {
        self.url = url
        self.trustedRootPaths = trustedRootPaths
    }
}

/// Asks the configured TSA for RFC 3161 tokens over HTTP and checks each one before it is kept: the right
/// digest, the nonce of the request, a valid signature, a timeStamping certificate under a trusted root.
public final class TimestampAuthorityClient: TreeHeadTimestamper {
    let configuration: TimestampingConfiguration
    let roots: [Certificate]
    let http: HTTPClient
    /// The TSA's URL, which SIGHUP may change (the trusted roots stay: a new TSA under another root needs a restart).
    private let address: Mutex<String>

    public init(configuration: TimestampingConfiguration, http: HTTPClient = .shared) throws {
        self.configuration = configuration
        self.http = http
        self.address = Mutex(configuration.url)
        self.roots = try configuration.trustedRootPaths.flatMap { path in
            try PEMDocument.parseMultiple(pemString: try String(contentsOfFile: path, encoding: .utf8)).map { try Certificate(pemDocument: $0) }
        }
        guard !roots.isEmpty else { throw TimestampError("no trusted TSA root certificate was configured") }
    }

    /// The URL asked now.
    public var url: String { address.withLock { $0 } }

    /// Asks `url` from the next seal on.
    public func retarget(_ url: String) { address.withLock { $0 = url } }

    public func timestamp(_ bytes: [UInt8]) async throws -> [UInt8] {
        let query = TimestampQuery(stamping: bytes)
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/timestamp-query")
        request.headers.add(name: "Accept", value: "application/timestamp-reply")
        request.body = .bytes(ByteBuffer(bytes: try query.derEncoded()))
        let response = try await http.execute(request, timeout: .init(configuration.requestTimeout))
        guard response.status == .ok else { throw TimestampError("the TSA answered HTTP \(response.status.code)") }
        let body = Array(buffer: try await response.body.collect(upTo: 1 << 20))
        let token = try TimestampResponse(derEncoded: body).grantedToken()
        let parsed = try TimestampToken(der: token)
        guard parsed.nonce == query.nonce else { throw TimestampError("the TSA's token answers another request (nonce)") }
        try await parsed.verify(stamping: bytes, trustedRoots: roots)
        return token
    }
}

