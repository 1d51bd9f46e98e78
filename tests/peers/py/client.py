#!/usr/bin/python3
"""grpcio peer client: client.py ADDR SCENARIO...  prints "call <method> status=<CODE> ..." per
call; exit 0 only when every call ends as the scenario expects."""
import sys
import time

import common
from common import grpc, helloworld_pb2, helloworld_pb2_grpc, lab_pb2, lab_pb2_grpc
from common import error_details_pb2, status_pb2

M_UNARY = "/grpcwire.test.Lab/Unary"
M_SSTREAM = "/grpcwire.test.Lab/ServerStream"
M_CSTREAM = "/grpcwire.test.Lab/ClientStream"
M_BIDI = "/grpcwire.test.Lab/Bidi"
M_MISSING = "/grpcwire.test.Lab/Missing"
SCENARIOS = ["greeter", "unary", "server_stream", "client_stream", "bidi", "large", "gzip",
             "error_details", "unimplemented", "deadline", "concurrent", "cancel", "load"]
OK = grpc.StatusCode.OK
failed = False


def report(method, code, want, message=None, extra=""):
    global failed
    line = "call %s status=%s" % (method, code.name)
    if code != OK:
        line += ' message="%s"' % (message or "")
    if extra:
        line += " " + extra
    if code != want:
        line += " UNEXPECTED(want %s)" % want.name
        failed = True
    print(line, flush=True)


def check(cond, what):
    global failed
    if not cond:
        print("check failed: " + what, flush=True)
        failed = True


def req(seq, control=None):
    r = lab_pb2.LabRequest(seq=seq, record=common.record())
    if control is not None:
        r.control.CopyFrom(control)
    return r


def call(method, fn, want=OK, extra_fn=None):
    """Run fn(); report its status. Returns fn's result or the RpcError."""
    try:
        res = fn()
    except grpc.RpcError as e:
        report(method, e.code(), want, e.details())
        return e
    report(method, OK, want, extra=extra_fn(res) if extra_fn else "")
    return res


def greeter(ch):
    stub = helloworld_pb2_grpc.GreeterStub(ch)
    r = call("/helloworld.Greeter/SayHello",
             lambda: stub.SayHello(helloworld_pb2.HelloRequest(name="world"), timeout=10))
    if isinstance(r, helloworld_pb2.HelloReply):
        print("Greeting: " + r.message, flush=True)
        check(r.message == "Hello world", "greeting text")


def run(ch, lab, sc):
    C = lab_pb2.Control
    if sc == "greeter":
        greeter(ch)
    elif sc == "unary":
        r = call(M_UNARY, lambda: lab.Unary(req(1), timeout=10), extra_fn=lambda r: "seq=%d" % r.seq)
        check(common.same(getattr(r, "record", None)), "unary echo")
    elif sc == "server_stream":
        n = []
        call(M_SSTREAM, lambda: n.extend(lab.ServerStream(req(1, C(reply_count=5, reply_size=16)),
                                                          timeout=10)),
             extra_fn=lambda _: "replies=%d" % len(n))
        check(len(n) == 5, "server_stream reply count")
    elif sc == "client_stream":
        r = call(M_CSTREAM, lambda: lab.ClientStream(iter([req(i) for i in range(5)]), timeout=10),
                 extra_fn=lambda r: "seq=%d" % r.seq)
        check(getattr(r, "seq", -1) == 5, "client_stream count")
    elif sc == "bidi":
        bidi(lab)
    elif sc == "large":
        q = req(1, C(reply_size=1 << 20))
        q.record.blob = common.pattern(1 << 20)
        r = call(M_UNARY, lambda: lab.Unary(q, timeout=10),
                 extra_fn=lambda r: "reply_blob=%d" % len(r.record.blob))
        check(isinstance(r, lab_pb2.LabReply) and len(r.record.blob) == 1 << 20, "large reply size")
    elif sc == "gzip":
        r = call(M_UNARY, lambda: lab.Unary(req(1, C(compress_reply=True)), timeout=10,
                                            compression=grpc.Compression.Gzip),
                 extra_fn=lambda r: "seq=%d" % r.seq)
        check(common.same(getattr(r, "record", None)), "gzip echo")
    elif sc == "error_details":
        error_details(lab)
    elif sc == "unimplemented":
        missing = ch.unary_unary(M_MISSING, request_serializer=lab_pb2.LabRequest.SerializeToString,
                                 response_deserializer=lab_pb2.LabReply.FromString)
        call(M_MISSING, lambda: missing(req(1), timeout=10), want=grpc.StatusCode.UNIMPLEMENTED)
    elif sc == "deadline":
        call(M_UNARY, lambda: lab.Unary(req(1, C(sleep_ms=500)), timeout=0.1),
             want=grpc.StatusCode.DEADLINE_EXCEEDED)
        time.sleep(0.5)
    elif sc == "concurrent":
        fs = [lab.Unary.future(req(i), timeout=10) for i in range(50)]
        for i, f in enumerate(fs):
            r = call(M_UNARY, f.result, extra_fn=lambda r, i=i: "seq=%d" % i)
            check(getattr(r, "seq", -1) == i, "concurrent seq")
    elif sc == "cancel":
        cancel(lab)
    elif sc == "load":
        sys.stderr.write("py client: load runs alone (client.py ADDR load)\n")
        sys.exit(2)
    else:
        sys.stderr.write("py client: unknown scenario %r\n" % sc)
        sys.exit(2)


def bidi(lab):
    # Ping-pong: each request is released only after the previous reply arrived.
    import queue
    q = queue.Queue()
    END = object()

    def gen():
        while True:
            item = q.get()
            if item is END:
                return
            yield item

    got = []

    def go():
        it = lab.Bidi(gen(), timeout=10)
        for i in range(5):
            q.put(req(i))
            r = next(it)
            check(r.seq == i, "bidi seq")
            got.append(r)
        q.put(END)
        for _ in it:
            pass

    call(M_BIDI, go, extra_fn=lambda _: "replies=%d" % len(got))


def error_details(lab):
    c = lab_pb2.Control(fail_code=grpc.StatusCode.INVALID_ARGUMENT.value[0],
                        fail_message=common.FAIL_MESSAGE, with_details=True)
    try:
        lab.Unary(req(1, c), timeout=10)
        report(M_UNARY, OK, grpc.StatusCode.INVALID_ARGUMENT)
        return
    except grpc.RpcError as e:
        nd = 0
        for k, v in e.trailing_metadata() or ():
            if k == "grpc-status-details-bin":
                st = status_pb2.Status.FromString(v)
                for d in st.details:
                    br = error_details_pb2.BadRequest()
                    if d.Unpack(br) and len(br.field_violations) == 1:
                        nd += 1
        report(M_UNARY, e.code(), grpc.StatusCode.INVALID_ARGUMENT, e.details(), "details=%d" % nd)
        check(e.details() == common.FAIL_MESSAGE, "error message text")
        check(nd == 1, "one BadRequest detail")


def cancel(lab):
    it = lab.ServerStream(req(1, lab_pb2.Control(reply_count=100, interval_ms=50)))
    n = 0
    try:
        next(it)
        n = 1
        it.cancel()
        for _ in it:
            pass
        report(M_SSTREAM, OK, grpc.StatusCode.CANCELLED)
    except grpc.RpcError as e:
        report(M_SSTREAM, e.code(), grpc.StatusCode.CANCELLED, e.details(), "replies=%d" % n)
    time.sleep(0.2)


def load(addr):
    """Benchmark traffic, not a check: LOAD_CONC threads over LOAD_CONNS channels (each its own
    connection) loop unary calls for LOAD_SECONDS with a per-call deadline (grpc-timeout varies):
    90% SayHello("world"), 8% Lab/Unary with the canonical record (a few gzip), 2% Lab/Unary
    failing NOT_FOUND with a grpc-message."""
    import os
    import threading

    def env(name, default):
        try:
            v = int(os.environ.get(name, ""))
            return v if v > 0 else default
        except ValueError:
            return default

    secs, conc, nconn = env("LOAD_SECONDS", 5), env("LOAD_CONC", 32), env("LOAD_CONNS", 4)
    # A local subchannel pool per channel: grpcio would otherwise share one connection.
    chans = [grpc.insecure_channel(addr, options=common.OPTIONS + [
        ("grpc.use_local_subchannel_pool", 1), ("grpcwire.load_conn", i)]) for i in range(nconn)]
    for ch in chans:
        grpc.channel_ready_future(ch).result(timeout=10)
    end = time.time() + secs
    totals = [0, 0]
    lock = threading.Lock()
    C = lab_pb2.Control

    def worker(g):
        ch = chans[g % nconn]
        greet, lab = helloworld_pb2_grpc.GreeterStub(ch), lab_pb2_grpc.LabStub(ch)
        n = bad = 0
        i = g
        while time.time() < end:
            t = 2 + (i * 37) % 3000 / 1000.0
            k = (i * 7919) % 100
            want = OK
            try:
                if k < 90:
                    greet.SayHello(helloworld_pb2.HelloRequest(name="world"), timeout=t)
                elif k < 98:
                    gz = grpc.Compression.Gzip if k == 97 and i % 2 == 0 else None
                    lab.Unary(req(i), timeout=t, compression=gz)
                else:
                    want = grpc.StatusCode.NOT_FOUND
                    lab.Unary(req(i, C(fail_code=want.value[0], fail_message="no such record")),
                              timeout=t)
                code = OK
            except grpc.RpcError as e:
                code = e.code()
            n += 1
            bad += code != want
            i += 1
        with lock:
            totals[0] += n
            totals[1] += bad

    ts = [threading.Thread(target=worker, args=(g,)) for g in range(conc)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    for ch in chans:
        ch.close()
    print("load calls=%d unexpected=%d conns=%d conc=%d seconds=%d"
          % (totals[0], totals[1], nconn, conc, secs), flush=True)
    return 1 if totals[1] else 0


def main():
    if len(sys.argv) < 3:
        sys.stderr.write("usage: client.py ADDR SCENARIO...\nscenarios: %s\n" % " ".join(SCENARIOS))
        return 2
    if sys.argv[2:] == ["load"]:
        return load(sys.argv[1])
    ch = grpc.insecure_channel(sys.argv[1], options=common.OPTIONS)
    try:
        grpc.channel_ready_future(ch).result(timeout=10)
    except grpc.FutureTimeoutError:
        sys.stderr.write("py client: cannot connect to %s\n" % sys.argv[1])
        return 1
    lab = lab_pb2_grpc.LabStub(ch)
    for sc in sys.argv[2:]:
        run(ch, lab, sc)
    ch.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
