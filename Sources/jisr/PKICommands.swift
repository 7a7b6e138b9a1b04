import Administration
import ArgumentParser
import Foundation
import MessageLog
import PKI
import Registry

/// Where the gateway's PKI folder is.
struct PKIOptions: ParsableArguments {
    @Option(help: "The PKI folder made by `jisr pki init` (default: $JISR_PKI_DIR, else ./pki).") var pki: String?

    var directory: PKIDirectory { PKIDirectory(path: pki ?? ProcessInfo.processInfo.environment["JISR_PKI_DIR"] ?? "pki") }
}

struct PKICommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pki", abstract: "The gateway's certificate authorities and partner certificates.", subcommands: [Init.self, SignCSR.self, Trust.self, RotateBodyKey.self, CRL.self])

    struct CRL: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "crl",
            abstract: "Sign the partner CA's CRL anew from the registry's revoked certificates (jisr cert revoke does it too).",
            discussion: """
                The list is valid for 30 days, after which relying parties refuse the CA's certificates; a gateway that \
                holds the CA's key re-signs it daily and on every revocation. With --url, certificates issued from now on \
                name that URL.
                """)
        @Option(help: "Where to write the CRL, DER (default: PKI/partner-ca.crl, which `jisr serve` publishes).") var out: String?
        @Option(help: "Set the http:// URL that certificates issued from now on name as their CRL distribution point.") var url: String?
        @Flag(help: "Write PEM instead of DER (for reading; relying parties fetch DER).") var pem = false
        @OptionGroup var pkiOptions: PKIOptions
        @OptionGroup var options: AdminOptions

        func run() async throws {
            let pki = pkiOptions.directory
            if let url {
                do { try pki.setCRLURL(url) } catch let error as PKIError { throw Refusal(error.message) }
            }
            let authority: CertificateAuthority
            do { authority = try pki.partnerCA() } catch let error as PKIError { throw Refusal(error.message) }
            let list = try await options.run { admin, _ in try await admin.revocationList(of: authority) }
            let path = out ?? pki.partnerCRL
            if pem { try PEMFiles.write(list.pem, to: path, secret: false) } else { try pki.writeCRL(list, to: path) }
            print("wrote the partner CA's CRL to \(path)\(pki.crlURL.map { "; certificates name \($0)" } ?? "")")
        }
    }


    struct RotateBodyKey: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate-body-key",
            abstract: "Add a key for message bodies at rest: bodies sealed from the next start on use it; older ones stay readable with theirs.")
        @OptionGroup var pkiOptions: PKIOptions

        func run() async throws {
            let folder = pkiOptions.directory.bodyKeys
            let id = try BodySealer.rotate(keyFolder: folder)
            print("new body key \(id) in \(folder); restart the gateways to seal with it (keep every older key: they open older bodies)")
        }
    }

    struct Init: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create the partner CA, the admin CA, the server certificate, the subject key and a first administrator certificate.")
        @Option(help: "The folder to create.") var dir = "pki"
        @Option(help: "DNS names of the server certificate (repeat).") var dnsName: [String] = ["localhost"]
        @Option(help: "IPv4 addresses of the server certificate (repeat).") var ip: [String] = ["127.0.0.1"]
        @Option(help: "Where `jisr serve` will publish the partner CA's CRL (default: http://FIRST-DNS-NAME:8080/partner-ca.crl); every certificate names it.")
        var crlURL: String?

        func run() async throws {
            var addresses: [[UInt8]] = []
            for text in ip {
                let parts = text.split(separator: ".").compactMap { UInt8($0) }
                guard parts.count == 4 else { throw ValidationError("--ip \(text) is not an IPv4 address") }
                addresses.append(parts)
            }
            let directory = PKIDirectory(path: dir)
            do {
                try directory.initialize(dnsNames: dnsName, ipAddresses: addresses, crlURL: crlURL ?? "http://\(dnsName.first ?? "localhost"):8080/partner-ca.crl")
            } catch let error as PKIError {
                throw Refusal(error.message)
            }
            print(
                """
                created \(directory.path):
                  partner-ca.crt / .key   signs partners' client certificates (key mode 0600)
                  admin-ca.crt / .key     signs administrators' certificates
                  server.crt / .key       TLS identity for \((dnsName + ip).joined(separator: ", "))
                  subject.key             key of subject references (secret)
                  relay-client.crt / .key Jisr's client identity when it delivers to partners
                  log-signing.crt / .key  signs the message log's seals (tree heads)
                  partner-ca.crl          the partner CA's CRL, which jisr serve publishes at \(directory.crlURL ?? "")
                  admins/admin.crt / .key the first administrator
                register it once the store is migrated: jisr administrator add --cert \(directory.administrators)/admin.crt --pki \(directory.path)
                """)
        }
    }

    struct SignCSR: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "sign-csr", abstract: "Issue and register a partner's client certificate from its CSR.")
        @Option(help: "Partner id.") var partner: String
        @Option(help: "The partner's certificate signing request (PEM).") var csr: String
        @Option(help: "Validity in days (1–825).") var days = 365
        @Option(help: "Where to write the certificate chain (default: PARTNER.crt).") var out: String?
        @OptionGroup var pkiOptions: PKIOptions
        @OptionGroup var options: AdminOptions

        func run() async throws {
            let csrPEM: String
            do { csrPEM = try String(contentsOfFile: csr, encoding: .utf8) } catch { throw Refusal("cannot read \(csr)") }
            let authority: CertificateAuthority
            do { authority = try pkiOptions.directory.partnerCA() } catch let error as PKIError { throw Refusal(error.message) }
            let (partner, days) = (self.partner, self.days)
            let chain = try await options.run { admin, actor in
                try await admin.signCSR(partner: partner, csrPEM: csrPEM, days: days, authority: authority, by: actor)
            }
            let path = out ?? "\(partner).crt"
            try PEMFiles.write(chain, to: path, secret: false)
            let fingerprint = try PKICertificate(pemEncoded: chain).fingerprint
            print("issued and registered \(partner)'s certificate \(fingerprint)\nwrote the chain to \(path)")
        }
    }

    struct Trust: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "CAs whose client certificates the exchange listener accepts.", subcommands: [Add.self])

        struct Add: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Trust a partner's own CA (takes effect without a restart).")
            @Argument(help: "The CA certificate (PEM).") var file: String
            @OptionGroup var options: AdminOptions

            func run() async throws {
                let pem: String
                do { pem = try String(contentsOfFile: file, encoding: .utf8) } catch { throw Refusal("cannot read \(file)") }
                let trusted = try await options.run { admin, actor in try await admin.trust(caPEM: pem, by: actor) }
                print("trusted \(trusted.subject) (\(trusted.fingerprint))")
            }
        }
    }
}

extension PartnerCommand {
    struct AddCertificate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add-certificate", abstract: "Register a certificate issued by the partner's own (trusted) CA.")
        @Option(help: "Partner id.") var partner: String
        @Option(help: "The certificate (PEM, may be followed by intermediates).") var cert: String
        @OptionGroup var pkiOptions: PKIOptions
        @OptionGroup var options: AdminOptions

        func run() async throws {
            let pem: String
            do { pem = try String(contentsOfFile: cert, encoding: .utf8) } catch { throw Refusal("cannot read \(cert)") }
            let partnerCA = (try? pkiOptions.directory.read(pkiOptions.directory.partnerCACertificate)).map { [$0] } ?? []
            let partner = self.partner
            let registered = try await options.run { admin, actor in
                try await admin.addCertificate(partner: partner, pem: pem, partnerCAPEMs: partnerCA, by: actor)
            }
            print("registered certificate \(registered.fingerprint) to \(registered.partnerID) (expires \(Output.day(registered.notAfter)))")
        }
    }
}
