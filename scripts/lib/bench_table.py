#!/usr/bin/env python3
"""Prints scripts/bench's table: one row per scenario, target and concurrency, Jisr/NGINX ratios, targets."""
import os
import subprocess
import sys

results, peak_rss_kb, entries, verify_seconds, seed_seconds, persons, body_bytes, requests = sys.argv[1:9]
notes = open(sys.argv[9]).read().strip().splitlines() if len(sys.argv) > 9 else []
reports = [line.rstrip("\n").split("\t") for line in open(sys.argv[10]) if line.strip()] if len(sys.argv) > 10 else []
rows = [line.rstrip("\n").split("\t") for line in open(results) if line.strip()]
nginx = {(r[0], r[2]): r for r in rows if r[1] == "nginx"}

cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], capture_output=True, text=True).stdout.strip()
print()
print(f"Machine: {os.cpu_count()} cores ({cpu}); client (ab), Jisr, NGINX and PostgreSQL share them.")
print(f"Each run: {requests} requests ({int(requests) // 5} at concurrency 1), ApacheBench keep-alive, TLS with client certificates;")
print(f"NGINX serves a static {body_bytes}-byte body (the size of Jisr's JSON answer). Every Jisr row's log entries were committed")
print("before its answers and `jisr log verify` passed over the whole log afterwards (else the script stops).")
print()
header = ["scenario", "server", "conc", "req/s", "p50 ms", "p99 ms", "max ms", "errors", "keep-alive", "log entries", "req/s ÷ nginx", "p99 ÷ nginx"]
print("| " + " | ".join(header) + " |")
print("|" + "|".join(["---"] * len(header)) + "|")
verdicts = []
for r in rows:
    scenario, target, conc, complete, errors, rps, p50, p99, longest, keepalive, logged = r[:11]
    deliveries = r[11] if len(r) > 11 else None
    base = nginx.get(("nssf-json", conc))
    ratio_rps = ratio_p99 = ""
    if target == "jisr" and base:
        ratio_rps = f"{float(rps) / float(base[5]):.2f}" if float(base[5]) else ""
        ratio_p99 = f"{float(p99) / max(float(base[7]), 1):.2f}" if p99 != "nan" else ""
        if scenario == "nssf-json":
            ok = float(ratio_rps or 0) >= 0.5 and float(ratio_p99 or 99) <= 2 and int(errors) == 0
            verdicts.append(f"audited JSON lookups at concurrency {conc}: {ratio_rps} × NGINX req/s, p99 {ratio_p99} × NGINX's, "
                            f"{errors} errors — {'MET' if ok else 'MISSED'} (target ≥ 0.5, ≤ 2, 0)")
    entries_cell = logged if target == "jisr" else "—"
    if deliveries is not None:
        entries_cell += f" (with {deliveries} relay deliveries)"
    elif target == "jisr" and logged != complete:
        entries_cell += f" (≠ {complete} answered!)"
    print(f"| {scenario} | {target} | {conc} | {float(rps):.0f} | {p50} | {p99} | {longest} | {errors} | {keepalive} | {entries_cell} | {ratio_rps} | {ratio_p99} |")

rss_mb = int(peak_rss_kb) / 1024
rate = int(entries) / float(verify_seconds) * 60 if float(verify_seconds) else 0
print()
print("Targets:")
for verdict in verdicts:
    print(f"- {verdict}")
print(f"- Jisr peak RSS: {rss_mb:.0f} MB — {'MET' if rss_mb <= 150 else 'MISSED'} (target ≤ 150 MB)")
print(f"- jisr log verify: {entries} entries in {verify_seconds} s = {rate:,.0f} entries/min, chain intact — "
      f"{'MET' if rate >= 1_000_000 else 'MISSED'} (target ≥ 1,000,000/min)")
print(f"- seeding {persons} persons: {seed_seconds} s — {'MET' if float(seed_seconds) < 60 else 'MISSED'} (target < 60 s)")
for note in notes:
    print(f"- {note}")

if reports:
    # One line per store and person from `jisr access-report bench`: store, entries, person, rows, reports, p50, p99, max.
    print()
    print("A person's access report (`jisr access-report` as a clerk makes it: rows, fields, inclusion proofs against the")
    print("latest seal), the log filled with the writer's own code, one busy person and one quiet one among 10,000:")
    print()
    header = ["store", "log entries", "person", "rows", "reports", "p50 ms", "p99 ms", "max ms"]
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join(["---"] * len(header)) + "|")
    for store, size, person, rows_count, count, p50, p99, longest in reports:
        print(f"| {store} | {int(size):,} | {person} | {rows_count} | {count} | {p50} | {p99} | {longest} |")
    print()
    for store, size, person, rows_count, count, p50, p99, longest in reports:
        limit = 300 if store == "PostgreSQL" else 1000
        print(f"- access report on {store}, {int(size):,} entries, {rows_count} rows: p99 {p99} ms — "
              f"{'MET' if float(p99) < limit else 'MISSED'} (target < {limit} ms)")
