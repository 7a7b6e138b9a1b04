import FuzzSupport
import Schemas

/// One input (`scripts/fuzz xml`): any bytes, read as each contract's XML — parsed with entities and DTDs off,
/// validated against the XSD, decoded. A typed refusal is the expected answer; a crash, a leak or a hang is a finding.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    for contract in FuzzSupport.contracts { _ = try? contract.read(bytes, format: .xml) }
    return 0
}

FuzzSupport.run(fuzz)
