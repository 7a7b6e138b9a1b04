import Foundation
import Gateway
import Records
import Storage

/// What the demo prints once it listens: ready-to-paste commands that work against the seeded data.
enum DemoInstructions {
    /// The jisr that is running, as a command that works from any folder: its name when it was found on the PATH (an
    /// installed `jisr`), else its full path (a build in a checkout) — never `swift run`, which works only there.
    static var runningExecutable: String {
        let invoked = CommandLine.arguments.first ?? "jisr"
        if !invoked.contains("/") { return invoked }
        let path = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? invoked
        return path.contains(" ") ? "'\(path)'" : path
    }

    static func text(manifest: DemoManifest, directory: String, jisr: String = runningExecutable) -> String {
        guard let nssf = manifest.partners.first(where: { $0.id == "LB-NSSF" }), let egypt = manifest.partners.first(where: { $0.id == "EG-MOL" }) else { return "" }
        let tls = "--cacert \(manifest.caCertificate) --cert \(nssf.certificate) --key \(nssf.key)"
        let url = manifest.exchangeURL
        let purpose = "-H 'X-Purpose: nssf-contribution-verification'"
        let nationalId = manifest.samples.nationalIds.first ?? "000000000000"
        let passport = manifest.samples.passports.first
        let nssfNumber = manifest.samples.nssfNumbers.first ?? "0000000000"
        let establishment = manifest.samples.establishmentNumbers.first ?? "1000000"
        var lines = [
            "",
            "Jisr demo is ready. Manifest: \(directory)/demo.json",
            "",
            "# The NSSF looks up a person's employment records (JSON):",
            "curl -s \(tls) \(purpose) '\(url)/v1/employment-records?nationalId=\(nationalId)'",
            "",
            "# The same in XML, the NSSF's legacy format:",
            "curl -s \(tls) \(purpose) -H 'Accept: application/xml' '\(url)/v1/employment-records?nssfNumber=\(nssfNumber)'",
        ]
        if let passport {
            lines += ["", "# A foreign worker, by passport and nationality:",
                "curl -s \(tls) \(purpose) '\(url)/v1/employment-records?passportNumber=\(passport.passportNumber)&nationality=\(passport.nationality)'"]
        }
        lines += [
            "", "# An establishment's registration:",
            "curl -s \(tls) \(purpose) '\(url)/v1/establishments/\(establishment)'",
            "", "# What the NSSF may use (contracts, fields, purposes):",
            "curl -s \(tls) '\(url)/v1/contracts'",
            "", "# Refused: a purpose the NSSF was not granted (403, still logged):",
            "curl -s \(tls) -H 'X-Purpose: mou-work-permit-notification' '\(url)/v1/employment-records?nationalId=\(nationalId)'",
            "", "# Refused: Egypt's ministry has no agreement for employment records (403):",
            "curl -s --cacert \(manifest.caCertificate) --cert \(egypt.certificate) --key \(egypt.key) \(purpose) '\(url)/v1/employment-records?nationalId=\(nationalId)'",
        ]
        if !manifest.mockPartners.isEmpty {
            lines += ["", "# The relay: mock partner ministries are listening —"]
            for mock in manifest.mockPartners {
                lines.append("#   \(mock.id) at \(mock.endpoint), \(mock.format); deliveries land in \(mock.recordDirectory)")
            }
            lines += [
                "# Renew a permit of an Egyptian and of an Iraqi worker for a year with plain SQL, as the ministry's own systems would;",
                "# Egypt receives the first in the shared JSON contract, Iraq the second in its legacy XML, each only its own nationals':",
                renewal(manifest.database),
                "ls \(manifest.mockPartners.map(\.recordDirectory).joined(separator: " "))",
                "# Make Iraq's endpoint fail its next 3 deliveries, and watch the relay retry:",
                "curl -s -X POST '\(manifest.mockPartners.last?.controlURL ?? "")/fail?count=3&status=503'",
                "\(jisr) relay status --database-url '\(manifest.database)'",
            ]
        }
        lines += [
            "", "# The log proves itself: a receipt for an exchange (pending until the next seal, ≤ 10 s; then signed, timestamped and proven):",
            "curl -s -D - \(tls) \(purpose) '\(url)/v1/establishments/\(establishment)' -o /dev/null | grep -i x-message-id",
            "curl -s \(tls) '\(url)/v1/messages/MESSAGE-ID/receipt'",
            "# An evidence bundle of the NSSF's exchanges, checked offline (the development TSA's root is in \(directory)/tsa):",
            "\(jisr) log export --from 1 --to 1000000 --partner LB-NSSF --out /tmp/jisr-evidence --tsa-root \(directory)/tsa/tsa-root.crt --database-url '\(manifest.database)'",
            "\(jisr) log verify --bundle /tmp/jisr-evidence --signing-ca \(directory)/pki/partner-ca.crt --tsa-root \(directory)/tsa/tsa-root.crt",
        ]
        if let portal = manifest.partners.first(where: { $0.id == "LB-PORTAL" }) {
            lines += [
                "", "# حقك بيوصلك — the citizen portal asks for a person's report of every exchange about them (the lookups above among them),",
                "# signed (X-JWS-Signature) by the log-signing key; save both and check them offline:",
                "curl -s -D /tmp/jisr-report.headers --cacert \(manifest.caCertificate) --cert \(portal.certificate) --key \(portal.key) -H 'X-Purpose: data-subject-access' '\(url)/v1/access-report?nationalId=\(nationalId)' -o /tmp/jisr-report.json",
                "grep -i '^x-jws-signature:' /tmp/jisr-report.headers | cut -d' ' -f2 | tr -d '\\r' > /tmp/jisr-report.json.jws",
                "\(jisr) access-report verify /tmp/jisr-report.json --signing-ca \(directory)/pki/partner-ca.crt",
            ]
        }
        lines += [
            "", "# Every exchange above is in the chained message log; check it (another terminal):",
            "\(jisr) log verify --signing-ca \(directory)/pki/partner-ca.crt --tsa-root \(directory)/tsa/tsa-root.crt --database-url '\(manifest.database)'",
            "", "Stop with Ctrl-C.", "",
        ]
        return lines.joined(separator: "\n")
    }

    /// The ministry's own write, in the SQL of the demo's store: psql for PostgreSQL, Debian's sqlite3 for the
    /// embedded store's records file (the change-feed trigger lives in that file, so any writer is seen).
    static func renewal(_ database: String) -> String {
        let choose = "p.nationality IN ('EG', 'IQ') AND w.status = 'renewed'"
        if let location = try? StoreLocation(database), case .sqlite(let path) = location {
            return """
                sqlite3 '\(StoreLocation.recordsPath(forStore: path))' "UPDATE work_permits SET status = 'renewed', expires_on = date(expires_on, '+365 days'), \
                updated_at = \(SQLDialect.sqlite.now) WHERE id IN (SELECT max(w.id) FROM work_permits w JOIN persons p ON p.id = w.person_id \
                WHERE \(choose) GROUP BY p.nationality)"   # apt-get install sqlite3
                """
        }
        return """
            /usr/lib/postgresql/15/bin/psql '\(database)' -c "UPDATE ministry.work_permits SET status = 'renewed', expires_on = expires_on + 365, updated_at = now() \
            WHERE id IN (SELECT DISTINCT ON (p.nationality) w.id FROM ministry.work_permits w JOIN ministry.persons p ON p.id = w.person_id \
            WHERE \(choose) ORDER BY p.nationality, w.id DESC)"
            """
    }
}
