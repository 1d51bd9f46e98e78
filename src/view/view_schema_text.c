/* Schema-aware text renderings (view_schema.h): protoc's text format, the Wireshark-like
 * tree, and the method guesses; the JSON and one-line forms are in view_schema.c. */
#include "view/view_schema_int.h"

/* ---- text format (protoc --decode) --------------------------------------------------------- */

static void t_msg(ctx *c, const pb_msgdef *m, const uint8_t *p, size_t n, int indent, int depth);

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
