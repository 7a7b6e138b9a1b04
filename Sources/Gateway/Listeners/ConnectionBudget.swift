import Foundation
import Hummingbird
import HummingbirdCore
import Logging

/// How many connections each listener holds at once, so that no client — and no flood of clients on one listener —
/// can take the descriptors the others and the store need.
///
/// A listener at its cap stops accepting: new connections wait in the kernel's queue until one closes, taking no
/// descriptor of the process. The exchange listener gets what the process's descriptor limit leaves after the
/// others and a reserve; the CRL, ops and admin listeners, which serve a file, probes and a few administrators,
/// get small fixed caps. Every listener also closes idle connections and requests that are sent too slowly
/// (`RequestDeadlines`).
struct ConnectionBudget: Sendable {
    let exchange: Int
    let admin = 64
    let ops = 64
    let crl = 256

    /// Descriptors kept for everything else: the store's connections, the relay's, files, the journal.
    static let reserve = 512

    init(descriptorLimit: Int, storeConnections: Int) {
        exchange = max(64, descriptorLimit - Self.reserve - storeConnections - admin - ops - crl)
    }

    /// The budget of this process, its soft descriptor limit first raised to the hard one (systemd's LimitNOFILE sets
    /// both; a login shell's soft 1024 would leave a busy gateway a few hundred connections).
    static func ofThisProcess(storeConnections: Int, logger: Logger) -> ConnectionBudget {
        var limit = rlimit()
        guard getrlimit(RLIMIT_NOFILE_VALUE, &limit) == 0 else {
            logger.warning("the descriptor limit cannot be read; the listeners get the smallest caps")
            return ConnectionBudget(descriptorLimit: 0, storeConnections: storeConnections)
        }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(RLIMIT_NOFILE_VALUE, &raised) == 0 { limit = raised }
        }
        let usable = limit.rlim_cur >= rlim_t(Int32.max) ? Int(Int32.max) : Int(limit.rlim_cur)
        return ConnectionBudget(descriptorLimit: usable, storeConnections: storeConnections)
    }

    /// The HTTP/1 channel every listener uses: the request deadlines around NIO's decoder, and the idle timeout.
    static func http1(deadlines: RequestDeadlines, idleTimeoutSeconds: Int64, logger: Logger) -> HTTP1Channel.Configuration {
        .init(additionalChannelHandlers: [HTTP1HandlerInstaller(deadlines: deadlines, logger: logger)], idleTimeout: .seconds(idleTimeoutSeconds))
    }
}

#if canImport(Glibc)
import Glibc
// Glibc imports RLIMIT_NOFILE as an enum case of __rlimit_resource; getrlimit takes its raw value.
let RLIMIT_NOFILE_VALUE = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
#endif
