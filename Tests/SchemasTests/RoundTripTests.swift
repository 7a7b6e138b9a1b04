import Foundation
import Schemas
import Testing

/// Generated records go JSON → XML → JSON and back to Swift without losing anything.
@Suite("JSON and XML forms convert without loss")
struct RoundTripTests {
    final class Generator {
        var state: UInt64
        init(state: UInt64) { self.state = state }
        func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        func int(_ range: ClosedRange<Int>) -> Int { range.lowerBound + Int(next() % UInt64(range.count)) }
        func maybe<T>(_ value: @autoclosure () -> T) -> T? { next() % 3 == 0 ? nil : value() }
        func digits(_ count: Int) -> String { String((0..<count).map { _ in Character(String(int(0...9))) }) }
        func text() -> String {
            // Arabic, Latin, punctuation and XML's special characters: all must survive both forms.
            let pieces = ["رامي", "El Haddad", "ش.م.ل.", "A & B <Co>", "\"quoted\" 'single'", "Zahlé", "مطاحن الشمال", "O'Neil", "1 > 0"]
            return (0..<int(1...3)).map { _ in pieces[int(0...(pieces.count - 1))] }.joined(separator: " ")
        }
        func date() -> String { "\(int(1950...2030))-\(String(format: "%02d", int(1...12)))-\(String(format: "%02d", int(1...28)))" }
        func name() -> PersonName { PersonName(given: text(), father: text(), family: text()) }
        func localized() -> LocalizedName { LocalizedName(ar: text(), latin: text()) }

        func record() -> EmploymentRecord {
            let person = EmploymentRecord.Person(
                nationalId: maybe(digits(12)), passportNumber: maybe("LR" + digits(7)), nationality: ["LB", "SY", "EG", "ET"][int(0...3)],
                nssfNumber: maybe(digits(10)), name: .init(ar: name(), latin: name()), motherName: maybe(localized()), dateOfBirth: maybe(date()),
                sex: maybe(["F", "M"][int(0...1)]))
            let employments = (0..<int(0...4)).map { _ in
                EmploymentRecord.Employment(
                    establishment: .init(registrationNumber: digits(7), nssfEmployerNumber: maybe(digits(8)), name: maybe(localized())),
                    occupation: maybe(digits(4)), startDate: date(), endDate: maybe(date()), status: ["active", "ended"][int(0...1)],
                    monthlySalary: maybe(.init(amount: int(0...1_000_000_000), currency: ["LBP", "USD"][int(0...1)])),
                    workPermitNumber: maybe("WP-\(int(2000...2026))-" + digits(7)))
            }
            return EmploymentRecord(person: person, employments: employments)
        }
    }

    @Test("500 generated employment records round-trip through both forms", arguments: [UInt64(1), 2, 3, 4, 5])
    func employmentRecordsRoundTrip(seed: UInt64) throws {
        let contract = try #require(Repository.catalog[EmploymentRecord.contract])
        let generator = Generator(state: seed)
        for _ in 0..<100 {
            let record = generator.record()
            let document = try DocumentEncoder.encode(record)
            let json = try contract.render(document, as: .json)
            let xml = try contract.render(document, as: .xml)
            let fromJSON = try contract.read(json, format: .json)
            let fromXML = try contract.read(xml, format: .xml)
            #expect(fromJSON == document)
            #expect(fromXML == document)
            #expect(try DocumentDecoder.decode(EmploymentRecord.self, from: fromXML) == record)
        }
    }

    @Test("Establishments round-trip through both forms")
    func establishmentsRoundTrip() throws {
        let contract = try #require(Repository.catalog[Establishment.contract])
        let generator = Generator(state: 42)
        for _ in 0..<200 {
            let establishment = Establishment(
                registrationNumber: generator.digits(7), nssfEmployerNumber: generator.maybe(generator.digits(8)), name: generator.maybe(generator.localized()),
                legalForm: generator.maybe("sarl"), activity: generator.maybe(.init(isicSection: "C", isicClass: generator.digits(4))),
                address: generator.maybe(.init(governorate: "LB-NA", district: generator.maybe(generator.text()), locality: generator.maybe(generator.text()))),
                registeredOn: generator.maybe(generator.date()), status: "active", employeeCount: generator.maybe(generator.int(0...1_000_000)))
            let document = try DocumentEncoder.encode(establishment)
            let back = try contract.read(try contract.render(document, as: .xml), format: .xml)
            #expect(back == document)
            #expect(try DocumentDecoder.decode(Establishment.self, from: back) == establishment)
        }
    }

    @Test("Fields an agreement does not grant are absent, not null, in both forms")
    func minimisationRemovesFields() throws {
        let contract = try #require(Repository.catalog[EmploymentRecord.contract])
        let generator = Generator(state: 7)
        var record = generator.record()
        record.employments = [
            .init(establishment: .init(registrationNumber: "1234567", nssfEmployerNumber: nil, name: nil), occupation: "5120", startDate: "2020-01-01",
                endDate: nil, status: "active", monthlySalary: .init(amount: 900, currency: "USD"), workPermitNumber: nil)
        ]
        let selection = contract.selection(granting: contract.leafFields.filter { !$0.hasPrefix("employments.monthlySalary") })
        let minimised = selection.apply(to: try DocumentEncoder.encode(record))
        let json = String(decoding: try contract.render(minimised, as: .json), as: UTF8.self)
        let xml = String(decoding: try contract.render(minimised, as: .xml), as: UTF8.self)
        #expect(!json.contains("monthlySalary") && !json.contains("null"))
        #expect(!xml.contains("monthlySalary"))
        #expect(json.contains("\"occupation\":\"5120\""))
    }

    @Test("A partial grant inside an object names what the schema requires there; completed, exactly its fields are sent and valid")
    func partialGrantStaysValid() throws {
        let contract = try #require(Repository.catalog[EmploymentRecord.contract])
        let record = EmploymentRecord(
            person: .init(nationalId: "000123456789", passportNumber: nil, nationality: "LB", nssfNumber: nil, name: .init(ar: .init(given: "ا", father: "ب", family: "ج"), latin: .init(given: "a", father: "b", family: "c")), motherName: nil, dateOfBirth: nil, sex: nil),
            employments: [.init(establishment: .init(registrationNumber: "1234567", nssfEmployerNumber: "12345678", name: nil), occupation: nil, startDate: "2020-01-01", endDate: nil, status: "active", monthlySalary: .init(amount: 5, currency: "USD"), workPermitNumber: nil)])
        let partial = ["employments.monthlySalary.amount", "person.name.latin.given"]
        let missing = contract.missingCompanions(of: partial)
        for companion in ["employments.monthlySalary.currency", "person.name.latin.family", "employments.status", "employments.startDate"] {
            #expect(missing.contains(companion), "\(companion) is required beside the grant: \(missing)")
        }
        // Nothing is added behind the grant: the partial selection alone does not make a valid document.
        #expect(throws: ContractDocumentError.self) { try contract.render(contract.selection(granting: partial).apply(to: try DocumentEncoder.encode(record)), as: .json) }
        let complete = partial + missing
        #expect(contract.missingCompanions(of: complete).isEmpty)
        let minimised = contract.selection(granting: complete).apply(to: try DocumentEncoder.encode(record))
        let json = String(decoding: try contract.render(minimised, as: .json), as: UTF8.self)
        #expect(json.contains("\"currency\":\"USD\""))
        #expect(json.contains("\"family\":\"c\""))
        #expect(!json.contains("12345678") && !json.contains("\"ar\"") && !json.contains("nationalId"), "fields beyond the grant stay out: \(json)")
        _ = try contract.render(minimised, as: .xml)
    }
}
