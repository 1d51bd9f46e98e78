/* The call log: one line per call in completion order (or one NDJSON object). */
#include "view/view_impl.h"

#include <inttypes.h>
#include <string.h>

#include "common/gw_err.h"
#include "common/gw_mem.h"

#include "view/view_explain.h"
#include "view/view_pb.h"
#include "view/view_schema.h"

#define SHORT_MAX 60

static int call_selected(const view *v, const grpc_call *c)
{
    if (v->o.conn >= 0 && (int64_t)c->conn_index != v->o.conn)
        return 0;
    if (v->o.stream >= 0 && (int64_t)c->stream != v->o.stream)
        return 0;
    return 1;
}

/* The first retained message of one direction, or NULL. */
static const grpc_msg *first_msg(const grpc_call *c, int from_client)
{
    for (size_t i = 0; i < c->n_msgs; i++)
        if (c->msgs[i].from_client == from_client)
            return &c->msgs[i];
    return NULL;
}

/* The call log's line is built from many small pieces: appends inline when there is room. */
#define PUT_LIT(b, lit) gw_buf_append((b), "" lit, sizeof(lit) - 1)

/* A C string, "(null)" for NULL as printf's %s would write. */
static void put(gw_buf *b, const char *s)
{
    if (!s)
        s = "(null)";
    if (*s) /* colors are "" when off: four per line */
        gw_buf_append(b, s, strlen(s));
}

/* strcmp(kind, "grpc+json") == 0 for every message: usually "grpc", which differs at byte 4 (the
 * comparison stops at the first difference, so never past the end of a shorter string). */
static int is_grpc_json(const char *kind)
{
    static const char want[] = "grpc+json";
    if (!kind)
        return 0;
    size_t i = 0;
    while (i < sizeof want - 1 && kind[i] == want[i])
        i++;
    return i == sizeof want - 1 && kind[i] == '\0';
}

/* t: the message's schema type (looked up once per call by text_line), or NULL. */
static void short_msg(view *v, const grpc_call *c, const grpc_msg *m, const pb_msgdef *t)
{
    gw_buf *b = &v->out;
    if (!m) {
        gw_buf_append(b, "-", 1);
    } else if (!m->data) {
        PUT_LIT(b, "<");
        gw_buf_put_u64(b, m->length);
        PUT_LIT(b, "B not kept>");
    } else if (!m->decoded) {
        PUT_LIT(b, "<");
        put(b, m->encoding ? m->encoding : "?");
        PUT_LIT(b, " ");
        gw_buf_put_u64(b, m->length);
        PUT_LIT(b, "B>");
    } else if (is_grpc_json(c->kind)) {
        view_fmt_text(b, (const char *)m->data, m->data_len, SHORT_MAX);
    } else {
        if (t)
            view_schema_short(b, v->o.schemas, t, m->data, m->data_len, SHORT_MAX);
        else
            view_pb_short(b, m->data, m->data_len, SHORT_MAX);
    }
}

/* The status column: what a client would have seen. No printf: it runs once per call. */
static void status_col(view *v, const grpc_call *c)
{
    gw_buf *b = &v->out;
    const view_colors *k = v->c;
    if (c->grpc_status >= 0) {
        put(b, c->grpc_status == 0 ? k->green : k->red);
        put(b, grpc_status_name(c->grpc_status));
        put(b, k->reset);
    } else if (c->rst_code >= 0) {
        put(b, k->red);
        PUT_LIT(b, "RST_STREAM(");
        put(b, h2_error_name((uint32_t)c->rst_code));
        PUT_LIT(b, ")");
        if (c->implied_status >= 0) {
            PUT_LIT(b, "=");
            put(b, grpc_status_name(c->implied_status));
        }
        put(b, k->reset);
    } else if (c->http_status >= 0 && c->http_status != 200) {
        put(b, k->red);
        PUT_LIT(b, "HTTP ");
        gw_buf_put_i64(b, c->http_status);
        if (c->is_grpc && c->implied_status >= 0) {
            PUT_LIT(b, "=");
            put(b, grpc_status_name(c->implied_status));
        }
        put(b, k->reset);
    } else if (!c->is_grpc && c->http_status >= 0) {
        PUT_LIT(b, "HTTP ");
        gw_buf_put_i64(b, c->http_status);
    } else if (c->implied_status >= 0) {
        put(b, k->red);
        put(b, grpc_status_name(c->implied_status));
        put(b, k->reset);
    } else {
        put(b, k->yellow);
        PUT_LIT(b, "-");
        put(b, k->reset);
    }
}

static void text_line(view *v, const grpc_call *c)
{
    gw_buf *b = &v->out;
    const view_colors *k = v->c;
    view_fmt_clock(b, c->t_start);
    gw_buf_putc(b, ' ');
    view_fmt_endpoint(b, &c->client);
    gw_buf_append(b, " \xe2\x86\x92 ", 5); /* → */
    view_fmt_endpoint(b, &c->server);
    PUT_LIT(b, " ");
    put(b, k->bold);
    char guess[256];
    double score;
    if (c->method)
        view_fmt_text(b, c->method, strlen(c->method), 200);
    else if (view_schema_call_guess(v->o.schemas, c, guess, sizeof guess, &score))
        gw_buf_printf(b, "?%s (guess, score %.2f)", guess, score);
    else {
        PUT_LIT(b, "?stream=");
        gw_buf_put_u64(b, c->stream);
    }
    put(b, k->reset);
    PUT_LIT(b, " ");
    if (!c->is_grpc && c->method) {
        PUT_LIT(b, "[");
        put(b, c->content_type ? c->content_type : "no content-type");
        PUT_LIT(b, "] ");
    }
    status_col(v, c);
    gw_buf_putc(b, ' ');
    view_fmt_duration(b, c->t_end - c->t_start);
    if (c->timeout_ns >= 0) { /* the deadline beside what it took */
        gw_buf_append(b, "/", 1);
        view_fmt_duration(b, c->timeout_ns);
    }
    PUT_LIT(b, " req ");
    gw_buf_put_u64(b, c->n_req);
    PUT_LIT(b, "/");
    view_fmt_bytes(b, c->req_bytes);
    PUT_LIT(b, " resp ");
    gw_buf_put_u64(b, c->n_resp);
    PUT_LIT(b, "/");
    view_fmt_bytes(b, c->resp_bytes);
    gw_buf_putc(b, ' ');
    /* One method lookup for both previews (view_schema_type would look it up twice). */
    const pb_methoddef *md = pb_schemas_find_method_cached(v->o.schemas, c->method);
    short_msg(v, c, first_msg(c, 1), md ? md->in : NULL);
    gw_buf_append(b, " \xe2\x86\x92 ", 5);
    short_msg(v, c, first_msg(c, 0), md ? md->out : NULL);
    if (c->grpc_message && *c->grpc_message) {
        gw_buf_append(b, " \"", 2);
        view_fmt_text(b, c->grpc_message, strlen(c->grpc_message), 120);
        gw_buf_putc(b, '"');
    }
    if (!c->complete) {
        PUT_LIT(b, " ");
        put(b, k->yellow);
        PUT_LIT(b, "[incomplete]");
        put(b, k->reset);
    }
    for (size_t i = 0; i < c->n_anomalies; i++) {
        PUT_LIT(b, " ");
        put(b, k->magenta);
        PUT_LIT(b, "[");
        put(b, c->anomalies[i]);
        PUT_LIT(b, "]");
        put(b, k->reset);
    }
    gw_buf_putc(b, '\n');
}

/* A call's message jobs by record index (--json): made as messages complete in
 * --json=messages (written alone, then again in the call), else when the call ends. Live ones
 * are linked so that the view can free them if calls are dropped without ending. */
typedef struct call_jobs {
    struct call_jobs *prev, *next;
    view_job **j;
    size_t cap;
} call_jobs;

typedef struct calls_state {
    call_jobs *live;
} calls_state;

static call_jobs *jobs_of(view *v, grpc_call *c, size_t need)
{
    calls_state *st = v->state;
    call_jobs *cj = c->user;
    if (!cj) {
        cj = gw_calloc(1, sizeof *cj); /* owned by the view: jobs_free */
        if (!cj)
            return NULL;
        cj->next = st->live;
        if (st->live)
            st->live->prev = cj;
        st->live = cj;
        c->user = cj;
    }
    if (need > cj->cap) {
        size_t nc = cj->cap ? cj->cap : 8;
        while (nc < need)
            nc *= 2;
        view_job **nj = gw_realloc(cj->j, nc * sizeof *nj);
        if (!nj)
            return NULL;
        memset(nj + cj->cap, 0, (nc - cj->cap) * sizeof *nj);
        cj->j = nj;
        cj->cap = nc;
    }
    return cj;
}

static void jobs_free(view *v, call_jobs *cj)
{
    calls_state *st = v->state;
    if (!cj)
        return;
    for (size_t i = 0; i < cj->cap; i++)
        view_job_unref(cj->j[i]);
    if (cj->prev)
        cj->prev->next = cj->next;
    else
        st->live = cj->next;
    if (cj->next)
        cj->next->prev = cj->prev;
    gw_free(cj->j);
    gw_free(cj);
}

static void on_message(void *u, grpc_call *c, const grpc_msg *m)
{
    view *v = u;
    if (v->done || v->o.json != VIEW_JSON_MESSAGES || !call_selected(v, c))
        return;
    if (!m->data || m->data_len < VIEW_JOB_MIN) {
        /* Small: rendered here now, and again from the call's record when the call ends. */
        view_json_message_head(v, c, m->from_client);
        view_json_message_here(v, c, m);
        gw_buf_append(&v->out, "}\n", 2);
        if (v->o.line_flush || v->out.len >= VIEW_FLUSH_AT)
            view_flush(v);
        return;
    }
    /* The call's record of m, when it kept the bytes: the job takes them, the call shows it. */
    size_t last = c->n_msgs - 1;
    int kept = c->n_msgs && c->msgs[last].from_client == m->from_client &&
               c->msgs[last].index == m->index && c->msgs[last].data &&
               c->msgs[last].data_len;
    call_jobs *cj = kept ? jobs_of(v, c, c->n_msgs) : NULL;
    view_job *j = view_json_message_job(v, c, m, cj ? grpc_call_take_data(c, last) : NULL);
    if (!j)
        return;
    view_json_message_head(v, c, m->from_client);
    view_put_job(v, j, cj == NULL); /* without cj, our reference goes with it */
    gw_buf_append(&v->out, "}\n", 2);
    if (cj)
        cj->j[last] = j; /* the call's reference */
    if (v->o.line_flush || v->out.len >= VIEW_FLUSH_AT)
        view_flush(v);
}

/* Large retained messages get a job (rendered on the writer thread when there is one); the
 * others are rendered in place from the call's record. */
static void json_call(view *v, grpc_call *c)
{
    size_t big = 0;
    for (size_t i = 0; i < c->n_msgs; i++)
        big += c->msgs[i].data && c->msgs[i].data_len >= VIEW_JOB_MIN;
    if (!big && !c->user) {
        view_json_call(v, c, NULL);
        return;
    }
    call_jobs *cj = jobs_of(v, c, c->n_msgs);
    if (!cj) {
        v->err = GW_ENOMEM;
        return;
    }
    for (size_t i = 0; i < c->n_msgs; i++) {
        const grpc_msg *m = &c->msgs[i];
        if (cj->j[i] || !m->data || m->data_len < VIEW_JOB_MIN)
            continue;
        cj->j[i] = view_json_message_job(v, c, m, grpc_call_take_data(c, i));
        /* NULL (out of memory): its bytes were freed; the record shows them as not kept */
    }
    view_json_call(v, c, cj->j);
}

static void on_call_end(void *u, grpc_call *c)
{
    view *v = u;
    if (!v->done && call_selected(v, c)) {
        if (v->o.json)
            json_call(v, c);
        else
            text_line(v, c);
        if (v->o.explain && !v->o.json)
            view_explain_call(&v->out, c, "    ", "\n");
        view_record_done(v);
    }
    jobs_free(v, c->user);
    c->user = NULL;
}

static void calls_del(view *v)
{
    calls_state *st = v->state;
    while (st && st->live)
        jobs_free(v, st->live);
    gw_free(st);
    v->state = NULL;
}

int view_calls_init(view *v, dissect_sink *s)
{
    v->state = gw_calloc(1, sizeof(calls_state)); /* owned by the view: calls_del */
    if (!v->state)
        return GW_ENOMEM;
    v->del_state = calls_del;
    s->on_message = on_message;
    s->on_call_end = on_call_end;
    return 0;
}
