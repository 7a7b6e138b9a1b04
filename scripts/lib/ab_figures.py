#!/usr/bin/env python3
"""Reads one ApacheBench report and prints a tab-separated result line for scripts/bench.

Usage: ab_figures.py REPORT SCENARIO TARGET CONCURRENCY EXPECTED-STATUS LOG-ENTRIES
A response with the scenario's expected status is a success (a refusal scenario expects 403); anything
else, and every failed request, is an error.
"""
import re
import sys

report, scenario, target, concurrency, expected, entries = sys.argv[1:7]
text = open(report, encoding="utf-8", errors="replace").read()


def number(pattern, default="0"):
    found = re.search(pattern, text, re.MULTILINE)
    return found.group(1) if found else default


complete = int(number(r"^Complete requests:\s+(\d+)"))
failed = int(number(r"^Failed requests:\s+(\d+)"))
non2xx = int(number(r"^Non-2xx responses:\s+(\d+)"))
keepalive = int(number(r"^Keep-Alive requests:\s+(\d+)"))
rps = float(number(r"^Requests per second:\s+([\d.]+)"))
p50 = number(r"^\s+50%\s+(\d+)", "nan")
p99 = number(r"^\s+99%\s+(\d+)", "nan")
longest = number(r"^\s+100%\s+(\d+)", "nan")
# ab counts "length" failures when bodies differ in size (ids, timestamps); those are not errors.
length_failures = int(number(r"Length: (\d+)", "0"))
errors = failed - length_failures
if expected == "200":
    errors += non2xx
else:
    errors += complete - non2xx  # every answer should have been the refusal
if complete == 0:
    errors = -1
print("\t".join(map(str, [scenario, target, concurrency, complete, errors, rps, p50, p99, longest, keepalive, entries])))
