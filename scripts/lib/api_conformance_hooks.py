"""Schemathesis hooks of the API conformance test (scripts/lib/api_conformance.py): what the document cannot say.

Loaded through SCHEMATHESIS_HOOKS. They touch only requests generated as valid (positive), and only where a rule
depends on data rather than form:
- half the person lookups, establishment and permit lookups and receipts name something that exists (the gateway's
  seeded records, a message of the caller's), so that answers with documents are checked against the document too,
  not only 404s;
- a generated `cursor` is dropped: a well-formed cursor this server did not issue for the same query is refused
  (400), which no schema can express — the document says so in words;
- X-Contract names the contract the generated body is a document of (the document says the body must match it;
  a schema cannot tie a header to a body).
"""
import json
import os
import random

import jsonschema
import schemathesis

samples = json.loads(os.environ["JISR_CONFORMANCE_SAMPLES"])
contracts = {
    name: jsonschema.Draft202012Validator(json.load(open(path)))
    for name, path in json.loads(os.environ["JISR_CONFORMANCE_CONTRACTS"]).items()
}
chance = random.Random(7)


@schemathesis.hook
def filter_case(context, case):
    # An XML body cannot be generated from the string schema the document gives it; the XML form of every contract
    # is checked against its XSD by the contract tests instead.
    return case.media_type != "application/xml"


def positive(case):
    return case.meta is not None and case.meta.generation.mode.is_positive


@schemathesis.hook
def before_call(context, case, kwargs):
    if not positive(case):
        return
    path = case.operation.path
    method = case.operation.method.upper()
    known = lambda kind: samples.get(kind) or []
    if method == "GET" and path in ("/v1/employment-records", "/v1/access-report") and chance.random() < 0.5:
        kind = chance.choice([kind for kind in ("nationalIds", "nssfNumbers", "passports") if known(kind)])
        case.query = dict(chance.choice(known(kind))) if kind == "passports" else {kind[:-1]: chance.choice(known(kind))}
    elif method == "GET" and path == "/v1/establishments/{registrationNumber}" and known("registrationNumbers") and chance.random() < 0.5:
        case.path_parameters = {"registrationNumber": chance.choice(known("registrationNumbers"))}
    elif method == "GET" and path == "/v1/work-permits/{permitNumber}" and known("permitNumbers") and chance.random() < 0.5:
        case.path_parameters = {"permitNumber": chance.choice(known("permitNumbers"))}
    elif method == "GET" and path == "/v1/messages/{id}/receipt" and known("messageIds") and chance.random() < 0.5:
        case.path_parameters = {"id": chance.choice(known("messageIds"))}
    elif method == "GET" and path == "/v1/work-permits" and case.query:
        case.query.pop("cursor", None)
    elif method == "POST" and path == "/v1/messages" and isinstance(case.body, dict) and case.headers is not None:
        matching = [name for name, validator in contracts.items() if validator.is_valid(case.body)]
        if matching:
            case.headers["X-Contract"] = matching[0]
