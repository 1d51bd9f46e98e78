/* Schema-aware rendering (view_schema.h): JSON and the one-line form here; protoc's text format,
 * the tree and the method guesses in view_schema_text.c. Every renderer first splits a message
 * into its top-level fields and checks each against the schema (split, view_schema_int.h), so
 * the forms agree on what fits and what falls back to the schemaless renderers of view_pb.c. */
#include "view/view_schema_int.h"

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

/* The one-pass renderers' next field at q, into x with its declaration in m (or none), or 0 when
 * they do not take it: damaged, a group, or its number not above *prev. */
static ptrdiff_t fast_item(const pb_msgdef *m, const uint8_t *q, size_t left, uint32_t *prev,
                           item *x)
{
    pb_field *f = &x->f;
    ptrdiff_t k;
    if (!(k = pb_field_parse_quick(q, left, f)))
        k = pb_field_parse(q, left, f);
    if (k <= 0 || f->wire_type == PB_WT_EGROUP || f->wire_type == PB_WT_SGROUP ||
        f->number <= *prev)
        return 0;
    *prev = f->number;
    x->size = (size_t)k;
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
    return k;
}

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
        ptrdiff_t k = fast_item(m, p + off, n - off, &prev, x);
        if (!k)
            goto no;
        off += (size_t)k;
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

/* "name: ", after ", " unless it is the first. */
static void s_key(gw_buf *b, const pb_fdef *fd, int *first)
{
    if (!*first)
        put(b, ", ");
    *first = 0;
    t_name(b, fd);
    put(b, ": ");
}

/* s_fast: the message is not one it takes; what it wrote was taken back. */
#define S_FAST_NO 1

/* The usual one-line message in one pass, as s_msg writes it, without splitting it first. It
 * takes what j_fast takes, minus the mismatches it lists apart: fields that all parse, none a
 * group, numbers strictly ascending; the fields of m among them singular, no messages, and fit
 * (check) before all the others; the others as rest_simple takes them (for the short form). Then
 * split's order is the wire order. It writes on past stop_at where s_msg stops: the caller cuts
 * at max, below stop_at, so the bytes kept are the same. Anything else: S_FAST_NO. */
static int s_fast(ctx *c, const pb_msgdef *m, const uint8_t *p, size_t n, int depth)
{
    gw_buf *b = c->out;
    size_t mark = b->len, rest_total = 0;
    int first = 1, rest = 0;
    uint32_t prev = 0;
    gw_buf_putc(b, '{');
    for (size_t off = 0; off < n;) {
        item x;
        pb_field *f = &x.f;
        ptrdiff_t k = fast_item(m, p + off, n - off, &prev, &x);
        if (!k)
            goto no;
        off += (size_t)k;
        if (x.fd) {
            const pb_fdef *fd = x.fd;
            if (fd->label == PB_L_REPEATED || fd->type == PB_T_MESSAGE || fd->type == PB_T_GROUP)
                goto no;
            x.why = check(&x, depth, c->max_depth);
            if (!x.why) {
                if (rest)
                    goto no; /* split would sort it before the others */
                if (implicit_zero(&x))
                    continue;
                s_key(b, fd, &first);
                s_value(c, &x, depth);
                continue;
            }
        } else if (pb_schemas_find_extension(c->s, m->full_name, f->number)) {
            goto no;
        }
        /* One of the others: as rest_simple takes it (short form), as rest_put writes it. */
        if (f->wire_type == PB_WT_LEN
                ? x.blen > REST_STRING_MAX || (x.blen && !pb_printable_utf8(x.body, x.blen))
                : f->wire_type != PB_WT_VARINT)
            goto no;
        rest_total += x.size;
        if (rest_total > SHORT_SCAN_MAX)
            goto no;
        rest = 1;
        rest_item(b, &x, 0, &first);
    }
    gw_buf_putc(b, '}');
    return 0;
no:
    b->len = mark;
    return S_FAST_NO;
}

static void s_msg(ctx *c, const pb_msgdef *m, const uint8_t *p, size_t n, int depth)
{
    if (!__atomic_load_n(&force_general, __ATOMIC_RELAXED) && s_fast(c, m, p, n, depth) == 0)
        return;
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
        s_key(b, fd, &first);
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
