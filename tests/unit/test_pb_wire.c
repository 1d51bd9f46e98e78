/* Unit tests for pb_wire: field parsing, the schemaless walk and its guesses, encoders. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/gw_buf.h"
#include "common/gw_err.h"
#include "common/gw_utf8.h"
#include "gw_test.h"
#include "pb/pb_wire.h"

/* ---- field parsing ---- */

static void test_field_parse(void)
{
    static const struct {
        const char *hex;
        ptrdiff_t rc; /* bytes consumed or GW_EPARSE */
        uint32_t number;
        int wt;
        uint64_t u;
    } cases[] = {
        {"08 96 01", 3, 1, PB_WT_VARINT, 150},             /* the encoding guide's 150 */
        {"08 00", 2, 1, PB_WT_VARINT, 0},
        {"08 ff ff ff ff ff ff ff ff ff 01", 11, 1, PB_WT_VARINT, UINT64_MAX}, /* max 10 bytes */
        {"08 ff ff ff ff 0f", 6, 1, PB_WT_VARINT, 0xffffffffu},
        {"08 ff ff ff ff ff ff ff ff ff 02", GW_EPARSE, 0, 0, 0}, /* 10th byte overflows */
        {"08 ff ff ff ff ff ff ff ff ff 81 00", GW_EPARSE, 0, 0, 0}, /* 11 bytes: over-long */
        {"08 80", GW_EPARSE, 0, 0, 0},                    /* truncated varint */
        {"08", GW_EPARSE, 0, 0, 0},                       /* tag alone */
        {"", GW_EPARSE, 0, 0, 0},
        {"00 01", GW_EPARSE, 0, 0, 0},                    /* field number 0 */
        {"02 00", GW_EPARSE, 0, 0, 0},
        {"0e 00", GW_EPARSE, 0, 0, 0},                    /* wire type 6 */
        {"0f 00", GW_EPARSE, 0, 0, 0},                    /* wire type 7 */
        {"f8 ff ff ff 0f 01", 6, 536870911u, PB_WT_VARINT, 1}, /* 2^29-1, the largest number */
        {"80 80 80 80 10 01", GW_EPARSE, 0, 0, 0},        /* 2^29 */
        {"0d 00 00 80 3f", 5, 1, PB_WT_I32, 0x3f800000u},
        {"0d 00 00 80", GW_EPARSE, 0, 0, 0},
        {"11 01 02 03 04 05 06 07 08", 9, 2, PB_WT_I64, 0x0807060504030201ull},
        {"11 01 02 03 04 05 06 07", GW_EPARSE, 0, 0, 0},
        {"0a 05 77 6f 72 6c 64", 7, 1, PB_WT_LEN, 5},
        {"0a 00", 2, 1, PB_WT_LEN, 0},
        {"0a 05 77 6f 72 6c", GW_EPARSE, 0, 0, 0},        /* truncated value */
        {"0a ff ff ff ff ff ff ff ff ff 01 00", GW_EPARSE, 0, 0, 0}, /* huge length */
        {"0b", 1, 1, PB_WT_SGROUP, 0},
        {"0c", 1, 1, PB_WT_EGROUP, 0},
        {"88 80 80 00 05", 5, 1, PB_WT_VARINT, 5},        /* padded tag: legal varint */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t buf[64];
        size_t n = gw_test_unhex(cases[i].hex, buf, sizeof buf);
        pb_field f;
        memset(&f, 0xaa, sizeof f);
        ptrdiff_t r = pb_field_parse(buf, n, &f);
        GW_CHECK_INT(r, cases[i].rc);
        if (r < 0 || r != cases[i].rc) {
            if (r != cases[i].rc)
                fprintf(stderr, "  case %zu: %s\n", i, cases[i].hex);
            continue;
        }
        GW_CHECK_INT(f.number, cases[i].number);
        GW_CHECK_INT(f.wire_type, cases[i].wt);
        GW_CHECK(f.u == cases[i].u);
        GW_CHECK_INT(f.size, r);
        if (f.wire_type == PB_WT_LEN)
            GW_CHECK(f.bytes == buf + n - f.u);
    }
}

/* ---- a recording visitor ---- */

#define MAXEV 512
typedef struct rec {
    int n;
    struct ev {
        char type; /* 'f' field, '<' enter, '>' leave */
        int kind, depth, ambiguous, packed_item, zigzag_better, float_plausible;
        uint32_t number;
        uint64_t u;
        int64_t sval;
        double dval;
        size_t offset, size, len;
    } ev[MAXEV];
    int stop_at; /* stop when this many events were seen (0: never) */
} rec;

static int record(rec *r, char type, const pb_value *v)
{
    if (r->n < MAXEV) {
        struct ev *e = &r->ev[r->n];
        e->type = type;
        e->kind = v->kind;
        e->depth = v->depth;
        e->ambiguous = v->ambiguous;
        e->packed_item = v->packed_item;
        e->zigzag_better = v->zigzag_better;
        e->float_plausible = v->float_plausible;
        e->number = v->f->number;
        e->u = v->f->u;
        e->sval = v->sval;
        e->dval = v->dval;
        e->offset = v->f->offset;
        e->size = v->f->size;
        e->len = v->f->wire_type == PB_WT_LEN ? (size_t)v->f->u : 0;
    }
    r->n++;
    return r->stop_at && r->n >= r->stop_at;
}
static int on_field(void *u, const pb_value *v) { return record(u, 'f', v); }
static int on_enter(void *u, const pb_value *v) { return record(u, '<', v); }
static int on_leave(void *u, const pb_value *v) { return record(u, '>', v); }

static int walk_hex(const char *hex, rec *r, int max_depth, size_t *bad)
{
    static uint8_t buf[4096];
    size_t n = gw_test_unhex(hex, buf, sizeof buf);
    pb_opts o;
    pb_opts_default(&o);
    if (max_depth >= 0)
        o.max_depth = max_depth;
    memset(r, 0, sizeof *r);
    pb_visitor v = {r, on_field, on_enter, on_leave};
    return pb_walk_raw(buf, n, &o, &v, bad);
}

/* A compact signature of the events: "f1V" field 1 varint, "<2M" enter message, ">" leave... */
static const char *sig(const rec *r)
{
    static char s[2048];
    static const char kinds[] = "?VDFSBMPG"; /* varint i64(D) i32(F) string bytes msg packed group */
    size_t k = 0;
    for (int i = 0; i < r->n && i < MAXEV && k + 20 < sizeof s; i++) {
        const struct ev *e = &r->ev[i];
        if (e->type == '>')
            k += (size_t)snprintf(s + k, sizeof s - k, ">");
        else
            k += (size_t)snprintf(s + k, sizeof s - k, "%c%u%c%s ", e->type, e->number,
                                  kinds[e->kind], e->ambiguous ? "?" : "");
    }
    s[k] = 0;
    return s;
}

static void test_walk_kinds(void)
{
    static const struct {
        const char *hex;
        int rc;
        const char *sig;
        size_t bad;
    } cases[] = {
        {"0a 05 77 6f 72 6c 64", 0, "f1S ", 7},                          /* seed request */
        {"0a 0b 48 65 6c 6c 6f 20 77 6f 72 6c 64", 0, "f1S ", 13},      /* seed response */
        {"08 96 01", 0, "f1V ", 3},
        {"0a 00", 0, "f1S? ", 2},                                       /* empty: ambiguous */
        {"12 03 08 96 01", 0, "<2M? f1V >", 5},                         /* nested, all varints */
        {"12 07 0a 05 77 6f 72 6c 64", 0, "<2M f1S >", 9},
        {"22 03 01 02 03", 0, "<4P? f4V f4V f4V >", 5},                  /* packed */
        {"22 04 96 01 e8 07", 0, "<4P? f4V f4V >", 6},                   /* packed 150, 1000 */
        {"22 02 96 01", 0, "f4B ", 4},                                  /* one element: bytes */
        {"22 03 80 00 05", 0, "f4B ", 5},                               /* padded varint: bytes */
        {"2a 02 ff fe", 0, "f5B ", 4},                                  /* bytes like nothing */
        {"2a 04 28 61 28 62", 0, "f5S? ", 6},                           /* "(a(b" is a message too */
        {"2a 03 c3 a9 0a", 0, "f5S ", 5},                               /* "é\n" */
        {"2a 02 c3 28", 0, "f5B ", 4},                                  /* bad UTF-8, not packed */
        {"2a 02 41 01", 0, "<5P? f5V f5V >", 4},                        /* "A\1" not printable */
        {"2a 02 c2 85", 0, "f5B ", 4},                                  /* U+0085 (C1 control) */
        {"2a 03 ed a0 80", 0, "f5B ", 5},                               /* a surrogate */
        {"2a 02 7f 01", 0, "<5P? f5V f5V >", 4},                        /* DEL is not printable */
        {"0b 08 01 0c", 0, "<1G f1V >", 4},                             /* group */
        {"0b 13 14 0c", 0, "<1G <2G >>", 4},                         /* nested groups */
        {"0b 14 0c", GW_EPARSE, "", 0},                                 /* mismatched end */
        {"08 01 0b 08 01", GW_EPARSE, "f1V ", 2},                       /* unterminated */
        {"08 01 0c", GW_EPARSE, "f1V ", 2},                             /* stray end group */
        {"12 02 0b 0c", 0, "<2M <1G >>", 4},                            /* nested group */
        {"12 02 0b 14", 0, "<2P? f2V f2V >", 4},                        /* not a message */
        {"0d 00 00 80 3f 11 1f 85 eb 51 b8 1e 09 40", 0, "f1F f2D ", 14},
        {"08 01 10 02 ff", GW_EPARSE, "f1V f2V ", 4},                   /* junk at the end */
        {"77 6f 72 6c 64", GW_EPARSE, "", 0},                           /* a string, no tag */
        {"", 0, "", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rec r;
        size_t bad = 12345;
        int rc = walk_hex(cases[i].hex, &r, -1, &bad);
        GW_CHECK_INT(rc, cases[i].rc);
        GW_CHECK_STR(sig(&r), cases[i].sig);
        if (rc == GW_EPARSE)
            GW_CHECK_INT(bad, cases[i].bad);
        else
            GW_CHECK_INT(bad, cases[i].bad); /* n on success */
        if (rc != cases[i].rc || strcmp(sig(&r), cases[i].sig))
            fprintf(stderr, "  case %zu: %s\n", i, cases[i].hex);
    }
}

static void test_walk_details(void)
{
    rec r;
    size_t bad;
    /* offsets and sizes are from the start of the walked buffer, nested ones too */
    GW_CHECK_INT(walk_hex("08 01 12 05 0a 03 61 62 63 18 02", &r, -1, &bad), 0);
    GW_CHECK_INT(r.n, 5);
    GW_CHECK_INT(r.ev[1].offset, 2);
    GW_CHECK_INT(r.ev[1].size, 7);
    GW_CHECK_INT(r.ev[2].offset, 4);
    GW_CHECK_INT(r.ev[2].size, 5);
    GW_CHECK_INT(r.ev[2].depth, 1);
    GW_CHECK_INT(r.ev[2].kind, PB_KIND_STRING);
    GW_CHECK_INT(r.ev[3].type, '>');
    GW_CHECK_INT(r.ev[4].offset, 9);
    GW_CHECK_INT(r.ev[4].depth, 0);

    /* packed items: depth one below the list, own offsets and sizes */
    GW_CHECK_INT(walk_hex("22 04 96 01 e8 07", &r, -1, &bad), 0);
    GW_CHECK_INT(r.ev[1].packed_item, 1);
    GW_CHECK(r.ev[1].u == 150);
    GW_CHECK_INT(r.ev[1].offset, 2);
    GW_CHECK_INT(r.ev[1].size, 2);
    GW_CHECK_INT(r.ev[1].depth, 1);
    GW_CHECK(r.ev[2].u == 1000);
    GW_CHECK_INT(r.ev[2].offset, 4);

    /* groups: bytes/u are the contents, size runs through the end tag */
    GW_CHECK_INT(walk_hex("08 01 1b 08 01 1c 20 05", &r, -1, &bad), 0);
    GW_CHECK_INT(r.ev[1].type, '<');
    GW_CHECK_INT(r.ev[1].kind, PB_KIND_GROUP);
    GW_CHECK(r.ev[1].u == 2);
    GW_CHECK_INT(r.ev[1].offset, 2);
    GW_CHECK_INT(r.ev[1].size, 4);
    GW_CHECK_INT(r.ev[4].number, 4);
    GW_CHECK_INT(r.ev[4].offset, 6);

    /* zigzag */
    static const struct {
        const char *hex;
        int64_t sval;
        int better;
    } zz[] = {
        {"08 00", 0, 0},
        {"08 01", -1, 0}, /* 1 is mostly true or an enum */
        {"08 02", 1, 0},
        {"08 03", -2, 1},
        {"08 04", 2, 0},
        {"08 ff ff ff ff 0f", -2147483648LL, 1},
        {"08 fe ff ff ff 0f", 2147483647LL, 0},
        {"08 ff ff ff ff 1f", -4294967296LL, 0}, /* past 32 bits */
        {"08 ff ff ff ff ff ff ff ff ff 01", INT64_MIN, 0},
    };
    for (size_t i = 0; i < sizeof zz / sizeof zz[0]; i++) {
        GW_CHECK_INT(walk_hex(zz[i].hex, &r, -1, &bad), 0);
        GW_CHECK(r.ev[0].sval == zz[i].sval);
        GW_CHECK_INT(r.ev[0].zigzag_better, zz[i].better);
    }
    /* negative int32 -1 goes on the wire as ten bytes */
    GW_CHECK_INT(walk_hex("08 ff ff ff ff ff ff ff ff ff 01", &r, -1, &bad), 0);
    GW_CHECK((int64_t)r.ev[0].u == -1);

    /* float / double plausibility */
    static const struct {
        const char *hex;
        double d;
        int plausible;
    } fl[] = {
        {"0d 00 00 80 3f", 1.0, 1},
        {"0d 00 00 00 00", 0.0, 1},
        {"0d 00 00 00 80", -0.0, 0},      /* -0: more likely 0x80000000 */
        {"0d 01 00 00 00", 1.4e-45, 0},   /* a small integer: denormal */
        {"0d e8 03 00 00", 1.4e-42, 0},
        {"0d 00 00 80 7f", 0, 0},         /* inf */
        {"0d 00 00 c0 7f", 0, 0},         /* nan */
        {"0d db 0f 49 40", 3.14159274101257324, 1},
        {"0d 00 00 80 bf", -1.0, 1},
        {"0d 28 6b 6e 4e", 1e9, 1},
        {"0d 00 00 00 01", 2.3509887e-38, 0}, /* tiny, long decimal */
        {"09 1f 85 eb 51 b8 1e 09 40", 3.14, 1},
        {"09 00 00 00 00 00 00 f0 3f", 1.0, 1},
        {"09 50 d3 a4 1e 79 e4 f0 17", 0, 0}, /* 1724897757925722000 as fixed64 */
        {"09 01 00 00 00 00 00 00 00", 4.9e-324, 0},
        {"09 00 00 00 00 00 00 f0 7f", 0, 0},  /* inf */
        {"09 92 d5 4d 06 cf f0 80 44", 1e22, 1}, /* large but short */
    };
    for (size_t i = 0; i < sizeof fl / sizeof fl[0]; i++) {
        GW_CHECK_INT(walk_hex(fl[i].hex, &r, -1, &bad), 0);
        GW_CHECK_INT(r.ev[0].float_plausible, fl[i].plausible);
        if (fl[i].plausible && fl[i].d != 0) {
            double rel = (r.ev[0].dval - fl[i].d) / fl[i].d;
            GW_CHECK(rel < 1e-6 && rel > -1e-6);
        }
        if (r.ev[0].float_plausible != fl[i].plausible)
            fprintf(stderr, "  float case %zu: %s\n", i, fl[i].hex);
    }

    /* a visitor can stop the walk */
    GW_CHECK_INT(walk_hex("08 01 12 02 08 01 18 03", &r, -1, &bad), 0);
    GW_CHECK_INT(r.n, 5);
    for (int stop = 1; stop <= 5; stop++) {
        uint8_t buf[16];
        size_t n = gw_test_unhex("08 01 12 02 08 01 18 03", buf, sizeof buf);
        memset(&r, 0, sizeof r);
        r.stop_at = stop;
        pb_visitor v = {&r, on_field, on_enter, on_leave};
        GW_CHECK_INT(pb_walk_raw(buf, n, NULL, &v, NULL), 1);
        GW_CHECK_INT(r.n, stop);
    }
    /* NULL callbacks and NULL visitor are allowed */
    {
        uint8_t buf[16];
        size_t n = gw_test_unhex("08 01 12 02 08 01 18 03", buf, sizeof buf);
        pb_visitor v = {NULL, NULL, NULL, NULL};
        GW_CHECK_INT(pb_walk_raw(buf, n, NULL, &v, NULL), 0);
        GW_CHECK_INT(pb_walk_raw(buf, n, NULL, NULL, &bad), 0);
        GW_CHECK_INT(bad, n);
    }
}

/* Nesting 100 deep: field 1 holding field 1 ... holding 08 01. */
static size_t build_deep(gw_buf *b, int levels)
{
    gw_buf tmp;
    gw_buf_init(b, 0);
    gw_buf_init(&tmp, 0);
    pb_put_uint(b, 1, 1);
    for (int i = 0; i < levels; i++) {
        gw_buf_reset(&tmp);
        pb_put_bytes(&tmp, 1, b->data, b->len);
        gw_buf_reset(b);
        gw_buf_append(b, tmp.data, tmp.len);
    }
    gw_buf_free(&tmp);
    return b->len;
}

typedef struct depth_rec {
    int max_enter_depth, enters, bytes_depth, varint_depth;
} depth_rec;
static int d_field(void *u, const pb_value *v)
{
    depth_rec *d = u;
    if (v->kind == PB_KIND_BYTES)
        d->bytes_depth = v->depth;
    if (v->kind == PB_KIND_VARINT)
        d->varint_depth = v->depth;
    return 0;
}
static int d_enter(void *u, const pb_value *v)
{
    depth_rec *d = u;
    d->enters++;
    if (v->depth > d->max_enter_depth)
        d->max_enter_depth = v->depth;
    return 0;
}

static void test_depth(void)
{
    gw_buf b;
    build_deep(&b, 100);
    pb_visitor vis;
    depth_rec d;
    pb_opts o;

    memset(&d, 0, sizeof d);
    d.bytes_depth = d.varint_depth = -1;
    vis = (pb_visitor){&d, d_field, d_enter, NULL};
    GW_CHECK_INT(pb_walk_raw(b.data, b.len, NULL, &vis, NULL), 0); /* default 32 */
    GW_CHECK_INT(d.enters, 32);
    GW_CHECK_INT(d.max_enter_depth, 31);
    GW_CHECK_INT(d.bytes_depth, 32);
    GW_CHECK_INT(d.varint_depth, -1);

    o.max_depth = 100;
    memset(&d, 0, sizeof d);
    d.bytes_depth = d.varint_depth = -1;
    GW_CHECK_INT(pb_walk_raw(b.data, b.len, &o, &vis, NULL), 0);
    GW_CHECK_INT(d.enters, 100);
    GW_CHECK_INT(d.varint_depth, 100);
    GW_CHECK_INT(d.bytes_depth, -1);

    o.max_depth = 0; /* no nesting at all */
    memset(&d, 0, sizeof d);
    d.bytes_depth = d.varint_depth = -1;
    GW_CHECK_INT(pb_walk_raw(b.data, b.len, &o, &vis, NULL), 0);
    GW_CHECK_INT(d.enters, 0);
    GW_CHECK_INT(d.bytes_depth, 0);

    o.max_depth = 1000000; /* clamped, never unbounded */
    GW_CHECK_INT(pb_walk_raw(b.data, b.len, &o, &vis, NULL), 0);
    gw_buf_free(&b);

    /* groups nested past the limit are an error (they cannot fall back to bytes) */
    uint8_t g[300];
    size_t n = 0;
    for (int i = 0; i < 40; i++)
        g[n++] = 0x0b;
    for (int i = 0; i < 40; i++)
        g[n++] = 0x0c;
    GW_CHECK_INT(pb_walk_raw(g, n, NULL, NULL, NULL), GW_EPARSE);
    GW_CHECK_INT(pb_is_message(g, n, 32), 0);
    GW_CHECK_INT(pb_is_message(g, n, 40), 1);
    o.max_depth = 40;
    GW_CHECK_INT(pb_walk_raw(g, n, &o, NULL, NULL), 0);
    /* 2000 nested groups with a huge max_depth: clamped, an error, no stack overflow */
    uint8_t *big = malloc(4000);
    for (int i = 0; i < 2000; i++) {
        big[i] = 0x0b;
        big[2000 + i] = 0x0c;
    }
    o.max_depth = 1 << 30;
    GW_CHECK_INT(pb_walk_raw(big, 4000, &o, NULL, NULL), GW_EPARSE);
    GW_CHECK_INT(pb_is_message(big, 4000, 1 << 30), 0);
    free(big);
}

static void test_is_message(void)
{
    static const struct {
        const char *hex;
        int yes;
    } cases[] = {
        {"", 1},
        {"08 96 01", 1},
        {"0a 05 77 6f 72 6c 64", 1},
        {"77 6f 72 6c 64", 0},
        {"0b 0c", 1},
        {"0b", 0},
        {"0c", 0},
        {"0b 14", 0},
        {"08 96", 0},
        {"08 01 00", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t buf[64];
        size_t n = gw_test_unhex(cases[i].hex, buf, sizeof buf);
        GW_CHECK_INT(pb_is_message(buf, n, 32), cases[i].yes);
    }
}

/* Every proper prefix of a message either ends at a field boundary (walks fine) or fails at the
 * start of the cut field, after visiting exactly the fields before it. */
static void test_truncation(void)
{
    uint8_t buf[128];
    size_t n = gw_test_unhex("08 96 01 12 07 0a 05 77 6f 72 6c 64 1d 00 00 80 3f 21 01 02 03 04 05 06"
                             " 07 08 2b 08 01 2c 32 03 01 02 03 38 ff ff ff ff ff ff ff ff ff 01",
                             buf, sizeof buf);
    static const size_t bounds[] = {0, 3, 12, 17, 26, 30, 35, 46};
    for (size_t cut = 0; cut <= n; cut++) {
        size_t last = 0;
        int top = 0;
        for (size_t k = 0; k < sizeof bounds / sizeof bounds[0]; k++) {
            if (bounds[k] <= cut) {
                last = bounds[k];
                top = (int)k;
            }
        }
        size_t bad = 999;
        rec r;
        memset(&r, 0, sizeof r);
        pb_visitor v = {&r, on_field, on_enter, on_leave};
        int rc = pb_walk_raw(buf, cut, NULL, &v, &bad);
        int tops = 0;
        for (int i = 0; i < r.n; i++)
            tops += r.ev[i].depth == 0 && r.ev[i].type != '>';
        if (last == cut) {
            GW_CHECK_INT(rc, 0);
            GW_CHECK_INT(bad, cut);
        } else {
            GW_CHECK_INT(rc, GW_EPARSE);
            GW_CHECK_INT(bad, last);
        }
        GW_CHECK_INT(tops, top);
        GW_CHECK_INT(pb_is_message(buf, cut, 32), last == cut);
        /* a truncated field alone never parses */
        if (cut > last) {
            pb_field f;
            size_t next = n;
            for (size_t k = 0; k < sizeof bounds / sizeof bounds[0]; k++)
                if (bounds[k] > last && bounds[k] < next)
                    next = bounds[k];
            if (next - last > 1 && buf[last] != 0x2b) /* a group tag parses alone */
                GW_CHECK_INT(pb_field_parse(buf + last, cut - last, &f), GW_EPARSE);
        }
    }
}

/* ---- encoders ---- */

static void test_encoders(void)
{
    gw_buf b;
    gw_buf_init(&b, 0);
    uint8_t exp[64];
    size_t en;

    GW_CHECK_INT(pb_put_uint(&b, 1, 150), 0);
    en = gw_test_unhex("08 96 01", exp, sizeof exp);
    GW_CHECK_MEM(b.data, b.len, exp, en);

    gw_buf_reset(&b);
    GW_CHECK_INT(pb_put_bytes(&b, 1, "world", 5), 0);
    en = gw_test_unhex("0a 05 77 6f 72 6c 64", exp, sizeof exp);
    GW_CHECK_MEM(b.data, b.len, exp, en);

    gw_buf_reset(&b);
    GW_CHECK_INT(pb_put_varint(&b, UINT64_MAX), 0);
    en = gw_test_unhex("ff ff ff ff ff ff ff ff ff 01", exp, sizeof exp);
    GW_CHECK_MEM(b.data, b.len, exp, en);

    gw_buf_reset(&b);
    GW_CHECK_INT(pb_put_varint(&b, 0), 0);
    GW_CHECK_INT(pb_put_tag(&b, 536870911u, PB_WT_I32), 0);
    en = gw_test_unhex("00 fd ff ff ff 0f", exp, sizeof exp);
    GW_CHECK_MEM(b.data, b.len, exp, en);

    GW_CHECK_INT(pb_put_tag(&b, 0, 0), GW_EINVAL);
    GW_CHECK_INT(pb_put_tag(&b, 536870912u, 0), GW_EINVAL);
    GW_CHECK_INT(pb_put_tag(&b, 1, 6), GW_EINVAL);
    GW_CHECK_INT(pb_put_bytes(&b, 0, "", 0), GW_EINVAL);
    GW_CHECK_INT(pb_put_uint(&b, 0, 1), GW_EINVAL);
    gw_buf_free(&b);

    /* a cap: all or nothing */
    gw_buf_init(&b, 5);
    GW_CHECK_INT(pb_put_bytes(&b, 1, "world", 5), GW_ECAP);
    GW_CHECK_INT(b.len, 0);
    GW_CHECK_INT(pb_put_uint(&b, 1, 150), 0);
    GW_CHECK_INT(pb_put_uint(&b, 1, 150), GW_ECAP);
    GW_CHECK_INT(b.len, 3);
    GW_CHECK_INT(pb_put_varint(&b, 1ull << 60), GW_ECAP);
    GW_CHECK_INT(b.len, 3);
    gw_buf_free(&b);
}

/* Random messages built with the encoders walk back to the same fields. */
static void test_roundtrip(void)
{
    srand(12345);
    for (int iter = 0; iter < 300; iter++) {
        gw_buf b;
        gw_buf_init(&b, 0);
        int nf = rand() % 20;
        uint32_t nums[20];
        uint64_t vals[20];
        for (int i = 0; i < nf; i++) {
            nums[i] = (uint32_t)(rand() % 536870911) + 1;
            vals[i] = (uint64_t)rand() << 40 ^ (uint64_t)rand() << 20 ^ (uint64_t)rand();
            if (rand() % 3 == 0)
                vals[i] >>= rand() % 64;
            GW_CHECK_INT(pb_put_uint(&b, nums[i], vals[i]), 0);
        }
        rec r;
        memset(&r, 0, sizeof r);
        pb_visitor v = {&r, on_field, on_enter, on_leave};
        GW_CHECK_INT(pb_walk_raw(b.data, b.len, NULL, &v, NULL), 0);
        GW_CHECK_INT(r.n, nf);
        for (int i = 0; i < nf && i < r.n; i++) {
            GW_CHECK_INT(r.ev[i].number, nums[i]);
            GW_CHECK(r.ev[i].u == vals[i]);
        }
        gw_buf_free(&b);
    }
}

/* Random and mutated bytes: never crash, bad offsets in range, sizes add up. */
typedef struct sum_rec {
    size_t n, top_bytes;
} sum_rec;
static int sum_top(void *u, const pb_value *v)
{
    sum_rec *s = u;
    if (v->depth == 0 && !v->packed_item)
        s->top_bytes += v->f->size;
    if (v->f->offset + v->f->size > s->n)
        s->top_bytes = (size_t)-1; /* flags an out-of-range field */
    return 0;
}

static void test_random(void)
{
    srand(777);
    uint8_t buf[256];
    for (int iter = 0; iter < 20000; iter++) {
        size_t n = (size_t)(rand() % 64);
        for (size_t i = 0; i < n; i++)
            buf[i] = (uint8_t)rand();
        if (iter % 2) /* bias towards plausible tags */
            for (size_t i = 0; i < n; i += 1 + (size_t)(rand() % 4))
                buf[i] = (uint8_t)((rand() % 6 + 1) << 3 | rand() % 6);
        sum_rec s = {n, 0};
        pb_visitor v = {&s, sum_top, sum_top, NULL};
        size_t bad = 999;
        int rc = pb_walk_raw(buf, n, NULL, &v, &bad);
        GW_CHECK(rc == 0 || rc == GW_EPARSE);
        GW_CHECK(bad <= n);
        GW_CHECK(s.top_bytes == bad); /* everything before bad_offset was visited */
        GW_CHECK_INT(pb_is_message(buf, n, 32), rc == 0);
    }
}

/* The printable-text guess (screened 16 or 32 bytes at a time) against a byte-at-a-time
 * reference: every length 0..300 at every alignment 0..31, random and mostly-clean text, and a
 * control, DEL, C1 or UTF-8 sequence at every position. max_depth 0 keeps it to string vs bytes. */
static int printable_ref(const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        uint8_t c = s[i];
        uint32_t cp;
        if ((c >= 0x20 && c <= 0x7e) || c == '\t' || c == '\n' || c == '\r') {
            i++;
            continue;
        }
        size_t len = c >= 0x80 ? gw_utf8_seq(s + i, n - i, &cp) : 0;
        if (!len || (cp >= 0x80 && cp <= 0x9f))
            return 0;
        i += len;
    }
    return 1;
}

static int first_kind(void *u, const pb_value *v)
{
    *(int *)u = v->kind;
    return 1;
}

static uint64_t pr_rng = 0x853c49e6748fea9bull;
static uint32_t pr_rnd(void)
{
    pr_rng ^= pr_rng << 13, pr_rng ^= pr_rng >> 7, pr_rng ^= pr_rng << 17;
    return (uint32_t)(pr_rng >> 16);
}

/* Field 1 holding body[0..n), at the very end of its allocation (ASan sees reads past it). */
static int printable_agrees(const uint8_t *body, size_t n, size_t align)
{
    uint8_t *block = malloc(align + 3 + n);
    uint8_t *p = block + align;
    size_t h = 0;
    p[h++] = 0x0a;
    p[h++] = (uint8_t)(n < 128 ? n : (n & 0x7f) | 0x80);
    if (n >= 128)
        p[h++] = (uint8_t)(n >> 7);
    memcpy(p + h, body, n);
    pb_opts o = {.max_depth = 0};
    int kind = 0;
    pb_visitor v = {&kind, first_kind, first_kind, NULL};
    pb_walk_raw(p, h + n, &o, &v, NULL);
    int want = n == 0 || printable_ref(body, n) ? PB_KIND_STRING : PB_KIND_BYTES;
    if (pb_printable_utf8(p + h, n) != (want == PB_KIND_STRING))
        kind = -1; /* the exported check disagrees with the walk */
    free(block);
    if (kind != want)
        fprintf(stderr, "printable guess: n %zu align %zu kind %d, want %d\n", n, align, kind, want);
    return kind != want;
}

static void test_printable(void)
{
    uint8_t body[320];
    int bad = 0, strings = 0;
    for (size_t n = 0; n <= 300; n++)
        for (size_t align = 0; align < 32; align++) {
            for (size_t i = 0; i < n; i++)
                body[i] = (uint8_t)pr_rnd();
            bad += printable_agrees(body, n, align);
            for (size_t i = 0; i < n; i++)
                body[i] = pr_rnd() % 199 ? (uint8_t)(0x20 + pr_rnd() % 0x5f) : (uint8_t)pr_rnd();
            strings += printable_ref(body, n);
            bad += printable_agrees(body, n, align);
        }
    static const char *const toks[] = {"\t", "\n", "\r", "\x01", "\x1f", "\x7f", "\xc3\xa9",
                                       "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xc2\x85", "\xc3",
                                       "\xed\xa0\x80", "\xff", "\x80", "\"", "\\"};
    for (size_t n = 1; n <= 140; n++)
        for (size_t t = 0; t < sizeof toks / sizeof toks[0]; t++) {
            size_t tl = strlen(toks[t]);
            for (size_t pos = 0; pos + tl <= n; pos++) {
                memset(body, 'h', n);
                memcpy(body + pos, toks[t], tl);
                bad += printable_agrees(body, n, (pos * 5 + n) % 32);
            }
        }
    GW_CHECK_INT(bad, 0);
    GW_CHECK(strings > 2000); /* the mostly-clean inputs did read as text often enough */
}

/* ---- the walk's pieces (pb_field_parse_whole, pb_printable_utf8, pb_packed_varints) ---- */

/* The first event of a walk, its field copied (v->f lives on the walk's stack). */
typedef struct first_ev {
    pb_value v;
    pb_field f;
    int got;
} first_ev;

static int first_event(void *u, const pb_value *v)
{
    first_ev *e = u;
    e->v = *v;
    e->f = *v->f;
    e->got = 1;
    return 1;
}

static void test_pieces(void)
{
    static const struct {
        const char *hex;
        int max_depth;
        ptrdiff_t rc;
        uint32_t number;
        int wt;
        uint64_t u;
        size_t body_at; /* bytes - p for LEN and groups */
    } cases[] = {
        {"08 96 01", 32, 3, 1, PB_WT_VARINT, 150, 0},
        {"08 05 ff", 32, 2, 1, PB_WT_VARINT, 5, 0},               /* fast path */
        {"12 02 68 69 00", 32, 4, 2, PB_WT_LEN, 2, 2},            /* fast path */
        {"12 03 68 69", 32, GW_EPARSE, 0, 0, 0, 0},               /* length past the end */
        {"12 7f", 32, GW_EPARSE, 0, 0, 0, 0},
        {"07 01", 32, GW_EPARSE, 0, 0, 0, 0},                     /* field number 0 */
        {"0e 01", 32, GW_EPARSE, 0, 0, 0, 0},                     /* wire type 6 */
        {"80 01 05", 32, 3, 16, PB_WT_VARINT, 5, 0},              /* two-byte tag */
        {"0d 01 02 03 04", 32, 5, 1, PB_WT_I32, 0x04030201, 0},
        {"0b 08 01 0c 10", 32, 4, 1, PB_WT_SGROUP, 2, 1},         /* a group, taken whole */
        {"0b 0c", 1, 2, 1, PB_WT_SGROUP, 0, 1},
        {"0b 08 01 0c", 0, GW_EPARSE, 0, 0, 0, 0},                /* no nesting allowed */
        {"0b 13 14 0c", 1, GW_EPARSE, 0, 0, 0, 0},                /* inner group too deep */
        {"0b 13 14 0c", 2, 4, 1, PB_WT_SGROUP, 2, 1},
        {"0b 08 01", 32, GW_EPARSE, 0, 0, 0, 0},                  /* does not close */
        {"0b 08 01 14", 32, GW_EPARSE, 0, 0, 0, 0},               /* closes another group */
        {"0c", 32, GW_EPARSE, 0, 0, 0, 0},                        /* stray end tag */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t in[32];
        size_t n = gw_test_unhex(cases[i].hex, in, sizeof in);
        pb_field f;
        ptrdiff_t rc = pb_field_parse_whole(in, n, cases[i].max_depth, &f);
        GW_CHECK_INT(rc, cases[i].rc);
        if (rc < 0 || rc != cases[i].rc)
            continue;
        GW_CHECK_INT(f.number, cases[i].number);
        GW_CHECK_INT(f.wire_type, cases[i].wt);
        GW_CHECK_INT(f.u, cases[i].u);
        GW_CHECK_INT(f.size, (size_t)rc);
        if (f.wire_type == PB_WT_LEN || f.wire_type == PB_WT_SGROUP)
            GW_CHECK_INT(f.bytes - in, cases[i].body_at);
    }
    GW_CHECK(pb_printable_utf8((const uint8_t *)"", 0));
    GW_CHECK(pb_printable_utf8((const uint8_t *)"h\xc3\xa9\t", 4));
    GW_CHECK(!pb_printable_utf8((const uint8_t *)"h\x7f", 2));
    GW_CHECK(!pb_printable_utf8((const uint8_t *)"\xc2\x85", 2)); /* C1 */
    GW_CHECK(pb_packed_varints((const uint8_t *)"\x01\x96\x01", 3));
    GW_CHECK(!pb_packed_varints((const uint8_t *)"\x96\x01", 2));     /* one varint */
    GW_CHECK(!pb_packed_varints((const uint8_t *)"\x01\x80\x00", 3)); /* padded */
    GW_CHECK(!pb_packed_varints((const uint8_t *)"\x01\x80", 2));     /* truncated */

    /* Random input: the first field as the walk sees it and as the pieces say, at depth
     * limits 0..3. The walk's LEN kind follows from the pieces in its order. */
    uint8_t buf[96];
    int agree = 0, lens = 0, ambiguity_same = 0;
    for (int iter = 0; iter < 40000; iter++) {
        size_t n = 1 + pr_rnd() % 48;
        for (size_t i = 0; i < n; i++)
            buf[i] = (uint8_t)pr_rnd();
        if (iter % 2)
            for (size_t i = 0; i < n; i += 1 + pr_rnd() % 4)
                buf[i] = (uint8_t)((pr_rnd() % 4 + 1) << 3 | pr_rnd() % 6);
        if (iter % 3 == 0 && n > 2) { /* a LEN field that fits, with a plausible body */
            buf[0] = 0x0a;
            buf[1] = (uint8_t)(n - 2);
        }
        int md = (int)(pr_rnd() % 4);
        pb_opts o = {.max_depth = md};
        first_ev e = {0};
        pb_visitor vis = {&e, first_event, first_event, NULL};
        (void)pb_walk_raw(buf, n, &o, &vis, NULL);
        pb_field f;
        ptrdiff_t r = pb_field_parse_whole(buf, n, md, &f);
        int ok = (r < 0) == !e.got;
        if (ok && r >= 0) {
            ok = f.number == e.f.number && f.wire_type == e.f.wire_type && f.u == e.f.u &&
                 f.size == e.f.size && f.bytes == e.f.bytes;
            if (ok && f.wire_type == PB_WT_LEN) {
                const uint8_t *b = f.bytes;
                size_t bn = (size_t)f.u;
                int kind = pb_printable_utf8(b, bn)                              ? PB_KIND_STRING
                           : md >= 1 && pb_is_message(b, bn, md - 1)            ? PB_KIND_MESSAGE
                           : md >= 1 && pb_packed_varints(b, bn)                ? PB_KIND_PACKED
                                                                                : PB_KIND_BYTES;
                ok = kind == e.v.kind;
                lens++;
            }
        }
        agree += ok;
        if (!ok)
            fprintf(stderr, "pieces disagree with the walk: iter %d\n", iter);
        /* no_ambiguity: the same events, only strings' ambiguous flag may be left 0. */
        static rec ra, rb;
        memset(&ra, 0, sizeof ra);
        memset(&rb, 0, sizeof rb);
        pb_opts oa = {.max_depth = md + 1}, ob = {.max_depth = md + 1, .no_ambiguity = 1};
        pb_visitor va = {&ra, on_field, on_enter, on_leave}, vb = {&rb, on_field, on_enter, on_leave};
        size_t bada = 0, badb = 1;
        int rca = pb_walk_raw(buf, n, &oa, &va, &bada), rcb = pb_walk_raw(buf, n, &ob, &vb, &badb);
        int same = rca == rcb && bada == badb && ra.n == rb.n;
        for (int i = 0; same && i < ra.n && i < MAXEV; i++) {
            struct ev x = ra.ev[i], y = rb.ev[i];
            if (x.kind == PB_KIND_STRING)
                x.ambiguous = y.ambiguous = 0;
            same = memcmp(&x, &y, sizeof x) == 0;
        }
        ambiguity_same += same;
    }
    GW_CHECK_INT(ambiguity_same, 40000);
    GW_CHECK_INT(agree, 40000);
    GW_CHECK(lens > 10000);
}

int main(void)
{
    test_field_parse();
    test_walk_kinds();
    test_walk_details();
    test_depth();
    test_is_message();
    test_truncation();
    test_encoders();
    test_roundtrip();
    test_random();
    test_printable();
    test_pieces();
    GW_TEST_END();
}
