import FuzzSupport
import HummingbirdCore

@testable import Gateway

/// One input (`scripts/fuzz query`): any bytes as the query string of a lookup, decoded as Hummingbird decodes a
/// request's, then checked as the person lookups and the work-permit pages check theirs. A typed `Problem` is the
/// expected answer; a crash, a leak or a hang is a finding.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let query = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let parameters = URI("/v1/work-permits?" + query).queryParameters
    _ = try? ExchangeRoutes.personKey(parameters)
    _ = try? PermitQuery(parameters)
    return 0
}

FuzzSupport.run(fuzz)
