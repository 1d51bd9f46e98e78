#!/usr/bin/python3
"""grpcio peer server: helloworld.Greeter plus grpcwire.test.Lab, driven by the Control message.
Usage: server.py [--host 127.0.0.1|::1] [--port N]   prints "listening on PORT", stops on SIGTERM."""
import argparse
import signal
import sys
import threading
import time
from concurrent import futures

import common
from common import grpc, helloworld_pb2, helloworld_pb2_grpc, lab_pb2, lab_pb2_grpc
from common import any_pb2, error_details_pb2, status_pb2


class Greeter(helloworld_pb2_grpc.GreeterServicer):
    def SayHello(self, request, context):
        return helloworld_pb2.HelloReply(message="Hello " + request.name)

    def SayHelloStreamReply(self, request, context):
        for i in range(3):
            yield helloworld_pb2.HelloReply(message="Hello %s #%d" % (request.name, i))

    def SayHelloBidiStream(self, request_iterator, context):
        for r in request_iterator:
            yield helloworld_pb2.HelloReply(message="Hello " + r.name)


def sleep(context, ms):
    """Sleep ms milliseconds, or less if the call ends first (deadline, cancel)."""
    end = time.monotonic() + ms / 1000.0
    while context.is_active() and time.monotonic() < end:
        time.sleep(0.01)


def fail(context, c):
    """Abort the call as Control.fail_code asks; with_details adds grpc-status-details-bin."""
    if not c.fail_code:
        return
    code = common.CODES[c.fail_code]
    if c.with_details:
        br = error_details_pb2.BadRequest(field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field="record.name",
                                                        description=c.fail_message)])
        d = any_pb2.Any()
        d.Pack(br)
        st = status_pb2.Status(code=c.fail_code, message=c.fail_message, details=[d])
        context.set_trailing_metadata((("grpc-status-details-bin", st.SerializeToString()),))
    context.abort(code, c.fail_message)


def reply(seq, rec, c, note):
    r = lab_pb2.LabReply(seq=seq, note=note)
    if rec is not None and rec.ByteSize():
        r.record.CopyFrom(rec)
    if c.reply_size > 0:
        r.record.blob = common.pattern(c.reply_size)
    return r


def compress(context, c):
    if c.compress_reply:
        context.set_compression(grpc.Compression.Gzip)


class Lab(lab_pb2_grpc.LabServicer):
    def Unary(self, request, context):
        c = request.control
        sleep(context, c.sleep_ms)
        fail(context, c)
        compress(context, c)
        return reply(request.seq, request.record, c, "unary")

    def ServerStream(self, request, context):
        c = request.control
        sleep(context, c.sleep_ms)
        fail(context, c)
        compress(context, c)
        for i in range(max(c.reply_count, 1)):
            if i:
                sleep(context, c.interval_ms)
            if not context.is_active():
                return
            yield reply(i, request.record, c, "server_stream")

    def ClientStream(self, request_iterator, context):
        n, last = 0, lab_pb2.LabRequest()
        for r in request_iterator:
            n, last = n + 1, r
        fail(context, last.control)
        compress(context, last.control)
        return reply(n, last.record, last.control, "received %d" % n)

    def Bidi(self, request_iterator, context):
        for r in request_iterator:
            fail(context, r.control)
            yield reply(r.seq, r.record, r.control, "bidi")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=50051)
    a = ap.parse_args()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=64), options=common.OPTIONS)
    helloworld_pb2_grpc.add_GreeterServicer_to_server(Greeter(), server)
    lab_pb2_grpc.add_LabServicer_to_server(Lab(), server)
    host = "[%s]" % a.host if ":" in a.host else a.host
    port = server.add_insecure_port("%s:%d" % (host, a.port))
    if port == 0:
        sys.stderr.write("py server: cannot listen on %s:%d\n" % (host, a.port))
        return 1
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    server.start()
    print("listening on %d" % port, flush=True)
    while not stop.wait(0.2):
        pass
    server.stop(1).wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
