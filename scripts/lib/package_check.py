#!/usr/bin/env python3
"""Checks a jisr Debian package as a ministry server would receive it (scripts/test runs it after scripts/package).

Usage: package_check.py DEB

1. The archive: its fields, its files (dpkg-deb --info/--contents), the conffile, and lintian without an error.
2. Installed with dpkg into a throwaway root (dpkg --root, maintainer scripts run chrootless with DPKG_ROOT): the jisr
   system user and its folders exist, owned and moded as the unit expects.
3. The installed executable needs no Swift toolchain (ldd), prints its version and commit, has a manual page naming
   every command (man --local-file), and — as the jisr user, from an empty folder, with the installed configuration
   file — runs pki init, migrate and serve, which tells
   systemd it is ready (sd_notify READY=1 on $NOTIFY_SOCKET, as Type=notify expects) and answers its health check.
4. The unit passes systemd-analyze verify in that root and systemd-analyze security's offline review at "OK" or better.
Exits 1 with every failed check named.
"""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

deb = os.path.abspath(sys.argv[1])
failures = []


def check(condition, what):
    print(("ok   " if condition else "FAIL ") + what, flush=True)
    if not condition:
        failures.append(what)
    return condition


def run(*command, **options):
    return subprocess.run(list(command), capture_output=True, text=True, **options)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# 1. The archive.
info = run("dpkg-deb", "--field", deb).stdout
fields = dict(re.findall(r"^([A-Za-z-]+): (.*)$", info, re.M))
check(fields.get("Package") == "jisr" and fields.get("Architecture") == "amd64", f"package jisr for amd64: {fields.get('Package')} {fields.get('Architecture')}")
depends = fields.get("Depends", "")
check("libc6" in depends and "libxml2" in depends, f"depends on the libraries it loads: {depends}")
contents = run("dpkg-deb", "--contents", deb).stdout
files = {line.split()[-1].lstrip(".") for line in contents.splitlines()}
owners = {line.split()[1] for line in contents.splitlines()}
for path in ["/usr/bin/jisr", "/usr/share/jisr/contracts/", "/usr/share/jisr/openapi/exchange.json", "/usr/share/jisr/openapi/admin.json",
             "/usr/share/jisr/mappings/", "/etc/jisr/jisr.yml", "/lib/systemd/system/jisr.service", "/usr/share/doc/jisr/copyright",
             "/usr/share/doc/jisr/examples/jisr.yml", "/usr/share/man/man1/jisr.1.gz"]:
    check(path in files, f"the package holds {path}")
check(any(path.startswith("/usr/share/jisr/contracts/") and path.endswith(".json") for path in files), "the contracts are shipped")
check(owners == {"root/root"}, f"every file belongs to root: {owners}")
conffiles = run("sh", "-c", f"dpkg-deb --ctrl-tarfile '{deb}' | tar -xO ./conffiles").stdout.split()
check(conffiles == ["/etc/jisr/jisr.yml"], f"the configuration is a conffile: {conffiles}")
lintian = run("lintian", "--fail-on", "error", deb)
check(lintian.returncode == 0, "lintian finds no error" + ("" if lintian.returncode == 0 else ":\n" + lintian.stdout))
print(lintian.stdout.strip() or "lintian: nothing to say")

# 2. Installed into a throwaway root.
root = tempfile.mkdtemp(prefix="jisr-root-")
os.chmod(root, 0o755)
try:
    for folder in ["var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers", "etc", "usr/sbin", "bin", "lib/systemd/system"]:
        os.makedirs(os.path.join(root, folder), exist_ok=True)
    open(os.path.join(root, "var/lib/dpkg/status"), "w").close()
    # The base system the package lands on: its accounts (root only), and what systemd brings (its targets, kill).
    for name, line in [("passwd", "root:x:0:0:root:/root:/bin/bash"), ("group", "root:x:0:"), ("shadow", "root:*:20000:0:99999:7:::"), ("gshadow", "root:*::")]:
        with open(os.path.join(root, "etc", name), "w") as file:
            file.write(line + "\n")
    for unit in os.listdir("/lib/systemd/system"):
        if unit.endswith(".target"):
            shutil.copy(os.path.join("/lib/systemd/system", unit), os.path.join(root, "lib/systemd/system", unit))
    shutil.copy("/usr/bin/kill", os.path.join(root, "bin/kill"))
    installed = run("dpkg", f"--root={root}", "--force-script-chrootless", "--force-depends", "--log=/dev/null", "-i", deb)
    check(installed.returncode == 0, "dpkg --root installs the package" + ("" if installed.returncode == 0 else ":\n" + installed.stdout + installed.stderr))
    status = run("dpkg-query", f"--root={root}", "-W", "-f=${Status} ${Version}", "jisr").stdout
    check(status.startswith("install ok installed"), f"dpkg records it installed: {status}")
    account = next((line.split(":") for line in open(os.path.join(root, "etc/passwd")) if line.startswith("jisr:")), None)
    check(account is not None, "postinst made the jisr user")
    uid, gid = (int(account[2]), int(account[3])) if account else (65534, 65534)
    check(account is not None and uid < 1000 and account[6].strip() == "/usr/sbin/nologin" and account[5] == "/var/lib/jisr",
          f"a system account without a login shell, home /var/lib/jisr: {account}")
    for folder in ["etc/jisr/pki", "var/lib/jisr"]:
        info = os.stat(os.path.join(root, folder))
        check(info.st_uid == uid and (info.st_mode & 0o777) == 0o750, f"/{folder} is jisr's, mode 750: uid {info.st_uid}, {oct(info.st_mode & 0o777)}")
    config = os.stat(os.path.join(root, "etc/jisr/jisr.yml"))
    check(config.st_gid == gid and (config.st_mode & 0o777) == 0o640, f"/etc/jisr/jisr.yml readable by the jisr group only: {oct(config.st_mode & 0o777)}")

    # 3. The installed executable, as the jisr user.
    jisr = os.path.join(root, "usr/bin/jisr")
    libraries = run("ldd", jisr).stdout
    check("libswift" not in libraries and "libFoundation" not in libraries, "the Swift runtime is linked in: no toolchain library is loaded")
    version = run(jisr, "--version").stdout.strip()
    commit = run("git", "rev-parse", "HEAD", cwd=os.path.dirname(os.path.abspath(__file__))).stdout.strip()
    check(re.fullmatch(r"jisr [0-9]+\.[0-9]+\.[0-9]+ \(commit [0-9a-f]{12}(-modified)?\)", version) is not None and commit[:12] in version,
          f"jisr --version names the release and the commit {commit[:12]}: {version}")
    # man jisr: the page the package installs names every command the executable has, and renders without a complaint.
    page = run("man", "--local-file", os.path.join(root, "usr/share/man/man1/jisr.1.gz"),
               env=dict(os.environ, MANPAGER="cat", MANWIDTH="100", LANG="C.UTF-8", LC_ALL="C.UTF-8"))
    commands = [command["commandName"] for command in json.loads(run(jisr, "--experimental-dump-help").stdout)["command"].get("subcommands", [])]
    missing = [command for command in commands if not re.search(rf"^ +{re.escape(command)}( |$)", page.stdout, re.M)]
    check(page.returncode == 0 and not page.stderr.strip() and len(commands) > 10 and not missing,
          f"man jisr renders every command of jisr ({len(commands)}){': missing ' + ', '.join(missing) if missing else ''}{page.stderr.strip()}")
    check("Jisr (جسر)" in page.stdout and "(1–825)" in page.stdout, "the manual keeps what is not ASCII: the name جسر, the range 1–825")
    work = tempfile.mkdtemp(prefix="jisr-empty-")
    os.chmod(work, 0o777)
    as_jisr = ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--"]
    pki, store = os.path.join(root, "etc/jisr/pki"), f"sqlite:{root}/var/lib/jisr/jisr.sqlite"
    crl_port, port, ops_port, admin_port = free_port(), free_port(), free_port(), free_port()
    initialised = run(*as_jisr, jisr, "pki", "init", "--dir", pki, "--crl-url", f"http://127.0.0.1:{crl_port}/partner-ca.crl", cwd=work)
    check(initialised.returncode == 0, "pki init as jisr" + ("" if initialised.returncode == 0 else ": " + initialised.stderr + initialised.stdout))
    key = os.stat(os.path.join(pki, "partner-ca.key"))
    check(key.st_uid == uid and (key.st_mode & 0o777) == 0o600, f"the CA key is jisr's, mode 600: {oct(key.st_mode & 0o777)}")
    migrated = run(*as_jisr, jisr, "migrate", "--database-url", store, cwd=work)
    check(migrated.returncode == 0 and "applied" in migrated.stdout, "migrate as jisr" + ("" if migrated.returncode == 0 else ": " + migrated.stderr))

    # serve with the installed configuration file; the environment points it into the throwaway root.
    notify_path = os.path.join(work, "notify")
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(notify_path)
    os.chmod(notify_path, 0o777)
    notify.settimeout(1)
    environment = dict(os.environ, NOTIFY_SOCKET=notify_path, JISR_PKI_DIR=pki, JISR_DATABASE_URL=store, JISR_EXCHANGE_HOST="127.0.0.1",
                       JISR_EXCHANGE_PORT=str(port), JISR_OPS_PORT=str(ops_port), JISR_ADMIN_PORT=str(admin_port), JISR_CRL_HOST="127.0.0.1",
                       JISR_CRL_PORT=str(crl_port))
    checked = run(*as_jisr, jisr, "config", "check", os.path.join(root, "etc/jisr/jisr.yml"), cwd=work, env=environment)
    contracts = next((line for line in checked.stdout.splitlines() if line.split()[:1] == ["contracts.dir"]), "")
    check(checked.returncode == 0 and f"{root}/usr/share/jisr/contracts" in contracts,
          f"the installed configuration checks, and the contracts are the installed ones: {contracts or checked.stdout + checked.stderr}")
    log = open(os.path.join(work, "serve.log"), "w")
    serve = subprocess.Popen(as_jisr + [jisr, "serve", "--config", os.path.join(root, "etc/jisr/jisr.yml")], cwd=work, env=environment,
                             stdout=log, stderr=subprocess.STDOUT)
    ready_message = ""
    try:
        # The readiness message is the event waited for; the limit only ends a run that would otherwise hang.
        deadline = time.monotonic() + 120
        while "READY=1" not in ready_message and serve.poll() is None and time.monotonic() < deadline:
            try:
                ready_message += notify.recv(4096).decode()
            except socket.timeout:
                pass
        check("READY=1" in ready_message, f"serve tells systemd it is ready: {ready_message!r}")
        health = urllib.request.urlopen(f"http://127.0.0.1:{ops_port}/health/ready", timeout=5) if serve.poll() is None else None
        check(health is not None and health.status == 200, "ready means ready: /health/ready answers 200")
        crl = urllib.request.urlopen(f"http://127.0.0.1:{crl_port}/partner-ca.crl", timeout=5) if serve.poll() is None else None
        check(crl is not None and crl.headers.get("Content-Type") == "application/pkix-crl", "the CRL is published where the certificates say")
    finally:
        serve.terminate()
        stopped = serve.wait(timeout=60)
        log.close()
        notify.close()
    output = open(os.path.join(work, "serve.log")).read()
    check(stopped == 0, f"serve stops cleanly on SIGTERM (status {stopped})")
    check(f"exchange listener on 127.0.0.1:{port}" in output, "serve listened where the environment said, over the file")
    if failures:
        print(output[-4000:])
    shutil.rmtree(work, ignore_errors=True)

    # 4. The unit.
    verify = run("systemd-analyze", "verify", f"--root={root}", "jisr.service")
    check(verify.returncode == 0 and not (verify.stdout + verify.stderr).strip(), "systemd-analyze verify: no complaint" +
          ("" if verify.returncode == 0 else ": " + verify.stdout + verify.stderr))
    security = run("systemd-analyze", "security", "--offline=true", "--threshold=20", f"--root={root}", "jisr.service")
    exposure = re.search(r"Overall exposure level for jisr.service: ([0-9.]+) (\w+)", security.stdout)
    check(exposure is not None and exposure.group(2) in ("OK",) and float(exposure.group(1)) <= 2.0,
          f"systemd-analyze security rates the unit OK (exposure at most 2.0): {exposure.group(0) if exposure else security.stdout[-500:]}")
    unit = open(os.path.join(root, "lib/systemd/system/jisr.service")).read()
    for setting in ["ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes", "NoNewPrivileges=yes", "CapabilityBoundingSet=\n",
                    "ReadWritePaths=/etc/jisr/pki", "StateDirectory=jisr", "MemoryMax=", "LimitNOFILE=", "Restart=on-failure", "Type=notify", "User=jisr"]:
        check(setting in unit, f"the unit sets {setting.strip()}")
finally:
    shutil.rmtree(root, ignore_errors=True)

print(json.dumps({"failed": failures}, ensure_ascii=False))
sys.exit(1 if failures else 0)
