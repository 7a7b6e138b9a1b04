# Shared by scripts/test and scripts/demo: install what is missing, start and stop a private PostgreSQL.

# Installs Debian packages that are missing (as root), or says exactly what to install (otherwise).
require_packages() {
  local missing=()
  for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -eq 0 ]; then
    echo "==> apt-get install ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "Missing Debian packages. Install them with:" >&2
    echo "  sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
}

# Python's jsonschema is the independent validator the tests compare Jisr's own against.
require_python_jsonschema() {
  python3 -c 'import jsonschema, sys; sys.exit(0 if hasattr(jsonschema, "Draft202012Validator") else 1)' 2>/dev/null && return 0
  if python3 -m pip --version >/dev/null 2>&1; then
    echo "==> pip install jsonschema"
    python3 -m pip install -q jsonschema || { echo "pip could not install jsonschema" >&2; exit 1; }
  elif [ "$(id -u)" -eq 0 ]; then
    require_packages python3-jsonschema
  else
    echo "Python's jsonschema is missing: sudo apt-get install python3-jsonschema" >&2
    exit 1
  fi
}

# openapi-spec-validator checks the committed OpenAPI documents in the tests.
require_python_openapi_validator() {
  python3 -c 'import openapi_spec_validator' 2>/dev/null && return 0
  if python3 -m pip --version >/dev/null 2>&1; then
    echo "==> pip install openapi-spec-validator"
    python3 -m pip install -q openapi-spec-validator || { echo "pip could not install openapi-spec-validator" >&2; exit 1; }
  elif [ "$(id -u)" -eq 0 ]; then
    require_packages python3-openapi-spec-validator
  else
    echo "openapi-spec-validator is missing: sudo apt-get install python3-openapi-spec-validator" >&2
    exit 1
  fi
}

# opentelemetry-proto decodes what the gateway exports in the tracing test's own OTLP receiver (scripts/lib/otlp_receiver.py).
require_python_otlp() {
  python3 -c 'from opentelemetry.proto.collector.trace.v1 import trace_service_pb2' 2>/dev/null && return 0
  if python3 -m pip --version >/dev/null 2>&1; then
    echo "==> pip install opentelemetry-proto"
    python3 -m pip install -q opentelemetry-proto || { echo "pip could not install opentelemetry-proto" >&2; exit 1; }
  else
    echo "Python's opentelemetry-proto is missing: pip install opentelemetry-proto" >&2
    exit 1
  fi
}

require_swift() {
  command -v swift >/dev/null 2>&1 && return 0
  echo "Swift 6 is required (https://www.swift.org/install/linux/); 'swift' is not on PATH." >&2
  exit 1
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

pg_bin() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$dir" ] || { echo "PostgreSQL server binaries not found under /usr/lib/postgresql" >&2; exit 1; }
  echo "$dir"
}

# PostgreSQL refuses to run as root: as root, the cluster belongs to the postgres system user.
as_postgres() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# A cluster in DIR, listening on 127.0.0.1:PORT only, user jisr with trust auth on loopback;
# EXTRA holds more server options (-c name=value …).
start_throwaway_postgres() {
  local dir=$1 port=$2 extra=${3:-} bin
  bin=$(pg_bin)
  mkdir -p "$dir/socket"
  [ "$(id -u)" -eq 0 ] && chown -R postgres:postgres "$dir"
  as_postgres "$bin/initdb" -D "$dir/data" -U jisr -A trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; exit 1; }
  as_postgres "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 \
    -o "-p $port -k $dir/socket -c listen_addresses=127.0.0.1 -c max_connections=200 $extra" start >/dev/null \
    || { cat "$dir/postgres.log" >&2; exit 1; }
}

stop_throwaway_postgres() {
  local dir=$1
  as_postgres "$(pg_bin)/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}

# The commit `jisr --version` names (Package.swift): given explicitly, so that a build after a new commit says so.
export_build_commit() {
  local commit
  commit=$(git rev-parse --short=12 HEAD 2>/dev/null) || return 0
  git diff --quiet HEAD 2>/dev/null || commit="$commit-modified"
  export JISR_COMMIT="$commit"
}

# A virtual environment of its own, kept between runs under NAME, with PACKAGES (pip's form) installed unless
# IMPORTS (one Python statement) already succeeds in it; prints the environment's folder.
require_python_venv() {
  local name=$1 imports=$2
  shift 2
  local venv="${XDG_CACHE_HOME:-$HOME/.cache}/jisr/$name"
  if ! "$venv/bin/python" -c "$imports" 2>/dev/null; then
    require_packages python3-venv >&2
    echo "==> pip install $* (in $venv)" >&2
    rm -rf "$venv"
    python3 -m venv "$venv" >&2 && "$venv/bin/pip" install -q "$@" >&2 \
      || { echo "pip could not install $* into $venv" >&2; exit 1; }
  fi
  echo "$venv"
}

# Schemathesis tests the exchange API against its OpenAPI document (scripts/lib/api_conformance.py).
require_python_schemathesis() {
  local venv
  venv=$(require_python_venv schemathesis-4.32.5 'import schemathesis, jsonschema' schemathesis==4.32.5 jsonschema)
  export JISR_SCHEMATHESIS_PYTHON="$venv/bin/python" JISR_SCHEMATHESIS="$venv/bin/schemathesis"
}

# openapi-python-client (PyPI), which a partner's developer would use to generate a Python client from
# openapi/exchange.json, and python-dateutil, which the clients it generates import; the tests generate one and make
# every lookup with it (scripts/lib/generated_client.py).
require_python_openapi_client() {
  local venv
  venv=$(require_python_venv openapi-python-client-0.29.1 'import openapi_python_client, httpx, attrs, dateutil' openapi-python-client==0.29.1 python-dateutil)
  export JISR_OPENAPI_CLIENT_PYTHON="$venv/bin/python"
}
