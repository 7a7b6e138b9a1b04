#!/usr/bin/env python3
"""Independent check of the contract examples with Python's jsonschema (Draft 2020-12, formats checked).

Prints one line per example: `valid PATH`, or `invalid PATH` followed by one `  KEYWORD at POINTER` line
per violation, so the Swift test suite can compare its own validator's verdicts with these.
"""
import json
import pathlib
import sys

import jsonschema

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "contracts")
for schema_path in sorted(root.glob("*/*/schema.json")):
    schema = json.loads(schema_path.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    for example in sorted(schema_path.parent.glob("examples/*/*.json")):
        errors = list(validator.iter_errors(json.loads(example.read_text())))
        if not errors:
            print(f"valid {example.relative_to(root)}")
            continue
        print(f"invalid {example.relative_to(root)}")
        for error in errors:
            pointer = "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in error.absolute_path)
            print(f"  {error.validator} at {pointer or '/'}")
