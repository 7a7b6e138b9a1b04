import Foundation

/// The gateway's own keys and certificates in one folder, as `jisr pki init` creates them.
///
/// `partner-ca.*` signs partners' client certificates; `admin-ca.*` signs administrators' certificates (the
/// admin role); `server.*` is the listeners' TLS identity; `subject.key` keys subject references. Private
/// keys are mode 0600 and never printed.
public struct PKIDirectory: Sendable {
    public let path: String

    public init(path: String) {
        self.path = URL(fileURLWithPath: path).standardizedFileURL.path
    }

    public var partnerCACertificate: String { path + "/partner-ca.crt" }
    public var partnerCAKey: String { path + "/partner-ca.key" }
    public var adminCACertificate: String { path + "/admin-ca.crt" }
    public var adminCAKey: String { path + "/admin-ca.key" }
    public var serverCertificate: String { path + "/server.crt" }
    public var serverKey: String { path + "/server.key" }
    public var subjectKey: String { path + "/subject.key" }
    /// Jisr's own client identity when it delivers to partners (relay), issued by the partner CA.
    public var relayClientCertificate: String { path + "/relay-client.crt" }
    public var relayClientKey: String { path + "/relay-client.key" }
    public var administrators: String { path + "/admins" }
    /// The key that signs the message log's seals, and its certificate from the partner CA (the gateway CA).
    public var logSigningKey: String { path + "/log-signing.key" }
    public var logSigningCertificate: String { path + "/log-signing.crt" }
    /// Keys that encrypt message bodies at rest, one file per key (`jisr pki rotate-body-key` adds one).
    public var bodyKeys: String { path + "/body-keys" }

    /// The partner CA's CRL (DER), which `jisr serve` publishes over plain HTTP, and the URL its certificates name.
    public var partnerCRL: String { path + "/partner-ca.crl" }
    public var crlURLFile: String { path + "/crl-url" }

    public var exists: Bool { FileManager.default.fileExists(atPath: partnerCAKey) }

    /// Creates the CAs, the server certificate for `dnsNames` and `ipAddresses`, the subject key and a first
    /// administrator certificate; refuses to overwrite an existing folder's keys.
    /// `crlURL` is where the partner CA's CRL will be published: every certificate the CA issues names it.
    public func initialize(dnsNames: [String], ipAddresses: [[UInt8]], crlURL: String?, administrator: String = "admin") throws {
        guard !exists else { throw PKIError("pki-exists", "\(path) already holds a partner CA; refusing to overwrite its keys") }
        if let crlURL { try Self.checkCRLURL(crlURL) }
        var partnerCA = try CertificateAuthority.create(commonName: "Jisr partner CA")
        partnerCA.crlURL = crlURL
        try PEMFiles.write(partnerCA.credential, directory: path, name: "partner-ca")
        if let crlURL {
            try PEMFiles.write(crlURL + "\n", to: crlURLFile, secret: false)
            try writeCRL(partnerCA.revocationList(revoked: []))
        }
        let adminCA = try CertificateAuthority.create(commonName: "Jisr administrators CA")
        try PEMFiles.write(adminCA.credential, directory: path, name: "admin-ca")
        let server = try partnerCA.issueServer(dnsNames: dnsNames, ipAddresses: ipAddresses)
        try PEMFiles.write(server, chain: [partnerCA.credential.certificate], directory: path, name: "server")
        var key = [UInt8](repeating: 0, count: 32)
        var generator = SystemRandomNumberGenerator()
        for index in key.indices { key[index] = generator.next() }
        try PEMFiles.write(key.map { String(format: "%02x", $0) }.joined() + "\n", to: subjectKey, secret: true)
        try PEMFiles.write(
            try partnerCA.issueClient(partnerID: "LB-MOL", organization: "Ministry of Labour, Lebanon", country: "LB"), chain: [partnerCA.credential.certificate],
            directory: path, name: "relay-client")
        try issueAdministrator(administrator)
        try ensureLogSigner()
    }

    /// Issues the log-signing key and certificate if this folder has none yet (folders made before seals existed).
    public func ensureLogSigner() throws {
        guard !FileManager.default.fileExists(atPath: logSigningKey) else { return }
        let authority = try partnerCA()
        try PEMFiles.write(try authority.issueLogSigner(), chain: [authority.credential.certificate], directory: path, name: "log-signing")
    }

    /// A client certificate for an administrator, from the admin CA, in `admins/NAME.crt` and `.key`.
    @discardableResult
    public func issueAdministrator(_ name: String) throws -> IssuedCredential {
        let credential = try adminCA().issueClient(partnerID: name, organization: "Ministry of Labour, Lebanon — administrators", country: "LB")
        try PEMFiles.write(credential, directory: administrators, name: name)
        return credential
    }

    public func partnerCA() throws -> CertificateAuthority {
        try CertificateAuthority(certificatePEM: try read(partnerCACertificate), privateKeyPEM: try read(partnerCAKey), crlURL: crlURL)
    }

    /// The URL the partner CA's certificates name as their CRL distribution point, if one was set.
    public var crlURL: String? {
        (try? String(contentsOfFile: crlURLFile, encoding: .utf8)).map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.flatMap { $0.isEmpty ? nil : $0 }
    }

    /// Sets the CRL URL that certificates issued from now on name (earlier ones keep theirs).
    public func setCRLURL(_ url: String) throws {
        try Self.checkCRLURL(url)
        try PEMFiles.write(url + "\n", to: crlURLFile, secret: false)
    }

    /// Replaces the published CRL in one step (a reader never sees half a file).
    public func writeCRL(_ list: RevocationList, to file: String? = nil) throws {
        try RevocationList.write(list, to: file ?? partnerCRL)
    }

    /// A CRL is fetched over plain HTTP (RFC 5280 §4.2.1.13: a relying party must not need TLS to check TLS).
    static func checkCRLURL(_ url: String) throws {
        guard let parsed = URL(string: url), parsed.scheme == "http", parsed.host?.isEmpty == false else {
            throw PKIError("invalid-crl-url", "the CRL URL must be http://HOST[:PORT]/PATH (a CRL is signed: it is published without TLS); got \(url)")
        }
    }

    public func adminCA() throws -> CertificateAuthority {
        try CertificateAuthority(certificatePEM: try read(adminCACertificate), privateKeyPEM: try read(adminCAKey))
    }

    public func read(_ file: String) throws -> String {
        do { return try String(contentsOfFile: file, encoding: .utf8) } catch {
            throw PKIError("pki-missing", "\(file) cannot be read; create the PKI with `jisr pki init --dir \(path)`")
        }
    }
}
