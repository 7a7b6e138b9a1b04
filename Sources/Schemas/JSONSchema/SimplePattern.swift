/// A compiled form of the anchored patterns contracts and query parameters use (`^[0-9]{12}$`, `^WP-[0-9]{4}-[0-9]{7}$`,
/// `^[^\u0000-\u001f]+$`): a sequence of literals and character classes with `{n}`, `{n,m}`, `+`, `*`, `?`,
/// matched on Unicode scalars without Foundation.
///
/// Every contract lookup validates its answer, and Foundation's regular expressions cost a String → NSString
/// conversion per match; this matcher costs a pass over the scalars. A pattern it cannot read (alternation,
/// groups, escapes other than `\uXXXX`, `\d`, `\-`, `\.`) stays with `NSRegularExpression`.
public struct SimplePattern: Sendable {
    struct Element: Sendable {
        /// Inclusive scalar ranges; `negated` inverts them.
        let ranges: [ClosedRange<UInt32>]
        let negated: Bool
        let minimum: Int
        let maximum: Int

        func accepts(_ scalar: Unicode.Scalar) -> Bool {
            ranges.contains { $0.contains(scalar.value) } != negated
        }
    }

    let elements: [Element]

    /// Nil when the pattern is not of the simple anchored kind.
    public init?(_ pattern: String) {
        var scalars = Array(pattern.unicodeScalars)[...]
        guard scalars.first == "^", scalars.last == "$", scalars.count >= 2 else { return nil }
        scalars = scalars.dropFirst().dropLast()
        var elements: [Element] = []
        while let first = scalars.first {
            var ranges: [ClosedRange<UInt32>] = []
            var negated = false
            if first == "[" {
                scalars = scalars.dropFirst()
                if scalars.first == "^" {
                    negated = true
                    scalars = scalars.dropFirst()
                }
                var closed = false
                while let next = scalars.first {
                    if next == "]" {
                        scalars = scalars.dropFirst()
                        closed = true
                        break
                    }
                    guard let low = Self.scalar(&scalars) else { return nil }
                    if scalars.first == "-", scalars.dropFirst().first != "]", scalars.count > 1 {
                        scalars = scalars.dropFirst()
                        guard let high = Self.scalar(&scalars), high >= low else { return nil }
                        ranges.append(low...high)
                    } else {
                        ranges.append(low...low)
                    }
                }
                guard closed, !ranges.isEmpty else { return nil }
            } else if first == "\\", scalars.dropFirst().first == "d" {
                scalars = scalars.dropFirst(2)
                ranges = [0x30...0x39]
            } else if "()|.*+?{}".unicodeScalars.contains(first) {
                return nil
            } else {
                guard let literal = Self.scalar(&scalars) else { return nil }
                ranges = [literal...literal]
            }
            guard let (minimum, maximum) = Self.quantifier(&scalars) else { return nil }
            elements.append(Element(ranges: ranges, negated: negated, minimum: minimum, maximum: maximum))
        }
        self.elements = elements
    }

    /// One scalar of a literal or a class member: plain, `\uXXXX`, or an escaped punctuation mark.
    private static func scalar(_ scalars: inout ArraySlice<Unicode.Scalar>) -> UInt32? {
        guard let first = scalars.first else { return nil }
        guard first == "\\" else {
            scalars = scalars.dropFirst()
            return first.value
        }
        let rest = scalars.dropFirst()
        guard let kind = rest.first else { return nil }
        if kind == "u" {
            let digits = String(String.UnicodeScalarView(rest.dropFirst().prefix(4)))
            guard digits.count == 4, let value = UInt32(digits, radix: 16) else { return nil }
            scalars = rest.dropFirst(5)
            return value
        }
        guard "-.\\[]^$/_".unicodeScalars.contains(kind) else { return nil }
        scalars = rest.dropFirst()
        return kind.value
    }

    private static func quantifier(_ scalars: inout ArraySlice<Unicode.Scalar>) -> (Int, Int)? {
        switch scalars.first {
        case "+":
            scalars = scalars.dropFirst()
            return (1, Int.max)
        case "*":
            scalars = scalars.dropFirst()
            return (0, Int.max)
        case "?":
            scalars = scalars.dropFirst()
            return (0, 1)
        case "{":
            guard let close = scalars.firstIndex(of: "}") else { return nil }
            let body = String(String.UnicodeScalarView(scalars[scalars.index(after: scalars.startIndex)..<close]))
            scalars = scalars[scalars.index(after: close)...]
            let parts = body.split(separator: ",", omittingEmptySubsequences: false)
            guard let low = Int(parts[0]) else { return nil }
            if parts.count == 1 { return (low, low) }
            guard parts.count == 2 else { return nil }
            if parts[1].isEmpty { return (low, Int.max) }
            guard let high = Int(parts[1]), high >= low else { return nil }
            return (low, high)
        default:
            return (1, 1)
        }
    }

    public func matches(_ text: some StringProtocol) -> Bool {
        matches(Array(text.unicodeScalars)[...], from: 0)
    }

    /// Backtracking over the elements; contract patterns have a handful, so this stays linear in practice.
    private func matches(_ scalars: ArraySlice<Unicode.Scalar>, from index: Int) -> Bool {
        guard index < elements.count else { return scalars.isEmpty }
        let element = elements[index]
        var taken = 0
        var rest = scalars
        while taken < element.minimum {
            guard let next = rest.first, element.accepts(next) else { return false }
            rest = rest.dropFirst()
            taken += 1
        }
        if index == elements.count - 1 {
            // The last element must take everything that is left.
            return rest.count <= element.maximum - taken && rest.allSatisfy(element.accepts)
        }
        var positions = [rest]
        while taken < element.maximum, let next = rest.first, element.accepts(next) {
            rest = rest.dropFirst()
            taken += 1
            positions.append(rest)
        }
        for position in positions.reversed() where matches(position, from: index + 1) { return true }
        return false
    }
}

extension SimplePattern {
    /// A pattern known to be simple, for constants (`SimplePattern(checked: "^[0-9]{12}$")`); a typo stops the program at once.
    public init(checked pattern: String) {
        guard let compiled = SimplePattern(pattern) else { preconditionFailure("not a simple pattern: \(pattern)") }
        self = compiled
    }
}
