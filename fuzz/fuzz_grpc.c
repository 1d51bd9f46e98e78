/* fuzz_grpc: the gRPC layer. The input drives (1) the deframer and every decompressor directly,
 * with small caps, and (2) a script of synthetic HTTP/2 frame records (headers from a small
 * vocabulary, DATA with input bytes or gzip-compressed messages, RST_STREAM, GOAWAY, lost bytes)
 * through a grpc_conn, whose callbacks read everything a view would. The script runs twice,
 * with grpc_call's one-message-per-frame path on and off: what the callbacks see (hashed) must
 * be the same. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/gw_buf.h"
#include "grpc/grpc_call.h"
#include "grpc/grpc_msg.h"
#include "grpc/grpc_priv.h"

static volatile size_t sink;
static uint64_t hash; /* FNV-1a over what the callbacks see */

static void touch(const void *p, size_t n)
{
    const uint8_t *b = p;
    size_t s = 0;
    for (size_t i = 0; i < n; i++) {
        s += b[i];
        hash = (hash ^ b[i]) * 0x100000001b3ull;
    }
    sink += s;
}

static void mix(int64_t v) { touch(&v, sizeof v); }

static void touch_str(const char *s)
{
    if (s)
        touch(s, strlen(s) + 1);
}

static const char *const encodings[] = {"gzip", "deflate", "zstd", "identity", "snappy"};

static void frame_msg_cb(void *u, const grpc_frame_msg *m)
{
    if (m->body)
        touch(m->body, m->body_len);
    gw_buf out;
    gw_buf_init(&out, 0);
    grpc_decompress(encodings[m->length % 5], m->body ? m->body : (const uint8_t *)"",
                    m->body_len, &out, 4096, 20);
    touch(out.data, out.len);
    gw_buf_free(&out);
}

static void on_start(void *u, grpc_call *c)
{
    mix(c->stream);
    touch_str(c->method);
    touch_str(c->kind);
}

static void mix_msg(const grpc_msg *m)
{
    mix(m->from_client);
    mix(m->index);
    mix(m->length);
    mix(m->compressed);
    mix(m->decoded);
    mix(m->truncated);
    mix((int64_t)m->data_len);
    mix(m->data != NULL);
    mix((int64_t)m->first_pkt);
    mix((int64_t)m->last_pkt);
    mix(m->ts_ns);
}

static void on_message(void *u, grpc_call *c, const grpc_msg *m)
{
    mix_msg(m);
    mix((int64_t)c->n_msgs);
    if (m->data)
        touch(m->data, m->data_len);
    touch_str(m->encoding);
    touch_str(m->why);
}

static void on_end(void *u, grpc_call *c)
{
    const int64_t nums[] = {c->stream, c->timeout_ns, c->is_grpc, c->http_status, c->grpc_status,
                            c->implied_status, c->trailers_only, c->rst_code, c->rst_by_client,
                            c->goaway, c->t_start, c->t_first_resp, c->t_end,
                            (int64_t)c->first_pkt, (int64_t)c->last_pkt, c->n_req, c->n_resp,
                            (int64_t)c->req_bytes, (int64_t)c->resp_bytes, (int64_t)c->n_msgs,
                            c->msgs_dropped, c->complete, (int64_t)c->n_req_headers,
                            (int64_t)c->n_resp_headers, (int64_t)c->n_trailers,
                            (int64_t)c->n_anomalies};
    touch(nums, sizeof nums);
    touch_str(c->method);
    touch_str(c->authority);
    touch_str(c->content_type);
    touch_str(c->req_encoding);
    touch_str(c->resp_encoding);
    touch_str(c->timeout_raw);
    touch_str(c->grpc_message);
    touch_str(c->kind);
    if (c->status_details)
        touch(c->status_details, c->status_details_len);
    const grpc_kv *arrs[3] = {c->req_headers, c->resp_headers, c->trailers};
    size_t ns[3] = {c->n_req_headers, c->n_resp_headers, c->n_trailers};
    for (int a = 0; a < 3; a++)
        for (size_t i = 0; i < ns[a]; i++) {
            touch(arrs[a][i].name, arrs[a][i].name_len + 1);
            touch(arrs[a][i].value, arrs[a][i].value_len + 1);
        }
    for (size_t i = 0; i < c->n_msgs; i++) {
        mix_msg(&c->msgs[i]);
        if (c->msgs[i].data)
            touch(c->msgs[i].data, c->msgs[i].data_len);
        touch_str(c->msgs[i].encoding);
        touch_str(c->msgs[i].why);
    }
    for (size_t i = 0; i < c->n_anomalies; i++)
        touch_str(c->anomalies[i]);
    touch_str(grpc_status_name(c->grpc_status));
}

static const char *const vocab[][2] = {
    {":method", "POST"},
    {":method", "GET"},
    {":path", "/helloworld.Greeter/SayHello"},
    {":authority", "localhost:50051"},
    {"host", "h"},
    {"content-type", "application/grpc"},
    {"content-type", "application/grpc+proto"},
    {"content-type", "application/grpc-web"},
    {"content-type", "application/grpc-web-text"},
    {"content-type", "text/plain"},
    {"grpc-encoding", "gzip"},
    {"grpc-encoding", "deflate"},
    {"grpc-encoding", "zstd"},
    {"grpc-encoding", "identity"},
    {"grpc-encoding", "br"},
    {"grpc-timeout", "999250u"},
    {"grpc-timeout", "123456789S"},
    {":status", "200"},
    {":status", "100"},
    {":status", "415"},
    {":status", "x"},
    {"grpc-status", "0"},
    {"grpc-status", "13"},
    {"grpc-status", "99999999999"},
    {"grpc-message", "%E3%81%82%zz%"},
    {"grpc-status-details-bin", "CAMSBGZhaWw"},
    {"grpc-status-details-bin", "*"},
};
#define NVOCAB (sizeof vocab / sizeof vocab[0])

typedef struct rd {
    const uint8_t *p;
    size_t n;
} rd;

static uint8_t byte(rd *r)
{
    if (!r->n)
        return 0;
    r->n--;
    return *r->p++;
}

static void base(h2_frame_rec *fr, rd *r, uint8_t type, uint32_t sid, uint64_t *pkt)
{
    memset(fr, 0, sizeof *fr);
    uint8_t b = byte(r);
    int fc = b % 3 == 2 ? -1 : b % 3;
    fr->from_client = fc;
    fr->dir = fc == 1 ? 0 : fc == 0 ? 1 : (b >> 2) & 1;
    ++*pkt;
    fr->first_pkt = fr->last_pkt = *pkt;
    fr->ts_ns = (int64_t)*pkt * 1000;
    fr->f.type = type;
    fr->f.stream_id = sid;
}

static void run_script(const uint8_t *data, size_t size, int keep)
{
    grpc_opts o;
    grpc_opts_default(&o);
    o.keep = keep;
    o.no_header_lists = keep != GRPC_KEEP_ALL;
    o.max_message = 256;
    o.max_decompressed = 4096;
    o.max_ratio = 20;
    o.max_retained = 512;
    o.max_streams = 4;
    o.max_header_bytes = 256;
    grpc_callbacks cb = {NULL, on_start, on_message, on_end};
    grpc_conn *g = grpc_conn_new(&o, &cb, NULL);
    if (!g)
        return;
    rd r = {data, size};
    uint64_t pkt = 0;
    int ops = 0;
    while (r.n && ops++ < 512) {
        uint8_t op = byte(&r);
        uint32_t sid = (uint32_t)(op >> 3) % 6; /* 0..5: stream 0 and even ones included */
        sid = sid == 0 ? 0 : sid == 5 ? 2 : 2 * sid - 1;
        h2_frame_rec fr;
        switch (op & 7) {
        case 0:
        case 1: { /* HEADERS block */
            hpack_field f[12];
            memset(f, 0, sizeof f);
            size_t nf = byte(&r) % 12;
            for (size_t i = 0; i < nf; i++) {
                uint8_t v = byte(&r);
                if (v == 255 && r.n >= 2) { /* a raw field from the input */
                    size_t l = byte(&r) % 16;
                    if (l > r.n)
                        l = r.n;
                    f[i].name = "grpc-message";
                    f[i].name_len = 12;
                    f[i].value = (const char *)r.p;
                    f[i].value_len = l;
                    r.p += l;
                    r.n -= l;
                } else {
                    f[i].name = vocab[v % NVOCAB][0];
                    f[i].name_len = strlen(f[i].name);
                    f[i].value = vocab[v % NVOCAB][1];
                    f[i].value_len = strlen(f[i].value);
                }
                f[i].unknown_value = v == 254;
            }
            base(&fr, &r, H2_FRAME_HEADERS, sid, &pkt);
            uint8_t fl = byte(&r);
            fr.has_block = 1;
            fr.block_stream = sid;
            fr.block_type = (fl & 0x10) ? H2_FRAME_PUSH_PROMISE : H2_FRAME_HEADERS;
            fr.block_end_stream = fl & 1;
            fr.f.flags = (uint8_t)(H2_FLAG_END_HEADERS | (fl & 1));
            fr.hpack_unknown = (fl & 0x20) != 0;
            fr.hpack_err = (fl & 0x40) ? -1 : 0;
            fr.fields = f;
            fr.nfields = nf;
            grpc_conn_frame(g, &fr);
            break;
        }
        case 2:
        case 3: { /* DATA with input bytes */
            base(&fr, &r, H2_FRAME_DATA, sid, &pkt);
            uint8_t fl = byte(&r);
            size_t l = byte(&r);
            if (l > r.n)
                l = r.n;
            fr.f.flags = fl & 1;
            fr.f.data = r.p;
            fr.f.data_len = (uint32_t)l;
            r.p += l;
            r.n -= l;
            grpc_conn_frame(g, &fr);
            break;
        }
        case 4: { /* DATA: a gzip-compressed message of input bytes */
            base(&fr, &r, H2_FRAME_DATA, sid, &pkt);
            size_t l = byte(&r) % 64;
            if (l > r.n)
                l = r.n;
            gw_buf c;
            gw_buf_init(&c, 0);
            uint8_t pre[5] = {1, 0, 0, 0, 0};
            gw_buf_append(&c, pre, 5);
            if (grpc_compress_gzip(r.p, l, &c) == 0 && c.len >= 5) {
                size_t ml = c.len - 5;
                c.data[1] = (uint8_t)(ml >> 24);
                c.data[2] = (uint8_t)(ml >> 16);
                c.data[3] = (uint8_t)(ml >> 8);
                c.data[4] = (uint8_t)ml;
                fr.f.data = c.data;
                fr.f.data_len = (uint32_t)c.len;
                grpc_conn_frame(g, &fr);
            }
            gw_buf_free(&c);
            r.p += l;
            r.n -= l;
            break;
        }
        case 5: /* RST_STREAM */
            base(&fr, &r, H2_FRAME_RST_STREAM, sid, &pkt);
            fr.f.error_code = byte(&r) % 14;
            grpc_conn_frame(g, &fr);
            break;
        case 6: /* GOAWAY */
            base(&fr, &r, H2_FRAME_GOAWAY, 0, &pkt);
            fr.f.last_stream_id = byte(&r) % 8;
            grpc_conn_frame(g, &fr);
            break;
        default: /* bytes lost */
            grpc_conn_skip(g, byte(&r) & 1, 1 + byte(&r));
            break;
        }
    }
    grpc_conn_close(g, (int64_t)pkt * 1000);
    grpc_conn_del(g);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Direct: deframe in input-chosen chunks, decompress each message and the whole input. */
    grpc_deframer d;
    grpc_deframer_init(&d, 512);
    size_t off = 0, step = size ? (size_t)data[0] % 13 + 1 : 1;
    while (off < size) {
        size_t c = step < size - off ? step : size - off;
        grpc_deframer_feed(&d, data + off, c, frame_msg_cb, NULL);
        if (data[off] == 0xee)
            grpc_deframer_reset(&d);
        off += c;
    }
    grpc_deframer_flush(&d, frame_msg_cb, NULL);
    grpc_deframer_free(&d);
    for (size_t i = 0; i < sizeof encodings / sizeof encodings[0]; i++) {
        gw_buf out;
        gw_buf_init(&out, 0);
        grpc_decompress(encodings[i], data, size, &out, 8192, 50);
        touch(out.data, out.len);
        gw_buf_free(&out);
    }
    int64_t t = grpc_timeout_parse((const char *)data, size < 12 ? size : 12);
    sink += (size_t)t;
    char msgbuf[65];
    size_t ml = size < 64 ? size : 64;
    sink += grpc_message_unescape((const char *)data, ml, msgbuf);

    int keep = size ? data[size - 1] % 3 : 0;
    hash = 0xcbf29ce484222325ull;
    run_script(data, size, keep);
    uint64_t fast = hash;
    hash = 0xcbf29ce484222325ull;
    grpc_call_fast_path(0);
    run_script(data, size, keep);
    grpc_call_fast_path(1);
    if (hash != fast)
        __builtin_trap(); /* the one-message-per-frame path differs from the deframer's */
    return 0;
}
