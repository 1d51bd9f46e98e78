/* Differential tests: our HPACK decoder against nghttp2's inflater (Debian 12: 1.52, ssize_t
 * API), on blocks from nghttp2's deflater, from a local encoder that uses every representation,
 * on mutated blocks, and mid-capture (our decoder joins a connection late). Fixed seeds. */
#include <stdlib.h>
#include <nghttp2/nghttp2.h>
#include "gw_test.h"
#include "gw_err.h"
#include "gw_mem.h"
#include "h2/hpack.h"
#include "h2/hpack_dyn.h"

#define MAXF 128
#define POOL (1 << 20)

typedef struct hfield {
    size_t name_off, name_len, value_off, value_len;
    int never;
    int unknown_name, unknown_value;
} hfield;

typedef struct hlist {
    hfield f[MAXF];
    int n;
    uint8_t pool[POOL];
    size_t used;
} hlist;

static void hl_add(hlist *l, const uint8_t *name, size_t nl, const uint8_t *value, size_t vl,
                   int never, int un, int uv)
{
    if (l->n >= MAXF || l->used + nl + vl > POOL) {
        l->n++; /* counted, contents dropped: lists will differ in n only if both overflow */
        return;
    }
    hfield *f = &l->f[l->n++];
    f->name_off = l->used;
    f->name_len = nl;
    memcpy(l->pool + l->used, name, nl);
    l->used += nl;
    f->value_off = l->used;
    f->value_len = vl;
    memcpy(l->pool + l->used, value, vl);
    l->used += vl;
    f->never = never;
    f->unknown_name = un;
    f->unknown_value = uv;
}

static int ng_decode(nghttp2_hd_inflater *inf, const uint8_t *p, size_t n, hlist *l)
{
    l->n = 0;
    l->used = 0;
    for (;;) {
        nghttp2_nv nv;
        int flags = 0;
        ssize_t rv = nghttp2_hd_inflate_hd2(inf, &nv, &flags, p, n, 1);
        if (rv < 0)
            return -1;
        p += rv;
        n -= (size_t)rv;
        if (flags & NGHTTP2_HD_INFLATE_EMIT)
            hl_add(l, nv.name, nv.namelen, nv.value, nv.valuelen,
                   (nv.flags & NGHTTP2_NV_FLAG_NO_INDEX) != 0, 0, 0);
        if (flags & NGHTTP2_HD_INFLATE_FINAL) {
            nghttp2_hd_inflate_end_headers(inf);
            return 0;
        }
        if (!(flags & NGHTTP2_HD_INFLATE_EMIT) && n == 0)
            return -1;
    }
}

static int our_cb(void *u, const hpack_field *f)
{
    hl_add(u, (const uint8_t *)f->name, f->name_len, (const uint8_t *)f->value, f->value_len,
           f->rep == HPACK_NEVER_INDEXED_NAME || f->rep == HPACK_NEVER_NEW_NAME, f->unknown_name,
           f->unknown_value);
    return 0;
}

/* Which entry point decodes: the callback one (its general path only), or hpack_decode_into,
 * whose fast paths (references to known entries, the usual literal with incremental indexing,
 * the block cache) then meet nghttp2 too. main() runs every test with each. */
static int use_into;
static hpack_field *into_arr;
static size_t into_cap;

static int our_decode(hpack_decoder *d, const uint8_t *p, size_t n, hlist *l, const char **why)
{
    l->n = 0;
    l->used = 0;
    if (!use_into)
        return hpack_decode_block(d, p, n, our_cb, l, why);
    hpack_into io = {into_arr, 0, into_cap, our_cb, l, 0, 0, NULL, 0};
    int rv = hpack_decode_into(d, p, n, &io);
    into_arr = io.fields;
    into_cap = io.cap;
    for (size_t i = 0; i < io.nfields; i++)
        our_cb(l, &io.fields[i]);
    if (why)
        *why = io.why;
    return rv;
}

/* Exact equality; with allow_unknown, our unknown parts match anything. */
static int lists_equal(const hlist *a, const hlist *ng, int allow_unknown)
{
    if (a->n != ng->n)
        return 0;
    for (int i = 0; i < a->n && i < MAXF; i++) {
        const hfield *x = &a->f[i], *y = &ng->f[i];
        if (!allow_unknown && (x->unknown_name || x->unknown_value))
            return 0;
        if (!x->unknown_name && (x->name_len != y->name_len ||
                                 memcmp(a->pool + x->name_off, ng->pool + y->name_off, x->name_len)))
            return 0;
        if (!x->unknown_value &&
            (x->value_len != y->value_len ||
             memcmp(a->pool + x->value_off, ng->pool + y->value_off, x->value_len)))
            return 0;
        if (x->never != y->never)
            return 0;
    }
    return 1;
}

/* mode 2: nghttp2's dynamic table equals ours. mode 1 (we joined late, now synced): it is the
 * newest part of ours (we may keep entries the encoder dropped, never the reverse). mode 0 (we
 * joined late, unsynced): the entries both have agree, ours newest first. */
static int tables_equal(hpack_decoder *d, nghttp2_hd_inflater *inf, int mode)
{
    const hpack_dyn *t = hpack_decoder_table(d);
    size_t ngn = nghttp2_hd_inflate_get_num_table_entries(inf) - 61;
    if (mode == 2 && (ngn != t->count || nghttp2_hd_inflate_get_dynamic_table_size(inf) != t->size))
        return 0;
    if (mode == 1 && ngn > t->count)
        return 0;
    for (size_t i = 1; i <= ngn && i <= t->count; i++) {
        const nghttp2_nv *nv = nghttp2_hd_inflate_get_table_entry(inf, 61 + i);
        const hpack_entry *e = hpack_dyn_get(t, i);
        if (!nv || !e || e->value_len != nv->valuelen || memcmp(e->value, nv->value, nv->valuelen))
            return 0;
        if (!e->name_unknown &&
            (e->name_len != nv->namelen || memcmp(e->name, nv->name, nv->namelen)))
            return 0;
        if (mode == 2 && e->name_unknown)
            return 0;
    }
    return 1;
}

/* ---- random header lists ---- */

static uint32_t rng = 1;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}
static uint32_t rndn(uint32_t n) { return n ? rnd() % n : 0; }

static const char *const names[] = {
    ":method", ":path", ":authority", ":scheme", ":status", "content-type", "user-agent", "te",
    "grpc-timeout", "grpc-status", "grpc-message", "grpc-encoding", "grpc-accept-encoding",
    "cookie", "authorization", "x-custom", "accept-encoding", "date", "set-cookie", "location",
};
static const char *const values[] = {
    "POST", "GET", "/helloworld.Greeter/SayHello", "localhost:50051", "http", "200",
    "application/grpc", "grpc-go/1.63.0", "trailers", "999250u", "0", "", "identity,gzip",
};

static uint8_t strbuf[1 << 16];
static size_t strbuf_used;

static void rnd_bytes(uint8_t *p, size_t n, int printable)
{
    for (size_t i = 0; i < n; i++)
        p[i] = printable ? (uint8_t)('a' + rndn(26)) : (uint8_t)rnd();
}

static void rnd_str(const char *const *pool, size_t npool, uint8_t **s, size_t *len)
{
    uint32_t k = rndn(10);
    if (k < 6) {
        const char *c = pool[rndn((uint32_t)npool)];
        *s = (uint8_t *)c;
        *len = strlen(c);
        return;
    }
    size_t n = k < 9 ? rndn(40) : rndn(k == 9 && rndn(4) == 0 ? 3000 : 300);
    if (strbuf_used + n > sizeof strbuf)
        strbuf_used = 0;
    *s = strbuf + strbuf_used;
    rnd_bytes(*s, n, rndn(3) != 0);
    *len = n;
    strbuf_used += n;
}

static size_t rnd_list(nghttp2_nv *nva, size_t max)
{
    size_t n = rndn((uint32_t)max) + 1;
    strbuf_used = 0;
    for (size_t i = 0; i < n; i++) {
        rnd_str(names, sizeof names / sizeof names[0], &nva[i].name, &nva[i].namelen);
        rnd_str(values, sizeof values / sizeof values[0], &nva[i].value, &nva[i].valuelen);
        nva[i].flags = rndn(8) == 0 ? NGHTTP2_NV_FLAG_NO_INDEX : NGHTTP2_NV_FLAG_NONE;
    }
    return n;
}

static hpack_decoder *new_ours(int synced)
{
    hpack_opts o;
    hpack_opts_default(&o);
    o.max_header_list = (size_t)1 << 30; /* nghttp2's inflater has no such cap */
    return hpack_decoder_new(&o, synced);
}

static int mismatches;
static void report(const char *what, int seq, int blk_no, const uint8_t *p, size_t n)
{
    if (++mismatches > 5)
        return;
    fprintf(stderr, "%s: seq %d block %d, %zu octets:", what, seq, blk_no, n);
    for (size_t i = 0; i < n && i < 64; i++)
        fprintf(stderr, " %02x", p[i]);
    fprintf(stderr, "\n");
}

static hlist la, lb;
static uint8_t out[1 << 18];

/* nghttp2 deflater -> both decoders, sequences sharing state, settings changes. */
static void test_deflater_sequences(void)
{
    static const size_t maxdefs[] = {0, 64, 256, 1024, 4096, 4096, 16384};
    int blocks = 0, fields = 0;
    rng = 20240829;
    for (int seq = 0; seq < 300; seq++) {
        nghttp2_hd_deflater *def;
        nghttp2_hd_inflater *inf;
        size_t maxdef = maxdefs[rndn(sizeof maxdefs / sizeof maxdefs[0])];
        GW_CHECK_INT(nghttp2_hd_deflate_new(&def, maxdef), 0);
        GW_CHECK_INT(nghttp2_hd_inflate_new(&inf), 0);
        hpack_decoder *d = new_ours(1);
        for (int b = 0; b < 30; b++) {
            if (rndn(10) == 0) {
                static const size_t settings[] = {0, 100, 256, 1024, 4096, 8192};
                size_t s = settings[rndn(sizeof settings / sizeof settings[0])];
                nghttp2_hd_deflate_change_table_size(def, s);
                nghttp2_hd_inflate_change_table_size(inf, s);
                hpack_decoder_set_max_table_size(d, s);
            }
            nghttp2_nv nva[40];
            size_t nvlen = rnd_list(nva, 40);
            ssize_t n = nghttp2_hd_deflate_hd(def, out, sizeof out, nva, nvlen);
            GW_CHECK(n >= 0);
            if (n < 0)
                break;
            const char *why = NULL;
            int r1 = ng_decode(inf, out, (size_t)n, &lb);
            int r2 = our_decode(d, out, (size_t)n, &la, &why);
            blocks++;
            fields += la.n;
            if (r1 != 0 || r2 != 0 || !lists_equal(&la, &lb, 0) || !tables_equal(d, inf, 2) ||
                !hpack_decoder_synced(d)) {
                report("deflater sequence", seq, b, out, (size_t)n);
                GW_CHECK(0);
                break;
            }
        }
        hpack_decoder_del(d);
        nghttp2_hd_inflate_del(inf);
        nghttp2_hd_deflate_del(def);
    }
    GW_CHECK(blocks > 5000);
    printf("deflater sequences: %d blocks, %d fields\n", blocks, fields);
}

/* ---- a local encoder that uses every representation, valid or not ---- */

static size_t put_int(uint8_t *o, uint8_t first, unsigned nbits, uint64_t v)
{
    uint64_t mask = (1u << nbits) - 1;
    size_t n = 0;
    if (v < mask) {
        o[n++] = (uint8_t)(first | v);
        return n;
    }
    o[n++] = (uint8_t)(first | mask);
    v -= mask;
    while (v >= 128) {
        o[n++] = (uint8_t)(v % 128 + 128);
        v /= 128;
    }
    o[n++] = (uint8_t)v;
    return n;
}

static size_t put_str(uint8_t *o, const uint8_t *s, size_t len, int huff)
{
    size_t n;
    if (huff) {
        n = put_int(o, 0x80, 7, hpack_huff_encoded_len(s, len));
        n += hpack_huff_encode(s, len, o + n);
    } else {
        n = put_int(o, 0, 7, len);
        memcpy(o + n, s, len);
        n += len;
    }
    return n;
}

/* table_entries: dynamic entries the encoder believes exist; a few indexes go past them. */
static size_t local_block(uint8_t *o, size_t table_entries, size_t limit)
{
    size_t n = 0;
    if (rndn(6) == 0)
        n += put_int(o + n, 0x20, 5, rndn(8) == 0 ? limit + rndn(3) : rndn((uint32_t)limit + 1));
    if (rndn(20) == 0)
        n += put_int(o + n, 0x20, 5, rndn((uint32_t)limit + 1));
    int nf = (int)rndn(12);
    for (int i = 0; i < nf; i++) {
        uint32_t kind = rndn(7);
        uint64_t max_index = 61 + table_entries;
        uint64_t index = rndn(40) == 0 ? max_index + 1 + rndn(3) : 1 + rndn((uint32_t)max_index);
        if (rndn(200) == 0)
            index = 0;
        uint8_t *s;
        size_t len;
        if (kind == 0) {
            n += put_int(o + n, 0x80, 7, index);
            continue;
        }
        static const uint8_t first[] = {0x40, 0x00, 0x10};
        static const unsigned bits[] = {6, 4, 4};
        int r = (int)(kind - 1) % 3;
        int new_name = kind >= 4;
        n += put_int(o + n, first[r], bits[r], new_name ? 0 : index);
        if (new_name) {
            rnd_str(names, sizeof names / sizeof names[0], &s, &len);
            n += put_str(o + n, s, len, (int)rndn(2));
        }
        rnd_str(values, sizeof values / sizeof values[0], &s, &len);
        n += put_str(o + n, s, len, (int)rndn(2));
        if (rndn(100) == 0 && i == nf - 1)
            n += put_int(o + n, 0x20, 5, rndn((uint32_t)limit + 1)); /* misplaced update */
    }
    return n;
}

static void test_local_encoder(void)
{
    int blocks = 0, errors = 0;
    rng = 7541;
    for (int seq = 0; seq < 400; seq++) {
        nghttp2_hd_inflater *inf;
        GW_CHECK_INT(nghttp2_hd_inflate_new(&inf), 0);
        hpack_decoder *d = new_ours(1);
        for (int b = 0; b < 20; b++) {
            size_t entries = nghttp2_hd_inflate_get_num_table_entries(inf) - 61;
            size_t n = local_block(out, entries, 4096);
            const char *why = NULL;
            int r1 = ng_decode(inf, out, n, &lb);
            int r2 = our_decode(d, out, n, &la, &why);
            blocks++;
            if ((r1 != 0) != (r2 != 0)) {
                report(r1 ? "nghttp2 rejects, we accept" : "we reject, nghttp2 accepts", seq, b,
                       out, n);
                if (r2)
                    fprintf(stderr, "  ours: %s\n", why);
                GW_CHECK(0);
                break;
            }
            if (r1) {
                errors++;
                break; /* nghttp2's inflater is unusable after an error */
            }
            if (!lists_equal(&la, &lb, 0) || !tables_equal(d, inf, 2)) {
                report("local encoder: different fields or table", seq, b, out, n);
                GW_CHECK(0);
                break;
            }
        }
        hpack_decoder_del(d);
        nghttp2_hd_inflate_del(inf);
    }
    printf("local encoder: %d blocks, %d rejected by both\n", blocks, errors);
    GW_CHECK(errors > 20);
}

/* Mutated deflater output on fresh decoders: agree on acceptance and fields. */
static void test_mutations(void)
{
    int accepted = 0, rejected = 0;
    rng = 99;
    for (int i = 0; i < 6000; i++) {
        nghttp2_hd_deflater *def;
        nghttp2_hd_inflater *inf;
        nghttp2_hd_deflate_new(&def, 4096);
        nghttp2_hd_inflate_new(&inf);
        nghttp2_nv nva[8];
        size_t nvlen = rnd_list(nva, 8);
        ssize_t n = nghttp2_hd_deflate_hd(def, out, sizeof out, nva, nvlen);
        if (n > 0) {
            int muts = 1 + (int)rndn(3);
            for (int m = 0; m < muts; m++) {
                size_t at = rndn((uint32_t)n);
                switch (rndn(4)) {
                case 0: out[at] ^= (uint8_t)(1u << rndn(8)); break;
                case 1: out[at] = (uint8_t)rnd(); break;
                case 2: n = (ssize_t)at; break;
                default: out[at] = 0xff; break;
                }
                if (n == 0)
                    break;
            }
            hpack_decoder *d = new_ours(1);
            const char *why = NULL;
            int r1 = ng_decode(inf, out, (size_t)n, &lb);
            int r2 = our_decode(d, out, (size_t)n, &la, &why);
            if ((r1 != 0) != (r2 != 0) || (!r1 && !lists_equal(&la, &lb, 0))) {
                report("mutation", i, 0, out, (size_t)n);
                if (r2)
                    fprintf(stderr, "  ours: %s\n", why);
                GW_CHECK(0);
            }
            if (r1)
                rejected++;
            else
                accepted++;
            hpack_decoder_del(d);
        }
        nghttp2_hd_inflate_del(inf);
        nghttp2_hd_deflate_del(def);
    }
    printf("mutations: %d accepted, %d rejected by both\n", accepted, rejected);
    GW_CHECK(accepted > 100 && rejected > 100);
}

/* Our decoder joins after `late` blocks: fields match where known, and once synced, exactly. */
static void test_late_join(void)
{
    int resynced = 0, unknown_fields = 0, total = 0;
    rng = 4242;
    for (int seq = 0; seq < 300; seq++) {
        nghttp2_hd_deflater *def;
        nghttp2_hd_inflater *inf;
        size_t maxdef = rndn(2) ? 4096 : 512;
        nghttp2_hd_deflate_new(&def, maxdef);
        nghttp2_hd_inflate_new(&inf);
        hpack_decoder *d = NULL;
        int late = 1 + (int)rndn(10);
        for (int b = 0; b < 40; b++) {
            if (b == late)
                d = new_ours(0);
            nghttp2_nv nva[20];
            size_t nvlen = rnd_list(nva, 20);
            if (rndn(3) == 0) /* repeat earlier-style lists: many indexed references */
                nvlen = nvlen < 6 ? nvlen : 6;
            ssize_t n = nghttp2_hd_deflate_hd(def, out, sizeof out, nva, nvlen);
            if (n < 0 || ng_decode(inf, out, (size_t)n, &lb) != 0) {
                GW_CHECK(0);
                break;
            }
            if (!d)
                continue;
            int was_synced = hpack_decoder_synced(d);
            const char *why = NULL;
            int r = our_decode(d, out, (size_t)n, &la, &why);
            total += la.n;
            for (int i = 0; i < la.n && i < MAXF; i++)
                unknown_fields += la.f[i].unknown_name || la.f[i].unknown_value;
            if (r != 0 || !lists_equal(&la, &lb, !was_synced) ||
                !tables_equal(d, inf, hpack_decoder_synced(d))) {
                report(r ? "late join: error" : "late join: mismatch", seq, b, out, (size_t)n);
                if (r)
                    fprintf(stderr, "  ours: %s\n", why);
                if (getenv("HPACK_DEBUG")) {
                    fprintf(stderr, "  lists %d table %d synced %d was %d n %d/%d\n",
                            lists_equal(&la, &lb, !was_synced),
                            tables_equal(d, inf, hpack_decoder_synced(d)),
                            hpack_decoder_synced(d), was_synced, la.n, lb.n);
                    for (int i = 0; i < la.n && i < MAXF; i++)
                        fprintf(stderr, "   %d: %.*s=%.20s un %d uv %d | %.*s\n", i,
                                (int)la.f[i].name_len, la.pool + la.f[i].name_off,
                                la.pool + la.f[i].value_off, la.f[i].unknown_name,
                                la.f[i].unknown_value, (int)lb.f[i].name_len,
                                lb.pool + lb.f[i].name_off);
                }
                GW_CHECK(0);
                break;
            }
        }
        if (d && hpack_decoder_synced(d))
            resynced++;
        hpack_decoder_del(d);
        nghttp2_hd_inflate_del(inf);
        nghttp2_hd_deflate_del(def);
    }
    printf("late join: %d fields, %d with unknown parts, %d/300 sequences resynced\n", total,
           unknown_fields, resynced);
    GW_CHECK(unknown_fields > 100);
    GW_CHECK(resynced > 30);
}

/* The RFC's and the seed's vectors through both. */
static void test_vectors(void)
{
    static const struct {
        size_t table;
        const char *hex[3];
    } v[] = {
        {4096, {"400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572", NULL, NULL}},
        {4096, {"040c 2f73 616d 706c 652f 7061 7468", NULL, NULL}},
        {4096, {"1008 7061 7373 776f 7264 0673 6563 7265 74", NULL, NULL}},
        {4096, {"82", NULL, NULL}},
        {4096,
         {"8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d", "8286 84be 5808 6e6f 2d63 6163 6865",
          "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65"}},
        {4096,
         {"8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff", "8286 84be 5886 a8eb 1064 9cbf",
          "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf"}},
        {256,
         {"4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032"
          "303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63"
          "6f6d",
          "4803 3330 37c1 c0bf",
          "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0"
          "5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851"
          "5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31"}},
        {256,
         {"4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b"
          "ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
          "4883 640e ffc1 c0bf",
          "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad"
          "94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160"
          "65c0 03ed 4ee5 b106 3d50 07"}},
        {4096,
         {"838645956272d141fc1eca245f15852a4b631b87eb1968a0ff418ba0e41d139d09b8d800d87f5f8b1d75d"
          "0620d263d4c4d65647a8a9acac8b4c7602bb8cae040027465864d833505b11f40899acac8b24d494f6a7f"
          "857df7c4d82d",
          NULL, NULL}},
        {4096, {"885f8b1d75d0620d263d4c4d6564", "40889acac8b21234da8f013040899acac8b5254207317f00", NULL}},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        nghttp2_hd_inflater *inf;
        nghttp2_hd_inflate_new(&inf);
        nghttp2_hd_inflate_change_table_size(inf, v[i].table);
        hpack_opts o;
        hpack_opts_default(&o);
        o.max_table_size = v[i].table;
        hpack_decoder *d = hpack_decoder_new(&o, 1);
        for (int b = 0; b < 3 && v[i].hex[b]; b++) {
            size_t n = 0;
            if (b == 0 && v[i].table != 4096) /* nghttp2 wants the size update it was promised */
                n = (size_t)put_int(out, 0x20, 5, v[i].table);
            n += gw_test_unhex(v[i].hex[b], out + n, sizeof out - n);
            GW_CHECK_INT(ng_decode(inf, out, n, &lb), 0);
            GW_CHECK_INT(our_decode(d, out, n, &la, NULL), 0);
            GW_CHECK(lists_equal(&la, &lb, 0));
            GW_CHECK(tables_equal(d, inf, 2));
        }
        hpack_decoder_del(d);
        nghttp2_hd_inflate_del(inf);
    }
}

int main(void)
{
    for (use_into = 0; use_into < 2; use_into++) {
        rng = 1;
        test_vectors();
        test_deflater_sequences();
        test_local_encoder();
        test_mutations();
        test_late_join();
    }
    gw_free(into_arr);
    GW_TEST_END();
}
