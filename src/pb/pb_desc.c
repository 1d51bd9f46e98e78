/* FileDescriptorSet / FileDescriptorProto (google/protobuf/descriptor.proto) decoded with our own
 * wire code into the schema model, as protoc --descriptor_set_out writes them and as gRPC
 * reflection returns them. Unknown fields are skipped; a wrong wire type on a field we read is
 * an error. Bounds: source size, nesting (max_nesting), and the arena cap. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/gw_err.h"
#include "common/gw_mem.h"
#include "pb/pb_schema.h"
#include "pb/pb_wire.h"

typedef struct dctx {
    pb_schemas *s;
    pb_filedef *f;
    int code;
    char why[160];
    jmp_buf jb; /* errors unwind the whole file: its allocations stay in the arena, capped */
} dctx;

static void fail(dctx *D, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4), noreturn));
static void fail(dctx *D, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(D->why, sizeof D->why, fmt, ap);
    va_end(ap);
    D->code = code;
    longjmp(D->jb, 1);
}

static void *alloc(dctx *D, size_t n)
{
    void *p = pb_arena_alloc(D->s, n);
    if (!p)
        fail(D, GW_ECAP, "schema size limit reached");
    return p;
}
static void *push(dctx *D, void *arr, size_t *n, size_t elsz)
{
    void *p = pb_arena_push(D->s, arr, n, elsz);
    if (!p)
        fail(D, GW_ECAP, "schema size limit reached");
    return p;
}

static char *join(dctx *D, const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *d = alloc(D, la + lb + 2);
    memcpy(d, a, la);
    if (la)
        d[la++] = '.';
    memcpy(d + la, b, lb + 1);
    return d;
}

/* Iterate the fields of p..n: for (it_init; it_next(...);) */
typedef struct iter {
    const uint8_t *p;
    size_t n, off;
    pb_field f;
} iter;

static int it_next(dctx *D, iter *it, const char *what)
{
    if (it->off >= it->n)
        return 0;
    ptrdiff_t k = pb_field_parse(it->p + it->off, it->n - it->off, &it->f);
    if (k <= 0)
        fail(D, GW_EPARSE, "malformed %s at offset %zu", what, it->off);
    if (it->f.wire_type == PB_WT_SGROUP || it->f.wire_type == PB_WT_EGROUP)
        fail(D, GW_EPARSE, "unexpected group in %s", what);
    it->off += (size_t)k;
    return 1;
}

static const char *str(dctx *D, const pb_field *f, const char *what)
{
    if (f->wire_type != PB_WT_LEN)
        fail(D, GW_EPARSE, "%s: wrong wire type", what);
    if (memchr(f->bytes, 0, (size_t)f->u))
        fail(D, GW_EPARSE, "%s: NUL in a name", what);
    char *r = pb_arena_strndup(D->s, (const char *)f->bytes, (size_t)f->u);
    if (!r)
        fail(D, GW_ECAP, "schema size limit reached");
    return r;
}
static int64_t num(dctx *D, const pb_field *f, const char *what)
{
    if (f->wire_type != PB_WT_VARINT)
        fail(D, GW_EPARSE, "%s: wrong wire type", what);
    return (int64_t)f->u;
}
static void need_len(dctx *D, const pb_field *f, const char *what)
{
    if (f->wire_type != PB_WT_LEN)
        fail(D, GW_EPARSE, "%s: wrong wire type", what);
}


static void range(dctx *D, const pb_field *x, pb_range **arr, size_t *n)
{
    need_len(D, x, "range");
    pb_range *r = push(D, arr, n, sizeof *r);
    iter it = {x->bytes, (size_t)x->u, 0, {0}};
    while (it_next(D, &it, "range")) {
        if (it.f.number == 1)
            r->start = (int32_t)num(D, &it.f, "range start");
        else if (it.f.number == 2)
            r->end = (int32_t)num(D, &it.f, "range end");
    }
}

static void field(dctx *D, const pb_field *x, pb_fdef **arr, size_t *n, const char *scope)
{
    need_len(D, x, "field");
    pb_fdef *f = push(D, arr, n, sizeof *f);
    f->oneof_index = -1;
    f->packed = -1;
    f->file = D->f;
    iter it = {x->bytes, (size_t)x->u, 0, {0}};
    while (it_next(D, &it, "field")) {
        switch (it.f.number) {
        case 1: f->name = str(D, &it.f, "field name"); break;
        case 2: f->extendee = str(D, &it.f, "extendee"); break;
        case 3: f->number = (uint32_t)num(D, &it.f, "field number"); break;
        case 4: f->label = (int)num(D, &it.f, "label"); break;
        case 5: f->type = (int)num(D, &it.f, "type"); break;
        case 6: f->type_name = str(D, &it.f, "type name"); break;
        case 7: f->default_value = str(D, &it.f, "default"); break;
        case 8: {
            need_len(D, &it.f, "field options");
            iter o = {it.f.bytes, (size_t)it.f.u, 0, {0}};
            while (it_next(D, &o, "field options"))
                if (o.f.number == 2)
                    f->packed = num(D, &o.f, "packed") != 0;
            break;
        }
        case 9: f->oneof_index = (int)num(D, &it.f, "oneof index"); break;
        case 10: f->json_name = str(D, &it.f, "json name"); break;
        case 17: f->proto3_optional = num(D, &it.f, "proto3_optional") != 0; break;
        default: break;
        }
    }
    if (!f->name)
        fail(D, GW_EPARSE, "a field without a name");
    if (f->number == 0 || f->number > 536870911)
        fail(D, GW_EPARSE, "field %s: bad number", f->name);
    if (f->type < 0 || f->type > PB_T_SINT64 || f->label < 1 || f->label > 3)
        fail(D, GW_EPARSE, "field %s: bad type or label", f->name);
    if ((f->type == PB_T_MESSAGE || f->type == PB_T_GROUP || f->type == PB_T_ENUM || f->type == 0) &&
        (!f->type_name || f->type_name[0] != '.'))
        fail(D, GW_EPARSE, "field %s: type name not fully qualified", f->name);
    if (f->type != 0 && f->type != PB_T_MESSAGE && f->type != PB_T_GROUP && f->type != PB_T_ENUM)
        f->type_name = NULL;
    if (!f->json_name)
        f->json_name = pb_json_name(D->s, f->name);
    if (!f->json_name)
        fail(D, GW_ECAP, "schema size limit reached");
    if (f->extendee)
        f->full_name = join(D, scope, f->name);
}

static pb_enumdef *enumdef(dctx *D, const pb_field *x, const char *scope)
{
    need_len(D, x, "enum");
    pb_enumdef *e = alloc(D, sizeof *e);
    e->file = D->f;
    iter it = {x->bytes, (size_t)x->u, 0, {0}};
    while (it_next(D, &it, "enum")) {
        switch (it.f.number) {
        case 1: e->name = str(D, &it.f, "enum name"); break;
        case 2: {
            need_len(D, &it.f, "enum value");
            pb_enumval *v = push(D, &e->vals, &e->n_vals, sizeof *v);
            iter vi = {it.f.bytes, (size_t)it.f.u, 0, {0}};
            while (it_next(D, &vi, "enum value")) {
                if (vi.f.number == 1)
                    v->name = str(D, &vi.f, "enum value name");
                else if (vi.f.number == 2)
                    v->number = (int32_t)num(D, &vi.f, "enum value number");
            }
            if (!v->name)
                fail(D, GW_EPARSE, "an enum value without a name");
            break;
        }
        case 4: range(D, &it.f, &e->reserved, &e->n_reserved); break;
        case 5: {
            const char **slot = push(D, &e->reserved_names, &e->n_reserved_names, sizeof *slot);
            *slot = str(D, &it.f, "reserved name");
            break;
        }
        default: break;
        }
    }
    if (!e->name)
        fail(D, GW_EPARSE, "an enum without a name");
    e->full_name = join(D, scope, e->name);
    return e;
}

static pb_msgdef *message(dctx *D, const pb_field *x, const char *scope, int depth)
{
    need_len(D, x, "message");
    if (depth > pb_schemas_limits(D->s)->max_nesting)
        fail(D, GW_ECAP, "messages nested too deeply");
    pb_msgdef *m = alloc(D, sizeof *m);
    m->file = D->f;
    /* The name first: nested declarations need the full name as their scope. */
    iter it = {x->bytes, (size_t)x->u, 0, {0}};
    while (it_next(D, &it, "message"))
        if (it.f.number == 1)
            m->name = str(D, &it.f, "message name");
    if (!m->name)
        fail(D, GW_EPARSE, "a message without a name");
    m->full_name = join(D, scope, m->name);
    it.off = 0;
    while (it_next(D, &it, "message")) {
        switch (it.f.number) {
        case 2: field(D, &it.f, &m->fields, &m->n_fields, m->full_name); break;
        case 3: {
            pb_msgdef **slot = push(D, &m->nested, &m->n_nested, sizeof *slot);
            *slot = message(D, &it.f, m->full_name, depth + 1);
            break;
        }
        case 4: {
            pb_enumdef **slot = push(D, &m->enums, &m->n_enums, sizeof *slot);
            *slot = enumdef(D, &it.f, m->full_name);
            break;
        }
        case 5: range(D, &it.f, &m->ext_ranges, &m->n_ext_ranges); break;
        case 6: field(D, &it.f, &m->extensions, &m->n_extensions, m->full_name); break;
        case 7: {
            need_len(D, &it.f, "message options");
            iter o = {it.f.bytes, (size_t)it.f.u, 0, {0}};
            while (it_next(D, &o, "message options"))
                if (o.f.number == 7)
                    m->map_entry = num(D, &o.f, "map_entry") != 0;
            break;
        }
        case 8: {
            need_len(D, &it.f, "oneof");
            const char **slot = push(D, &m->oneofs, &m->n_oneofs, sizeof *slot);
            *slot = "";
            iter o = {it.f.bytes, (size_t)it.f.u, 0, {0}};
            while (it_next(D, &o, "oneof"))
                if (o.f.number == 1)
                    *slot = str(D, &o.f, "oneof name");
            break;
        }
        case 9: range(D, &it.f, &m->reserved, &m->n_reserved); break;
        case 10: {
            const char **slot = push(D, &m->reserved_names, &m->n_reserved_names, sizeof *slot);
            *slot = str(D, &it.f, "reserved name");
            break;
        }
        default: break;
        }
    }
    for (size_t i = 0; i < m->n_fields; i++)
        if (m->fields[i].oneof_index >= (int)m->n_oneofs)
            fail(D, GW_EPARSE, "field %s: oneof index out of range", m->fields[i].name);
    return m;
}

static pb_servicedef *service(dctx *D, const pb_field *x, const char *scope)
{
    need_len(D, x, "service");
    pb_servicedef *sv = alloc(D, sizeof *sv);
    sv->file = D->f;
    iter it = {x->bytes, (size_t)x->u, 0, {0}};
    while (it_next(D, &it, "service")) {
        if (it.f.number == 1) {
            sv->name = str(D, &it.f, "service name");
        } else if (it.f.number == 2) {
            need_len(D, &it.f, "method");
            pb_methoddef *md = push(D, &sv->methods, &sv->n_methods, sizeof *md);
            iter mi = {it.f.bytes, (size_t)it.f.u, 0, {0}};
            while (it_next(D, &mi, "method")) {
                switch (mi.f.number) {
                case 1: md->name = str(D, &mi.f, "method name"); break;
                case 2: md->input_type = str(D, &mi.f, "input type"); break;
                case 3: md->output_type = str(D, &mi.f, "output type"); break;
                case 5: md->client_streaming = num(D, &mi.f, "client_streaming") != 0; break;
                case 6: md->server_streaming = num(D, &mi.f, "server_streaming") != 0; break;
                default: break;
                }
            }
            if (!md->name || !md->input_type || !md->output_type)
                fail(D, GW_EPARSE, "a method without a name or types");
        }
    }
    if (!sv->name)
        fail(D, GW_EPARSE, "a service without a name");
    sv->full_name = join(D, scope, sv->name);
    return sv;
}

static int file_proto(pb_schemas *s, const uint8_t *p, size_t n, int learned, char *err,
                      size_t errlen, int *added)
{
    dctx *D = gw_calloc(1, sizeof *D);
    if (!D)
        return GW_ENOMEM;
    int rc = 0;
    D->s = s;
    *added = 0;
    if (setjmp(D->jb)) {
        rc = D->code;
        if (err && errlen)
            snprintf(err, errlen, "file descriptor %s: %s", D->f && D->f->name ? D->f->name : "?",
                     D->why);
        goto out;
    }
    pb_filedef *f = alloc(D, sizeof *f);
    D->f = f;
    f->package = "";
    f->syntax = 2;
    f->learned = learned;
    iter it = {p, n, 0, {0}};
    while (it_next(D, &it, "file"))
        if (it.f.number == 1)
            f->name = str(D, &it.f, "file name");
        else if (it.f.number == 2)
            f->package = str(D, &it.f, "package");
    if (!f->name)
        fail(D, GW_EPARSE, "a file without a name");
    if (pb_schemas_find_file(s, f->name))
        goto out;
    it.off = 0;
    while (it_next(D, &it, "file")) {
        switch (it.f.number) {
        case 3: {
            const char **slot = push(D, &f->deps, &f->n_deps, sizeof *slot);
            *slot = str(D, &it.f, "dependency");
            break;
        }
        case 4: {
            pb_msgdef **slot = push(D, &f->messages, &f->n_messages, sizeof *slot);
            *slot = message(D, &it.f, f->package, 1);
            break;
        }
        case 5: {
            pb_enumdef **slot = push(D, &f->enums, &f->n_enums, sizeof *slot);
            *slot = enumdef(D, &it.f, f->package);
            break;
        }
        case 6: {
            pb_servicedef **slot = push(D, &f->services, &f->n_services, sizeof *slot);
            *slot = service(D, &it.f, f->package);
            break;
        }
        case 7: field(D, &it.f, &f->extensions, &f->n_extensions, f->package); break;
        case 10: {
            int32_t *slot = push(D, &f->public_deps, &f->n_public_deps, sizeof *slot);
            *slot = (int32_t)num(D, &it.f, "public dependency");
            break;
        }
        case 12: {
            const char *syn = str(D, &it.f, "syntax");
            f->syntax = strcmp(syn, "proto3") == 0 ? 3 : 2;
            break;
        }
        default: break;
        }
    }
    rc = pb_schemas_register(s, f);
    if (rc && err && errlen)
        snprintf(err, errlen, "file descriptor %s: %s", f->name, gw_strerror(rc));
    *added = rc == 0;
out:
    gw_free(D);
    return rc;
}

int pb_schemas_add_fdproto(pb_schemas *s, const uint8_t *p, size_t n, int learned, char *err,
                           size_t errlen)
{
    int added;
    if (n > pb_schemas_limits(s)->max_source) {
        if (err && errlen)
            snprintf(err, errlen, "file descriptor larger than the schema source limit");
        return GW_ECAP;
    }
    return file_proto(s, p, n, learned, err, errlen, &added);
}

int pb_schemas_load_descset(pb_schemas *s, const uint8_t *p, size_t n, char *err, size_t errlen)
{
    if (n > pb_schemas_limits(s)->max_source) {
        if (err && errlen)
            snprintf(err, errlen, "descriptor set larger than the schema source limit");
        return GW_ECAP;
    }
    size_t off = 0;
    while (off < n) {
        pb_field f;
        ptrdiff_t k = pb_field_parse(p + off, n - off, &f);
        if (k <= 0 || (f.number == 1 && f.wire_type != PB_WT_LEN) || f.wire_type == PB_WT_SGROUP ||
            f.wire_type == PB_WT_EGROUP) {
            if (err && errlen)
                snprintf(err, errlen, "not a FileDescriptorSet (offset %zu)", off);
            return GW_EPARSE;
        }
        off += (size_t)k;
        if (f.number != 1)
            continue;
        int added, e = file_proto(s, f.bytes, (size_t)f.u, 0, err, errlen, &added);
        if (e)
            return e;
    }
    return 0;
}

int pb_schemas_load_protoset_file(pb_schemas *s, const char *path, char *err, size_t errlen)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        if (err && errlen)
            snprintf(err, errlen, "%s: cannot open", path);
        return GW_ENOTFOUND;
    }
    gw_buf b;
    gw_buf_init(&b, pb_schemas_limits(s)->max_source);
    uint8_t chunk[8192];
    size_t k;
    int e = 0;
    while (!e && (k = fread(chunk, 1, sizeof chunk, fp)) > 0)
        e = gw_buf_append(&b, chunk, k);
    if (!e && ferror(fp))
        e = GW_EIO;
    fclose(fp);
    if (e) {
        if (err && errlen)
            snprintf(err, errlen, "%s: %s", path, gw_strerror(e));
    } else {
        char why[200];
        e = pb_schemas_load_descset(s, b.data ? b.data : (const uint8_t *)"", b.len, why, sizeof why);
        if (e && err && errlen)
            snprintf(err, errlen, "%s: %s", path, why);
    }
    gw_buf_free(&b);
    return e;
}

/* ServerReflectionResponse (grpc/reflection/v1/reflection.proto):
 *   4: file_descriptor_response { 1: repeated bytes file_descriptor_proto } */
int pb_schemas_learn_reflection(pb_schemas *s, const uint8_t *p, size_t n)
{
    int loaded = 0;
    size_t off = 0;
    while (off < n) {
        pb_field f;
        ptrdiff_t k = pb_field_parse(p + off, n - off, &f);
        if (k <= 0)
            return loaded;
        off += (size_t)k;
        if (f.number != 4 || f.wire_type != PB_WT_LEN)
            continue;
        size_t o2 = 0;
        while (o2 < f.u) {
            pb_field g;
            ptrdiff_t k2 = pb_field_parse(f.bytes + o2, (size_t)f.u - o2, &g);
            if (k2 <= 0)
                break;
            o2 += (size_t)k2;
            if (g.number != 1 || g.wire_type != PB_WT_LEN)
                continue;
            int added = 0, e;
            if (g.u > pb_schemas_limits(s)->max_source)
                continue;
            e = file_proto(s, g.bytes, (size_t)g.u, 1, NULL, 0, &added);
            if (e == GW_ENOMEM)
                return e;
            loaded += added;
        }
    }
    return loaded;
}
