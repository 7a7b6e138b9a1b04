import FuzzDriver
import Foundation
import Schemas

/// The contracts, loaded once from the repository this file sits in.
let contracts: [Contract] = {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let catalog = try! ContractCatalog.load(from: root.appendingPathComponent("contracts"))
    return ["employment-record", "establishment", "work-permit", "work-permit-event"].map { catalog[ContractID(name: $0, version: 1)]! }
}()

/// One input (`scripts/fuzz json`): any bytes, parsed as JSON (duplicate keys, depth and number range refused),
/// then read as each contract: validated against its JSON Schema, decoded. A typed refusal is the expected answer; a crash, a leak or a hang is a finding.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    _ = try? JSONParser.parse(bytes)
    for contract in contracts { _ = try? contract.read(bytes, format: .json) }
    return 0
}

var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzz(data!, size) })
