/* pb_wire: protobuf wire format (protobuf.dev/programming-guides/encoding): one field at a time,
 * zero-copy, and a schemaless walk that guesses what each length-delimited field is (string,
 * nested message, packed numbers, bytes), like protoc --decode_raw but marking ambiguity.
 * Limits: nesting depth (pb_opts). Encoding helpers for our own messages. */
#ifndef PB_WIRE_H
#define PB_WIRE_H
#include <stddef.h>
#include <stdint.h>

#include "common/gw_buf.h"

enum pb_wire_type {
    PB_WT_VARINT = 0,
    PB_WT_I64 = 1,
    PB_WT_LEN = 2,
    PB_WT_SGROUP = 3,
    PB_WT_EGROUP = 4,
    PB_WT_I32 = 5,
};

/* One field as it is on the wire. */
typedef struct pb_field {
    uint32_t number;
    uint8_t wire_type;
    uint64_t u;            /* VARINT, I64, I32 value; LEN length */
    const uint8_t *bytes;  /* LEN content (borrowed) */
    size_t offset;         /* of the tag, from the start of the message */
    size_t size;           /* tag + value bytes */
} pb_field;

/* Wireshark's names: "varint", "64-bit", "Length-delimited", ..., "unknown". */
const char *pb_wire_type_name(int wire_type);

/* Parse one field at p. Returns bytes consumed, or GW_EPARSE (bad tag, field number 0 or over
 * 2^29-1, truncated value, bad wire type). Group wire types parse as a tag alone (u = 0). */
ptrdiff_t pb_field_parse(const uint8_t *p, size_t n, pb_field *f);

/* Most fields: a one-byte tag (numbers 1..15) and a one-byte value or length, parsed inline.
 * Returns the field's size (pb_field_parse's result for it), or 0 for any other field: then
 * call pb_field_parse. */
static inline ptrdiff_t pb_field_parse_quick(const uint8_t *q, size_t left, pb_field *f)
{
    if (left >= 2 && q[0] >= 8 && q[0] < 0x80 && q[1] < 0x80 &&
        ((q[0] & 7) == PB_WT_VARINT || ((q[0] & 7) == PB_WT_LEN && q[1] <= left - 2))) {
        f->number = q[0] >> 3;
        f->wire_type = q[0] & 7;
        f->u = q[1];
        f->bytes = f->wire_type == PB_WT_LEN ? q + 2 : NULL;
        f->offset = 0;
        f->size = f->wire_type == PB_WT_LEN ? 2 + (size_t)q[1] : 2;
        return (ptrdiff_t)f->size;
    }
    return 0;
}

/* Schemaless interpretation of a field, for views. */
enum pb_kind {
    PB_KIND_VARINT = 1, /* u; also zigzag-decoded in sval */
    PB_KIND_I64,        /* u; also as double in dval */
    PB_KIND_I32,        /* u; also as float in dval */
    PB_KIND_STRING,     /* valid printable UTF-8 */
    PB_KIND_BYTES,
    PB_KIND_MESSAGE,    /* a nested message: enter ... leave */
    PB_KIND_PACKED,     /* packed varints: items delivered one by one as VARINT with packed=1 */
    PB_KIND_GROUP,      /* a (deprecated) group: enter ... leave */
};

typedef struct pb_value {
    const pb_field *f;
    int kind;              /* enum pb_kind */
    int64_t sval;          /* zigzag view of a varint */
    double dval;           /* float/double view of I32/I64 */
    int zigzag_better;     /* the zigzag view reads better (small negative) */
    int float_plausible;   /* the float/double view looks like a real number */
    int ambiguous;         /* another reading was possible too (e.g. a string that also parses
                              as a message; packed vs bytes) */
    int packed_item;       /* an element of a PB_KIND_PACKED field */
    int depth;             /* 0 for top-level fields */
} pb_value;

typedef struct pb_visitor {
    void *u;
    /* A scalar, string or bytes field (or a packed item). Return nonzero to stop. */
    int (*field)(void *u, const pb_value *v);
    /* A nested message, group or packed list begins / ends. */
    int (*enter)(void *u, const pb_value *v);
    int (*leave)(void *u, const pb_value *v);
} pb_visitor;

typedef struct pb_opts {
    int max_depth;         /* nesting beyond this is shown as bytes (default 32) */
    int no_ambiguity;      /* the visitor ignores pb_value.ambiguous for strings: printable text
                              is not also tried as a message (the same kinds, cheaper) */
} pb_opts;
void pb_opts_default(pb_opts *o);

/* Guessing rules of pb_walk_raw (a field's depth d: 0 at top level; "nesting allowed" means
 * d + 1 <= max_depth; max_depth is clamped to 0..200 so recursion is always bounded):
 *   VARINT: sval = zigzag decoding. zigzag_better when the value is odd, > 1 and < 2^32 (a small
 *     negative sint; 1 is left alone, it is mostly true or an enum).
 *   I32/I64: dval = the float/double. float_plausible when finite, not denormal, and either of
 *     magnitude 1e-6..1e15 or exact in 4 significant digits; +0.0 counts, -0.0 does not.
 *   LEN, first match wins:
 *     empty -> STRING, ambiguous;
 *     strict UTF-8 with no control characters but \t \n \r (no DEL, no C1) -> STRING, ambiguous
 *       when nesting is allowed and it also parses as a message;
 *     nesting allowed and it parses completely as a message -> MESSAGE (enter, fields at d + 1,
 *       leave), ambiguous when all its fields are varints (then it also reads as packed);
 *     nesting allowed and it splits into more than one minimally encoded varint -> PACKED
 *       (enter, items as VARINT with packed_item = 1 at depth d + 1, leave), always ambiguous;
 *     else BYTES.
 *   SGROUP: nesting must be allowed and the group must close with the matching EGROUP, else the
 *     walk fails. GROUP enter/leave get a field whose bytes/u are the group's contents and whose
 *     size runs through the end tag.
 * Offsets in the fields the walk hands out are from the start of the walked buffer. On
 * GW_EPARSE, *bad_offset is the start of the first top-level field that could not be walked
 * (for a damaged group: its start tag): everything before it was visited, nothing after. */

/* Pieces of pb_walk_raw for renderers that classify fields themselves (the JSON view), so they
 * need not walk with a visitor. Each gives exactly what the walk would decide.
 * pb_field_parse_whole: one field as the walk takes it at the top level with that max_depth:
 *   like pb_field_parse, but a start-group tag takes its whole group (it needs max_depth >= 1,
 *   its inner groups nest within max_depth - 1, and it must close with the matching end tag):
 *   bytes/u are the group's contents and size runs through the end tag. A stray end-group tag,
 *   or a group that does not close, is GW_EPARSE. offset is 0.
 * pb_printable_utf8: 1 when a LEN field of these bytes reads as STRING (strict UTF-8, no control
 *   characters but \t \n \r, no DEL, no C1); n == 0 counts.
 * pb_packed_varints: 1 when the bytes split into more than one minimally encoded varint. */
ptrdiff_t pb_field_parse_whole_any(const uint8_t *p, size_t n, int max_depth, pb_field *f);
static inline ptrdiff_t pb_field_parse_whole(const uint8_t *p, size_t n, int max_depth, pb_field *f)
{
    /* Most fields have a one-byte tag (numbers 1..15) and a one-byte value or length: inline. */
    if (n >= 2 && p[0] >= 8 && p[0] < 0x80 && p[1] < 0x80) {
        uint8_t wt = p[0] & 7;
        if (wt == PB_WT_VARINT || (wt == PB_WT_LEN && p[1] <= n - 2)) {
            f->number = p[0] >> 3;
            f->wire_type = wt;
            f->u = p[1];
            f->bytes = wt == PB_WT_LEN ? p + 2 : NULL;
            f->offset = 0;
            f->size = wt == PB_WT_LEN ? 2 + (size_t)p[1] : 2;
            return (ptrdiff_t)f->size;
        }
    }
    return pb_field_parse_whole_any(p, n, max_depth, f);
}
int pb_printable_utf8(const uint8_t *p, size_t n);
int pb_packed_varints(const uint8_t *p, size_t n);

/* 1 if p..n parses completely as a sequence of fields (with nested groups balanced). */
int pb_is_message(const uint8_t *p, size_t n, int max_depth);
/* Walk a message without a schema. Returns 0, 1 if the visitor stopped, or GW_EPARSE when the
 * bytes are not a message (fields before the damage were visited; *bad_offset says where). */
int pb_walk_raw(const uint8_t *p, size_t n, const pb_opts *o, const pb_visitor *v, size_t *bad_offset);

/* Encoding (our client/server). Return 0, GW_ECAP or GW_ENOMEM. */
int pb_put_varint(gw_buf *b, uint64_t v);
int pb_put_tag(gw_buf *b, uint32_t number, int wire_type);
int pb_put_bytes(gw_buf *b, uint32_t number, const void *p, size_t n);
int pb_put_uint(gw_buf *b, uint32_t number, uint64_t v);

#endif
