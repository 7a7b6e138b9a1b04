import Foundation
import Hummingbird
import Logging
import PKI
import MessageLog
import Storage
import Registry

/// The ops listener: liveness, readiness and metrics for probes and scrapers, on loopback, without TLS.
struct OpsRoutes: Sendable {
    let database: Database
    let registry: RegistryWatcher
    let sealer: Sealer?
    let metrics: GatewayMetrics
    /// The CRL this gateway publishes, if any: its next update is a gauge, so that a list nobody re-signs is noticed.
    let crlFile: String?
    /// Open once every migration has run: until then the gateway is live but not ready, and reads no table.
    let ready: StoreReady
    let logger: Logger

    func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.get("health/live") { _, _ in "ok\n" }
        router.get("health/ready") { _, _ -> Response in
            guard ready.isOpen else { return Self.text(.serviceUnavailable, "starting: the store is being migrated\n") }
            do {
                _ = try await database.withDeadline(.seconds(2)) { try await database.query("SELECT 1") }
                guard registry.snapshot.version > 0 else { return Self.text(.serviceUnavailable, "registry not loaded\n") }
            } catch {
                return Self.text(.serviceUnavailable, "database unreachable\n")
            }
            guard let status = sealer?.timestamping else { return Self.text(.ok, "ready\n") }
            if status.refusing { return Self.text(.serviceUnavailable, "not ready: the log cannot be timestamped and the policy refuses exchanges\n") }
            if status.degraded {
                return Self.text(.ok, "ready, degraded: the timestamping authority is unreachable; \(status.awaiting) seals await their timestamp\n")
            }
            return Self.text(.ok, "ready\n")
        }
        router.get("metrics") { _, _ -> Response in
            await metrics.refresh(from: database, registry: registry.snapshot, confirmedAt: registry.confirmedAt)
            var lines: [String] = [
                "# HELP jisr_registry_version The registry version this gateway serves (the store's registry_version once a change is in force).",
                "# TYPE jisr_registry_version gauge",
                "jisr_registry_version \(registry.snapshot.version)",
            ]
            if let crlFile {
                let next = FileManager.default.contents(atPath: crlFile).flatMap { RevocationList.nextUpdate(der: Array($0)) }
                lines += [
                    "# HELP jisr_crl_next_update_timestamp_seconds When the published CRL lapses (Unix time; -1: unreadable). Relying parties then refuse the CA's certificates.",
                    "# TYPE jisr_crl_next_update_timestamp_seconds gauge",
                    "jisr_crl_next_update_timestamp_seconds \(next.map { String(Int64($0.timeIntervalSince1970)) } ?? "-1")",
                ]
            }
            if let rounds = sealer?.sealing {
                lines += [
                    "# HELP jisr_sealer_last_round_timestamp_seconds When this gateway's sealer last ended a round (Unix time; 0: none yet). A stuck sealer stops advancing it.",
                    "# TYPE jisr_sealer_last_round_timestamp_seconds gauge",
                    "jisr_sealer_last_round_timestamp_seconds \(rounds.lastEnded.map { String(format: "%.3f", $0.timeIntervalSince1970) } ?? "0")",
                    "# HELP jisr_log_seals_signed_total Seals this gateway signed and stored (other gateways on the same store seal too).",
                    "# TYPE jisr_log_seals_signed_total counter",
                    "jisr_log_seals_signed_total \(rounds.signed)",
                    "# HELP jisr_sealer_failed_rounds_total Sealing rounds that failed or were given up at their deadline.",
                    "# TYPE jisr_sealer_failed_rounds_total counter",
                    "jisr_sealer_failed_rounds_total \(rounds.failed)",
                ]
            }
            if let status = sealer?.timestamping {
                lines += [
                    "# HELP jisr_seconds_since_last_timestamp Seconds since the last RFC 3161 timestamp arrived (-1: none yet).",
                    "# TYPE jisr_seconds_since_last_timestamp gauge",
                    "jisr_seconds_since_last_timestamp \(status.lastTimestamp.map { String(Int(Date().timeIntervalSince($0))) } ?? "-1")",
                    "# HELP jisr_log_seals_awaiting_timestamp Seals whose timestamp has not arrived.",
                    "# TYPE jisr_log_seals_awaiting_timestamp gauge",
                    "jisr_log_seals_awaiting_timestamp \(status.awaiting)",
                    "# HELP jisr_timestamp_failures Consecutive failed requests to the timestamping authority.",
                    "# TYPE jisr_timestamp_failures gauge",
                    "jisr_timestamp_failures \(status.consecutiveFailures)",
                ]
            }
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: .init(string: lines.joined(separator: "\n") + "\n" + metrics.exposition())))
        }
        return router
    }

    private static func text(_ status: HTTPResponse.Status, _ body: String) -> Response {
        Response(status: status, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: .init(string: body)))
    }
}
