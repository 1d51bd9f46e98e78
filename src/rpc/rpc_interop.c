/* rpc_interop: grpc.testing.TestService (gRPC's src/proto/grpc/testing/test.proto) on our server,
 * and our client's side of gRPC's interop cases (doc/interop-test-descriptions.md), so that
 * gRPC's own interop clients and servers can test us both ways. Messages are hand-coded on
 * pb_wire: only the fields the interop cases use. Payloads are zeros (COMPRESSABLE). */
#include <stdio.h>
#include <string.h>

#include "common/gw_err.h"
#include "common/gw_mem.h"
#include "pb/pb_wire.h"
#include "rpc/rpc.h"
#include "rpc/rpc_int.h"

#define SVC "/grpc.testing.TestService/"
#define MAX_PAYLOAD (RPC_MAX_MESSAGE - 64) /* a response must fit the client's default limit */
#define MAX_STEPS 10000                    /* queued response parameters per call */
#define MAX_PENDING (8u << 20) /* output queued behind flow control before we wait for it */
#define PENDING_POLL_MS 5
#define ECHO_INITIAL "x-grpc-test-echo-initial"
#define ECHO_TRAILING "x-grpc-test-echo-trailing-bin"

/* ---------------------------------------------------------------- messages */

/* The fields of SimpleRequest, StreamingInputCallRequest and StreamingOutputCallRequest we use.
 * Field numbers differ between them; see parse_req. */
typedef struct step {
    int32_t size, interval_us;
    int compressed; /* -1 unset */
    int waited;     /* the interval has passed */
} step;

typedef struct req {
    int32_t response_size;
    size_t payload_len;
    int has_status;
    int32_t st_code;
    const uint8_t *st_msg;
    size_t st_len;
    int response_compressed, expect_compressed; /* BoolValue: -1 unset */
    const uint8_t *params[64];                   /* ResponseParameters (streaming output) */
    size_t params_len[64], n_params;
} req;

enum { K_SIMPLE, K_INPUT, K_OUTPUT };

/* Walk one message; fn sees each field. Returns 0 or GW_EPARSE. */
static int walk(const uint8_t *p, size_t n, int (*fn)(const pb_field *f, void *u), void *u)
{
    while (n > 0) {
        pb_field f;
        ptrdiff_t k = pb_field_parse(p, n, &f);
        if (k <= 0)
            return GW_EPARSE;
        int rc = fn(&f, u);
        if (rc)
            return rc;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static int is_len(const pb_field *f) { return f->wire_type == PB_WT_LEN; }

static int f_payload(const pb_field *f, void *u)
{
    if (f->number == 2 && is_len(f))
        *(size_t *)u = (size_t)f->u;
    return 0;
}

static int f_bool(const pb_field *f, void *u)
{
    if (f->number == 1 && f->wire_type == PB_WT_VARINT)
        *(int *)u = f->u != 0;
    return 0;
}

static int f_status(const pb_field *f, void *u)
{
    req *r = u;
    if (f->number == 1 && f->wire_type == PB_WT_VARINT)
        r->st_code = (int32_t)f->u;
    else if (f->number == 2 && is_len(f)) {
        r->st_msg = f->bytes;
        r->st_len = (size_t)f->u;
    }
    return 0;
}

static int bool_value(const pb_field *f, int *out)
{
    *out = 0; /* a present BoolValue with no field is false */
    return is_len(f) ? walk(f->bytes, (size_t)f->u, f_bool, out) : GW_EPARSE;
}

typedef struct walk_ctx {
    req *r;
    int kind;
} walk_ctx;

static int f_req(const pb_field *f, void *u)
{
    walk_ctx *w = u;
    req *r = w->r;
    int num = (int)f->number;
    if (w->kind == K_INPUT) {
        if (num == 1 && is_len(f))
            return walk(f->bytes, (size_t)f->u, f_payload, &r->payload_len);
        if (num == 2)
            return bool_value(f, &r->expect_compressed);
        return 0;
    }
    if (num == 3 && is_len(f))
        return walk(f->bytes, (size_t)f->u, f_payload, &r->payload_len);
    if (num == 7 && is_len(f)) {
        r->has_status = 1;
        return walk(f->bytes, (size_t)f->u, f_status, r);
    }
    if (w->kind == K_SIMPLE) {
        if (num == 2 && f->wire_type == PB_WT_VARINT)
            r->response_size = (int32_t)f->u;
        else if (num == 6)
            return bool_value(f, &r->response_compressed);
        else if (num == 8)
            return bool_value(f, &r->expect_compressed);
        return 0;
    }
    if (num == 2 && is_len(f)) {
        if (r->n_params == sizeof r->params / sizeof r->params[0])
            return GW_ECAP;
        r->params[r->n_params] = f->bytes;
        r->params_len[r->n_params++] = (size_t)f->u;
    }
    return 0;
}

static int parse_req(const uint8_t *p, size_t n, int kind, req *r)
{
    memset(r, 0, sizeof *r);
    r->response_compressed = r->expect_compressed = -1;
    walk_ctx w = {r, kind};
    return walk(p, n, f_req, &w);
}

static int f_param(const pb_field *f, void *u)
{
    step *s = u;
    if (f->number == 1 && f->wire_type == PB_WT_VARINT)
        s->size = (int32_t)f->u;
    else if (f->number == 2 && f->wire_type == PB_WT_VARINT)
        s->interval_us = (int32_t)f->u;
    else if (f->number == 3)
        return bool_value(f, &s->compressed);
    return 0;
}

/* Payload { type = COMPRESSABLE (0, not on the wire); body = size zeros } as field `number`. */
static int put_payload(gw_buf *b, uint32_t number, size_t size)
{
    size_t inner = 0;
    if (size) {
        gw_buf t;
        gw_buf_init(&t, 0);
        int rc = pb_put_varint(&t, size);
        inner = 1 + t.len + size;
        gw_buf_free(&t);
        if (rc)
            return rc;
    }
    int rc = pb_put_tag(b, number, PB_WT_LEN);
    if (!rc)
        rc = pb_put_varint(b, inner);
    if (!rc && size) {
        rc = pb_put_tag(b, 2, PB_WT_LEN);
        if (!rc)
            rc = pb_put_varint(b, size);
        if (!rc)
            rc = gw_buf_reserve(b, size);
        if (!rc) {
            memset(b->data + b->len, 0, size);
            b->len += size;
        }
    }
    return rc;
}

/* ---------------------------------------------------------------- server */

typedef struct ist {
    step *q;
    size_t head, n, cap;
    int kind;         /* enum rpc_kind of the method */
    int half_duplex;  /* HalfDuplexCall: answer only after the client half-closed */
    int half_closed;
    int waiting;      /* a timer runs for q[head] */
    int64_t aggregated;
    int st_pending;
    int32_t st_code;
    char *st_msg;
} ist;

static ist *state(rpc_call *c, int kind)
{
    ist *s = rpc_call_user(c);
    if (s)
        return s;
    s = gw_calloc(1, sizeof *s);
    if (!s) {
        rpc_call_finish(c, RPC_RESOURCE_EXHAUSTED, "out of memory");
        return NULL;
    }
    s->kind = kind;
    rpc_call_set_user(c, s);
    /* Echo metadata as the interop spec's custom_metadata case wants it. */
    size_t len;
    const char *v = rpc_call_metadata(c, ECHO_INITIAL, &len);
    if (v)
        rpc_call_add_header(c, ECHO_INITIAL, v, len);
    v = rpc_call_metadata(c, ECHO_TRAILING, &len);
    if (v)
        rpc_call_add_trailer(c, ECHO_TRAILING, v, len);
    return s;
}

static void on_end(rpc_call *c, void *u)
{
    ist *s = rpc_call_user(c);
    if (s) {
        gw_free(s->q);
        gw_free(s->st_msg);
        gw_free(s);
        rpc_call_set_user(c, NULL);
    }
}

/* Common request checks: expect_compressed and the echoed status. 0 to go on, -1 finished. */
static int check_req(rpc_call *c, ist *s, const req *r)
{
    if (r->expect_compressed >= 0 && r->expect_compressed != rpc_call_compressed(c)) {
        rpc_call_finish(c, RPC_INVALID_ARGUMENT,
                        r->expect_compressed ? "expected a compressed request" : "expected an uncompressed request");
        return -1;
    }
    if (r->has_status && r->st_code != 0) {
        gw_free(s->st_msg);
        s->st_msg = gw_malloc(r->st_len + 1);
        if (!s->st_msg) {
            rpc_call_finish(c, RPC_RESOURCE_EXHAUSTED, "out of memory");
            return -1;
        }
        if (r->st_len)
            memcpy(s->st_msg, r->st_msg, r->st_len);
        s->st_msg[r->st_len] = 0;
        s->st_code = r->st_code;
        s->st_pending = 1;
    }
    return 0;
}

static void bad_request(rpc_call *c, int rc)
{
    rpc_call_finish(c, rc == GW_ECAP ? RPC_RESOURCE_EXHAUSTED : RPC_INTERNAL,
                    rc == GW_ECAP ? "too many response parameters" : "grpc: error unmarshalling request");
}

static int send_payload_msg(rpc_call *c, size_t size)
{
    gw_buf b;
    gw_buf_init(&b, 0);
    int rc = put_payload(&b, 1, size);
    if (!rc)
        rc = rpc_call_send(c, b.data ? b.data : (const uint8_t *)"", b.len);
    gw_buf_free(&b);
    if (rc)
        rpc_call_finish(c, RPC_INTERNAL, "cannot send the response");
    return rc;
}

static void end_ok_or_status(rpc_call *c, ist *s)
{
    if (s->st_pending)
        rpc_call_finish(c, s->st_code, s->st_msg);
    else
        rpc_call_finish(c, RPC_OK, NULL);
}

static void pump(rpc_call *c, ist *s);

static void step_timer(rpc_call *c, void *u)
{
    ist *s = rpc_call_user(c);
    if (!s)
        return;
    s->waiting = 0;
    if (s->head < s->n)
        s->q[s->head].waited = 1;
    pump(c, s);
}

/* Send queued responses in order, waiting interval_us before each; finish when done. */
static void pump(rpc_call *c, ist *s)
{
    if (s->waiting || (s->half_duplex && !s->half_closed))
        return;
    while (s->head < s->n) {
        step *st = &s->q[s->head];
        if (st->interval_us > 0 && !st->waited) {
            s->waiting = 1;
            rpc_call_timer(c, (st->interval_us + 999) / 1000, step_timer, NULL);
            return;
        }
        if (rpc_call_pending(c) > 0 && rpc_call_pending(c) + (size_t)st->size > MAX_PENDING) {
            /* A client that asks for much and reads slowly: wait for the output to drain
             * rather than buffer without bound. */
            s->waiting = 1;
            rpc_call_timer(c, PENDING_POLL_MS, step_timer, NULL);
            return;
        }
        if (st->compressed >= 0)
            rpc_call_set_compress(c, st->compressed); /* only the first send decides, per call */
        s->head++;
        if (send_payload_msg(c, (size_t)st->size) != 0)
            return;
    }
    s->head = s->n = 0;
    if (s->st_pending || s->kind == RPC_SERVER_STREAMING || s->half_closed)
        end_ok_or_status(c, s);
}

static void empty_call(rpc_call *c, const uint8_t *p, size_t n, void *u)
{
    if (!state(c, RPC_UNARY))
        return;
    if (rpc_call_send(c, (const uint8_t *)"", 0) == 0)
        rpc_call_finish(c, RPC_OK, NULL);
}

static void unary_call(rpc_call *c, const uint8_t *p, size_t n, void *u)
{
    ist *s = state(c, RPC_UNARY);
    req r;
    int rc;
    if (!s)
        return;
    if ((rc = parse_req(p, n, K_SIMPLE, &r)) != 0) {
        bad_request(c, rc);
        return;
    }
    if (check_req(c, s, &r) != 0)
        return;
    if (s->st_pending) {
        end_ok_or_status(c, s);
        return;
    }
    if (r.response_size < 0 || r.response_size > (int32_t)MAX_PAYLOAD) {
        rpc_call_finish(c, RPC_INVALID_ARGUMENT, "response_size out of range");
        return;
    }
    if (r.response_compressed >= 0)
        rpc_call_set_compress(c, r.response_compressed);
    if (send_payload_msg(c, (size_t)r.response_size) == 0)
        rpc_call_finish(c, RPC_OK, NULL);
}

static void input_message(rpc_call *c, const uint8_t *p, size_t n, void *u)
{
    ist *s = state(c, RPC_CLIENT_STREAMING);
    req r;
    int rc;
    if (!s)
        return;
    if ((rc = parse_req(p, n, K_INPUT, &r)) != 0) {
        bad_request(c, rc);
        return;
    }
    if (check_req(c, s, &r) != 0)
        return;
    s->aggregated += (int64_t)r.payload_len;
}

static void input_done(rpc_call *c, void *u)
{
    ist *s = state(c, RPC_CLIENT_STREAMING);
    gw_buf b;
    if (!s)
        return;
    gw_buf_init(&b, 0);
    int rc = s->aggregated ? pb_put_uint(&b, 1, (uint64_t)s->aggregated) : 0;
    if (!rc)
        rc = rpc_call_send(c, b.data ? b.data : (const uint8_t *)"", b.len);
    gw_buf_free(&b);
    if (rc)
        rpc_call_finish(c, RPC_INTERNAL, "cannot send the response");
    else
        rpc_call_finish(c, RPC_OK, NULL);
}

/* A StreamingOutputCallRequest for StreamingOutputCall, FullDuplexCall and HalfDuplexCall. */
static void output_message(rpc_call *c, const uint8_t *p, size_t n, int kind, int half)
{
    ist *s = state(c, kind);
    req r;
    int rc;
    if (!s)
        return;
    s->half_duplex = half;
    if ((rc = parse_req(p, n, K_OUTPUT, &r)) != 0) {
        bad_request(c, rc);
        return;
    }
    if (check_req(c, s, &r) != 0)
        return;
    if (s->n + r.n_params > MAX_STEPS) {
        bad_request(c, GW_ECAP);
        return;
    }
    if (s->n + r.n_params > s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        while (cap < s->n + r.n_params)
            cap *= 2;
        step *q = gw_realloc(s->q, cap * sizeof *q);
        if (!q) {
            rpc_call_finish(c, RPC_RESOURCE_EXHAUSTED, "out of memory");
            return;
        }
        s->q = q;
        s->cap = cap;
    }
    for (size_t i = 0; i < r.n_params; i++) {
        step st = {0, 0, -1, 0};
        if ((rc = walk(r.params[i], r.params_len[i], f_param, &st)) != 0) {
            bad_request(c, rc);
            return;
        }
        if (st.size < 0 || st.size > (int32_t)MAX_PAYLOAD) {
            rpc_call_finish(c, RPC_INVALID_ARGUMENT, "response size out of range");
            return;
        }
        s->q[s->n++] = st;
    }
    pump(c, s);
}

static void output_call(rpc_call *c, const uint8_t *p, size_t n, void *u)
{
    output_message(c, p, n, RPC_SERVER_STREAMING, 0);
}

static void full_duplex(rpc_call *c, const uint8_t *p, size_t n, void *u)
{
    output_message(c, p, n, RPC_BIDI, 0);
}

static void half_duplex(rpc_call *c, const uint8_t *p, size_t n, void *u)
{
    output_message(c, p, n, RPC_BIDI, 1);
}

static void duplex_done(rpc_call *c, void *u)
{
    ist *s = state(c, RPC_BIDI);
    if (!s)
        return;
    s->half_closed = 1;
    pump(c, s);
}

int rpc_interop_register(rpc_server *s)
{
    const rpc_handler hs[] = {
        {SVC "EmptyCall", RPC_UNARY, empty_call, NULL, on_end, NULL},
        {SVC "UnaryCall", RPC_UNARY, unary_call, NULL, on_end, NULL},
        {SVC "StreamingInputCall", RPC_CLIENT_STREAMING, input_message, input_done, on_end, NULL},
        {SVC "StreamingOutputCall", RPC_SERVER_STREAMING, output_call, NULL, on_end, NULL},
        {SVC "FullDuplexCall", RPC_BIDI, full_duplex, duplex_done, on_end, NULL},
        {SVC "HalfDuplexCall", RPC_BIDI, half_duplex, duplex_done, on_end, NULL},
    };
    for (size_t i = 0; i < sizeof hs / sizeof hs[0]; i++) {
        int rc = rpc_server_add(s, &hs[i]);
        if (rc)
            return rc;
    }
    return 0;
}

/* ---------------------------------------------------------------- client cases */

#define LARGE_REQ 271828
#define LARGE_RESP 314159
#define CASE_TIMEOUT_MS 20000
#define INITIAL_VALUE "test_initial_metadata_value"
#define TRAILING_VALUE "\x0a\x0b\x0a\x0b\x0a\x0b"
#define SPECIAL_MSG "\t\ntest with whitespace\r\nand Unicode BMP \xe2\x98\xba and non-BMP \xf0\x9f\x98\x88\t\n"

static const int32_t req_sizes[4] = {27182, 8, 1828, 45904};
static const int32_t resp_sizes[4] = {31415, 9, 2653, 58979};

const char *const rpc_interop_cases[] = {
    "empty_unary", "large_unary", "client_streaming", "server_streaming", "ping_pong",
    "empty_stream", "timeout_on_sleeping_server", "custom_metadata", "status_code_and_message",
    "special_status_message", "unimplemented_method", "unimplemented_service",
    "cancel_after_begin", "cancel_after_first_response", NULL,
};

typedef struct cctx {
    rpc_channel *ch;
    rpc_ccall *call;
    int done, status;
    char message[256];
    size_t n_msgs;
    size_t last_len;           /* raw bytes of the last reply */
    size_t sizes[8];           /* Payload.body length of each reply (field 1) */
    int64_t aggregated;        /* StreamingInputCallResponse.aggregated_payload_size */
    int ping_pong;             /* send the next request on each reply */
    int cancel_on_first;
    char initial[64];          /* echoed x-grpc-test-echo-initial, "" if none */
    uint8_t trailing[16];
    size_t trailing_len;
    int got_initial, got_trailing;
} cctx;

static int f_reply_payload(const pb_field *f, void *u)
{
    cctx *x = u;
    if (f->number == 1 && is_len(f)) {
        size_t len = 0;
        walk(f->bytes, (size_t)f->u, f_payload, &len);
        if (x->n_msgs - 1 < sizeof x->sizes / sizeof x->sizes[0])
            x->sizes[x->n_msgs - 1] = len;
    } else if (f->number == 1 && f->wire_type == PB_WT_VARINT) {
        x->aggregated = (int64_t)f->u;
    }
    return 0;
}

/* SimpleRequest / StreamingOutputCallRequest (kind K_SIMPLE or K_OUTPUT). */
static int build_req(gw_buf *b, int kind, const int32_t *sizes, size_t n_sizes, size_t payload,
                     int st_code, const char *st_msg)
{
    int rc = 0;
    if (kind == K_SIMPLE && n_sizes && sizes[0])
        rc = pb_put_uint(b, 2, (uint64_t)sizes[0]);
    for (size_t i = 0; kind == K_OUTPUT && !rc && i < n_sizes; i++) {
        uint8_t tmp[16];
        gw_buf p;
        gw_buf_init(&p, sizeof tmp);
        rc = pb_put_uint(&p, 1, (uint64_t)sizes[i]);
        if (!rc)
            rc = pb_put_bytes(b, 2, p.data, p.len);
        gw_buf_free(&p);
    }
    if (!rc && payload)
        rc = put_payload(b, 3, payload);
    if (!rc && st_code) {
        gw_buf s;
        gw_buf_init(&s, 0);
        rc = pb_put_uint(&s, 1, (uint64_t)st_code);
        if (!rc && st_msg && *st_msg)
            rc = pb_put_bytes(&s, 2, st_msg, strlen(st_msg));
        if (!rc)
            rc = pb_put_bytes(b, 7, s.data, s.len);
        gw_buf_free(&s);
    }
    return rc;
}

/* A StreamingOutputCallRequest asking for one response of size bytes (none if size < 0). */
static int send_output_req(rpc_ccall *c, int32_t size, size_t payload)
{
    gw_buf b;
    gw_buf_init(&b, 0);
    int rc = build_req(&b, K_OUTPUT, &size, size < 0 ? 0 : 1, payload, 0, NULL);
    if (!rc)
        rc = rpc_ccall_send(c, b.data, b.len);
    gw_buf_free(&b);
    return rc;
}

static void c_message(rpc_ccall *c, const uint8_t *p, size_t n, void *u)
{
    cctx *x = u;
    x->n_msgs++;
    x->last_len = n;
    walk(p, n, f_reply_payload, x);
    if (x->ping_pong) {
        if (x->n_msgs < 4)
            send_output_req(c, resp_sizes[x->n_msgs], (size_t)req_sizes[x->n_msgs]);
        else
            rpc_ccall_close_send(c);
    }
}

static void c_done(rpc_ccall *c, int status, const char *message, void *u)
{
    cctx *x = u;
    const rpc_md *md;
    x->done = 1;
    x->status = status;
    snprintf(x->message, sizeof x->message, "%s", message);
    size_t n = rpc_ccall_headers(c, &md);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(md[i].name, ECHO_INITIAL)) {
            x->got_initial++;
            snprintf(x->initial, sizeof x->initial, "%s", md[i].value);
        }
    n = rpc_ccall_trailers(c, &md);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(md[i].name, ECHO_TRAILING)) {
            gw_buf b;
            gw_buf_init(&b, sizeof x->trailing);
            x->got_trailing++;
            if (rpc_base64_decode(md[i].value, md[i].value_len, &b) == 0) {
                x->trailing_len = b.len;
                if (b.len)
                    memcpy(x->trailing, b.data, b.len);
            }
            gw_buf_free(&b);
        }
    x->call = NULL;
}

static rpc_ccall *start(cctx *x, rpc_channel *ch, const char *path, const rpc_call_opts *o)
{
    memset(x, 0, sizeof *x);
    x->ch = ch;
    rpc_client_cbs cb = {NULL, c_message, c_done, x};
    x->call = rpc_channel_call(ch, path, o, &cb);
    return x->call;
}

/* Drive until the call ends; cancel it after the first reply if asked. */
static int finish_call(cctx *x, char *why, size_t cap)
{
    int64_t end = rpc_now_ms() + CASE_TIMEOUT_MS;
    while (!x->done) {
        int rc = rpc_channel_run(x->ch, x->cancel_on_first ? 5 : 100);
        if (x->cancel_on_first && x->n_msgs > 0 && x->call) {
            rpc_ccall_cancel(x->call);
            x->cancel_on_first = 0;
        }
        if (rc == GW_ECLOSED && !x->done) {
            snprintf(why, cap, "connection lost");
            return 1;
        }
        if (rpc_now_ms() > end) {
            snprintf(why, cap, "no answer within %d ms", CASE_TIMEOUT_MS);
            return 1;
        }
    }
    rpc_channel_run(x->ch, 1000); /* let the RST_STREAM or trailing frames go out */
    return 0;
}

#define FAIL(...) do { snprintf(why, cap, __VA_ARGS__); return 1; } while (0)
#define EXPECT_STATUS(x, want) do { if ((x)->status != (want)) \
    FAIL("status %d (%s), want %d", (x)->status, (x)->message, (want)); } while (0)

static int simple(cctx *x, rpc_channel *ch, const char *method, const rpc_call_opts *o,
                  int32_t resp, size_t payload, int st_code, const char *st_msg, char *why, size_t cap)
{
    gw_buf b;
    gw_buf_init(&b, 0);
    int rc = build_req(&b, K_SIMPLE, &resp, 1, payload, st_code, st_msg);
    if (rc || !start(x, ch, method, o) ||
        rpc_ccall_send(x->call, b.data ? b.data : (const uint8_t *)"", b.len) || rpc_ccall_close_send(x->call)) {
        gw_buf_free(&b);
        FAIL("cannot start %s", method);
    }
    gw_buf_free(&b);
    return finish_call(x, why, cap);
}

static int check_echo(const cctx *x, const char *what, char *why, size_t cap)
{
    if (x->got_initial != 1 || strcmp(x->initial, INITIAL_VALUE) != 0)
        FAIL("%s: %d echoed initial metadata, value '%s'", what, x->got_initial, x->initial);
    if (x->got_trailing != 1 || x->trailing_len != 6 || memcmp(x->trailing, TRAILING_VALUE, 6) != 0)
        FAIL("%s: %d echoed trailing metadata of %zu bytes", what, x->got_trailing, x->trailing_len);
    return 0;
}

static int run_case(rpc_channel *ch, const char *t, char *why, size_t cap)
{
    cctx x;
    rpc_call_opts o;
    memset(&o, 0, sizeof o);
    if (!strcmp(t, "empty_unary")) {
        if (!start(&x, ch, SVC "EmptyCall", NULL) || rpc_ccall_send(x.call, (const uint8_t *)"", 0) ||
            rpc_ccall_close_send(x.call) || finish_call(&x, why, cap))
            return why[0] ? 1 : (snprintf(why, cap, "cannot start"), 1);
        EXPECT_STATUS(&x, RPC_OK);
        if (x.n_msgs != 1 || x.last_len != 0)
            FAIL("%zu replies, last of %zu bytes; want one empty", x.n_msgs, x.last_len);
        return 0;
    }
    if (!strcmp(t, "large_unary")) {
        if (simple(&x, ch, SVC "UnaryCall", NULL, LARGE_RESP, LARGE_REQ, 0, NULL, why, cap))
            return 1;
        EXPECT_STATUS(&x, RPC_OK);
        if (x.n_msgs != 1 || x.sizes[0] != LARGE_RESP)
            FAIL("%zu replies, payload %zu bytes; want 1 of %d", x.n_msgs, x.sizes[0], LARGE_RESP);
        return 0;
    }
    if (!strcmp(t, "client_streaming") || !strcmp(t, "cancel_after_begin")) {
        int cancel = t[0] == 'c' && t[1] == 'a';
        if (!start(&x, ch, SVC "StreamingInputCall", NULL))
            FAIL("cannot start");
        if (cancel) {
            rpc_channel_run(ch, 50); /* the HEADERS go out, then we cancel */
            if (x.call)
                rpc_ccall_cancel(x.call);
            if (finish_call(&x, why, cap))
                return 1;
            EXPECT_STATUS(&x, RPC_CANCELLED);
            return 0;
        }
        for (int i = 0; i < 4; i++) {
            gw_buf b;
            gw_buf_init(&b, 0);
            int rc = put_payload(&b, 1, (size_t)req_sizes[i]);
            if (!rc)
                rc = rpc_ccall_send(x.call, b.data, b.len);
            gw_buf_free(&b);
            if (rc)
                FAIL("send failed");
        }
        rpc_ccall_close_send(x.call);
        if (finish_call(&x, why, cap))
            return 1;
        EXPECT_STATUS(&x, RPC_OK);
        if (x.n_msgs != 1 || x.aggregated != 74922)
            FAIL("aggregated_payload_size %lld, want 74922", (long long)x.aggregated);
        return 0;
    }
    if (!strcmp(t, "server_streaming")) {
        gw_buf b;
        gw_buf_init(&b, 0);
        int rc = build_req(&b, K_OUTPUT, resp_sizes, 4, 0, 0, NULL);
        if (rc || !start(&x, ch, SVC "StreamingOutputCall", NULL) || rpc_ccall_send(x.call, b.data, b.len) ||
            rpc_ccall_close_send(x.call)) {
            gw_buf_free(&b);
            FAIL("cannot start");
        }
        gw_buf_free(&b);
        if (finish_call(&x, why, cap))
            return 1;
        EXPECT_STATUS(&x, RPC_OK);
        if (x.n_msgs != 4)
            FAIL("%zu replies, want 4", x.n_msgs);
        for (int i = 0; i < 4; i++)
            if (x.sizes[i] != (size_t)resp_sizes[i])
                FAIL("reply %d has %zu bytes, want %d", i, x.sizes[i], resp_sizes[i]);
        return 0;
    }
    if (!strcmp(t, "ping_pong") || !strcmp(t, "cancel_after_first_response")) {
        int cancel = t[0] == 'c';
        if (!start(&x, ch, SVC "FullDuplexCall", NULL) || send_output_req(x.call, resp_sizes[0], (size_t)req_sizes[0]))
            FAIL("cannot start");
        x.ping_pong = !cancel;
        x.cancel_on_first = cancel;
        if (finish_call(&x, why, cap))
            return 1;
        if (cancel) {
            EXPECT_STATUS(&x, RPC_CANCELLED);
            if (x.n_msgs != 1)
                FAIL("%zu replies before the cancel, want 1", x.n_msgs);
            return 0;
        }
        EXPECT_STATUS(&x, RPC_OK);
        if (x.n_msgs != 4)
            FAIL("%zu replies, want 4", x.n_msgs);
        for (int i = 0; i < 4; i++)
            if (x.sizes[i] != (size_t)resp_sizes[i])
                FAIL("reply %d has %zu bytes, want %d", i, x.sizes[i], resp_sizes[i]);
        return 0;
    }
    if (!strcmp(t, "empty_stream")) {
        if (!start(&x, ch, SVC "FullDuplexCall", NULL) || rpc_ccall_close_send(x.call))
            FAIL("cannot start");
        if (finish_call(&x, why, cap))
            return 1;
        EXPECT_STATUS(&x, RPC_OK);
        if (x.n_msgs)
            FAIL("%zu replies, want none", x.n_msgs);
        return 0;
    }
    if (!strcmp(t, "timeout_on_sleeping_server")) {
        o.timeout_ms = 1;
        if (!start(&x, ch, SVC "FullDuplexCall", &o))
            FAIL("cannot start");
        send_output_req(x.call, -1, 27182); /* no response asked; may fail if the deadline already passed */
        if (finish_call(&x, why, cap))
            return 1;
        EXPECT_STATUS(&x, RPC_DEADLINE_EXCEEDED);
        return 0;
    }
    if (!strcmp(t, "custom_metadata")) {
        rpc_md md[2] = {{ECHO_INITIAL, INITIAL_VALUE, sizeof INITIAL_VALUE - 1},
                        {ECHO_TRAILING, TRAILING_VALUE, 6}};
        o.metadata = md;
        o.n_metadata = 2;
        if (simple(&x, ch, SVC "UnaryCall", &o, 1, 1, 0, NULL, why, cap))
            return 1;
        EXPECT_STATUS(&x, RPC_OK);
        if (x.n_msgs != 1 || x.sizes[0] != 1)
            FAIL("UnaryCall: %zu replies, payload %zu bytes; want 1 of 1", x.n_msgs, x.sizes[0]);
        if (check_echo(&x, "UnaryCall", why, cap))
            return 1;
        if (!start(&x, ch, SVC "FullDuplexCall", &o) || send_output_req(x.call, 1, 1) ||
            rpc_ccall_close_send(x.call))
            FAIL("cannot start FullDuplexCall");
        if (finish_call(&x, why, cap))
            return 1;
        EXPECT_STATUS(&x, RPC_OK);
        if (x.n_msgs != 1 || x.sizes[0] != 1)
            FAIL("FullDuplexCall: %zu replies, payload %zu bytes; want 1 of 1", x.n_msgs, x.sizes[0]);
        return check_echo(&x, "FullDuplexCall", why, cap);
    }
    if (!strcmp(t, "status_code_and_message") || !strcmp(t, "special_status_message")) {
        const char *msg = t[1] == 't' ? "test status message" : SPECIAL_MSG;
        if (simple(&x, ch, SVC "UnaryCall", NULL, 0, 0, 2, msg, why, cap))
            return 1;
        if (x.status != 2 || strcmp(x.message, msg) != 0)
            FAIL("UnaryCall: status %d message '%s', want 2 '%s'", x.status, x.message, msg);
        if (t[1] != 't')
            return 0;
        gw_buf b;
        gw_buf_init(&b, 0);
        int rc = build_req(&b, K_OUTPUT, NULL, 0, 0, 2, msg);
        if (rc || !start(&x, ch, SVC "FullDuplexCall", NULL) || rpc_ccall_send(x.call, b.data, b.len) ||
            rpc_ccall_close_send(x.call)) {
            gw_buf_free(&b);
            FAIL("cannot start FullDuplexCall");
        }
        gw_buf_free(&b);
        if (finish_call(&x, why, cap))
            return 1;
        if (x.status != 2 || strcmp(x.message, msg) != 0)
            FAIL("FullDuplexCall: status %d message '%s', want 2 '%s'", x.status, x.message, msg);
        return 0;
    }
    if (!strcmp(t, "unimplemented_method") || !strcmp(t, "unimplemented_service")) {
        const char *path = t[14] == 'm' ? SVC "UnimplementedCall"
                                        : "/grpc.testing.UnimplementedService/UnimplementedCall";
        if (!start(&x, ch, path, NULL) || rpc_ccall_send(x.call, (const uint8_t *)"", 0) ||
            rpc_ccall_close_send(x.call))
            FAIL("cannot start");
        if (finish_call(&x, why, cap))
            return 1;
        EXPECT_STATUS(&x, RPC_UNIMPLEMENTED);
        return 0;
    }
    FAIL("unknown test case '%s'", t);
}

int rpc_interop_client(const char *addr, const char *test_case, char *why, size_t why_cap)
{
    why[0] = 0;
    rpc_channel *ch = rpc_channel_new(addr, why, why_cap);
    if (!ch)
        return 1;
    int rc = run_case(ch, test_case, why, why_cap);
    rpc_channel_del(ch);
    return rc;
}
