#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Caps glibc's malloc arenas before anything allocates in earnest.
///
/// glibc gives every thread that contends for the heap an arena of its own, up to eight per core. Under a steady
/// load Jisr's heap in use stayed at 80–95 MB while the arenas it had touched held on to 40–55 MB more, and RSS crept
/// up for a quarter of an hour (docs/soak.md). Two arenas keep RSS near the heap; allocation on Jisr's few busy
/// threads does not contend measurably (docs/benchmarks.md). `MALLOC_ARENA_MAX`, when set, still decides.
enum MemoryTuning {
    static func apply() {
        #if canImport(Glibc)
        guard ProcessInfo.processInfo.environment["MALLOC_ARENA_MAX"] == nil else { return }
        // <malloc.h> is not in the Glibc module: mallopt is looked up, and called with C's convention.
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return }
        let mallopt = unsafeBitCast(symbol, to: (@convention(c) (Int32, Int32) -> Int32).self)
        let arenaMax: Int32 = -8  // M_ARENA_MAX
        _ = mallopt(arenaMax, 2)
        #endif
    }
}
