/* The NDJSON records: the public contract documented in docs/json.md. Extend, never break. */
#include "view/view_impl.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <string.h>

#include "common/gw_mem.h"
#include "view/view_pb.h"
#include "view/view_schema.h"

void view_json_cstr(gw_buf *b, const char *s)
{
    if (s)
        view_json_string(b, s, strlen(s));
    else
        VIEW_PUT(b, "null");
}

/* Header lists longer than this (escaped, worst case) are written piece by piece. */
#define KV_DIRECT_MAX (256u << 10)

void view_json_kv_list(gw_buf *b, const grpc_kv *kv, size_t n)
{
    /* The common case in one reservation: [["name","value"],...] is 8 bytes per pair around
     * the escaped strings (each at most 6 bytes per byte). */
    size_t need = 2;
    for (size_t i = 0; i < n && need <= KV_DIRECT_MAX; i++)
        need += 8 + 6 * (kv[i].name_len + kv[i].value_len);
    if (need <= KV_DIRECT_MAX && gw_buf_reserve(b, need) == 0) {
        uint8_t *d = b->data + b->len, *o = d;
        *o++ = '[';
        for (size_t i = 0; i < n; i++) {
            if (i)
                *o++ = ',';
            *o++ = '[';
            o += view_json_string_into(o, kv[i].name, kv[i].name_len);
            *o++ = ',';
            o += view_json_string_into(o, kv[i].value, kv[i].value_len);
            *o++ = ']';
        }
        *o++ = ']';
        b->len += (size_t)(o - d);
        return;
    }
    gw_buf_putc(b, '[');
    for (size_t i = 0; i < n; i++) {
        if (i)
            gw_buf_putc(b, ',');
        gw_buf_putc(b, '[');
        view_json_string(b, kv[i].name, kv[i].name_len);
        gw_buf_putc(b, ',');
        view_json_string(b, kv[i].value, kv[i].value_len);
        gw_buf_putc(b, ']');
    }
    gw_buf_putc(b, ']');
}

static void json_int_or_null(gw_buf *b, const char *key, size_t key_len, int64_t v)
{
    gw_buf_append(b, key, key_len);
    if (v < 0)
        VIEW_PUT(b, "null");
    else
        gw_buf_put_i64(b, v);
}
#define INT_OR_NULL(b, key, v) json_int_or_null(b, ",\"" key "\":", sizeof key + 3, v)

static void json_bool(gw_buf *b, int v)
{
    gw_buf_append(b, v ? "true" : "false", v ? 4 : 5);
}

static void json_endpoints(gw_buf *b, const grpc_call *c)
{
    VIEW_PUT(b, "\"client\":\"");
    view_fmt_endpoint(b, &c->client);
    VIEW_PUT(b, "\",\"server\":\"");
    view_fmt_endpoint(b, &c->server);
    gw_buf_putc(b, '"');
}

/* A message object's body, rendered once (on the writer thread when there is one) and written
 * alone (--json=messages) and inside its call. It owns everything it reads except the view's
 * options, which stay put while jobs run (view_sync before changing schemas). */
typedef struct msg_job {
    view_job j;             /* first */
    grpc_msg m;             /* data -> owned or "", encoding -> enc or enc_short */
    uint8_t *owned;         /* the bytes: taken from the call (grpc_call_take_data) or copied */
    char *enc;              /* a long encoding name, owned; short ones live in enc_short */
    char enc_short[24];
    const pb_msgdef *type;  /* the method's message type, or NULL */
    int fields;             /* render "fields" (a decoded protobuf message) */
    int had_method;         /* the call's method was known when the job was made */
    const view_opts *o;
} msg_job;

static void message_render(view_job *vj, gw_buf *b)
{
    msg_job *x = (msg_job *)vj;
    const grpc_msg *m = &x->m;
    (void)gw_buf_reserve(b, x->j.weight); /* one allocation instead of a doubling series */
    VIEW_PUT(b, "\"index\":");
    gw_buf_put_u64(b, m->index);
    VIEW_PUT(b, ",\"length\":");
    gw_buf_put_u64(b, m->length);
    VIEW_PUT(b, ",\"compressed\":");
    json_bool(b, m->compressed);
    VIEW_PUT(b, ",\"encoding\":");
    view_json_cstr(b, m->encoding);
    VIEW_PUT(b, ",\"time\":\"");
    view_fmt_rfc3339(b, m->ts_ns);
    gw_buf_putc(b, '"');
    if (!m->data) {
        VIEW_PUT(b, ",\"data\":null,\"fields\":null");
    } else {
        VIEW_PUT(b, ",\"data\":\"");
        view_base64(b, m->data, m->data_len);
        VIEW_PUT(b, "\",\"fields\":");
        if (!x->fields)
            VIEW_PUT(b, "null");
        else if (x->type)
            view_schema_json(b, x->o->schemas, x->type, m->data, m->data_len, &x->o->pb);
        else
            view_pb_json(b, m->data, m->data_len, &x->o->pb);
        if (x->type) {
            VIEW_PUT(b, ",\"message_type\":");
            view_json_cstr(b, x->type->full_name);
        }
    }
    VIEW_PUT(b, ",\"decoded\":");
    json_bool(b, m->decoded);
    VIEW_PUT(b, ",\"truncated\":");
    json_bool(b, m->truncated);
    if (m->why) {
        VIEW_PUT(b, ",\"why\":");
        view_json_cstr(b, m->why);
    }
}

static void message_free(view_job *vj)
{
    msg_job *x = (msg_job *)vj;
    gw_free(x->owned);
    gw_free(x->enc);
    gw_free(x);
}

/* What a message's rendering needs besides its bytes: the type and whether to show fields. */
static void msg_setup(view *v, const grpc_call *c, msg_job *x)
{
    x->o = &v->o;
    x->had_method = c->method != NULL;
    if (x->m.data) {
        x->type = view_schema_type(v->o.schemas, c->method, x->m.from_client);
        x->fields = x->m.decoded && !x->m.truncated && c->is_grpc &&
                    !(c->kind && strcmp(c->kind, "grpc+json") == 0);
    }
    /* Base64 is 4/3 of the bytes, the fields about as much again. */
    x->j.weight = 256 + x->m.data_len * 3;
}

void view_json_message_here(view *v, const grpc_call *c, const grpc_msg *m)
{
    msg_job x;
    memset(&x, 0, sizeof x);
    x.m = *m;
    msg_setup(v, c, &x);
    message_render(&x.j, &v->out);
}

view_job *view_json_message_job(view *v, const grpc_call *c, const grpc_msg *m, uint8_t *take)
{
    msg_job *x = gw_calloc(1, sizeof *x); /* owned by its references: view_job_unref */
    if (!x) {
        gw_free(take);
        return NULL;
    }
    x->j.render = message_render;
    x->j.free = message_free;
    atomic_init(&x->j.refs, 1);
    atomic_init(&x->j.state, 0);
    x->m = *m;
    const char *enc = m->encoding ? m->encoding : "identity";
    size_t el = strlen(enc);
    if (el < sizeof x->enc_short)
        x->m.encoding = memcpy(x->enc_short, enc, el + 1);
    else
        x->m.encoding = (x->enc = gw_strdup(enc)) ? x->enc : "identity";
    if (take) {
        x->owned = take;
        x->m.data = take;
    } else if (m->data && m->data_len) {
        x->owned = gw_malloc(m->data_len);
        if (x->owned)
            memcpy(x->owned, m->data, m->data_len);
        x->m.data = x->owned; /* out of memory: shown as not kept */
        if (!x->owned)
            x->m.data_len = 0;
    } else if (m->data) {
        x->m.data = (const uint8_t *)"";
    }
    msg_setup(v, c, x);
    return &x->j;
}

/* {"type":T,"conn":..,"client":..,"server":..,"stream":..,"method":.. - what calls and
 * messages begin with. */
static void record_head(gw_buf *b, const char *type, const grpc_call *c)
{
    VIEW_PUT(b, "{\"type\":\"");
    gw_buf_append(b, type, strlen(type));
    VIEW_PUT(b, "\",\"conn\":");
    gw_buf_put_u64(b, c->conn_index);
    gw_buf_putc(b, ',');
    json_endpoints(b, c);
    VIEW_PUT(b, ",\"stream\":");
    gw_buf_put_u64(b, c->stream);
    VIEW_PUT(b, ",\"method\":");
    view_json_cstr(b, c->method);
}

void view_json_message_head(view *v, const grpc_call *c, int from_client)
{
    gw_buf *b = &v->out;
    record_head(b, "message", c);
    if (from_client)
        VIEW_PUT(b, ",\"direction\":\"request\",");
    else
        VIEW_PUT(b, ",\"direction\":\"response\",");
}

/* jobs[i] renders c->msgs[i]; NULL entries are rendered here from the record. */
static void messages_array(view *v, const grpc_call *c, int from_client, view_job **jobs)
{
    gw_buf *b = &v->out;
    int first = 1;
    gw_buf_putc(b, '[');
    for (size_t i = 0; i < c->n_msgs; i++) {
        const grpc_msg *m = &c->msgs[i];
        if (m->from_client != from_client)
            continue;
        if (!first)
            gw_buf_putc(b, ',');
        first = 0;
        gw_buf_putc(b, '{');
        msg_job *x = jobs ? (msg_job *)jobs[i] : NULL;
        if (x && !x->had_method && c->method) {
            /* Made (--json=messages) before the request headers named the method: the call
             * shows what is known now, as a message rendered here would. */
            view_json_message_here(v, c, &x->m);
        } else if (x) {
            view_put_job(v, &x->j);
        } else {
            view_json_message_here(v, c, m); /* small, or its job could not be made */
        }
        gw_buf_putc(b, '}');
    }
    gw_buf_putc(b, ']');
}

/* grpc-status-details-bin is a google.rpc.Status: {code (1), message (2), details (3): Any
 * {type_url (1), value (2)}}. Shown by name whatever schemas are loaded; bytes that are not a
 * Status fall back to the schemaless rendering. */
static int any_json(gw_buf *b, const uint8_t *p, size_t n)
{
    const uint8_t *url = NULL, *val = NULL;
    size_t url_len = 0, val_len = 0;
    for (size_t off = 0; off < n;) {
        pb_field f;
        ptrdiff_t k = pb_field_parse(p + off, n - off, &f);
        if (k <= 0 || f.wire_type != PB_WT_LEN || (f.number != 1 && f.number != 2))
            return -1;
        if (f.number == 1)
            url = f.bytes, url_len = (size_t)f.u;
        else
            val = f.bytes, val_len = (size_t)f.u;
        off += (size_t)k;
    }
    VIEW_PUT(b, "{\"type_url\":");
    view_json_string(b, url ? (const char *)url : "", url_len);
    VIEW_PUT(b, ",\"value\":\"");
    view_base64(b, val ? val : (const uint8_t *)"", val_len);
    VIEW_PUT(b, "\"}");
    return 0;
}

static void status_details_json(view *v, gw_buf *b, const uint8_t *p, size_t n)
{
    size_t mark = b->len;
    int64_t code = 0;
    const uint8_t *msg = NULL;
    size_t msg_len = 0, ndetails = 0, off = 0;
    gw_buf details;
    gw_buf_init(&details, 0);
    while (off < n) {
        pb_field f;
        ptrdiff_t k = pb_field_parse(p + off, n - off, &f);
        if (k <= 0)
            goto raw;
        if (f.number == 1 && f.wire_type == PB_WT_VARINT)
            code = (int64_t)(int32_t)f.u;
        else if (f.number == 2 && f.wire_type == PB_WT_LEN)
            msg = f.bytes, msg_len = (size_t)f.u;
        else if (f.number == 3 && f.wire_type == PB_WT_LEN) {
            if (ndetails++)
                gw_buf_putc(&details, ',');
            if (any_json(&details, f.bytes, (size_t)f.u))
                goto raw;
        } else
            goto raw;
        off += (size_t)k;
    }
    gw_buf_printf(b, "{\"code\":%lld,\"code_name\":", (long long)code);
    view_json_cstr(b, code >= 0 && code <= 16 ? grpc_status_name((int)code) : NULL);
    VIEW_PUT(b, ",\"message\":");
    view_json_string(b, msg ? (const char *)msg : "", msg_len);
    VIEW_PUT(b, ",\"details\":[");
    gw_buf_append(b, details.data, details.len);
    VIEW_PUT(b, "]}");
    gw_buf_free(&details);
    return;
raw:
    gw_buf_free(&details);
    b->len = mark;
    view_pb_json(b, p, n, &v->o.pb);
}

void view_json_call(view *v, const grpc_call *c, view_job **jobs)
{
    gw_buf *b = &v->out;
    record_head(b, "call", c);
    char guess[256];
    double score;
    if (view_schema_call_guess(v->o.schemas, c, guess, sizeof guess, &score)) {
        VIEW_PUT(b, ",\"method_guess\":{\"method\":");
        view_json_cstr(b, guess);
        gw_buf_printf(b, ",\"score\":%.2f}", score);
    }
    VIEW_PUT(b, ",\"authority\":");
    view_json_cstr(b, c->authority);
    VIEW_PUT(b, ",\"kind\":");
    view_json_cstr(b, c->kind);
    VIEW_PUT(b, ",\"start\":\"");
    view_fmt_rfc3339(b, c->t_start);
    VIEW_PUT(b, "\",\"end\":\"");
    view_fmt_rfc3339(b, c->t_end);
    VIEW_PUT(b, "\",\"duration_us\":");
    gw_buf_put_i64(b, (c->t_end - c->t_start) / 1000);
    INT_OR_NULL(b, "first_response_us",
                c->t_first_resp < 0 ? -1 : (c->t_first_resp - c->t_start) / 1000);
    INT_OR_NULL(b, "http_status", c->http_status);
    INT_OR_NULL(b, "grpc_status", c->grpc_status);
    VIEW_PUT(b, ",\"grpc_status_name\":");
    view_json_cstr(b, c->grpc_status >= 0 ? grpc_status_name(c->grpc_status) : NULL);
    VIEW_PUT(b, ",\"grpc_message\":");
    view_json_cstr(b, c->grpc_message);
    INT_OR_NULL(b, "implied_status", c->implied_status);
    VIEW_PUT(b, ",\"implied_status_name\":");
    view_json_cstr(b, c->implied_status >= 0 ? grpc_status_name(c->implied_status) : NULL);
    if (c->status_details) {
        VIEW_PUT(b, ",\"grpc_status_details\":");
        status_details_json(v, b, c->status_details, c->status_details_len);
    }
    VIEW_PUT(b, ",\"timeout\":");
    view_json_cstr(b, c->timeout_raw);
    INT_OR_NULL(b, "timeout_us", c->timeout_ns < 0 ? -1 : c->timeout_ns / 1000);
    VIEW_PUT(b, ",\"request_encoding\":");
    view_json_cstr(b, c->req_encoding);
    VIEW_PUT(b, ",\"response_encoding\":");
    view_json_cstr(b, c->resp_encoding);
    VIEW_PUT(b, ",\"trailers_only\":");
    json_bool(b, c->trailers_only);
    INT_OR_NULL(b, "rst_code", c->rst_code);
    if (c->rst_code >= 0) {
        VIEW_PUT(b, ",\"rst_name\":");
        view_json_cstr(b, h2_error_name((uint32_t)c->rst_code));
        gw_buf_printf(b, ",\"rst_by\":\"%s\"", c->rst_by_client ? "client" : "server");
    }
    VIEW_PUT(b, ",\"request_headers\":");
    view_json_kv_list(b, c->req_headers, c->n_req_headers);
    VIEW_PUT(b, ",\"response_headers\":");
    view_json_kv_list(b, c->resp_headers, c->n_resp_headers);
    VIEW_PUT(b, ",\"trailers\":");
    view_json_kv_list(b, c->trailers, c->n_trailers);
    VIEW_PUT(b, ",\"request_count\":");
    gw_buf_put_u64(b, c->n_req);
    VIEW_PUT(b, ",\"response_count\":");
    gw_buf_put_u64(b, c->n_resp);
    VIEW_PUT(b, ",\"request_bytes\":");
    gw_buf_put_u64(b, c->req_bytes);
    VIEW_PUT(b, ",\"response_bytes\":");
    gw_buf_put_u64(b, c->resp_bytes);
    VIEW_PUT(b, ",\"requests\":");
    messages_array(v, c, 1, jobs);
    VIEW_PUT(b, ",\"responses\":");
    messages_array(v, c, 0, jobs);
    VIEW_PUT(b, ",\"messages_omitted\":");
    json_bool(b, c->msgs_dropped);
    VIEW_PUT(b, ",\"first_packet\":");
    gw_buf_put_u64(b, c->first_pkt);
    VIEW_PUT(b, ",\"last_packet\":");
    gw_buf_put_u64(b, c->last_pkt);
    VIEW_PUT(b, ",\"complete\":");
    json_bool(b, c->complete);
    VIEW_PUT(b, ",\"anomalies\":[");
    for (size_t i = 0; i < c->n_anomalies; i++) {
        if (i)
            gw_buf_putc(b, ',');
        view_json_cstr(b, c->anomalies[i]);
    }
    VIEW_PUT(b, "]}\n");
}
