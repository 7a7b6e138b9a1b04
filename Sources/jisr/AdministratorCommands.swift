import Administration
import ArgumentParser
import Foundation
import PKI
import Registry

/// `jisr administrator …`: who may use the admin API. A certificate from the admin CA opens the listener only
/// once it is registered here, and not after it is revoked.
struct AdministratorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "administrator", abstract: "Administrators' certificates: register, issue, list, revoke.",
        subcommands: [Add.self, Issue.self, List.self, Revoke.self])

    /// The admin CA certificates a registration is checked against: `--admin-ca`, else the PKI folder's.
    struct AuthorityOptions: ParsableArguments {
        @OptionGroup var pkiOptions: PKIOptions
        @Option(help: "An admin CA certificate (PEM) the administrator's must chain to (repeatable; default: PKI/admin-ca.crt).")
        var adminCa: [String] = []

        func pems() throws -> [String] {
            let paths = adminCa.isEmpty ? [pkiOptions.directory.adminCACertificate] : adminCa
            return try paths.map { path in
                do { return try String(contentsOfFile: path, encoding: .utf8) } catch { throw Refusal("\(path) cannot be read: give the admin CA with --admin-ca") }
            }
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Register an administrator's certificate (issued by the admin CA).")
        @Option(help: "The administrator's certificate (PEM).") var cert: String
        @Option(help: "The holder's name, as audit entries will say it (default: the certificate's subject).") var name: String?
        @OptionGroup var authority: AuthorityOptions
        @OptionGroup var options: AdminOptions

        func run() async throws {
            let pem: String
            do { pem = try String(contentsOfFile: cert, encoding: .utf8) } catch { throw Refusal("\(cert) cannot be read") }
            let (roots, name) = (try authority.pems(), self.name)
            let registered = try await options.run { admin, actor in try await admin.registerAdministrator(pem: pem, name: name, adminCAPEMs: roots, by: actor) }
            print("administrator \(registered.name) registered: certificate \(registered.fingerprint), expires \(Output.day(registered.notAfter))")
        }
    }

    struct Issue: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Issue an administrator's certificate from the PKI folder's admin CA into PKI/admins/NAME.crt and .key, and register it.")
        @Argument(help: "A short name for the files and the certificate (letters, digits, - and _).") var name: String
        @OptionGroup var authority: AuthorityOptions
        @OptionGroup var options: AdminOptions

        func run() async throws {
            guard name.wholeMatch(of: /[A-Za-z0-9_-]{1,64}/) != nil else { throw ValidationError("the name is 1–64 letters, digits, - or _") }
            let directory = authority.pkiOptions.directory
            guard !FileManager.default.fileExists(atPath: directory.administrators + "/\(name).crt") else {
                throw Refusal("\(directory.administrators)/\(name).crt exists: choose another name")
            }
            let credential: IssuedCredential
            do { credential = try directory.issueAdministrator(name) } catch let error as PKIError { throw Refusal(error.message) }
            let (pem, roots, holder) = (try credential.certificatePEM, try authority.pems(), name)
            let registered: RegisteredAdministrator
            do {
                registered = try await options.run { admin, actor in try await admin.registerAdministrator(pem: pem, name: holder, adminCAPEMs: roots, by: actor) }
            } catch {
                // Not registered, so of no use: leave no key behind that looks like an administrator's.
                for file in ["crt", "key"] { try? FileManager.default.removeItem(atPath: directory.administrators + "/\(name).\(file)") }
                throw error
            }
            print("administrator \(registered.name): \(directory.administrators)/\(name).crt and .key (key mode 0600), certificate \(registered.fingerprint) registered")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List administrators' certificates.")
        @OptionGroup var options: AdminOptions

        func run() async throws {
            for administrator in try await options.run({ admin, _ in try await admin.administrators() }) {
                let reason = administrator.revokedReason.map { " (\($0))" } ?? ""
                print("\(administrator.fingerprint) [\(administrator.status.rawValue)\(reason)] \(administrator.name) — expires \(Output.day(administrator.notAfter))")
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke an administrator's certificate: its next admin request is refused.")
        @Argument(help: "SHA-256 fingerprint (hex, colons allowed).") var fingerprint: String
        @Option(help: "Why (left the ministry, key lost, …).") var reason: String
        @OptionGroup var options: AdminOptions

        func run() async throws {
            let (fingerprint, reason) = (self.fingerprint, self.reason)
            let revoked = try await options.run { admin, actor in try await admin.revokeAdministrator(fingerprint: fingerprint, reason: reason, by: actor) }
            print("administrator \(revoked.name)'s certificate \(revoked.fingerprint) is revoked")
        }
    }
}
