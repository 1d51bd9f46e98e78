/* fuzz_pb: pb_field_parse, pb_is_message, pb_walk_raw and the four schemaless renderers over
 * arbitrary bytes. Checks: events stay inside the input and balanced, depth never passes the
 * limit, the walk agrees with pb_is_message, JSON output is valid JSON, short output honours max.
 * The first byte picks max_depth and the short view's max; the rest is the message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/gw_buf.h"
#include "common/gw_err.h"
#include "pb/pb_wire.h"
#include "view/view_pb.h"

#define CHECK(c)                                                                              \
    do {                                                                                      \
        if (!(c))                                                                             \
            __builtin_trap();                                                                 \
    } while (0)

typedef struct state {
    size_t n;
    int max_depth;
    int open; /* enter minus leave */
    int depth;
} state;

static void check_value(state *s, const pb_value *v)
{
    CHECK(v->f->offset <= s->n && v->f->size <= s->n - v->f->offset);
    CHECK(v->depth >= 0 && v->depth <= s->max_depth);
    CHECK(v->kind >= PB_KIND_VARINT && v->kind <= PB_KIND_GROUP);
    if (v->packed_item)
        CHECK(v->kind == PB_KIND_VARINT);
}
static int on_field(void *u, const pb_value *v)
{
    state *s = u;
    check_value(s, v);
    CHECK(v->kind != PB_KIND_MESSAGE && v->kind != PB_KIND_GROUP && v->kind != PB_KIND_PACKED);
    CHECK(v->depth == s->open); /* packed items sit one below their list, like fields */
    return 0;
}
static int on_enter(void *u, const pb_value *v)
{
    state *s = u;
    check_value(s, v);
    CHECK(v->kind == PB_KIND_MESSAGE || v->kind == PB_KIND_GROUP || v->kind == PB_KIND_PACKED);
    CHECK(v->depth == s->open);
    CHECK(v->depth + 1 <= s->max_depth);
    s->open++;
    return 0;
}
static int on_leave(void *u, const pb_value *v)
{
    state *s = u;
    check_value(s, v);
    s->open--;
    CHECK(s->open >= 0 && v->depth == s->open);
    return 0;
}

/* A strict JSON validator (RFC 8259 grammar), iterative-enough: bounded recursion. */
typedef struct jp {
    const uint8_t *p, *end;
    int depth;
} jp;
static void jws(jp *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\n' || *j->p == '\t' || *j->p == '\r'))
        j->p++;
}
static int jstr(jp *j)
{
    if (j->p >= j->end || *j->p++ != '"')
        return 0;
    while (j->p < j->end) {
        uint8_t c = *j->p++;
        if (c == '"')
            return 1;
        if (c < 0x20)
            return 0;
        if (c == '\\') {
            if (j->p >= j->end)
                return 0;
            c = *j->p++;
            if (c == 'u') {
                for (int i = 0; i < 4; i++) {
                    if (j->p >= j->end || !strchr("0123456789abcdefABCDEF", *j->p) || !*j->p)
                        return 0;
                    j->p++;
                }
            } else if (!c || !strchr("\"\\/bfnrt", c)) {
                return 0;
            }
        } else if (c >= 0x80) {
            int len = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xc2 && c <= 0xdf ? 2 : 0;
            if (!len || j->end - j->p < len - 1)
                return 0;
            for (int i = 0; i < len - 1; i++)
                if ((*j->p++ & 0xc0) != 0x80)
                    return 0;
        }
    }
    return 0;
}
static int jnum(jp *j)
{
    const uint8_t *s = j->p;
    if (j->p < j->end && *j->p == '-')
        j->p++;
    if (j->p < j->end && *j->p == '0') {
        j->p++;
    } else {
        if (j->p >= j->end || *j->p < '1' || *j->p > '9')
            return 0;
        while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
            j->p++;
    }
    return j->p > s;
}
static int jval(jp *j)
{
    jws(j);
    if (j->p >= j->end)
        return 0;
    uint8_t c = *j->p;
    if (c == '"')
        return jstr(j);
    if (c != '{' && c != '[')
        return jnum(j);
    if (++j->depth > 500)
        return 0;
    uint8_t close = c == '{' ? '}' : ']';
    j->p++;
    jws(j);
    if (j->p < j->end && *j->p == close) {
        j->p++;
        j->depth--;
        return 1;
    }
    for (;;) {
        if (c == '{') {
            jws(j);
            if (!jstr(j))
                return 0;
            jws(j);
            if (j->p >= j->end || *j->p++ != ':')
                return 0;
        }
        if (!jval(j))
            return 0;
        jws(j);
        if (j->p >= j->end)
            return 0;
        uint8_t d = *j->p++;
        if (d == close) {
            j->depth--;
            return 1;
        }
        if (d != ',')
            return 0;
    }
}
static int json_valid(const uint8_t *p, size_t n)
{
    jp j = {p, p + n, 0};
    if (!jval(&j))
        return 0;
    jws(&j);
    return j.p == j.end;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    pb_opts o;
    pb_opts_default(&o);
    if (data[0] & 0x80)
        o.max_depth = data[0] & 0x3f;
    size_t max = (size_t)(data[0] & 0x7f);
    const uint8_t *p = data + 1;
    size_t n = size - 1;

    pb_field f;
    ptrdiff_t r = pb_field_parse(p, n, &f);
    CHECK(r == GW_EPARSE || (r > 0 && (size_t)r <= n && f.size == (size_t)r));

    state s = {n, o.max_depth, 0, 0};
    pb_visitor v = {&s, on_field, on_enter, on_leave};
    size_t bad = 0;
    int rc = pb_walk_raw(p, n, &o, &v, &bad);
    CHECK(rc == 0 || rc == GW_EPARSE);
    CHECK(s.open == 0);
    CHECK(bad <= n);
    CHECK((rc == 0) == pb_is_message(p, n, o.max_depth));

    gw_buf b;
    gw_buf_init(&b, 1 << 22);
    CHECK(view_pb_json(&b, p, n, &o) == 0);
    CHECK(json_valid(b.data, b.len));
    gw_buf_reset(&b);
    CHECK(view_pb_text(&b, p, n, 2, &o) == 0);
    gw_buf_reset(&b);
    CHECK(view_pb_tree(&b, p, n, 1, &o) == 0);
    gw_buf_reset(&b);
    CHECK(view_pb_short(&b, p, n, max) == 0);
    CHECK(max == 0 || b.len <= max);
    /* the preview's one pass writes what its walk writes */
    gw_buf w;
    gw_buf_init(&w, 1 << 22);
    view_pb_force_general(1);
    CHECK(view_pb_short(&w, p, n, max) == 0);
    view_pb_force_general(0);
    CHECK(w.len == b.len && memcmp(w.data, b.data, b.len) == 0);
    gw_buf_free(&w);
    gw_buf_free(&b);

    /* a tight cap: errors, never overruns */
    gw_buf_init(&b, 64);
    int e = view_pb_json(&b, p, n, &o);
    CHECK(e == 0 || e == GW_ECAP);
    CHECK(b.len <= 64);
    gw_buf_free(&b);
    return 0;
}
