/* pb_wire: protobuf wire decoding (protobuf.dev/programming-guides/encoding), the schemaless
 * walk with its guessing rules, and the small encoders our client and server use.
 * No allocation anywhere; recursion is bounded by the depth budget (clamped to PB_DEPTH_HARD). */
#include "pb/pb_wire.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/gw_cur.h"
#include "common/gw_utf8.h"
#include "common/gw_err.h"

#define PB_FIELD_MAX 536870911u /* 2^29 - 1: the largest field number (encoding guide) */
#define PB_DEPTH_DEFAULT 32
/* Whatever the caller asks for, recursion never goes deeper than this: it bounds the stack. */
#define PB_DEPTH_HARD 200

void pb_opts_default(pb_opts *o)
{
    o->max_depth = PB_DEPTH_DEFAULT;
    o->no_ambiguity = 0;
}

static int clamp_depth(int d)
{
    if (d < 0)
        return 0;
    return d > PB_DEPTH_HARD ? PB_DEPTH_HARD : d;
}

/* Wire layout of one field:
 *   tag = varint (number << 3 | wire type)
 *   VARINT: varint | I64: 8 bytes LE | I32: 4 bytes LE | LEN: varint length, then bytes
 *   SGROUP / EGROUP: nothing (the group's fields follow until the matching EGROUP tag). */
ptrdiff_t pb_field_parse(const uint8_t *p, size_t n, pb_field *f)
{
    gw_cur c = gw_cur_make(p, n);
    uint64_t tag = gw_cur_varint(&c);
    if (!gw_cur_ok(&c))
        return GW_EPARSE;
    uint64_t number = tag >> 3;
    if (number == 0 || number > PB_FIELD_MAX)
        return GW_EPARSE;
    f->number = (uint32_t)number;
    f->wire_type = (uint8_t)(tag & 7);
    f->u = 0;
    f->bytes = NULL;
    f->offset = 0;
    switch (f->wire_type) {
    case PB_WT_VARINT:
        f->u = gw_cur_varint(&c);
        break;
    case PB_WT_I64:
        f->u = gw_cur_le64(&c);
        break;
    case PB_WT_I32:
        f->u = gw_cur_le32(&c);
        break;
    case PB_WT_LEN:
        f->u = gw_cur_varint(&c);
        if (!gw_cur_ok(&c) || f->u > gw_cur_left(&c))
            return GW_EPARSE;
        f->bytes = gw_cur_bytes(&c, (size_t)f->u);
        break;
    case PB_WT_SGROUP:
    case PB_WT_EGROUP:
        break;
    default:
        return GW_EPARSE;
    }
    if (!gw_cur_ok(&c))
        return GW_EPARSE;
    f->size = (size_t)(c.p - p);
    return (ptrdiff_t)f->size;
}

/* Check the fields of base[pos..n) up to the end (group == 0) or up to the EGROUP tag that closes
 * `group`. budget is how many more levels of groups may open. On success *end is the offset after
 * the closing tag (or n) and *content_end the offset of that tag; on failure *end is the offset of
 * the damage. */
static int scan(const uint8_t *base, size_t n, size_t pos, uint32_t group, int budget, size_t *end,
                size_t *content_end)
{
    while (pos < n) {
        pb_field f;
        ptrdiff_t r = pb_field_parse(base + pos, n - pos, &f);
        if (r < 0)
            goto bad;
        if (f.wire_type == PB_WT_EGROUP) {
            if (group == 0 || f.number != group)
                goto bad;
            *content_end = pos;
            *end = pos + (size_t)r;
            return 0;
        }
        if (f.wire_type == PB_WT_SGROUP) {
            size_t e, ce;
            if (budget <= 0)
                goto bad;
            if (scan(base, n, pos + (size_t)r, f.number, budget - 1, &e, &ce) < 0) {
                *end = e;
                return GW_EPARSE;
            }
            pos = e;
            continue;
        }
        pos += (size_t)r;
    }
    if (group == 0) {
        *end = *content_end = n;
        return 0;
    }
bad:
    *end = pos;
    return GW_EPARSE;
}

ptrdiff_t pb_field_parse_whole_any(const uint8_t *p, size_t n, int max_depth, pb_field *f)
{
    ptrdiff_t r = pb_field_parse(p, n, f);
    if (r < 0 || f->wire_type == PB_WT_EGROUP)
        return GW_EPARSE;
    if (f->wire_type == PB_WT_SGROUP) {
        size_t e, ce;
        int d = clamp_depth(max_depth);
        if (d < 1 || scan(p, n, (size_t)r, f->number, d - 1, &e, &ce) < 0)
            return GW_EPARSE;
        f->bytes = p + r;
        f->u = ce - (size_t)r;
        f->size = e;
        return (ptrdiff_t)e;
    }
    return r;
}

int pb_is_message(const uint8_t *p, size_t n, int max_depth)
{
    size_t e, ce;
    return scan(p, n, 0, 0, clamp_depth(max_depth), &e, &ce) == 0;
}

/* Strict UTF-8 (no overlongs, surrogates or code points past U+10FFFF) whose characters are all
 * printable: no C0 controls except \t \n \r, no DEL, no C1 controls. */
int pb_printable_utf8(const uint8_t *s, size_t n)
{
    int level = gw_simd_best();
    size_t i = 0;
    while (i < n) {
        /* Long text goes by 16 or 32 bytes per step while it is printable ASCII. */
        i += gw_screen_at(GW_SCREEN_PRINT, s + i, n - i, level);
        if (i == n)
            break;
        uint8_t c = s[i];
        if (c == '\t' || c == '\n' || c == '\r') {
            i++;
            continue;
        }
        if (c < 0x80)
            return 0; /* a control character or DEL */
        uint32_t cp;
        size_t len = gw_utf8_seq(s + i, n - i, &cp);
        if (!len || (cp >= 0x80 && cp <= 0x9f)) /* C1 controls are not text either */
            return 0;
        i += len;
    }
    return 1;
}

/* Packed varints: the bytes split exactly into more than one varint, each minimally encoded (no
 * trailing 0x00 continuation byte). Encoders never emit padded varints, so this rejects some
 * random binary and keeps the list reading lossless. */
int pb_packed_varints(const uint8_t *p, size_t n)
{
    gw_cur c = gw_cur_make(p, n);
    size_t count = 0;
    while (gw_cur_left(&c) > 0) {
        const uint8_t *start = c.p;
        (void)gw_cur_varint(&c);
        if (!gw_cur_ok(&c))
            return 0;
        if (c.p - start > 1 && c.p[-1] == 0)
            return 0;
        count++;
    }
    return count > 1;
}

/* Every top-level field is a varint, so the message bytes are also a list of varints. */
static int all_varint_fields(const uint8_t *p, size_t n)
{
    size_t pos = 0;
    while (pos < n) {
        pb_field f;
        ptrdiff_t r = pb_field_parse(p + pos, n - pos, &f);
        if (r < 0 || f.wire_type != PB_WT_VARINT)
            return 0;
        pos += (size_t)r;
    }
    return 1;
}

/* Does the number print in at most 4 significant digits and read back exactly? (1e20, 0.5e-9) */
static int short_decimal(double d, int is_float)
{
    char s[40];
    snprintf(s, sizeof s, "%.4g", d);
    if (is_float)
        return strtof(s, NULL) == (float)d;
    return strtod(s, NULL) == d;
}

/* Float/double plausibility: finite, not denormal, and either of an everyday magnitude
 * (1e-6 .. 1e15) or short in decimal. +0.0 (raw value 0) counts; -0.0 does not (the raw value
 * 0x80000000... is more likely an integer). Small integers stored in fixed32/fixed64 come out
 * denormal and are rejected, which is the case that matters. */
static int float_plausible(double d, uint64_t raw, int is_float)
{
    if (!isfinite(d))
        return 0;
    if (d == 0)
        return raw == 0;
    double a = fabs(d);
    if (a < (is_float ? FLT_MIN : DBL_MIN))
        return 0;
    if (a >= 1e-6 && a <= 1e15)
        return 1;
    return short_decimal(d, is_float);
}

typedef struct walker {
    const uint8_t *base;
    int max_depth;
    const pb_visitor *v;
    size_t bad;
    int no_ambiguity;
} walker;

static int emit(int (*cb)(void *, const pb_value *), void *u, const pb_value *v)
{
    return cb ? (cb(u, v) ? 1 : 0) : 0;
}

static void classify_len(const walker *w, const pb_field *f, int depth, pb_value *v)
{
    const uint8_t *b = f->bytes;
    size_t n = (size_t)f->u;
    int msg = 0;
    /* Printable text is a string whatever else it parses as; the message scan only tells
     * whether it is ambiguous, which a visitor may not ask. */
    int printable = n > 0 && pb_printable_utf8(b, n);
    /* Past max_depth nothing is opened, packed lists included: printable text or bytes. */
    if (depth + 1 <= w->max_depth && !(printable && w->no_ambiguity)) {
        size_t e, ce;
        msg = scan(b, n, 0, 0, w->max_depth - (depth + 1), &e, &ce) == 0;
    }
    if (n == 0) {
        v->kind = PB_KIND_STRING;
        v->ambiguous = 1;
    } else if (printable) {
        v->kind = PB_KIND_STRING;
        v->ambiguous = msg;
    } else if (msg) {
        v->kind = PB_KIND_MESSAGE;
        v->ambiguous = all_varint_fields(b, n);
    } else if (depth + 1 <= w->max_depth && pb_packed_varints(b, n)) {
        v->kind = PB_KIND_PACKED;
        v->ambiguous = 1;
    } else {
        v->kind = PB_KIND_BYTES;
    }
}

static int walk(walker *w, size_t pos, size_t end, int depth);

static int walk_packed(walker *w, const pb_value *pv)
{
    const pb_field *f = pv->f;
    gw_cur c = gw_cur_make(f->bytes, (size_t)f->u);
    size_t item_off = f->offset + f->size - (size_t)f->u;
    while (gw_cur_left(&c) > 0) {
        const uint8_t *start = c.p;
        pb_field it = {f->number, PB_WT_VARINT, gw_cur_varint(&c), NULL, 0, 0};
        if (!gw_cur_ok(&c))
            return 0; /* cannot happen: classify_len checked the whole list */
        it.offset = item_off + (size_t)(start - f->bytes);
        it.size = (size_t)(c.p - start);
        pb_value v = {0};
        v.f = &it;
        v.kind = PB_KIND_VARINT;
        v.sval = (int64_t)(it.u >> 1) ^ -(int64_t)(it.u & 1);
        v.zigzag_better = (it.u & 1) && it.u > 1 && it.u <= 0xffffffffu;
        v.packed_item = 1;
        v.depth = pv->depth + 1;
        if (emit(w->v->field, w->v->u, &v))
            return 1;
    }
    return 0;
}

static int walk(walker *w, size_t pos, size_t end, int depth)
{
    while (pos < end) {
        pb_field f;
        ptrdiff_t r = pb_field_parse(w->base + pos, end - pos, &f);
        if (r < 0) {
            w->bad = pos;
            return GW_EPARSE;
        }
        f.offset = pos;
        pb_value v = {0};
        v.f = &f;
        v.depth = depth;
        int rc = 0;
        switch (f.wire_type) {
        case PB_WT_VARINT:
            v.kind = PB_KIND_VARINT;
            /* zigzag: (n << 1) ^ (n >> 63) on the way in, so (u >> 1) ^ -(u & 1) on the way out */
            v.sval = (int64_t)(f.u >> 1) ^ -(int64_t)(f.u & 1);
            /* An odd value decodes to a negative number; we only call that "better" for values
             * that fit 32 bits (a small negative) and not for 1, which is mostly true/an enum. */
            v.zigzag_better = (f.u & 1) && f.u > 1 && f.u <= 0xffffffffu;
            rc = emit(w->v->field, w->v->u, &v);
            break;
        case PB_WT_I64: {
            double d;
            memcpy(&d, &f.u, sizeof d);
            v.kind = PB_KIND_I64;
            v.dval = d;
            v.float_plausible = float_plausible(d, f.u, 0);
            rc = emit(w->v->field, w->v->u, &v);
            break;
        }
        case PB_WT_I32: {
            uint32_t u32 = (uint32_t)f.u;
            float fl;
            memcpy(&fl, &u32, sizeof fl);
            v.kind = PB_KIND_I32;
            v.dval = fl;
            v.float_plausible = float_plausible(fl, f.u, 1);
            rc = emit(w->v->field, w->v->u, &v);
            break;
        }
        case PB_WT_LEN:
            classify_len(w, &f, depth, &v);
            if (v.kind == PB_KIND_MESSAGE || v.kind == PB_KIND_PACKED) {
                rc = emit(w->v->enter, w->v->u, &v);
                if (!rc) {
                    size_t start = (size_t)(f.bytes - w->base);
                    rc = v.kind == PB_KIND_MESSAGE ? walk(w, start, start + (size_t)f.u, depth + 1)
                                                   : walk_packed(w, &v);
                }
                if (!rc)
                    rc = emit(w->v->leave, w->v->u, &v);
            } else {
                rc = emit(w->v->field, w->v->u, &v);
            }
            break;
        case PB_WT_SGROUP: {
            size_t e, ce, start = pos + (size_t)r;
            if (depth + 1 > w->max_depth) {
                w->bad = pos;
                return GW_EPARSE;
            }
            /* A damaged group is reported at its start tag, so that everything before
             * bad_offset has been visited and everything from it has not. */
            if (scan(w->base, end, start, f.number, w->max_depth - (depth + 1), &e, &ce) < 0) {
                w->bad = pos;
                return GW_EPARSE;
            }
            /* The group as a whole: bytes/u are its contents, size runs through the end tag. */
            f.bytes = w->base + start;
            f.u = ce - start;
            f.size = e - pos;
            v.kind = PB_KIND_GROUP;
            rc = emit(w->v->enter, w->v->u, &v);
            if (!rc)
                rc = walk(w, start, ce, depth + 1);
            if (!rc)
                rc = emit(w->v->leave, w->v->u, &v);
            break;
        }
        default: /* an EGROUP with no group open */
            w->bad = pos;
            return GW_EPARSE;
        }
        if (rc)
            return rc;
        pos += f.size;
    }
    return 0;
}

int pb_walk_raw(const uint8_t *p, size_t n, const pb_opts *o, const pb_visitor *v, size_t *bad_offset)
{
    static const pb_visitor none = {0};
    walker w = {p, clamp_depth(o ? o->max_depth : PB_DEPTH_DEFAULT), v ? v : &none, 0,
                o ? o->no_ambiguity : 0};
    int rc = walk(&w, 0, n, 0);
    if (bad_offset)
        *bad_offset = rc == GW_EPARSE ? w.bad : n;
    return rc;
}

/* Encoding. */

static size_t varint_encode(uint8_t out[10], uint64_t v)
{
    size_t i = 0;
    while (v >= 0x80) {
        out[i++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    out[i++] = (uint8_t)v;
    return i;
}

int pb_put_varint(gw_buf *b, uint64_t v)
{
    uint8_t tmp[10];
    return gw_buf_append(b, tmp, varint_encode(tmp, v));
}

/* Also GW_EINVAL for a field number outside 1..2^29-1 or a wire type over 5 (our misuse). */
int pb_put_tag(gw_buf *b, uint32_t number, int wire_type)
{
    if (number == 0 || number > PB_FIELD_MAX || wire_type < 0 || wire_type > 5)
        return GW_EINVAL;
    return pb_put_varint(b, (uint64_t)number << 3 | (uint64_t)wire_type);
}

/* Tag, length and bytes go in together or not at all. */
int pb_put_bytes(gw_buf *b, uint32_t number, const void *p, size_t n)
{
    uint8_t tag[10], len[10];
    if (number == 0 || number > PB_FIELD_MAX)
        return GW_EINVAL;
    size_t tn = varint_encode(tag, (uint64_t)number << 3 | PB_WT_LEN);
    size_t ln = varint_encode(len, n);
    if (n > SIZE_MAX - tn - ln)
        return GW_ECAP;
    int rc = gw_buf_reserve(b, tn + ln + n);
    if (rc)
        return rc;
    gw_buf_append(b, tag, tn);
    gw_buf_append(b, len, ln);
    return gw_buf_append(b, p, n);
}

int pb_put_uint(gw_buf *b, uint32_t number, uint64_t v)
{
    uint8_t tag[10], val[10];
    if (number == 0 || number > PB_FIELD_MAX)
        return GW_EINVAL;
    size_t tn = varint_encode(tag, (uint64_t)number << 3 | PB_WT_VARINT);
    size_t vn = varint_encode(val, v);
    int rc = gw_buf_reserve(b, tn + vn);
    if (rc)
        return rc;
    gw_buf_append(b, tag, tn);
    return gw_buf_append(b, val, vn);
}

const char *pb_wire_type_name(int wt)
{
    switch (wt) {
    case PB_WT_VARINT: return "varint";
    case PB_WT_I64: return "64-bit";
    case PB_WT_LEN: return "Length-delimited";
    case PB_WT_SGROUP: return "Start group (deprecated)";
    case PB_WT_EGROUP: return "End group (deprecated)";
    case PB_WT_I32: return "32-bit";
    }
    return "unknown";
}
