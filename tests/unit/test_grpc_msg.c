/* Tests for grpc_msg: the 5-byte deframer (seed payloads, chunking invariance, caps, loss) and
 * decompression (round trips, zip bombs against the size and ratio caps, corrupt input). */
#include "gw_test.h"

#include <stdlib.h>
#include <zlib.h>
#ifdef GW_HAVE_ZSTD
#include <zstd.h>
#endif

#include "common/gw_err.h"
#include "common/gw_mem.h"
#include "grpc/grpc_msg.h"

/* Everything the deframer emitted, flattened so two runs can be compared byte for byte. */
typedef struct rec {
    int n;
    uint32_t len[64];
    int comp[64], trunc[64], has_body[64];
    size_t body_len[64];
    uint8_t bytes[8192];
    size_t nbytes;
} rec;

static void rec_cb(void *u, const grpc_frame_msg *m)
{
    rec *r = u;
    if (r->n >= 64)
        return;
    r->len[r->n] = m->length;
    r->comp[r->n] = m->compressed;
    r->trunc[r->n] = m->truncated;
    r->has_body[r->n] = m->body != NULL;
    r->body_len[r->n] = m->body_len;
    if (m->body && r->nbytes + m->body_len <= sizeof r->bytes) {
        memcpy(r->bytes + r->nbytes, m->body, m->body_len);
        r->nbytes += m->body_len;
    }
    r->n++;
}

static int rec_eq(const rec *a, const rec *b)
{
    if (a->n != b->n || a->nbytes != b->nbytes || memcmp(a->bytes, b->bytes, a->nbytes) != 0)
        return 0;
    for (int i = 0; i < a->n; i++)
        if (a->len[i] != b->len[i] || a->comp[i] != b->comp[i] || a->trunc[i] != b->trunc[i] ||
            a->has_body[i] != b->has_body[i] || a->body_len[i] != b->body_len[i])
            return 0;
    return 1;
}

static uint32_t rng = 12345;
static uint32_t rnd(void)
{
    rng = rng * 1103515245u + 12345u;
    return rng >> 8;
}

/* Feed in chunks: step 0 = all at once, 1 = byte at a time, -1 = random splits. */
static int feed_chunks(const uint8_t *p, size_t n, int step, size_t max_message, rec *r)
{
    grpc_deframer d;
    grpc_deframer_init(&d, max_message);
    memset(r, 0, sizeof *r);
    size_t off = 0;
    while (off < n) {
        size_t c = step == 0 ? n - off : step > 0 ? (size_t)step : 1 + rnd() % 9;
        if (c > n - off)
            c = n - off;
        GW_CHECK_INT(grpc_deframer_feed(&d, p + off, c, rec_cb, r), 0);
        off += c;
    }
    int pending = grpc_deframer_pending(&d);
    grpc_deframer_free(&d);
    return pending;
}

static void test_seed(void)
{
    static const struct {
        const char *hex;
        const char *body;
    } t[] = {
        {"00 00000007 0a05776f726c64", "0a05776f726c64"},                       /* request */
        {"00 0000000d 0a0b48656c6c6f20776f726c64", "0a0b48656c6c6f20776f726c64"}, /* response */
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        uint8_t in[64], body[64];
        size_t n = gw_test_unhex(t[i].hex, in, sizeof in);
        size_t bn = gw_test_unhex(t[i].body, body, sizeof body);
        rec whole, bytes, split;
        feed_chunks(in, n, 0, 1024, &whole);
        GW_CHECK_INT(whole.n, 1);
        GW_CHECK_INT(whole.len[0], bn);
        GW_CHECK_INT(whole.comp[0], 0);
        GW_CHECK_INT(whole.trunc[0], 0);
        GW_CHECK_MEM(whole.bytes, whole.nbytes, body, bn);
        feed_chunks(in, n, 1, 1024, &bytes);
        GW_CHECK(rec_eq(&whole, &bytes));
        for (int k = 0; k < 20; k++) {
            feed_chunks(in, n, -1, 1024, &split);
            GW_CHECK(rec_eq(&whole, &split));
        }
    }
}

static void test_many(void)
{
    /* Three messages (one empty, one compressed-flagged) in one chunk, then a long one. */
    uint8_t in[2048];
    size_t n = gw_test_unhex("00 00000003 616263  00 00000000  01 00000002 7879", in, sizeof in);
    in[n++] = 0;
    in[n++] = 0;
    in[n++] = 0;
    in[n++] = 0x07;
    in[n++] = 0xd0; /* 2000 */
    for (int i = 0; i < 2000 - 20; i++)
        in[n++] = (uint8_t)i;
    rec whole, other;
    GW_CHECK_INT(feed_chunks(in, n, 0, 4096, &whole), 1);
    GW_CHECK_INT(whole.n, 3); /* the long one is 20 bytes short: still pending */
    GW_CHECK_INT(feed_chunks(in, n, -1, 4096, &other), 1);
    GW_CHECK(rec_eq(&whole, &other));

    uint8_t big[4096];
    n = gw_test_unhex("00 00000003 616263  00 00000000  01 00000002 7879", big, sizeof big);
    big[n++] = 0;
    big[n++] = 0;
    big[n++] = 0;
    big[n++] = 0x07;
    big[n++] = 0xd0;
    for (int i = 0; i < 2000; i++)
        big[n++] = (uint8_t)(i * 7);
    n += gw_test_unhex("00 00000001 ff", big + n, sizeof big - n);
    GW_CHECK_INT(feed_chunks(big, n, 0, 4096, &whole), 0);
    GW_CHECK_INT(whole.n, 5);
    GW_CHECK_INT(whole.len[0], 3);
    GW_CHECK_INT(whole.len[1], 0);
    GW_CHECK_INT(whole.has_body[1], 1); /* zero-length messages have an empty body */
    GW_CHECK_INT(whole.comp[2], 1);
    GW_CHECK_INT(whole.len[3], 2000);
    GW_CHECK_INT(whole.body_len[3], 2000);
    GW_CHECK_INT(whole.len[4], 1);
    GW_CHECK_INT(whole.nbytes, 3 + 0 + 2 + 2000 + 1);
    feed_chunks(big, n, 1, 4096, &other);
    GW_CHECK(rec_eq(&whole, &other));
    for (int k = 0; k < 50; k++) {
        feed_chunks(big, n, -1, 4096, &other);
        GW_CHECK(rec_eq(&whole, &other));
    }
    /* Many empty messages. */
    uint8_t zeros[50];
    memset(zeros, 0, sizeof zeros);
    feed_chunks(zeros, sizeof zeros, 0, 16, &whole);
    GW_CHECK_INT(whole.n, 10);
    feed_chunks(zeros, sizeof zeros, -1, 16, &other);
    GW_CHECK(rec_eq(&whole, &other));
}

static void test_overflow(void)
{
    uint8_t in[256];
    size_t n = gw_test_unhex("00 00000064", in, sizeof in); /* 100 bytes, cap 10 */
    for (int i = 0; i < 100; i++)
        in[n++] = (uint8_t)i;
    n += gw_test_unhex("00 00000002 abcd", in + n, sizeof in - n);
    for (int step = -1; step <= 1; step++) {
        rec r;
        feed_chunks(in, n, step, 10, &r);
        GW_CHECK_INT(r.n, 2);
        GW_CHECK_INT(r.len[0], 100);
        GW_CHECK_INT(r.has_body[0], 0);
        GW_CHECK_INT(r.trunc[0], 1);
        GW_CHECK_INT(r.len[1], 2);
        GW_CHECK_INT(r.trunc[1], 0);
        GW_CHECK_MEM(r.bytes, r.nbytes, "\xab\xcd", 2);
    }
    /* Nothing is buffered for an over-cap message, even fed byte by byte. */
    grpc_deframer d;
    grpc_deframer_init(&d, 10);
    rec r;
    memset(&r, 0, sizeof r);
    for (size_t i = 0; i < 50; i++)
        grpc_deframer_feed(&d, in + i, 1, rec_cb, &r);
    GW_CHECK(d.body.cap <= 10);
    GW_CHECK_INT(d.body.len, 0);
    GW_CHECK_INT(grpc_deframer_pending(&d), 1);
    grpc_deframer_free(&d);
    /* A huge declared length never allocates it. */
    grpc_deframer_init(&d, 1 << 20);
    const uint8_t huge[] = {0, 0xff, 0xff, 0xff, 0xff, 1, 2, 3};
    grpc_deframer_feed(&d, huge, sizeof huge, rec_cb, &r);
    GW_CHECK(d.body.cap == 0);
    grpc_deframer_free(&d);
}

static void test_flush_reset(void)
{
    grpc_deframer d;
    grpc_deframer_init(&d, 100);
    rec r;
    memset(&r, 0, sizeof r);
    uint8_t in[32];
    size_t n = gw_test_unhex("00 00000008 01020304", in, sizeof in);
    grpc_deframer_feed(&d, in, n, rec_cb, &r);
    GW_CHECK_INT(r.n, 0);
    GW_CHECK_INT(grpc_deframer_pending(&d), 1);
    GW_CHECK_INT(grpc_deframer_flush(&d, rec_cb, &r), 1);
    GW_CHECK_INT(r.n, 1);
    GW_CHECK_INT(r.len[0], 8);
    GW_CHECK_INT(r.trunc[0], 1);
    GW_CHECK_MEM(r.bytes, r.nbytes, "\x01\x02\x03\x04", 4);
    GW_CHECK_INT(grpc_deframer_pending(&d), 0);
    GW_CHECK_INT(grpc_deframer_flush(&d, rec_cb, &r), 0);
    /* A partial prefix is dropped without a message. */
    grpc_deframer_feed(&d, in, 3, rec_cb, &r);
    GW_CHECK_INT(grpc_deframer_flush(&d, rec_cb, &r), 1);
    GW_CHECK_INT(r.n, 1);

    /* After a loss: a feed that cannot start a message is dropped whole; the next one that can
     * is taken. */
    memset(&r, 0, sizeof r);
    grpc_deframer_feed(&d, in, 7, rec_cb, &r);
    grpc_deframer_reset(&d);
    GW_CHECK_INT(grpc_deframer_pending(&d), 0);
    n = gw_test_unhex("55 00000001 aa 00 00000001 bb", in, sizeof in);
    grpc_deframer_feed(&d, in, n, rec_cb, &r);
    GW_CHECK_INT(r.n, 0);
    n = gw_test_unhex("00 00000001 cc", in, sizeof in);
    grpc_deframer_feed(&d, in, n, rec_cb, &r);
    GW_CHECK_INT(r.n, 1);
    GW_CHECK_MEM(r.bytes, r.nbytes, "\xcc", 1);
    grpc_deframer_free(&d);
    grpc_deframer_free(NULL);
}

/* ---- compression ---- */

static size_t zlib_compress(const uint8_t *p, size_t n, uint8_t *out, size_t cap, int window_bits)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (deflateInit2(&zs, 6, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return 0;
    zs.next_in = (Bytef *)(uintptr_t)p;
    zs.avail_in = (uInt)n;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    int zr = deflate(&zs, Z_FINISH);
    size_t len = cap - zs.avail_out;
    deflateEnd(&zs);
    return zr == Z_STREAM_END ? len : 0;
}

static void test_round_trips(void)
{
    static uint8_t plain[100000], comp[120000];
    for (size_t i = 0; i < sizeof plain; i++)
        plain[i] = (uint8_t)("hello world "[i % 12] + (i / 1000) % 3);
    gw_buf out, c;
    gw_buf_init(&out, 0);
    gw_buf_init(&c, 0);

    GW_CHECK_INT(grpc_compress_gzip(plain, sizeof plain, &c), 0);
    GW_CHECK(c.len > 18 && c.len < sizeof plain / 10);
    GW_CHECK_INT(c.data[0], 0x1f);
    GW_CHECK_INT(c.data[1], 0x8b);
    GW_CHECK_INT(grpc_decompress("gzip", c.data, c.len, &out, 1 << 20, 1000), 0);
    GW_CHECK_MEM(out.data, out.len, plain, sizeof plain);
    /* Appends to what is there. */
    GW_CHECK_INT(grpc_decompress("gzip", c.data, c.len, &out, 1 << 20, 1000), 0);
    GW_CHECK_INT(out.len, 2 * sizeof plain);
    gw_buf_reset(&out);
    /* Empty message. */
    gw_buf_reset(&c);
    GW_CHECK_INT(grpc_compress_gzip(plain, 0, &c), 0);
    GW_CHECK_INT(grpc_decompress("gzip", c.data, c.len, &out, 1 << 20, 1000), 0);
    GW_CHECK_INT(out.len, 0);

    /* deflate: zlib format, and raw deflate (no zlib header) accepted too. */
    size_t cn = zlib_compress(plain, sizeof plain, comp, sizeof comp, 15);
    GW_CHECK(cn > 0);
    GW_CHECK_INT(grpc_decompress("deflate", comp, cn, &out, 1 << 20, 1000), 0);
    GW_CHECK_MEM(out.data, out.len, plain, sizeof plain);
    gw_buf_reset(&out);
    cn = zlib_compress(plain, sizeof plain, comp, sizeof comp, -15);
    GW_CHECK(cn > 0);
    GW_CHECK_INT(grpc_decompress("deflate", comp, cn, &out, 1 << 20, 1000), 0);
    GW_CHECK_MEM(out.data, out.len, plain, sizeof plain);
    gw_buf_reset(&out);
    /* identity copies, within max_out. */
    GW_CHECK_INT(grpc_decompress("identity", plain, 10, &out, 100, 1), 0);
    GW_CHECK_MEM(out.data, out.len, plain, 10);
    gw_buf_reset(&out);
    GW_CHECK_INT(grpc_decompress("identity", plain, 101, &out, 100, 1), GW_ECAP);
#ifdef GW_HAVE_ZSTD
    cn = ZSTD_compress(comp, sizeof comp, plain, sizeof plain, 3);
    GW_CHECK(!ZSTD_isError(cn));
    GW_CHECK_INT(grpc_decompress("zstd", comp, cn, &out, 1 << 20, 1000), 0);
    GW_CHECK_MEM(out.data, out.len, plain, sizeof plain);
    gw_buf_reset(&out);
    /* Two frames back to back decode as one message. */
    size_t cn2 = ZSTD_compress(comp + cn, sizeof comp - cn, plain, 500, 3);
    GW_CHECK_INT(grpc_decompress("zstd", comp, cn + cn2, &out, 1 << 20, 1000), 0);
    GW_CHECK_INT(out.len, sizeof plain + 500);
    gw_buf_reset(&out);
    /* Truncated zstd frame. */
    GW_CHECK_INT(grpc_decompress("zstd", comp, cn - 3, &out, 1 << 20, 1000), GW_EPARSE);
    GW_CHECK_INT(out.len, 0);
    GW_CHECK_INT(grpc_decompress("zstd", comp, 0, &out, 1 << 20, 1000), GW_EPARSE);
#else
    GW_CHECK_INT(grpc_decompress("zstd", comp, 10, &out, 1 << 20, 1000), GW_EUNSUPPORTED);
#endif
    gw_buf_free(&out);
    gw_buf_free(&c);
}

static void test_bombs(void)
{
    /* 8 MiB of zeros compress to a few KiB: ratio ~1000. */
    size_t plain_n = 8u << 20;
    uint8_t *plain = calloc(1, plain_n);
    gw_buf c, out;
    gw_buf_init(&c, 0);
    gw_buf_init(&out, 0);
    GW_CHECK_INT(grpc_compress_gzip(plain, plain_n, &c), 0);
    /* Size cap. */
    GW_CHECK_INT(grpc_decompress("gzip", c.data, c.len, &out, 1 << 20, 0), GW_ECAP);
    GW_CHECK_INT(out.len, 0);
    GW_CHECK(out.cap <= (1u << 20)); /* never allocated beyond the cap */
    gw_buf_free(&out);
    /* Ratio cap. */
    GW_CHECK_INT(grpc_decompress("gzip", c.data, c.len, &out, 64u << 20, 10), GW_ECAP);
    GW_CHECK(out.cap <= c.len * 10);
    GW_CHECK_INT(out.len, 0);
    gw_buf_free(&out);
    /* Exactly at the cap is fine. */
    GW_CHECK_INT(grpc_decompress("gzip", c.data, c.len, &out, plain_n, 0), 0);
    GW_CHECK_INT(out.len, plain_n);
    gw_buf_free(&out);
    GW_CHECK_INT(grpc_decompress("gzip", c.data, c.len, &out, plain_n - 1, 0), GW_ECAP);
    gw_buf_free(&out);
    /* The caller's own buffer limit holds as well. */
    gw_buf_init(&out, 4096);
    GW_CHECK_INT(grpc_decompress("gzip", c.data, c.len, &out, plain_n, 0), GW_ECAP);
    GW_CHECK(out.cap <= 4096);
    gw_buf_free(&out);
#ifdef GW_HAVE_ZSTD
    size_t zb = ZSTD_compressBound(plain_n);
    uint8_t *z = malloc(zb);
    size_t zn = ZSTD_compress(z, zb, plain, plain_n, 1);
    GW_CHECK(!ZSTD_isError(zn));
    gw_buf_init(&out, 0);
    GW_CHECK_INT(grpc_decompress("zstd", z, zn, &out, 1 << 20, 0), GW_ECAP);
    GW_CHECK(out.cap <= (1u << 20));
    gw_buf_free(&out);
    GW_CHECK_INT(grpc_decompress("zstd", z, zn, &out, 64u << 20, 100), GW_ECAP);
    gw_buf_free(&out);
    free(z);
#endif
    free(plain);
    gw_buf_free(&c);
}

static void test_corrupt(void)
{
    uint8_t junk[300];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (uint8_t)(rnd() & 0xff);
    gw_buf out, c;
    gw_buf_init(&out, 0);
    gw_buf_init(&c, 0);
    GW_CHECK_INT(grpc_decompress("gzip", junk, sizeof junk, &out, 1 << 20, 1000), GW_EPARSE);
    GW_CHECK_INT(grpc_decompress("gzip", junk, 0, &out, 1 << 20, 1000), GW_EPARSE);
    GW_CHECK_INT(grpc_decompress("deflate", (const uint8_t *)"\x78\x9c\xff\xff", 4, &out, 1 << 20,
                                 1000),
                 GW_EPARSE);
    GW_CHECK_INT(grpc_decompress("br", junk, 10, &out, 1 << 20, 1000), GW_EUNSUPPORTED);
    GW_CHECK_INT(grpc_decompress("snappy", junk, 10, &out, 1 << 20, 1000), GW_EUNSUPPORTED);
    GW_CHECK_INT(grpc_decompress(NULL, junk, 10, &out, 1 << 20, 1000), GW_EUNSUPPORTED);
#ifdef GW_HAVE_ZSTD
    GW_CHECK_INT(grpc_decompress("zstd", junk, sizeof junk, &out, 1 << 20, 1000), GW_EPARSE);
#endif
    /* Truncated gzip and trailing bytes after the stream. */
    const char *msg = "the quick brown fox jumps over the lazy dog";
    GW_CHECK_INT(grpc_compress_gzip((const uint8_t *)msg, strlen(msg), &c), 0);
    GW_CHECK_INT(grpc_decompress("gzip", c.data, c.len - 4, &out, 1 << 20, 1000), GW_EPARSE);
    GW_CHECK_INT(grpc_decompress("gzip", c.data, c.len / 2, &out, 1 << 20, 1000), GW_EPARSE);
    gw_buf_putc(&c, 0);
    GW_CHECK_INT(grpc_decompress("gzip", c.data, c.len, &out, 1 << 20, 1000), GW_EPARSE);
    /* A flipped bit in the body fails the CRC. */
    c.len--;
    c.data[c.len - 9] ^= 0x55;
    GW_CHECK_INT(grpc_decompress("gzip", c.data, c.len, &out, 1 << 20, 1000), GW_EPARSE);
    GW_CHECK_INT(out.len, 0);
    gw_buf_free(&out);
    gw_buf_free(&c);
}

/* Fail each allocation in turn: errors come back, nothing leaks or crashes. */
static void test_failmalloc(void)
{
    const char *msg = "failmalloc failmalloc failmalloc failmalloc";
    gw_buf c;
    gw_buf_init(&c, 0);
    GW_CHECK_INT(grpc_compress_gzip((const uint8_t *)msg, strlen(msg), &c), 0);
    int ok = 0;
    for (long k = 0; k < 20 && !ok; k++) {
        gw_buf out;
        gw_buf_init(&out, 0);
        gw_mem_fail_after(k);
        int rc = grpc_decompress("gzip", c.data, c.len, &out, 1 << 20, 1000);
        gw_mem_fail_after(-1);
        GW_CHECK(rc == 0 || rc == GW_ENOMEM);
        if (rc == 0) {
            GW_CHECK_MEM(out.data, out.len, msg, strlen(msg));
            ok = 1;
        }
        gw_buf_free(&out);
    }
    GW_CHECK(ok);
    uint8_t in[32];
    size_t n = gw_test_unhex("00 00000004 01020304", in, sizeof in);
    for (long k = 0; k < 3; k++) {
        grpc_deframer d;
        grpc_deframer_init(&d, 100);
        rec r;
        memset(&r, 0, sizeof r);
        gw_mem_fail_after(k);
        int rc = 0;
        for (size_t i = 0; i < n; i++)
            rc |= grpc_deframer_feed(&d, in + i, 1, rec_cb, &r);
        gw_mem_fail_after(-1);
        GW_CHECK(rc == 0 || rc == GW_ENOMEM);
        grpc_deframer_free(&d);
    }
    gw_buf_free(&c);
}

/* What the callback can see of the deframer: the same whether a message came whole in one feed
 * (the fast path) or in pieces. */
typedef struct peek {
    grpc_deframer *d;
    int n;
    uint8_t flag[8];
    int pending[8], skipped[8], has_body[8];
    uint32_t len[8];
} peek;

static void peek_cb(void *u, const grpc_frame_msg *m)
{
    peek *k = u;
    if (k->n >= 8)
        return;
    k->flag[k->n] = k->d->hdr[0];
    k->pending[k->n] = grpc_deframer_pending(k->d);
    k->skipped[k->n] = m->skipped;
    k->has_body[k->n] = m->body != NULL;
    k->len[k->n] = m->length;
    k->n++;
}

static void test_whole_feed(void)
{
    uint8_t in[64];
    size_t n = gw_test_unhex("80 00000003 616263  01 00000002 7879  00 00000000"
                             "00 00000004 31323334",
                             in, sizeof in);
    for (int discard = 0; discard <= 1; discard++) {
        peek a, b;
        memset(&a, 0, sizeof a);
        memset(&b, 0, sizeof b);
        grpc_deframer da, db;
        grpc_deframer_init(&da, 1024);
        grpc_deframer_init(&db, 1024);
        da.discard = db.discard = discard;
        a.d = &da;
        b.d = &db;
        GW_CHECK_INT(grpc_deframer_feed(&da, in, n, peek_cb, &a), 0);
        for (size_t i = 0; i < n; i++)
            GW_CHECK_INT(grpc_deframer_feed(&db, in + i, 1, peek_cb, &b), 0);
        GW_CHECK_INT(a.n, 4);
        GW_CHECK_INT(b.n, 4);
        for (int i = 0; i < 4; i++) {
            GW_CHECK_INT(a.flag[i], b.flag[i]);
            GW_CHECK_INT(a.pending[i], 1);
            GW_CHECK_INT(b.pending[i], 1);
            GW_CHECK_INT(a.skipped[i], discard);
            GW_CHECK_INT(b.skipped[i], discard);
            GW_CHECK_INT(a.has_body[i], !discard);
            GW_CHECK_INT(b.has_body[i], !discard);
            GW_CHECK_INT(a.len[i], b.len[i]);
        }
        GW_CHECK_INT(a.flag[0], 0x80);
        GW_CHECK_INT(grpc_deframer_pending(&da), 0);
        GW_CHECK_INT(grpc_deframer_pending(&db), 0);
        grpc_deframer_free(&da);
        grpc_deframer_free(&db);
    }
}

/* A large message arriving in pieces is assembled in a block a freed deframer left (gw_big): the
 * same pages, and the message is whole. */
static void sum_cb(void *u, const grpc_frame_msg *m)
{
    size_t *sum = u;
    for (size_t i = 0; m->body && i < m->body_len; i++)
        *sum += m->body[i];
}

static void test_big_reuse(void)
{
    size_t len = 300000;
    uint8_t *in = gw_malloc(5 + len);
    GW_CHECK(in != NULL);
    if (!in)
        return;
    in[0] = 0;
    in[1] = (uint8_t)(len >> 24), in[2] = (uint8_t)(len >> 16);
    in[3] = (uint8_t)(len >> 8), in[4] = (uint8_t)len;
    size_t want = 0;
    for (size_t i = 0; i < len; i++)
        want += in[5 + i] = (uint8_t)(i * 7);
    const uint8_t *block = NULL;
    for (int round = 0; round < 2; round++) {
        grpc_deframer d;
        grpc_deframer_init(&d, 1u << 20);
        size_t sum = 0;
        GW_CHECK_INT(grpc_deframer_feed(&d, in, 1000, sum_cb, &sum), 0);
        GW_CHECK_INT(grpc_deframer_feed(&d, in + 1000, 5 + len - 1000, sum_cb, &sum), 0);
        GW_CHECK_INT(sum, want);
        if (round == 0)
            block = d.body.data;
        else
            GW_CHECK(d.body.data == block); /* the first round's block, kept by gw_big_put */
        grpc_deframer_free(&d);
        size_t cap;
        uint8_t *kept = gw_big_get(1, &cap);
        GW_CHECK(kept == block && cap >= len);
        if (round == 0)
            gw_big_put(kept);
        else
            gw_free(kept); /* the slot empty again */
    }
    gw_free(in);
}

int main(void)
{
    test_big_reuse();
    test_seed();
    test_many();
    test_overflow();
    test_flush_reset();
    test_round_trips();
    test_bombs();
    test_corrupt();
    test_failmalloc();
    test_whole_feed();
    GW_TEST_END();
}
