/* view_schema's parts shared by its renderers (view_schema.c: JSON and the one-line form;
 * view_schema_text.c: text format, tree, guesses): splitting a message into its top-level
 * fields checked against the schema, scalar values, map order. Static, so that each renderer's
 * file inlines them into its hot paths as the compiler sees fit. Internal to src/view. */
#ifndef VIEW_SCHEMA_INT_H
#define VIEW_SCHEMA_INT_H
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/gw_cur.h"
#include "common/gw_err.h"
#include "common/gw_mem.h"
#include "common/gw_utf8.h"
#include "view/view_pb.h"
#include "view/view_schema.h"

/* Each file uses most of these, not all. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"

#define NO_DAMAGE ((size_t)-1)
#define HEX_MAX 64

typedef struct item {
    pb_field f;
    size_t off, size;        /* of the whole field (tag .. end, end tag for groups) */
    const pb_fdef *fd;       /* NULL: unknown number */
    const char *why;         /* schema mismatch, or NULL */
    const uint8_t *body;     /* LEN contents or group body */
    size_t blen;
    size_t order;
} item;

/* Most messages have a few fields: those live in inl, so splitting allocates nothing. */
#define INLINE_ITEMS 4

typedef struct msgv {
    item *it;                /* inl, or owned (msgv_free) */
    size_t n;
    size_t bad;              /* offset of damage, or NO_DAMAGE */
    item inl[INLINE_ITEMS];
} msgv;

typedef struct ctx {
    const pb_schemas *s;
    gw_buf *out;
    int max_depth;
    int err;                 /* GW_ENOMEM from a scratch allocation */
    size_t stop_at;          /* short: stop rendering past this many bytes after base (0: never) */
    size_t base;             /* short: out->len where this rendering began */
} ctx;

static int clamp_depth(const pb_opts *o)
{
    int d = o ? o->max_depth : 32;
    return d < 0 ? 0 : d > 200 ? 200 : d;
}

static void put(gw_buf *b, const char *s) { gw_buf_append(b, s, strlen(s)); }

/* ---- splitting and checking --------------------------------------------------------------- */

static int wire_of(int type)
{
    switch (type) {
    case PB_T_FIXED64: case PB_T_SFIXED64: case PB_T_DOUBLE: return PB_WT_I64;
    case PB_T_FIXED32: case PB_T_SFIXED32: case PB_T_FLOAT: return PB_WT_I32;
    case PB_T_STRING: case PB_T_BYTES: case PB_T_MESSAGE: return PB_WT_LEN;
    case PB_T_GROUP: return PB_WT_SGROUP;
    default: return PB_WT_VARINT;
    }
}


/* Walk a packed run: calls back with each element's raw value. Returns 0 when it splits exactly. */
typedef struct packed_it {
    const uint8_t *p;
    size_t n, off;
    int wt;
} packed_it;

static int packed_next(packed_it *pi, uint64_t *u, int *bad)
{
    *bad = 0;
    if (pi->off >= pi->n)
        return 0;
    gw_cur c = gw_cur_make(pi->p + pi->off, pi->n - pi->off);
    if (pi->wt == PB_WT_VARINT)
        *u = gw_cur_varint(&c);
    else if (pi->wt == PB_WT_I32)
        *u = gw_cur_le32(&c);
    else
        *u = gw_cur_le64(&c);
    if (!gw_cur_ok(&c)) {
        *bad = 1;
        return 0;
    }
    pi->off = pi->n - gw_cur_left(&c);
    return 1;
}

static int packable(int type) { return wire_of(type) != PB_WT_LEN && type != PB_T_GROUP; }

static int packed_ok(const uint8_t *p, size_t n, int wt)
{
    packed_it pi = {p, n, 0, wt};
    uint64_t u;
    int bad;
    while (packed_next(&pi, &u, &bad))
        ;
    return !bad;
}

static const char *check(const item *x, int depth, int max_depth)
{
    const pb_fdef *fd = x->fd;
    int want = wire_of(fd->type);
    if (x->f.wire_type == want) {
        switch (fd->type) {
        case PB_T_STRING:
            return gw_utf8_valid(x->body, x->blen) ? NULL : "invalid UTF-8 in a string field";
        case PB_T_MESSAGE:
        case PB_T_GROUP:
            if (!fd->msg)
                return "its message type is not loaded";
            if (depth + 1 > max_depth)
                return "nesting limit reached";
            if (fd->type == PB_T_MESSAGE && !pb_is_message(x->body, x->blen, max_depth - depth - 1))
                return "not a valid message of its type";
            return NULL;
        case PB_T_ENUM:
            return NULL;
        default:
            return NULL;
        }
    }
    if (x->f.wire_type == PB_WT_LEN && fd->label == PB_L_REPEATED && packable(fd->type) &&
        packed_ok(x->body, x->blen, want))
        return NULL;
    return "wrong wire type for its declared type";
}

/* End of the group that starts at p (just after its start tag): offset of its end tag and the
 * end tag's size, or -1. */
static ptrdiff_t group_end(const uint8_t *p, size_t n, uint32_t number, size_t *etag)
{
    uint32_t stack[201];
    int sp = 0;
    stack[sp++] = number;
    size_t off = 0;
    while (off < n) {
        pb_field f;
        ptrdiff_t k = pb_field_parse(p + off, n - off, &f);
        if (k <= 0)
            return -1;
        if (f.wire_type == PB_WT_SGROUP) {
            if (sp >= 200)
                return -1;
            stack[sp++] = f.number;
        } else if (f.wire_type == PB_WT_EGROUP) {
            if (stack[--sp] != f.number)
                return -1;
            if (sp == 0) {
                *etag = (size_t)k;
                return (ptrdiff_t)off;
            }
        }
        off += (size_t)k;
    }
    return -1;
}

static int cmp_item(const void *a, const void *b)
{
    const item *x = a, *y = b;
    int kx = x->fd && !x->why, ky = y->fd && !y->why;
    if (kx != ky)
        return kx ? -1 : 1;
    if (kx && x->f.number != y->f.number)
        return x->f.number < y->f.number ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

static void msgv_free(msgv *mv)
{
    if (mv->it != mv->inl)
        gw_free(mv->it);
    mv->it = mv->inl;
    mv->n = 0;
}

static int split(ctx *c, const pb_msgdef *m, const uint8_t *p, size_t n, int depth, msgv *mv,
                 int sorted)
{
    mv->it = mv->inl;
    mv->n = 0;
    mv->bad = NO_DAMAGE;
    size_t cap = INLINE_ITEMS, off = 0;
    while (off < n) {
        /* The item is built in its slot, or aside when the array is full (it grows only for a
         * field that parses). */
        item spare, *x = mv->n < cap ? &mv->it[mv->n] : &spare;
        pb_field *f = &x->f;
        ptrdiff_t k;
        const uint8_t *q = p + off;
        if (!(k = pb_field_parse_quick(q, n - off, f)))
            k = pb_field_parse(q, n - off, f);
        if (k <= 0 || f->wire_type == PB_WT_EGROUP) {
            mv->bad = off;
            break;
        }
        x->off = off;
        x->size = (size_t)k;
        x->fd = NULL;
        x->why = NULL;
        x->body = NULL;
        x->blen = 0;
        x->order = mv->n;
        if (f->wire_type == PB_WT_LEN) {
            x->body = f->bytes;
            x->blen = (size_t)f->u;
        } else if (f->wire_type == PB_WT_SGROUP) {
            size_t etag = 0;
            ptrdiff_t e = group_end(q + k, n - off - (size_t)k, f->number, &etag);
            if (e < 0) {
                mv->bad = off;
                break;
            }
            x->body = q + k;
            x->blen = (size_t)e;
            x->size = (size_t)k + (size_t)e + etag;
        }
        x->fd = NULL;
        for (size_t i = 0; i < m->n_fields; i++) { /* pb_msg_field, without the call */
            if (m->fields[i].number == f->number) {
                x->fd = &m->fields[i];
                break;
            }
        }
        if (!x->fd)
            x->fd = pb_schemas_find_extension(c->s, m->full_name, f->number);
        /* An unknown field (a group past the nesting limit too) is no mismatch: it has no
         * name to list under "_mismatch", and the schemaless renderers show it as it is. */
        if (x->fd)
            x->why = check(x, depth, c->max_depth);
        off += x->size;
        if (x == &spare) {
            size_t nc = cap < 16 ? 16 : cap * 2;
            item *ni = gw_realloc(mv->it == mv->inl ? NULL : mv->it, nc * sizeof *ni);
            if (!ni) {
                msgv_free(mv);
                c->err = GW_ENOMEM;
                return GW_ENOMEM;
            }
            if (mv->it == mv->inl)
                memcpy(ni, mv->inl, sizeof mv->inl);
            mv->it = ni;
            cap = nc;
            mv->it[mv->n] = spare;
        }
        mv->n++;
    }
    /* cmp_item is a strict total order (order is unique), so any sort gives qsort's result. */
    if (sorted && mv->n > 16) {
        qsort(mv->it, mv->n, sizeof *mv->it, cmp_item);
    } else if (sorted) {
        for (size_t i = 1; i < mv->n; i++) {
            if (cmp_item(&mv->it[i - 1], &mv->it[i]) <= 0)
                continue;
            item x = mv->it[i];
            size_t j = i;
            while (j > 0 && cmp_item(&mv->it[j - 1], &x) > 0) {
                mv->it[j] = mv->it[j - 1];
                j--;
            }
            mv->it[j] = x;
        }
    }
    return 0;
}

static int is_known(const item *x) { return x->fd && !x->why; }

/* proto3 fields without presence holding their zero value are not "set" (json_format, protoc
 * --decode print nothing for them). */
static int implicit_zero(const item *x)
{
    const pb_fdef *fd = x->fd;
    if (!fd || !fd->file || fd->file->syntax != 3 || fd->label == PB_L_REPEATED ||
        fd->oneof_index >= 0 || fd->proto3_optional || fd->extendee || fd->type == PB_T_MESSAGE ||
        fd->type == PB_T_GROUP)
        return 0;
    if (x->f.wire_type == PB_WT_LEN)
        return x->blen == 0;
    if (fd->type == PB_T_INT32 || fd->type == PB_T_UINT32 || fd->type == PB_T_SINT32 ||
        fd->type == PB_T_ENUM || fd->type == PB_T_BOOL)
        return (uint32_t)x->f.u == 0 && (fd->type != PB_T_BOOL || x->f.u == 0);
    return x->f.u == 0;
}

/* The raw bytes of the unknown/mismatched items, in wire order (split's sort keeps them in wire
 * order, after the known ones), for the schemaless renderers: in place when they lie back to back
 * on the wire (all of the message, or its tail: the usual case), else copied into scratch.
 * Returns 0 with *rn == 0 when there are none, or GW_ENOMEM. */
static int raw_rest(const msgv *mv, const uint8_t *p, gw_buf *scratch, const uint8_t **rp,
                    size_t *rn)
{
    size_t start = 0, end = 0;
    int any = 0, together = 1;
    for (size_t i = 0; i < mv->n; i++) {
        const item *x = &mv->it[i];
        if (is_known(x))
            continue;
        if (!any) {
            start = x->off;
            end = x->off + x->size;
            any = 1;
        } else if (x->off == end) {
            end += x->size;
        } else {
            together = 0;
        }
    }
    *rn = 0;
    if (!any)
        return 0;
    if (together) {
        *rp = p + start;
        *rn = end - start;
        return 0;
    }
    for (size_t i = 0; i < mv->n; i++) {
        const item *x = &mv->it[i];
        if (!is_known(x) && gw_buf_append(scratch, p + x->off, x->size))
            return GW_ENOMEM;
    }
    *rp = scratch->data;
    *rn = scratch->len;
    return 0;
}

/* The unknown/mismatched items rendered here, byte for byte as the schemaless renderers would
 * render their raw bytes (raw_rest), when every one is simple: a varint (or, for JSON, a fixed
 * width number) or a length-delimited field that view_pb reads as a string (empty or printable
 * UTF-8). That is most unknown fields, and it saves a second parse and the guessing walk. Any
 * other item, or (JSON) numbers not strictly ascending (keys would sort and repeat as arrays):
 * 0 and nothing written, the caller takes the general way. */
#define SHORT_SCAN_MAX 4096 /* view_pb_short walks this prefix only: longer rests go there */
#define JSON_SAFE_INT 9007199254740992ull
#define REST_STRING_MAX 256

static int rest_simple(const msgv *mv, int json)
{
    uint32_t prev = 0;
    size_t total = 0;
    for (size_t i = 0; i < mv->n; i++) {
        const item *x = &mv->it[i];
        if (is_known(x))
            continue;
        total += x->size;
        if (json && x->f.number <= prev)
            return 0;
        prev = x->f.number;
        switch (x->f.wire_type) {
        case PB_WT_VARINT: break;
        case PB_WT_I32: case PB_WT_I64:
            if (!json)
                return 0; /* the short form guesses floats */
            break;
        case PB_WT_LEN:
            /* Long strings go the general way: rest_put reserves their worst case (6 bytes a
             * byte), which for a big one costs a buffer growth (a copy of all before it), and
             * view_pb screens them faster than the UTF-8 check here. */
            if (x->blen > REST_STRING_MAX || (x->blen && !pb_printable_utf8(x->body, x->blen)))
                return 0;
            break;
        default: return 0;
        }
    }
    return json || total <= SHORT_SCAN_MAX;
}

/* "N: v" (short) or "N":v (json) per item, each after ", " or "," unless *first: written through
 * a cursor into room reserved per item (a number is at most 20 digits, a string at most 6 bytes
 * per byte as escaped). Out of memory leaves the item out, as a failed append would. */
static void rest_item(gw_buf *b, const item *x, int json, int *first)
{
    size_t need = 2 + 1 + 10 + 3 + (x->f.wire_type == PB_WT_LEN ? 6 * x->blen + 2 : 22);
    if (gw_buf_room(b, need))
        return;
    uint8_t *o = b->data + b->len;
    if (!*first) {
        *o++ = ',';
        if (!json)
            *o++ = ' ';
    }
    *first = 0;
    if (json)
        *o++ = '"';
    o += gw_u64_into(o, x->f.number);
    if (json)
        *o++ = '"';
    *o++ = ':';
    if (!json)
        *o++ = ' ';
    if (x->f.wire_type == PB_WT_LEN) {
        o += view_json_string_into(o, (const char *)x->body, x->blen);
    } else if (json && x->f.u > JSON_SAFE_INT) {
        *o++ = '"';
        o += gw_u64_into(o, x->f.u);
        *o++ = '"';
    } else {
        o += gw_u64_into(o, x->f.u);
    }
    b->len = (size_t)(o - b->data);
}

static void rest_put(gw_buf *b, const msgv *mv, int json, int *first)
{
    for (size_t i = 0; i < mv->n; i++)
        if (!is_known(&mv->it[i]))
            rest_item(b, &mv->it[i], json, first);
}

/* ---- scalar values ------------------------------------------------------------------------- */

static int32_t zz32(uint64_t u)
{
    uint32_t x = (uint32_t)u;
    return (int32_t)((x >> 1) ^ (0u - (x & 1)));
}
static int64_t zz64(uint64_t u) { return (int64_t)((u >> 1) ^ (0 - (u & 1))); }
static float as_float(uint64_t u)
{
    uint32_t x = (uint32_t)u;
    float f;
    memcpy(&f, &x, 4);
    return f;
}
static double as_double(uint64_t u)
{
    double d;
    memcpy(&d, &u, 8);
    return d;
}

/* Shortest %g that reads back (json_format's ToShortestFloat / repr). */
static void real_json(char *buf, size_t cap, double d, int is_float)
{
    for (int prec = is_float ? 6 : 1; prec <= (is_float ? 9 : 17); prec++) {
        snprintf(buf, cap, "%.*g", prec, d);
        if (is_float ? strtof(buf, NULL) == (float)d : strtod(buf, NULL) == d)
            break;
    }
}
/* protoc's SimpleDtoa/SimpleFtoa: %.15g (%.6g), %.17g (%.9g) when that does not read back. */
static void real_text(char *buf, size_t cap, double d, int is_float)
{
    if (isinf(d)) {
        snprintf(buf, cap, "%s", d < 0 ? "-inf" : "inf");
        return;
    }
    if (isnan(d)) {
        snprintf(buf, cap, "nan");
        return;
    }
    snprintf(buf, cap, "%.*g", is_float ? 6 : 15, d);
    if (is_float ? strtof(buf, NULL) != (float)d : strtod(buf, NULL) != d)
        snprintf(buf, cap, "%.*g", is_float ? 9 : 17, d);
}

/* mode: 0 text format, 1 JSON, 2 short. */
static void scalar(gw_buf *b, const pb_fdef *fd, uint64_t u, int mode)
{
    char tmp[64];
    int q = mode == 1; /* 64-bit integers are JSON strings */
    switch (fd->type) {
    case PB_T_INT32: case PB_T_SFIXED32: gw_buf_put_i64(b, (int32_t)(uint32_t)u); break;
    case PB_T_SINT32: gw_buf_put_i64(b, zz32(u)); break;
    case PB_T_UINT32: case PB_T_FIXED32: gw_buf_put_u64(b, (uint32_t)u); break;
    case PB_T_INT64: case PB_T_SFIXED64: case PB_T_SINT64: case PB_T_UINT64: case PB_T_FIXED64:
        if (q)
            gw_buf_putc(b, '"');
        if (fd->type == PB_T_UINT64 || fd->type == PB_T_FIXED64)
            gw_buf_put_u64(b, u);
        else
            gw_buf_put_i64(b, fd->type == PB_T_SINT64 ? zz64(u) : (int64_t)u);
        if (q)
            gw_buf_putc(b, '"');
        break;
    case PB_T_BOOL: put(b, u ? "true" : "false"); break;
    case PB_T_ENUM: {
        const char *name = pb_enum_value_name(fd->en, (int32_t)(uint32_t)u);
        if (name && mode == 1) {
            gw_buf_putc(b, '"');
            put(b, name);
            gw_buf_putc(b, '"');
        } else if (name) {
            put(b, name);
        } else {
            gw_buf_put_i64(b, (int32_t)(uint32_t)u);
        }
        break;
    }
    case PB_T_FLOAT: case PB_T_DOUBLE: {
        double d = fd->type == PB_T_FLOAT ? (double)as_float(u) : as_double(u);
        if (mode == 1 && (isnan(d) || isinf(d))) {
            put(b, isnan(d) ? "\"NaN\"" : d < 0 ? "\"-Infinity\"" : "\"Infinity\"");
        } else if (mode == 1 || mode == 2) {
            real_json(tmp, sizeof tmp, d, fd->type == PB_T_FLOAT);
            put(b, tmp);
        } else {
            real_text(tmp, sizeof tmp, d, fd->type == PB_T_FLOAT);
            put(b, tmp);
        }
        break;
    }
    default: put(b, "?"); break;
    }
}

static void cescape(gw_buf *b, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t ch = p[i];
        switch (ch) {
        case '\n': put(b, "\\n"); break;
        case '\r': put(b, "\\r"); break;
        case '\t': put(b, "\\t"); break;
        case '"': put(b, "\\\""); break;
        case '\'': put(b, "\\'"); break;
        case '\\': put(b, "\\\\"); break;
        default:
            if (ch < 0x20 || ch >= 0x7f) {
                char e[4] = {'\\', (char)('0' + (ch >> 6)), (char)('0' + (ch >> 3 & 7)),
                             (char)('0' + (ch & 7))};
                gw_buf_append(b, e, 4);
            } else
                gw_buf_putc(b, ch);
        }
    }
}

static void hexs(gw_buf *b, const uint8_t *p, size_t n, size_t max)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n && (!max || i < max); i++) {
        char e[2] = {hex[p[i] >> 4], hex[p[i] & 15]};
        gw_buf_append(b, e, 2);
    }
    if (max && n > max)
        put(b, "...");
}

/* A field's name as the text and one-line forms print it. */
static void t_name(gw_buf *b, const pb_fdef *fd)
{
    if (fd->extendee) {
        gw_buf_printf(b, "[%s]", fd->full_name ? fd->full_name : fd->name);
    } else if (fd->type == PB_T_GROUP && fd->msg) {
        put(b, fd->msg->name);
    } else {
        put(b, fd->name);
    }
}

/* protoc's text format prints map entries sorted by key (MapEntryMessageComparator). */
typedef struct map_key {
    item it;
    int kind;             /* 0 signed, 1 unsigned, 2 bytes */
    int64_t s;
    uint64_t u;
    const uint8_t *b;
    size_t bn;
} map_key;

static int cmp_key(const void *a, const void *b)
{
    const map_key *x = a, *y = b;
    if (x->kind == 2) {
        size_t n = x->bn < y->bn ? x->bn : y->bn;
        int r = n ? memcmp(x->b, y->b, n) : 0;
        return r ? r : x->bn < y->bn ? -1 : x->bn > y->bn;
    }
    if (x->kind == 0)
        return x->s < y->s ? -1 : x->s > y->s;
    return x->u < y->u ? -1 : x->u > y->u;
}

static void sort_map(ctx *c, item *xs, size_t n, int depth)
{
    map_key *ks = gw_calloc(n, sizeof *ks);
    if (!ks) {
        c->err = GW_ENOMEM;
        return;
    }
    const pb_fdef *kfd = pb_msg_field(xs[0].fd->msg, 1);
    for (size_t i = 0; i < n; i++) {
        ks[i].it = xs[i];
        msgv ev;
        if (split(c, xs[i].fd->msg, xs[i].body, xs[i].blen, depth + 1, &ev, 0))
            break;
        int t = kfd ? kfd->type : PB_T_STRING;
        ks[i].kind = t == PB_T_STRING ? 2
                     : (t == PB_T_UINT32 || t == PB_T_UINT64 || t == PB_T_FIXED32 ||
                        t == PB_T_FIXED64 || t == PB_T_BOOL) ? 1 : 0;
        for (size_t j = 0; j < ev.n; j++) {
            const item *k = &ev.it[j];
            if (!is_known(k) || k->f.number != 1)
                continue;
            ks[i].b = k->body;
            ks[i].bn = k->blen;
            ks[i].u = k->f.u;
            ks[i].s = t == PB_T_SINT32 ? zz32(k->f.u) : t == PB_T_SINT64 ? zz64(k->f.u)
                      : (t == PB_T_INT32 || t == PB_T_SFIXED32) ? (int32_t)(uint32_t)k->f.u
                      : (int64_t)k->f.u;
            if (t == PB_T_UINT32 || t == PB_T_FIXED32)
                ks[i].u = (uint32_t)k->f.u;
        }
        msgv_free(&ev);
    }
    qsort(ks, n, sizeof *ks, cmp_key);
    for (size_t i = 0; i < n; i++)
        xs[i] = ks[i].it;
    gw_free(ks);
}

#pragma GCC diagnostic pop
#endif
