import FuzzSupport
import Schemas

/// One input (`scripts/fuzz json`): any bytes, parsed as JSON (duplicate keys, depth and number range refused),
/// then read as each contract: validated against its JSON Schema, decoded. A typed refusal is the expected answer;
/// a crash, a leak or a hang is a finding.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    _ = try? JSONParser.parse(bytes)
    for contract in FuzzSupport.contracts { _ = try? contract.read(bytes, format: .json) }
    return 0
}

FuzzSupport.run(fuzz)
