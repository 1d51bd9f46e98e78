/* Schema-aware rendering (view_schema.h). Every renderer first splits a message into its
 * top-level fields and checks each against the schema (split), so the text, JSON, short and tree
 * forms agree on what fits and what falls back to the schemaless renderers of view_pb.c. */
#include "view/view_schema.h"

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
        /* Most fields: a one-byte tag (numbers 1..15) and a one-byte value or length. */
        if (n - off >= 2 && q[0] >= 8 && q[0] < 0x80 && q[1] < 0x80 &&
            ((q[0] & 7) == PB_WT_VARINT || ((q[0] & 7) == PB_WT_LEN && q[1] <= n - off - 2))) {
            f->number = q[0] >> 3;
            f->wire_type = q[0] & 7;
            f->u = q[1];
            f->bytes = f->wire_type == PB_WT_LEN ? q + 2 : NULL;
            f->offset = 0;
            f->size = f->wire_type == PB_WT_LEN ? 2 + (size_t)q[1] : 2;
            k = (ptrdiff_t)f->size;
        } else {
            k = pb_field_parse(q, n - off, f);
        }
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

/* ---- JSON -------------------------------------------------------------------------------- */

static void j_msg(ctx *c, const pb_msgdef *m, const uint8_t *p, size_t n, int depth);

static void j_key(gw_buf *b, const pb_fdef *fd)
{
    if (fd->extendee) {
        /* json_format: "[full.name]" */
        gw_buf_printf(b, "\"[%s]\":", fd->full_name ? fd->full_name : fd->name);
        return;
    }
    view_json_string(b, fd->json_name, strlen(fd->json_name));
    gw_buf_putc(b, ':');
}

/* One value (a packed run gives several, comma separated). */
static void j_value(ctx *c, const item *x, int depth)
{
    gw_buf *b = c->out;
    const pb_fdef *fd = x->fd;
    switch (fd->type) {
    case PB_T_STRING: view_json_string(b, (const char *)x->body, x->blen); return;
    case PB_T_BYTES:
        gw_buf_putc(b, '"');
        view_base64(b, x->body, x->blen);
        gw_buf_putc(b, '"');
        return;
    case PB_T_MESSAGE: case PB_T_GROUP: j_msg(c, fd->msg, x->body, x->blen, depth + 1); return;
    default: break;
    }
    if (x->f.wire_type == PB_WT_LEN) {
        packed_it pi = {x->body, x->blen, 0, wire_of(fd->type)};
        uint64_t u;
        int bad, first = 1;
        while (packed_next(&pi, &u, &bad)) {
            if (!first)
                gw_buf_putc(b, ',');
            first = 0;
            scalar(b, fd, u, 1);
        }
        return;
    }
    scalar(b, fd, x->f.u, 1);
}

/* A map key as a JSON object key: strings as they are, numbers and bools as text. */
static void j_map_key(ctx *c, const item *k, const pb_fdef *kfd)
{
    gw_buf *b = c->out;
    if (!k) {
        put(b, kfd && (kfd->type == PB_T_STRING) ? "\"\"" : kfd && kfd->type == PB_T_BOOL ? "\"false\"" : "\"0\"");
        return;
    }
    if (kfd->type == PB_T_STRING) {
        view_json_string(b, (const char *)k->body, k->blen);
        return;
    }
    gw_buf tmp;
    gw_buf_init(&tmp, 64);
    scalar(&tmp, kfd, k->f.u, 0);
    view_json_string(b, tmp.data ? (const char *)tmp.data : "", tmp.len);
    gw_buf_free(&tmp);
}

static void j_default(gw_buf *b, const pb_fdef *fd)
{
    switch (fd->type) {
    case PB_T_STRING: case PB_T_BYTES: put(b, "\"\""); break;
    case PB_T_MESSAGE: case PB_T_GROUP: put(b, "{}"); break;
    case PB_T_BOOL: put(b, "false"); break;
    case PB_T_INT64: case PB_T_UINT64: case PB_T_SINT64: case PB_T_FIXED64: case PB_T_SFIXED64:
        put(b, "\"0\"");
        break;
    case PB_T_ENUM: scalar(b, fd, 0, 1); break;
    default: put(b, "0"); break;
    }
}

static void sort_map(ctx *c, item *xs, size_t n, int depth);

/* Entries sorted by key, as protoc's text format does (json_format's order is its hash order). */
static void j_map(ctx *c, item *xs, size_t nx, int depth)
{
    gw_buf *b = c->out;
    sort_map(c, xs, nx, depth);
    const pb_msgdef *em = xs[0].fd->msg;
    const pb_fdef *kfd = pb_msg_field(em, 1), *vfd = pb_msg_field(em, 2);
    gw_buf_putc(b, '{');
    for (size_t i = 0; i < nx; i++) {
        msgv ev;
        if (split(c, em, xs[i].body, xs[i].blen, depth + 1, &ev, 0))
            break;
        const item *k = NULL, *v = NULL;
        for (size_t j = 0; j < ev.n; j++) {
            if (!is_known(&ev.it[j]))
                continue;
            if (ev.it[j].f.number == 1)
                k = &ev.it[j];
            else if (ev.it[j].f.number == 2)
                v = &ev.it[j];
        }
        if (i)
            gw_buf_putc(b, ',');
        j_map_key(c, k, kfd);
        gw_buf_putc(b, ':');
        if (v)
            j_value(c, v, depth + 1);
        else if (vfd)
            j_default(b, vfd);
        else
            put(b, "null");
        msgv_free(&ev);
    }
    gw_buf_putc(b, '}');
}

/* The last known item with that number, for singular fields. */
static const item *last_of(const msgv *mv, uint32_t number)
{
    const item *r = NULL;
    for (size_t i = 0; i < mv->n; i++)
        if (is_known(&mv->it[i]) && mv->it[i].f.number == number)
            r = &mv->it[i];
    return r;
}

static int all_known(const msgv *mv) { return mv->bad == NO_DAMAGE && (mv->n == 0 || is_known(&mv->it[mv->n - 1])); }

static void rfc3339_nanos(gw_buf *b, int32_t nanos)
{
    if (nanos == 0)
        return;
    if (nanos % 1000000 == 0)
        gw_buf_printf(b, ".%03d", nanos / 1000000);
    else if (nanos % 1000 == 0)
        gw_buf_printf(b, ".%06d", nanos / 1000);
    else
        gw_buf_printf(b, ".%09d", nanos);
}

/* The JSON forms of the well-known types. Returns 1 when it wrote the value. */
static int j_wkt(ctx *c, const pb_msgdef *m, const msgv *mv, int depth)
{
    gw_buf *b = c->out;
    const char *n = m->full_name;
    if (n[0] != 'g' || strncmp(n, "google.protobuf.", 16) != 0 || !all_known(mv))
        return 0;
    n += 16;
    if (strcmp(n, "Timestamp") == 0 || strcmp(n, "Duration") == 0) {
        const item *s = last_of(mv, 1), *ns = last_of(mv, 2);
        int64_t secs = s ? (int64_t)s->f.u : 0;
        int32_t nanos = ns ? (int32_t)(uint32_t)ns->f.u : 0;
        if (n[0] == 'T') {
            /* 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z */
            if (secs < -62135596800LL || secs > 253402300799LL || nanos < 0 || nanos > 999999999)
                return 0;
            time_t t = (time_t)secs;
            struct tm tm;
            if (!gmtime_r(&t, &tm))
                return 0;
            gw_buf_printf(b, "\"%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1,
                          tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
            rfc3339_nanos(b, nanos);
            put(b, "Z\"");
        } else {
            if (secs < -315576000000LL || secs > 315576000000LL || nanos < -999999999 ||
                nanos > 999999999 || (secs > 0 && nanos < 0) || (secs < 0 && nanos > 0))
                return 0;
            int neg = secs < 0 || nanos < 0;
            gw_buf_printf(b, "\"%s%" PRId64, neg ? "-" : "", secs < 0 ? -secs : secs);
            rfc3339_nanos(b, nanos < 0 ? -nanos : nanos);
            put(b, "s\"");
        }
        return 1;
    }
    if (strcmp(n, "FieldMask") == 0) {
        gw_buf_putc(b, '"');
        int first = 1;
        for (size_t i = 0; i < mv->n; i++) {
            const item *x = &mv->it[i];
            if (x->f.number != 1)
                continue;
            if (!first)
                gw_buf_putc(b, ',');
            first = 0;
            gw_buf tmp;
            gw_buf_init(&tmp, 0);
            int up = 0;
            for (size_t k = 0; k < x->blen; k++) {
                char ch = (char)x->body[k];
                if (ch == '_') {
                    up = 1;
                    continue;
                }
                if (up && ch >= 'a' && ch <= 'z')
                    ch = (char)(ch - 32);
                up = 0;
                gw_buf_putc(&tmp, ch);
            }
            /* The JSON string is quoted once around the whole list: escape the inner part. */
            size_t at = b->len;
            view_json_string(b, tmp.data ? (const char *)tmp.data : "", tmp.len);
            if (b->len >= at + 2) {
                memmove(b->data + at, b->data + at + 1, b->len - at - 2);
                b->len -= 2;
            }
            gw_buf_free(&tmp);
        }
        gw_buf_putc(b, '"');
        return 1;
    }
    if (strcmp(n + strlen(n) - 5, "Value") == 0 && strcmp(n, "Value") != 0 &&
        strcmp(n, "ListValue") != 0) {
        /* wrappers: the bare value */
        const item *v = last_of(mv, 1);
        const pb_fdef *vfd = pb_msg_field(m, 1);
        if (!vfd)
            return 0;
        if (v)
            j_value(c, v, depth);
        else
            j_default(b, vfd);
        return 1;
    }
    if (strcmp(n, "Struct") == 0) {
        size_t k = 0;
        for (size_t i = 0; i < mv->n; i++)
            k += mv->it[i].f.number == 1;
        if (k == 0) {
            put(b, "{}");
            return 1;
        }
        item *xs = gw_malloc(k * sizeof *xs);
        if (!xs) {
            c->err = GW_ENOMEM;
            return 0;
        }
        k = 0;
        for (size_t i = 0; i < mv->n; i++)
            if (mv->it[i].f.number == 1)
                xs[k++] = mv->it[i];
        j_map(c, xs, k, depth);
        gw_free(xs);
        return 1;
    }
    if (strcmp(n, "ListValue") == 0) {
        gw_buf_putc(b, '[');
        int first = 1;
        for (size_t i = 0; i < mv->n; i++) {
            if (!first)
                gw_buf_putc(b, ',');
            first = 0;
            j_value(c, &mv->it[i], depth);
        }
        gw_buf_putc(b, ']');
        return 1;
    }
    if (strcmp(n, "Value") == 0) {
        const item *v = mv->n ? &mv->it[mv->n - 1] : NULL;
        if (!v || v->f.number == 1)
            put(b, "null");
        else
            j_value(c, v, depth);
        return 1;
    }
    if (strcmp(n, "Any") == 0) {
        const item *u = last_of(mv, 1), *v = last_of(mv, 2);
        if (!u)
            return 0;
        const char *slash = memrchr(u->body, '/', u->blen);
        const char *tn = slash ? slash + 1 : (const char *)u->body;
        size_t tl = u->blen - (size_t)(tn - (const char *)u->body);
        char name[512];
        if (tl >= sizeof name)
            return 0;
        memcpy(name, tn, tl);
        name[tl] = 0;
        const pb_msgdef *t = pb_schemas_find_message(c->s, name);
        if (t && v && !pb_is_message(v->body, v->blen, c->max_depth - depth - 1))
            t = NULL;
        put(b, "{\"@type\":");
        view_json_string(b, (const char *)u->body, u->blen);
        if (!t) {
            put(b, ",\"_value\":\"");
            if (v)
                view_base64(b, v->body, v->blen);
            put(b, "\"}");
            return 1;
        }
        size_t at = b->len;
        j_msg(c, t, v ? v->body : (const uint8_t *)"", v ? v->blen : 0, depth + 1);
        if (at < b->len && b->data[at] == '{') {
            /* A regular message: its fields join the @type object. */
            if (b->len - at == 2) {
                b->len = at;
                gw_buf_putc(b, '}');
            } else {
                b->data[at] = ',';
            }
        } else {
            /* A well-known type with a special form sits under "value". */
            gw_buf tail;
            gw_buf_init(&tail, 0);
            gw_buf_append(&tail, b->data + at, b->len - at);
            b->len = at;
            put(b, ",\"value\":");
            gw_buf_append(b, tail.data, tail.len);
            gw_buf_putc(b, '}');
            gw_buf_free(&tail);
        }
        return 1;
    }
    return 0;
}

/* "N":"name: why" for a mismatched field, the first (*any 0) opening "_mismatch":{; the caller
 * closes it when *any. */
static void mismatch_one(gw_buf *b, const item *x, int *any, int *first)
{
    /* without printf */
    put(b, *any ? ",\"" : *first ? "\"_mismatch\":{\"" : ",\"_mismatch\":{\"");
    gw_buf_put_u64(b, x->f.number);
    put(b, "\":\"");
    put(b, x->fd->name);
    put(b, ": ");
    put(b, x->why);
    gw_buf_putc(b, '"');
    *any = 1;
    *first = 0;
}

/* j_key's text ("jsonName":) of recently used fields, per thread: keyed by the field's address
 * and the schemas' generation (unique to one schemas object, changed by every change to it), so
 * an address can not stand for another field. Fields of no schemas object (tests build them by
 * hand) are not kept. */
#define KEY_SLOTS 64
#define KEY_TEXT 46
typedef struct key_slot {
    const pb_fdef *fd;
    uint64_t gen;
    uint8_t n;
    uint8_t text[KEY_TEXT];
} key_slot;

static void j_key_cached(gw_buf *b, const pb_schemas *s, uint64_t gen, const pb_fdef *fd)
{
    static _Thread_local key_slot keys[KEY_SLOTS];
    key_slot *k = &keys[((uintptr_t)fd >> 4) * 0x9e3779b1u >> 10 & (KEY_SLOTS - 1)];
    if (k->fd == fd && k->gen == gen && gen) {
        if (gw_buf_room(b, KEY_TEXT) == 0) {
            memcpy(b->data + b->len, k->text, KEY_TEXT);
            b->len += k->n;
        }
        return;
    }
    size_t at = b->len;
    j_key(b, fd);
    if (s && b->len - at <= KEY_TEXT && !fd->extendee) {
        k->fd = fd;
        k->gen = gen;
        k->n = (uint8_t)(b->len - at);
        memcpy(k->text, b->data + at, k->n);
    }
}

static int force_general;

void view_schema_force_general(int on) { __atomic_store_n(&force_general, on, __ATOMIC_RELAXED); }

/* j_fast: the message is not one it takes; nothing was written. */
#define J_FAST_NO 1
#define J_FAST_MISMATCH 8 /* mismatched fields it keeps for "_mismatch" */

/* The common message in one pass, as j_msg writes it, without splitting it first. It takes a
 * message that is no well-known type and whose fields all parse, none a group, numbers strictly
 * ascending; the fields of m among them singular and no messages; those that fit (check) before
 * all the others (unknown numbers with no extension, and misfits), the others as rest_simple
 * takes them. Then split's order is the wire order and there is no _error. Anything else: the
 * output is taken back and J_FAST_NO returned, for j_msg's general way. */
static int j_fast(ctx *c, const pb_msgdef *m, const uint8_t *p, size_t n, int depth)
{
    gw_buf *b = c->out;
    size_t mark = b->len;
    const char *fn = m->full_name;
    if (fn[0] == 'g' && strncmp(fn, "google.protobuf.", 16) == 0)
        return J_FAST_NO;
    uint64_t gen = pb_schemas_generation(c->s);
    item xs[J_FAST_MISMATCH];
    const item *bad[J_FAST_MISMATCH];
    size_t nbad = 0;
    gw_buf_putc(b, '{');
    int first = 1, rest = 0;
    uint32_t prev = 0;
    for (size_t off = 0; off < n;) {
        item *x = &xs[nbad];
        pb_field *f = &x->f;
        const uint8_t *q = p + off;
        ptrdiff_t k;
        if (n - off >= 2 && q[0] >= 8 && q[0] < 0x80 && q[1] < 0x80 &&
            ((q[0] & 7) == PB_WT_VARINT || ((q[0] & 7) == PB_WT_LEN && q[1] <= n - off - 2))) {
            f->number = q[0] >> 3;
            f->wire_type = q[0] & 7;
            f->u = q[1];
            f->bytes = f->wire_type == PB_WT_LEN ? q + 2 : NULL;
            k = f->wire_type == PB_WT_LEN ? 2 + (ptrdiff_t)q[1] : 2;
        } else {
            k = pb_field_parse(q, n - off, f);
        }
        if (k <= 0 || f->wire_type == PB_WT_EGROUP || f->wire_type == PB_WT_SGROUP ||
            f->number <= prev)
            goto no;
        prev = f->number;
        off += (size_t)k;
        x->body = f->wire_type == PB_WT_LEN ? f->bytes : NULL;
        x->blen = f->wire_type == PB_WT_LEN ? (size_t)f->u : 0;
        x->why = NULL;
        x->fd = NULL;
        for (size_t i = 0; i < m->n_fields; i++) { /* as split finds it */
            if (m->fields[i].number == f->number) {
                x->fd = &m->fields[i];
                break;
            }
        }
        if (x->fd) {
            const pb_fdef *fd = x->fd;
            if (fd->label == PB_L_REPEATED || fd->type == PB_T_MESSAGE || fd->type == PB_T_GROUP)
                goto no;
            x->why = check(x, depth, c->max_depth);
            if (!x->why) {
                if (rest)
                    goto no; /* split would sort it before the others */
                if (implicit_zero(x))
                    continue;
                if (!first)
                    gw_buf_putc(b, ',');
                first = 0;
                j_key_cached(b, c->s, gen, fd);
                j_value(c, x, depth);
                continue;
            }
            if (nbad == J_FAST_MISMATCH)
                goto no;
            bad[nbad++] = x; /* keeps its slot of xs */
        } else if (pb_schemas_find_extension(c->s, fn, f->number)) {
            goto no;
        }
        /* One of the others: as rest_simple takes it, as rest_put writes it. */
        if (f->wire_type == PB_WT_LEN &&
            (x->blen > REST_STRING_MAX || (x->blen && !pb_printable_utf8(x->body, x->blen))))
            goto no;
        rest = 1;
        rest_item(b, x, 1, &first);
    }
    int any = 0;
    for (size_t k = 0; k < nbad; k++)
        mismatch_one(b, bad[k], &any, &first);
    if (any)
        gw_buf_putc(b, '}');
    gw_buf_putc(b, '}');
    return 0;
no:
    b->len = mark;
    return J_FAST_NO;
}

static void j_msg(ctx *c, const pb_msgdef *m, const uint8_t *p, size_t n, int depth)
{
    if (!__atomic_load_n(&force_general, __ATOMIC_RELAXED) && j_fast(c, m, p, n, depth) == 0)
        return;
    gw_buf *b = c->out;
    msgv mv;
    if (split(c, m, p, n, depth, &mv, 1)) {
        put(b, "null");
        return;
    }
    if (j_wkt(c, m, &mv, depth)) {
        msgv_free(&mv);
        return;
    }
    gw_buf_putc(b, '{');
    int first = 1;
    size_t i = 0;
    while (i < mv.n && is_known(&mv.it[i])) {
        size_t j = i + 1;
        while (j < mv.n && is_known(&mv.it[j]) && mv.it[j].f.number == mv.it[i].f.number)
            j++;
        const pb_fdef *fd = mv.it[i].fd;
        if (fd->label != PB_L_REPEATED) {
            const item *x = &mv.it[j - 1];
            if (!implicit_zero(x)) {
                if (!first)
                    gw_buf_putc(b, ',');
                first = 0;
                j_key(b, fd);
                j_value(c, x, depth);
            }
        } else {
            if (!first)
                gw_buf_putc(b, ',');
            first = 0;
            j_key(b, fd);
            if (fd->msg && fd->msg->map_entry) {
                j_map(c, &mv.it[i], j - i, depth);
            } else {
                gw_buf_putc(b, '[');
                for (size_t k = i; k < j; k++) {
                    if (k > i && !(mv.it[k].f.wire_type == PB_WT_LEN && mv.it[k].blen == 0 &&
                                   packable(fd->type)))
                        gw_buf_putc(b, ',');
                    j_value(c, &mv.it[k], depth);
                }
                gw_buf_putc(b, ']');
            }
        }
        i = j;
    }
    if (i < mv.n && rest_simple(&mv, 1)) {
        rest_put(b, &mv, 1, &first);
    } else if (i < mv.n) {
        gw_buf raw;
        gw_buf_init(&raw, 0);
        const uint8_t *rp = NULL;
        size_t rn = 0;
        if (raw_rest(&mv, p, &raw, &rp, &rn) == 0 && rn) {
            size_t at = b->len;
            view_pb_json(b, rp, rn, NULL);
            /* {"5":1,...} -> join without the braces */
            if (b->len - at > 2) {
                if (first) {
                    memmove(b->data + at, b->data + at + 1, b->len - at - 1);
                    b->len -= 2;
                } else {
                    b->data[at] = ',';
                    b->len -= 1;
                }
                first = 0;
            } else {
                b->len = at;
            }
        }
        gw_buf_free(&raw);
    }
    if (i < mv.n) {
        int any = 0;
        for (size_t k = i; k < mv.n; k++)
            if (mv.it[k].why)
                mismatch_one(b, &mv.it[k], &any, &first);
        if (any)
            gw_buf_putc(b, '}');
    }
    if (mv.bad != NO_DAMAGE) {
        gw_buf_printf(b, "%s\"_error\":\"not a protobuf message from offset %zu\",\"_rest\":\"",
                      first ? "" : ",", mv.bad);
        view_base64(b, p + mv.bad, n - mv.bad);
        gw_buf_putc(b, '"');
    }
    gw_buf_putc(b, '}');
    msgv_free(&mv);
}

int view_schema_json(gw_buf *out, const pb_schemas *s, const pb_msgdef *m, const uint8_t *p,
                     size_t n, const pb_opts *o)
{
    ctx c = {s, out, clamp_depth(o), 0, 0, 0};
    j_msg(&c, m, p, n, 0);
    return c.err;
}

/* ---- text format (protoc --decode) --------------------------------------------------------- */

static void t_msg(ctx *c, const pb_msgdef *m, const uint8_t *p, size_t n, int indent, int depth);

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

static void t_item(ctx *c, const item *x, int indent, int depth)
{
    gw_buf *b = c->out;
    const pb_fdef *fd = x->fd;
    if (fd->type == PB_T_MESSAGE || fd->type == PB_T_GROUP) {
        gw_buf_printf(b, "%*s", indent, "");
        t_name(b, fd);
        put(b, " {\n");
        t_msg(c, fd->msg, x->body, x->blen, indent + 2, depth + 1);
        gw_buf_printf(b, "%*s}\n", indent, "");
        return;
    }
    if (fd->type == PB_T_STRING || fd->type == PB_T_BYTES) {
        gw_buf_printf(b, "%*s", indent, "");
        t_name(b, fd);
        put(b, ": \"");
        cescape(b, x->body, x->blen);
        put(b, "\"\n");
        return;
    }
    if (x->f.wire_type == PB_WT_LEN) {
        packed_it pi = {x->body, x->blen, 0, wire_of(fd->type)};
        uint64_t u;
        int bad;
        while (packed_next(&pi, &u, &bad)) {
            gw_buf_printf(b, "%*s", indent, "");
            t_name(b, fd);
            put(b, ": ");
            scalar(b, fd, u, 0);
            gw_buf_putc(b, '\n');
        }
        return;
    }
    gw_buf_printf(b, "%*s", indent, "");
    t_name(b, fd);
    put(b, ": ");
    scalar(b, fd, x->f.u, 0);
    gw_buf_putc(b, '\n');
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

static void t_msg(ctx *c, const pb_msgdef *m, const uint8_t *p, size_t n, int indent, int depth)
{
    gw_buf *b = c->out;
    msgv mv;
    if (split(c, m, p, n, depth, &mv, 1))
        return;
    size_t i = 0;
    while (i < mv.n && is_known(&mv.it[i])) {
        size_t j = i + 1;
        while (j < mv.n && is_known(&mv.it[j]) && mv.it[j].f.number == mv.it[i].f.number)
            j++;
        if (mv.it[i].fd->label != PB_L_REPEATED) {
            if (!implicit_zero(&mv.it[j - 1]))
                t_item(c, &mv.it[j - 1], indent, depth);
        } else if (mv.it[i].fd->msg && mv.it[i].fd->msg->map_entry) {
            sort_map(c, &mv.it[i], j - i, depth);
            for (size_t k = i; k < j; k++)
                t_item(c, &mv.it[k], indent, depth);
        } else {
            for (size_t k = i; k < j; k++)
                t_item(c, &mv.it[k], indent, depth);
        }
        i = j;
    }
    for (size_t k = i; k < mv.n; k++)
        if (mv.it[k].why)
            gw_buf_printf(b, "%*s# schema mismatch: field %" PRIu32 " (%s): %s\n", indent, "",
                          mv.it[k].f.number, mv.it[k].fd->name, mv.it[k].why);
    if (i < mv.n) {
        gw_buf raw;
        gw_buf_init(&raw, 0);
        const uint8_t *rp = NULL;
        size_t rn = 0;
        if (raw_rest(&mv, p, &raw, &rp, &rn) == 0 && rn) {
            pb_opts po = {.max_depth = c->max_depth - depth};
            view_pb_text(b, rp, rn, indent, &po);
        }
        gw_buf_free(&raw);
    }
    if (mv.bad != NO_DAMAGE)
        gw_buf_printf(b, "%*s# not a protobuf message from offset %zu\n", indent, "", mv.bad);
    msgv_free(&mv);
}

int view_schema_text(gw_buf *out, const pb_schemas *s, const pb_msgdef *m, const uint8_t *p,
                     size_t n, int indent, const pb_opts *o)
{
    ctx c = {s, out, clamp_depth(o), 0, 0, 0};
    t_msg(&c, m, p, n, indent, 0);
    return c.err;
}

/* ---- one line ------------------------------------------------------------------------------ */

static void s_msg(ctx *c, const pb_msgdef *m, const uint8_t *p, size_t n, int depth);

static int s_full(const ctx *c) { return c->stop_at && c->out->len - c->base > c->stop_at; }

static void s_value(ctx *c, const item *x, int depth)
{
    gw_buf *b = c->out;
    const pb_fdef *fd = x->fd;
    switch (fd->type) {
    case PB_T_STRING: view_json_string(b, (const char *)x->body, x->blen); return;
    case PB_T_BYTES:
        gw_buf_putc(b, '<');
        hexs(b, x->body, x->blen, 32);
        gw_buf_putc(b, '>');
        return;
    case PB_T_MESSAGE: case PB_T_GROUP: s_msg(c, fd->msg, x->body, x->blen, depth + 1); return;
    default: break;
    }
    if (x->f.wire_type == PB_WT_LEN) {
        packed_it pi = {x->body, x->blen, 0, wire_of(fd->type)};
        uint64_t u;
        int bad, first = 1;
        while (!s_full(c) && packed_next(&pi, &u, &bad)) {
            if (!first)
                put(b, ", ");
            first = 0;
            scalar(b, fd, u, 2);
        }
        return;
    }
    scalar(b, fd, x->f.u, 2);
}

static void s_msg(ctx *c, const pb_msgdef *m, const uint8_t *p, size_t n, int depth)
{
    gw_buf *b = c->out;
    msgv mv;
    if (split(c, m, p, n, depth, &mv, 1))
        return;
    gw_buf_putc(b, '{');
    int first = 1;
    size_t i = 0;
    while (i < mv.n && is_known(&mv.it[i]) && !s_full(c)) {
        size_t j = i + 1;
        while (j < mv.n && is_known(&mv.it[j]) && mv.it[j].f.number == mv.it[i].f.number)
            j++;
        const pb_fdef *fd = mv.it[i].fd;
        if (fd->label != PB_L_REPEATED && implicit_zero(&mv.it[j - 1])) {
            i = j;
            continue;
        }
        if (!first)
            put(b, ", ");
        first = 0;
        t_name(b, fd);
        put(b, ": ");
        if (fd->label != PB_L_REPEATED) {
            s_value(c, &mv.it[j - 1], depth);
        } else {
            gw_buf_putc(b, '[');
            for (size_t k = i; k < j && !s_full(c); k++) {
                if (k > i)
                    put(b, ", ");
                s_value(c, &mv.it[k], depth);
            }
            gw_buf_putc(b, ']');
        }
        i = j;
    }
    if (i < mv.n && !s_full(c) && rest_simple(&mv, 0)) {
        rest_put(b, &mv, 0, &first);
    } else if (i < mv.n && !s_full(c)) {
        gw_buf raw;
        gw_buf_init(&raw, 0);
        const uint8_t *rp = NULL;
        size_t rn = 0;
        if (raw_rest(&mv, p, &raw, &rp, &rn) == 0 && rn) {
            size_t at = b->len;
            view_pb_short(b, rp, rn, 0);
            /* {5: 1} -> joined without the braces */
            if (b->len - at >= 2 && b->data[at] == '{') {
                if (first) {
                    memmove(b->data + at, b->data + at + 1, b->len - at - 2);
                    b->len -= 2;
                } else {
                    memmove(b->data + at + 2, b->data + at + 1, b->len - at - 2);
                    b->data[at] = ',';
                    b->data[at + 1] = ' ';
                }
                first = 0;
            }
        }
        gw_buf_free(&raw);
    }
    if (mv.bad != NO_DAMAGE)
        gw_buf_printf(b, "%s<not protobuf from offset %zu>", first ? "" : ", ", mv.bad);
    gw_buf_putc(b, '}');
    msgv_free(&mv);
}

int view_schema_short(gw_buf *out, const pb_schemas *s, const pb_msgdef *m, const uint8_t *p,
                      size_t n, size_t max)
{
    /* Rendered in place and cut there: no scratch buffer per message. */
    size_t at = out->len;
    ctx c = {s, out, 32, 0, max ? max + 8 : 0, at};
    s_msg(&c, m, p, n, 0);
    int rc = c.err;
    if (max && out->len - at > max) {
        const uint8_t *t = out->data + at;
        size_t k = max;
        while (k > 0 && (t[k] & 0xc0) == 0x80)
            k--;
        out->len = at + k;
        put(out, "...");
    }
    return rc;
}

/* ---- tree ---------------------------------------------------------------------------------- */

static const char *const type_label[] = {
    "?", "double", "float", "int64", "uint64", "int32", "fixed64", "fixed32", "bool", "string",
    "group", "message", "bytes", "uint32", "enum", "sfixed32", "sfixed64", "sint32", "sint64",
};


static void line(gw_buf *b, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void line(gw_buf *b, int level, const char *fmt, ...)
{
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (k < 0)
        return;
    gw_buf_printf(b, "%*s", 4 * level, "");
    gw_buf_append(b, small, (size_t)k < sizeof small ? (size_t)k : sizeof small - 1);
    gw_buf_putc(b, '\n');
}

static void tag_lines(gw_buf *b, int level, const uint8_t *tag, const pb_field *f)
{
    if (!(tag[0] & 0x80)) {
        char nb[10], wb[10];
        uint8_t x = tag[0];
        for (int i = 0, k = 0; i < 8; i++, k++) {
            if (i == 4) {
                nb[k] = wb[k] = ' ';
                k++;
            }
            int bit = x >> (7 - i) & 1;
            nb[k] = i >= 1 && i <= 4 ? (char)('0' + bit) : '.';
            wb[k] = i >= 5 ? (char)('0' + bit) : '.';
        }
        nb[9] = wb[9] = 0;
        line(b, level, "%s = Field Number: %" PRIu32, nb, f->number);
        line(b, level, "%s = Wire Type: %s (%d)", wb, pb_wire_type_name(f->wire_type), f->wire_type);
    } else {
        line(b, level, "Field Number: %" PRIu32, f->number);
        line(b, level, "Wire Type: %s (%d)", pb_wire_type_name(f->wire_type), f->wire_type);
    }
}

static void tr_msg(ctx *c, const pb_msgdef *m, const uint8_t *p, size_t n, int level, int depth);

/* A schemaless field through view_pb_tree, without its "Message: <UNKNOWN>" line. */
static void tr_raw(ctx *c, const uint8_t *p, size_t n, int level, int depth)
{
    gw_buf *b = c->out;
    size_t at = b->len;
    pb_opts po = {.max_depth = c->max_depth - depth};
    view_pb_tree(b, p, n, level - 1, &po);
    uint8_t *nl = memchr(b->data + at, '\n', b->len - at);
    if (nl) {
        size_t drop = (size_t)(nl - (b->data + at)) + 1;
        memmove(b->data + at, b->data + at + drop, b->len - at - drop);
        b->len -= drop;
    }
}

static void tr_item(ctx *c, const uint8_t *base, const item *x, int level, int depth)
{
    gw_buf *b = c->out;
    const pb_fdef *fd = x->fd;
    if (!is_known(x)) {
        if (x->why)
            line(b, level, "[Schema mismatch: field %" PRIu32 " (%s): %s]", x->f.number, fd->name,
                 x->why);
        tr_raw(c, base + x->off, x->size, level, depth);
        return;
    }
    const char *tl = fd->type >= 1 && fd->type <= 18 ? type_label[fd->type] : "?";
    gw_buf_printf(b, "%*sField(%" PRIu32 "): ", 4 * level, "", x->f.number);
    t_name(b, fd);
    int simple = fd->type != PB_T_MESSAGE && fd->type != PB_T_GROUP && x->f.wire_type != PB_WT_LEN;
    if (simple || fd->type == PB_T_STRING || fd->type == PB_T_ENUM) {
        put(b, " = ");
        if (fd->type == PB_T_STRING) {
            size_t lim = x->blen > HEX_MAX ? HEX_MAX : x->blen;
            while (lim < x->blen && lim > 0 && (x->body[lim] & 0xc0) == 0x80)
                lim--;
            gw_buf_append(b, x->body, lim);
            if (x->blen > lim)
                put(b, "...");
        } else if (x->f.wire_type == PB_WT_LEN)
            put(b, "[packed]");
        else
            scalar(b, fd, x->f.u, 0);
    }
    gw_buf_printf(b, " (%s)\n", tl);
    line(b, level + 1, "[Field Name: %s]", fd->name);
    line(b, level + 1, "[Field Type: %s (%d)]", tl, fd->type);
    tag_lines(b, level + 1, base + x->off, &x->f);
    if (x->f.wire_type == PB_WT_LEN) {
        line(b, level + 1, "Value Length: %zu", x->blen);
        gw_buf_printf(b, "%*sValue: ", 4 * (level + 1), "");
        hexs(b, x->body, x->blen, HEX_MAX);
        gw_buf_putc(b, '\n');
    }
    if (fd->type == PB_T_MESSAGE || fd->type == PB_T_GROUP) {
        tr_msg(c, fd->msg, x->body, x->blen, level + 1, depth + 1);
    } else if (x->f.wire_type == PB_WT_LEN && packable(fd->type)) {
        packed_it pi = {x->body, x->blen, 0, wire_of(fd->type)};
        uint64_t u;
        int bad, k = 0;
        while (packed_next(&pi, &u, &bad) && k++ < 32) {
            gw_buf_printf(b, "%*s%s: ", 4 * (level + 1), "", fd->name);
            scalar(b, fd, u, 0);
            gw_buf_putc(b, '\n');
        }
    } else if (fd->type == PB_T_BYTES) {
        /* the hex value line says it all */
    } else if (fd->type != PB_T_STRING) {
        gw_buf_printf(b, "%*s%s: ", 4 * (level + 1), "", fd->name);
        scalar(b, fd, x->f.u, 0);
        gw_buf_putc(b, '\n');
    }
}

static void tr_msg(ctx *c, const pb_msgdef *m, const uint8_t *p, size_t n, int level, int depth)
{
    gw_buf *b = c->out;
    line(b, level, "Message: %s", m->full_name);
    msgv mv;
    if (split(c, m, p, n, depth, &mv, 0))
        return;
    for (size_t i = 0; i < mv.n; i++)
        tr_item(c, p, &mv.it[i], level + 1, depth);
    if (mv.bad != NO_DAMAGE)
        line(b, level + 1, "[Malformed: not a protobuf message from offset %zu]", mv.bad);
    msgv_free(&mv);
}

int view_schema_tree(gw_buf *out, const pb_schemas *s, const pb_msgdef *m, const uint8_t *p,
                     size_t n, int indent, const pb_opts *o)
{
    ctx c = {s, out, clamp_depth(o), 0, 0, 0};
    tr_msg(&c, m, p, n, indent, 0);
    return c.err;
}

/* ---- types and guesses --------------------------------------------------------------------- */

const pb_msgdef *view_schema_type(const pb_schemas *s, const char *method, int from_client)
{
    const pb_methoddef *md = pb_schemas_find_method_cached(s, method);
    if (!md)
        return NULL;
    return from_client ? md->in : md->out;
}

/* -1 when the bytes do not read cleanly as m; else the share of m's fields present. */
static double clean_score(ctx *c, const pb_msgdef *m, const uint8_t *p, size_t n, int depth)
{
    msgv mv;
    if (!m || split(c, m, p, n, depth, &mv, 0))
        return -1;
    double r = 0;
    size_t seen = 0;
    if (mv.bad != NO_DAMAGE)
        r = -1;
    for (size_t i = 0; i < mv.n && r >= 0; i++) {
        const item *x = &mv.it[i];
        if (!is_known(x) || x->fd->extendee) {
            r = -1;
            break;
        }
        if ((x->fd->type == PB_T_MESSAGE || x->fd->type == PB_T_GROUP) &&
            clean_score(c, x->fd->msg, x->body, x->blen, depth + 1) < 0)
            r = -1;
        int dup = 0;
        for (size_t k = 0; k < i; k++)
            dup |= mv.it[k].f.number == x->f.number;
        seen += !dup;
    }
    if (r >= 0 && m->n_fields)
        r = (double)seen / (double)m->n_fields;
    msgv_free(&mv);
    return r;
}

const pb_methoddef *view_schema_guess(const pb_schemas *s, const uint8_t *req, size_t req_n,
                                      const uint8_t *resp, size_t resp_n, char *path, size_t cap,
                                      double *score)
{
    ctx c = {s, NULL, 32, 0, 0, 0};
    const pb_methoddef *best = NULL;
    const pb_servicedef *best_sv = NULL;
    double bs = -1;
    size_t ns = pb_schemas_n_services(s);
    for (size_t i = 0; i < ns; i++) {
        const pb_servicedef *sv = pb_schemas_service(s, i);
        if (pb_schemas_find_service(s, sv->full_name) != sv)
            continue; /* overridden */
        for (size_t j = 0; j < sv->n_methods; j++) {
            const pb_methoddef *md = &sv->methods[j];
            double a = clean_score(&c, md->in, req, req_n, 0);
            if (a < 0)
                continue;
            double sc = 0.5 + 0.5 * a;
            if (resp) {
                double r = clean_score(&c, md->out, resp, resp_n, 0);
                if (r < 0)
                    continue;
                sc = (sc + 0.5 + 0.5 * r) / 2;
            }
            if (sc > bs) {
                bs = sc;
                best = md;
                best_sv = sv;
            }
        }
    }
    if (best) {
        snprintf(path, cap, "/%s/%s", best_sv->full_name, best->name);
        *score = bs;
    }
    return best;
}

int view_schema_call_guess(const pb_schemas *s, const grpc_call *c, char *path, size_t cap,
                           double *score)
{
    if (!s || c->method || !pb_schemas_guess(s))
        return 0;
    const grpc_msg *rq = NULL, *rs = NULL;
    for (size_t i = 0; i < c->n_msgs; i++) {
        const grpc_msg *m = &c->msgs[i];
        if (m->from_client && !rq)
            rq = m;
        else if (!m->from_client && !rs)
            rs = m;
    }
    if (!rq || !rq->data || !rq->decoded || rq->truncated)
        return 0;
    int resp_ok = rs && rs->data && rs->decoded && !rs->truncated;
    return view_schema_guess(s, rq->data, rq->data_len, resp_ok ? rs->data : NULL,
                             resp_ok ? rs->data_len : 0, path, cap, score) != NULL;
}
