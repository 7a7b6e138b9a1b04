import CLibXML2
import Foundation

/// Why an XML body was refused before or during parsing.
public struct XMLInputError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What exactly is wrong.
    public enum Reason: String, Sendable {
        case invalidUTF8 = "invalid UTF-8"
        case doctypeForbidden = "a document type declaration (DTD) is not allowed"
        case encodingNotUTF8 = "only UTF-8 is accepted"
        case malformed = "not well-formed XML"
        case tooDeep = "nesting too deep"
    }

    public let reason: Reason
    /// libxml2's own words for a malformed document (line and message), without any document content.
    public let detail: String?

    public var description: String { detail.map { "\(reason.rawValue): \($0)" } ?? reason.rawValue }
}

/// A parsed XML document owned by Swift; freed when released.
final class XMLDocumentHandle {
    let pointer: xmlDocPtr

    init(_ pointer: xmlDocPtr) { self.pointer = pointer }
    deinit { xmlFreeDoc(pointer) }

    var root: xmlNodePtr? { xmlDocGetRootElement(pointer) }
}

/// Parses untrusted XML with libxml2 in its safest configuration.
///
/// No network (`XML_PARSE_NONET`), no entity substitution (no `XML_PARSE_NOENT`), no external DTD loading
/// (no `XML_PARSE_DTDLOAD`), UTF-8 only, and any DOCTYPE at all is refused before libxml2 sees the body:
/// the contracts never need one, and refusing it closes XXE, entity expansion and quadratic blow-up together.
public enum XMLSafeParser {
    public static let maximumDepth = 64

    static func parse(_ bytes: [UInt8]) throws(XMLInputError) -> XMLDocumentHandle {
        LibXML2.initialize()
        if UTF8Validation.firstInvalidOffset(in: bytes) != nil { throw XMLInputError(reason: .invalidUTF8, detail: nil) }
        if contains(bytes, "<!DOCTYPE") || contains(bytes, "<!ENTITY") {
            throw XMLInputError(reason: .doctypeForbidden, detail: nil)
        }
        try checkDeclaredEncoding(bytes)
        guard let context = xmlNewParserCtxt() else { throw XMLInputError(reason: .malformed, detail: "parser unavailable") }
        defer { xmlFreeParserCtxt(context) }
        let options = Int32(XML_PARSE_NONET.rawValue | XML_PARSE_NOERROR.rawValue | XML_PARSE_NOWARNING.rawValue | XML_PARSE_NOCDATA.rawValue)
        let document = bytes.withUnsafeBufferPointer { buffer in
            buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buffer.count) {
                xmlCtxtReadMemory(context, $0, Int32(buffer.count), nil, "UTF-8", options)
            }
        }
        guard let document, context.pointee.wellFormed != 0 else {
            if let document { xmlFreeDoc(document) }
            throw XMLInputError(reason: .malformed, detail: LibXML2.describe(xmlCtxtGetLastError(context)))
        }
        let handle = XMLDocumentHandle(document)
        guard document.pointee.intSubset == nil, document.pointee.extSubset == nil else {
            throw XMLInputError(reason: .doctypeForbidden, detail: nil)
        }
        if let root = handle.root, depth(of: root, limit: maximumDepth) > maximumDepth {
            throw XMLInputError(reason: .tooDeep, detail: nil)
        }
        return handle
    }

    private static func depth(of node: xmlNodePtr, limit: Int) -> Int {
        var deepest = 1
        var child = node.pointee.children
        while let current = child {
            if current.pointee.type == XML_ELEMENT_NODE {
                deepest = max(deepest, 1 + depth(of: current, limit: limit))
                if deepest > limit { return deepest }
            }
            child = current.pointee.next
        }
        return deepest
    }

    private static func checkDeclaredEncoding(_ bytes: [UInt8]) throws(XMLInputError) {
        guard bytes.starts(with: Array("<?xml".utf8)) else { return }
        let end = bytes.prefix(200).firstIndex(of: UInt8(ascii: ">")) ?? min(bytes.count, 200)
        let declaration = String(decoding: bytes[0..<end], as: UTF8.self).lowercased()
        guard let range = declaration.range(of: "encoding") else { return }
        let value = declaration[range.upperBound...].drop { $0 == " " || $0 == "=" || $0 == "\"" || $0 == "'" }
        guard value.hasPrefix("utf-8") || value.hasPrefix("utf8") else { throw XMLInputError(reason: .encodingNotUTF8, detail: nil) }
    }

    private static func contains(_ bytes: [UInt8], _ needle: String) -> Bool {
        let pattern = Array(needle.utf8)
        guard bytes.count >= pattern.count else { return false }
        var index = 0
        while index <= bytes.count - pattern.count {
            if bytes[index] == pattern[0], bytes[index..<(index + pattern.count)].elementsEqual(pattern) { return true }
            index += 1
        }
        return false
    }
}

/// Process-wide libxml2 set-up, done once before any thread parses.
enum LibXML2 {
    private static let initialized: Bool = {
        xmlInitParser()
        // Nothing outside the bytes Jisr was handed is ever read: no `xs:include`/`xs:import` of a schema, no
        // external entity, no DTD — by URL or by file path. libxml2 then reports the include it could not load,
        // and compiling the schema fails naming it (a mapping's XSD from the admin API once fetched a URL and read
        // a local file this way).
        xmlSetExternalEntityLoader { _, _, _ in nil }
        return true
    }()

    static func initialize() { _ = initialized }

    static func describe(_ error: UnsafeMutablePointer<xmlError>?) -> String? {
        guard let error, let message = error.pointee.message else { return nil }
        let text = String(cString: message).trimmingCharacters(in: .whitespacesAndNewlines)
        return "line \(error.pointee.line): \(text)"
    }
}

