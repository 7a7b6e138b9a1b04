/// The known name closest to one that is not known, for a refusal's "did you mean …?": a setting's key, a contract's
/// field, a purpose's code. One owner, so every refusal suggests the same way.
public enum NearestName {
    /// The closest of `names` to `name` by edit distance (case ignored), if close enough to be a slip: at most three
    /// edits, or a quarter of the name's length.
    public static func among(_ names: some Sequence<String>, to name: String) -> String? {
        let best = names.map { ($0, distance($0, name)) }.min { $0.1 < $1.1 || ($0.1 == $1.1 && $0.0 < $1.0) }
        return best.flatMap { $0.1 <= max(3, name.count / 4) ? $0.0 : nil }
    }

    /// Levenshtein distance between the lower-cased texts.
    static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a.lowercased()), b = Array(b.lowercased())
        guard !a.isEmpty else { return b.count }
        guard !b.isEmpty else { return a.count }
        var row = Array(0...b.count)
        for i in 1...a.count {
            var next = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                next[j] = min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            row = next
        }
        return row[b.count]
    }
}
