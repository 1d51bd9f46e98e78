#!/usr/bin/env bash
# Schema-aware decoding against two oracles, on real peer captures (the shipped
# examples/greeter-mixed.pcapng: grpc-go, grpcio and grpc-js Lab calls with nested messages, an
# enum, packed/unpacked repeated fields, a map, a oneof, Timestamp and Any):
#   1. every message's `fields` (grpcwire read --json --proto lab.proto) equals
#      python3-protobuf's json_format.MessageToJson of the same bytes (parsed JSON compared);
#   2. equals what `protoc --decode=TYPE` prints for those bytes, converted to the same form
#      (protoc's text parsed by text_format, then json_format).
# Also: a --protoset gives the same output as --proto, and a bad .proto fails with file:line:col.
set -uo pipefail
cd "$(dirname "$0")/../.."
GW_BIN=${GW_BIN:-build/grpcwire}
PY=${GW_PYTHON:-/usr/bin/python3}
command -v protoc >/dev/null || { echo "protoc not installed: skipped"; exit 77; }
"$PY" -c 'import google.protobuf' 2>/dev/null || { echo "python3-protobuf not installed: skipped"; exit 77; }
export TZ=UTC LC_ALL=C
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
P=tests/vectors/protos
protoc -I "$P" -I /usr/include --python_out="$tmp" "$P/lab.proto" || exit 1
protoc -I "$P" -I /usr/include --include_imports -o "$tmp/lab.pb" "$P/lab.proto" || exit 1
cap=examples/greeter-mixed.pcapng

"$GW_BIN" read --json=messages --proto "$P/lab.proto" -I "$P" "$cap" > "$tmp/proto.json" || fail=1
"$GW_BIN" read --json=messages --protoset "$tmp/lab.pb" "$cap" > "$tmp/set.json" || fail=1
if ! cmp -s "$tmp/proto.json" "$tmp/set.json"; then
  echo "FAIL: --proto and --protoset disagree"; fail=1
fi

PYTHONPATH="$tmp" "$PY" - "$tmp/proto.json" "$P" <<'PY' || fail=1
import base64, json, subprocess, sys
from google.protobuf import json_format, text_format
import lab_pb2
from google.protobuf import timestamp_pb2, any_pb2  # noqa: F401 (Any resolution)

types = {"grpcwire.test.LabRequest": lab_pb2.LabRequest, "grpcwire.test.LabReply": lab_pb2.LabReply}
checked = failed = 0
for line in open(sys.argv[1]):
    o = json.loads(line)
    if o.get("type") != "message" or o.get("message_type") not in types or o.get("fields") is None:
        continue
    cls = types[o["message_type"]]
    data = base64.b64decode(o["data"])
    want = json.loads(json_format.MessageToJson(cls.FromString(data)))
    text = subprocess.run(["protoc", "-I", sys.argv[2], "-I", "/usr/include",
                           "--decode=" + o["message_type"], "lab.proto"], input=data,
                          capture_output=True, cwd=".", check=False)
    if text.returncode:
        text = subprocess.run(["protoc", "-I", ".", "-I", "/usr/include",
                               "--decode=" + o["message_type"], "lab.proto"], input=data,
                              capture_output=True, cwd=sys.argv[2], check=True)
    via_protoc = json.loads(json_format.MessageToJson(text_format.Parse(text.stdout.decode(), cls())))
    checked += 1
    for name, exp in (("json_format", want), ("protoc --decode", via_protoc)):
        if o["fields"] != exp:
            failed += 1
            print("FAIL %s stream %s %s: ours %s\n  %s %s" % (o["method"], o["stream"], o["direction"],
                  json.dumps(o["fields"], sort_keys=True), name, json.dumps(exp, sort_keys=True)))
print("%d messages checked against json_format and protoc --decode, %d mismatches" % (checked, failed))
sys.exit(1 if failed or checked < 10 else 0)
PY

# A broken .proto: the error names the place.
printf 'syntax = "proto3";\nmessage A {\n  Nope x = 1;\n}\n' > "$tmp/bad.proto"
out=$("$GW_BIN" read --proto "$tmp/bad.proto" "$cap" 2>&1 >/dev/null); rc=$?
case "$out" in
  *"bad.proto:3:3: unknown type Nope"*) [ $rc -eq 1 ] || { echo "FAIL: exit $rc"; fail=1; } ;;
  *) echo "FAIL: bad .proto error: $out"; fail=1 ;;
esac

[ $fail -eq 0 ] && echo "schema oracle: ok"
exit $fail
