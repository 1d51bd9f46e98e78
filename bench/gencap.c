/* gencap: write a large, realistic gRPC capture deterministically (a seed and a size), for the
 * benchmarks. Many interleaved connections over Ethernet/IPv4 and IPv6; each has a handshake,
 * the HTTP/2 preface and SETTINGS, then unary and streaming calls whose header blocks come from
 * nghttp2's HPACK encoder (dynamic-table use as a real stack does it), messages from tens of
 * bytes to a megabyte, some gzip-compressed, some failing with a status and message; segments
 * are cut at the MSS and acknowledged. Usage: gencap [-s SEED] [-n BYTES] -o FILE */
#include <nghttp2/nghttp2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define NCONN 48
#define MSS 1448

static uint64_t rng_state;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}
static uint32_t rnd_below(uint32_t n) { return (uint32_t)(rnd() % n); }

static FILE *out;
static uint64_t written, target;
static int64_t now_us = 1700000000LL * 1000000;

typedef struct side {
    uint8_t mac[6];
    uint8_t ip[16];
    uint16_t port;
    uint32_t seq;
    nghttp2_hd_deflater *hd;
} side;

typedef struct conn {
    int v6;
    side s[2]; /* 0 client, 1 server */
    uint32_t next_stream;
    int open;
    int calls_left;
    uint8_t *buf[2];  /* pending bytes per direction, flushed as segments */
    size_t len[2], cap[2];
} conn;

static conn conns[NCONN];

static uint16_t csum_fold(uint32_t s)
{
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)~s;
}

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)(v >> 16)); put16(p + 2, (uint16_t)v); }

static void emit(conn *c, int from, uint8_t flags, const uint8_t *payload, size_t n)
{
    uint8_t pkt[14 + 40 + 20 + MSS];
    side *a = &c->s[from], *b = &c->s[!from];
    size_t l3 = c->v6 ? 40 : 20, off = 0;
    memcpy(pkt, b->mac, 6);
    memcpy(pkt + 6, a->mac, 6);
    put16(pkt + 12, c->v6 ? 0x86dd : 0x0800);
    off = 14;
    if (c->v6) {
        memset(pkt + off, 0, 40);
        put32(pkt + off, 6u << 28);
        put16(pkt + off + 4, (uint16_t)(20 + n));
        pkt[off + 6] = 6;
        pkt[off + 7] = 64;
        memcpy(pkt + off + 8, a->ip, 16);
        memcpy(pkt + off + 24, b->ip, 16);
    } else {
        memset(pkt + off, 0, 20);
        pkt[off] = 0x45;
        put16(pkt + off + 2, (uint16_t)(20 + 20 + n));
        put16(pkt + off + 4, (uint16_t)rnd());
        pkt[off + 6] = 0x40;
        pkt[off + 8] = 64;
        pkt[off + 9] = 6;
        memcpy(pkt + off + 12, a->ip, 4);
        memcpy(pkt + off + 16, b->ip, 4);
        uint32_t s = 0;
        for (int i = 0; i < 20; i += 2)
            s += (uint32_t)pkt[off + i] << 8 | pkt[off + i + 1];
        put16(pkt + off + 10, csum_fold(s));
    }
    off += l3;
    uint8_t *t = pkt + off;
    memset(t, 0, 20);
    put16(t, a->port);
    put16(t + 2, b->port);
    put32(t + 4, a->seq);
    put32(t + 8, (flags & 0x10) ? b->seq : 0);
    t[12] = 5 << 4;
    t[13] = flags;
    put16(t + 14, 65535);
    if (n) /* payload may be NULL for a bare segment */
        memcpy(t + 20, payload, n);
    a->seq += (uint32_t)n + ((flags & 0x03) ? 1 : 0);
    size_t total = off + 20 + n;
    uint32_t rec[4] = {(uint32_t)(now_us / 1000000), (uint32_t)(now_us % 1000000), (uint32_t)total,
                       (uint32_t)total};
    fwrite(rec, 4, 4, out);
    fwrite(pkt, 1, total, out);
    written += 16 + total;
    now_us += 1 + rnd_below(40);
}

static void queue(conn *c, int from, const uint8_t *p, size_t n)
{
    if (c->len[from] + n > c->cap[from]) {
        size_t nc = (c->cap[from] ? c->cap[from] : 4096);
        while (nc < c->len[from] + n)
            nc *= 2;
        c->buf[from] = realloc(c->buf[from], nc);
        if (!c->buf[from])
            exit(1);
        c->cap[from] = nc;
    }
    if (n) /* p may be NULL for an empty payload */
        memcpy(c->buf[from] + c->len[from], p, n);
    c->len[from] += n;
}

/* Send what is queued in one direction as MSS-sized segments, ACKed every second segment. */
static void flush(conn *c, int from)
{
    size_t off = 0;
    int k = 0;
    while (off < c->len[from]) {
        size_t n = c->len[from] - off > MSS ? MSS : c->len[from] - off;
        emit(c, from, 0x18, c->buf[from] + off, n);
        off += n;
        if (++k % 2 == 0 || off == c->len[from])
            emit(c, !from, 0x10, NULL, 0);
    }
    c->len[from] = 0;
}

static void frame(conn *c, int from, uint8_t type, uint8_t flags, uint32_t stream, const uint8_t *p,
                  size_t n)
{
    uint8_t h[9];
    h[0] = (uint8_t)(n >> 16);
    h[1] = (uint8_t)(n >> 8);
    h[2] = (uint8_t)n;
    h[3] = type;
    h[4] = flags;
    put32(h + 5, stream);
    queue(c, from, h, 9);
    queue(c, from, p, n);
}

static void headers(conn *c, int from, uint32_t stream, int end_stream, nghttp2_nv *nv, size_t nnv)
{
    uint8_t block[8192];
    ssize_t n = nghttp2_hd_deflate_hd(c->s[from].hd, block, sizeof block, nv, nnv);
    if (n < 0)
        exit(1);
    frame(c, from, 1, (uint8_t)(0x04 | (end_stream ? 1 : 0)), stream, block, (size_t)n);
}

#define NV(n, v) {(uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v), NGHTTP2_NV_FLAG_NONE}

static size_t msg_size(void)
{
    uint32_t r = rnd_below(1000);
    if (r < 600)
        return 10 + rnd_below(200);
    if (r < 900)
        return 200 + rnd_below(4000);
    if (r < 995)
        return 4000 + rnd_below(60000);
    return 200000 + rnd_below(900000);
}

/* A protobuf-looking message: field 1 a name, field 2 an id, field 3 a payload blob. */
static size_t make_msg(uint8_t *m, size_t want)
{
    static const char *names[] = {"world", "alice", "bob", "grpcwire", "capture"};
    const char *nm = names[rnd_below(5)];
    size_t o = 0, nl = strlen(nm);
    m[o++] = 0x0a;
    m[o++] = (uint8_t)nl;
    memcpy(m + o, nm, nl);
    o += nl;
    m[o++] = 0x10;
    m[o++] = (uint8_t)(1 + rnd_below(127));
    if (want > o + 6) {
        size_t bl = want - o - 6;
        m[o++] = 0x1a;
        size_t v = bl;
        do {
            m[o++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
            v >>= 7;
        } while (v);
        for (size_t i = 0; i < bl; i++)
            m[o + i] = (uint8_t)("abcdefghij0123456789 "[(i * 7 + (i >> 5)) % 21]);
        o += bl;
    }
    return o;
}

static void message(conn *c, int from, uint32_t stream, int gzip, int end_stream)
{
    static uint8_t raw[1 << 21], z[1 << 21], framed[(1 << 21) + 5];
    size_t n = make_msg(raw, msg_size());
    const uint8_t *body = raw;
    if (gzip) {
        z_stream zs;
        memset(&zs, 0, sizeof zs);
        deflateInit2(&zs, 6, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY);
        zs.next_in = raw;
        zs.avail_in = (uInt)n;
        zs.next_out = z;
        zs.avail_out = sizeof z;
        deflate(&zs, Z_FINISH);
        n = zs.total_out;
        deflateEnd(&zs);
        body = z;
    }
    framed[0] = (uint8_t)gzip;
    put32(framed + 1, (uint32_t)n);
    memcpy(framed + 5, body, n);
    size_t total = n + 5, off = 0;
    /* DATA frames of at most 16 KiB, as the default SETTINGS_MAX_FRAME_SIZE allows */
    while (off < total) {
        size_t k = total - off > 16384 ? 16384 : total - off;
        frame(c, from, 0, (uint8_t)(end_stream && off + k == total ? 1 : 0), stream, framed + off, k);
        off += k;
    }
}

static const char *methods[] = {
    "/helloworld.Greeter/SayHello",        "/shop.Catalog/GetProduct",
    "/shop.Catalog/ListProducts",          "/shop.Cart/AddItem",
    "/shop.Orders/Watch",                  "/auth.Tokens/Refresh",
    "/helloworld.Greeter/SayHelloBidiStream", "/metrics.Ingest/Push",
};

static void one_call(conn *c)
{
    uint32_t st = c->next_stream;
    c->next_stream += 2;
    int mi = (int)rnd_below(8);
    int streaming = mi == 2 || mi == 4 ? 1 : mi == 6 ? 3 : mi == 7 ? 2 : 0; /* server/bidi/client */
    int gzip = rnd_below(10) == 0;
    char timeout[16];
    snprintf(timeout, sizeof timeout, "%uu", 100000 + rnd_below(900000));
    nghttp2_nv req[] = {NV(":method", "POST"),       NV(":scheme", "http"),
                        NV(":path", methods[mi]),    NV(":authority", "svc.internal:50051"),
                        NV("content-type", "application/grpc"), NV("user-agent", "grpc-go/1.63.0"),
                        NV("te", "trailers"),        NV("grpc-timeout", timeout),
                        NV("grpc-encoding", "gzip"), NV("grpc-accept-encoding", "gzip")};
    headers(c, 0, st, 0, req, gzip ? 10 : 8);
    int nreq = streaming == 2 || streaming == 3 ? 2 + (int)rnd_below(6) : 1;
    for (int i = 0; i < nreq; i++)
        message(c, 0, st, gzip, i == nreq - 1);
    flush(c, 0);
    nghttp2_nv resp[] = {NV(":status", "200"), NV("content-type", "application/grpc"),
                         NV("grpc-encoding", "gzip")};
    headers(c, 1, st, 0, resp, gzip ? 3 : 2);
    int fail = rnd_below(20) == 0;
    int nresp = fail ? 0 : (streaming == 1 || streaming == 3) ? 1 + (int)rnd_below(10) : 1;
    for (int i = 0; i < nresp; i++)
        message(c, 1, st, gzip, 0);
    char code[4];
    snprintf(code, sizeof code, "%u", fail ? 1 + rnd_below(16) : 0);
    nghttp2_nv tr[] = {NV("grpc-status", code), NV("grpc-message", fail ? "backend said no" : "")};
    headers(c, 1, st, 1, tr, 2);
    flush(c, 1);
}

static void open_conn(conn *c, int idx)
{
    static uint16_t next_port = 40000;
    memset(c, 0, sizeof *c);
    c->v6 = idx % 4 == 3;
    for (int k = 0; k < 2; k++) {
        side *s = &c->s[k];
        s->mac[0] = 0x02;
        s->mac[5] = (uint8_t)(k * 100 + idx);
        if (c->v6) {
            s->ip[0] = 0xfd;
            s->ip[15] = (uint8_t)(k ? 1 : 10 + idx);
        } else {
            s->ip[0] = 10;
            s->ip[2] = (uint8_t)k;
            s->ip[3] = (uint8_t)(k ? 1 + idx % 4 : 10 + idx);
        }
        s->seq = (uint32_t)rnd();
        nghttp2_hd_deflate_new(&s->hd, 4096);
    }
    c->s[0].port = next_port++;
    if (next_port > 60000)
        next_port = 40000;
    c->s[1].port = 50051;
    c->next_stream = 1;
    c->calls_left = 20 + (int)rnd_below(500);
    emit(c, 0, 0x02, NULL, 0);
    emit(c, 1, 0x12, NULL, 0);
    emit(c, 0, 0x10, NULL, 0);
    queue(c, 0, (const uint8_t *)"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 24);
    uint8_t settings[] = {0, 2, 0, 0, 0, 0, 0, 4, 0, 0x40, 0, 0};
    frame(c, 0, 4, 0, 0, settings, sizeof settings);
    uint8_t wu[] = {0, 0x0e, 0, 1};
    frame(c, 0, 8, 0, 0, wu, 4);
    flush(c, 0);
    uint8_t ssettings[] = {0, 5, 0, 0, 0x40, 0};
    frame(c, 1, 4, 0, 0, ssettings, sizeof ssettings);
    frame(c, 1, 4, 1, 0, NULL, 0);
    flush(c, 1);
    frame(c, 0, 4, 1, 0, NULL, 0);
    flush(c, 0);
    c->open = 1;
}

static void close_conn(conn *c)
{
    uint8_t ga[8] = {0};
    put32(ga, c->next_stream - 2);
    frame(c, 1, 7, 0, 0, ga, 8);
    flush(c, 1);
    emit(c, 0, 0x11, NULL, 0);
    emit(c, 1, 0x11, NULL, 0);
    emit(c, 0, 0x10, NULL, 0);
    for (int k = 0; k < 2; k++)
        nghttp2_hd_deflate_del(c->s[k].hd);
    free(c->buf[0]);
    free(c->buf[1]);
    c->open = 0;
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    uint64_t seed = 1;
    int opt;
    target = 100ull << 20;
    while ((opt = getopt(argc, argv, "s:n:o:")) != -1) {
        switch (opt) {
        case 's': seed = strtoull(optarg, NULL, 10); break;
        case 'n': target = strtoull(optarg, NULL, 10); break;
        case 'o': path = optarg; break;
        default:
            fprintf(stderr, "usage: gencap [-s SEED] [-n BYTES] -o FILE\n");
            return 2;
        }
    }
    if (!path) {
        fprintf(stderr, "usage: gencap [-s SEED] [-n BYTES] -o FILE\n");
        return 2;
    }
    rng_state = seed * 0x9e3779b97f4a7c15ull + 1;
    out = strcmp(path, "-") ? fopen(path, "wb") : stdout;
    if (!out) {
        perror(path);
        return 1;
    }
    uint32_t hdr[6] = {0xa1b2c3d4, 0x00040002, 0, 0, 262144, 1};
    fwrite(hdr, 4, 6, out);
    written = 24;
    int idx = 0;
    for (int i = 0; i < NCONN; i++)
        open_conn(&conns[i], idx++ % 200);
    while (written < target) {
        conn *c = &conns[rnd_below(NCONN)];
        one_call(c);
        if (--c->calls_left <= 0) {
            close_conn(c);
            open_conn(c, idx++ % 200);
        }
    }
    for (int i = 0; i < NCONN; i++)
        if (conns[i].open)
            close_conn(&conns[i]);
    if (out != stdout)
        fclose(out);
    return 0;
}
