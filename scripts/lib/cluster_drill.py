"""The failover drill of scripts/cluster: load through the partners' HAProxy, the primary's site killed, then checks.

Partners call through HAProxy from outside the sites: the NSSF looks people up, Egypt's ministry sends notices under
fresh Idempotency-Keys, and every acknowledged answer is recorded (message id, seq). Permits of Egyptian workers
change meanwhile, so the relay is delivering to the mock EG-MOL. After some load every process of the primary's site
is killed with SIGKILL; load goes on until service is back and a while after. Then, on the surviving site:

- every acknowledged exchange is in the log under the seq its answer gave;
- `jisr log verify` passes (the chain, and every seal — those before the kill too — against the entries);
- the last seal before the kill is consistent with the newest after it (`jisr log verify --against`, the receipt a
  partner kept before the kill);
- every accepted notice is in the inbox exactly once;
- every outbox message is delivered, repeats only under the same message id;
- service was back through HAProxy within --recovery-limit seconds of the kill (the measured time is printed).

With --scenario partition the primary's site is cut off instead (its link down, its processes running) while a
client inside that site keeps calling its own Jisr: that Jisr must acknowledge nothing the other site does not
hold (its commits wait for a standby it cannot reach; it answers 503 at the deadline). The link is then healed:
the former primary rejoins as a standby (Patroni, pg_rewind) and its log must end at the same chain head.

Usage: cluster_drill.py --cluster DIR --jisr PATH --repo DIR [--scenario kill|partition] [--before 10] [--after 10]
                        [--recovery-limit 30]
Exits 0 when every check holds; prints each check and its figures.
"""
import argparse, http.client, json, os, random, ssl, subprocess, sys, threading, time, uuid

parser = argparse.ArgumentParser()
parser.add_argument("--cluster", required=True)
parser.add_argument("--jisr", required=True)
parser.add_argument("--repo", required=True)
parser.add_argument("--port", type=int, default=28443)
parser.add_argument("--before", type=float, default=10, help="seconds of load before the kill")
parser.add_argument("--after", type=float, default=10, help="seconds of load once service is back")
parser.add_argument("--recovery-limit", type=float, default=30)
parser.add_argument("--threads", type=int, default=4)
parser.add_argument("--scenario", choices=["kill", "partition", "standby", "two-sites"], default="kill",
                    help="kill: every process of the primary's site SIGKILLed; partition: its link taken down, its processes running; "
                         "standby: the synchronous standby's site SIGKILLed; two-sites: the standby's site and site C SIGKILLed, "
                         "for --outage seconds, then started again")
parser.add_argument("--outage", type=float, default=20, help="two-sites: seconds the two sites stay lost")
args = parser.parse_args()
cluster = args.cluster
sites = {"a": "10.77.0.11", "b": "10.77.0.12"}  # the serving sites
addresses = dict(sites, c="10.77.0.13")
secrets = dict(line.strip().split("=", 1) for line in open(f"{cluster}/secrets.env") if "=" in line)
database_url = open(f"{cluster}/database-url").read().strip()
failures = []


def check(ok, what):
    print(("  ok      " if ok else "  FAILED  ") + what, flush=True)
    if not ok:
        failures.append(what)


def role(site, path):
    try:
        connection = http.client.HTTPConnection(addresses[site], 8008, timeout=2)
        connection.request("GET", "/" + path)
        return connection.getresponse().status == 200
    except OSError:
        return False


def sql(site, statement):
    """One statement through SITE's HAProxy to whichever PostgreSQL is primary; rows as lists of strings."""
    environment = dict(os.environ, PGPASSWORD=secrets["JISR_DATABASE_PASSWORD"])
    result = subprocess.run(
        ["ip", "netns", "exec", f"jisr-{site}", "psql", "-h", "127.0.0.1", "-p", "5000", "-U", "jisr", "-d", "jisr", "-AtF", "\t",
         "-v", "ON_ERROR_STOP=1", "-c", statement], env=environment, capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise RuntimeError(f"psql at site {site}: {result.stderr.strip()}")
    return [line.split("\t") for line in result.stdout.splitlines() if line]


def jisr(site, *arguments):
    environment = dict(os.environ, JISR_DATABASE_URL=database_url, JISR_PKI_DIR=f"{cluster}/pki")
    return subprocess.run(["ip", "netns", "exec", f"jisr-{site}", args.jisr, *arguments], env=environment,
                          capture_output=True, text=True, timeout=600)


def context(partner):
    ctx = ssl.create_default_context(cafile=f"{cluster}/pki/partner-ca.crt")
    ctx.load_cert_chain(f"{cluster}/partners/{partner}.crt", f"{cluster}/partners/{partner}.key")
    return ctx


contexts = {"LB-NSSF": context("LB-NSSF"), "EG-MOL": context("EG-MOL")}
notice_template = json.load(open(f"{args.repo}/contracts/work-permit-event/1/examples/valid/issued.json"))

primary = next((site for site in sites if role(site, "primary")), None)
if primary is None:
    sys.exit("cluster_drill: neither site A nor B is primary; is the cluster up (scripts/cluster status)?")
standby = "b" if primary == "a" else "a"
# Who is lost: the primary's site (kill, partition), or the synchronous standby's (standby, and with site C in
# two-sites); the other survives.
victim, survivor = (standby, primary) if args.scenario in ("standby", "two-sites") else (primary, standby)
# After a rejoin, site C may still be the synchronous standby for a while; the drill starts once the other serving
# site is (only a synchronous standby can be promoted).
deadline = time.time() + 120
while not role(standby, "sync") and time.time() < deadline:
    time.sleep(1)
if not role(standby, "sync"):
    sys.exit(f"cluster_drill: site {standby.upper()} is not the synchronous standby after 120 s (scripts/cluster status)")
def jisr_ready(site):
    try:
        connection = http.client.HTTPConnection(sites[site], 9090, timeout=2)
        connection.request("GET", "/health/ready")
        return connection.getresponse().status == 200
    except OSError:
        return False


# Both gateways serving before the load starts (a site just healed starts its Jisr again).
deadline = time.time() + 120
while not all(jisr_ready(site) for site in sites) and time.time() < deadline:
    time.sleep(0.5)
if not all(jisr_ready(site) for site in sites):
    sys.exit("cluster_drill: the Jisr of site A or B is not ready after 120 s (scripts/cluster status)")
lost = f"sites {victim.upper()} and C are" if args.scenario == "two-sites" else f"site {victim.upper()} is"
print(f"==> drill: site {primary.upper()} is primary, {standby.upper()} its synchronous standby; {lost} lost, {survivor.upper()} survives", flush=True)
national_ids = [row[0] for row in sql(survivor, "SELECT national_id FROM ministry.persons WHERE national_id IS NOT NULL ORDER BY id LIMIT 200")]

lock = threading.Lock()
acknowledged = []  # (kind, message id, seq, answered at)
notices = {}  # idempotency key -> message id, of accepted notices
statuses = {}
slowest = {}  # status -> longest wait for it, seconds
slowest_detail = {}  # status -> (when it was sent, seconds after the kill; its message id; its kind)
killed_at_box = [None]
abandoned = []  # notices still unacknowledged when the load stopped (maybe in the inbox, maybe not)
mismatched = []  # keys answered with two different message ids (an idempotency failure)
replayed = [0]  # notices answered as duplicates: sent again after their first answer was lost, and found in the inbox
refusals = {}  # (before or after the kill, the problem's title) -> how many 5xx answers said it
healed_at_box = [None]  # two-sites: when the lost sites were started again
statuses_since_kill = {}  # two-sites: answers to requests sent after the kill, until the sites returned
sent_during_loss = []  # two-sites: exchanges sent after the kill and acknowledged before the sites returned
stop = threading.Event()


def call(connections, partner, method, path, body=None, headers=None):
    if partner not in connections:
        connections[partner] = http.client.HTTPSConnection("localhost", args.port, context=contexts[partner], timeout=30)
    connection = connections[partner]
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        response.content = response.read()
        return response
    except (OSError, http.client.HTTPException):
        connections.pop(partner, None).close()
        return None


def worker(number):
    connections = {}
    retrying = None  # a notice not acknowledged yet: sent again, the same body under the same key, as a partner does
    body = None
    while not stop.is_set():
        started = time.monotonic()
        started_at = time.time()
        if number % 2 == 0:
            kind = "lookup"
            response = call(connections, "LB-NSSF", "GET", f"/v1/employment-records?nationalId={random.choice(national_ids)}",
                            headers={"X-Purpose": "nssf-contribution-verification"})
            key = None
        else:
            kind = "notice"
            if retrying is None:
                retrying = f"drill-{uuid.uuid4()}"
                notice = dict(notice_template)
                notice["occurredAt"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                body = json.dumps(notice).encode()
            key = retrying
            response = call(connections, "EG-MOL", "POST", "/v1/messages", body=body, headers={
                "X-Purpose": "mou-work-permit-notification", "Content-Type": "application/json",
                "X-Contract": "work-permit-event/1", "Idempotency-Key": key})
        took = time.monotonic() - started
        status = response.status if response is not None else "no answer"
        with lock:
            statuses[status] = statuses.get(status, 0) + 1
            if killed_at_box[0] and started_at > killed_at_box[0] + 0.5 and healed_at_box[0] is None:
                statuses_since_kill[status] = statuses_since_kill.get(status, 0) + 1
                if status in (200, 202):
                    sent_during_loss.append((kind, response.getheader("X-Message-Id")))
            if took > slowest.get(status, 0):
                slowest[status] = took
                slowest_detail[status] = (round(started_at - killed_at_box[0], 1) if killed_at_box[0] else None,
                                          response.getheader("X-Message-Id") if response is not None else None, kind)
            if response is not None and response.status >= 500:
                try:
                    problem = json.loads(response.content).get("title", "?")
                except ValueError:
                    problem = "not a problem document"
                moment = "before the kill" if killed_at_box[0] is None else "after the kill"
                refusals[(moment, problem)] = refusals.get((moment, problem), 0) + 1
            if response is not None and response.status in (200, 202):
                message_id, seq = response.getheader("X-Message-Id"), response.getheader("X-Log-Seq")
                if key:
                    retrying = None
                    # The notice's own message id is in the body: a notice sent again after an answer was lost is
                    # answered with the original's id (and "duplicate": true), its own exchange logged under another.
                    answer = json.loads(response.content)
                    accepted_id = answer["messageId"]
                    replayed[0] += 1 if answer.get("duplicate") else 0
                    if notices.setdefault(key, accepted_id) != accepted_id:
                        mismatched.append(key)
                acknowledged.append((kind, message_id, int(seq), time.time()))
        if response is None or response.status >= 500:
            time.sleep(0.2)  # a client backing off, not hammering a gateway that said "later"
    if retrying:
        with lock:
            abandoned.append(retrying)


def permit_changes():
    """Egyptian workers' permits change every half second (the relay's work); through the surviving site's HAProxy."""
    while not stop.is_set():
        try:
            sql(survivor, """UPDATE ministry.work_permits SET expires_on = coalesce(expires_on, current_date) + 1, updated_at = now()
                WHERE id IN (SELECT w.id FROM ministry.work_permits w JOIN ministry.persons p ON p.id = w.person_id
                             WHERE p.nationality = 'EG' ORDER BY random() LIMIT 2)""")
        except (RuntimeError, subprocess.TimeoutExpired):
            pass  # the primary is gone: the ministry's own application would retry too
        stop.wait(0.5)


inside = {"statuses": {}, "retry_after": 0, "slowest": 0.0}  # what the client inside the cut-off site got after the cut
cut_at = [None]


def inside_client():
    """A partner inside the cut-off site (partition only): calls that site's Jisr directly, past HAProxy."""
    while not stop.is_set():
        started = time.monotonic()
        result = subprocess.run(
            ["ip", "netns", "exec", f"jisr-{victim}", "curl", "-s", "-o", "/dev/null", "-D", "-", "--max-time", "30",
             "--cacert", f"{cluster}/pki/partner-ca.crt", "--cert", f"{cluster}/partners/LB-NSSF.crt", "--key", f"{cluster}/partners/LB-NSSF.key",
             "-H", "X-Purpose: nssf-contribution-verification",
             f"https://localhost:8443/v1/employment-records?nationalId={random.choice(national_ids)}"], capture_output=True, text=True)
        took = time.monotonic() - started
        lines = result.stdout.splitlines()
        status = int(lines[0].split()[1]) if lines and lines[0].startswith("HTTP/") else "no answer"
        headers = {line.split(":", 1)[0].lower(): line.split(":", 1)[1].strip() for line in lines[1:] if ":" in line}
        with lock:
            if status == 200:
                acknowledged.append(("inside", headers.get("x-message-id"), int(headers.get("x-log-seq")), time.time()))
            if cut_at[0] is not None and time.time() > cut_at[0] + took:
                inside["statuses"][status] = inside["statuses"].get(status, 0) + 1
                inside["slowest"] = max(inside["slowest"], took)
                if status == 503 and "retry-after" in headers:
                    inside["retry_after"] += 1
        stop.wait(0.3)


drill_started = time.time()
threads = [threading.Thread(target=worker, args=(n,)) for n in range(args.threads)] + [threading.Thread(target=permit_changes)]
if args.scenario == "partition":
    threads.append(threading.Thread(target=inside_client))
for thread in threads:
    thread.start()
time.sleep(args.before)

# The receipt a partner keeps: one of its acknowledged messages, once a seal covers it.
receipt_path = f"{cluster}/drill-receipt.json"
receipt = None
last_try = "no lookup covered by a seal yet"
deadline = time.time() + 30
while receipt is None and time.time() < deadline:
    sealed = int(sql(survivor, "SELECT coalesce(max(tree_size), 0) FROM log_seals")[0][0])
    with lock:
        covered = [(message_id, seq) for kind, message_id, seq, _ in acknowledged if kind == "lookup" and seq <= sealed]
    if covered:
        try:
            connection = http.client.HTTPSConnection("localhost", args.port, context=contexts["LB-NSSF"], timeout=30)
            connection.request("GET", f"/v1/messages/{covered[-1][0]}/receipt")
            response = connection.getresponse()
            body = response.read()
            last_try = f"receipt of entry {covered[-1][1]}: {response.status} {body[:200]!r}"
            if response.status == 200 and json.loads(body).get("status") == "sealed":
                receipt = json.loads(body)
                open(receipt_path, "wb").write(body)
                break
        except (OSError, http.client.HTTPException, ValueError) as error:
            last_try = f"receipt of entry {covered[-1][1]}: {error!r}"
    time.sleep(1)
sealed_size = receipt["treeHead"]["signedText"].splitlines()[1].removeprefix("size: ") if receipt else None
check(receipt is not None, "a partner holds a sealed receipt from before the kill"
      + (f" (entry {receipt['entry']['seq']}, in the seal of {sealed_size} entries)" if receipt else ""))
if receipt is None:
    # Why not: the seals as the database holds them, what the last try got, who waits on what, and what the sealers said.
    print(f"==> last try: {last_try}", flush=True)
    for row in sql(survivor, """SELECT max(tree_size), round(extract(epoch FROM now()) - max(sealed_at_ms) / 1000.0, 1),
            (SELECT max(seq) FROM message_log), count(*) FILTER (WHERE timestamp_token IS NULL) FROM log_seals"""):
        print(f"==> newest seal: size {row[0]}, {row[1]} s old; log head {row[2]}; {row[3]} seals awaiting a timestamp", flush=True)
    for row in sql(survivor, """SELECT client_addr, state, wait_event_type || ':' || wait_event, round(extract(epoch FROM now() - query_start)),
            left(regexp_replace(query, '\\s+', ' ', 'g'), 120) FROM pg_stat_activity
            WHERE datname = 'jisr' AND state <> 'idle' AND pid <> pg_backend_pid() ORDER BY query_start LIMIT 20"""):
        print("    session: " + "  ".join(value or "-" for value in row), flush=True)
    for site in sites:
        lines = [line.rstrip() for line in open(f"{cluster}/{site}/logs/jisr.log", errors="replace")
                 if "seal" in line or "timestamp" in line or "error" in line]
        print(f"==> site {site.upper()}'s jisr.log, its last lines about seals and errors ({len(lines)} in all):", flush=True)
        for line in lines[-15:]:
            print("    " + line[:400], flush=True)

with lock:
    before = len(acknowledged)
killed_at = time.time()
killed_at_box[0] = killed_at
if args.scenario in ("kill", "standby"):
    subprocess.run([f"{args.repo}/scripts/cluster", "kill-site", victim.upper()], check=True)
    print(f"==> site {victim.upper()} killed (SIGKILL, every process) after {before} acknowledged exchanges", flush=True)
elif args.scenario == "two-sites":
    # Two of three etcd members gone: site A loses the quorum too, and Patroni stops it being primary. Nothing can
    # be written on two sites, so nothing may be acknowledged until the sites return.
    for site in (victim, "c"):
        subprocess.run([f"{args.repo}/scripts/cluster", "kill-site", site.upper()], check=True)
    print(f"==> sites {victim.upper()} and C killed (SIGKILL, every process) after {before} acknowledged exchanges; "
          f"back in {args.outage:.0f} s", flush=True)
    time.sleep(args.outage)
    # Alone, site A's etcd member has no quorum: its Patroni cannot keep the leader key, and stops being primary.
    still_primary = role(survivor, "primary")
    with lock:
        during = dict(statuses_since_kill)
        acknowledged_during = list(sent_during_loss)
        healed_at_box[0] = time.time()
    subprocess.run([f"{args.repo}/scripts/cluster", "heal"], check=True)
    print(f"==> answers while two sites were lost: {during}; site {survivor.upper()} "
          + ("still primary" if still_primary else "no longer primary (no etcd quorum)") + " at their end", flush=True)
    check(not acknowledged_during and during.get(503, 0) > 0,
          f"while two sites were lost nothing sent was acknowledged: {during.get(503, 0)} answers 503"
          + (f"; acknowledged: {acknowledged_during[:3]}" if acknowledged_during else ""))
else:
    with lock:
        cut_at[0] = killed_at
    subprocess.run([f"{args.repo}/scripts/cluster", "cut-site", victim.upper()], check=True)
    print(f"==> site {victim.upper()} cut off (its link down, its processes running) after {before} acknowledged exchanges", flush=True)

# Service is back when an exchange is acknowledged again after the kill (after the sites returned, in two-sites).
recovered_at = None
back_from = healed_at_box[0] or killed_at
while recovered_at is None and time.time() < back_from + 120:
    with lock:
        later = [answered for _, _, _, answered in acknowledged if answered > back_from + 0.5]
    if later:
        recovered_at = min(later)
    time.sleep(0.1)
if recovered_at is not None:
    time.sleep(args.after)
stop.set()
for thread in threads:
    thread.join()
recovery = None if recovered_at is None else recovered_at - back_from
since = "the sites returned" if healed_at_box[0] else "the kill"
print("==> answers: " + ", ".join(f"{status}: {count} (slowest {slowest[status]:.1f} s, sent at {slowest_detail[status][0]} s from the kill, {slowest_detail[status][2]} {slowest_detail[status][1] or ''})"
                                for status, count in sorted(statuses.items(), key=str)), flush=True)
if refusals:
    print("==> refusals: " + "; ".join(f"{count} {moment}: {title}" for (moment, title), count in sorted(refusals.items())), flush=True)
# A request waits at most for its records (5 s), then for its log entry (5 s, and 2 s more for a COMMIT on its way):
# past that, a hang. A notice sent again under its key carries the same body, so nothing may be refused as a conflict.
answer_limit = 15
check(all(took <= answer_limit for took in slowest.values()),
      f"every answer within {answer_limit} s of its request (slowest {max(slowest.values(), default=0):.1f} s)")
unexpected = {status: count for status, count in statuses.items() if status not in (200, 202, 503, "no answer")}
check(not unexpected, "answers were 200, 202, 503 or a closed connection" + (f"; also {unexpected}" if unexpected else ""))
check(recovery is not None and recovery <= args.recovery_limit,
      f"service back through HAProxy {recovery:.1f} s after {since} (limit {args.recovery_limit:.0f} s)" if recovery is not None
      else f"service back through HAProxy within 120 s of {since}")
if args.scenario != "two-sites":  # after two sites return, either serving site may lead
    check(role(survivor, "primary"), f"site {survivor.upper()} is primary now")
if args.scenario == "standby":
    check(role("c", "sync"), "site C's standby is the synchronous one now: writes are still on two sites")
if args.scenario == "partition":
    answered = inside["statuses"]
    print(f"==> inside the cut-off site, after the cut: {answered}; slowest {inside['slowest']:.1f} s", flush=True)
    check(inside["slowest"] <= answer_limit, f"inside the cut-off site, every answer within {answer_limit} s (slowest {inside['slowest']:.1f} s)")
    check(not answered.get(200) and answered.get(503, 0) > 0 and inside["retry_after"] == answered.get(503, 0),
          f"site {victim.upper()}'s Jisr, cut off, acknowledged nothing: {answered.get(503, 0)} answers 503 with Retry-After")

    def head(site_query):
        rows = site_query("SELECT seq, entry_hash FROM message_log ORDER BY seq DESC LIMIT 1")
        return tuple(rows[0]) if rows else None

    def local_query(statement):
        result = subprocess.run(["ip", "netns", "exec", f"jisr-{victim}", "runuser", "-u", "postgres", "--", "psql", "-h", f"{cluster}/{victim}",
                                 "-U", "postgres", "-d", "jisr", "-AtF", "\t", "-c", statement], capture_output=True, text=True, timeout=30)
        return [line.split("\t") for line in result.stdout.splitlines() if line] if result.returncode == 0 else []

    rewinds_before = open(f"{cluster}/{victim}/logs/patroni.log").read().count("running pg_rewind from")
    subprocess.run([f"{args.repo}/scripts/cluster", "heal"], check=True)
    deadline = time.time() + 180
    rejoined = same = False
    while time.time() < deadline and not (rejoined and same):
        rejoined = role(victim, "replica")
        try:
            same = rejoined and head(local_query) == head(lambda statement: sql(survivor, statement)) is not None
        except (RuntimeError, subprocess.TimeoutExpired):
            same = False  # the cluster settling as the site rejoins: asked again
        time.sleep(1)
    rewound = open(f"{cluster}/{victim}/logs/patroni.log").read().count("running pg_rewind from") > rewinds_before
    check(rejoined and same, f"healed: site {victim.upper()} rejoined as a standby"
          + (" (rewound by pg_rewind)" if rewound else "") + f", its log at the same chain head as site {survivor.upper()}'s: {head(local_query)}")

# Every acknowledged exchange, under its seq.
logged = {}
for start in range(0, len(acknowledged), 500):
    chunk = acknowledged[start:start + 500]
    ids = ",".join(f"'{message_id}'" for _, message_id, _, _ in chunk)
    for message_id, seq in sql(survivor, f"SELECT message_id, seq FROM message_log WHERE message_id IN ({ids})"):
        logged.setdefault(message_id, []).append(int(seq))
missing = [(message_id, seq) for _, message_id, seq, _ in acknowledged if seq not in logged.get(message_id, [])]
after = len(acknowledged) - before
check(not missing and after > 0,
      f"all {len(acknowledged)} acknowledged exchanges ({before} before the kill, {after} after) are in site {survivor.upper()}'s log under their seq"
      + (f"; missing: {missing[:5]}" if missing else ""))

# Every accepted notice once in the inbox (keys are stored as keyed hashes: the rows are told apart by message id).
inbox = [row[0] for row in sql(survivor, f"SELECT message_id FROM inbox WHERE partner_id = 'EG-MOL' AND received_at >= to_timestamp({drill_started})")]
accepted = set(notices.values())
extra = len(inbox) - len(accepted)
check(notices and not mismatched and accepted <= set(inbox) and len(inbox) == len(set(inbox)) and 0 <= extra <= len(abandoned),
      f"all {len(notices)} accepted notices are in the inbox once, under the message id they were answered with"
      + f" ({len(inbox)} rows; {replayed[0]} answered as duplicates of a first send whose answer was lost; {len(abandoned)} unacknowledged at the end)"
      + (f"; {len(accepted - set(inbox))} accepted but not in the inbox" if accepted - set(inbox) else "")
      + (f"; {len(mismatched)} keys answered with two message ids" if mismatched else ""))

# The relay: every outbox message delivered; the mock partner saw only those ids.
deadline = time.time() + 180
while time.time() < deadline:
    pending = int(sql(survivor, "SELECT count(*) FROM relay_outbox WHERE state <> 'delivered'")[0][0])
    if pending == 0:
        break
    time.sleep(1)
outbox = {row[0] for row in sql(survivor, "SELECT message_id FROM relay_outbox")}
connection = http.client.HTTPConnection("127.0.0.1", 29102, timeout=10)
connection.request("GET", "/deliveries")
deliveries = json.loads(connection.getresponse().read())
delivered_ids = [delivery["messageId"] for delivery in deliveries]
repeats = len(delivered_ids) - len(set(delivered_ids))
check(pending == 0 and outbox and set(delivered_ids) == outbox,
      f"all {len(outbox)} outbox messages delivered to EG-MOL ({len(delivered_ids)} deliveries, {repeats} repeats under the same message id)"
      + (f"; {pending} undelivered" if pending else "") + (f"; unknown ids: {sorted(set(delivered_ids) - outbox)[:3]}" if set(delivered_ids) - outbox else ""))
if pending:
    # What each undelivered message is waiting for, and what the relays of both sites said meanwhile.
    print("==> undelivered: message id, state, attempts, created (s from the kill), next attempt and lease (s from now), last error", flush=True)
    for row in sql(survivor, f"""SELECT message_id, state, attempts, round(extract(epoch FROM created_at) - {killed_at}),
            round(extract(epoch FROM next_attempt_at - now())), round(extract(epoch FROM locked_until - now())), coalesce(last_error, '')
            FROM relay_outbox WHERE state <> 'delivered' ORDER BY created_at"""):
        print("    " + "  ".join(row), flush=True)
    for site in sites:
        lines = [line.rstrip() for line in open(f"{cluster}/{site}/logs/jisr.log", errors="replace") if "relay" in line]
        print(f"==> site {site.upper()}'s jisr.log, its last relay lines ({len(lines)} in all):", flush=True)
        for line in lines[-15:]:
            print("    " + line[:400], flush=True)

# A seal after the failover, then the whole log verified, and the partner's receipt against it.
newest = max((seq for _, _, seq, _ in acknowledged), default=0)
deadline = time.time() + 60
while time.time() < deadline and int(sql(survivor, "SELECT coalesce(max(tree_size), 0) FROM log_seals")[0][0]) < newest:
    time.sleep(1)
verify = jisr(survivor, "log", "verify", "--tsa-root", f"{cluster}/tsa/tsa-root.crt")
summary = (verify.stdout.strip().splitlines() or [verify.stderr.strip()])[-1]
check(verify.returncode == 0, f"jisr log verify at site {survivor.upper()}: {summary}")
if receipt is not None:
    against = jisr(survivor, "log", "verify", "--against", receipt_path)
    summary = (against.stdout.strip().splitlines() or [against.stderr.strip()])[-1]
    check(against.returncode == 0, f"the seal before the kill is consistent with the newest after it: {summary}")

def metric(site, name):
    try:
        connection = http.client.HTTPConnection(sites[site], 9090, timeout=2)
        connection.request("GET", "/metrics")
        for line in connection.getresponse().read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    except OSError:
        pass
    return None


# The registry watcher and LISTEN reconnected by themselves: a registry change made after the failover is in force on
# the Jisr instances, and each listens again on the current primary (its sessions come from its site's address).
code = f"drill-{uuid.uuid4().hex[:8]}"
added = jisr(survivor, "purpose", "add", "--code", code, "--description-ar", "تمرين", "--description-en", "failover drill",
             "--legal-basis", "the failover drill of scripts/cluster", "--contracts", f"{args.repo}/contracts")
version = int(sql(survivor, "SELECT version FROM registry_version")[0][0])
for site in ([survivor, victim] if args.scenario == "partition" else [survivor]):
    deadline = time.time() + 30
    while (metric(site, "jisr_registry_version") or 0) < version and time.time() < deadline:
        time.sleep(0.2)
    served = metric(site, "jisr_registry_version")
    check(added.returncode == 0 and served is not None and served >= version,
          f"a registry change made after the failover (purpose {code}, version {version}) is in force on site {site.upper()}'s Jisr"
          + (f": it serves version {served}" if served is None or served < version else "")
          + (f"; jisr purpose add: {added.stderr.strip()[-200:]}" if added.returncode else ""))
    deadline = time.time() + 30
    channels = set()
    while time.time() < deadline:
        channels = {row[0] for row in sql(survivor, f"SELECT query FROM pg_stat_activity WHERE query LIKE 'LISTEN %' AND client_addr = '{sites[site]}'")}
        if {'LISTEN "jisr_registry_changed";', 'LISTEN "jisr_permit_changes";'} <= channels:
            break
        time.sleep(0.5)
    check({'LISTEN "jisr_registry_changed";', 'LISTEN "jisr_permit_changes";'} <= channels,
          f"site {site.upper()}'s Jisr listens again on the current primary (registry and permit changes): {sorted(channels)}")
    # Its own sealer still ends rounds: another gateway sealing would hide one stuck since the failover (a sealer
    # that waited for good on a lease made the next drill's receipt wait in vain when both were stuck).
    asked = time.time()
    deadline = asked + 45
    while (metric(site, "jisr_sealer_last_round_timestamp_seconds") or 0) <= asked and time.time() < deadline:
        time.sleep(0.5)
    last_round = metric(site, "jisr_sealer_last_round_timestamp_seconds") or 0
    check(last_round > asked, f"site {site.upper()}'s sealer ends its rounds after the failover"
          + (f" ({metric(site, 'jisr_log_seals_signed_total'):.0f} seals signed, {metric(site, 'jisr_sealer_failed_rounds_total'):.0f} rounds failed)"
             if last_round > asked else f": its last round ended {asked - last_round:.0f} s before the check"))

print(f"==> drill: {'PASSED' if not failures else 'FAILED'}; RPO {len(missing)} acknowledged exchanges lost, RTO {recovery if recovery is None else round(recovery, 1)} s")
sys.exit(1 if failures else 0)
