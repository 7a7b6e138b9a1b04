import Schemas
import Synchronization

/// Why no adapter could be found for a partner.
public struct AdapterLookupError: Error, Sendable, CustomStringConvertible {
    public let adapter: String
    public let reason: String
    public var description: String { "adapter \(adapter): \(reason)" }
}

/// The adapters this build knows, listed explicitly: no reflection, no registration by side effect.
///
/// Code adapters are listed here; `mapping` partners carry their mapping in the registry, and each mapping is
/// compiled once per text and kept while it is in use.
public final class AdapterRegistry: Sendable {
    public let adapters: [String: any Adapter]
    public let catalog: ContractCatalog
    private let compiled = Mutex<[MappingSource: MappingAdapter]>([:])

    /// Every adapter written in Swift that partners can be registered with.
    public static let builtIn: [any Adapter] = [StandardAdapter(pushFormat: .json), StandardAdapter(pushFormat: .xml), FlatAdapter()]

    public init(catalog: ContractCatalog, _ adapters: [any Adapter] = AdapterRegistry.builtIn) {
        self.catalog = catalog
        self.adapters = Dictionary(uniqueKeysWithValues: adapters.map { ($0.name, $0) })
    }

    /// Every name a partner may be registered with.
    public var names: [String] { (adapters.keys + [MappingAdapter.kind]).sorted() }

    public subscript(name: String) -> (any Adapter)? { adapters[name] }

    /// The adapter for a partner registered with `name`, given its attached mapping if it has one.
    public func adapter(named name: String, mapping: MappingSource?) throws(AdapterLookupError) -> any Adapter {
        if let adapter = adapters[name] { return adapter }
        guard name == MappingAdapter.kind else { throw AdapterLookupError(adapter: name, reason: "not an adapter of this build") }
        guard let mapping else { throw AdapterLookupError(adapter: name, reason: "no mapping is attached") }
        let key = mapping
        if let adapter = compiled.withLock({ $0[key] }) { return adapter }
        do {
            let adapter = MappingAdapter(mapping: try Mapping.compile(mapping, catalog: catalog))
            compiled.withLock { cache in
                if cache.count > 256 { cache.removeAll() }
                cache[key] = adapter
            }
            return adapter
        } catch {
            throw AdapterLookupError(adapter: name, reason: "the attached mapping no longer compiles: \(error)")
        }
    }
}
