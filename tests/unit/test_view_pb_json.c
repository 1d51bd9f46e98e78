/* view_pb's JSON renderer against the form it had before its one-pass rewrite (kept here as the
 * reference): the same bytes for random messages, damaged and cut ones among them, at every
 * depth limit; and its one-pass path against the general one. Split from test_view_pb.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/gw_buf.h"
#include "common/gw_err.h"
#include "gw_test.h"
#include "pb/pb_wire.h"
#include "view/view_pb.h"

/* ---- the JSON renderer as it was (probe every field through pb_walk_raw twice), kept as the
 * reference for the differential test below: the fast one must print the same bytes ---- */

typedef struct old_probe {
    pb_field f;
    pb_value v;
    int got;
} old_probe;

static int old_probe_cb(void *u, const pb_value *v)
{
    old_probe *pr = u;
    pr->f = *v->f;
    pr->v = *v;
    pr->got = 1;
    return 1;
}

static ptrdiff_t old_probe_field(const uint8_t *p, size_t n, int budget, old_probe *pr)
{
    pb_opts o = {.max_depth = budget};
    pb_visitor vis = {pr, old_probe_cb, old_probe_cb, NULL};
    pr->got = 0;
    (void)pb_walk_raw(p, n, &o, &vis, NULL);
    return pr->got ? (ptrdiff_t)pr->f.size : GW_EPARSE;
}

typedef struct old_ref {
    uint32_t number;
    size_t off;
} old_ref;

static int old_cmp_ref(const void *a, const void *b)
{
    const old_ref *x = a, *y = b;
    if (x->number != y->number)
        return x->number < y->number ? -1 : 1;
    return x->off < y->off ? -1 : x->off > y->off;
}

static int old_uint(gw_buf *o, uint64_t u)
{
    if (u <= 9007199254740992ull)
        return gw_buf_put_u64(o, u);
    int rc = gw_buf_putc(o, '"');
    if (!rc)
        rc = gw_buf_put_u64(o, u);
    return rc ? rc : gw_buf_putc(o, '"');
}

static int old_message(gw_buf *o, int max_depth, const uint8_t *p, size_t n, int depth);

static int old_value(gw_buf *o, int max_depth, const old_probe *pr, int depth)
{
    const pb_field *f = &pr->f;
    int rc = 0;
    switch (pr->v.kind) {
    case PB_KIND_VARINT:
    case PB_KIND_I32:
    case PB_KIND_I64:
        return old_uint(o, f->u);
    case PB_KIND_STRING:
        return view_json_string(o, (const char *)f->bytes, (size_t)f->u);
    case PB_KIND_BYTES:
        rc = gw_buf_putc(o, '"');
        if (!rc)
            rc = view_base64(o, f->bytes, (size_t)f->u);
        return rc ? rc : gw_buf_putc(o, '"');
    case PB_KIND_MESSAGE:
    case PB_KIND_GROUP:
        return old_message(o, max_depth, f->bytes, (size_t)f->u, depth + 1);
    case PB_KIND_PACKED: {
        size_t i = 0, len = (size_t)f->u;
        int first = 1;
        rc = gw_buf_putc(o, '[');
        while (!rc && i < len) {
            uint64_t u = 0;
            int k = 0, ok = 0;
            while (i < len && k < 10) {
                uint8_t c = f->bytes[i++];
                u |= (uint64_t)(c & 0x7f) << (7 * k++);
                if (!(c & 0x80)) {
                    ok = 1;
                    break;
                }
            }
            if (!ok)
                break;
            if (!first)
                rc = gw_buf_putc(o, ',');
            if (!rc)
                rc = old_uint(o, u);
            first = 0;
        }
        return rc ? rc : gw_buf_putc(o, ']');
    }
    }
    return gw_buf_append(o, "null", 4);
}

static int old_message(gw_buf *o, int max_depth, const uint8_t *p, size_t n, int depth)
{
    int budget = max_depth - depth;
    size_t pos = 0, count = 0;
    uint32_t prev = 0;
    int sorted = 1, rc = 0;
    old_ref *refs = NULL;
    old_probe cur, nxt;

    while (pos < n) {
        ptrdiff_t r = old_probe_field(p + pos, n - pos, budget, &cur);
        if (r < 0)
            break;
        if (cur.f.number < prev)
            sorted = 0;
        prev = cur.f.number;
        count++;
        pos += (size_t)r;
    }
    size_t good = pos;
    if (good < n && count == 0) {
        rc = gw_buf_append(o, "{\"_raw\":\"", 9);
        if (!rc)
            rc = view_base64(o, p, n);
        if (!rc)
            rc = gw_buf_append(o, "\"}", 2);
        goto out;
    }
    if (!sorted) {
        refs = malloc(count * sizeof *refs);
        pos = 0;
        for (size_t i = 0; i < count; i++) {
            ptrdiff_t r = old_probe_field(p + pos, good - pos, budget, &cur);
            refs[i].number = cur.f.number;
            refs[i].off = pos;
            pos += r > 0 ? (size_t)r : good - pos;
        }
        qsort(refs, count, sizeof *refs, old_cmp_ref);
    }
    rc = gw_buf_putc(o, '{');
    size_t idx = 0, off = 0;
    int have = 0, in_array = 0, first_key = 1;
#define OLD_NEXT(pr, ok)                                                                      \
    do {                                                                                      \
        size_t at_ = sorted ? off : (idx < count ? refs[idx].off : good);                     \
        ptrdiff_t r_ = at_ < good ? old_probe_field(p + at_, good - at_, budget, (pr)) : -1;  \
        (ok) = r_ > 0;                                                                        \
        if (ok) {                                                                             \
            off = at_ + (size_t)r_;                                                           \
            idx++;                                                                            \
        }                                                                                     \
    } while (0)
    OLD_NEXT(&cur, have);
    while (!rc && have) {
        int more;
        OLD_NEXT(&nxt, more);
        int same_next = more && nxt.f.number == cur.f.number;
        if (!in_array) {
            rc = first_key ? 0 : gw_buf_putc(o, ',');
            if (!rc)
                rc = gw_buf_putc(o, '"');
            if (!rc)
                rc = gw_buf_put_u64(o, cur.f.number);
            if (!rc)
                rc = gw_buf_append(o, "\":", 2);
            first_key = 0;
            if (!rc && same_next) {
                rc = gw_buf_putc(o, '[');
                in_array = 1;
            }
        } else {
            rc = gw_buf_putc(o, ',');
        }
        if (!rc)
            rc = old_value(o, max_depth, &cur, depth);
        if (!rc && in_array && !same_next) {
            rc = gw_buf_putc(o, ']');
            in_array = 0;
        }
        cur = nxt;
        have = more;
    }
#undef OLD_NEXT
    if (!rc && good < n) {
        rc = gw_buf_printf(o, "%s\"_error\":\"not a protobuf message from offset %zu\",\"_rest\":\"",
                           first_key ? "" : ",", good);
        if (!rc)
            rc = view_base64(o, p + good, n - good);
        if (!rc)
            rc = gw_buf_putc(o, '"');
    }
    if (!rc)
        rc = gw_buf_putc(o, '}');
out:
    free(refs);
    return rc;
}

/* Protobuf-ish bytes for the differential test: fields with one- and multi-byte tags (numbers
 * in and out of order, repeated), varints of every length (some padded), fixed32/64, strings
 * (ASCII, escapes, UTF-8, invalid UTF-8, controls, DEL, C1), random bytes, packed varint runs,
 * nested messages, groups (some unbalanced), and damage: truncation, bad tags, wild lengths. */
static uint64_t dt_state = 0x9e3779b97f4a7c15ull;
static uint32_t dt_rnd(void)
{
    dt_state ^= dt_state << 13;
    dt_state ^= dt_state >> 7;
    dt_state ^= dt_state << 17;
    return (uint32_t)(dt_state >> 16);
}

static void dt_varint(gw_buf *b, uint64_t v, int pad)
{
    uint8_t t[12];
    size_t k = 0;
    while (v >= 0x80) {
        t[k++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    if (pad && k < 9) {
        t[k++] = (uint8_t)(v | 0x80);
        v = 0;
    }
    t[k++] = (uint8_t)v;
    gw_buf_append(b, t, k);
}

static uint32_t dt_number(void)
{
    switch (dt_rnd() % 8) {
    case 0: return dt_rnd() % 2000 + 1;
    case 1: return dt_rnd() % 536870911u + 1;
    default: return dt_rnd() % 6 + 1; /* small: repeats and out-of-order runs */
    }
}

static void dt_message(gw_buf *b, int depth, size_t budget);

static void dt_field(gw_buf *b, int depth, size_t budget)
{
    uint32_t num = dt_number();
    uint8_t s[64];
    size_t n;
    switch (dt_rnd() % 12) {
    case 0: {
        int bits = (int)(dt_rnd() % 65);
        uint64_t v = (dt_rnd() & ((1ull << (bits % 32)) - 1)) << (bits / 2);
        if (bits == 64)
            v = (uint64_t)dt_rnd() << 32 | dt_rnd();
        dt_varint(b, (uint64_t)num << 3, 0);
        dt_varint(b, v, dt_rnd() % 16 == 0);
        return;
    }
    case 1:
        dt_varint(b, (uint64_t)num << 3 | 5, 0);
        for (int k = 0; k < 4; k++)
            gw_buf_putc(b, (int)(dt_rnd() & 0xff));
        return;
    case 2:
        dt_varint(b, (uint64_t)num << 3 | 1, 0);
        for (int k = 0; k < 8; k++)
            gw_buf_putc(b, (int)(dt_rnd() & 0xff));
        return;
    case 3:
    case 4: { /* text, mostly printable */
        static const char *alpha[] = {"a", "Z", " ", "0", "\"", "\\", "\n", "\t", "\r", "\x7f",
                                      "\x01", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
                                      "\xc2\x85", "\xc3", "\xed\xa0\x80", "\xff", "{", "~"};
        gw_buf t;
        gw_buf_init(&t, 0);
        size_t len = dt_rnd() % 40;
        for (size_t k = 0; k < len; k++) {
            const char *a = dt_rnd() % 4 ? alpha[dt_rnd() % 5] : alpha[dt_rnd() % 20];
            gw_buf_append(&t, a, strlen(a));
        }
        pb_put_bytes(b, num, t.data ? t.data : (const uint8_t *)"", t.len);
        gw_buf_free(&t);
        return;
    }
    case 5: /* random bytes */
        n = dt_rnd() % 24;
        for (size_t k = 0; k < n; k++)
            s[k] = (uint8_t)dt_rnd();
        pb_put_bytes(b, num, s, n);
        return;
    case 6: { /* packed varints */
        gw_buf t;
        gw_buf_init(&t, 0);
        size_t items = dt_rnd() % 8;
        for (size_t k = 0; k < items; k++)
            dt_varint(&t, dt_rnd() % 3 ? dt_rnd() % 300 : (uint64_t)dt_rnd() << 30,
                      dt_rnd() % 20 == 0);
        pb_put_bytes(b, num, t.data ? t.data : (const uint8_t *)"", t.len);
        gw_buf_free(&t);
        return;
    }
    case 7:
    case 8: { /* nested */
        if (depth > 6 || budget < 8) {
            pb_put_uint(b, num, dt_rnd());
            return;
        }
        gw_buf t;
        gw_buf_init(&t, 0);
        dt_message(&t, depth + 1, budget / 2);
        pb_put_bytes(b, num, t.data ? t.data : (const uint8_t *)"", t.len);
        gw_buf_free(&t);
        return;
    }
    case 9: { /* group, sometimes unbalanced or mismatched */
        if (depth > 6 || budget < 8) {
            pb_put_uint(b, num, 1);
            return;
        }
        dt_varint(b, (uint64_t)num << 3 | 3, 0);
        dt_message(b, depth + 1, budget / 2);
        uint32_t end = dt_rnd() % 10 ? num : dt_number();
        if (dt_rnd() % 12)
            dt_varint(b, (uint64_t)end << 3 | 4, 0);
        return;
    }
    case 10: /* a stray end group or a bad wire type */
        dt_varint(b, (uint64_t)num << 3 | (dt_rnd() % 2 ? 4 : 6 + dt_rnd() % 2), 0);
        return;
    default: /* a length that may run past the end */
        dt_varint(b, (uint64_t)num << 3 | 2, 0);
        dt_varint(b, dt_rnd() % 30, 0);
        n = dt_rnd() % 10;
        for (size_t k = 0; k < n; k++)
            gw_buf_putc(b, (int)(dt_rnd() & 0xff));
        return;
    }
}

static void dt_message(gw_buf *b, int depth, size_t budget)
{
    size_t nf = dt_rnd() % (depth ? 5 : 12);
    for (size_t i = 0; i < nf && b->len < budget; i++)
        dt_field(b, depth, budget);
}

/* The fast JSON renderer against the old one on random protobuf-ish input, at several depth
 * limits and with the byte loops forced to each SIMD level: the same bytes every time. */
static void test_json_differential(void)
{
    static const int depths[] = {32, 0, 1, 2, 3, 200};
    gw_buf in, want, got;
    gw_buf_init(&in, 0);
    gw_buf_init(&want, 0);
    gw_buf_init(&got, 0);
    int differ = 0, messages = 0;
    for (int iter = 0; iter < 20000; iter++) {
        gw_buf_reset(&in);
        dt_message(&in, 0, 600);
        if (iter % 4 == 1 && in.len) /* flip bits */
            for (int k = 0; k < 3; k++)
                in.data[dt_rnd() % in.len] ^= (uint8_t)(1u << (dt_rnd() % 8));
        if (iter % 4 == 2 && in.len) /* cut */
            in.len = dt_rnd() % in.len;
        if (iter % 50 == 3) { /* pure noise */
            gw_buf_reset(&in);
            size_t n = dt_rnd() % 80;
            for (size_t k = 0; k < n; k++)
                gw_buf_putc(&in, (int)(dt_rnd() & 0xff));
        }
        int md = depths[iter % 6];
        pb_opts o = {.max_depth = md};
        view_pb_force_scalar(iter % 3);
        gw_buf_reset(&want);
        gw_buf_reset(&got);
        const uint8_t *p = in.data ? in.data : (const uint8_t *)"";
        int r1 = old_message(&want, md, p, in.len, 0);
        int r2 = view_pb_json(&got, p, in.len, &o);
        GW_CHECK_INT(r2, r1);
        if (want.len != got.len || (want.len && memcmp(want.data, got.data, want.len))) {
            if (differ++ < 3)
                fprintf(stderr, "max_depth %d\nold: %.*s\nnew: %.*s\n", md, (int)want.len,
                        (char *)want.data, (int)got.len, (char *)got.data);
        }
        messages += memchr(want.data, '{', want.len) != NULL;
    }
    view_pb_force_scalar(0);
    GW_CHECK_INT(differ, 0);
    GW_CHECK(messages > 1000); /* the renderers wrote objects: equal empty outputs prove nothing */
    printf("json differential: 20000 inputs, %d objects, %d differ\n", messages, differ);
    gw_buf_free(&in);
    gw_buf_free(&want);
    gw_buf_free(&got);
}


/* Messages the one-pass JSON way takes (numbers strictly ascending) and near misses (a number
 * repeated or out of order, a group, damage at the end), of every field kind and size: the
 * general way (view_pb_force_general) and the old renderer print the same bytes; so do the
 * one-line preview's one pass and its walk. */
static void fa_message(gw_buf *b, int depth)
{
    size_t nf = dt_rnd() % (depth ? 4 : 9);
    uint32_t num = 0;
    for (size_t i = 0; i < nf; i++) {
        uint32_t r = dt_rnd() % 40;
        num = r == 0 ? num : r == 1 && num > 1 ? num - 1 : r == 2 ? num + 1000 : num + 1 + r % 3;
        if (num == 0 || num > 536870911u)
            num = 1;
        switch (dt_rnd() % 11) {
        case 0:
        case 1: {
            static const uint64_t vals[] = {0, 1, 127, 128, 16383, 16384, 9007199254740992ull,
                                            9007199254740993ull, ~0ull};
            dt_varint(b, (uint64_t)num << 3, 0);
            dt_varint(b, dt_rnd() % 2 ? dt_rnd() % 100 : vals[dt_rnd() % 9], dt_rnd() % 16 == 0);
            break;
        }
        case 2:
        case 3: { /* plain text, short or long */
            size_t len = dt_rnd() % 5 == 0 ? 60 + dt_rnd() % 200 : dt_rnd() % 20;
            dt_varint(b, (uint64_t)num << 3 | 2, 0);
            dt_varint(b, len, 0);
            for (size_t k = 0; k < len; k++)
                gw_buf_putc(b, "abc-XYZ 019~{}"[dt_rnd() % 14]);
            break;
        }
        case 4: { /* text that needs escaping or is UTF-8, and bytes */
            static const char *const alpha[] = {"a", "\"", "\\", "\n", "\x01", "\x7f",
                                                "\xc3\xa9", "\xc3", "\xff", "\xe2\x82\xac"};
            gw_buf t;
            gw_buf_init(&t, 0);
            size_t len = dt_rnd() % 30;
            for (size_t k = 0; k < len; k++) {
                const char *a = alpha[dt_rnd() % 10];
                gw_buf_append(&t, a, strlen(a));
            }
            pb_put_bytes(b, num, t.data ? t.data : (const uint8_t *)"", t.len);
            gw_buf_free(&t);
            break;
        }
        case 5:
            dt_varint(b, (uint64_t)num << 3 | 5, 0);
            for (int k = 0; k < 4; k++)
                gw_buf_putc(b, (int)(dt_rnd() & 0xff));
            break;
        case 6:
            dt_varint(b, (uint64_t)num << 3 | 1, 0);
            for (int k = 0; k < 8; k++)
                gw_buf_putc(b, (int)(dt_rnd() & 0xff));
            break;
        case 7:
        case 8: { /* nested, deeper than small max_depth values */
            gw_buf t;
            gw_buf_init(&t, 0);
            if (depth < 5)
                fa_message(&t, depth + 1);
            pb_put_bytes(b, num, t.data ? t.data : (const uint8_t *)"", t.len);
            gw_buf_free(&t);
            break;
        }
        case 9: { /* packed varints */
            gw_buf t;
            gw_buf_init(&t, 0);
            for (int k = 0; k < 4; k++)
                dt_varint(&t, dt_rnd() % 500, 0);
            pb_put_bytes(b, num, t.data, t.len);
            gw_buf_free(&t);
            break;
        }
        default: /* a group, rarely */
            if (dt_rnd() % 3 == 0) {
                dt_varint(b, (uint64_t)num << 3 | 3, 0);
                pb_put_uint(b, 1, 5);
                dt_varint(b, (uint64_t)num << 3 | 4, 0);
            } else {
                pb_put_uint(b, num, dt_rnd());
            }
        }
    }
}

static void test_json_fast(void)
{
    static const int depths[] = {32, 0, 1, 2, 200};
    static const size_t maxes[] = {0, 60, 23, 4, 1};
    gw_buf in, ref, gen, fast;
    gw_buf_init(&in, 0);
    gw_buf_init(&ref, 0);
    gw_buf_init(&gen, 0);
    gw_buf_init(&fast, 0);
    int differ = 0, differ_short = 0;
    for (int iter = 0; iter < 20000; iter++) {
        gw_buf_reset(&in);
        fa_message(&in, 0);
        if (iter % 10 == 7 && in.len) /* cut */
            in.len = dt_rnd() % in.len;
        int md = depths[iter % 5];
        pb_opts o = {.max_depth = md};
        view_pb_force_scalar(iter % 3);
        const uint8_t *p = in.data ? in.data : (const uint8_t *)"";
        gw_buf_reset(&ref);
        gw_buf_reset(&gen);
        gw_buf_reset(&fast);
        int r0 = old_message(&ref, md, p, in.len, 0);
        view_pb_force_general(1);
        int r1 = view_pb_json(&gen, p, in.len, &o);
        view_pb_force_general(0);
        int r2 = view_pb_json(&fast, p, in.len, &o);
        int same = r0 == r1 && r1 == r2 && ref.len == gen.len && gen.len == fast.len &&
                   memcmp(ref.data, gen.data, ref.len) == 0 &&
                   memcmp(gen.data, fast.data, gen.len) == 0;
        if (!same && differ++ < 3)
            fprintf(stderr, "max_depth %d\nold:     %.*s\ngeneral: %.*s\nfast:    %.*s\n", md,
                    (int)ref.len, (char *)ref.data, (int)gen.len, (char *)gen.data,
                    (int)fast.len, (char *)fast.data);
        /* The one-line preview's one pass against its walk, at several widths, uncut (0) too. */
        size_t max = maxes[iter / 5 % 5];
        gw_buf_reset(&gen);
        gw_buf_reset(&fast);
        view_pb_force_general(1);
        r1 = view_pb_short(&gen, p, in.len, max);
        view_pb_force_general(0);
        r2 = view_pb_short(&fast, p, in.len, max);
        same = r1 == r2 && gen.len == fast.len && memcmp(gen.data, fast.data, gen.len) == 0;
        if (!same && differ_short++ < 3)
            fprintf(stderr, "max %zu\ngeneral: %.*s\nfast:    %.*s\n", max, (int)gen.len,
                    (char *)gen.data, (int)fast.len, (char *)fast.data);
    }
    view_pb_force_scalar(0);
    GW_CHECK_INT(differ, 0);
    GW_CHECK_INT(differ_short, 0);
    printf("json fast/general/old: 20000 inputs, %d differ\n", differ);
    printf("short fast/general: 20000 inputs, %d differ\n", differ_short);
    gw_buf_free(&in);
    gw_buf_free(&ref);
    gw_buf_free(&gen);
    gw_buf_free(&fast);
}

/* view_base64_into writes the text and at most VIEW_BASE64_SLACK bytes past it (buffers of
 * exactly that size: ASan checks the bound), at every SIMD level and length. */

int main(void)
{
    test_json_differential();
    test_json_fast();
    GW_TEST_END();
}
