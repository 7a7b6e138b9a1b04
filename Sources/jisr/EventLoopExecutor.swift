import Foundation
import NIOCore
import NIOPosix

/// Runs Swift concurrency's jobs on the gateway's own event loops instead of a second pool of threads.
///
/// Every exchange crosses between the two many times (the request arrives on an event loop, the handler runs as
/// a task, PostgreSQL answers on an event loop, the log writer's commit resumes the handler); on two cores a
/// quarter of the gateway's samples were the kernel switching threads (docs/benchmarks.md). With the event loops
/// as the global executor most of those hand-offs stay on one thread. Only for the long-running commands (`serve`,
/// `demo`), and only because nothing in Jisr blocks a task: blocking work (SQLite) runs on NIO's thread pool.
/// `JISR_EVENT_LOOP_EXECUTOR=0` leaves Swift's own pool in place.
enum EventLoopExecutor {
    static func adopt() {
        guard ProcessInfo.processInfo.environment["JISR_EVENT_LOOP_EXECUTOR"] != "0" else { return }
        NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
    }
}
