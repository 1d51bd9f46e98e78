/* rpc_greeter: helloworld.Greeter (gRPC's examples/protos/helloworld.proto) on our server, and
 * the HelloRequest/HelloReply codec on pb_wire. The replies match grpc-go's examples. */
#include <stdio.h>
#include <string.h>

#include "common/gw_err.h"
#include "pb/pb_wire.h"
#include "rpc/rpc.h"

#define STREAM_REPLIES 3

int rpc_hello_encode(gw_buf *b, const char *s, size_t n)
{
    return n ? pb_put_bytes(b, 1, s, n) : 0; /* proto3: an empty string is not on the wire */
}

int rpc_hello_decode(const uint8_t *p, size_t n, const char **s, size_t *len)
{
    *s = "";
    *len = 0;
    while (n > 0) {
        pb_field f;
        ptrdiff_t k = pb_field_parse(p, n, &f);
        if (k <= 0)
            return GW_EPARSE;
        if (f.number == 1) {
            if (f.wire_type != PB_WT_LEN)
                return GW_EPARSE;
            *s = (const char *)f.bytes; /* last one wins, as protobuf merges scalars */
            *len = (size_t)f.u;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Sends "Hello " + name (+ suffix). Returns 0 or finishes the call with an error. Small replies
 * (every real one) are built on the stack: this is the benchmark's hot path. */
static int reply(rpc_call *c, const uint8_t *p, size_t n, const char *suffix)
{
    const char *name;
    size_t len;
    char msg[64];
    if (rpc_hello_decode(p, n, &name, &len) != 0) {
        rpc_call_finish(c, RPC_INTERNAL, "grpc: error unmarshalling request: bad HelloRequest");
        return -1;
    }
    size_t slen = suffix ? strlen(suffix) : 0, tlen = 6 + len + slen;
    int rc;
    if (tlen < 120) {
        uint8_t out[128];
        out[0] = 0x0a; /* field 1, LEN; tlen < 128 is a one-byte varint */
        out[1] = (uint8_t)tlen;
        memcpy(out + 2, "Hello ", 6);
        if (len)
            memcpy(out + 8, name, len);
        if (slen)
            memcpy(out + 8 + len, suffix, slen);
        rc = rpc_call_send(c, out, 2 + tlen);
    } else {
        gw_buf text, out;
        gw_buf_init(&text, 0);
        gw_buf_init(&out, 0);
        rc = gw_buf_append(&text, "Hello ", 6);
        if (!rc && len)
            rc = gw_buf_append(&text, name, len);
        if (!rc && slen)
            rc = gw_buf_append(&text, suffix, slen);
        if (!rc)
            rc = rpc_hello_encode(&out, (const char *)text.data, text.len);
        if (!rc)
            rc = rpc_call_send(c, out.data, out.len);
        gw_buf_free(&text);
        gw_buf_free(&out);
    }
    if (rc) {
        snprintf(msg, sizeof msg, "reply failed: %s", gw_strerror(rc));
        rpc_call_finish(c, RPC_INTERNAL, msg);
        return -1;
    }
    return 0;
}

static void say_hello(rpc_call *c, const uint8_t *p, size_t n, void *u)
{
    if (reply(c, p, n, NULL) == 0)
        rpc_call_finish(c, RPC_OK, NULL);
}

static void say_hello_stream(rpc_call *c, const uint8_t *p, size_t n, void *u)
{
    for (int i = 0; i < STREAM_REPLIES; i++) {
        char suffix[16];
        snprintf(suffix, sizeof suffix, " #%d", i);
        if (reply(c, p, n, suffix) != 0)
            return;
    }
    rpc_call_finish(c, RPC_OK, NULL);
}

static void bidi_message(rpc_call *c, const uint8_t *p, size_t n, void *u)
{
    reply(c, p, n, NULL);
}

static void bidi_done(rpc_call *c, void *u)
{
    rpc_call_finish(c, RPC_OK, NULL);
}

int rpc_greeter_register(rpc_server *s)
{
    const rpc_handler hs[] = {
        {"/helloworld.Greeter/SayHello", RPC_UNARY, say_hello, NULL, NULL, NULL},
        {"/helloworld.Greeter/SayHelloStreamReply", RPC_SERVER_STREAMING, say_hello_stream, NULL,
         NULL, NULL},
        {"/helloworld.Greeter/SayHelloBidiStream", RPC_BIDI, bidi_message, bidi_done, NULL, NULL},
    };
    for (size_t i = 0; i < sizeof hs / sizeof hs[0]; i++) {
        int rc = rpc_server_add(s, &hs[i]);
        if (rc)
            return rc;
    }
    return 0;
}
