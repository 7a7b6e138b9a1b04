import Foundation

/// The one gateway process of an embedded store.
///
/// Several gateways sharing a store is PostgreSQL's job (row locks, notifications, a server reachable from
/// every machine). On SQLite a second `jisr serve` on the same file is refused at start rather than left to
/// contend for the file's single write lock; the CLI's short administrative commands may still open the store.
public final class EmbeddedStoreClaim: Sendable {
    private let descriptor: Int32

    public init(path: String) throws {
        let lockPath = path + ".gateway-lock"
        let descriptor = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw SQLiteStoreError(reason: "cannot open \(lockPath) (errno \(errno))") }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            close(descriptor)
            throw SQLiteStoreError(
                reason: "another jisr gateway already serves \(path); the embedded store takes one gateway process — run several instances on PostgreSQL")
        }
        self.descriptor = descriptor
    }

    deinit { close(descriptor) }
}
