#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Keeps glibc's malloc from holding on to memory the gateway has freed.
///
/// Under a steady load (docs/soak.md) Jisr's heap in use stayed at 80–100 MB while RSS crept from 153 to 185 MB:
/// glibc gives each thread that contends for the heap an arena of its own (up to eight per core), and an arena
/// keeps the pages freed in its middle. Two arenas, and a `malloc_trim` once a minute that hands free pages back,
/// keep RSS near the heap; the soak served as many requests with two arenas as with glibc's default.
/// `MALLOC_ARENA_MAX`, when set, still decides the arenas.
enum MemoryTuning {
    static func apply() {
        #if canImport(Glibc)
        // <malloc.h> is not in the Glibc module: its functions are looked up, and called with C's convention.
        if ProcessInfo.processInfo.environment["MALLOC_ARENA_MAX"] == nil, let symbol = dlsym(nil, "mallopt") {
            let mallopt = unsafeBitCast(symbol, to: (@convention(c) (Int32, Int32) -> Int32).self)
            let arenaMax: Int32 = -8  // M_ARENA_MAX
            _ = mallopt(arenaMax, 2)
        }
        if let symbol = dlsym(nil, "malloc_trim") {
            let trim = unsafeBitCast(symbol, to: (@convention(c) (Int) -> Int32).self)
            let thread = Thread {
                while true {
                    Thread.sleep(forTimeInterval: 60)
                    _ = trim(0)
                }
            }
            thread.name = "jisr-malloc-trim"
            thread.start()
        }
        #endif
    }
}
