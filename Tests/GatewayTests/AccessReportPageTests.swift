import Crypto
import Foundation
import Gateway
import MessageLog
import NIOHTTP1
import Records
import Schemas
import Testing
import Transparency

/// The report as a clerk prints it for someone who asks at the ministry's entrance (`--format html`), and its XML
/// form: printed to PDF by headless Chromium, read back with pdftotext.
@Suite("A person's access report, printed", .serialized, TestPass.heavy)
struct AccessReportPageTests {
    static let fixture = Task { try await Fixture.make("page", sealing: Fixture.sealing(every: 5)) }

    /// Bidi controls pdftotext wraps right-to-left runs in: the text compared is the text read.
    static let bidiControls = Set<Unicode.Scalar>((0x200E...0x200F).map { Unicode.Scalar($0)! } + (0x202A...0x202E).map { Unicode.Scalar($0)! }
        + (0x2066...0x2069).map { Unicode.Scalar($0)! })

    /// The page printed by Chromium to A4, as pdftotext reads it back (bidi controls dropped), and the page size.
    static func printed(_ page: String, work: String) async throws -> (text: String, pageSize: String) {
        let pdf = page + ".pdf"
        let (status, output) = try await JisrCLI.runProgram(
            "/usr/bin/chromium",
            ["--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer", "--user-data-dir=\(work)/chromium", "--print-to-pdf=\(pdf)",
             "file://\(page)"])
        try #require(status == 0 && FileManager.default.fileExists(atPath: pdf), "chromium: \(output)")
        let text = try await JisrCLI.runProgram("/usr/bin/pdftotext", ["-enc", "UTF-8", pdf, "-"])
        try #require(text.status == 0, "pdftotext: \(text.output)")
        let info = try await JisrCLI.runProgram("/usr/bin/pdfinfo", [pdf])
        let size = info.output.split(separator: "\n").first { $0.hasPrefix("Page size:") }.map(String.init) ?? info.output
        return (String(String.UnicodeScalarView(text.output.unicodeScalars.filter { !bidiControls.contains($0) })), size)
    }

    /// Text as compared with what pdftotext reads: it breaks lines inside table cells and sets Arabic vowel marks
    /// apart from their letters, so both whitespace and the marks are left out.
    static func solid(_ text: String) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.filter { !$0.properties.isWhitespace && !(0x064B...0x065F).contains($0.value) && $0.value != 0x0670 }))
    }

    static func sha256(_ path: String) throws -> String {
        SHA256.hash(data: try Data(contentsOf: URL(fileURLWithPath: path))).map { String(format: "%02x", $0) }.joined()
    }

    @Test("--format html prints an A4 page, Arabic first (rtl, bdi, Arabic labels and dates) or English, masked id, digest and tree head; --format xml is the contract's")
    func printedPage() async throws {
        let fixture = try await Self.fixture.value
        let records = DatabaseRecordSource(database: fixture.store, logger: Fixture.quiet)
        var found: (String, EmploymentRecord)?
        for id in fixture.samples.nationalIds where found == nil {
            if let record = try await records.employmentRecord(for: .nationalId(id)), !record.employments.isEmpty { found = (id, record) }
        }
        let (nationalId, _) = try #require(found)
        #expect(try await fixture.get("/v1/employment-records?nationalId=\(nationalId)", as: "LB-NSSF").status == 200)
        let refused = try await fixture.get("/v1/employment-records?nationalId=\(nationalId)", as: "LB-NSSF", purpose: "mou-work-permit-notification")
        #expect(refused.status == 403)
        let last = try await fixture.entry(of: refused)
        for _ in 0..<5 { _ = try await fixture.get("/v1/contracts", as: "EG-MOL", purpose: nil) }
        let seals = SealStore(database: fixture.store, logger: Fixture.quiet)
        try await Fixture.until("a seal past seq \(last.seq)") { try await seals.latest().map { $0.treeHead.size >= last.seq } ?? false }

        let work = fixture.directory + "/pages"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        let common = [
            "--national-id", nationalId, "--pki", fixture.directory + "/pki", "--subject-key", fixture.directory + "/subject.key",
            "--database-url", fixture.databaseURL, "--contracts", Fixture.repository.appendingPathComponent("contracts").path,
        ]
        let masked = String(nationalId.suffix(4))

        let arabic = try await JisrCLI.run(["access-report", "--format", "html", "--out", work + "/ar.html"] + common)
        #expect(arabic.status == 0 && arabic.output.contains("Arabic, A4"), "\(arabic.output)")
        let html = try String(contentsOfFile: work + "/ar.html", encoding: .utf8)
        #expect(html.contains("<html lang=\"ar\" dir=\"rtl\">") && html.contains("<bdi>الضمان</bdi>") && html.contains("<bdi>الاسم</bdi>"))
        #expect(!html.contains(nationalId) && html.contains(String("••••" + masked)), "the identifier masked but for its last digits")
        #expect(!html.contains("<script") && !html.contains("src=") && !html.contains("://") && !html.contains("@import"), "self-contained")
        // The signed JSON copy beside it verifies, and its digest is the one the page prints.
        let copy = try await JisrCLI.run(["access-report", "verify", work + "/ar.html.json", "--signing-ca", fixture.directory + "/ca.crt"])
        #expect(copy.status == 0, "\(copy.output)")
        let report = try JSONDecoder().decode(AccessReport.self, from: Data(contentsOf: URL(fileURLWithPath: work + "/ar.html.json")))
        let head = try #require(report.treeHead)
        #expect(report.rows.count >= 2 && report.rows.contains { $0.outcome == "refused" })

        let (text, size) = try await Self.printed(work + "/ar.html", work: work)
        #expect(size.contains("(A4)"), "\(size)")
        for phrase in [
            "الجمهورية اللبنانية", "وزارة العمل", "حقك بيوصلك", "رقم الهوية", "الضمان", "الاسم", "أُجيب الطلب", "رُفض الطلب",
            "الغرض المذكور غير وارد في الاتفاقية", "بصمة التقرير", "رأس شجرة السجل الموقّع",
        ] {
            #expect(Self.solid(text).contains(Self.solid(phrase)), "the printed page says \(phrase): \(text.prefix(1500))")
        }
        #expect(text.contains(try Regex("كانون|شباط|آذار|نيسان|أيار|حزيران|تموز|آب|أيلول|تشرين")), "Arabic month names")
        // One choice of digits on the whole page — the Western digits its seqs, counts and hashes are written in — dates too.
        let year = String(Calendar(identifier: .gregorian).component(.year, from: Date()))
        #expect(text.contains(year), "Arabic dates, in Western digits (\(year))")
        #expect(!text.unicodeScalars.contains { (0x0660...0x0669).contains($0.value) || (0x06F0...0x06F9).contains($0.value) }, "no Arabic-Indic digit anywhere")
        // The signing time at the foot is Beirut time in words, not the tree head's raw UTC text.
        #expect(!Self.solid(text).contains(Self.solid(head.time)), "\(head.time) is not printed raw")
        // On a screen the page keeps a margin of its own.
        #expect(try String(contentsOfFile: work + "/ar.html", encoding: .utf8).contains("@media screen { body { max-width: 182mm; margin: 8mm auto;"))
        #expect(Self.solid(text).contains(try Self.sha256(work + "/ar.html.json")), "the digest of the signed JSON copy is printed")
        #expect(Self.solid(text).contains(head.rootHash) && text.contains(masked) && !Self.solid(text).contains(nationalId))

        let english = try await JisrCLI.run(["access-report", "--format", "html", "--lang", "en", "--out", work + "/en.html"] + common)
        #expect(english.status == 0, "\(english.output)")
        #expect(try String(contentsOfFile: work + "/en.html", encoding: .utf8).contains("<html lang=\"en\" dir=\"ltr\">"))
        let (englishText, _) = try await Self.printed(work + "/en.html", work: work)
        for phrase: String in ["Republic of Lebanon", "Ministry of Labour", "National identity number", "NSSF", "refused", "the purpose given is not in the agreement"] {
            #expect(Self.solid(englishText).contains(Self.solid(phrase)), "the English page says \(phrase)")
        }

        let xml = try await JisrCLI.run(["access-report", "--format", "xml", "--out", work + "/report.xml"] + common)
        #expect(xml.status == 0 && xml.output.contains("signed in"), "\(xml.output)")
        let schema = Fixture.repository.appendingPathComponent("contracts/access-report/1/schema.xsd").path
        let lint = try await JisrCLI.runProgram("/usr/bin/xmllint", ["--noout", "--nonet", "--schema", schema, work + "/report.xml"])
        #expect(lint.status == 0, "\(lint.output)")
        let jws = try String(contentsOfFile: work + "/report.xml.jws", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(throws: Never.self) { _ = try DetachedSignature.verify(jws, payload: Array(try Data(contentsOf: URL(fileURLWithPath: work + "/report.xml")))) }

        // The admin API gives the same forms; an unknown one is refused.
        let page = try await fixture.admin(.GET, "/admin/v1/access-report?nationalId=\(nationalId)&format=html&lang=en")
        #expect(page.status == 200 && page.headers.first(name: "Content-Type")?.hasPrefix("text/html") == true && page.text.contains(String("Ministry of Labour")))
        #expect(try await fixture.admin(.GET, "/admin/v1/access-report?nationalId=\(nationalId)&format=pdf").status == 400)
        let unknown = try await JisrCLI.run(["access-report", "--format", "pdf", "--out", work + "/x"] + common)
        #expect(unknown.status != 0 && !FileManager.default.fileExists(atPath: work + "/x"))
    }
}
