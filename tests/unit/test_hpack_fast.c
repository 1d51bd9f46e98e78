/* Tests of the HPACK decoder's fast paths against general ones and references: Huffman by
 * window table, by byte steps and by nibbles, the memo, block decoding into arrays with the
 * indexed and literal shortcuts, the string ring. */
#include "hpack_test.h"

/* The nibble-at-a-time decoder the byte-at-a-time one replaced, kept as the reference. It
 * also reports how many octets it wrote before failing. */
static ptrdiff_t ref_huff_decode(const uint8_t *p, size_t n, uint8_t *out, size_t outcap,
                                 const char **why, size_t *written)
{
    const char *w = NULL;
    ptrdiff_t rv;
    size_t o = 0;
    unsigned state = 0;
    int accept = 1;
    for (size_t i = 0; i < n; i++) {
        for (int half = 0; half < 2; half++) {
            unsigned nib = half ? (p[i] & 0x0fu) : (unsigned)(p[i] >> 4);
            const huff_step *s = &huff_dec[state][nib];
            if (s->flags & HUFF_FAIL) {
                w = "Huffman string contains EOS";
                rv = GW_EPARSE;
                goto out;
            }
            if (s->flags & HUFF_SYM) {
                if (o >= outcap) {
                    w = "decoded string over the limit";
                    rv = GW_ECAP;
                    goto out;
                }
                out[o++] = s->sym;
            }
            state = s->next;
            accept = (s->flags & HUFF_ACCEPT) != 0;
        }
    }
    if (!accept) {
        w = "bad Huffman padding";
        rv = GW_EPARSE;
        goto out;
    }
    rv = (ptrdiff_t)o;
out:
    *why = w;
    *written = o;
    return rv;
}

static uint32_t rng_state;
static uint32_t rng(void)
{
    rng_state = rng_state * 1103515245u + 12345u;
    return rng_state >> 8;
}

/* One input against both decoders at several capacities; returns the number of mismatches. */
static int huff_compare(const uint8_t *in, size_t n)
{
    enum { CANARY = 16 };
    size_t caps[] = {0, 1, 2, 3, n / 2, n, n + 1, n * 8 / 5, n * 8 / 5 + 1, 128};
    int bad = 0;
    for (size_t ci = 0; ci < sizeof caps / sizeof caps[0]; ci++) {
        size_t cap = caps[ci];
        uint8_t a[160 + CANARY], b[160 + CANARY];
        memset(a, 0xa5, sizeof a);
        memset(b, 0xa5, sizeof b);
        const char *wa = "unset", *wb = "unset";
        size_t written;
        ptrdiff_t ra = ref_huff_decode(in, n, a, cap, &wa, &written);
        ptrdiff_t rb = hpack_huff_decode_why(in, n, b, cap, &wb);
        int same = ra == rb && (wa == wb || (wa && wb && strcmp(wa, wb) == 0)) &&
                   memcmp(a, b, written) == 0;
        for (size_t k = cap; k < cap + CANARY; k++) /* nothing past the capacity */
            if (b[k] != 0xa5)
                same = 0;
        if (ra >= 0 && hpack_huff_decode(in, n, b, cap) != ra)
            same = 0;
        if (!same) {
            if (bad == 0) {
                fprintf(stderr, "huffman mismatch n=%zu cap=%zu ref=%td/%s new=%td/%s:", n, cap,
                        ra, wa ? wa : "-", rb, wb ? wb : "-");
                for (size_t k = 0; k < n; k++)
                    fprintf(stderr, " %02x", in[k]);
                fprintf(stderr, "\n");
            }
            bad++;
        }
    }
    return bad;
}

/* The byte-at-a-time Huffman decoder against the nibble reference: same return value, same
 * reason, same octets, on valid and invalid strings of every length 0..64. */
static void test_huffman_differential(void)
{
    int bad = 0, ok = 0, eos = 0, pad = 0, cap = 0;
    for (uint32_t seed = 1; seed <= 60; seed++) {
        rng_state = seed * 2654435761u;
        for (size_t len = 0; len <= 64; len++) {
            uint8_t in[80], text[80];
            /* 1: uniform random octets (mostly bad padding or EOS). */
            for (size_t k = 0; k < len; k++)
                in[k] = (uint8_t)rng();
            bad += huff_compare(in, len);
            /* 2: octets biased to ones: long codes, EOS, padding of every length. */
            for (size_t k = 0; k < len; k++)
                in[k] = (uint8_t)(rng() % 4 ? 0xff : rng() | 0xe0);
            bad += huff_compare(in, len);
            /* 3: valid encodings of random text, then damaged: a flipped bit, a cut, or
             * trailing ones. */
            size_t tl = len * 5 / 8;
            for (size_t k = 0; k < tl; k++)
                text[k] = seed & 1 ? (uint8_t)rng()
                                   : (uint8_t)"/helloworld.Greeter/SayHi-_09"[rng() % 29];
            size_t el = hpack_huff_encoded_len(text, tl);
            if (el > sizeof in)
                continue;
            hpack_huff_encode(text, tl, in);
            bad += huff_compare(in, el);
            uint8_t out[128];
            const char *w;
            size_t wr;
            ptrdiff_t r = ref_huff_decode(in, el, out, sizeof out, &w, &wr);
            ok += r == (ptrdiff_t)tl;
            if (el > 0) {
                uint8_t dam[80];
                memcpy(dam, in, el);
                dam[rng() % el] ^= (uint8_t)(1u << (rng() % 8));
                bad += huff_compare(dam, el);
                bad += huff_compare(in, el - 1 - rng() % el);
                memcpy(dam, in, el);
                size_t extra = 1 + rng() % 5;
                if (el + extra <= sizeof dam) {
                    memset(dam + el, 0xff, extra);
                    bad += huff_compare(dam, el + extra);
                    r = ref_huff_decode(dam, el + extra, out, sizeof out, &w, &wr);
                    eos += r == GW_EPARSE && w && w[0] == 'H';
                    pad += r == GW_EPARSE && w && w[0] == 'b';
                }
                r = ref_huff_decode(in, el, out, tl / 2, &w, &wr);
                cap += r == GW_ECAP;
            }
        }
    }
    GW_CHECK_INT(bad, 0);
    /* The generators reached every outcome. */
    GW_CHECK(ok > 1000);
    GW_CHECK(eos > 10);
    GW_CHECK(pad > 10);
    GW_CHECK(cap > 10);
    /* Every two-octet string exhaustively, at two capacities. */
    bad = 0;
    for (unsigned v = 0; v < 65536; v++) {
        uint8_t in[2] = {(uint8_t)(v >> 8), (uint8_t)v};
        uint8_t a[8], b[8];
        const char *wa, *wb;
        size_t written;
        for (size_t c = 1; c <= 4; c += 3) {
            ptrdiff_t ra = ref_huff_decode(in, 2, a, c, &wa, &written);
            ptrdiff_t rb = hpack_huff_decode_why(in, 2, b, c, &wb);
            if (ra != rb || (wa == NULL) != (wb == NULL) || (wa && strcmp(wa, wb)) ||
                memcmp(a, b, written))
                bad++;
        }
    }
    GW_CHECK_INT(bad, 0);
}

/* The decoder remembers short Huffman strings of fields sent without indexing: repeats, more
 * distinct strings than it remembers, lengths around its limit, and damaged strings (never
 * remembered) must all decode exactly as the first time. */
static void test_huffman_memo(void)
{
    static const char *texts[] = {
        "/helloworld.Greeter/SayHello", "/helloworld.Greeter/SayHelloAgain",
        "/grpc.health.v1.Health/Check", "/a", "/routeguide.RouteGuide/GetFeature",
        "/x.Y/Z", "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklmnopq",
        "0123456789012345678901234567890123456789012345678901234567890123456789012345",
        "0123456789012345678901234567890123456789012345678901234567890123456789012345678",
    };
    int nt = (int)(sizeof texts / sizeof texts[0]);
    hpack_decoder *d = hpack_decoder_new(NULL, 1);
    int bad = 0;
    srand(41);
    for (int r = 0; r < 400; r++) {
        int t = r < 2 * nt ? r % nt : rand() % nt;
        size_t tl = strlen(texts[t]);
        /* 0x04: without indexing, name :path; 0x14: never indexed; 0x00 + name: new name. */
        size_t n = 0;
        int kind = r % 3;
        if (kind == 2) {
            blk[n++] = 0x00;
            blk[n++] = 0x01;
            blk[n++] = 'p';
        } else {
            blk[n++] = kind ? 0x14 : 0x04;
        }
        size_t el = hpack_huff_encoded_len((const uint8_t *)texts[t], tl);
        blk[n++] = (uint8_t)(0x80 | el); /* all under 127 octets */
        n += hpack_huff_encode((const uint8_t *)texts[t], tl, blk + n);
        got g;
        const char *why;
        memset(&g, 0, sizeof g);
        if (hpack_decode_block(d, blk, n, collect, &g, &why) != 0 || g.n != 1 ||
            g.v[0].value_len != tl || strcmp(g.v[0].value, texts[t]) != 0 ||
            g.v[0].f.value_wire != el || !g.v[0].f.value_huff)
            bad++;
    }
    GW_CHECK_INT(bad, 0);
    GW_CHECK_INT(hpack_decoder_synced(d), 1);
    hpack_decoder_del(d);
    /* Damaged strings are never remembered: 48 zero bits are nine '0's (5 bits each) and
     * three zero bits of padding; 40 are eight '0's exactly. */
    d = hpack_decoder_new(NULL, 1);
    for (int r = 0; r < 3; r++) {
        got g;
        const char *why;
        GW_CHECK_INT(dec_hex(d, "04 86 000000000000", &g, &why), GW_EPARSE);
        GW_CHECK_STR(why, "bad Huffman padding");
        GW_CHECK_INT(dec_hex(d, "04 85 0000000000", &g, &why), 0);
        GW_CHECK_INT(g.n, 1);
        GW_CHECK_STR(g.v[0].value, "00000000");
    }
    hpack_decoder_del(d);
}

/* ---- fast paths against general ones ---- */

/* The fast Huffman decoder (12-bit window) against the nibble reference: whenever it succeeds,
 * the same string; and it must succeed on every valid string made of codes of at most 12 bits
 * (else the block decoder's fast path would rarely be taken). Returns mismatches. */
static int huff_fast_compare(const uint8_t *in, size_t n, int *fast_ok)
{
    uint8_t a[600], b[600];
    const char *w;
    size_t written;
    if (n > 300)
        return 0;
    ptrdiff_t ra = ref_huff_decode(in, n, a, sizeof a, &w, &written);
    ptrdiff_t rb = hpack_huff_fast(in, n, b);
    int bad = 0;
    if (rb >= 0 && (ra != rb || memcmp(a, b, (size_t)rb)))
        bad = 1;
    if (ra >= 0 && rb < 0) {
        int short_codes = 1;
        for (ptrdiff_t k = 0; k < ra; k++)
            short_codes &= huff_len[a[k]] <= HPACK_HUFF_WIN_BITS;
        if (short_codes)
            bad = 1;
    }
    *fast_ok += rb >= 0;
    if (bad) {
        fprintf(stderr, "huffman fast mismatch n=%zu ref=%td fast=%td:", n, ra, rb);
        for (size_t k = 0; k < n; k++)
            fprintf(stderr, " %02x", in[k]);
        fprintf(stderr, "\n");
    }
    return bad;
}

static void test_huffman_fast(void)
{
    int bad = 0, ok = 0;
    hpack_huff_win_prepare();
    /* Every string of up to 2 octets, and every 3-octet one whose middle octet is one of a few
     * (the rest of the 3-octet space, sampled). */
    uint8_t in[320];
    bad += huff_fast_compare(in, 0, &ok);
    for (unsigned v = 0; v < 256; v++) {
        in[0] = (uint8_t)v;
        bad += huff_fast_compare(in, 1, &ok);
    }
    for (unsigned v = 0; v < 65536; v++) {
        in[0] = (uint8_t)(v >> 8);
        in[1] = (uint8_t)v;
        bad += huff_fast_compare(in, 2, &ok);
    }
    static const uint8_t mid[] = {0x00, 0x3f, 0x7f, 0x9b, 0xf8, 0xfe, 0xff};
    for (unsigned v = 0; v < 65536; v++)
        for (size_t m = 0; m < sizeof mid; m++) {
            in[0] = (uint8_t)(v >> 8);
            in[1] = mid[m];
            in[2] = (uint8_t)v;
            bad += huff_fast_compare(in, 3, &ok);
        }
    /* Valid encodings of random text of every length to 200 symbols, from alphabets of short
     * codes (digits and units: grpc-timeout), of a path's characters, and of any octet; then
     * with each kind of damage: padding of 0 to 15 more ones, a flipped bit, a cut. */
    static const char *alpha[] = {"0123456789umSMHn", "/helloworld.Greeter/SayHi-_09", NULL};
    rng_state = 7;
    for (int round = 0; round < 40; round++)
        for (size_t tl = 0; tl <= 200; tl += 1 + tl / 16) {
            for (int ai = 0; ai < 3; ai++) {
                uint8_t text[200];
                for (size_t k = 0; k < tl; k++)
                    text[k] = alpha[ai] ? (uint8_t)alpha[ai][rng() % strlen(alpha[ai])]
                                        : (uint8_t)rng();
                size_t el = hpack_huff_encoded_len(text, tl);
                if (el + 2 > sizeof in)
                    continue;
                hpack_huff_encode(text, tl, in);
                bad += huff_fast_compare(in, el, &ok);
                if (el == 0)
                    continue;
                uint8_t dam[320];
                memcpy(dam, in, el);
                dam[rng() % el] ^= (uint8_t)(1u << (rng() % 8));
                bad += huff_fast_compare(dam, el, &ok);
                bad += huff_fast_compare(in, el - 1 - rng() % el, &ok);
                memcpy(dam, in, el);
                dam[el] = dam[el + 1] = 0xff;
                bad += huff_fast_compare(dam, el + 1 + rng() % 2, &ok);
                memcpy(dam, in, el);
                dam[el - 1] &= (uint8_t)~(1u << (rng() % 8)); /* a zero in the padding, maybe */
                bad += huff_fast_compare(dam, el, &ok);
            }
        }
    /* Random octets of every length to 80. */
    for (int round = 0; round < 200; round++)
        for (size_t len = 0; len <= 80; len++) {
            for (size_t k = 0; k < len; k++)
                in[k] = (uint8_t)(round & 1 ? rng() : (rng() % 3 ? 0xff : rng()));
            bad += huff_fast_compare(in, len, &ok);
        }
    GW_CHECK_INT(bad, 0);
    GW_CHECK(ok > 100000);
}

/* A block generator for the block decoder's differential test: every representation, indexes
 * valid and not (one, two and three octets), names and values raw and Huffman coded (short
 * values like grpc-timeout's, long ones, empty, with long codes, damaged), size updates, and
 * now and then garbage or a cut. count: the dynamic table's entries now (to aim indexes). */
static const char *const gen_values[] = {
    "1234567u", "99m", "100000u", "5S", "", "application/grpc", "/helloworld.Greeter/SayHello",
    "grpc-go/1.63.2", "trailers", "gzip", "identity, deflate, gzip",
    "grpc-python/1.51.1 grpc-c/29.0.0 (linux; chttp2)", "users.prod.svc.cluster.local:8443",
    "x", "{<\"`|\\^}>", "\x01\x7f\xff\x80 odd", "abcdefghijklmnopqrstuvwxyz0123456789abcdefghij",
};
static const char *const gen_names[] = {"grpc-timeout", "x-a", "content-type", ":path", "te", ""};

static size_t gen_int(uint8_t *o, uint8_t first, unsigned nbits, uint32_t v)
{
    return enc_int(o, first, nbits, v);
}

static size_t gen_str(uint8_t *o, const char *s, int mode)
{
    size_t n = strlen(s), k = 0;
    if (mode == 0) { /* raw */
        k = gen_int(o, 0, 7, (uint32_t)n);
        memcpy(o + k, s, n);
        return k + n;
    }
    size_t el = hpack_huff_encoded_len((const uint8_t *)s, n);
    k = gen_int(o, 0x80, 7, (uint32_t)el);
    hpack_huff_encode((const uint8_t *)s, n, o + k);
    if (mode == 2 && el) /* damaged */
        o[k + rng() % el] ^= (uint8_t)(1u << (rng() % 8));
    return k + el;
}

static int gen_short; /* short values only: tables of many entries (indexes past 126) */

static size_t gen_block(uint8_t *o, size_t count, size_t limit)
{
    size_t n = 0, nf = 1 + rng() % 12;
    if (rng() % 10 == 0)
        n += gen_int(o + n, 0x20, 5, (uint32_t)(rng() % 3 ? limit : rng() % (limit + 2)));
    for (size_t f = 0; f < nf; f++) {
        uint32_t r = rng() % 100;
        uint32_t dyn = count ? 62 + rng() % (uint32_t)count : 1 + rng() % 61;
        uint32_t idx = rng() % 4 == 0 ? 1 + rng() % 61 : rng() % 40 == 0 ? dyn + 3 : dyn;
        if (rng() % 100 == 0)
            idx = rng() % 2 ? 0 : 300 + rng() % 100;
        const char *v = gen_values[rng() % (sizeof gen_values / sizeof gen_values[0])];
        if (gen_short)
            v = rng() % 2 ? "x" : "99m";
        int vm = rng() % 40 == 0 ? 2 : (int)(rng() % 3 != 0);
        if (r < 45) { /* indexed */
            n += gen_int(o + n, 0x80, 7, idx);
        } else if (r < 80) { /* incremental indexing, indexed name */
            n += gen_int(o + n, 0x40, 6, idx ? idx : 1);
            n += gen_str(o + n, v, vm);
        } else if (r < 90) { /* incremental indexing, new name */
            o[n++] = 0x40;
            n += gen_str(o + n, gen_names[rng() % (sizeof gen_names / sizeof gen_names[0])],
                         rng() % 4 ? 1 : 0);
            n += gen_str(o + n, v, vm);
        } else if (r < 97) { /* without indexing or never indexed */
            uint8_t first = rng() % 2 ? 0x10 : 0x00;
            if (rng() % 2) {
                n += gen_int(o + n, first, 4, idx ? idx : 2);
            } else {
                o[n++] = first;
                n += gen_str(o + n, gen_names[rng() % 5], 1);
            }
            n += gen_str(o + n, v, vm);
        } else if (r < 99 && rng() % 2) { /* a size update after a field: an error */
            n += gen_int(o + n, 0x20, 5, 100);
        } else { /* garbage */
            o[n++] = (uint8_t)rng();
        }
    }
    if (rng() % 40 == 0 && n > 1)
        n -= 1 + rng() % (n - 1); /* cut */
    return n;
}

/* As collect(), copying the octets as they are (values may hold NULs). */
static int collect_raw(void *u, const hpack_field *f)
{
    got *g = u;
    if (g->n < MAXF && f->name_len < 512 && f->value_len < 512) {
        got_field *x = &g->v[g->n];
        x->f = *f;
        x->name_len = f->name_len;
        x->value_len = f->value_len;
        memcpy(x->name, f->name, f->name_len);
        memcpy(x->value, f->value, f->value_len);
    }
    g->n++;
    return 0;
}

/* One block through both entry points (a: hpack_decode_block, b: hpack_decode_into); 1 when
 * anything differs (and the first difference is printed by the caller's count). */
static int block_differs(hpack_decoder *a, hpack_decoder *b, hpack_into *io, const uint8_t *p,
                         size_t n, int *rap, int *fields)
{
    static got g;
    const char *wa = NULL;
    memset(&g, 0, sizeof g);
    int ra = hpack_decode_block(a, p, n, collect_raw, &g, &wa);
    io->nfields = 0;
    io->why = "unset";
    int rb = hpack_decode_into(b, p, n, io);
    *rap = ra;
    int same = ra == rb && (wa == NULL) == (io->why == NULL) &&
               (!wa || strcmp(wa, io->why) == 0) && io->nfields == (size_t)g.n &&
               io->dropped == 0 && g.n <= MAXF;
    size_t bytes = 0;
    int unk = 0;
    for (size_t k = 0; same && k < io->nfields; k++) {
        const hpack_field *x = &io->fields[k], *y = &g.v[k].f;
        same = x->name_len == g.v[k].name_len && x->value_len == g.v[k].value_len &&
               x->name_len < 512 && x->value_len < 512 &&
               memcmp(x->name, g.v[k].name, x->name_len) == 0 &&
               memcmp(x->value, g.v[k].value, x->value_len) == 0 &&
               x->name[x->name_len] == 0 && x->value[x->value_len] == 0 &&
               x->rep == y->rep && x->index == y->index &&
               x->name_huff == y->name_huff && x->value_huff == y->value_huff &&
               x->name_wire == y->name_wire && x->value_wire == y->value_wire &&
               x->unknown_name == y->unknown_name &&
               x->unknown_value == y->unknown_value && x->name_static == y->name_static;
        bytes += x->name_len + x->value_len + 2;
        unk |= x->unknown_name | x->unknown_value;
    }
    *fields += (int)io->nfields;
    same = same && io->unknown == unk && io->field_bytes == (rb == 0 ? bytes : 0) &&
           hpack_decoder_synced(a) == hpack_decoder_synced(b);
    const hpack_dyn *ta = hpack_decoder_table(a), *tb = hpack_decoder_table(b);
    same = same && ta->count == tb->count && ta->size == tb->size &&
           ta->unknown_names == tb->unknown_names && ta->max == tb->max;
    for (size_t i = 1; same && i <= ta->count; i++) {
        const hpack_entry *x = hpack_dyn_get(ta, i), *y = hpack_dyn_get(tb, i);
        same = x->name_len == y->name_len && x->value_len == y->value_len &&
               x->name_unknown == y->name_unknown && x->size == y->size &&
               x->ref.name_static == y->ref.name_static &&
               memcmp(x->name, y->name, x->name_len + 1) == 0 &&
               memcmp(x->value, y->value, x->value_len + 1) == 0;
    }
    if (!same) {
        {
            fprintf(stderr, "fast path mismatch: %d/%d (%s/%s), %zu/%d"
                            " fields:", ra, rb, wa ? wa : "-",
                    io->why ? io->why : "-", io->nfields, g.n);
            for (size_t k = 0; k < n; k++)
                fprintf(stderr, " %02x", p[k]);
            fprintf(stderr, "\n");
            for (size_t k = 0; k < io->nfields && k < (size_t)g.n; k++) {
                const hpack_field *x = &io->fields[k], *y = &g.v[k].f;
                fprintf(stderr, "  %zu: [%.*s: %.*s] rep %d/%d idx %u/%u huff %d%d/%d%d"
                                " wire %u,%u/%u,%u unk %d%d/%d%d ns %d/%d\n",
                        k, (int)x->name_len, x->name, (int)x->value_len, x->value,
                        x->rep, y->rep, x->index, y->index, x->name_huff, x->value_huff,
                        y->name_huff, y->value_huff, x->name_wire, x->value_wire,
                        y->name_wire, y->value_wire, x->unknown_name, x->unknown_value,
                        y->unknown_name, y->unknown_value, x->name_static,
                        y->name_static);
            }
            fprintf(stderr, "  unknown %d/%d bytes %zu/%zu synced %d/%d table %zu,%zu/"
                            "%zu,%zu\n", io->unknown, unk, io->field_bytes, bytes,
                    hpack_decoder_synced(b), hpack_decoder_synced(a), tb->count,
                    tb->size, ta->count, ta->size);
            fprintf(stderr, "  unknown_names %zu/%zu max %zu/%zu\n", tb->unknown_names,
                    ta->unknown_names, tb->max, ta->max);
        }
        return 1;
    }
    return 0;
}

/* hpack_decode_into (its fast paths and block cache) against hpack_decode_block (the general
 * path only) on generated blocks, with small tables (evictions, arena growth and wrap), small
 * limits (errors inside the fast paths), mid-capture decoders, and settings changes and desyncs
 * between blocks. Every result must match: fields and all their members, errors and reasons,
 * the table entry by entry, sync. The fields' strings are compared after the whole block (so
 * they survived its later insertions). */
static void test_fast_paths(void)
{
    static const size_t tables[] = {64, 256, 4096};
    static const size_t lists[] = {300, 3000, 256 << 10};
    int bad = 0, fields = 0, blocks = 0, errors = 0;
    rng_state = 11;
    for (int seq = 0; seq < 300; seq++) {
        hpack_opts o;
        hpack_opts_default(&o);
        o.max_table_size = tables[seq % 3];
        o.max_header_list = lists[seq % 9 == 0 ? 0 : seq % 9 == 1 ? 1 : 2];
        o.max_string = seq % 7 == 0 ? 16 : 64 << 10;
        int synced = seq % 5 != 0;
        gen_short = seq % 4 == 2;
        hpack_decoder *a = hpack_decoder_new(&o, synced), *b = hpack_decoder_new(&o, synced);
        hpack_into io;
        memset(&io, 0, sizeof io);
        for (int bi = 0; bi < 60; bi++) {
            uint32_t op = rng() % 40;
            if (op == 0) {
                hpack_decoder_desync(a);
                hpack_decoder_desync(b);
                continue;
            }
            if (op == 1) {
                size_t max = rng() % 2 ? o.max_table_size : rng() % 200;
                hpack_decoder_set_max_table_size(a, max);
                hpack_decoder_set_max_table_size(b, max);
                continue;
            }
            /* (the count before the block's own insertions and evictions: some indexes miss) */
            size_t n = gen_block(blk, hpack_decoder_table(a)->count, o.max_table_size);
            int ra = 0;
            if (block_differs(a, b, &io, blk, n, &ra, &fields) && bad++ == 0)
                fprintf(stderr, "(seq %d block %d)\n", seq, bi);
            blocks++;
            errors += ra != 0;
        }
        gw_free(io.fields);
        hpack_decoder_del(a);
        hpack_decoder_del(b);
    }
    /* Tables of many entries: indexes past 126 (two octets), and the busy client's churn: a new
     * grpc-timeout each block, with indexed names near and far, evicting the oldest. */
    for (int seq = 0; seq < 4; seq++) {
        hpack_opts o;
        hpack_opts_default(&o);
        o.max_table_size = seq < 2 ? 4096 : 8192;
        hpack_decoder *a = hpack_decoder_new(&o, 1), *b = hpack_decoder_new(&o, 1);
        hpack_into io;
        memset(&io, 0, sizeof io);
        for (int bi = 0; bi < 400; bi++) {
            size_t n = 0, count = hpack_decoder_table(a)->count;
            if (bi < 3) { /* fill: 40 small entries a block */
                for (int f = 0; f < 40; f++) {
                    n += gen_int(blk + n, 0x40, 6, 1 + rng() % 61);
                    n += gen_str(blk + n, f % 2 ? "x" : "1234567u", f % 3 != 0);
                }
            } else {
                blk[n++] = 0x83;
                blk[n++] = 0x86;
                for (int f = 0; f < 6; f++) /* references anywhere in the table */
                    n += gen_int(blk + n, 0x80, 7, 62 + rng() % (uint32_t)count);
                char t[16];
                snprintf(t, sizeof t, "%uu", 100000 + rng() % 9900000);
                n += gen_int(blk + n, 0x40, 6, seq % 2 ? 62 : 62 + rng() % (uint32_t)count);
                n += gen_str(blk + n, t, 1);
            }
            int ra = 0;
            if (block_differs(a, b, &io, blk, n, &ra, &fields) && bad++ == 0)
                fprintf(stderr, "(many entries, seq %d block %d)\n", seq, bi);
            if (ra != 0)
                bad++;
        }
        GW_CHECK(hpack_decoder_table(a)->count > 66);
        gw_free(io.fields);
        hpack_decoder_del(a);
        hpack_decoder_del(b);
    }
    GW_CHECK_INT(bad, 0);
    printf("fast paths: %d blocks, %d fields, %d errors\n", blocks, fields, errors);
    /* The generator reached what it is for. */
    GW_CHECK(blocks > 10000);
    GW_CHECK(fields > 50000);
    GW_CHECK(errors > 500 && errors < blocks / 2);
}

/* The arena: a block whose insertions outgrow it (retired arenas, gathered at the next block),
 * and tables that wrap it often; every string handed out stays readable until the next call. */
static void test_arena(void)
{
    hpack_opts o;
    hpack_opts_default(&o);
    o.max_table_size = 1 << 20; /* the first arena is 16 KiB: this outgrows it */
    hpack_decoder *d = hpack_decoder_new(&o, 1);
    hpack_into io;
    memset(&io, 0, sizeof io);
    char val[301];
    memset(val, 'v', 300);
    val[300] = 0;
    for (int round = 0; round < 3; round++) {
        size_t n = 0;
        for (int f = 0; f < 200; f++) { /* 200 literals of 300 octets, one block */
            blk[n++] = 0x40;
            n += gen_str(blk + n, "x-a", 0);
            n += gen_int(blk + n, 0, 7, 300);
            memcpy(blk + n, val, 300);
            blk[n + 299] = (uint8_t)('a' + f % 26);
            n += 300;
            if (n > sizeof blk - 400)
                break;
        }
        io.nfields = 0;
        GW_CHECK_INT(hpack_decode_into(d, blk, n, &io), 0);
        int ok = 1;
        for (size_t k = 0; k < io.nfields; k++)
            ok &= io.fields[k].value_len == 300 && io.fields[k].value[299] == 'a' + (int)k % 26 &&
                  io.fields[k].value[300] == 0;
        GW_CHECK(ok);
        GW_CHECK(io.nfields > 20);
    }
    GW_CHECK(hpack_decoder_table(d)->retired != NULL || hpack_decoder_table(d)->arena->cap > 16384);
    gw_free(io.fields);
    hpack_decoder_del(d);

    /* The block cache after the entries moved: a block outgrows the arena; at the next block
     * gathering them fails (no memory), so a cached block keeps pointers into the old arena;
     * the block after gathers them into a new one: the cached block must not hit (ASan would
     * see its strings freed), and decodes the same. */
    d = hpack_decoder_new(&o, 1);
    memset(&io, 0, sizeof io);
    static const uint8_t stat[] = {0x82};
    GW_CHECK_INT(hpack_decode_into(d, stat, 1, &io), 0); /* (the cache exists from here) */
    static uint8_t big[60 * 310];
    size_t n = 0;
    for (int f = 0; f < 60; f++) { /* 60 x 300 octets: past the first arena's 16 KiB */
        big[n++] = 0x40;
        n += gen_str(big + n, "x-a", 0);
        n += gen_int(big + n, 0, 7, 300);
        memcpy(big + n, val, 300);
        n += 300;
    }
    GW_CHECK_INT(hpack_decode_into(d, big, n, &io), 0);
    GW_CHECK(hpack_decoder_table(d)->retired != NULL);
    static const uint8_t refs[] = {0xbe, 0xbf}, one[] = {0xc0};
    gw_mem_fail_after(0);
    io.nfields = 0;
    int rv = hpack_decode_into(d, refs, 2, &io); /* cached, pointing into the old arena */
    gw_mem_fail_after(-1);
    GW_CHECK_INT(rv, 0);
    GW_CHECK(hpack_decoder_table(d)->retired != NULL);
    io.nfields = 0;
    GW_CHECK_INT(hpack_decode_into(d, one, 1, &io), 0); /* gathers: the entries move */
    GW_CHECK(hpack_decoder_table(d)->retired == NULL);
    io.nfields = 0;
    GW_CHECK_INT(hpack_decode_into(d, refs, 2, &io), 0);
    GW_CHECK_INT(io.nfields, 2);
    GW_CHECK(io.nfields == 2 && io.fields[0].value_len == 300 && io.fields[1].value_len == 300 &&
             memcmp(io.fields[0].value, val, 300) == 0 && io.fields[0].value[300] == 0);
    gw_free(io.fields);
    hpack_decoder_del(d);
}

int main(void)
{
    test_huffman_differential();
    test_huffman_memo();
    test_huffman_fast();
    test_fast_paths();
    test_arena();
    GW_TEST_END();
}
