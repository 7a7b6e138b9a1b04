import Schemas

/// A partner's adapter made from its mapping file; contracts the mapping leaves out travel in the shared form.
public struct MappingAdapter: Adapter {
    public static let kind = "mapping"
    public let name = MappingAdapter.kind
    public let mapping: Mapping
    public var pushFormat: DocumentFormat { mapping.format }

    public init(mapping: Mapping) {
        self.mapping = mapping
    }

    public func render(_ document: JSONValue, contract: Contract, format: DocumentFormat) throws(ContractDocumentError) -> WireDocument {
        guard let dialect = mapping.dialects[contract.id] else { return try StandardAdapter().render(document, contract: contract, format: format) }
        return WireDocument(bytes: try dialect.render(document, shape: nil, format: format), mediaType: format.mediaType)
    }

    public func render(_ document: JSONValue, contract: Contract, shape: DocumentShape, format: DocumentFormat) throws(ContractDocumentError) -> WireDocument {
        guard let dialect = mapping.dialects[contract.id] else {
            return try StandardAdapter().render(document, contract: contract, shape: shape, format: format)
        }
        return WireDocument(bytes: try dialect.render(document, shape: shape, format: format), mediaType: format.mediaType)
    }

    public func read(_ bytes: [UInt8], contract: Contract, format: DocumentFormat) throws(ContractDocumentError) -> JSONValue {
        guard let dialect = mapping.dialects[contract.id] else { return try contract.read(bytes, format: format) }
        return try dialect.read(bytes, format: format)
    }
}
