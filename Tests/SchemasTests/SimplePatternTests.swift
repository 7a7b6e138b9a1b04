import Foundation
import Testing

@testable import Schemas

/// The byte-level pattern matcher agrees with Foundation's regular expressions on every contract pattern.
@Suite("Simple patterns")
struct SimplePatternTests {
    static var contractPatterns: [String] {
        var found: Set<String> = []
        func walk(_ value: JSONValue) {
            switch value {
            case .object(let object):
                for member in object.members {
                    if member.key == "pattern", let text = member.value.stringValue { found.insert(text) }
                    walk(member.value)
                }
            case .array(let items): items.forEach(walk)
            default: break
            }
        }
        for id in Repository.catalog.ids { walk(Repository.catalog[id]!.jsonSchema.root) }
        return found.sorted()
    }

    @Test("Every pattern the contracts use is compiled by the simple matcher")
    func allSimple() {
        let patterns = Self.contractPatterns
        #expect(patterns.count >= 10)
        for pattern in patterns { #expect(SimplePattern(pattern) != nil, "\(pattern)") }
    }

    @Test("Same verdict as NSRegularExpression on 20,000 generated strings per pattern", arguments: contractPatterns)
    func agrees(_ pattern: String) throws {
        let simple = try #require(SimplePattern(pattern))
        let expression = try NSRegularExpression(pattern: pattern)
        let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcz-_ WPA\u{0}\u{1f}\u{7f}\u{9f}\u{a0}é٣".unicodeScalars)
        var generator = SystemRandomNumberGenerator()
        var disagreements: [String] = []
        for round in 0..<20_000 {
            let length = round < 200 ? round % 20 : Int.random(in: 0...16, using: &generator)
            var text = String.UnicodeScalarView()
            for _ in 0..<length { text.append(alphabet.randomElement(using: &generator)!) }
            let candidate = String(text)
            let foundation = expression.firstMatch(in: candidate, range: NSRange(candidate.startIndex..., in: candidate)) != nil
            if foundation != simple.matches(candidate) { disagreements.append(candidate) }
        }
        #expect(disagreements.isEmpty, "\(disagreements.prefix(5))")
        // Strings that match, shaped like real values.
        for sample in ["WP-2024-0001234", "PA-2023-0000042", "2024-03-15", "100000023760", "1000000001", "1004567", "LB", "EP1234567", "7112", "A"]
        where expression.firstMatch(in: sample, range: NSRange(sample.startIndex..., in: sample)) != nil {
            #expect(simple.matches(sample), "\(sample)")
        }
    }

    @Test("A trailing newline does not pass an anchored pattern (Foundation's $ would let it)")
    func trailingNewline() throws {
        #expect(try #require(SimplePattern("^[0-9]{12}$")).matches("100000023760"))
        #expect(!(try #require(SimplePattern("^[0-9]{12}$")).matches("100000023760\n")))
        #expect(SimplePattern("^(a|b)$") == nil, "alternation stays with Foundation")
    }
}
