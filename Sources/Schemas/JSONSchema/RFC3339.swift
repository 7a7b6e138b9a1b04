/// RFC 3339 date-times read without Foundation's formatters.
///
/// `ISO8601DateFormatter` hands the text to ICU, whose parser dies of a division fault (SIGFPE) on a fraction of
/// seconds some seventy digits long — one query parameter could stop the gateway (found by `scripts/fuzz query`).
/// Partners' text is read here instead: the grammar `JSONSchema.isDateTime` accepts, any number of fraction digits
/// (those beyond the microsecond are dropped), the offset applied. Pure arithmetic, no allocation beyond the bytes.
public enum RFC3339 {
    /// Microseconds since 1970-01-01T00:00:00Z, or nil when the text is not an RFC 3339 date-time.
    public static func microseconds(_ text: String) -> Int64? {
        guard JSONSchema.isDateTime(text) else { return nil }
        let bytes = Array(text.utf8)
        func number(_ range: Range<Int>) -> Int64 { bytes[range].reduce(0) { $0 * 10 + Int64($1 - UInt8(ascii: "0")) } }
        let days = daysSinceEpoch(year: number(0..<4), month: number(5..<7), day: number(8..<10))
        var seconds = days * 86_400 + number(11..<13) * 3_600 + number(14..<16) * 60 + number(17..<19)
        var micros: Int64 = 0
        var index = 19
        if bytes[index] == UInt8(ascii: ".") {
            index += 1
            var scale: Int64 = 100_000
            while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) {
                micros += Int64(bytes[index] - UInt8(ascii: "0")) * scale
                scale /= 10
                index += 1
            }
        }
        if bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
            let offset = number((index + 1)..<(index + 3)) * 3_600 + number((index + 4)..<(index + 6)) * 60
            seconds -= bytes[index] == UInt8(ascii: "+") ? offset : -offset
        }
        return seconds * 1_000_000 + micros
    }

    /// Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's days_from_civil).
    static func daysSinceEpoch(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}
