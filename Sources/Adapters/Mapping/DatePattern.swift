import Schemas

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
            case .year: text += CivilDate.pad(moment.year, 4)
            case .month: text += CivilDate.pad(moment.month, 2)
            case .day: text += CivilDate.pad(moment.day, 2)
            case .hour: text += CivilDate.pad(moment.hour, 2)
            case .minute: text += CivilDate.pad(moment.minute, 2)
            case .second: text += CivilDate.pad(moment.second, 2)
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
        return (1...CivilDate.daysIn(month: month, year: year)).contains(day)
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

    var contractDate: String { "\(CivilDate.pad(year, 4))-\(CivilDate.pad(month, 2))-\(CivilDate.pad(day, 2))" }

    var contractDateTime: String {
        contractDate + "T\(CivilDate.pad(hour, 2)):\(CivilDate.pad(minute, 2)):\(CivilDate.pad(second, 2))" + Self.offsetText(offsetMinutes)
    }

    /// The same instant seen at another offset.
    func at(offsetMinutes target: Int) -> CivilMoment {
        let local = CivilDate.days(year: year, month: month, day: day) * 86_400 + hour * 3600 + minute * 60 + second
        let shifted = local - offsetMinutes * 60 + target * 60
        let days = Int((Double(shifted) / 86_400).rounded(.down))
        let seconds = shifted - days * 86_400
        let (y, m, d) = CivilDate.civil(days)
        return CivilMoment(year: y, month: m, day: d, hour: seconds / 3600, minute: seconds % 3600 / 60, second: seconds % 60, offsetMinutes: target)
    }

    static func offsetText(_ minutes: Int) -> String {
        guard minutes != 0 else { return "Z" }
        let magnitude = abs(minutes)
        return (minutes < 0 ? "-" : "+") + CivilDate.pad(magnitude / 60, 2) + ":" + CivilDate.pad(magnitude % 60, 2)
    }

    /// Parses a fixed offset as written in a mapping: `Z`, `UTC`, `+03:00`.
    static func offset(_ text: String) -> Int? {
        if text == "Z" || text == "UTC" { return 0 }
        let pattern = try! DatePattern("yyyy-MM-ddXXX")
        return pattern.parse("2000-01-01" + text, defaultOffset: 0)?.offsetMinutes
    }
}
