/* Tests for grpc_call: calls assembled from hand-built h2_frame_rec sequences (the seed's
 * helloworld call first), status mapping helpers, caps, loss, mid-connection captures. */
#include "gw_test.h"

#include <stdarg.h>
#include <stdlib.h>

#include "common/gw_buf.h"
#include "common/gw_err.h"
#include "common/gw_mem.h"
#include "grpc/grpc_call.h"
#include "grpc/grpc_msg.h"
#include "grpc/grpc_priv.h"

/* ---- what the callbacks saw (copied: the call is freed after on_call_end) ---- */

typedef struct seen_msg {
    int from_client;
    uint32_t index, length;
    int compressed, decoded, truncated, has_data;
    const char *why;
    char encoding[16];
    uint8_t data[64];
    size_t data_len;
    uint64_t first_pkt, last_pkt;
} seen_msg;

typedef struct ended {
    uint32_t stream;
    char method[64], authority[64], grpc_message[64], kind[16];
    int has_method, has_message, is_grpc;
    int http_status, grpc_status, implied, trailers_only, goaway, rst_by_client, complete;
    int64_t rst_code, timeout_ns, t_start, t_first_resp, t_end;
    uint64_t first_pkt, last_pkt;
    uint8_t details[64];
    size_t details_len;
    uint32_t n_req, n_resp;
    uint64_t req_bytes, resp_bytes;
    size_t n_req_headers, n_resp_headers, n_trailers;
    size_t n_msgs;
    int msgs_dropped;
    seen_msg msgs[8];
    size_t n_anom;
    const char *anom[8];
    char hdrs[4096]; /* "name=value;" for every request header, response header and trailer */
} ended;

static ended E[16];
static int n_end, n_start, n_msgcb;
static seen_msg M[256];

static void copy_msg(seen_msg *s, const grpc_msg *m)
{
    memset(s, 0, sizeof *s);
    s->from_client = m->from_client;
    s->index = m->index;
    s->length = m->length;
    s->compressed = m->compressed;
    s->decoded = m->decoded;
    s->truncated = m->truncated;
    s->why = m->why;
    s->has_data = m->data != NULL;
    snprintf(s->encoding, sizeof s->encoding, "%s", m->encoding);
    s->data_len = m->data_len;
    if (m->data)
        memcpy(s->data, m->data, m->data_len < 64 ? m->data_len : 64);
    s->first_pkt = m->first_pkt;
    s->last_pkt = m->last_pkt;
}

static void cb_start(void *u, grpc_call *c) { n_start++; }

static void cb_msg(void *u, grpc_call *c, const grpc_msg *m)
{
    if (n_msgcb < 256)
        copy_msg(&M[n_msgcb], m);
    n_msgcb++;
}

static void cb_end(void *u, grpc_call *c)
{
    if (n_end >= 16) {
        n_end++;
        return;
    }
    ended *e = &E[n_end++];
    memset(e, 0, sizeof *e);
    e->stream = c->stream;
    if ((e->has_method = c->method != NULL))
        snprintf(e->method, sizeof e->method, "%s", c->method);
    if (c->authority)
        snprintf(e->authority, sizeof e->authority, "%s", c->authority);
    if ((e->has_message = c->grpc_message != NULL))
        snprintf(e->grpc_message, sizeof e->grpc_message, "%s", c->grpc_message);
    snprintf(e->kind, sizeof e->kind, "%s", c->kind);
    e->is_grpc = c->is_grpc;
    e->http_status = c->http_status;
    e->grpc_status = c->grpc_status;
    e->implied = c->implied_status;
    e->trailers_only = c->trailers_only;
    e->goaway = c->goaway;
    e->rst_by_client = c->rst_by_client;
    e->complete = c->complete;
    e->rst_code = c->rst_code;
    e->timeout_ns = c->timeout_ns;
    e->t_start = c->t_start;
    e->t_first_resp = c->t_first_resp;
    e->t_end = c->t_end;
    e->first_pkt = c->first_pkt;
    e->last_pkt = c->last_pkt;
    if (c->status_details && c->status_details_len <= 64) {
        memcpy(e->details, c->status_details, c->status_details_len);
        e->details_len = c->status_details_len;
    }
    e->n_req = c->n_req;
    e->n_resp = c->n_resp;
    e->req_bytes = c->req_bytes;
    e->resp_bytes = c->resp_bytes;
    e->n_req_headers = c->n_req_headers;
    e->n_resp_headers = c->n_resp_headers;
    e->n_trailers = c->n_trailers;
    e->n_msgs = c->n_msgs;
    e->msgs_dropped = c->msgs_dropped;
    for (size_t i = 0; i < c->n_msgs && i < 8; i++)
        copy_msg(&e->msgs[i], &c->msgs[i]);
    e->n_anom = c->n_anomalies;
    for (size_t i = 0; i < c->n_anomalies; i++)
        e->anom[i] = c->anomalies[i];
    const grpc_kv *lists[3] = {c->req_headers, c->resp_headers, c->trailers};
    size_t counts[3] = {c->n_req_headers, c->n_resp_headers, c->n_trailers}, o = 0;
    for (int l = 0; l < 3; l++)
        for (size_t i = 0; i < counts[l] && o < sizeof e->hdrs; i++)
            o += (size_t)snprintf(e->hdrs + o, sizeof e->hdrs - o, "%s=%s;", lists[l][i].name,
                                  lists[l][i].value);
}

static int has_anom(const ended *e, const char *what)
{
    for (size_t i = 0; i < e->n_anom; i++)
        if (strcmp(e->anom[i], what) == 0)
            return 1;
    return 0;
}

static const ended *find_end(uint32_t stream)
{
    for (int i = 0; i < n_end && i < 16; i++)
        if (E[i].stream == stream)
            return &E[i];
    return NULL;
}

/* ---- frame builders ---- */

static uint64_t pkt;
static int hide_sender; /* give grpc from_client = -1 */
static int hints;       /* fill in what the HPACK decoder adds: name_static and field_bytes */

static grpc_conn *conn_new(const grpc_opts *o)
{
    n_end = n_start = n_msgcb = 0;
    pkt = 10;
    grpc_callbacks cb = {NULL, cb_start, cb_msg, cb_end};
    return grpc_conn_new(o, &cb, NULL);
}

static void base(h2_frame_rec *r, int from_client, uint8_t type, uint32_t sid, uint8_t flags)
{
    memset(r, 0, sizeof *r);
    pkt++;
    r->dir = from_client ? 0 : 1; /* the client is ep[0] */
    r->from_client = hide_sender ? -1 : from_client;
    r->first_pkt = pkt;
    r->last_pkt = pkt;
    r->ts_ns = (int64_t)pkt * 1000;
    r->f.type = type;
    r->f.flags = flags;
    r->f.stream_id = sid;
}

/* nv: name, value, ..., NULL */
static void H(grpc_conn *g, int from_client, uint32_t sid, int end_stream, const char *const *nv)
{
    hpack_field f[32];
    size_t n = 0;
    memset(f, 0, sizeof f);
    for (; nv[2 * n] && n < 32; n++) {
        f[n].name = nv[2 * n];
        f[n].name_len = strlen(nv[2 * n]);
        f[n].value = nv[2 * n + 1];
        f[n].value_len = strlen(nv[2 * n + 1]);
        f[n].rep = HPACK_INC_NEW_NAME;
        for (uint32_t si = 61; hints && si >= 1; si--) /* the last index with that name */
            if (strcmp(hpack_static_name(si), nv[2 * n]) == 0) {
                f[n].name_static = (uint8_t)si;
                break;
            }
    }
    h2_frame_rec r;
    base(&r, from_client, H2_FRAME_HEADERS, sid,
         (uint8_t)(H2_FLAG_END_HEADERS | (end_stream ? H2_FLAG_END_STREAM : 0)));
    r.has_block = 1;
    r.block_stream = sid;
    r.block_type = H2_FRAME_HEADERS;
    r.block_end_stream = (uint8_t)end_stream;
    r.fields = f;
    r.nfields = n;
    for (size_t i = 0; hints && i < n; i++)
        r.field_bytes += f[i].name_len + f[i].value_len + 2;
    grpc_conn_frame(g, &r);
}

static void D(grpc_conn *g, int from_client, uint32_t sid, int end_stream, const uint8_t *p,
              size_t n)
{
    h2_frame_rec r;
    base(&r, from_client, H2_FRAME_DATA, sid, end_stream ? H2_FLAG_END_STREAM : 0);
    r.f.length = (uint32_t)n;
    r.f.payload = p;
    r.f.data = p;
    r.f.data_len = (uint32_t)n;
    grpc_conn_frame(g, &r);
}

static void DHEX(grpc_conn *g, int from_client, uint32_t sid, int end_stream, const char *hex)
{
    uint8_t b[512];
    size_t n = gw_test_unhex(hex, b, sizeof b);
    D(g, from_client, sid, end_stream, b, n);
}

static void RST(grpc_conn *g, int from_client, uint32_t sid, uint32_t code)
{
    h2_frame_rec r;
    base(&r, from_client, H2_FRAME_RST_STREAM, sid, 0);
    r.f.error_code = code;
    grpc_conn_frame(g, &r);
}

static void GOAWAY(grpc_conn *g, int from_client, uint32_t last, uint32_t code)
{
    h2_frame_rec r;
    base(&r, from_client, H2_FRAME_GOAWAY, 0, 0);
    r.f.error_code = code;
    r.f.last_stream_id = last;
    grpc_conn_frame(g, &r);
}

static void OTHER(grpc_conn *g, int from_client, uint8_t type, uint32_t sid)
{
    h2_frame_rec r;
    base(&r, from_client, type, sid, 0);
    grpc_conn_frame(g, &r);
}

/* One message: prefix + body. */
static size_t msg(uint8_t *out, int flag, const void *body, size_t n)
{
    out[0] = (uint8_t)flag;
    out[1] = (uint8_t)(n >> 24);
    out[2] = (uint8_t)(n >> 16);
    out[3] = (uint8_t)(n >> 8);
    out[4] = (uint8_t)n;
    memcpy(out + 5, body, n);
    return n + 5;
}

static const char *const seed_req[] = {
    ":method", "POST", ":scheme", "http", ":path", "/helloworld.Greeter/SayHello",
    ":authority", "localhost:50051", "content-type", "application/grpc",
    "user-agent", "grpc-go/1.63.0", "te", "trailers", "grpc-timeout", "999250u", NULL};
static const char *const seed_resp[] = {":status", "200", "content-type", "application/grpc", NULL};
static const char *const seed_trl[] = {"grpc-status", "0", "grpc-message", "", NULL};
#define SEED_REQ_MSG "00 00000007 0a05776f726c64"
#define SEED_RESP_MSG "00 0000000d 0a0b48656c6c6f20776f726c64"

/* The seed's call; split > 0 sends each DATA payload as frames of that many bytes. */
static void run_seed(grpc_conn *g, size_t split)
{
    OTHER(g, 1, H2_FRAME_SETTINGS, 0);
    H(g, 1, 1, 0, seed_req);
    uint8_t req[32], resp[32];
    size_t rn = gw_test_unhex(SEED_REQ_MSG, req, sizeof req);
    size_t sn = gw_test_unhex(SEED_RESP_MSG, resp, sizeof resp);
    if (!split) {
        D(g, 1, 1, 1, req, rn);
    } else {
        for (size_t o = 0; o < rn; o += split)
            D(g, 1, 1, o + split >= rn, req + o, o + split > rn ? rn - o : split);
    }
    OTHER(g, 0, H2_FRAME_WINDOW_UPDATE, 0);
    OTHER(g, 0, H2_FRAME_PING, 0);
    H(g, 0, 1, 0, seed_resp);
    if (!split) {
        D(g, 0, 1, 0, resp, sn);
    } else {
        for (size_t o = 0; o < sn; o += split)
            D(g, 0, 1, 0, resp + o, o + split > sn ? sn - o : split);
    }
    H(g, 0, 1, 1, seed_trl);
}

static void check_seed(size_t split)
{
    const ended *e = &E[0];
    GW_CHECK_INT(n_start, 1);
    GW_CHECK_INT(n_end, 1);
    GW_CHECK_INT(e->stream, 1);
    GW_CHECK_STR(e->method, "/helloworld.Greeter/SayHello");
    GW_CHECK_STR(e->authority, "localhost:50051");
    GW_CHECK_STR(e->kind, "grpc");
    GW_CHECK_INT(e->is_grpc, 1);
    GW_CHECK_INT(e->http_status, 200);
    GW_CHECK_INT(e->grpc_status, 0);
    GW_CHECK_STR(grpc_status_name(e->grpc_status), "OK");
    GW_CHECK_INT(e->implied, -1);
    GW_CHECK_INT(e->has_message, 1);
    GW_CHECK_STR(e->grpc_message, "");
    GW_CHECK_INT(e->trailers_only, 0);
    GW_CHECK_INT(e->timeout_ns, 999250000);
    GW_CHECK_INT(e->n_req, 1);
    GW_CHECK_INT(e->n_resp, 1);
    GW_CHECK_INT(e->req_bytes, 7);
    GW_CHECK_INT(e->resp_bytes, 13);
    GW_CHECK_INT(e->n_req_headers, 8);
    GW_CHECK_INT(e->n_resp_headers, 2);
    GW_CHECK_INT(e->n_trailers, 2);
    GW_CHECK_INT(e->complete, 1);
    GW_CHECK_INT(e->rst_code, -1);
    GW_CHECK_INT(e->n_anom, 0);
    GW_CHECK_INT(e->n_msgs, 2);
    GW_CHECK_INT(e->msgs_dropped, 0);
    GW_CHECK_INT(e->msgs[0].from_client, 1);
    GW_CHECK_INT(e->msgs[0].length, 7);
    GW_CHECK_INT(e->msgs[0].decoded, 1);
    GW_CHECK_STR(e->msgs[0].encoding, "identity");
    GW_CHECK_MEM(e->msgs[0].data, e->msgs[0].data_len, "\x0a\x05world", 7);
    GW_CHECK_INT(e->msgs[1].from_client, 0);
    GW_CHECK_INT(e->msgs[1].index, 0);
    GW_CHECK_MEM(e->msgs[1].data, e->msgs[1].data_len, "\x0a\x0bHello world", 13);
    GW_CHECK_INT(n_msgcb, 2);
    /* pkt 11 SETTINGS, 12 request HEADERS: times and packets follow the frames. */
    GW_CHECK_INT(e->t_start, 12000);
    GW_CHECK_INT(e->first_pkt, 12);
    GW_CHECK_INT(e->last_pkt, pkt);
    GW_CHECK_INT(e->t_end, (int64_t)pkt * 1000);
    if (!split) {
        GW_CHECK_INT(e->t_first_resp, 16000); /* after DATA 13, WINDOW_UPDATE 14, PING 15 */
        GW_CHECK_INT(e->msgs[0].first_pkt, 13);
        GW_CHECK_INT(e->msgs[1].first_pkt, 17);
        GW_CHECK_INT(e->msgs[1].last_pkt, 17);
    } else {
        GW_CHECK_INT(e->msgs[0].first_pkt, 13);
        GW_CHECK_INT(e->msgs[0].last_pkt, 13 + (12 + split - 1) / split - 1);
    }
}

static void test_seed(void)
{
    for (int hide = 0; hide <= 1; hide++) {
        size_t splits[] = {0, 1, 2, 5, 11};
        for (size_t i = 0; i < sizeof splits / sizeof splits[0]; i++) {
            hide_sender = hide;
            grpc_conn *g = conn_new(NULL);
            run_seed(g, splits[i]);
            check_seed(splits[i]);
            grpc_conn_close(g, 99999);
            GW_CHECK_INT(n_end, 1);
            grpc_conn_del(g);
        }
    }
    hide_sender = 0;
}

static void test_trailers_only(void)
{
    grpc_conn *g = conn_new(NULL);
    const char *const req[] = {":method", "POST", ":path", "/no.Such/Method", ":authority", "h",
                               "content-type", "application/grpc+proto", NULL};
    const char *const resp[] = {":status", "200", "content-type", "application/grpc",
                                "grpc-status", "12", "grpc-message", "unknown service no.Such",
                                NULL};
    H(g, 1, 1, 0, req);
    DHEX(g, 1, 1, 1, "00 00000000");
    H(g, 0, 1, 1, resp);
    GW_CHECK_INT(n_end, 1);
    const ended *e = &E[0];
    GW_CHECK_STR(e->kind, "grpc+proto");
    GW_CHECK_INT(e->trailers_only, 1);
    GW_CHECK_INT(e->grpc_status, 12);
    GW_CHECK_STR(grpc_status_name(e->grpc_status), "UNIMPLEMENTED");
    GW_CHECK_STR(e->grpc_message, "unknown service no.Such");
    GW_CHECK_INT(e->n_trailers, 4);
    GW_CHECK_INT(e->n_resp_headers, 4);
    GW_CHECK_INT(e->n_req, 1);
    GW_CHECK_INT(e->msgs[0].length, 0);
    GW_CHECK_INT(e->msgs[0].has_data, 1);
    GW_CHECK_INT(e->n_resp, 0);
    GW_CHECK_INT(e->complete, 1);
    GW_CHECK_INT(e->n_anom, 0);
    grpc_conn_del(g);
}

static void test_error_details(void)
{
    grpc_conn *g = conn_new(NULL);
    const char *const req[] = {":method", "POST", ":path", "/a.B/C", ":authority", "h",
                               "content-type", "application/grpc", NULL};
    const char *const trl[] = {"grpc-status", "3", "grpc-message",
                               "%E3%81%82 bad %zz 100%", "grpc-status-details-bin",
                               "CAMSBGZhaWw", NULL};
    H(g, 1, 1, 0, req);
    DHEX(g, 1, 1, 1, "00 00000000");
    H(g, 0, 1, 0, seed_resp);
    H(g, 0, 1, 1, trl);
    const ended *e = &E[0];
    GW_CHECK_INT(n_end, 1);
    GW_CHECK_INT(e->grpc_status, 3);
    GW_CHECK_STR(e->grpc_message, "\xe3\x81\x82 bad %zz 100%");
    GW_CHECK_MEM(e->details, e->details_len, "\x08\x03\x12\x04" "fail", 8);
    GW_CHECK_INT(e->complete, 1);
    /* Padded base64 and a bad one. */
    const char *const trl2[] = {"grpc-status", "x3", "grpc-status-details-bin", "CAMSBGZhaWw=",
                                NULL};
    const char *const trl3[] = {"grpc-status-details-bin", "CA*S", NULL};
    H(g, 1, 3, 1, req);
    H(g, 0, 3, 0, seed_resp);
    H(g, 0, 3, 1, trl2);
    e = find_end(3);
    GW_CHECK(e != NULL);
    if (e) {
        GW_CHECK_INT(e->grpc_status, -1);
        GW_CHECK(has_anom(e, "malformed grpc-status"));
        GW_CHECK_INT(e->implied, 2); /* UNKNOWN: trailers without a usable status */
        GW_CHECK_MEM(e->details, e->details_len, "\x08\x03\x12\x04" "fail", 8);
    }
    H(g, 1, 5, 1, req);
    H(g, 0, 5, 0, seed_resp);
    H(g, 0, 5, 1, trl3);
    e = find_end(5);
    GW_CHECK(e != NULL);
    if (e) {
        GW_CHECK(has_anom(e, "malformed grpc-status-details-bin"));
        GW_CHECK(has_anom(e, "trailers without grpc-status"));
        GW_CHECK_INT(e->details_len, 0);
        GW_CHECK_INT(e->implied, 2);
    }
    grpc_conn_del(g);
}

static void test_gzip(void)
{
    grpc_opts o;
    grpc_opts_default(&o);
    o.max_decompressed = 4096;
    grpc_conn *g = conn_new(&o);
    const char *const req[] = {":method", "POST", ":path", "/z.Z/Z", ":authority", "h",
                               "content-type", "application/grpc", "grpc-encoding", "gzip",
                               "grpc-accept-encoding", "gzip", NULL};
    const char *const resp[] = {":status", "200", "content-type", "application/grpc",
                                "grpc-encoding", "gzip", NULL};
    const char *plain = "compressible compressible compressible compressible";
    gw_buf c;
    gw_buf_init(&c, 0);
    grpc_compress_gzip((const uint8_t *)plain, strlen(plain), &c);
    uint8_t b[20000];
    size_t n = msg(b, 1, c.data, c.len);
    n += msg(b + n, 0, "raw", 3); /* flag 0: not compressed even with grpc-encoding */
    H(g, 1, 1, 0, req);
    D(g, 1, 1, 1, b, n);
    H(g, 0, 1, 0, resp);
    /* corrupt compressed data, then a bomb over max_decompressed */
    n = msg(b, 1, "\x1f\x8b\x08\x00garbage", 11);
    static uint8_t zeros[1 << 20];
    gw_buf_reset(&c);
    grpc_compress_gzip(zeros, sizeof zeros, &c);
    n += msg(b + n, 1, c.data, c.len);
    D(g, 0, 1, 0, b, n);
    H(g, 0, 1, 1, seed_trl);
    const ended *e = &E[0];
    GW_CHECK_INT(n_end, 1);
    GW_CHECK_INT(e->n_req, 2);
    GW_CHECK_INT(e->n_resp, 2);
    GW_CHECK_INT(e->msgs[0].compressed, 1);
    GW_CHECK_INT(e->msgs[0].decoded, 1);
    GW_CHECK_STR(e->msgs[0].encoding, "gzip");
    GW_CHECK_MEM(e->msgs[0].data, e->msgs[0].data_len, plain, strlen(plain));
    GW_CHECK_INT(e->msgs[1].compressed, 0);
    GW_CHECK_MEM(e->msgs[1].data, e->msgs[1].data_len, "raw", 3);
    GW_CHECK_INT(e->msgs[2].decoded, 0);
    GW_CHECK_STR(e->msgs[2].why, "corrupt compressed message");
    GW_CHECK_INT(e->msgs[2].data_len, 11); /* the raw bytes */
    GW_CHECK_INT(e->msgs[3].decoded, 0);
    GW_CHECK_STR(e->msgs[3].why, "decompressed size or ratio over the limit");
    GW_CHECK(has_anom(e, "corrupt compressed message"));
    GW_CHECK_INT(e->complete, 1);
    grpc_conn_del(g);
    gw_buf_free(&c);

    /* Compressed flag without grpc-encoding. */
    g = conn_new(NULL);
    H(g, 1, 1, 0, seed_req);
    DHEX(g, 1, 1, 1, "01 00000002 abcd");
    grpc_conn_close(g, 0);
    e = &E[0];
    GW_CHECK_INT(n_end, 1);
    GW_CHECK(has_anom(e, "compressed flag without grpc-encoding"));
    GW_CHECK_INT(e->msgs[0].decoded, 0);
    GW_CHECK_MEM(e->msgs[0].data, e->msgs[0].data_len, "\xab\xcd", 2);
    GW_CHECK_INT(e->complete, 0); /* closed before the response */
    GW_CHECK_INT(e->implied, -1);
    grpc_conn_del(g);
}

/* Let capture time pass beyond the RST linger: a client's GOAWAY is a frame grpc ignores. */
static void pass_time(grpc_conn *g)
{
    pkt += 1000000;
    GOAWAY(g, 1, 0, 0);
}

static void test_rst_goaway(void)
{
    grpc_conn *g = conn_new(NULL);
    H(g, 1, 1, 0, seed_req);
    DHEX(g, 1, 1, 0, SEED_REQ_MSG);
    DHEX(g, 1, 1, 0, "00 00000010 0102"); /* partial message, then the client cancels */
    RST(g, 1, 1, 8);
    RST(g, 1, 1, 8); /* a second RST for a reset stream is ignored */
    GW_CHECK_INT(n_end, 0); /* the call lingers for frames already in flight */
    pass_time(g);
    DHEX(g, 0, 1, 0, SEED_RESP_MSG); /* DATA after the linger is ignored */
    GW_CHECK_INT(n_start, 1);
    GW_CHECK_INT(n_end, 1);
    const ended *e = &E[0];
    GW_CHECK_INT(e->rst_code, 8);
    GW_CHECK_INT(e->rst_by_client, 1);
    GW_CHECK_INT(e->implied, 1);
    GW_CHECK_STR(grpc_status_name(e->implied), "CANCELLED");
    GW_CHECK_INT(e->n_req, 2);
    GW_CHECK_INT(e->msgs[1].truncated, 1);
    GW_CHECK_INT(e->msgs[1].data_len, 2);
    GW_CHECK_INT(e->complete, 1);
    grpc_conn_del(g);

    /* GOAWAY from the server: streams above last_stream_id are refused. */
    g = conn_new(NULL);
    H(g, 1, 1, 0, seed_req);
    H(g, 1, 3, 0, seed_req);
    H(g, 1, 5, 0, seed_req);
    GOAWAY(g, 1, 0, 0); /* a client's GOAWAY does not touch our calls */
    GW_CHECK_INT(n_end, 0);
    GOAWAY(g, 0, 1, 0);
    GW_CHECK_INT(n_end, 2);
    GW_CHECK_INT(E[0].stream, 3);
    GW_CHECK_INT(E[0].goaway, 1);
    GW_CHECK_INT(E[0].implied, 14);
    GW_CHECK_INT(E[1].stream, 5);
    DHEX(g, 1, 1, 1, SEED_REQ_MSG);
    H(g, 0, 1, 0, seed_resp);
    DHEX(g, 0, 1, 0, SEED_RESP_MSG);
    H(g, 0, 1, 1, seed_trl);
    GW_CHECK_INT(n_end, 3);
    GW_CHECK_INT(E[2].stream, 1);
    GW_CHECK_INT(E[2].goaway, 0);
    GW_CHECK_INT(E[2].complete, 1);
    grpc_conn_del(g);

    /* RST_STREAM mapping of other codes. */
    static const struct {
        uint32_t code;
        int want;
    } t[] = {{0, 13}, {1, 13}, {2, 13}, {7, 14}, {8, 1}, {11, 8}, {12, 7}, {0x1234, 13}};
    g = conn_new(NULL);
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        uint32_t sid = (uint32_t)(2 * i + 1);
        H(g, 1, sid, 0, seed_req);
        RST(g, 0, sid, t[i].code);
        pass_time(g);
        GW_CHECK_INT(E[i].implied, t[i].want);
        GW_CHECK_INT(E[i].rst_by_client, 0);
        GW_CHECK_INT(grpc_status_from_h2_error(t[i].code), t[i].want);
    }
    grpc_conn_del(g);

    /* A client cancelling at its deadline crosses the server's DEADLINE_EXCEEDED trailers on
     * the wire: they belong to the call, which ends as soon as they arrive. */
    const char *const trl4[] = {":status", "200", "content-type", "application/grpc",
                                "grpc-status", "4", NULL};
    g = conn_new(NULL);
    int before = n_end;
    H(g, 1, 1, 0, seed_req);
    DHEX(g, 1, 1, 0, SEED_REQ_MSG);
    RST(g, 1, 1, 8);
    GW_CHECK_INT(n_end, before);
    H(g, 0, 1, 1, trl4);
    GW_CHECK_INT(n_end, before + 1);
    GW_CHECK_INT(E[before].rst_code, 8);
    GW_CHECK_INT(E[before].grpc_status, 4);
    grpc_conn_del(g);
}

static void test_non_grpc(void)
{
    /* A gRPC request answered by something that is not gRPC: 415 text/plain. */
    grpc_conn *g = conn_new(NULL);
    const char *const resp[] = {":status", "415", "content-type", "text/plain", NULL};
    H(g, 1, 1, 0, seed_req);
    DHEX(g, 1, 1, 1, SEED_REQ_MSG);
    H(g, 0, 1, 0, resp);
    const char *body = "invalid gRPC request content-type";
    D(g, 0, 1, 1, (const uint8_t *)body, strlen(body));
    const ended *e = &E[0];
    GW_CHECK_INT(n_end, 1);
    GW_CHECK_INT(e->http_status, 415);
    GW_CHECK_INT(e->grpc_status, -1);
    GW_CHECK_INT(e->implied, 2); /* UNKNOWN */
    GW_CHECK_INT(e->n_resp, 0);
    GW_CHECK_INT(e->resp_bytes, strlen(body));
    GW_CHECK_INT(e->n_anom, 0);
    GW_CHECK_INT(e->complete, 1);
    /* Status from HTTP for the mapped codes. */
    static const int t[][2] = {{400, 13}, {401, 16}, {403, 7}, {404, 12}, {429, 14},
                               {502, 14}, {503, 14}, {504, 14}, {200, 2},  {500, 2}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        GW_CHECK_INT(grpc_status_from_http(t[i][0]), t[i][1]);
    const char *const r503[] = {":status", "503", NULL};
    H(g, 1, 3, 1, seed_req);
    H(g, 0, 3, 1, r503);
    GW_CHECK_INT(E[1].implied, 14);
    grpc_conn_del(g);

    /* Plain HTTP on the same connection: reported, not deframed. */
    g = conn_new(NULL);
    const char *const get[] = {":method", "GET", ":path", "/index.html", ":authority", "w",
                               NULL};
    const char *const ok[] = {":status", "200", "content-type", "text/html", NULL};
    H(g, 1, 1, 1, get);
    H(g, 0, 1, 0, ok);
    DHEX(g, 0, 1, 0, "3c68746d6c3e");
    DHEX(g, 0, 1, 1, "0a");
    e = &E[0];
    GW_CHECK_INT(n_end, 1);
    GW_CHECK_INT(e->is_grpc, 0);
    GW_CHECK_STR(e->kind, "http");
    GW_CHECK_STR(e->method, "/index.html");
    GW_CHECK_INT(e->resp_bytes, 7);
    GW_CHECK_INT(e->n_resp, 0);
    GW_CHECK_INT(e->implied, -1);
    GW_CHECK_INT(e->complete, 1);
    GW_CHECK_INT(e->n_anom, 0);
    grpc_conn_del(g);

    /* Content-types -> kind. */
    static const struct {
        const char *ct, *kind;
        int is_grpc;
    } k[] = {
        {"application/grpc", "grpc", 1},
        {"application/grpc+proto", "grpc+proto", 1},
        {"application/grpc+json", "grpc+json", 1},
        {"application/grpc; charset=utf-8", "grpc", 1},
        {"application/grpc-web", "grpc-web", 1},
        {"application/grpc-web+proto", "grpc-web", 1},
        {"application/grpc-web-text", "grpc-web-text", 1},
        {"application/grpc-web-text+proto", "grpc-web-text", 1},
        {"application/grpcx", "http", 0},
        {"application/json", "http", 0},
    };
    g = conn_new(NULL);
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
        const char *const req[] = {":method", "POST", ":path", "/p", "content-type", k[i].ct,
                                   NULL};
        H(g, 1, (uint32_t)(2 * i + 1), 1, req);
        RST(g, 0, (uint32_t)(2 * i + 1), 0);
        GW_CHECK_STR(E[i].kind, k[i].kind);
        GW_CHECK_INT(E[i].is_grpc, k[i].is_grpc);
    }
    grpc_conn_del(g);
}

static void test_grpc_web(void)
{
    grpc_conn *g = conn_new(NULL);
    const char *const req[] = {":method", "POST", ":path", "/w.W/W", "content-type",
                               "application/grpc-web+proto", NULL};
    const char *const resp[] = {":status", "200", "content-type", "application/grpc-web+proto",
                                NULL};
    H(g, 1, 1, 0, req);
    DHEX(g, 1, 1, 1, SEED_REQ_MSG);
    H(g, 0, 1, 0, resp);
    uint8_t b[128];
    size_t n = gw_test_unhex(SEED_RESP_MSG, b, sizeof b);
    const char *trl = "grpc-status:5\r\ngrpc-message: not%20found\r\n";
    n += msg(b + n, 0x80, trl, strlen(trl));
    D(g, 0, 1, 1, b, n);
    const ended *e = &E[0];
    GW_CHECK_INT(n_end, 1);
    GW_CHECK_STR(e->kind, "grpc-web");
    GW_CHECK_INT(e->n_resp, 1);
    GW_CHECK_INT(e->grpc_status, 5);
    GW_CHECK_STR(e->grpc_message, "not found");
    GW_CHECK_INT(e->n_anom, 0);
    GW_CHECK_INT(e->complete, 1);
    grpc_conn_del(g);
}

static void test_interleaved(void)
{
    grpc_conn *g = conn_new(NULL);
    uint8_t m1[64], m3[64], m5[64];
    size_t n1 = msg(m1, 0, "stream one payload", 18);
    size_t n3 = msg(m3, 0, "three", 5);
    size_t n5 = msg(m5, 0, "five five five", 14);
    H(g, 1, 1, 0, seed_req);
    H(g, 1, 3, 0, seed_req);
    D(g, 1, 1, 0, m1, 4);
    H(g, 1, 5, 0, seed_req);
    D(g, 1, 3, 0, m3, 7);
    D(g, 1, 5, 0, m5, 3);
    D(g, 1, 1, 1, m1 + 4, n1 - 4);
    D(g, 1, 5, 1, m5 + 3, n5 - 3);
    D(g, 1, 3, 1, m3 + 7, n3 - 7);
    H(g, 0, 5, 0, seed_resp);
    H(g, 0, 3, 0, seed_resp);
    D(g, 0, 3, 0, m5, n5);
    H(g, 0, 5, 1, seed_trl);
    H(g, 0, 1, 0, seed_resp);
    H(g, 0, 3, 1, seed_trl);
    H(g, 0, 1, 1, seed_trl);
    GW_CHECK_INT(n_end, 3);
    GW_CHECK_INT(E[0].stream, 5);
    GW_CHECK_INT(E[1].stream, 3);
    GW_CHECK_INT(E[2].stream, 1);
    const ended *e1 = find_end(1), *e3 = find_end(3), *e5 = find_end(5);
    GW_CHECK_MEM(e1->msgs[0].data, e1->msgs[0].data_len, "stream one payload", 18);
    GW_CHECK_MEM(e3->msgs[0].data, e3->msgs[0].data_len, "three", 5);
    GW_CHECK_MEM(e3->msgs[1].data, e3->msgs[1].data_len, "five five five", 14);
    GW_CHECK_INT(e3->msgs[1].from_client, 0);
    GW_CHECK_MEM(e5->msgs[0].data, e5->msgs[0].data_len, "five five five", 14);
    GW_CHECK_INT(e1->complete && e3->complete && e5->complete, 1);
    grpc_conn_del(g);
}

static void test_server_streaming(void)
{
    grpc_conn *g = conn_new(NULL);
    H(g, 1, 1, 0, seed_req);
    DHEX(g, 1, 1, 1, SEED_REQ_MSG);
    H(g, 0, 1, 0, seed_resp);
    static uint8_t all[100 * 40];
    size_t n = 0;
    for (int i = 0; i < 100; i++) {
        char body[32];
        int bl = snprintf(body, sizeof body, "item %d", i);
        n += msg(all + n, 0, body, (size_t)bl);
    }
    /* Frames of odd sizes that cut messages anywhere. */
    size_t off = 0, step = 3;
    while (off < n) {
        size_t c = step < n - off ? step : n - off;
        D(g, 0, 1, 0, all + off, c);
        off += c;
        step = step * 7 % 61 + 1;
    }
    H(g, 0, 1, 1, seed_trl);
    const ended *e = &E[0];
    GW_CHECK_INT(n_end, 1);
    GW_CHECK_INT(e->n_resp, 100);
    GW_CHECK_INT(e->n_msgs, 101);
    GW_CHECK_INT(n_msgcb, 101);
    for (int i = 0; i < 100; i++) {
        char body[32];
        int bl = snprintf(body, sizeof body, "item %d", i);
        GW_CHECK_INT(M[i + 1].index, i);
        GW_CHECK_MEM(M[i + 1].data, M[i + 1].data_len, body, (size_t)bl);
    }
    GW_CHECK_INT(e->complete, 1);
    grpc_conn_del(g);
}

static void test_mid_connection(void)
{
    grpc_conn *g = conn_new(NULL);
    /* The capture begins with response DATA of stream 7 and then its trailers. */
    DHEX(g, 0, 7, 0, SEED_RESP_MSG);
    GW_CHECK_INT(n_start, 1);
    H(g, 0, 7, 1, seed_trl);
    GW_CHECK_INT(n_end, 0); /* the request side has not ended */
    DHEX(g, 1, 7, 1, "");
    GW_CHECK_INT(n_end, 1);
    const ended *e = &E[0];
    GW_CHECK_INT(e->has_method, 0);
    GW_CHECK_INT(e->complete, 0);
    GW_CHECK_INT(e->grpc_status, 0);
    GW_CHECK_INT(e->n_resp, 1);
    GW_CHECK(has_anom(e, "request headers not captured"));
    /* A DATA frame that starts mid-message is dropped until one that can start a message. */
    DHEX(g, 1, 9, 0, "77 6f726c64");
    DHEX(g, 1, 9, 0, SEED_REQ_MSG);
    H(g, 0, 9, 0, seed_resp);
    RST(g, 0, 9, 0);
    pass_time(g);
    e = &E[1];
    GW_CHECK_INT(e->stream, 9);
    GW_CHECK_INT(e->n_req, 1);
    GW_CHECK_INT(e->http_status, 200);
    GW_CHECK_INT(e->complete, 0);
    /* Even streams (push) and stream 0 never make calls. */
    DHEX(g, 0, 2, 1, SEED_RESP_MSG);
    DHEX(g, 0, 0, 1, SEED_RESP_MSG);
    GW_CHECK_INT(n_start, 2);
    grpc_conn_del(g);
}

static void test_lost(void)
{
    grpc_conn *g = conn_new(NULL);
    H(g, 1, 1, 0, seed_req);
    DHEX(g, 1, 1, 1, SEED_REQ_MSG);
    H(g, 0, 1, 0, seed_resp);
    DHEX(g, 0, 1, 0, "00 0000000d 0a0b4865");
    grpc_conn_skip(g, 1, 100); /* server -> client bytes lost */
    DHEX(g, 0, 1, 0, "6c6c6f20776f726c64"); /* the rest: cannot start a message, dropped */
    DHEX(g, 0, 1, 0, SEED_RESP_MSG);
    H(g, 0, 1, 1, seed_trl);
    const ended *e = &E[0];
    GW_CHECK_INT(n_end, 1);
    GW_CHECK(has_anom(e, "bytes lost in capture"));
    GW_CHECK_INT(e->complete, 0);
    GW_CHECK_INT(e->n_resp, 2);
    GW_CHECK_INT(e->msgs[1].truncated, 1);
    GW_CHECK_STR(e->msgs[1].why, "bytes lost in capture");
    GW_CHECK_INT(e->msgs[1].data_len, 4);
    GW_CHECK_INT(e->msgs[2].truncated, 0);
    GW_CHECK_INT(e->msgs[2].length, 13);
    GW_CHECK_INT(e->grpc_status, 0);
    grpc_conn_del(g);
}

static void test_caps(void)
{
    grpc_opts o;
    grpc_opts_default(&o);
    o.max_retained = 20;
    o.max_message = 64;
    o.max_streams = 2;
    o.max_header_bytes = 100;
    grpc_conn *g = conn_new(&o);
    H(g, 1, 1, 0, seed_req);
    DHEX(g, 1, 1, 0, SEED_REQ_MSG);
    DHEX(g, 1, 1, 0, SEED_RESP_MSG);
    DHEX(g, 1, 1, 0, "00 00000001 ff");
    uint8_t big[200];
    memset(big, 0x11, sizeof big);
    uint8_t b[256];
    size_t n = msg(b, 0, big, 100); /* over max_message */
    D(g, 1, 1, 1, b, n);
    H(g, 0, 1, 1, (const char *const[]){":status", "200", "content-type", "application/grpc",
                                        "grpc-status", "0", NULL});
    const ended *e = &E[0];
    GW_CHECK_INT(n_end, 1);
    GW_CHECK_INT(e->n_req, 4);
    GW_CHECK_INT(e->msgs[0].has_data, 1);
    GW_CHECK_INT(e->msgs[1].has_data, 1); /* 7 + 13 = 20 */
    GW_CHECK_INT(e->msgs[2].has_data, 0);
    GW_CHECK_INT(e->msgs[2].length, 1);
    GW_CHECK_INT(e->msgs_dropped, 1);
    GW_CHECK_INT(e->msgs[3].truncated, 1);
    GW_CHECK_INT(e->msgs[3].length, 100);
    GW_CHECK_STR(e->msgs[3].why, "message larger than max_message");
    GW_CHECK_INT(e->req_bytes, 7 + 13 + 1 + 100);
    GW_CHECK(e->n_req_headers < 8);
    GW_CHECK(has_anom(e, "header fields over max_header_bytes were not kept"));
    GW_CHECK_STR(e->method, "/helloworld.Greeter/SayHello"); /* still extracted */

    /* max_streams: the oldest open call is evicted. */
    H(g, 1, 3, 0, seed_req);
    H(g, 1, 5, 0, seed_req);
    H(g, 1, 7, 0, seed_req);
    GW_CHECK_INT(n_end, 2);
    GW_CHECK_INT(E[1].stream, 3);
    GW_CHECK(has_anom(&E[1], "evicted: too many open streams"));
    GW_CHECK_INT(E[1].complete, 0);
    grpc_conn_close(g, 12345);
    GW_CHECK_INT(n_end, 4);
    GW_CHECK_INT(E[2].complete, 0);
    grpc_conn_del(g);

    /* grpc_conn_del with open calls frees them without callbacks. */
    g = conn_new(NULL);
    H(g, 1, 1, 0, seed_req);
    DHEX(g, 1, 1, 0, "00 00000010 01");
    grpc_conn_del(g);
    GW_CHECK_INT(n_end, 0);
    grpc_conn_del(NULL);
}

static void test_anomalies(void)
{
    grpc_conn *g = conn_new(NULL);
    const char *const req[] = {":method", "POST", ":path", "/a/b", "content-type",
                               "application/grpc", "grpc-timeout", "1000000000S", NULL};
    H(g, 1, 1, 0, req);
    DHEX(g, 0, 1, 0, SEED_RESP_MSG);          /* response DATA before response HEADERS */
    DHEX(g, 1, 1, 1, "00 00000007 0a05");     /* truncated at END_STREAM */
    DHEX(g, 1, 1, 0, SEED_REQ_MSG);           /* DATA after END_STREAM */
    H(g, 0, 1, 0, seed_resp);
    DHEX(g, 0, 1, 1, "");                     /* ends without trailers */
    const ended *e = &E[0];
    GW_CHECK_INT(n_end, 1);
    GW_CHECK_INT(e->timeout_ns, -1);
    GW_CHECK(has_anom(e, "malformed grpc-timeout"));
    GW_CHECK(has_anom(e, "DATA before HEADERS"));
    GW_CHECK(has_anom(e, "message truncated at END_STREAM"));
    GW_CHECK(has_anom(e, "DATA after END_STREAM"));
    GW_CHECK(has_anom(e, "response ended without trailers"));
    GW_CHECK_INT(e->implied, 13); /* INTERNAL */
    GW_CHECK_INT(e->n_req, 2);
    GW_CHECK_INT(e->msgs[0].from_client, 0);
    GW_CHECK_INT(e->msgs[1].truncated, 1);
    GW_CHECK_STR(e->msgs[1].why, "stream ended mid-message");
    grpc_conn_del(g);
}

static void test_helpers(void)
{
    static const struct {
        const char *s;
        int64_t ns;
    } t[] = {
        {"999250u", 999250000},  {"1H", INT64_C(3600000000000)}, {"2M", INT64_C(120000000000)},
        {"3S", 3000000000},      {"4m", 4000000},                {"5u", 5000},
        {"6n", 6},               {"0n", 0},                      {"99999999S", INT64_C(99999999000000000)},
        {"123456789S", -1},      {"", -1},                       {"S", -1},
        {"10x", -1},             {"1 S", -1},                    {"-1S", -1},
        {"99999999H", INT64_MAX}, {"12", -1},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        GW_CHECK_INT(grpc_timeout_parse(t[i].s, strlen(t[i].s)), t[i].ns);
    GW_CHECK_INT(grpc_timeout_parse(NULL, 0), -1);

    static const char *const names[] = {"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED",
        "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"};
    for (int i = 0; i <= 16; i++)
        GW_CHECK_STR(grpc_status_name(i), names[i]);
    GW_CHECK_STR(grpc_status_name(17), "UNKNOWN_STATUS");
    GW_CHECK_STR(grpc_status_name(-1), "UNKNOWN_STATUS");

    static const struct {
        const char *in, *out;
    } u[] = {
        {"", ""},
        {"plain", "plain"},
        {"a%20b", "a b"},
        {"%E2%82%AC", "\xe2\x82\xac"},
        {"%e2%82%ac", "\xe2\x82\xac"},
        {"100%", "100%"},
        {"%4", "%4"},
        {"%G0x", "%G0x"},
        {"%%41", "%A"},
    };
    for (size_t i = 0; i < sizeof u / sizeof u[0]; i++) {
        char out[64];
        size_t n = grpc_message_unescape(u[i].in, strlen(u[i].in), out);
        GW_CHECK_INT(n, strlen(u[i].out));
        GW_CHECK_STR(out, u[i].out);
    }

    static const struct {
        const char *in;
        const char *hex;
        int ok;
    } b[] = {
        {"", "", 1},         {"Zg", "66", 1},         {"Zg==", "66", 1},
        {"Zm8", "666f", 1},  {"Zm8=", "666f", 1},     {"Zm9v", "666f6f", 1},
        {"-_8", "fbff", 1},  {"+/8=", "fbff", 1},     {"Z", "", 0},
        {"Zm9v!", "", 0},    {"Z=g", "", 0},
    };
    for (size_t i = 0; i < sizeof b / sizeof b[0]; i++) {
        uint8_t out[16], want[16];
        size_t wn = gw_test_unhex(b[i].hex, want, sizeof want);
        ptrdiff_t n = grpc_base64_decode(b[i].in, strlen(b[i].in), out);
        if (b[i].ok)
            GW_CHECK_MEM(out, (size_t)(n < 0 ? 0 : n), want, wn);
        else
            GW_CHECK_INT(n, -1);
    }
}

/* A call's strings live in its arena (inline, then chunks) and calls are reused: a call with
 * headers far over the inline part, then small calls on the same connection, each with exactly
 * its own fields; stray frames of ended streams are still ignored. */
static void test_arena(void)
{
    grpc_conn *g = conn_new(NULL);
    static char vals[40][120];
    const char *big[2 * 40 + 9];
    size_t k = 0;
    big[k++] = ":method", big[k++] = "POST", big[k++] = ":path", big[k++] = "/big.S/M";
    big[k++] = "content-type", big[k++] = "application/grpc";
    char want[4096] = ":method=POST;:path=/big.S/M;content-type=application/grpc;";
    for (int i = 0; i < 24; i++) {
        memset(vals[i], 'a' + i % 26, sizeof vals[i] - 1);
        vals[i][sizeof vals[i] - 1] = 0;
        big[k++] = "x-pad", big[k++] = vals[i];
        strcat(want, "x-pad=");
        strcat(want, vals[i]);
        strcat(want, ";");
    }
    big[k] = NULL;
    for (uint32_t sid = 1; sid <= 7; sid += 2) {
        int is_big = sid == 3;
        H(g, 1, sid, 0, is_big ? big : seed_req);
        DHEX(g, 1, sid, 1, SEED_REQ_MSG);
        H(g, 0, sid, 0, seed_resp);
        DHEX(g, 0, sid, 0, SEED_RESP_MSG);
        const char *msg_txt = sid == 5 ? "%E2%9C%93 done" : "";
        H(g, 0, sid, 1, (const char *const[]){"grpc-status", sid == 5 ? "2" : "0", "grpc-message",
                                              msg_txt, NULL});
        const ended *e = &E[n_end - 1];
        GW_CHECK_INT(e->stream, sid);
        GW_CHECK_STR(e->method, is_big ? "/big.S/M" : "/helloworld.Greeter/SayHello");
        GW_CHECK_INT(e->n_req_headers, is_big ? 27 : 8);
        GW_CHECK_STR(e->grpc_message, sid == 5 ? "\xe2\x9c\x93 done" : "");
        GW_CHECK_INT(e->grpc_status, sid == 5 ? 2 : 0);
        GW_CHECK_MEM(e->msgs[1].data, e->msgs[1].data_len, "\x0a\x0bHello world", 13);
        static char w[8192];
        snprintf(w, sizeof w, "%s:status=200;content-type=application/grpc;grpc-status=%s;"
                 "grpc-message=%s;", is_big ? want :
                 ":method=POST;:scheme=http;:path=/helloworld.Greeter/SayHello;"
                 ":authority=localhost:50051;content-type=application/grpc;"
                 "user-agent=grpc-go/1.63.0;te=trailers;grpc-timeout=999250u;",
                 sid == 5 ? "2" : "0", msg_txt);
        GW_CHECK_STR(e->hdrs, w);
    }
    GW_CHECK_INT(n_end, 4);
    /* Stray frames on ended streams, then a new call: the ring still knows the old ones. */
    DHEX(g, 0, 3, 0, SEED_RESP_MSG);
    RST(g, 1, 5, 8);
    GW_CHECK_INT(n_start, 4);
    H(g, 1, 9, 1, seed_req);
    GW_CHECK_INT(n_start, 5);
    grpc_conn_close(g, 0);
    GW_CHECK_INT(n_end, 5);
    grpc_conn_del(g);
}

/* no_header_lists: nothing listed, everything else read and counted as before. */
static void test_no_header_lists(void)
{
    grpc_opts o;
    grpc_opts_default(&o);
    o.no_header_lists = 1;
    grpc_conn *g = conn_new(&o);
    run_seed(g, 0);
    const ended *e = &E[0];
    GW_CHECK_INT(n_end, 1);
    GW_CHECK_INT(e->n_req_headers, 0);
    GW_CHECK_INT(e->n_resp_headers, 0);
    GW_CHECK_INT(e->n_trailers, 0);
    GW_CHECK_STR(e->hdrs, "");
    GW_CHECK_STR(e->method, "/helloworld.Greeter/SayHello");
    GW_CHECK_STR(e->authority, "localhost:50051");
    GW_CHECK_INT(e->timeout_ns, 999250000);
    GW_CHECK_INT(e->grpc_status, 0);
    GW_CHECK_INT(e->complete, 1);
    GW_CHECK_INT(e->n_anom, 0);
    grpc_conn_del(g);
    o.max_header_bytes = 100;
    g = conn_new(&o);
    run_seed(g, 0);
    GW_CHECK(has_anom(&E[0], "header fields over max_header_bytes were not kept"));
    GW_CHECK_STR(E[0].method, "/helloworld.Greeter/SayHello");
    grpc_conn_del(g);
}

/* Fail each allocation in turn through the seed call: no crash, no leak. */
static void test_failmalloc(void)
{
    long before = gw_mem_count();
    grpc_conn *g0 = conn_new(NULL);
    run_seed(g0, 3);
    grpc_conn_close(g0, 0);
    grpc_conn_del(g0);
    long total = gw_mem_count() - before;
    GW_CHECK(total >= 3); /* the conn, its scratch and the call; strings live in the call */
    for (long k = 0; k <= total; k++) {
        gw_mem_fail_after(k);
        grpc_conn *g = conn_new(NULL);
        if (g) {
            run_seed(g, 3);
            grpc_conn_close(g, 0);
            grpc_conn_del(g);
        }
        gw_mem_fail_after(-1);
    }
    GW_CHECK(1);
}

/* Header names are matched case-blind (HTTP/2 sends lowercase; the fast path compares exactly
 * first), and near misses of the same length are not taken. */
static void test_name_case(void)
{
    grpc_conn *g = conn_new(NULL);
    const char *const req[] = {":scheme", "http", ":METHOD", "POST", ":Path", "/a.B/C",
                               ":pathx", "no", "Host", "hh", ":AUTHORITY", "auth",
                               "content-typf", "x", "Content-Type", "application/grpc+proto",
                               "grpc-timeoux", "2S", "GRPC-Timeout", "1S", "Grpc-Encoding",
                               "identity", NULL};
    const char *const resp[] = {":statuz", "500", ":Status", "200", "CONTENT-TYPE",
                                "application/grpc", NULL};
    const char *const trl[] = {"grpc-statuz", "3", "Grpc-Status", "5", "grpc-MESSAGE", "nope",
                               NULL};
    H(g, 1, 1, 0, req);
    DHEX(g, 1, 1, 1, "00 00000000");
    H(g, 0, 1, 0, resp);
    DHEX(g, 0, 1, 0, "00 00000001 61");
    H(g, 0, 1, 1, trl);
    GW_CHECK_INT(n_end, 1);
    const ended *e = &E[0];
    GW_CHECK_STR(e->method, "/a.B/C");
    GW_CHECK_STR(e->authority, "auth");
    GW_CHECK_STR(e->kind, "grpc+proto");
    GW_CHECK_INT(e->timeout_ns, 1000000000);
    GW_CHECK_INT(e->http_status, 200);
    GW_CHECK_INT(e->grpc_status, 5);
    GW_CHECK_STR(e->grpc_message, "nope");
    GW_CHECK_INT(e->n_req, 1);
    GW_CHECK_INT(e->n_resp, 1);
    GW_CHECK_INT(e->complete, 1);
    GW_CHECK_INT(e->n_req_headers, 11);
    GW_CHECK_INT(e->n_trailers, 3);
    grpc_conn_del(g);
}


/* Calls whose header fields carry the decoder's hints (name_static, field_bytes) end exactly
 * as the same calls without them: classify's table lookup and the decoder's count agree with
 * the name compares and the sums. */
static void hint_scenario(const grpc_opts *o)
{
    grpc_conn *g = conn_new(o);
    run_seed(g, 0);
    const char *const req[] = {":method", "POST", ":scheme", "https", ":path", "/a.B/C",
                               ":path", "/second", "host", "h", ":authority", "auth",
                               "content-type", "application/grpc+json", "grpc-encoding",
                               "identity", "user-agent", "x", "grpc-timeout", "3m", NULL};
    const char *const resp1xx[] = {":status", "100", NULL};
    const char *const resp[] = {":status", "200", "content-type", "application/grpc",
                                "date", "d", NULL};
    const char *const trl[] = {"grpc-status", "7", "grpc-message", "no%20way", "server", "s",
                               NULL};
    H(g, 1, 3, 0, req);
    DHEX(g, 1, 3, 1, "00 00000001 61");
    H(g, 0, 3, 0, resp1xx);
    H(g, 0, 3, 0, resp);
    DHEX(g, 0, 3, 0, "00 00000001 62");
    H(g, 0, 3, 1, trl);
    H(g, 0, 3, 1, trl); /* after the end: ignored as recently closed */
    /* Trailers-Only, and a request block without :method (trailers). */
    const char *const req2[] = {":method", "POST", ":path", "/x.Y/Z", "content-type",
                                "application/grpc", NULL};
    const char *const tonly[] = {":status", "200", "content-type", "application/grpc",
                                 "grpc-status", "5", NULL};
    H(g, 1, 5, 1, req2);
    H(g, 0, 5, 1, tonly);
    H(g, 1, 7, 0, req2);
    H(g, 1, 7, 1, seed_trl);
    H(g, 0, 7, 0, seed_resp);
    H(g, 0, 7, 0, seed_resp); /* a second response block without END_STREAM */
    H(g, 0, 7, 1, seed_trl);
    const char *const http[] = {":status", "503", "content-type", "text/html", NULL};
    H(g, 1, 9, 1, req2);
    H(g, 0, 9, 1, http);
    grpc_conn_close(g, 0);
    grpc_conn_del(g);
}

static void test_hints(void)
{
    static ended e0[16];
    static seen_msg m0[256];
    grpc_opts o;
    grpc_opts_default(&o);
    for (int pass = 0; pass < 3; pass++) {
        if (pass == 1)
            o.max_header_bytes = 150; /* some blocks over the budget */
        if (pass == 2)
            o.no_header_lists = 1;
        hints = 0;
        hint_scenario(&o);
        int ne = n_end, nm = n_msgcb, nst = n_start;
        memcpy(e0, E, sizeof E);
        memcpy(m0, M, sizeof M);
        hints = 1;
        hint_scenario(&o);
        hints = 0;
        GW_CHECK_INT(n_end, ne);
        GW_CHECK_INT(n_msgcb, nm);
        GW_CHECK_INT(n_start, nst);
        GW_CHECK(ne >= 5);
        GW_CHECK(memcmp(E, e0, sizeof E) == 0);
        GW_CHECK(memcmp(M, m0, sizeof M) == 0);
    }
}

/* ---- the one-message-per-frame path against the deframer ---- */

/* Everything the callbacks see, as text: on_message's record (and the call's last record), and
 * at on_call_end every field of the call with its retained records and header lists. */
static char T[32768];
static size_t tn;
static int take_mode; /* on_message takes the retained bytes, as the JSON messages view does */

static void tput(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void tput(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(T + tn, sizeof T - tn, fmt, ap);
    va_end(ap);
    if (k > 0)
        tn += (size_t)k < sizeof T - tn ? (size_t)k : sizeof T - tn - 1;
}

static void tmsg(const grpc_msg *m)
{
    tput("[%d %u %u c%d d%d t%d %s %s fp%llu lp%llu ts%lld", m->from_client, m->index, m->length,
         m->compressed, m->decoded, m->truncated, m->encoding, m->why ? m->why : "-",
         (unsigned long long)m->first_pkt, (unsigned long long)m->last_pkt, (long long)m->ts_ns);
    tput(m->data ? " data%zu=" : " nodata%zu", m->data_len);
    for (size_t i = 0; m->data && i < m->data_len; i++)
        tput("%02x", m->data[i]);
    tput("]");
}

static void tcb_start(void *u, grpc_call *c) { tput("S%u;", c->stream); }

static void tcb_msg(void *u, grpc_call *c, const grpc_msg *m)
{
    tput("M");
    tmsg(m);
    if (c->n_msgs) {
        const grpc_msg *r = &c->msgs[c->n_msgs - 1];
        tput(" last=%d/%u/%d", r->from_client, r->index, r->data != NULL);
        if (take_mode) {
            uint8_t *p = grpc_call_take_data(c, c->n_msgs - 1);
            tput(" took%d", p != NULL);
            gw_free(p);
        }
    }
    tput(";\n");
}

static void tkv(const char *what, const grpc_kv *kv, size_t n)
{
    tput(" %s%zu:", what, n);
    for (size_t i = 0; i < n; i++)
        tput("%s=%s|", kv[i].name, kv[i].value);
}

static void tcb_end(void *u, grpc_call *c)
{
    tput("E%u %s %s %s %s %s %s to%lld g%d %s h%d s%d i%d m=%s d%zu to%d rst%lld/%d ga%d", c->stream,
         c->method ? c->method : "-", c->authority ? c->authority : "-",
         c->content_type ? c->content_type : "-", c->req_encoding ? c->req_encoding : "-",
         c->resp_encoding ? c->resp_encoding : "-", c->timeout_raw ? c->timeout_raw : "-",
         (long long)c->timeout_ns, c->is_grpc, c->kind, c->http_status, c->grpc_status,
         c->implied_status, c->grpc_message ? c->grpc_message : "-", c->status_details_len,
         c->trailers_only, (long long)c->rst_code, c->rst_by_client, c->goaway);
    tput(" t%lld/%lld/%lld p%llu/%llu n%u/%u b%llu/%llu drop%d comp%d", (long long)c->t_start,
         (long long)c->t_first_resp, (long long)c->t_end, (unsigned long long)c->first_pkt,
         (unsigned long long)c->last_pkt, c->n_req, c->n_resp, (unsigned long long)c->req_bytes,
         (unsigned long long)c->resp_bytes, c->msgs_dropped, c->complete);
    tkv("req", c->req_headers, c->n_req_headers);
    tkv("resp", c->resp_headers, c->n_resp_headers);
    tkv("trl", c->trailers, c->n_trailers);
    for (size_t i = 0; i < c->n_anomalies; i++)
        tput(" A:%s", c->anomalies[i]);
    for (size_t i = 0; i < c->n_msgs; i++)
        tmsg(&c->msgs[i]);
    tput(";\n");
}

/* A DATA payload as one frame (k == 0) or as two frames split at k, both carried by the same
 * packet: the records must not tell them apart (a split message always takes the deframer). */
static void Dk(grpc_conn *g, int from_client, uint32_t sid, int end_stream, const uint8_t *p,
               size_t n, size_t k)
{
    h2_frame_rec r;
    base(&r, from_client, H2_FRAME_DATA, sid, end_stream ? H2_FLAG_END_STREAM : 0);
    r.f.length = r.f.data_len = (uint32_t)(k ? k : n);
    r.f.payload = r.f.data = p;
    if (k)
        r.f.flags = 0;
    grpc_conn_frame(g, &r);
    if (!k)
        return;
    r.f.flags = end_stream ? H2_FLAG_END_STREAM : 0;
    r.f.length = r.f.data_len = (uint32_t)(n - k);
    r.f.payload = r.f.data = p + k;
    grpc_conn_frame(g, &r);
}

typedef struct fp_case {
    const char *ct;       /* request and response content-type */
    const char *enc;      /* grpc-encoding both ways, or NULL */
    const char *path;
    int flag;             /* the messages' flag byte */
    int gz;               /* bodies gzip-compressed for real */
    size_t req_len, resp_len;
    int nresp;            /* response messages, one frame each */
    int mid;              /* the capture starts with the request DATA (no request headers) */
} fp_case;

/* One call; the request message split at kq, the first response message at ks (0: whole).
 * Returns the trace length; the trace is in T. */
static size_t fp_run(const grpc_opts *o, const fp_case *fc, size_t kq, size_t ks)
{
    tn = 0;
    T[0] = '\0';
    pkt = 10;
    grpc_callbacks cb = {NULL, tcb_start, tcb_msg, tcb_end};
    grpc_conn *g = grpc_conn_new(o, &cb, NULL);
    const char *req[] = {":method", "POST", ":path", fc->path, ":authority", "a:1",
                         "content-type", fc->ct, "grpc-timeout", "5m", "grpc-encoding",
                         fc->enc, NULL};
    const char *resp[] = {":status", "200", "content-type", fc->ct, "grpc-encoding", fc->enc, NULL};
    if (!fc->enc)
        req[10] = resp[4] = NULL;
    uint8_t body[2][64], m[2][200];
    size_t mn[2];
    for (int d = 0; d < 2; d++) {
        size_t len = d ? fc->resp_len : fc->req_len;
        for (size_t i = 0; i < len; i++)
            body[d][i] = (uint8_t)(d * 100 + i * 7);
        gw_buf z;
        gw_buf_init(&z, 0);
        if (fc->gz && grpc_compress_gzip(body[d], len, &z) == 0 && z.len < 190)
            mn[d] = msg(m[d], fc->flag, z.data, z.len);
        else
            mn[d] = msg(m[d], fc->flag, body[d], len);
        gw_buf_free(&z);
    }
    if (!fc->mid)
        H(g, 1, 1, 0, req);
    Dk(g, 1, 1, 1, m[0], mn[0], kq);
    H(g, 0, 1, 0, resp);
    for (int i = 0; i < fc->nresp; i++)
        Dk(g, 0, 1, 0, m[1], mn[1], i == 0 ? ks : 0);
    H(g, 0, 1, 1, seed_trl);
    grpc_conn_close(g, 0);
    grpc_conn_del(g);
    return tn;
}

static void test_fast_path(void)
{
    static const fp_case cases[] = {
        {"application/grpc", NULL, "/a.B/C", 0, 0, 7, 13, 1, 0},
        {"application/grpc", NULL, "/a.B/C", 0, 0, 0, 1, 3, 0},
        {"application/grpc", NULL, "/a.B/C", 0, 0, 40, 60, 2, 0},
        {"application/grpc", "gzip", "/a.B/C", 1, 1, 30, 50, 1, 0},
        {"application/grpc", "gzip", "/a.B/C", 1, 0, 9, 9, 1, 0},   /* corrupt gzip */
        {"application/grpc", NULL, "/a.B/C", 1, 0, 9, 9, 1, 0},     /* flag without encoding */
        {"application/grpc", "zz", "/a.B/C", 1, 0, 9, 9, 1, 0},     /* unknown encoding */
        {"application/grpc", NULL, "/a.B/C", 0x80, 0, 9, 9, 1, 0},  /* odd flag bits */
        {"application/grpc+proto", NULL, "/x/grpc.reflection.v1.R/S", 0, 0, 12, 12, 2, 0},
        {"application/grpc-web", NULL, "/a.B/C", 0, 0, 9, 9, 1, 0},
        {"application/grpc-web-text", NULL, "/a.B/C", 0, 0, 9, 9, 1, 0},
        {"text/html", NULL, "/a.B/C", 0, 0, 9, 9, 1, 0},
        {"application/grpc", NULL, "/a.B/C", 0, 0, 7, 13, 2, 1},    /* seen mid-call */
    };
    static char whole[32768];
    for (int keep = GRPC_KEEP_ALL; keep <= GRPC_KEEP_NONE; keep++)
        for (int cfg = 0; cfg < 4; cfg++)
            for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
                grpc_opts o;
                grpc_opts_default(&o);
                o.keep = keep;
                o.no_header_lists = cfg & 1;
                if (cfg & 2) {
                    o.max_message = 20; /* some messages over it */
                    o.max_retained = 25;
                }
                take_mode = cfg == 1;
                const fp_case *fc = &cases[ci];
                size_t wn = fp_run(&o, fc, 0, 0);
                memcpy(whole, T, wn + 1);
                GW_CHECK(wn > 0 && wn < sizeof T - 1);
                /* Every split of the request message, then of the first response message. */
                size_t qn = 5 + fc->req_len, sn = 5 + fc->resp_len;
                if (fc->gz) /* the compressed sizes: long enough to split anywhere in */
                    qn = sn = 12;
                int same = 1;
                grpc_call_fast_path(0); /* the same frames through the deframer */
                fp_run(&o, fc, 0, 0);
                grpc_call_fast_path(1);
                same &= strcmp(T, whole) == 0;
                for (size_t k = 1; k < qn; k++) {
                    fp_run(&o, fc, k, 0);
                    same &= strcmp(T, whole) == 0;
                }
                for (size_t k = 1; k < sn; k++) {
                    fp_run(&o, fc, 0, k);
                    same &= strcmp(T, whole) == 0;
                }
                if (!same)
                    printf("fast path differs: keep %d cfg %d case %zu\n%s", keep, cfg, ci, whole);
                GW_CHECK(same);
            }
    take_mode = 0;
}

/* The reflection check (its calls keep every body) is strstr on the path as a C string. */
static void test_reflection_path(void)
{
    static const char *const paths[] = {
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        "/helloworld.Greeter/SayHello", "/grpc.reflection.", "grpc.reflection.", "/grpc.reflection",
        "/x/grpc.reflection.y", "//grpc.reflection.", "/grpc.reflectiom./grpc.reflection.",
        "/grpc.reflection/.grpc.reflection.", "/grpc.reflection.\0/grpc.reflection.",
        "/a\0/grpc.reflection.v1.S/M", "/GRPC.reflection.x", "", "/", "....................",
        "/grpc.health.v1.Health/Check", "/xgrpc.reflection.", "reflection./grpc.reflection.v",
    };
    static const size_t lens[] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 34, 25, 0, 0, 0, 0, 0, 0, 0};
    uint32_t seed = 12345;
    char buf[80];
    for (int round = 0; round < 400; round++) {
        const char *p;
        size_t n;
        if (round < (int)(sizeof paths / sizeof paths[0])) {
            p = paths[round];
            n = lens[round] ? lens[round] : strlen(p);
        } else { /* pieces of the needle and slashes in random order */
            static const char *const bits[] = {"/", "grpc", ".", "reflection", "/grpc.reflection.",
                                               "g", "n.", "x", "/grpc.reflection", "\0"};
            n = 0;
            while (n < 60) {
                seed = seed * 1103515245u + 12345u;
                const char *b = bits[(seed >> 16) % 10];
                size_t bl = b[0] ? strlen(b) : 1;
                memcpy(buf + n, b, bl);
                n += bl;
                if ((seed >> 8) % 7 == 0)
                    break;
            }
            p = buf;
        }
        char path[80];
        memcpy(path, p, n);
        path[n] = '\0';
        int expect = strstr(path, "/grpc.reflection.") != NULL; /* stops at the first NUL */
        grpc_opts o;
        grpc_opts_default(&o);
        o.keep = GRPC_KEEP_NONE;
        grpc_conn *g = conn_new(&o);
        hpack_field f[3];
        memset(f, 0, sizeof f);
        const char *nm[3] = {":method", ":path", "content-type"};
        const char *vl[3] = {"POST", path, "application/grpc"};
        size_t vn[3] = {4, n, 16};
        for (int i = 0; i < 3; i++) {
            f[i].name = nm[i];
            f[i].name_len = strlen(nm[i]);
            f[i].value = vl[i];
            f[i].value_len = vn[i];
        }
        h2_frame_rec r;
        base(&r, 1, H2_FRAME_HEADERS, 1, H2_FLAG_END_HEADERS);
        r.has_block = 1;
        r.block_stream = 1;
        r.block_type = H2_FRAME_HEADERS;
        r.fields = f;
        r.nfields = 3;
        grpc_conn_frame(g, &r);
        DHEX(g, 1, 1, 1, SEED_REQ_MSG);
        GW_CHECK_INT(n_msgcb, 1);
        if (M[0].has_data != expect)
            printf("reflection check differs for %zu bytes \"%s\"\n", n, path);
        GW_CHECK_INT(M[0].has_data, expect);
        grpc_conn_del(g);
    }
}

int main(void)
{
    test_seed();
    test_trailers_only();
    test_error_details();
    test_gzip();
    test_rst_goaway();
    test_non_grpc();
    test_grpc_web();
    test_interleaved();
    test_server_streaming();
    test_mid_connection();
    test_lost();
    test_caps();
    test_anomalies();
    test_helpers();
    test_arena();
    test_no_header_lists();
    test_failmalloc();
    test_name_case();
    test_hints();
    test_fast_path();
    test_reflection_path();
    GW_TEST_END();
}
