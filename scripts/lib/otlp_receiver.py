"""A minimal OpenTelemetry collector for the tests: receives OTLP/HTTP traces (protobuf) and writes each span as one
JSON line, so a test can read what a gateway exported.

Usage: otlp_receiver.py --port PORT --out FILE      (prints "listening" once it accepts requests)
Each line: {"traceId", "spanId", "parentSpanId", "name", "kind", "service", "attributes": {key: value}}.
Decodes with the official protobuf definitions (PyPI's opentelemetry-proto), not Jisr's own code.
"""
import argparse, gzip, json, os, signal, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--out", required=True)
args = parser.parse_args()
lock = threading.Lock()


def value(any_value):
    kind = any_value.WhichOneof("value")
    if kind == "array_value":
        return [value(item) for item in any_value.array_value.values]
    return getattr(any_value, kind) if kind else None


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        if self.path != "/v1/traces" or "protobuf" not in self.headers.get("Content-Type", ""):
            self.send_response(415 if self.path == "/v1/traces" else 404)
            self.end_headers()
            return
        request = trace_service_pb2.ExportTraceServiceRequest()
        request.ParseFromString(body)
        lines = []
        for resource_spans in request.resource_spans:
            resource = {attribute.key: value(attribute.value) for attribute in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    lines.append(json.dumps({
                        "traceId": span.trace_id.hex(), "spanId": span.span_id.hex(), "parentSpanId": span.parent_span_id.hex(),
                        "name": span.name, "kind": span.kind, "service": resource.get("service.name"),
                        "attributes": {attribute.key: value(attribute.value) for attribute in span.attributes},
                    }))
        with lock, open(args.out, "a") as out:
            out.write("".join(line + "\n" for line in lines))
        answer = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *_):
        pass


def outlive_no_parent(parent):
    """Ends with the test process that started it, however that one ends (its suite keeps the receiver for the run)."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)


# Started by a test process that handles signals itself, it may inherit SIGTERM ignored (seen: it outlived pkill): restore it.
signal.signal(signal.SIGTERM, signal.SIG_DFL)
server = ThreadingHTTPServer(("127.0.0.1", args.port), Receiver)
threading.Thread(target=outlive_no_parent, args=(os.getppid(),), daemon=True).start()
print("listening", flush=True)
server.serve_forever()
