import Adapters
import Foundation
import FuzzSupport
import Schemas

let event = FuzzSupport.catalog[ContractID(name: "work-permit-event", version: 1)]!
/// The demo's Iraqi dialect: XML with its own element names, ISO numeric codes, dd/MM/yyyy dates, Baghdad time.
let iraqi = MappingAdapter(
    mapping: try! Mapping.compile(
        try! MappingSource.load(path: FuzzSupport.repository.appendingPathComponent("mappings/iq-molsa/mapping.json").path), catalog: FuzzSupport.catalog))

/// One input (`scripts/fuzz mapping`): any bytes, read as a work-permit notice an Iraqi partner sent — the
/// partner's XSD, its code lists and date patterns, then the contract's own schema. A typed refusal is the
/// expected answer; a crash, a leak or a hang is a finding.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    _ = try? iraqi.read(Array(UnsafeBufferPointer(start: data, count: size)), contract: event, format: .xml)
    return 0
}

FuzzSupport.run(fuzz)
