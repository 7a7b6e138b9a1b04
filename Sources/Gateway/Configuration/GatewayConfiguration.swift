import Foundation
import MessageLog
import Relay
import Storage

/// Everything `jisr serve` needs, with the defaults of DESIGN.md's outside interface.
///
/// Read from the command line and the environment by the executable (`JISR_*` variables); the subject key
/// and private keys are secrets and are only ever read from files, never from arguments.
public struct GatewayConfiguration: Sendable {
    /// Exchange listener (partners, mTLS). Port 0 picks a free port (tests).
    public var exchangeHost = "0.0.0.0"
    public var exchangePort = 8443
    /// Ops listener (health probes), plain HTTP, loopback only.
    public var opsHost = "127.0.0.1"
    public var opsPort = 9090
    /// Admin listener (administrators, mTLS with the admin CA), loopback by default.
    public var adminHost = "127.0.0.1"
    public var adminPort = 9443
    /// PEM files of the CAs whose certificates carry the admin role; no admin listener without one.
    public var adminCAPaths: [String] = []
    /// The partner CA's certificate and key, for `POST …/certificates` with a CSR (optional; a secret).
    public var partnerCAKeyPath: String?
    /// The URL the partner CA's certificates name as CRL distribution point (from `jisr pki init --crl-url`).
    public var partnerCRLURL: String?
    /// The partner CA's CRL, published over plain HTTP on a listener of its own; off without one.
    public var crl: CRLPublication?
    /// PEM: the server certificate (followed by its chain) and its private key.
    public var serverCertificatePath: String
    public var serverKeyPath: String
    /// PEM files of the CAs whose client certificates may connect (the partner CA, and partners' own CAs).
    public var partnerCAPaths: [String]
    /// A file of at least 32 random bytes: the key of subject references (secret).
    public var subjectKeyPath: String
    /// Keys for message bodies at rest (`ID.key` files; the greatest id seals, all of them open); without it the
    /// key derived from the subject key is used.
    public var bodyKeyFolder: String?
    /// PostgreSQL (`postgres://…`) or an SQLite file (`sqlite:PATH`).
    public var database: StoreLocation
    public var databaseConnections = 16
    /// Apply missing migrations at start; when false, a store that lacks one is refused (`jisr migrate` applies them).
    public var migrateOnStart = true
    public var contractsDirectory: URL
    /// The relay of outbound messages to partners; off when nil.
    public var relay: RelayConfiguration?
    /// Sealing the message log (signed Merkle tree heads); off when nil.
    public var sealing: SealingConfiguration?
    /// Spans of exchanges and deliveries, exported over OTLP/HTTP; off when nil.
    public var tracing: TracingConfiguration?
    /// Connections idle this long are closed.
    public var idleTimeoutSeconds: Int64 = 30
    /// How long a client may take over a request's head and body on the exchange listener (slow senders get 408).
    public var requestDeadlines = RequestDeadlines()
    /// How long an exchange waits for the records it reads, then for its log entry: with the database down, a
    /// request is answered 503 within their sum.
    public var storeDeadline: Duration = .seconds(5)
    public var logDeadline: Duration = .seconds(5)
    /// Requests a minute any one client certificate may make, whatever it asks (nil: no limit), ahead of agreements'
    /// own limits: every request is a log entry, so this bounds how fast one certificate can grow the log.
    public var certificateRateLimit: Int? = 6000
    /// The same for a certificate that resolves to no active partner (unregistered, revoked, partner suspended):
    /// its requests are all refusals, logged to show the attempt; this many a minute are enough to show it.
    public var refusedCertificateRateLimit: Int? = 60

    public init(
        serverCertificatePath: String, serverKeyPath: String, partnerCAPaths: [String], subjectKeyPath: String, database: StoreLocation,
        contractsDirectory: URL
    ) {
        self.serverCertificatePath = serverCertificatePath
        self.serverKeyPath = serverKeyPath
        self.partnerCAPaths = partnerCAPaths
        self.subjectKeyPath = subjectKeyPath
        self.database = database
        self.contractsDirectory = contractsDirectory
    }
}

/// A configuration file or key that cannot be used; says which and why.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    public let item: String
    public let reason: String

    public init(item: String, reason: String) {
        self.item = item
        self.reason = reason
    }

    public var description: String { "\(item): \(reason)" }
}

/// A file holding a secret — a private key, the subject key, the database password — must be its owner's alone: a
/// secret readable by others is refused, never used.
public enum SecretFile {
    /// Throws when `path` can be read by its group or by others; `what` names the secret in the message.
    public static func checkPrivate(_ path: String, _ what: String) throws {
        guard let mode = (try? FileManager.default.attributesOfItem(atPath: path))?[.posixPermissions] as? Int else { return }
        if mode & 0o077 != 0 {
            throw ConfigurationError(item: path, reason: "\(what) is readable by others (mode \(String(mode & 0o777, radix: 8))); chmod 600 it")
        }
    }
}

/// Reads the subject key: raw bytes or hex text, at least 256 bits, not readable by others.
public enum SubjectKeyFile {
    public static func read(_ path: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError(
                item: path,
                reason: "the subject key file cannot be read: give the PKI folder `jisr pki init` made (--pki DIR) or the key itself (--subject-key FILE)")
        }
        // Whoever reads this key can link every subject reference in the log to a person.
        try SecretFile.checkPrivate(path, "the subject key file")
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        var bytes: [UInt8] = []
        if text.count >= 64, text.count % 2 == 0, text.allSatisfy(\.isHexDigit) {
            var index = text.startIndex
            while index < text.endIndex {
                let next = text.index(index, offsetBy: 2)
                bytes.append(UInt8(text[index..<next], radix: 16)!)
                index = next
            }
        } else {
            bytes = Array(data)
        }
        guard bytes.count >= 32 else { throw ConfigurationError(item: path, reason: "the subject key must hold at least 32 bytes") }
        return bytes
    }
}

/// Where the log-signing key is, and how often the log is sealed.
public struct SealingConfiguration: Sendable {
    /// The P-256 key that signs tree heads (PEM) and its certificate chain (PEM), issued by the gateway CA.
    public var signingKeyPath: String
    public var signingCertificatePath: String
    public var sealer = SealerConfiguration()
    /// The RFC 3161 timestamping authority that stamps every seal; seals stay unstamped without one.
    public var timestamping: TimestampingConfiguration?

    public init(signingKeyPath: String, signingCertificatePath: String) {
        self.signingKeyPath = signingKeyPath
        self.signingCertificatePath = signingCertificatePath
    }
}

/// Where the partner CA's CRL is published: a file (which `jisr cert revoke` and the admin API rewrite) served by
/// `GET /partner-ca.crl` over plain HTTP, as relying parties fetch CRLs (a CRL is signed; it needs no TLS).
public struct CRLPublication: Sendable {
    public var host: String
    public var port: Int
    public var file: String

    public init(host: String = "0.0.0.0", port: Int = 8080, file: String) {
        self.host = host
        self.port = port
        self.file = file
    }
}

extension GatewayConfiguration {
    /// Every file the gateway would read at start that it could not use — missing, unreadable, or a secret others can
    /// read — all of them at once, so an operator mends a configuration in one pass (`jisr config check`).
    public func fileProblems() -> [ConfigurationError] {
        var files: [(path: String, what: String, secret: Bool)] = [
            (serverCertificatePath, "the server certificate", false), (serverKeyPath, "the server key", true),
            (subjectKeyPath, "the subject key", true),
        ]
        files += partnerCAPaths.map { ($0, "a partner CA", false) }
        files += adminCAPaths.map { ($0, "an admin CA", false) }
        if let partnerCAKeyPath { files.append((partnerCAKeyPath, "the partner CA's key", true)) }
        if let sealing {
            files += [(sealing.signingKeyPath, "the log-signing key", true), (sealing.signingCertificatePath, "the log-signing certificate", false)]
            files += (sealing.timestamping?.trustedRootPaths ?? []).map { ($0, "a TSA root", false) }
        }
        if let relay {
            files += [(relay.clientCertificatePath, "the relay's client certificate", false), (relay.clientKeyPath, "the relay's client key", true)]
            files += relay.trustedServerCAPaths.map { ($0, "a CA of partners' relay endpoints", false) }
        }
        var problems: [ConfigurationError] = []
        for file in files {
            if !FileManager.default.fileExists(atPath: file.path) {
                problems.append(ConfigurationError(item: file.path, reason: "\(file.what): no such file"))
            } else if !FileManager.default.isReadableFile(atPath: file.path) {
                problems.append(ConfigurationError(item: file.path, reason: "\(file.what): cannot be read by this user"))
            } else if file.secret {
                do { try SecretFile.checkPrivate(file.path, file.what) } catch let error as ConfigurationError { problems.append(error) } catch {}
            }
        }
        var folder: ObjCBool = false
        if !FileManager.default.fileExists(atPath: contractsDirectory.path, isDirectory: &folder) || !folder.boolValue {
            problems.append(ConfigurationError(item: contractsDirectory.path, reason: "the contracts folder: no such folder"))
        }
        return problems
    }
}
