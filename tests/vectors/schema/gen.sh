#!/bin/sh
# Regenerate the descriptor sets the unit tests compare our .proto parser against (Debian's
# protoc 3.21): one with --include_imports, one without.
set -e
cd "$(dirname "$0")"
for f in shop legacy; do
  protoc -I . -I /usr/include --include_imports -o $f.pb $f.proto
  protoc -I . -I /usr/include -o $f.noimports.pb $f.proto
done
# A message with every construct: its bytes (protoc --encode), protoc --decode's text, and
# python3-protobuf's json_format.MessageToJson (the oracle for our proto3 JSON mapping).
protoc -I . -I /usr/include --encode=shop.v1.Item shop.proto < item.txtpb > item.bin
protoc -I . -I /usr/include --decode=shop.v1.Item shop.proto < item.bin > item.decode.txt
tmp=$(mktemp -d)
protoc -I . -I /usr/include --python_out="$tmp" shop.proto shop/common.proto shop/types.proto
PYTHONPATH="$tmp" /usr/bin/python3 - <<'PY' > item.json
import sys
from google.protobuf import json_format
import shop_pb2
m = shop_pb2.Item.FromString(open("item.bin", "rb").read())
import json
# Object order is json_format's hash order for maps; ours is sorted by key (as protoc's text
# format): sort the map-valued objects so that the files compare as text.
def srt(o):
    if isinstance(o, dict):
        return {k: srt(v) for k, v in sorted(o.items())}
    if isinstance(o, list):
        return [srt(v) for v in o]
    return o
d = json.loads(json_format.MessageToJson(m, indent=None))
for k in ("labels", "statusByStore", "boxByName", "attributes", "anyValue"):
    d[k] = srt(d[k])
print(json.dumps(d, ensure_ascii=False))
PY
rm -rf "$tmp"
