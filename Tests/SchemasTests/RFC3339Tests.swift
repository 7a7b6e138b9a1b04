import Foundation
import Testing

@testable import Schemas

/// RFC 3339 date-times read by Jisr's own arithmetic (ICU's parser can be crashed by a long fraction).
@Suite("RFC 3339 instants")
struct RFC3339Tests {
    @Test("Instants in microseconds since the epoch, with offsets, fractions and dates before 1970", arguments: [
        ("1970-01-01T00:00:00Z", Int64(0)),
        ("1970-01-01T00:00:00.000001Z", 1),
        ("1969-12-31T23:59:59.999999Z", -1),
        ("2026-01-31T00:00:00+03:00", 1_769_806_800_000_000),
        ("2026-01-31T00:00:00.5-01:30", 1_769_823_000_500_000),
        ("2000-02-29T12:00:00z", 951_825_600_000_000),
        ("2026-01-31t00:00:00.1234567890123456789012345678901234567890123456789012345678901234567890Z", 1_769_817_600_123_456),
    ])
    func instants(_ text: String, _ expected: Int64) {
        #expect(RFC3339.microseconds(text) == expected)
    }

    @Test("Whole seconds agree with Foundation's reading on dates across four centuries")
    func agreesWithFoundation() {
        let formatter = ISO8601DateFormatter()
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<500 {
            let date = Date(timeIntervalSince1970: Double(Int64.random(in: -5_000_000_000...8_000_000_000, using: &generator)))
            let text = formatter.string(from: date)
            #expect(RFC3339.microseconds(text) == Int64(date.timeIntervalSince1970) * 1_000_000, "\(text)")
        }
    }

    @Test("Not a date-time: nil", arguments: ["", "2026-01-31", "2026-02-30T00:00:00Z", "2026-01-31T24:00:00Z", "2026-01-31T00:00:00", "2026-01-31T00:00:00.Z",
        "2026-01-31T00:00:00+3:00", "yesterday"])
    func refused(_ text: String) {
        #expect(RFC3339.microseconds(text) == nil)
    }
}
