# Shared by scripts/bench and scripts/soak: a release jisr on a throwaway, durable PostgreSQL, seeded, with two
# partners (the NSSF querying; Egypt's ministry sending notices and receiving its nationals' permit changes through
# the relay, at a mock partner endpoint), and `jisr serve`. Expects `work` (a folder) and `persons`; sets `jisr`,
# `url`, `port`, `national_id`, `establishment`, `jisr_pid`, `mock_pid`; defines `psql_value` and `log_count`.
# Ports: exchange 18443, ops 19090, admin 19443, mock partner 19101.

gateway_build() {
  echo "==> swift build -c release --product jisr"
  swift build -c release --product jisr >/dev/null
  jisr="$(swift build -c release --show-bin-path)/jisr"
}

gateway_database() {
  port=$(free_port)
  # Memory and WAL may be tuned; durability may not: fsync and synchronous_commit stay on.
  start_throwaway_postgres "$work/pg" "$port" \
    "-c fsync=on -c synchronous_commit=on -c full_page_writes=on -c shared_buffers=256MB -c max_wal_size=2GB -c wal_buffers=16MB"
  url="postgres://jisr@127.0.0.1:${port}/postgres"
  # jisr seed makes the schema itself, in a new store it marks as synthetic (it refuses a store made otherwise).
  echo "==> jisr seed --persons $persons"
  seed_start=$(date +%s.%N)
  "$jisr" seed --persons "$persons" --seed 1 --database-url "$url" >/dev/null
  seed_seconds=$(python3 -c "import time; print(round(time.time() - $seed_start, 1))")
}

psql_value() { as_postgres "$(pg_bin)/psql" -h 127.0.0.1 -p "$port" -U jisr -d postgres -Atc "$1"; }
# The log's entries on the store in use: PostgreSQL, or the embedded store when `embedded_url` is set.
log_count() {
  if [ -n "${embedded_url:-}" ]; then sqlite3 "${embedded_url#sqlite:}" "SELECT count(*) FROM message_log"; else psql_value "SELECT count(*) FROM message_log"; fi
}

gateway_partners() {
  echo "==> PKI and partners"
  "$jisr" pki init --dir "$work/pki" --dns-name localhost >/dev/null
  export JISR_PKI_DIR="$work/pki" JISR_DATABASE_URL="$url"
  for partner in LB-NSSF EG-MOL; do
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/$partner.key" \
      -subj "/C=${partner:0:2}/O=Bench/CN=$partner" -out "$work/$partner.csr" 2>/dev/null
    local endpoint=()
    [ "$partner" = EG-MOL ] && endpoint=(--endpoint https://localhost:19101/inbox)
    "$jisr" partner add --id "$partner" --name-ar "شريك" --name-en "Bench $partner" "${endpoint[@]}" >/dev/null
    "$jisr" pki sign-csr --partner "$partner" --csr "$work/$partner.csr" --days 30 --out "$work/$partner.crt" >/dev/null
    "$jisr" partner resume "$partner" >/dev/null
    cat "$work/$partner.crt" "$work/$partner.key" >"$work/$partner.pem"
  done
  "$jisr" purpose add --code nssf-contribution-verification --description-ar "تحقق" --description-en "Verify contributions" \
    --legal-basis "Decree 13955/1963" >/dev/null 2>&1 || true
  "$jisr" purpose add --code mou-work-permit-notification --description-ar "إشعار" --description-en "MoU notification" \
    --legal-basis "MoU LB-EG" >/dev/null 2>&1 || true
  for contract in employment-record/1 establishment/1; do
    "$jisr" agreement grant --partner LB-NSSF --contract "$contract" --operations query --purposes nssf-contribution-verification \
      --fields all --valid-from 2026-01-01 --valid-until 2030-12-31 --mou-ref "BENCH" >/dev/null
  done
  # Events about Egyptian workers go to Egypt (a scope limits what leaves); its notices come in unscoped.
  "$jisr" agreement grant --partner EG-MOL --contract work-permit-event/1 --operations receive --purposes mou-work-permit-notification \
    --fields all --valid-from 2026-01-01 --valid-until 2030-12-31 --mou-ref "BENCH LB-EG" --own-nationals >/dev/null
  "$jisr" agreement grant --partner EG-MOL --contract work-permit-event/1 --operations send --purposes mou-work-permit-notification \
    --fields all --valid-from 2026-01-01 --valid-until 2030-12-31 --mou-ref "BENCH LB-EG" >/dev/null

  national_id=$(psql_value "SELECT p.national_id FROM ministry.persons p JOIN ministry.employments e ON e.person_id = p.id WHERE p.national_id IS NOT NULL ORDER BY p.id LIMIT 1")
  establishment=$(psql_value "SELECT registration_number FROM ministry.establishments ORDER BY id LIMIT 1")
}

# gateway_serve [jisr serve options...]: starts the mock partner and jisr serve, waits until ready.
gateway_serve() {
  echo "==> mock partner EG-MOL; jisr serve"
  "$jisr" mock-partner --id EG-MOL --port 19101 --pki "$work/pki" >"$work/mock.log" 2>&1 &
  mock_pid=$!
  "$jisr" serve --host 127.0.0.1 --port 18443 --ops-port 19090 --admin-port 19443 "$@" >"$work/jisr.log" 2>&1 &
  jisr_pid=$!
  for _ in $(seq 1 100); do curl -sf http://127.0.0.1:19090/health/ready >/dev/null && break; sleep 0.2; done
  curl -sf http://127.0.0.1:19090/health/ready >/dev/null || { cat "$work/jisr.log" >&2; exit 1; }
}

gateway_stop() {
  [ -n "${jisr_pid:-}" ] && kill "$jisr_pid" 2>/dev/null && wait "$jisr_pid" 2>/dev/null || true
  [ -n "${mock_pid:-}" ] && kill "$mock_pid" 2>/dev/null && wait "$mock_pid" 2>/dev/null || true
  jisr_pid=""
  mock_pid=""
}

# renew_permits N: N Egyptian permits change in the ministry's records; the relay delivers each to EG-MOL.
renew_permits() {
  psql_value "UPDATE ministry.work_permits SET status = 'renewed', expires_on = coalesce(expires_on, current_date) + 365, updated_at = now()
    WHERE id IN (SELECT w.id FROM ministry.work_permits w JOIN ministry.persons p ON p.id = w.person_id
                 WHERE p.nationality = 'EG' ORDER BY random() LIMIT $1)" >/dev/null
}
delivered_count() { psql_value "SELECT count(*) FROM relay_outbox WHERE state = 'delivered'"; }
