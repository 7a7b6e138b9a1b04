#!/usr/bin/env python3
"""A partner's developer's first hour: a client generated from openapi/exchange.json by openapi-python-client
(PyPI), used as generated, over mutual TLS.

It generates the client into a temporary folder and fails if the generator warned about anything (a model it could
not make, a response or a parameter it dropped). Then, with the generated functions and models only, it makes every
lookup the document describes and checks that each answer arrives parsed into its typed model: a person's employment
record by each of the three identifier forms, an establishment, a work permit, every page of a permit listing by
following nextCursor, a person's access report, the allowed contracts, a contract's schema, the document itself, a
receipt and a consistency proof; and it sends a work-permit-event/1 document built from the typed model.

Usage: generated_client.py BASE_URL CERT KEY CA PURPOSE SAMPLES_JSON
Runs from the virtual environment requirements.sh makes (JISR_OPENAPI_CLIENT_PYTHON); prints one line per call.
"""
import datetime
import importlib
import json
import pathlib
import ssl
import subprocess
import sys
import tempfile
import uuid

base_url, certificate, key, authority, purpose, samples_text = sys.argv[1:7]
samples = json.loads(samples_text)
repository = pathlib.Path(__file__).resolve().parent.parent.parent
failures = []


def check(what, condition, detail=""):
    print(("ok   " if condition else "FAIL ") + what + (f": {detail}" if detail and not condition else ""))
    if not condition:
        failures.append(what)


with tempfile.TemporaryDirectory() as work:
    work = pathlib.Path(work)
    # No post-generation hooks: the generator's default runs ruff, which is a formatter, not part of the client.
    (work / "config.yml").write_text("post_hooks: []\n")
    generator = pathlib.Path(sys.executable).parent / "openapi-python-client"
    generated = subprocess.run(
        [str(generator), "generate", "--path", str(repository / "openapi" / "exchange.json"), "--meta", "none",
         "--output-path", str(work / "jisr_exchange"), "--config", str(work / "config.yml")],
        capture_output=True, text=True)
    output = generated.stdout + generated.stderr
    check("openapi-python-client generates the client", generated.returncode == 0, output[-3000:])
    check("the generator warns about nothing (every model, parameter and response generated)",
          "Warning" not in output and "Unable" not in output and "Cannot" not in output, output[-3000:])
    if failures:
        sys.exit(1)
    sys.path.insert(0, str(work))
    client_module = importlib.import_module("jisr_exchange")
    models = importlib.import_module("jisr_exchange.models")

    def operation(name):
        return importlib.import_module(f"jisr_exchange.api.default.{name}")

    context = ssl.create_default_context(cafile=authority)
    context.load_cert_chain(certificate, key)
    client = client_module.Client(base_url=base_url, verify_ssl=context, raise_on_unexpected_status=True)

    def call(what, name, model, **arguments):
        response = operation(name).sync_detailed(client=client, **arguments)
        parsed = response.parsed
        check(f"{what}: {int(response.status_code)} {type(parsed).__name__}",
              isinstance(parsed, model), f"status {response.status_code}, body {response.content[:300]!r}")
        return parsed

    with client as client:
        national_id = samples["nationalIds"][0]
        record = call("employment record by nationalId", "get_employment_records", models.EmploymentRecord,
                      national_id=national_id, x_purpose=purpose)
        if isinstance(record, models.EmploymentRecord):
            check("  its person is a typed model with the national id asked for",
                  isinstance(record.person, models.EmploymentRecordPerson) and record.person.national_id == national_id)
            check("  its employments are typed models",
                  all(isinstance(employment, models.EmploymentRecordEmployment) for employment in record.employments))
        passport = samples["passports"][0]
        call("employment record by passportNumber and nationality", "get_employment_records", models.EmploymentRecord,
             passport_number=passport["passportNumber"], nationality=passport["nationality"], x_purpose=purpose)
        call("employment record by nssfNumber", "get_employment_records", models.EmploymentRecord,
             nssf_number=samples["nssfNumbers"][0], x_purpose=purpose)
        establishment = call("establishment", "get_establishment", models.Establishment,
                             registration_number=samples["registrationNumbers"][0], x_purpose=purpose)
        if isinstance(establishment, models.Establishment):
            check("  the establishment's registration number is the one asked for",
                  establishment.registration_number == samples["registrationNumbers"][0])
        permit = call("work permit", "get_work_permit", models.WorkPermit, permit_number=samples["permitNumbers"][0], x_purpose=purpose)
        if isinstance(permit, models.WorkPermit):
            check("  the permit's worker is a typed model", isinstance(permit.worker, models.WorkPermitWorker))
        listed, cursor, pages = [], None, 0
        issued_since = datetime.datetime.fromisoformat(samples["issuedSince"].replace("Z", "+00:00"))
        while True:
            arguments = dict(limit=1, changed_since=issued_since, x_purpose=purpose)
            if cursor:
                arguments["cursor"] = cursor
            page = call(f"work permits, page {pages + 1}", "list_work_permits", models.WorkPermitPage, **arguments)
            if not isinstance(page, models.WorkPermitPage):
                break
            pages += 1
            listed += [item.permit_number for item in page.items]
            cursor = page.next_cursor if isinstance(page.next_cursor, str) else None
            if not cursor or pages > 10:
                break
        check(f"the pages since the permits were issued, followed by nextCursor, list exactly them ({len(listed)} on {pages} pages)",
              sorted(listed) == sorted(samples["permitNumbers"]), f"listed {listed}")
        report = call("access report", "get_access_report", models.AccessReport, national_id=national_id, x_purpose=purpose)
        if isinstance(report, models.AccessReport):
            check("  its rows are typed models", all(isinstance(row, models.AccessReportRow) for row in report.rows))
        contracts = call("allowed contracts", "get_allowed_contracts", models.AllowedContracts)
        if isinstance(contracts, models.AllowedContracts):
            check("  they list the agreements granted", len(contracts.agreements) >= 3)
        call("a contract's schema", "get_contract_schema", models.GetContractSchemaResponse200,
             contract="employment-record", version=1, document=models.GetContractSchemaDocument("schema.json"))
        call("the OpenAPI document", "get_open_api", models.GetOpenApiResponse200)
        call("a receipt", "get_receipt", models.Receipt, id=uuid.UUID(samples["messageIds"][0]))
        call("a consistency proof", "get_consistency_proof", models.ConsistencyProof, from_=1, to=samples["treeSize"])
        event = json.loads((repository / "contracts" / "work-permit-event" / "1" / "examples" / "valid" / "issued.json").read_text())
        accepted = call("a work-permit-event/1 sent from the typed model", "send_work_permit_event", models.Accepted,
                        body=models.WorkPermitEvent.from_dict(event), idempotency_key=f"generated-{uuid.uuid4()}", x_purpose=purpose)
        if isinstance(accepted, models.Accepted):
            check("  accepted as a new message", accepted.duplicate is False)

print(f"{'FAILED' if failures else 'PASSED'}: {len(failures)} of the checks failed")
sys.exit(1 if failures else 0)
