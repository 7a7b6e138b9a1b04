"""Schemathesis hooks of the API conformance test (scripts/lib/api_conformance.py): what the document cannot say.

Loaded through SCHEMATHESIS_HOOKS. They touch only requests generated as valid (positive): X-Purpose is the purpose
the caller is granted (a request generated with another one is refused 403, which says nothing about its form; a
request with a malformed one is a negative case and keeps it), and half the person lookups,
establishment and permit lookups and receipts name something that exists (the gateway's seeded records, a message of
the caller's), so that answers with documents are checked against the document too, not only 404s. Nothing here makes a request the document allows acceptable: a cursor is any position the document's pattern
allows, and each contract's send operation has that contract's document as its body.
"""
import json
import os
import random

import schemathesis

samples = json.loads(os.environ["JISR_CONFORMANCE_SAMPLES"])
purpose = os.environ["JISR_CONFORMANCE_PURPOSE"]
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
    if case.headers is not None and "X-Purpose" in case.headers:
        case.headers["X-Purpose"] = purpose
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
