"""The soak's load: a steady mix over keep-alive mutual-TLS connections, reported per interval.

70% NSSF lookups (200), 20% notices sent by Egypt's ministry under fresh Idempotency-Keys (202), 10% lookups by a
partner without an agreement (403, logged too). Each interval prints a row: requests, errors (an unexpected status
or a failed connection), p50/p99 latency, Jisr's RSS, and what a COUNT_COMMAND (optional) prints then — the relay's
deliveries and the inbox, say. Ends with a verdict on RSS after warm-up.

Usage: soak_client.py --port P --ca CA --nssf PEM --egypt PEM --lookup PATH --pid JISR_PID --seconds N
                      [--threads 6] [--interval 60] [--count-command CMD]
"""
import argparse, http.client, json, random, ssl, statistics, subprocess, sys, threading, time, uuid

parser = argparse.ArgumentParser()
for name in ("--ca", "--nssf", "--egypt", "--lookup", "--notice", "--count-command"):
    parser.add_argument(name)
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--pid", type=int, required=True)
parser.add_argument("--seconds", type=int, required=True)
parser.add_argument("--threads", type=int, default=6)
parser.add_argument("--interval", type=int, default=60)
args = parser.parse_args()
notice = open(args.notice, "rb").read()


def context(pem):
    ctx = ssl.create_default_context(cafile=args.ca)
    ctx.load_cert_chain(pem)
    return ctx


contexts = {"nssf": context(args.nssf), "egypt": context(args.egypt)}
lock = threading.Lock()
window = {"latencies": [], "errors": 0, "kinds": {}}
stop = threading.Event()


def request(connections, kind):
    who = "egypt" if kind in ("send", "refused") else "nssf"
    if who not in connections:
        connections[who] = http.client.HTTPSConnection("localhost", args.port, context=contexts[who], timeout=30)
    connection = connections[who]
    if kind == "send":
        headers = {"X-Purpose": "mou-work-permit-notification", "Content-Type": "application/json", "X-Contract": "work-permit-event/1",
                   "Idempotency-Key": f"soak-{uuid.uuid4()}"}
        connection.request("POST", "/v1/messages", body=notice, headers=headers)
        expected = 202
    else:
        connection.request("GET", args.lookup, headers={"X-Purpose": "nssf-contribution-verification"})
        expected = 403 if kind == "refused" else 200
    response = connection.getresponse()
    response.read()
    return response.status == expected


def worker():
    connections = {}
    while not stop.is_set():
        kind = random.choices(["lookup", "send", "refused"], weights=[70, 20, 10])[0]
        started = time.monotonic()
        try:
            ok = request(connections, kind)
        except Exception:
            ok = False
            for connection in connections.values():
                connection.close()
            connections.clear()
        elapsed = time.monotonic() - started
        with lock:
            window["latencies"].append(elapsed)
            window["kinds"][kind] = window["kinds"].get(kind, 0) + 1
            if not ok:
                window["errors"] += 1


def rss_mb():
    for line in open(f"/proc/{args.pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


threads = [threading.Thread(target=worker, daemon=True) for _ in range(args.threads)]
for thread in threads:
    thread.start()
start = time.monotonic()
rows = []
print("| minute | requests | req/s | errors | p50 ms | p99 ms | Jisr RSS MB |" + (" counts |" if args.count_command else ""), flush=True)
print("|---|---|---|---|---|---|---|" + ("---|" if args.count_command else ""), flush=True)
while time.monotonic() - start < args.seconds:
    time.sleep(min(args.interval, args.seconds - (time.monotonic() - start)))
    with lock:
        latencies, errors = window["latencies"], window["errors"]
        window["latencies"], window["errors"] = [], 0
    latencies.sort()
    n = len(latencies)
    row = {
        "minute": round((time.monotonic() - start) / 60, 1), "requests": n, "rate": round(n / args.interval), "errors": errors,
        "p50": round(latencies[n // 2] * 1000, 1) if n else None, "p99": round(latencies[min(n - 1, int(n * 0.99))] * 1000, 1) if n else None,
        "rss": round(rss_mb(), 1),
    }
    counts = ""
    if args.count_command:
        counts = subprocess.run(args.count_command, shell=True, capture_output=True, text=True).stdout.strip().replace("\n", ", ")
    rows.append(row)
    print(f"| {row['minute']} | {n} | {row['rate']} | {errors} | {row['p50']} | {row['p99']} | {row['rss']} |" + (f" {counts} |" if args.count_command else ""), flush=True)
stop.set()
for thread in threads:
    thread.join(timeout=35)

# RSS after warm-up (the first fifth, at least one interval): growth, and the trend of the rest in MB per minute.
warm = max(1, len(rows) // 5)
after = rows[warm - 1:]
total = sum(r["requests"] for r in rows)
errors = sum(r["errors"] for r in rows)
summary = {"requests": total, "errors": errors, "rss_after_warmup_mb": after[0]["rss"], "rss_end_mb": rows[-1]["rss"],
           "rss_peak_mb": max(r["rss"] for r in rows)}
if len(after) >= 2:
    xs, ys = [r["minute"] for r in after], [r["rss"] for r in after]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / max(sum((x - mx) ** 2 for x in xs), 1e-9)
    summary["rss_trend_mb_per_minute"] = round(slope, 2)
    growth = summary["rss_end_mb"] - summary["rss_after_warmup_mb"]
    # Flat: under 10% (or 16 MB) above the post-warm-up figure, and no steady climb.
    summary["rss_flat"] = growth <= max(0.10 * summary["rss_after_warmup_mb"], 16) and slope < 0.5
print()
print(json.dumps(summary))
sys.exit(0 if errors == 0 and summary.get("rss_flat", True) else 1)
