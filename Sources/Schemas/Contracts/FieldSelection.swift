/// The fields of a contract that one agreement grants: data minimisation applied to a document.
///
/// A granted path grants everything under it; a path that is only an ancestor of granted paths keeps its
/// container but only the granted members. Anything else is removed — absent, never null.
public struct FieldSelection: Sendable, Hashable {
    public let granted: Set<String>
    private let ancestors: Set<String>

    /// `structure` lists containers to keep (filtered) even when nothing under them is granted.
    public init(granted: some Sequence<String>, structure: Set<String> = []) {
        self.granted = Set(granted)
        var ancestors = structure
        for path in self.granted {
            var parts = path.split(separator: ".")
            while parts.count > 1 {
                parts.removeLast()
                ancestors.insert(parts.joined(separator: "."))
            }
        }
        self.ancestors = ancestors
    }

    public func apply(to document: JSONValue) -> JSONValue {
        filter(document, prefix: "")
    }

    private func filter(_ value: JSONValue, prefix: String) -> JSONValue {
        switch value {
        case .array(let elements):
            return .array(elements.map { filter($0, prefix: prefix) })
        case .object(let object):
            var kept = JSONObject()
            for member in object.members {
                let path = prefix.isEmpty ? member.key : prefix + "." + member.key
                if granted.contains(path) {
                    kept[member.key] = member.value
                } else if ancestors.contains(path) {
                    kept[member.key] = filter(member.value, prefix: path)
                }
            }
            return .object(kept)
        default:
            return value
        }
    }
}

extension FieldSelection {
    /// Whether `path` appears in documents filtered by this selection (granted itself or under a grant).
    public func grants(_ path: String) -> Bool {
        var parts = path.split(separator: ".")
        while !parts.isEmpty {
            if granted.contains(parts.joined(separator: ".")) { return true }
            parts.removeLast()
        }
        return false
    }
}

extension FieldSelection {
    /// The contract field paths a (minimised) document holds: every member that is not an object, by its path
    /// through objects and arrays (arrays add no step), sorted — what a person's report says was disclosed.
    public static func disclosed(in document: JSONValue) -> [String] {
        var paths = Set<String>()
        func walk(_ value: JSONValue, _ prefix: String) {
            switch value {
            case .object(let object):
                for member in object.members { walk(member.value, prefix.isEmpty ? member.key : prefix + "." + member.key) }
            case .array(let elements):
                for element in elements { walk(element, prefix) }
            case .null:
                break
            default:
                if !prefix.isEmpty { paths.insert(prefix) }
            }
        }
        walk(document, "")
        return paths.sorted()
    }
}
