import Schemas

/// A document rendered for one partner: the bytes that travel and their media type.
public struct WireDocument: Sendable {
    public let bytes: [UInt8]
    public let mediaType: String

    public init(bytes: [UInt8], mediaType: String) {
        self.bytes = bytes
        self.mediaType = mediaType
    }
}

/// Translates between a contract's canonical document and one partner's wire format, both ways.
///
/// The canonical document has already been minimised to the partner's grant; an adapter changes its
/// shape, never its content, and the result is validated in the form it travels in. Documents a partner
/// sends come back through the same adapter and are validated against the contract before anything keeps them.
public protocol Adapter: Sendable {
    /// The name partners are registered with (`partners.adapter`).
    var name: String { get }
    /// The format documents are pushed to the partner in (relay deliveries).
    var pushFormat: DocumentFormat { get }
    /// Renders a canonical document for the partner in the format it asked for.
    func render(_ document: JSONValue, contract: Contract, format: DocumentFormat) throws(ContractDocumentError) -> WireDocument
    /// Renders a document of another shape the contract defines (a page of records).
    func render(_ document: JSONValue, contract: Contract, shape: DocumentShape, format: DocumentFormat) throws(ContractDocumentError) -> WireDocument
    /// Reads a document the partner sent into the contract's canonical form, validated.
    func read(_ bytes: [UInt8], contract: Contract, format: DocumentFormat) throws(ContractDocumentError) -> JSONValue
}

/// The shared contracts exactly as published: JSON per `schema.json`, XML per `schema.xsd`.
///
/// Registered twice: `standard` pushes JSON, `standard-xml` pushes XML; queries follow `Accept` either way.
public struct StandardAdapter: Adapter {
    public let name: String
    public let pushFormat: DocumentFormat

    public init(pushFormat: DocumentFormat = .json) {
        self.pushFormat = pushFormat
        self.name = pushFormat == .json ? "standard" : "standard-xml"
    }

    public func render(_ document: JSONValue, contract: Contract, format: DocumentFormat) throws(ContractDocumentError) -> WireDocument {
        WireDocument(bytes: try contract.render(document, as: format), mediaType: format.mediaType)
    }

    public func render(_ document: JSONValue, contract: Contract, shape: DocumentShape, format: DocumentFormat) throws(ContractDocumentError) -> WireDocument {
        WireDocument(bytes: try contract.render(document, shape: shape, as: format), mediaType: format.mediaType)
    }

    public func read(_ bytes: [UInt8], contract: Contract, format: DocumentFormat) throws(ContractDocumentError) -> JSONValue {
        try contract.read(bytes, format: format)
    }
}
