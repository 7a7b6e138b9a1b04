import Foundation
import FuzzDriver
import Schemas

/// What the fuzz targets share: the repository's contracts, and handing their entry point to libFuzzer.
public enum FuzzSupport {
    /// The repository this file sits in (Fuzz/FuzzSupport/…).
    public static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    public static let catalog = try! ContractCatalog.load(from: repository.appendingPathComponent("contracts"))
    /// Every published contract, each a way to read the same bytes.
    public static let contracts: [Contract] = ["employment-record", "establishment", "work-permit", "work-permit-event"].map {
        catalog[ContractID(name: $0, version: 1)]!
    }

    /// Runs libFuzzer with the process's arguments (corpus folders, -max_total_time, …) over `entry`; never returns.
    public static func run(_ entry: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> Never {
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv, entry))
    }
}
