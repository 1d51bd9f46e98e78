"""Shared setup for the grpcio peers: finds the stubs that tests/peers/build.sh generated and
builds the canonical Lab record (keep it in step with go/client/main.go and node/common.js)."""
import os
import sys

_root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
STUBS = os.path.join(os.environ.get("GW_PEERS_DIR") or os.path.join(_root, "build", "peers"), "py")
if not os.path.isfile(os.path.join(STUBS, "lab_pb2.py")):
    sys.stderr.write("py peer: no stubs in %s; run tests/peers/build.sh py\n" % STUBS)
    sys.exit(77)
sys.path.insert(0, STUBS)

import grpc  # noqa: E402
from google.protobuf import any_pb2, timestamp_pb2  # noqa: E402
from google.rpc import error_details_pb2, status_pb2  # noqa: E402,F401
import helloworld_pb2  # noqa: E402,F401
import helloworld_pb2_grpc  # noqa: E402,F401
import lab_pb2  # noqa: E402
import lab_pb2_grpc  # noqa: E402,F401

MAX_MSG = 8 << 20
OPTIONS = [("grpc.max_send_message_length", MAX_MSG), ("grpc.max_receive_message_length", MAX_MSG)]
FAIL_MESSAGE = "résumé ✓"

CODES = {c.value[0]: c for c in grpc.StatusCode}


def pattern(n):
    """Reply blobs identical in every peer: byte i is i mod 251."""
    return bytes(i % 251 for i in range(n))


def record():
    P = lab_pb2.Record.Point
    extra = any_pb2.Any(type_url="type.googleapis.com/grpcwire.test.Record.Point",
                        value=P(x=1, y=2).SerializeToString())
    return lab_pb2.Record(
        name="lab", kind=lab_pb2.KIND_DATA, samples=[1, -2, 300, 70000], tags=["a", "résumé"],
        counters={"x": 1, "y": -1}, point=P(x=3, y=-4),
        at=timestamp_pb2.Timestamp(seconds=1724897757, nanos=925436000), extra=extra,
        origin=P(x=-1, y=1), path=[P(x=1, y=1), P(x=2, y=4)], blob=b"\x00\x01\x02\xff",
        id=0x0102030405060708, ratio=0.5, flag=True, big=2**64 - 1, weights=[1.5, -2.25],
        delta=-5)


def same(rec):
    """True when rec equals the canonical record (byte-wise: == on Any logs C++ pool noise)."""
    return rec is not None and (rec.SerializeToString(deterministic=True) ==
                                record().SerializeToString(deterministic=True))
