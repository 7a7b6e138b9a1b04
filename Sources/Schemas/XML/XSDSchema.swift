import CLibXML2

/// An XSD compiled once by libxml2 and used to validate many documents.
///
/// A compiled `xmlSchema` is read-only during validation; each validation gets its own context, so one
/// instance is safe to share between concurrent requests.
public final class XSDSchema: @unchecked Sendable {
    private let schema: xmlSchemaPtr

    /// Compiles the XSD; the schema document itself is parsed without network access.
    public init(data: [UInt8]) throws(XMLInputError) {
        LibXML2.initialize()
        let document = try XMLSafeParser.parse(data)
        guard let context = xmlSchemaNewDocParserCtxt(document.pointer) else {
            throw XMLInputError(reason: .malformed, detail: "cannot read the XSD")
        }
        defer { xmlSchemaFreeParserCtxt(context) }
        let collector = ErrorCollector()
        xmlSchemaSetParserStructuredErrors(context, ErrorCollector.callback, Unmanaged.passUnretained(collector).toOpaque())
        guard let schema = xmlSchemaParse(context) else {
            throw XMLInputError(reason: .malformed, detail: collector.messages.joined(separator: "; "))
        }
        self.schema = schema
        withExtendedLifetime(document) {}
    }

    deinit { xmlSchemaFree(schema) }

    /// Every XSD violation in `document`, in libxml2's words; empty when it is valid.
    func validate(_ document: XMLDocumentHandle) -> [String] {
        guard let context = xmlSchemaNewValidCtxt(schema) else { return ["validator unavailable"] }
        defer { xmlSchemaFreeValidCtxt(context) }
        let collector = ErrorCollector()
        xmlSchemaSetValidStructuredErrors(context, ErrorCollector.callback, Unmanaged.passUnretained(collector).toOpaque())
        let result = withExtendedLifetime(collector) { xmlSchemaValidateDoc(context, document.pointer) }
        if result != 0, collector.messages.isEmpty { return ["document is not valid (libxml2 code \(result))"] }
        return collector.messages
    }

    /// Parses `bytes` safely and validates them; throws on unsafe or malformed input.
    public func validate(_ bytes: [UInt8]) throws(XMLInputError) -> [String] {
        try validate(XMLSafeParser.parse(bytes))
    }
}

private final class ErrorCollector {
    var messages: [String] = []

    static let callback: xmlStructuredErrorFunc = { userData, error in
        guard let userData, let text = LibXML2.describe(error) else { return }
        Unmanaged<ErrorCollector>.fromOpaque(userData).takeUnretainedValue().messages.append(text)
    }
}
