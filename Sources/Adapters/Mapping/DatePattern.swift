/// A date or date-time layout such as `dd/MM/yyyy` or `dd/MM/yyyy HH:mm:ss`, written and read exactly.
///
/// Tokens: `yyyy` `MM` `dd` `HH` `mm` `ss` and `XXX` (offset, `Z` or `+03:00`); anything that is not a
/// letter is literal. Fixed widths keep reading unambiguous; a legacy system that writes `1/3/2024` is
/// a Swift adapter's job.
struct DatePattern: Sendable, Hashable, CustomStringConvertible {
    enum Token: Sendable, Hashable {
        case year, month, day, hour, minute, second, offset
        case literal(Character)
    }

    let tokens: [Token]
    let description: String

    init(_ text: String) throws(MappingReason) {
        var tokens: [Token] = []
        var rest = Substring(text)
        let names: [(String, Token)] = [("yyyy", .year), ("MM", .month), ("dd", .day), ("HH", .hour), ("mm", .minute), ("ss", .second), ("XXX", .offset)]
        while let first = rest.first {
            if first == "'" {
                rest = rest.dropFirst()
                guard let close = rest.firstIndex(of: "'") else { throw MappingReason("date pattern \"\(text)\" has an unclosed quote") }
                tokens += rest[..<close].map { Token.literal($0) }
                rest = rest[rest.index(after: close)...]
            } else if let (name, token) = names.first(where: { rest.hasPrefix($0.0) }) {
                guard !tokens.contains(token) else { throw MappingReason("date pattern \"\(text)\" repeats \(name)") }
                tokens.append(token)
                rest = rest.dropFirst(name.count)
            } else if first.isLetter {
                throw MappingReason("date pattern \"\(text)\" has an unknown letter \"\(first)\" (tokens: yyyy MM dd HH mm ss XXX)")
            } else {
                tokens.append(.literal(first))
                rest = rest.dropFirst()
            }
        }
        for required in [Token.year, .month, .day] where !tokens.contains(required) {
            throw MappingReason("date pattern \"\(text)\" needs yyyy, MM and dd")
        }
        self.tokens = tokens
        self.description = text
    }

    var hasTime: Bool { tokens.contains(.hour) }
    var isCompleteTime: Bool { tokens.contains(.hour) && tokens.contains(.minute) && tokens.contains(.second) }
    var hasOffset: Bool { tokens.contains(.offset) }

    func format(_ moment: CivilMoment) -> String {
        var text = ""
        for token in tokens {
            switch token {
            case .year: text += Self.pad(moment.year, 4)
            case .month: text += Self.pad(moment.month, 2)
            case .day: text += Self.pad(moment.day, 2)
            case .hour: text += Self.pad(moment.hour, 2)
            case .minute: text += Self.pad(moment.minute, 2)
            case .second: text += Self.pad(moment.second, 2)
            case .offset: text += CivilMoment.offsetText(moment.offsetMinutes)
            case .literal(let character): text.append(character)
            }
        }
        return text
    }

    /// Reads text written in this pattern; the offset is `defaultOffset` unless the pattern carries one.
    func parse(_ text: String, defaultOffset: Int) -> CivilMoment? {
        var moment = CivilMoment(year: 0, month: 1, day: 1, hour: 0, minute: 0, second: 0, offsetMinutes: defaultOffset)
        var rest = Substring(text)
        func digits(_ count: Int) -> Int? {
            let head = rest.prefix(count)
            guard head.count == count, head.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
            rest = rest.dropFirst(count)
            return Int(head)
        }
        for token in tokens {
            switch token {
            case .year: guard let value = digits(4) else { return nil }; moment.year = value
            case .month: guard let value = digits(2) else { return nil }; moment.month = value
            case .day: guard let value = digits(2) else { return nil }; moment.day = value
            case .hour: guard let value = digits(2) else { return nil }; moment.hour = value
            case .minute: guard let value = digits(2) else { return nil }; moment.minute = value
            case .second: guard let value = digits(2) else { return nil }; moment.second = value
            case .offset:
                if rest.first == "Z" {
                    rest = rest.dropFirst()
                    moment.offsetMinutes = 0
                } else {
                    guard let sign = rest.first, sign == "+" || sign == "-" else { return nil }
                    rest = rest.dropFirst()
                    guard let hours = digits(2), rest.first == ":" else { return nil }
                    rest = rest.dropFirst()
                    guard let minutes = digits(2), hours < 24, minutes < 60 else { return nil }
                    moment.offsetMinutes = (sign == "-" ? -1 : 1) * (hours * 60 + minutes)
                }
            case .literal(let character):
                guard rest.first == character else { return nil }
                rest = rest.dropFirst()
            }
        }
        guard rest.isEmpty, moment.isValid else { return nil }
        return moment
    }

    static func pad(_ value: Int, _ width: Int) -> String {
        let digits = String(value)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
}

/// A calendar date and wall-clock time at a fixed offset from UTC, to the second.
struct CivilMoment: Sendable, Hashable {
    var year: Int
    var month: Int
    var day: Int
    var hour: Int
    var minute: Int
    var second: Int
    var offsetMinutes: Int

    var isValid: Bool {
        guard (1...12).contains(month), (0...23).contains(hour), (0...59).contains(minute), (0...59).contains(second) else { return false }
        return (1...Self.daysIn(month: month, year: year)).contains(day)
    }

    /// Reads a contract `date` (`2024-03-15`).
    static func date(_ text: String) -> CivilMoment? {
        let pattern = try! DatePattern("yyyy-MM-dd")
        return pattern.parse(text, defaultOffset: 0)
    }

    /// Reads a contract `date-time` (RFC 3339 with a zone); fractions of a second are dropped.
    static func dateTime(_ text: String) -> CivilMoment? {
        guard text.count >= 20 else { return nil }
        var head = String(text.prefix(19))
        var tail = Substring(text.dropFirst(19))
        if tail.first == "." {
            tail = tail.dropFirst().drop { $0.isASCII && $0.isNumber }
        }
        head += tail
        if head.count > 19, head[head.index(head.startIndex, offsetBy: 10)] == "t" {
            head = head.prefix(10) + "T" + head.dropFirst(11)
        }
        if head.hasSuffix("z") { head = head.dropLast() + "Z" }
        let pattern = try! DatePattern("yyyy-MM-dd'T'HH:mm:ssXXX")
        return pattern.parse(head, defaultOffset: 0)
    }

    var contractDate: String { "\(DatePattern.pad(year, 4))-\(DatePattern.pad(month, 2))-\(DatePattern.pad(day, 2))" }

    var contractDateTime: String {
        contractDate + "T\(DatePattern.pad(hour, 2)):\(DatePattern.pad(minute, 2)):\(DatePattern.pad(second, 2))" + Self.offsetText(offsetMinutes)
    }

    /// The same instant seen at another offset.
    func at(offsetMinutes target: Int) -> CivilMoment {
        let local = Self.daysFromCivil(year: year, month: month, day: day) * 86_400 + hour * 3600 + minute * 60 + second
        let shifted = local - offsetMinutes * 60 + target * 60
        let days = Int((Double(shifted) / 86_400).rounded(.down))
        let seconds = shifted - days * 86_400
        let (y, m, d) = Self.civilFromDays(days)
        return CivilMoment(year: y, month: m, day: d, hour: seconds / 3600, minute: seconds % 3600 / 60, second: seconds % 60, offsetMinutes: target)
    }

    static func offsetText(_ minutes: Int) -> String {
        guard minutes != 0 else { return "Z" }
        let magnitude = abs(minutes)
        return (minutes < 0 ? "-" : "+") + DatePattern.pad(magnitude / 60, 2) + ":" + DatePattern.pad(magnitude % 60, 2)
    }

    /// Parses a fixed offset as written in a mapping: `Z`, `UTC`, `+03:00`.
    static func offset(_ text: String) -> Int? {
        if text == "Z" || text == "UTC" { return 0 }
        let pattern = try! DatePattern("yyyy-MM-ddXXX")
        return pattern.parse("2000-01-01" + text, defaultOffset: 0)?.offsetMinutes
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    // Howard Hinnant's days_from_civil / civil_from_days: exact for the proleptic Gregorian calendar.
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    static func civilFromDays(_ days: Int) -> (Int, Int, Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
