import Crypto
import Foundation

/// A person's access report as one self-contained page to print on A4: what a clerk at the ministry's entrance
/// hands to someone who asks in person. Arabic first (right to left), English on request; every name, code and
/// hash inside `<bdi>` so that a Latin name in an Arabic line keeps its own direction.
///
/// The page carries no script, font or image from outside. At its foot are the digest of the signed JSON form of
/// the same report (`AccessReport.encoded`) and the signed tree head its receipts were proved against, so that a
/// printed copy can be matched with the signed file and the log.
public struct AccessReportPage: Sendable {
    /// The language of the page.
    public enum Language: String, Sendable, CaseIterable {
        case ar, en
    }

    public let language: Language

    public init(language: Language = .ar) { self.language = language }

    /// The SHA-256 of the signed JSON form, as the page prints it.
    public static func digest(of report: AccessReport) throws -> String {
        SHA256.hash(data: try AccessReport.encoded(report)).map { String(format: "%02x", $0) }.joined()
    }

    /// The whole page, as UTF-8 HTML.
    public func render(_ report: AccessReport) throws -> String {
        let words = Wording(language)
        var html = """
            <!DOCTYPE html>
            <html lang="\(language.rawValue)" dir="\(language == .ar ? "rtl" : "ltr")">
            <head>
            <meta charset="utf-8">
            <title>\(escape(words.title))</title>
            <style>\(Self.style)</style>
            </head>
            <body>
            <header>
            <p class="state">\(escape(words.state))</p>
            <p class="ministry">\(escape(words.ministry))</p>
            <h1>\(escape(words.title))</h1>
            <p class="motto">حقك بيوصلك</p>
            </header>
            <table class="about">
            <tr><th>\(escape(words.identifier(report.subject.kind)))</th><td>\(bdi(report.subject.masked))</td></tr>
            <tr><th>\(escape(words.period))</th><td>\(escape(words.period(from: report.from.map(day), to: report.to.map(day))))</td></tr>
            <tr><th>\(escape(words.generated))</th><td>\(escape(time(report.generatedAt)))</td></tr>
            <tr><th>\(escape(words.count))</th><td>\(escape(words.count(report.rows.count)))</td></tr>
            </table>

            """
        if !report.subject.known { html += "<p class=\"notice\">\(escape(words.unknown))</p>\n" }
        if report.rows.isEmpty {
            html += "<p class=\"empty\">\(escape(words.empty))</p>\n"
        }
        for (index, row) in report.rows.enumerated() { html += self.row(row, number: index + 1, words) }
        html += footer(report, words)
        html += "</body>\n</html>\n"
        return html
    }

    /// One exchange as a block of labelled lines: a table of six narrow columns wraps every value into a ribbon
    /// on A4, and a reader (or pdftotext) loses which line belongs to which.
    func row(_ row: AccessReport.Row, number: Int, _ words: Wording) -> String {
        let who: String
        if let partner = row.partner {
            let name = language == .ar ? partner.nameAr : partner.nameEn
            let place = [partner.id, partner.country].compactMap { $0 }.map(bdi).joined(separator: ", ")
            who = name.map { "\(bdi($0)) <span class=\"small\">(\(place))</span>" } ?? "\(escape(words.unregisteredPartner)) <span class=\"small\">(\(place))</span>"
        } else {
            who = escape(words.ministryItself)
        }
        var what = escape(words.action(direction: row.direction, operation: row.operation))
        if let contract = row.contract { what += " <span class=\"small\">(\(bdi(contract)))</span>" }
        let fields = row.fields.map { language == .ar ? $0.ar : $0.en }
        var lines: [(String, String)] = [
            (words.columns.who, who), (words.columns.what, what),
            (words.columns.fields, fields.isEmpty ? escape(words.nothingLeft) : fields.map(bdi).joined(separator: escape(words.comma))),
        ]
        if let purpose = row.purpose {
            // A code the registry does not know (a partner's typo, refused) is shown as the code it was.
            if let description = language == .ar ? purpose.ar : purpose.en {
                // An Arabic page cites the law in Arabic where the purpose has it.
                let basis = ((language == .ar ? purpose.legalBasisAr : nil) ?? purpose.legalBasis).map { " — \(escape(words.legalBasis)) \(bdi($0))" } ?? ""
                lines.append((words.columns.why, "\(bdi(description))\(basis) <span class=\"small\">(\(bdi(purpose.code)))</span>"))
            } else {
                lines.append((words.columns.why, "\(escape(words.unknownPurpose)) <span class=\"small\">(\(bdi(purpose.code)))</span>"))
            }
        }
        if let mou = row.mouReference { lines.append((words.mou, bdi(mou))) }
        // The partner's file reference, as the log keeps it: a keyed hash the ministry can match, never the reference.
        if let reference = row.caseReference { lines.append((words.caseReference, "<span class=\"hash\">\(bdi(reference))</span>")) }
        var outcome = escape(words.outcome(row.outcome))
        if row.outcome == "refused", row.problem?.isEmpty == false { outcome += " — \(escape(words.refusal(row.problem)))" }
        lines.append((words.columns.outcome, outcome))
        let sealed = row.receipt.inclusionProof == nil ? words.awaitingSeal : words.sealed
        lines.append((
            words.columns.receipt,
            "\(escape(words.entry)) \(bdi(String(row.receipt.seq))) · \(escape(sealed))<br><span class=\"hash\">\(bdi(row.receipt.entryHash))</span>"
        ))
        var html = "<section class=\"exchange\">\n<h2>\(escape(words.count(number))). \(escape(time(row.at)))</h2>\n<table>\n"
        for (label, value) in lines { html += "<tr><th>\(escape(label))</th><td>\(value)</td></tr>\n" }
        return html + "</table>\n</section>\n"
    }

    func footer(_ report: AccessReport, _ words: Wording) -> String {
        let digest = (try? Self.digest(of: report)) ?? ""
        var html = "<footer>\n<p><span class=\"label\">\(escape(words.digest))</span> <span class=\"hash\">\(bdi(digest))</span></p>\n"
        if let head = report.treeHead {
            html += """
                <p><span class="label">\(escape(words.treeHead))</span> \(escape(words.treeHeadSize(head.size)))<br>\
                \(escape(words.rootHash)) <span class="hash">\(bdi(head.rootHash))</span><br>\
                \(escape(words.signedAt)) \(escape(time(head.time)))\(head.timestampToken == nil ? "" : " · " + escape(words.timestamped))</p>

                """
        } else {
            html += "<p>\(escape(words.noSeal))</p>\n"
        }
        html += "<p class=\"small\">\(escape(words.howToCheck))</p>\n</footer>\n"
        return html
    }

    /// An instant (ISO 8601: a row's with the Beirut offset, a tree head's in UTC, with or without fractions of a
    /// second) in the page's language and Beirut time; as given if it is not one.
    func time(_ text: String) -> String {
        let parser = ISO8601DateFormatter()
        parser.formatOptions = [.withInternetDateTime]
        let fractional = ISO8601DateFormatter()
        fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return (parser.date(from: text) ?? fractional.date(from: text)).map { formatted($0, time: .short) } ?? text
    }

    /// A civil day (`2026-01-31`) in the page's language.
    func day(_ text: String) -> String { AccessReporter.day(parsing: text).map { formatted($0, time: .none) } ?? text }

    func formatted(_ date: Date, time: DateFormatter.Style) -> String {
        let formatter = DateFormatter()
        // One choice of digits on the whole page: the Western digits of its numbers, hashes and seqs, in dates too.
        formatter.locale = Locale(identifier: language == .ar ? "ar_LB@numbers=latn" : "en_GB")
        formatter.timeZone = AccessReporter.beirutZone
        formatter.dateStyle = .long
        formatter.timeStyle = time
        return formatter.string(from: date)
    }

    func bdi(_ text: String) -> String { "<bdi>\(escape(text))</bdi>" }

    func escape(_ text: String) -> String {
        var escaped = ""
        escaped.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&#39;"
            default: escaped.append(character)
            }
        }
        return escaped
    }

    /// A4 with room for a binding margin; the heading of the table repeats on every page, no row is cut in two. On a
    /// screen the page keeps a margin of its own (without one the first letter of each label met the window's edge).
    static let style = """
        @page { size: A4; margin: 16mm 14mm; }
        body { font-family: "Noto Naskh Arabic", "Noto Sans Arabic", "DejaVu Sans", sans-serif; font-size: 10pt; color: #000; margin: 0; }
        header { text-align: center; border-bottom: 2px solid #000; margin-bottom: 8mm; padding-bottom: 3mm; }
        header p { margin: 0; }
        .state { font-size: 11pt; }
        .ministry { font-size: 14pt; font-weight: bold; }
        h1 { font-size: 15pt; margin: 3mm 0 1mm; }
        .motto { font-style: italic; }
        table { border-collapse: collapse; width: 100%; }
        table.about { width: auto; margin-bottom: 6mm; }
        table.about th { text-align: start; padding: 1mm 0; padding-inline-end: 6mm; font-weight: bold; }
        section.exchange { border: 1px solid #555; margin-bottom: 4mm; padding: 2mm 3mm; break-inside: avoid; }
        section.exchange h2 { font-size: 10.5pt; margin: 0 0 1.5mm; }
        section.exchange th { width: 28mm; text-align: start; vertical-align: top; font-weight: bold; padding: 0.6mm 0; padding-inline-end: 3mm; }
        section.exchange td { vertical-align: top; padding: 0.6mm 0; }
        .small { font-size: 8pt; color: #333; }
        .hash { font-family: "DejaVu Sans Mono", monospace; font-size: 7pt; word-break: break-all; }
        .notice, .empty { border: 1px solid #000; padding: 3mm; }
        footer { margin-top: 8mm; border-top: 1px solid #000; padding-top: 3mm; font-size: 9pt; break-inside: avoid; }
        .label { font-weight: bold; }
        @media screen { body { max-width: 182mm; margin: 8mm auto; padding: 0 6mm; } }
        """
}

/// The page's words in one language.
struct Wording {
    let arabic: Bool

    init(_ language: AccessReportPage.Language) { arabic = language == .ar }

    func say(_ ar: String, _ en: String) -> String { arabic ? ar : en }

    var state: String { say("الجمهورية اللبنانية", "Republic of Lebanon") }
    var ministry: String { say("وزارة العمل", "Ministry of Labour") }
    var title: String { say("تقرير بكل تبادل لبياناتك الشخصية", "Report of every exchange of your personal data") }
    var period: String { say("الفترة المشمولة", "Period covered") }
    var generated: String { say("تاريخ إعداد التقرير", "Report made on") }
    var count: String { say("عدد عمليات التبادل", "Exchanges listed") }
    var unknown: String {
        say(
            "لا يرد هذا المعرّف في سجلات الوزارة؛ يذكر التقرير عمليات التبادل التي جرت باسمه.",
            "The ministry's records do not know this identifier; the report lists the exchanges made under it.")
    }
    var empty: String {
        say("لم تُسجَّل أي عملية تبادل بشأن هذا الشخص في الفترة المشمولة.", "No exchange about this person was recorded in the period covered.")
    }
    /// The labels of an exchange's lines.
    struct Columns {
        let who, what, fields, why, outcome, receipt: String
    }

    var columns: Columns {
        arabic
            ? Columns(who: "الجهة", what: "ما جرى", fields: "البيانات المرسلة", why: "السبب", outcome: "النتيجة", receipt: "الإيصال")
            : Columns(who: "Who", what: "What happened", fields: "Data that left", why: "Why", outcome: "Outcome", receipt: "Receipt")
    }
    var ministryItself: String { say("موظف في وزارة العمل", "An officer of the Ministry of Labour") }
    var nothingLeft: String { say("لا شيء", "nothing") }
    var comma: String { say("، ", ", ") }
    var legalBasis: String { say("السند القانوني:", "legal basis:") }
    var unknownPurpose: String { say("غرض غير مسجَّل لدى الوزارة", "a purpose the ministry does not register") }
    var unregisteredPartner: String { say("جهة غير مسجَّلة", "an unregistered party") }
    var mou: String { say("مذكرة التفاهم", "MoU") }
    var caseReference: String { say("مرجع ملف الجهة (مُجزّأ)", "The partner's case (hashed)") }
    var entry: String { say("القيد رقم", "Entry") }
    var sealed: String { say("مختوم في السجل", "sealed in the log") }
    var awaitingSeal: String { say("بانتظار الختم التالي", "awaiting the next seal") }
    var digest: String { say("بصمة التقرير (SHA-256 للنسخة الموقّعة بصيغة JSON):", "Report digest (SHA-256 of the signed JSON copy):") }
    var treeHead: String { say("رأس شجرة السجل الموقّع:", "Signed tree head of the log:") }
    var rootHash: String { say("الجذر:", "Root:") }
    var signedAt: String { say("وقت التوقيع:", "Signed at:") }
    var timestamped: String { say("مع ختم زمني RFC 3161", "with an RFC 3161 timestamp") }
    var noSeal: String { say("لم يُختم السجل بعد حتى هذه العمليات.", "No seal of the log covers these exchanges yet.") }
    var howToCheck: String {
        say(
            "لكل عملية إيصال (رقم القيد وبصمته) يمكن التحقق منه في سجل الرسائل لدى الوزارة، والنسخة الموقّعة من هذا التقرير تُفحص بالأمر jisr access-report verify.",
            "Each exchange has a receipt (its entry number and hash) that can be checked in the ministry's message log; the signed copy of this report is checked with jisr access-report verify.")
    }

    func identifier(_ kind: String) -> String {
        switch kind {
        case "nationalId": say("رقم الهوية", "National identity number")
        case "passport": say("رقم جواز السفر", "Passport number")
        case "nssfNumber": say("رقم الضمان الاجتماعي", "NSSF number")
        default: kind
        }
    }

    func period(from: String?, to: String?) -> String {
        switch (from, to) {
        case (nil, nil): say("منذ بدء السجل حتى اليوم", "From the start of the log until today")
        case (let from?, nil): say("من \(from) حتى اليوم", "From \(from) until today")
        case (nil, let to?): say("منذ بدء السجل حتى \(to)", "From the start of the log until \(to)")
        case (let from?, let to?): say("من \(from) إلى \(to)", "From \(from) to \(to)")
        }
    }

    func count(_ rows: Int) -> String { String(rows) }

    func treeHeadSize(_ size: Int64) -> String {
        say("يشمل \(size) قيداً", "covers \(size) entries")
    }

    func action(direction: String, operation: String?) -> String {
        switch (direction, operation) {
        case ("inbound-query", _): say("استعلمت الجهة عن بياناتك", "The partner asked for your data")
        case ("inbound-send", _): say("أرسلت الجهة إلى الوزارة بيانات تخصّك", "The partner sent the ministry data about you")
        case ("outbound-relay", _): say("أبلغت الوزارة الجهة بتغيير يخصّك", "The ministry notified the partner of a change about you")
        case ("admin", _): say("اطّلع موظف في الوزارة على بيانات تخصّك", "An officer of the ministry read data about you")
        default: direction
        }
    }

    func outcome(_ outcome: String) -> String {
        switch outcome {
        case "answered": say("أُجيب الطلب", "answered")
        case "nothing-found": say("لم يُعثر على بيانات", "nothing found")
        case "refused": say("رُفض الطلب", "refused")
        default: outcome
        }
    }

    /// Why a request was refused, from the problem type the log recorded.
    func refusal(_ problem: String?) -> String {
        let code = problem.map { String($0.split(separator: "/").last ?? Substring($0)) } ?? ""
        switch code {
        case "no-agreement": return say("لا اتفاقية تمنح الجهة هذه البيانات", "no agreement grants the partner this data")
        case "operation-not-granted": return say("الاتفاقية لا تمنح هذه العملية", "the agreement does not grant this operation")
        case "purpose-not-granted": return say("الغرض المذكور غير وارد في الاتفاقية", "the purpose given is not in the agreement")
        case "purpose-required": return say("لم تذكر الجهة غرض الطلب", "the partner gave no purpose")
        case "agreement-not-in-force": return say("الاتفاقية غير سارية في ذلك الوقت", "the agreement was not in force at the time")
        case "partner-not-active": return say("الجهة موقوفة", "the partner is suspended")
        case "certificate-revoked", "certificate-not-registered": return say("شهادة الجهة غير صالحة", "the partner's certificate is not valid")
        case "rate-limited", "certificate-rate-limited": return say("تجاوزت الجهة الحد المسموح من الطلبات", "the partner exceeded its rate limit")
        case "invalid-parameters": return say("الطلب غير صحيح", "the request was not valid")
        default: return code.isEmpty ? "" : say("السبب: ", "reason: ") + code
        }
    }
}
