/* test_rpc: our gRPC server in-process on a free 127.0.0.1 port, our client channel against it, and
 * a raw nghttp2 client for what our own client never sends (wrong content type, GET). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>

#include "common/gw_err.h"
#include "common/gw_mem.h"
#include "rpc/rpc.h"
#include "rpc/rpc_int.h"
#include "gw_test.h"

static char g_addr[128];

/* ---------------------------------------------------------------- test service */

/* /test.T/Sleep: the request's name is a delay in ms; replies after it. */
static void sleep_fire(rpc_call *c, void *u)
{
    gw_buf b;
    gw_buf_init(&b, 0);
    rpc_hello_encode(&b, "slept", 5);
    rpc_call_send(c, b.data, b.len);
    rpc_call_finish(c, RPC_OK, NULL);
    gw_buf_free(&b);
}

static void sleep_msg(rpc_call *c, const uint8_t *p, size_t n, void *u)
{
    const char *s;
    size_t len;
    char num[16] = "0";
    if (rpc_hello_decode(p, n, &s, &len) == 0 && len < sizeof num) {
        memcpy(num, s, len);
        num[len] = 0;
    }
    rpc_call_timer(c, atoi(num), sleep_fire, NULL);
}

/* /test.T/Echo: the request bytes back; x-compress asks for a gzip reply; x-echo comes back as a
 * header, x-echo-bin as a trailer; x-status: finish with that status and a message. */
static void echo_msg(rpc_call *c, const uint8_t *p, size_t n, void *u)
{
    size_t len;
    const char *v;
    if (rpc_call_metadata(c, "x-compress", NULL))
        rpc_call_set_compress(c, 1);
    if ((v = rpc_call_metadata(c, "x-echo", &len)))
        rpc_call_add_header(c, "x-echo", v, len);
    if ((v = rpc_call_metadata(c, "x-echo-bin", &len)))
        rpc_call_add_trailer(c, "x-echo-bin", v, len);
    if ((v = rpc_call_metadata(c, "x-status", &len))) {
        rpc_call_finish(c, atoi(v), "caf\xc3\xa9 100% \n done");
        return;
    }
    rpc_call_send(c, p, n);
    rpc_call_finish(c, RPC_OK, NULL);
}

static int g_ended;
static void count_end(rpc_call *c, void *u)
{
    __atomic_add_fetch(&g_ended, 1, __ATOMIC_SEQ_CST);
}

static rpc_server *start_server(void)
{
    rpc_server_opts o;
    rpc_server_opts_default(&o);
    o.threads = 2;
    rpc_server *s = rpc_server_new(&o);
    GW_CHECK(s != NULL);
    GW_CHECK_INT(rpc_greeter_register(s), 0);
    GW_CHECK_INT(rpc_interop_register(s), 0);
    rpc_handler sl = {"/test.T/Sleep", RPC_UNARY, sleep_msg, NULL, count_end, NULL};
    rpc_handler ec = {"/test.T/Echo", RPC_UNARY, echo_msg, NULL, count_end, NULL};
    GW_CHECK_INT(rpc_server_add(s, &sl), 0);
    GW_CHECK_INT(rpc_server_add(s, &ec), 0);
    GW_CHECK_INT(rpc_server_add(s, &ec), GW_EINVAL);
    GW_CHECK_INT(rpc_server_listen(s, "127.0.0.1:0", g_addr, sizeof g_addr), 0);
    GW_CHECK(strncmp(g_addr, "127.0.0.1:", 10) == 0);
    GW_CHECK_INT(rpc_server_start(s), 0);
    return s;
}

/* ---------------------------------------------------------------- client helpers */

typedef struct result {
    int status;
    char message[256];
    int n_msgs;
    char text[8][64];   /* first decoded HelloReply texts */
    gw_buf body;        /* last message */
    int done;
    int trailers_only;
    char hdr_echo[64], hdr_encoding[16], trl_echo_bin[64], hdr_accept[64];
} result;

static void res_init(result *r)
{
    memset(r, 0, sizeof *r);
    r->status = -1;
    gw_buf_init(&r->body, 0);
}

static void on_message(rpc_ccall *c, const uint8_t *p, size_t n, void *u)
{
    result *r = u;
    const char *s;
    size_t len;
    if (r->n_msgs < 8 && rpc_hello_decode(p, n, &s, &len) == 0)
        snprintf(r->text[r->n_msgs], sizeof r->text[0], "%.*s", (int)len, s);
    r->n_msgs++;
    gw_buf_reset(&r->body);
    gw_buf_append(&r->body, p, n);
}

static void copy_md(const rpc_md *md, size_t n, const char *name, char *out, size_t cap)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(md[i].name, name))
            snprintf(out, cap, "%s", md[i].value);
}

static void on_done(rpc_ccall *c, int status, const char *message, void *u)
{
    result *r = u;
    const rpc_md *h, *t;
    size_t nh = rpc_ccall_headers(c, &h), nt = rpc_ccall_trailers(c, &t);
    r->status = status;
    snprintf(r->message, sizeof r->message, "%s", message);
    r->done = 1;
    r->trailers_only = nt == 0 && rpc_mdlist_get(&(rpc_mdlist){(rpc_md *)h, nh, nh, 0, 0, NULL}, "grpc-status");
    copy_md(h, nh, "x-echo", r->hdr_echo, sizeof r->hdr_echo);
    copy_md(h, nh, "grpc-encoding", r->hdr_encoding, sizeof r->hdr_encoding);
    copy_md(h, nh, "grpc-accept-encoding", r->hdr_accept, sizeof r->hdr_accept);
    copy_md(t, nt, "x-echo-bin", r->trl_echo_bin, sizeof r->trl_echo_bin);
}

static const rpc_client_cbs CBS = {NULL, on_message, on_done, NULL};

static rpc_ccall *start(rpc_channel *ch, const char *path, const rpc_call_opts *o, result *r)
{
    rpc_client_cbs cb = CBS;
    cb.u = r;
    res_init(r);
    return rpc_channel_call(ch, path, o, &cb);
}

static void send_hello(rpc_ccall *c, const char *name)
{
    gw_buf b;
    gw_buf_init(&b, 0);
    rpc_hello_encode(&b, name, strlen(name));
    GW_CHECK_INT(rpc_ccall_send(c, b.data ? b.data : (const uint8_t *)"", b.len), 0);
    gw_buf_free(&b);
}

/* One call, one request message, to completion. */
static void one_call(rpc_channel *ch, const char *path, const rpc_call_opts *o, const uint8_t *p,
                     size_t n, result *r)
{
    rpc_ccall *c = start(ch, path, o, r);
    GW_CHECK(c != NULL);
    if (!c)
        return;
    GW_CHECK_INT(rpc_ccall_send(c, p, n), 0);
    GW_CHECK_INT(rpc_ccall_close_send(c), 0);
    GW_CHECK_INT(rpc_channel_run(ch, 10000), 0);
    GW_CHECK(r->done);
}

/* ---------------------------------------------------------------- cases */

static void test_codecs(void)
{
    static const struct {
        const char *raw, *b64;
    } b64[] = {{"", ""}, {"f", "Zg"}, {"fo", "Zm8"}, {"foo", "Zm9v"}, {"foob", "Zm9vYg"},
               {"\xff\xfe\x00", "//4A"}};
    for (size_t i = 0; i < sizeof b64 / sizeof b64[0]; i++) {
        gw_buf b;
        gw_buf_init(&b, 0);
        size_t rl = i == 5 ? 3 : strlen(b64[i].raw);
        GW_CHECK_INT(rpc_base64_encode((const uint8_t *)b64[i].raw, rl, &b), 0);
        GW_CHECK_MEM(b.data, b.len, b64[i].b64, strlen(b64[i].b64));
        gw_buf_reset(&b);
        GW_CHECK_INT(rpc_base64_decode(b64[i].b64, strlen(b64[i].b64), &b), 0);
        GW_CHECK_MEM(b.data, b.len, b64[i].raw, rl);
        gw_buf_free(&b);
    }
    /* Padded input decodes the same as unpadded. */
    gw_buf b;
    gw_buf_init(&b, 0);
    GW_CHECK_INT(rpc_base64_decode("Zm8=", 4, &b), 0);
    GW_CHECK_MEM(b.data, b.len, "fo", 2);
    gw_buf_reset(&b);
    GW_CHECK_INT(rpc_base64_decode("Zg==", 4, &b), 0);
    GW_CHECK_MEM(b.data, b.len, "f", 1);
    GW_CHECK_INT(rpc_base64_decode("Z", 1, &b), GW_EPARSE);
    GW_CHECK_INT(rpc_base64_decode("Z!==", 4, &b), GW_EPARSE);
    gw_buf_reset(&b);
    GW_CHECK_INT(rpc_percent_encode("a b%\n\xc3\xa9", &b), 0);
    GW_CHECK_STR((char *)b.data, "a b%25%0A%C3%A9");
    gw_buf_free(&b);

    char t[32];
    rpc_timeout_encode(250, t, sizeof t);
    GW_CHECK_STR(t, "250m");
    rpc_timeout_encode(100000000, t, sizeof t);
    GW_CHECK_STR(t, "100000S");

    static const struct {
        const char *in, *host, *port;
        int rc;
    } addrs[] = {{"[::]:50051", "::", "50051", 0},   {"127.0.0.1:80", "127.0.0.1", "80", 0},
                 {":8080", "", "8080", 0},           {"localhost", "localhost", "50051", 0},
                 {"::1", "::1", "50051", 0},         {"[::1]", "::1", "50051", 0},
                 {"host:port", "", "", GW_EINVAL},   {"[::1", "", "", GW_EINVAL}};
    for (size_t i = 0; i < sizeof addrs / sizeof addrs[0]; i++) {
        char h[64], p[16];
        GW_CHECK_INT(rpc_addr_split(addrs[i].in, "50051", h, sizeof h, p, sizeof p), addrs[i].rc);
        if (addrs[i].rc == 0) {
            GW_CHECK_STR(h, addrs[i].host);
            GW_CHECK_STR(p, addrs[i].port);
        }
    }
    GW_CHECK_INT(rpc_list_has("identity, deflate,gzip", 22, "gzip"), 1);
    GW_CHECK_INT(rpc_list_has("identity,gzipx", 14, "gzip"), 0);

    /* HelloRequest: the seed's request body is 0a 05 "world". */
    gw_buf_init(&b, 0);
    GW_CHECK_INT(rpc_hello_encode(&b, "world", 5), 0);
    GW_CHECK_MEM(b.data, b.len, "\x0a\x05world", 7);
    const char *s;
    size_t len;
    GW_CHECK_INT(rpc_hello_decode(b.data, b.len, &s, &len), 0);
    GW_CHECK_MEM(s, len, "world", 5);
    GW_CHECK_INT(rpc_hello_decode((const uint8_t *)"\x0a\x09wo", 4, &s, &len), GW_EPARSE);
    GW_CHECK_INT(rpc_hello_decode((const uint8_t *)"", 0, &s, &len), 0);
    GW_CHECK_INT(len, 0);
    gw_buf_free(&b);
}

static int g_fired[5], g_nfired;

static void fire(void *u)
{
    if (g_nfired < 5)
        g_fired[g_nfired++] = *(int *)u;
}

/* Timers fire in deadline order; a cancelled one never fires. */
static void test_timers(void)
{
    static const int64_t plan[5] = {30, 10, 20, 0, 40};
    static int ids[5] = {0, 1, 2, 3, 4};
    rpc_loop *l = rpc_loop_new();
    rpc_timer t[5];
    memset(t, 0, sizeof t);
    for (int i = 0; i < 5; i++) {
        t[i].fn = fire;
        t[i].u = &ids[i];
        GW_CHECK_INT(rpc_timer_arm(l, &t[i], plan[i]), 0);
    }
    rpc_timer_cancel(l, &t[4]);
    int64_t end = rpc_now_ms() + 500;
    while (g_nfired < 4 && rpc_now_ms() < end)
        rpc_loop_once(l, 50);
    rpc_loop_once(l, 60);
    GW_CHECK_INT(g_nfired, 4);
    GW_CHECK_INT(g_fired[0], 3);
    GW_CHECK_INT(g_fired[1], 1);
    GW_CHECK_INT(g_fired[2], 2);
    GW_CHECK_INT(g_fired[3], 0);
    rpc_loop_del(l);
}

static void test_unary_and_streams(rpc_channel *ch)
{
    result r;
    gw_buf b;
    gw_buf_init(&b, 0);
    rpc_hello_encode(&b, "world", 5);
    one_call(ch, "/helloworld.Greeter/SayHello", NULL, b.data, b.len, &r);
    GW_CHECK_INT(r.status, 0);
    GW_CHECK_INT(r.n_msgs, 1);
    GW_CHECK_STR(r.text[0], "Hello world");
    gw_buf_free(&r.body);

    char *msg = NULL;
    gw_buf out;
    gw_buf_init(&out, 0);
    GW_CHECK_INT(rpc_unary(ch, "/helloworld.Greeter/SayHello", b.data, b.len, NULL, &out, &msg), 0);
    GW_CHECK_MEM(out.data, out.len, "\x0a\x0bHello world", 13);
    GW_CHECK_STR(msg, "");
    gw_free(msg);
    gw_buf_free(&out);

    one_call(ch, "/helloworld.Greeter/SayHelloStreamReply", NULL, b.data, b.len, &r);
    GW_CHECK_INT(r.status, 0);
    GW_CHECK_INT(r.n_msgs, 3);
    GW_CHECK_STR(r.text[0], "Hello world #0");
    GW_CHECK_STR(r.text[2], "Hello world #2");
    gw_buf_free(&r.body);
    gw_buf_free(&b);

    /* Bidi: one reply per request, in order. */
    rpc_ccall *c = start(ch, "/helloworld.Greeter/SayHelloBidiStream", NULL, &r);
    GW_CHECK(c != NULL);
    const char *names[] = {"a", "b", "c", "d", "e"};
    for (int i = 0; i < 5; i++) {
        send_hello(c, names[i]);
        rpc_channel_run(ch, 20); /* let it interleave */
    }
    rpc_ccall_close_send(c);
    GW_CHECK_INT(rpc_channel_run(ch, 10000), 0);
    GW_CHECK_INT(r.status, 0);
    GW_CHECK_INT(r.n_msgs, 5);
    GW_CHECK_STR(r.text[0], "Hello a");
    GW_CHECK_STR(r.text[4], "Hello e");
    gw_buf_free(&r.body);

    /* A unary method given no request message: INTERNAL. */
    c = start(ch, "/helloworld.Greeter/SayHello", NULL, &r);
    rpc_ccall_close_send(c);
    GW_CHECK_INT(rpc_channel_run(ch, 10000), 0);
    GW_CHECK_INT(r.status, RPC_INTERNAL);
    gw_buf_free(&r.body);
}

static void test_errors(rpc_channel *ch)
{
    result r;
    gw_buf b;
    gw_buf_init(&b, 0);
    rpc_hello_encode(&b, "500", 3);

    /* Deadline: the client gives up at 50 ms; the status is DEADLINE_EXCEEDED. */
    rpc_call_opts o;
    memset(&o, 0, sizeof o);
    o.timeout_ms = 50;
    int64_t t0 = rpc_now_ms();
    one_call(ch, "/test.T/Sleep", &o, b.data, b.len, &r);
    GW_CHECK_INT(r.status, RPC_DEADLINE_EXCEEDED);
    GW_CHECK(rpc_now_ms() - t0 < 400);
    gw_buf_free(&r.body);

    /* The server's own deadline (our client sets none here): Trailers-Only status 4. */
    rpc_md to[1] = {{"grpc-timeout", "50m", 3}};
    memset(&o, 0, sizeof o);
    o.metadata = to;
    o.n_metadata = 1;
    t0 = rpc_now_ms();
    one_call(ch, "/test.T/Sleep", &o, b.data, b.len, &r);
    GW_CHECK_INT(r.status, RPC_DEADLINE_EXCEEDED);
    GW_CHECK(r.trailers_only);
    GW_CHECK(rpc_now_ms() - t0 < 400);
    gw_buf_free(&r.body);

    /* An encoding we cannot decode: 12 with grpc-accept-encoding. */
    rpc_md enc[1] = {{"grpc-encoding", "snappy", 6}};
    o.metadata = enc;
    one_call(ch, "/helloworld.Greeter/SayHello", &o, b.data, b.len, &r);
    GW_CHECK_INT(r.status, RPC_UNIMPLEMENTED);
    GW_CHECK_STR(r.hdr_accept, "identity,deflate,gzip");
    gw_buf_free(&r.body);

    /* Unknown method and service: Trailers-Only UNIMPLEMENTED. */
    one_call(ch, "/helloworld.Greeter/Nope", NULL, b.data, b.len, &r);
    GW_CHECK_INT(r.status, RPC_UNIMPLEMENTED);
    GW_CHECK(r.trailers_only);
    GW_CHECK_STR(r.message, "unknown method Nope for service helloworld.Greeter");
    gw_buf_free(&r.body);
    one_call(ch, "/no.Such/Thing", NULL, b.data, b.len, &r);
    GW_CHECK_INT(r.status, RPC_UNIMPLEMENTED);
    GW_CHECK_STR(r.message, "unknown service no.Such");
    gw_buf_free(&r.body);

    /* Status with a message that needs percent-encoding comes back decoded. */
    rpc_md md[2] = {{"x-status", "9", 1}};
    memset(&o, 0, sizeof o);
    o.metadata = md;
    o.n_metadata = 1;
    one_call(ch, "/test.T/Echo", &o, b.data, b.len, &r);
    GW_CHECK_INT(r.status, RPC_FAILED_PRECONDITION);
    GW_CHECK_STR(r.message, "caf\xc3\xa9 100% \n done");
    gw_buf_free(&r.body);

    /* Over 4 MiB: RESOURCE_EXHAUSTED from the server. */
    size_t big = RPC_MAX_MESSAGE + 1;
    uint8_t *p = gw_calloc(1, big);
    one_call(ch, "/test.T/Echo", NULL, p, big, &r);
    GW_CHECK_INT(r.status, RPC_RESOURCE_EXHAUSTED);
    gw_buf_free(&r.body);
    /* ... and from the client, for a reply over its own limit. */
    memset(&o, 0, sizeof o);
    o.max_recv = 1000;
    one_call(ch, "/test.T/Echo", &o, p, 2000, &r);
    GW_CHECK_INT(r.status, RPC_RESOURCE_EXHAUSTED);
    gw_buf_free(&r.body);
    gw_free(p);
    gw_buf_free(&b);

    /* The connection is still good afterwards. */
    gw_buf_init(&b, 0);
    rpc_hello_encode(&b, "again", 5);
    one_call(ch, "/helloworld.Greeter/SayHello", NULL, b.data, b.len, &r);
    GW_CHECK_INT(r.status, 0);
    GW_CHECK_STR(r.text[0], "Hello again");
    gw_buf_free(&r.body);
    gw_buf_free(&b);
}

static void test_gzip_and_metadata(rpc_channel *ch)
{
    result r;
    size_t n = 200000;
    uint8_t *p = gw_malloc(n);
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(i * 7 / 13);
    rpc_md md[3] = {{"x-compress", "1", 1}, {"x-echo", "hello", 5}, {"x-echo-bin", "\x00\x01\xff", 3}};
    rpc_call_opts o;
    memset(&o, 0, sizeof o);
    o.gzip = 1;
    o.metadata = md;
    o.n_metadata = 3;
    one_call(ch, "/test.T/Echo", &o, p, n, &r);
    GW_CHECK_INT(r.status, 0);
    GW_CHECK_MEM(r.body.data, r.body.len, p, n);
    GW_CHECK_STR(r.hdr_encoding, "gzip");
    GW_CHECK_STR(r.hdr_echo, "hello");
    GW_CHECK_STR(r.trl_echo_bin, "AAH/"); /* base64 on the wire, unpadded */
    gw_buf_free(&r.body);
    gw_free(p);
}

static void test_concurrent(rpc_channel *ch)
{
    enum { N = 300 };
    result *r = gw_calloc(N, sizeof *r);
    for (int i = 0; i < N; i++) {
        char nm[16];
        snprintf(nm, sizeof nm, "n%d", i);
        rpc_ccall *c = start(ch, "/helloworld.Greeter/SayHello", NULL, &r[i]);
        GW_CHECK(c != NULL);
        send_hello(c, nm);
        rpc_ccall_close_send(c);
    }
    GW_CHECK_INT(rpc_channel_run(ch, 20000), 0);
    int ok = 0;
    for (int i = 0; i < N; i++) {
        char want[32];
        snprintf(want, sizeof want, "Hello n%d", i);
        ok += r[i].status == 0 && r[i].n_msgs == 1 && !strcmp(r[i].text[0], want);
        gw_buf_free(&r[i].body);
    }
    GW_CHECK_INT(ok, N);
    gw_free(r);
}

/* ---------------------------------------------------------------- raw nghttp2 client */

typedef struct raw {
    int fd;
    int status;
    int closed;
    int grpc_status;
} raw;

static ssize_t raw_send(nghttp2_session *s, const uint8_t *d, size_t n, int f, void *u)
{
    raw *r = u;
    return send(r->fd, d, n, MSG_NOSIGNAL);
}

static int raw_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nl,
                      const uint8_t *value, size_t vl, uint8_t fl, void *u)
{
    raw *r = u;
    if (nl == 7 && !memcmp(name, ":status", 7))
        r->status = atoi((const char *)value);
    if (nl == 11 && !memcmp(name, "grpc-status", 11))
        r->grpc_status = atoi((const char *)value);
    return 0;
}

static int raw_close(nghttp2_session *s, int32_t sid, uint32_t err, void *u)
{
    ((raw *)u)->closed = 1;
    return 0;
}

static ssize_t raw_body(nghttp2_session *s, int32_t sid, uint8_t *buf, size_t len, uint32_t *fl,
                        nghttp2_data_source *src, void *u)
{
    memcpy(buf, "hello, not grpc\n", 16);
    *fl |= NGHTTP2_DATA_FLAG_EOF;
    return 16;
}

static int connect_to(const char *addr)
{
    char host[64], port[16];
    struct sockaddr_in sa;
    rpc_addr_split(addr, "50051", host, sizeof host, port, sizeof port);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)atoi(port));
    inet_pton(AF_INET, host, &sa.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Sends one request (method, content type) and returns the HTTP status received. */
static raw raw_request(const char *method, const char *ctype)
{
    raw r = {connect_to(g_addr), 0, 0, -1};
    nghttp2_session_callbacks *cb;
    nghttp2_session *s;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_send_callback(cb, raw_send);
    nghttp2_session_callbacks_set_on_header_callback(cb, raw_header);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, raw_close);
    nghttp2_session_client_new(&s, cb, &r);
    nghttp2_submit_settings(s, NGHTTP2_FLAG_NONE, NULL, 0);
    char auth[128];
    snprintf(auth, sizeof auth, "%s", g_addr);
    nghttp2_nv nv[] = {
        {(uint8_t *)":method", (uint8_t *)method, 7, strlen(method), 0},
        {(uint8_t *)":scheme", (uint8_t *)"http", 7, 4, 0},
        {(uint8_t *)":path", (uint8_t *)"/helloworld.Greeter/SayHello", 5, 28, 0},
        {(uint8_t *)":authority", (uint8_t *)auth, 10, strlen(auth), 0},
        {(uint8_t *)"content-type", (uint8_t *)ctype, 12, strlen(ctype), 0},
    };
    nghttp2_data_provider dp = {{0}, raw_body};
    nghttp2_submit_request(s, NULL, nv, 5, strcmp(method, "POST") ? NULL : &dp, NULL);
    int64_t end = rpc_now_ms() + 5000;
    while (!r.closed && rpc_now_ms() < end && nghttp2_session_send(s) == 0) {
        uint8_t buf[4096];
        struct timeval tv = {0, 200000};
        setsockopt(r.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ssize_t k = recv(r.fd, buf, sizeof buf, 0);
        if (k == 0)
            break;
        if (k > 0 && nghttp2_session_mem_recv(s, buf, (size_t)k) < 0)
            break;
    }
    nghttp2_session_del(s);
    nghttp2_session_callbacks_del(cb);
    close(r.fd);
    return r;
}

static void test_http_refusals(void)
{
    raw r = raw_request("POST", "text/plain");
    GW_CHECK_INT(r.status, 415);
    GW_CHECK_INT(r.closed, 1);
    r = raw_request("GET", "application/grpc");
    GW_CHECK_INT(r.status, 405);
    r = raw_request("POST", "application/grpcx");
    GW_CHECK_INT(r.status, 415);
    /* application/grpc+proto is gRPC: the text body reads as a prefix announcing ~1.7 GB. */
    r = raw_request("POST", "application/grpc+proto");
    GW_CHECK_INT(r.status, 200);
    GW_CHECK_INT(r.grpc_status, RPC_RESOURCE_EXHAUSTED);
}

/* ---------------------------------------------------------------- graceful shutdown */

static void test_graceful_shutdown(rpc_server *s)
{
    char why[128];
    rpc_channel *ch = rpc_channel_new(g_addr, why, sizeof why);
    GW_CHECK(ch != NULL);
    if (!ch)
        return;
    result r;
    gw_buf b;
    gw_buf_init(&b, 0);
    rpc_hello_encode(&b, "300", 3);
    rpc_ccall *c = start(ch, "/test.T/Sleep", NULL, &r);
    rpc_ccall_send(c, b.data, b.len);
    rpc_ccall_close_send(c);
    gw_buf_free(&b);
    GW_CHECK_INT(rpc_channel_run(ch, 100), GW_ETIMEOUT); /* the call is in flight */
    rpc_server_shutdown(s);
    rpc_channel_run(ch, 10000);
    GW_CHECK_INT(r.status, RPC_OK);
    GW_CHECK_STR(r.text[0], "slept");
    gw_buf_free(&r.body);
    rpc_server_wait(s); /* returns: every thread finished its connections */
    rpc_channel_del(ch);
    /* Nobody listens any more. */
    GW_CHECK(rpc_channel_new(g_addr, why, sizeof why) == NULL);
}

/* grpc.testing.TestService: every client case against our own server, then server details the
 * cases do not reach (interval_us pacing, HalfDuplexCall, expect_compressed, bad sizes). */
static void test_interop(rpc_channel *ch)
{
    for (size_t i = 0; rpc_interop_cases[i]; i++) {
        char why[256] = "";
        int rc = rpc_interop_client(g_addr, rpc_interop_cases[i], why, sizeof why);
        if (rc)
            fprintf(stderr, "interop case %s: %s\n", rpc_interop_cases[i], why);
        GW_CHECK_INT(rc, 0);
    }
    char why[64];
    GW_CHECK_INT(rpc_interop_client(g_addr, "no_such_case", why, sizeof why), 1);

    result r;
    /* StreamingOutputCallRequest { response_parameters { size 3 interval_us 30000 } x2 } */
    static const uint8_t paced[] = {0x12, 0x06, 0x08, 0x03, 0x10, 0xb0, 0xea, 0x01,
                                    0x12, 0x06, 0x08, 0x03, 0x10, 0xb0, 0xea, 0x01};
    int64_t t0 = rpc_now_ms();
    one_call(ch, "/grpc.testing.TestService/StreamingOutputCall", NULL, paced, sizeof paced, &r);
    GW_CHECK_INT(r.status, RPC_OK);
    GW_CHECK_INT(r.n_msgs, 2);
    GW_CHECK(rpc_now_ms() - t0 >= 60);
    /* StreamingOutputCallResponse { payload { body: 3 zeros } } */
    GW_CHECK_INT(r.body.len, 7);
    if (r.body.len == 7)
        GW_CHECK(memcmp(r.body.data, "\x0a\x05\x12\x03\0\0\0", 7) == 0);
    gw_buf_free(&r.body);

    /* HalfDuplexCall: two requests, the answers come only after the half-close. */
    static const uint8_t one[] = {0x12, 0x02, 0x08, 0x01};
    rpc_ccall *c = start(ch, "/grpc.testing.TestService/HalfDuplexCall", NULL, &r);
    GW_CHECK(c != NULL);
    if (c) {
        GW_CHECK_INT(rpc_ccall_send(c, one, sizeof one), 0);
        GW_CHECK_INT(rpc_ccall_send(c, one, sizeof one), 0);
        GW_CHECK_INT(rpc_channel_run(ch, 100), GW_ETIMEOUT);
        GW_CHECK_INT(r.n_msgs, 0);
        GW_CHECK_INT(rpc_ccall_close_send(c), 0);
        GW_CHECK_INT(rpc_channel_run(ch, 10000), 0);
        GW_CHECK_INT(r.status, RPC_OK);
        GW_CHECK_INT(r.n_msgs, 2);
    }
    gw_buf_free(&r.body);

    /* SimpleRequest { expect_compressed { value: true } } sent uncompressed: INVALID_ARGUMENT. */
    static const uint8_t expect_z[] = {0x42, 0x02, 0x08, 0x01};
    one_call(ch, "/grpc.testing.TestService/UnaryCall", NULL, expect_z, sizeof expect_z, &r);
    GW_CHECK_INT(r.status, RPC_INVALID_ARGUMENT);
    gw_buf_free(&r.body);
    /* ... and gzip'd it passes; response_compressed { true } gets a gzip response. */
    static const uint8_t expect_z2[] = {0x42, 0x02, 0x08, 0x01, 0x32, 0x02, 0x08, 0x01, 0x10, 0x64};
    rpc_call_opts o;
    memset(&o, 0, sizeof o);
    o.gzip = 1;
    one_call(ch, "/grpc.testing.TestService/UnaryCall", &o, expect_z2, sizeof expect_z2, &r);
    GW_CHECK_INT(r.status, RPC_OK);
    GW_CHECK_STR(r.hdr_encoding, "gzip");
    GW_CHECK_INT(r.body.len, 104); /* 0a 66 12 64 + 100 zeros */
    gw_buf_free(&r.body);
    /* response_size beyond 4 MiB: INVALID_ARGUMENT; a malformed request: INTERNAL. */
    static const uint8_t huge[] = {0x10, 0x80, 0x80, 0x80, 0x04};
    one_call(ch, "/grpc.testing.TestService/UnaryCall", NULL, huge, sizeof huge, &r);
    GW_CHECK_INT(r.status, RPC_INVALID_ARGUMENT);
    gw_buf_free(&r.body);
    static const uint8_t junk[] = {0x1a, 0x09, 0x00};
    one_call(ch, "/grpc.testing.TestService/UnaryCall", NULL, junk, sizeof junk, &r);
    GW_CHECK_INT(r.status, RPC_INTERNAL);
    gw_buf_free(&r.body);
    /* 4 x 3 MiB replies: beyond 8 MiB queued the server waits for flow control to drain. */
    static const uint8_t big[] = {0x12, 0x05, 0x08, 0x80, 0x80, 0xc0, 0x01, 0x12, 0x05, 0x08, 0x80,
                                  0x80, 0xc0, 0x01, 0x12, 0x05, 0x08, 0x80, 0x80, 0xc0, 0x01, 0x12,
                                  0x05, 0x08, 0x80, 0x80, 0xc0, 0x01};
    one_call(ch, "/grpc.testing.TestService/StreamingOutputCall", NULL, big, sizeof big, &r);
    GW_CHECK_INT(r.status, RPC_OK);
    GW_CHECK_INT(r.n_msgs, 4);
    GW_CHECK_INT(r.body.len, 3145728 + 4 + 2 + 4);
    gw_buf_free(&r.body);
    /* StreamingInputCall with no messages: aggregated size 0 (an empty message). */
    c = start(ch, "/grpc.testing.TestService/StreamingInputCall", NULL, &r);
    GW_CHECK(c != NULL);
    if (c) {
        GW_CHECK_INT(rpc_ccall_close_send(c), 0);
        GW_CHECK_INT(rpc_channel_run(ch, 10000), 0);
        GW_CHECK_INT(r.status, RPC_OK);
        GW_CHECK_INT(r.n_msgs, 1);
        GW_CHECK_INT(r.body.len, 0);
    }
    gw_buf_free(&r.body);
}

int main(void)
{
    test_codecs();
    test_timers();
    rpc_server *s = start_server();
    char why[128] = "";
    rpc_channel *ch = rpc_channel_new(g_addr, why, sizeof why);
    GW_CHECK(ch != NULL);
    if (ch) {
        test_unary_and_streams(ch);
        test_errors(ch);
        test_gzip_and_metadata(ch);
        test_concurrent(ch);
        test_interop(ch);
        rpc_channel_del(ch);
    }
    test_http_refusals();
    test_graceful_shutdown(s);
    rpc_server_del(s);
    GW_CHECK(g_ended > 0);
    GW_TEST_END();
}
