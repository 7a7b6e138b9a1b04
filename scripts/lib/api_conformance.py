#!/usr/bin/env python3
"""The exchange API against its own document, as a partner generating a client from it would test it.

Schemathesis (PyPI) reads openapi/exchange.json and, for every operation, sends requests the document allows and
requests it forbids, over mutual TLS with a partner's certificate, then checks every answer:
- a request the document allows is not refused for its form (no 400, 413, 415, 422: positive_data_acceptance);
- a request it forbids is refused (negative_data_rejection), and a missing required header too;
- a method the document does not list gets 405 with Allow (unsupported_method);
- status codes, media types, headers and bodies are the ones the document declares (status_code_conformance,
  content_type_conformance, response_headers_conformance, response_schema_conformance), and nothing is a 5xx.
What the document cannot say (data, not form) is in api_conformance_hooks.py.

Usage: api_conformance.py BASE_URL CERT KEY CA PURPOSE SAMPLES_JSON [--max-examples N]
Runs scripts/lib's schemathesis from the virtual environment that requirements.sh makes; exits with its status.
"""
import json
import os
import pathlib
import subprocess
import sys
import tempfile

base_url, certificate, key, authority, purpose, samples = sys.argv[1:7]
examples = sys.argv[sys.argv.index("--max-examples") + 1] if "--max-examples" in sys.argv else "25"
repository = pathlib.Path(__file__).resolve().parent.parent.parent
schemathesis = os.environ.get("JISR_SCHEMATHESIS", "schemathesis")

contracts = {
    f"{path.parent.parent.name}/{path.parent.name}": str(path) for path in sorted((repository / "contracts").glob("*/*/schema.json"))
}
with tempfile.TemporaryDirectory() as work:
    config = pathlib.Path(work) / "schemathesis.toml"
    config.write_text(
        "[checks]\n"
        "enabled = true\n"
        # The document promises forms, not which rows exist: every well-formed request may still find nothing.
        "[checks.positive_data_acceptance]\n"
        'expected-statuses = ["2xx", "403", "404", "409", "429"]\n'
    )
    environment = dict(
        os.environ,
        SCHEMATHESIS_HOOKS="api_conformance_hooks",
        PYTHONPATH=str(pathlib.Path(__file__).resolve().parent),
        JISR_CONFORMANCE_SAMPLES=samples,
        JISR_CONFORMANCE_CONTRACTS=json.dumps(contracts),
    )
    command = [
        schemathesis, "--config-file", str(config), "run", str(repository / "openapi" / "exchange.json"), "--url", base_url,
        "--request-cert", certificate, "--request-cert-key", key, "--tls-verify", authority, "-H", f"X-Purpose: {purpose}",
        "--checks", "all", "--max-examples", examples, "--seed", "1", "--workers", "1",
        "--phases", "examples,coverage,fuzzing", "--suppress-health-check", "all", "--warnings", "off",
    ]
    completed = subprocess.run(command, env=environment, cwd=work)
    sys.exit(completed.returncode)
