#!/usr/bin/env python3
"""The exchange API against its own document, as a partner generating a client from it would test it.

Schemathesis (PyPI) reads openapi/exchange.json and, for every operation, sends requests the document allows and
requests it forbids, over mutual TLS with a partner's certificate, then checks every answer:
- a request the document allows is not refused for its form (no 400, 413, 415, 422: positive_data_acceptance);
- a request it forbids is refused (negative_data_rejection), and a missing required header too;
- a method the document does not list gets 405 with Allow (unsupported_method);
- status codes, media types, headers and bodies are the ones the document declares (status_code_conformance,
  content_type_conformance, response_headers_conformance, response_schema_conformance), and nothing is a 5xx.
What the document cannot say (data, not form) is in api_conformance_hooks.py. The person lookups' identifier forms,
which the document lists under x-jisr-identifier-forms for tools that check requests (generators read the parameters,
each optional), are given to Schemathesis as what they mean: one exploded query object, a oneOf of the forms.

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



def with_identifier_forms(document):
    """Each operation's x-jisr-identifier-forms as the exploded query object it means: exactly one form, each of its
    parameters present, no other."""
    for item in document["paths"].values():
        for operation in item.values():
            if not isinstance(operation, dict) or "x-jisr-identifier-forms" not in operation:
                continue
            forms = operation["x-jisr-identifier-forms"]
            named = {name for form in forms for name in form}
            parameters = {p["name"]: p for p in operation["parameters"] if p.get("in") == "query" and p.get("name") in named}
            operation["parameters"] = [p for p in operation["parameters"] if p.get("name") not in parameters]
            operation["parameters"].append({
                "name": "identifier", "in": "query", "required": True, "style": "form", "explode": True,
                "schema": {"oneOf": [
                    {"type": "object", "properties": {name: parameters[name]["schema"] for name in form}, "required": form,
                     "additionalProperties": False}
                    for form in forms
                ]},
            })
    return document


with tempfile.TemporaryDirectory() as work:
    document = with_identifier_forms(json.loads((repository / "openapi" / "exchange.json").read_text()))
    (pathlib.Path(work) / "exchange.json").write_text(json.dumps(document))
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
        JISR_CONFORMANCE_PURPOSE=purpose,
    )
    command = [
        schemathesis, "--config-file", str(config), "run", str(pathlib.Path(work) / "exchange.json"), "--url", base_url,
        "--request-cert", certificate, "--request-cert-key", key, "--tls-verify", authority,
        "--checks", "all", "--max-examples", examples, "--seed", "1", "--workers", "1",
        "--phases", "examples,coverage,fuzzing", "--suppress-health-check", "all", "--warnings", "off",
    ]
    completed = subprocess.run(command, env=environment, cwd=work)
    sys.exit(completed.returncode)
