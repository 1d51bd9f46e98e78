/* The NDJSON records: the public contract documented in docs/json.md. Extend, never break. */
#include "view/view_impl.h"

#include <inttypes.h>
#include <string.h>

#include "view/view_pb.h"
#include "view/view_schema.h"

void view_json_cstr(gw_buf *b, const char *s)
{
    if (s)
        view_json_string(b, s, strlen(s));
    else
        gw_buf_append(b, "null", 4);
}

void view_json_kv_list(gw_buf *b, const grpc_kv *kv, size_t n)
{
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

static void json_int_or_null(gw_buf *b, const char *key, int64_t v)
{
    gw_buf_printf(b, ",\"%s\":", key);
    if (v < 0)
        gw_buf_append(b, "null", 4);
    else
        gw_buf_printf(b, "%" PRId64, v);
}

static void json_endpoints(gw_buf *b, const grpc_call *c)
{
    gw_buf_append(b, "\"client\":\"", 10);
    view_fmt_endpoint(b, &c->client);
    gw_buf_append(b, "\",\"server\":\"", 12);
    view_fmt_endpoint(b, &c->server);
    gw_buf_putc(b, '"');
}

/* The body of a message object (no braces). */
static void message_fields(view *v, gw_buf *b, const grpc_call *c, const grpc_msg *m)
{
    gw_buf_printf(b, "\"index\":%" PRIu32 ",\"length\":%" PRIu32 ",\"compressed\":%s,\"encoding\":",
                  m->index, m->length, m->compressed ? "true" : "false");
    view_json_cstr(b, m->encoding ? m->encoding : "identity");
    gw_buf_append(b, ",\"time\":\"", 9);
    view_fmt_rfc3339(b, m->ts_ns);
    gw_buf_putc(b, '"');
    if (!m->data) {
        gw_buf_append(b, ",\"data\":null,\"fields\":null", 26);
    } else {
        gw_buf_append(b, ",\"data\":\"", 9);
        view_base64(b, m->data, m->data_len);
        gw_buf_append(b, "\",\"fields\":", 11);
        const pb_msgdef *t = view_schema_type(v->o.schemas, c->method, m->from_client);
        if (m->decoded && !m->truncated && c->is_grpc &&
            !(c->kind && strcmp(c->kind, "grpc+json") == 0)) {
            if (t)
                view_schema_json(b, v->o.schemas, t, m->data, m->data_len, &v->o.pb);
            else
                view_pb_json(b, m->data, m->data_len, &v->o.pb);
        } else {
            gw_buf_append(b, "null", 4);
        }
        if (t) {
            gw_buf_append(b, ",\"message_type\":", 16);
            view_json_cstr(b, t->full_name);
        }
    }
    gw_buf_printf(b, ",\"decoded\":%s,\"truncated\":%s", m->decoded ? "true" : "false",
                  m->truncated ? "true" : "false");
    if (m->why) {
        gw_buf_append(b, ",\"why\":", 7);
        view_json_cstr(b, m->why);
    }
}

void view_json_message(view *v, const grpc_call *c, const grpc_msg *m, int standalone)
{
    gw_buf *b = &v->out;
    gw_buf_putc(b, '{');
    if (standalone) {
        gw_buf_printf(b, "\"type\":\"message\",\"conn\":%" PRIu64 ",", c->conn_index);
        json_endpoints(b, c);
        gw_buf_printf(b, ",\"stream\":%" PRIu32 ",\"method\":", c->stream);
        view_json_cstr(b, c->method);
        gw_buf_printf(b, ",\"direction\":\"%s\",", m->from_client ? "request" : "response");
    }
    message_fields(v, b, c, m);
    gw_buf_putc(b, '}');
    if (standalone)
        gw_buf_putc(b, '\n');
}

static void messages_array(view *v, const grpc_call *c, int from_client)
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
        view_json_message(v, c, m, 0);
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
    gw_buf_append(b, "{\"type_url\":", 12);
    view_json_string(b, url ? (const char *)url : "", url_len);
    gw_buf_append(b, ",\"value\":\"", 10);
    view_base64(b, val ? val : (const uint8_t *)"", val_len);
    gw_buf_append(b, "\"}", 2);
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
    gw_buf_append(b, ",\"message\":", 11);
    view_json_string(b, msg ? (const char *)msg : "", msg_len);
    gw_buf_append(b, ",\"details\":[", 12);
    gw_buf_append(b, details.data, details.len);
    gw_buf_append(b, "]}", 2);
    gw_buf_free(&details);
    return;
raw:
    gw_buf_free(&details);
    b->len = mark;
    view_pb_json(b, p, n, &v->o.pb);
}

void view_json_call(view *v, const grpc_call *c)
{
    gw_buf *b = &v->out;
    gw_buf_printf(b, "{\"type\":\"call\",\"conn\":%" PRIu64 ",", c->conn_index);
    json_endpoints(b, c);
    gw_buf_printf(b, ",\"stream\":%" PRIu32 ",\"method\":", c->stream);
    view_json_cstr(b, c->method);
    char guess[256];
    double score;
    if (view_schema_call_guess(v->o.schemas, c, guess, sizeof guess, &score)) {
        gw_buf_append(b, ",\"method_guess\":{\"method\":", 27);
        view_json_cstr(b, guess);
        gw_buf_printf(b, ",\"score\":%.2f}", score);
    }
    gw_buf_append(b, ",\"authority\":", 13);
    view_json_cstr(b, c->authority);
    gw_buf_append(b, ",\"kind\":", 8);
    view_json_cstr(b, c->kind);
    gw_buf_append(b, ",\"start\":\"", 10);
    view_fmt_rfc3339(b, c->t_start);
    gw_buf_append(b, "\",\"end\":\"", 9);
    view_fmt_rfc3339(b, c->t_end);
    gw_buf_printf(b, "\",\"duration_us\":%" PRId64, (c->t_end - c->t_start) / 1000);
    json_int_or_null(b, "first_response_us",
                     c->t_first_resp < 0 ? -1 : (c->t_first_resp - c->t_start) / 1000);
    json_int_or_null(b, "http_status", c->http_status);
    json_int_or_null(b, "grpc_status", c->grpc_status);
    gw_buf_append(b, ",\"grpc_status_name\":", 20);
    view_json_cstr(b, c->grpc_status >= 0 ? grpc_status_name(c->grpc_status) : NULL);
    gw_buf_append(b, ",\"grpc_message\":", 16);
    view_json_cstr(b, c->grpc_message);
    json_int_or_null(b, "implied_status", c->implied_status);
    gw_buf_append(b, ",\"implied_status_name\":", 23);
    view_json_cstr(b, c->implied_status >= 0 ? grpc_status_name(c->implied_status) : NULL);
    if (c->status_details) {
        gw_buf_append(b, ",\"grpc_status_details\":", 23);
        status_details_json(v, b, c->status_details, c->status_details_len);
    }
    gw_buf_append(b, ",\"timeout\":", 11);
    view_json_cstr(b, c->timeout_raw);
    json_int_or_null(b, "timeout_us", c->timeout_ns < 0 ? -1 : c->timeout_ns / 1000);
    gw_buf_append(b, ",\"request_encoding\":", 20);
    view_json_cstr(b, c->req_encoding);
    gw_buf_append(b, ",\"response_encoding\":", 21);
    view_json_cstr(b, c->resp_encoding);
    gw_buf_append(b, ",\"trailers_only\":", 17);
    gw_buf_append(b, c->trailers_only ? "true" : "false", c->trailers_only ? 4 : 5);
    json_int_or_null(b, "rst_code", c->rst_code);
    if (c->rst_code >= 0) {
        gw_buf_append(b, ",\"rst_name\":", 12);
        view_json_cstr(b, h2_error_name((uint32_t)c->rst_code));
        gw_buf_printf(b, ",\"rst_by\":\"%s\"", c->rst_by_client ? "client" : "server");
    }
    gw_buf_append(b, ",\"request_headers\":", 19);
    view_json_kv_list(b, c->req_headers, c->n_req_headers);
    gw_buf_append(b, ",\"response_headers\":", 20);
    view_json_kv_list(b, c->resp_headers, c->n_resp_headers);
    gw_buf_append(b, ",\"trailers\":", 12);
    view_json_kv_list(b, c->trailers, c->n_trailers);
    gw_buf_printf(b, ",\"request_count\":%" PRIu32 ",\"response_count\":%" PRIu32
                     ",\"request_bytes\":%" PRIu64 ",\"response_bytes\":%" PRIu64,
                  c->n_req, c->n_resp, c->req_bytes, c->resp_bytes);
    gw_buf_append(b, ",\"requests\":", 12);
    messages_array(v, c, 1);
    gw_buf_append(b, ",\"responses\":", 13);
    messages_array(v, c, 0);
    gw_buf_printf(b, ",\"messages_omitted\":%s", c->msgs_dropped ? "true" : "false");
    gw_buf_printf(b, ",\"first_packet\":%" PRIu64 ",\"last_packet\":%" PRIu64, c->first_pkt,
                  c->last_pkt);
    gw_buf_printf(b, ",\"complete\":%s,\"anomalies\":[", c->complete ? "true" : "false");
    for (size_t i = 0; i < c->n_anomalies; i++) {
        if (i)
            gw_buf_putc(b, ',');
        view_json_cstr(b, c->anomalies[i]);
    }
    gw_buf_append(b, "]}\n", 3);
}
