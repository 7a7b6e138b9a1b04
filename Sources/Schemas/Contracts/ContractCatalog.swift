import Foundation

/// Why the contracts folder could not be loaded; names the file.
public struct ContractCatalogError: Error, Sendable, CustomStringConvertible {
    public let file: String
    public let reason: String
    public var description: String { "\(file): \(reason)" }
}

/// Every published contract version, loaded once from `contracts/NAME/VERSION/`.
///
/// Each version folder holds `contract.json` (title, XML root element and namespace), `schema.json` and
/// `schema.xsd`. Loading compiles every schema, so a broken contract stops start-up instead of a request.
public struct ContractCatalog: Sendable {
    public let contracts: [ContractID: Contract]

    public init(_ contracts: [Contract]) {
        self.contracts = Dictionary(uniqueKeysWithValues: contracts.map { ($0.id, $0) })
    }

    public subscript(id: ContractID) -> Contract? { contracts[id] }

    public var ids: [ContractID] { contracts.keys.sorted() }

    public static func load(from directory: URL) throws -> ContractCatalog {
        let manager = FileManager.default
        var loaded: [Contract] = []
        let names = try manager.contentsOfDirectory(atPath: directory.path).filter { !$0.hasPrefix(".") }.sorted()
        for name in names {
            let nameURL = directory.appendingPathComponent(name)
            var isDirectory: ObjCBool = false
            guard manager.fileExists(atPath: nameURL.path, isDirectory: &isDirectory), isDirectory.boolValue else { continue }
            for version in try manager.contentsOfDirectory(atPath: nameURL.path).sorted() {
                guard let number = Int(version) else { continue }
                let folder = nameURL.appendingPathComponent(version)
                loaded.append(try loadVersion(ContractID(name: name, version: number), folder: folder))
            }
        }
        return ContractCatalog(loaded)
    }

    private static func loadVersion(_ id: ContractID, folder: URL) throws -> Contract {
        func bytes(_ file: String) throws -> [UInt8] {
            do { return Array(try Data(contentsOf: folder.appendingPathComponent(file))) } catch {
                throw ContractCatalogError(file: folder.appendingPathComponent(file).path, reason: "cannot be read")
            }
        }
        let manifestFile = folder.appendingPathComponent("contract.json").path
        let manifest = try JSONParser.parse(try bytes("contract.json"))
        guard let title = manifest["title"]?.stringValue, let root = manifest["rootElement"]?.stringValue,
            let namespace = manifest["namespace"]?.stringValue
        else { throw ContractCatalogError(file: manifestFile, reason: "needs title, rootElement and namespace") }
        let validFolder = folder.appendingPathComponent("examples/valid")
        let exampleNames = ((try? FileManager.default.contentsOfDirectory(atPath: validFolder.path)) ?? []).filter { $0.hasSuffix(".json") }.sorted()
        var examples: [(name: String, document: JSONValue)] = []
        for name in exampleNames {
            do { examples.append((name, try JSONParser.parse(try bytes("examples/valid/" + name)))) } catch {
                throw ContractCatalogError(file: validFolder.appendingPathComponent(name).path, reason: "\(error)")
            }
        }
        var labels: [String: FieldLabel] = [:]
        for member in manifest["labels"]?.objectValue?.members ?? [] {
            guard let ar = member.value["ar"]?.stringValue, let en = member.value["en"]?.stringValue else {
                throw ContractCatalogError(file: manifestFile, reason: "label \(member.key) needs ar and en")
            }
            labels[member.key] = FieldLabel(ar: ar, en: en)
        }
        do {
            let contract = try Contract(
                id: id, title: title, rootElement: root, namespace: namespace, jsonSchemaDocument: try bytes("schema.json"),
                xsdDocument: try bytes("schema.xsd"), examples: examples, labels: labels)
            if let stray = labels.keys.sorted().first(where: { !contract.fields.contains($0) }) {
                throw ContractCatalogError(file: manifestFile, reason: "label \(stray) names no field of the schema")
            }
            if let unlabelled = contract.unlabelledFields.first {
                throw ContractCatalogError(file: manifestFile, reason: "field \(unlabelled) has no label (on itself or an object above it)")
            }
            return contract
        } catch let error as ContractCatalogError {
            throw error
        } catch {
            throw ContractCatalogError(file: folder.path, reason: "\(error)")
        }
    }

    /// Finds the `contracts` folder (its siblings `openapi/` and `mappings/` come with it): `JISR_CONTRACTS_DIR`, else
    /// the nearest `contracts/` above the working directory or above the executable (a checkout's `.build/…/jisr`),
    /// else the installed layout beside the executable (`PREFIX/bin/jisr` → `PREFIX/share/jisr/contracts`, so a
    /// package unpacked under another root works too), else `/usr/share/jisr/contracts`.
    public static func defaultDirectory(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL? {
        if let configured = environment["JISR_CONTRACTS_DIR"] { return URL(fileURLWithPath: configured) }
        let executable = executableURL.deletingLastPathComponent()
        for start in [URL(fileURLWithPath: FileManager.default.currentDirectoryPath), executable] {
            var candidate = start.standardizedFileURL
            while candidate.path != "/" {
                let folder = candidate.appendingPathComponent("contracts")
                if isContractsFolder(folder) { return folder }
                candidate.deleteLastPathComponent()
            }
        }
        let installed = [
            executable.deletingLastPathComponent().appendingPathComponent("share/jisr/contracts"), URL(fileURLWithPath: "/usr/share/jisr/contracts"),
        ]
        return installed.first(where: isContractsFolder)
    }

    /// Where `defaultDirectory` looks, for the message that says it found nothing.
    public static var searchedPlaces: String {
        let executable = executableURL.deletingLastPathComponent()
        return "JISR_CONTRACTS_DIR, contracts/ above \(FileManager.default.currentDirectoryPath) and above \(executable.path), "
            + "\(executable.deletingLastPathComponent().appendingPathComponent("share/jisr/contracts").standardizedFileURL.path), /usr/share/jisr/contracts"
    }

    static func isContractsFolder(_ folder: URL) -> Bool {
        FileManager.default.fileExists(atPath: folder.appendingPathComponent("employment-record").path)
    }

    /// The running executable, through its symbolic links: `argv[0]` is a bare name when it was found on `PATH`.
    static var executableURL: URL {
        #if os(Linux)
        if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return URL(fileURLWithPath: path) }
        #endif
        return URL(fileURLWithPath: CommandLine.arguments.first ?? ".").resolvingSymlinksInPath()
    }
}
