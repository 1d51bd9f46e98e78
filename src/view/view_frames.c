/* Per-packet views: --frames (one line per packet, tshark's default columns, HTTP/2 frames in
 * the info column) and -V (the tree of each packet, as the seed's Wireshark dump shows it).
 * Records arrive between a packet's begin and end; they are collected into `body` in event
 * order (a DATA frame, then the gRPC message it completed) and printed at the packet's end. */
#include "view/view_impl.h"

#include <inttypes.h>
#include <string.h>

#include "common/gw_err.h"
#include "common/gw_mem.h"
#include "view/view_explain.h"
#include "view/view_pb.h"
#include "view/view_schema.h"

typedef struct fstate {
    gw_buf body;        /* tree lines or info items of the current packet */
    gw_buf json;        /* frames array of the current packet (JSON) */
    gw_buf expl;        /* --explain lines printed under the packet line (--frames) */
    int nframes;        /* frames in the current packet */
    int selected;       /* the current packet passes the number selection */
    int stream_hit;     /* a frame of the selected stream is in the packet */
    int has_h2;
} fstate;

static int tree(const view *v) { return v->kind == VIEW_TREE; }

/* --explain line prefixes: under the packet line (--frames), in the tree (-V). */
#define EXPLAIN_FRAMES "        "
#define EXPLAIN_TREE "    [Explain: "

/* Bits of `value` under `mask` as Wireshark draws them: "00.0 ..0." */
static void bits(gw_buf *b, int width, uint32_t mask, uint32_t value)
{
    for (int i = width - 1; i >= 0; i--) {
        uint32_t bit = 1u << i;
        gw_buf_putc(b, (mask & bit) ? ((value & bit) ? '1' : '0') : '.');
        if (i && i % 4 == 0)
            gw_buf_putc(b, ' ');
    }
}

static void indent(gw_buf *b, int n)
{
    for (int i = 0; i < n; i++)
        gw_buf_append(b, "    ", 4);
}

typedef struct flagdef {
    uint8_t bit;
    const char *name;
} flagdef;

/* Flags defined per type (RFC 9113 6.x); the rest is "Unused". */
static const flagdef *flags_of(unsigned type, uint8_t *defined)
{
    static const flagdef data[] = {{0x08, "Padded"}, {0x01, "End Stream"}, {0, NULL}};
    static const flagdef headers[] = {{0x20, "Priority"}, {0x08, "Padded"}, {0x04, "End Headers"},
                                      {0x01, "End Stream"}, {0, NULL}};
    static const flagdef ack[] = {{0x01, "ACK"}, {0, NULL}};
    static const flagdef push[] = {{0x08, "Padded"}, {0x04, "End Headers"}, {0, NULL}};
    static const flagdef cont[] = {{0x04, "End Headers"}, {0, NULL}};
    static const flagdef none[] = {{0, NULL}};
    const flagdef *f;
    switch (type) {
    case H2_FRAME_DATA: f = data; break;
    case H2_FRAME_HEADERS: f = headers; break;
    case H2_FRAME_SETTINGS:
    case H2_FRAME_PING: f = ack; break;
    case H2_FRAME_PUSH_PROMISE: f = push; break;
    case H2_FRAME_CONTINUATION: f = cont; break;
    default: f = none;
    }
    *defined = 0;
    for (const flagdef *x = f; x->name; x++)
        *defined |= x->bit;
    return f;
}

static void tree_flags(gw_buf *b, const h2_frame *f)
{
    uint8_t defined;
    const flagdef *fd = flags_of(f->type, &defined);
    indent(b, 2);
    gw_buf_printf(b, "Flags: 0x%02x", f->flags);
    for (const flagdef *x = fd; x->name; x++)
        if (f->flags & x->bit)
            gw_buf_printf(b, ", %s", x->name);
    gw_buf_putc(b, '\n');
    indent(b, 3);
    bits(b, 8, (uint8_t)~defined, f->flags);
    gw_buf_printf(b, " = Unused: 0x%02x\n", f->flags & (uint8_t)~defined);
    for (const flagdef *x = fd; x->name; x++) {
        indent(b, 3);
        bits(b, 8, x->bit, f->flags);
        gw_buf_printf(b, " = %s: %s\n", x->name, (f->flags & x->bit) ? "True" : "False");
    }
}

static void hexbytes(gw_buf *b, const uint8_t *p, size_t n, size_t max)
{
    static const char hx[] = "0123456789abcdef";
    size_t i;
    for (i = 0; i < n && i < max; i++) {
        gw_buf_putc(b, hx[p[i] >> 4]);
        gw_buf_putc(b, hx[p[i] & 15]);
    }
    if (i < n)
        gw_buf_append(b, "...", 3);
}

/* ":status 200" -> "200 OK"-style summary of a header block, for info columns. */
static void block_summary(gw_buf *b, const h2_frame_rec *fr, const char *sep)
{
    const char *method = NULL, *path = NULL, *status = NULL;
    size_t ml = 0, pl = 0, sl = 0;
    for (size_t i = 0; i < fr->nfields; i++) {
        const hpack_field *h = &fr->fields[i];
        if (h->name_len == 7 && memcmp(h->name, ":method", 7) == 0)
            method = h->value, ml = h->value_len;
        else if (h->name_len == 5 && memcmp(h->name, ":path", 5) == 0)
            path = h->value, pl = h->value_len;
        else if (h->name_len == 7 && memcmp(h->name, ":status", 7) == 0)
            status = h->value, sl = h->value_len;
    }
    if (method) {
        gw_buf_append(b, sep, strlen(sep));
        view_fmt_text(b, method, ml, 16);
        if (path) {
            gw_buf_putc(b, ' ');
            view_fmt_text(b, path, pl, 200);
        }
    } else if (status) {
        gw_buf_append(b, sep, strlen(sep));
        view_fmt_text(b, status, sl, 8);
        if (sl == 3 && memcmp(status, "200", 3) == 0)
            gw_buf_append(b, " OK", 3);
    }
}

static void tree_fields(gw_buf *b, const h2_frame_rec *fr)
{
    size_t total = 0;
    for (size_t i = 0; i < fr->nfields; i++)
        total += fr->fields[i].name_len + fr->fields[i].value_len + 8; /* Wireshark's count */
    indent(b, 2);
    gw_buf_printf(b, "[Header Length: %zu]\n", total);
    indent(b, 2);
    gw_buf_printf(b, "[Header Count: %zu]\n", fr->nfields);
    for (size_t i = 0; i < fr->nfields; i++) {
        const hpack_field *h = &fr->fields[i];
        indent(b, 2);
        gw_buf_append(b, "Header: ", 8);
        if (h->unknown_name)
            gw_buf_printf(b, "<unknown: dynamic entry %" PRIu32 " from before the capture>",
                          h->index);
        else
            view_fmt_text(b, h->name, h->name_len, 4096);
        gw_buf_append(b, ": ", 2);
        if (h->unknown_value)
            gw_buf_append(b, "<unknown>", 9);
        else
            view_fmt_text(b, h->value, h->value_len, 4096);
        gw_buf_putc(b, '\n');
        indent(b, 3);
        gw_buf_printf(b, "Name Length: %zu\n", h->name_len);
        indent(b, 3);
        gw_buf_append(b, "Name: ", 6);
        view_fmt_text(b, h->name, h->name_len, 4096);
        gw_buf_putc(b, '\n');
        indent(b, 3);
        gw_buf_printf(b, "Value Length: %zu\n", h->value_len);
        indent(b, 3);
        gw_buf_append(b, "Value: ", 7);
        view_fmt_text(b, h->value, h->value_len, 4096);
        gw_buf_putc(b, '\n');
        indent(b, 3);
        gw_buf_printf(b, "Representation: %s\n", hpack_rep_name(h->rep));
        if (h->index) {
            indent(b, 3);
            gw_buf_printf(b, "Index: %" PRIu32 "\n", h->index);
        }
        if (h->name_huff || h->value_huff) {
            indent(b, 3);
            gw_buf_printf(b, "[Huffman: name %s, value %s]\n", h->name_huff ? "yes" : "no",
                          h->value_huff ? "yes" : "no");
        }
    }
    if (fr->hpack_unknown) {
        indent(b, 2);
        gw_buf_append(b, "[HPACK: entries from before the capture began are unknown]\n", 59);
    }
    if (fr->hpack_err) {
        indent(b, 2);
        gw_buf_printf(b, "[HPACK error: %s]\n", fr->hpack_why ? fr->hpack_why : "malformed");
    }
}

static void tree_frame(gw_buf *b, const h2_frame_rec *fr)
{
    const h2_frame *f = &fr->f;
    const char *tn = h2_frame_type_name(f->type);
    gw_buf_append(b, "HyperText Transfer Protocol 2\n", 30);
    indent(b, 1);
    gw_buf_printf(b, "Stream: %s, Stream ID: %" PRIu32 ", Length %" PRIu32, tn, f->stream_id,
                  f->length);
    if (fr->has_block)
        block_summary(b, fr, ", ");
    gw_buf_putc(b, '\n');
    indent(b, 2);
    gw_buf_printf(b, "Length: %" PRIu32 "\n", f->length);
    indent(b, 2);
    gw_buf_printf(b, "Type: %s (%u)\n", tn, f->type);
    tree_flags(b, f);
    indent(b, 2);
    bits(b, 32, 0x80000000u, (uint32_t)f->reserved << 31);
    gw_buf_printf(b, " = Reserved: 0x%x\n", f->reserved);
    indent(b, 2);
    bits(b, 32, 0x7fffffffu, f->stream_id);
    gw_buf_printf(b, " = Stream Identifier: %" PRIu32 "\n", f->stream_id);
    if (f->flags & H2_FLAG_PADDED &&
        (f->type == H2_FRAME_DATA || f->type == H2_FRAME_HEADERS || f->type == H2_FRAME_PUSH_PROMISE)) {
        indent(b, 2);
        gw_buf_printf(b, "Pad Length: %u\n", f->pad_len);
    }
    if (f->has_priority) {
        indent(b, 2);
        gw_buf_printf(b, "Exclusive: %s, Stream Dependency: %" PRIu32 ", Weight: %u\n",
                      f->exclusive ? "True" : "False", f->dep_stream, f->weight);
    }
    switch (f->type) {
    case H2_FRAME_DATA:
        indent(b, 2);
        gw_buf_printf(b, "DATA payload (%" PRIu32 " bytes)\n", f->data_len);
        break;
    case H2_FRAME_HEADERS:
    case H2_FRAME_PUSH_PROMISE:
    case H2_FRAME_CONTINUATION:
        if (f->type == H2_FRAME_PUSH_PROMISE) {
            indent(b, 2);
            gw_buf_printf(b, "Promised-Stream-ID: %" PRIu32 "\n", f->promised_id);
        }
        indent(b, 2);
        gw_buf_append(b, "Header Block Fragment: ", 23);
        hexbytes(b, f->data, f->data_len, 4096);
        gw_buf_putc(b, '\n');
        if (fr->has_block)
            tree_fields(b, fr);
        break;
    case H2_FRAME_RST_STREAM:
        indent(b, 2);
        gw_buf_printf(b, "Error: %s (%" PRIu32 ")\n", h2_error_name(f->error_code), f->error_code);
        break;
    case H2_FRAME_SETTINGS:
        for (uint32_t i = 0; i < f->nsettings; i++) {
            uint16_t id;
            uint32_t val;
            h2_frame_setting(f, i, &id, &val);
            indent(b, 2);
            gw_buf_printf(b, "Settings - %s : %" PRIu32 "\n", h2_settings_name(id), val);
        }
        break;
    case H2_FRAME_PING:
        indent(b, 2);
        gw_buf_append(b, "Ping: ", 6);
        hexbytes(b, f->data, f->data_len, 8);
        gw_buf_putc(b, '\n');
        break;
    case H2_FRAME_GOAWAY:
        indent(b, 2);
        gw_buf_printf(b, "Promised-Stream-ID: %" PRIu32 "\n", f->last_stream_id);
        indent(b, 2);
        gw_buf_printf(b, "Error: %s (%" PRIu32 ")\n", h2_error_name(f->error_code), f->error_code);
        if (f->data_len) {
            indent(b, 2);
            gw_buf_append(b, "Additional Debug Data: ", 23);
            view_fmt_text(b, (const char *)f->data, f->data_len, 256);
            gw_buf_putc(b, '\n');
        }
        break;
    case H2_FRAME_WINDOW_UPDATE:
        indent(b, 2);
        gw_buf_printf(b, "Window Size Increment: %" PRIu32 "\n", f->window_increment);
        break;
    default:
        break;
    }
    if (f->anomaly) {
        indent(b, 2);
        gw_buf_printf(b, "[Anomaly: %s]\n", f->anomaly);
    }
}

static void json_frame(view *v, fstate *st, const h2_frame_rec *fr)
{
    gw_buf *b = &st->json;
    const h2_frame *f = &fr->f;
    if (st->nframes)
        gw_buf_putc(b, ',');
    gw_buf_printf(b, "{\"type\":\"%s\",\"type_id\":%u,\"flags\":%u,\"stream\":%" PRIu32
                     ",\"length\":%" PRIu32 ",\"from\":\"%s\"",
                  h2_frame_type_name(f->type), f->type, f->flags, f->stream_id, f->length,
                  fr->from_client == 1 ? "client" : fr->from_client == 0 ? "server" : "unknown");
    if (f->type == H2_FRAME_RST_STREAM || f->type == H2_FRAME_GOAWAY)
        gw_buf_printf(b, ",\"error\":\"%s\"", h2_error_name(f->error_code));
    if (f->type == H2_FRAME_WINDOW_UPDATE)
        gw_buf_printf(b, ",\"increment\":%" PRIu32, f->window_increment);
    if (f->type == H2_FRAME_SETTINGS) {
        gw_buf_append(b, ",\"settings\":[", 13);
        for (uint32_t i = 0; i < f->nsettings; i++) {
            uint16_t id;
            uint32_t val;
            h2_frame_setting(f, i, &id, &val);
            gw_buf_printf(b, "%s[\"%s\",%" PRIu32 "]", i ? "," : "", h2_settings_name(id), val);
        }
        gw_buf_putc(b, ']');
    }
    if (fr->has_block) {
        gw_buf_append(b, ",\"headers\":[", 12);
        for (size_t i = 0; i < fr->nfields; i++) {
            const hpack_field *h = &fr->fields[i];
            gw_buf_append(b, i ? ",{\"name\":" : "{\"name\":", i ? 9 : 8);
            if (h->unknown_name)
                gw_buf_append(b, "null", 4);
            else
                view_json_string(b, h->name, h->name_len);
            gw_buf_append(b, ",\"value\":", 9);
            if (h->unknown_value)
                gw_buf_append(b, "null", 4);
            else
                view_json_string(b, h->value, h->value_len);
            gw_buf_printf(b, ",\"rep\":\"%s\",\"index\":%" PRIu32 ",\"huffman\":%s}",
                          hpack_rep_name(h->rep), h->index,
                          (h->name_huff || h->value_huff) ? "true" : "false");
        }
        gw_buf_putc(b, ']');
        if (fr->hpack_err) {
            gw_buf_append(b, ",\"hpack_error\":", 15);
            view_json_cstr(b, fr->hpack_why);
        }
    }
    if (f->anomaly) {
        gw_buf_append(b, ",\"anomaly\":", 11);
        view_json_cstr(b, f->anomaly);
    }
    gw_buf_putc(b, '}');
}

static int conn_selected(const view *v, const tcp_conn *c)
{
    return v->o.conn < 0 || (c && (int64_t)c->index == v->o.conn);
}

static void on_frame(void *u, const tcp_conn *c, const h2_frame_rec *fr)
{
    view *v = u;
    fstate *st = v->state;
    if (!st->selected || !conn_selected(v, c))
        return;
    if (v->o.stream >= 0) {
        if ((int64_t)fr->f.stream_id != v->o.stream)
            return;
        st->stream_hit = 1;
    }
    st->has_h2 = 1;
    if (v->o.json) {
        json_frame(v, st, fr);
    } else if (tree(v)) {
        tree_frame(&st->body, fr);
    } else {
        gw_buf *b = &st->body;
        if (st->nframes)
            gw_buf_append(b, ", ", 2);
        gw_buf_printf(b, "%s[%" PRIu32 "]", h2_frame_type_name(fr->f.type), fr->f.stream_id);
        if (fr->has_block)
            block_summary(b, fr, ": ");
    }
    if (v->o.explain && !v->o.json) {
        if (tree(v))
            view_explain_frame(&st->body, fr, EXPLAIN_TREE, "]\n");
        else
            view_explain_frame(&st->expl, fr, EXPLAIN_FRAMES, "\n");
    }
    st->nframes++;
}

static void on_preface(void *u, const tcp_conn *c, int dir)
{
    view *v = u;
    fstate *st = v->state;
    if (!st->selected || !conn_selected(v, c) || v->o.json)
        return;
    st->has_h2 = 1;
    if (tree(v)) {
        gw_buf_append(&st->body, "HyperText Transfer Protocol 2\n", 30);
        indent(&st->body, 1);
        gw_buf_append(&st->body, "Stream: Magic\n", 14);
        indent(&st->body, 2);
        gw_buf_append(&st->body, "Magic: PRI * HTTP/2.0\\r\\n\\r\\nSM\\r\\n\\r\\n\n", 40);
    } else {
        if (st->nframes)
            gw_buf_append(&st->body, ", ", 2);
        gw_buf_append(&st->body, "Magic", 5);
        st->nframes++;
    }
    if (v->o.explain)
        view_explain_preface(tree(v) ? &st->body : &st->expl, tree(v) ? EXPLAIN_TREE : EXPLAIN_FRAMES,
                             tree(v) ? "]\n" : "\n");
}

static void on_message(void *u, grpc_call *c, const grpc_msg *m)
{
    view *v = u;
    fstate *st = v->state;
    if (v->o.explain && !tree(v) && st->selected && !v->o.json &&
        (v->o.conn < 0 || (int64_t)c->conn_index == v->o.conn) &&
        (v->o.stream < 0 || (int64_t)c->stream == v->o.stream))
        view_explain_message(&st->expl, c, m, EXPLAIN_FRAMES, "\n");
    if (!tree(v) || !st->selected || v->o.json)
        return;
    if (v->o.conn >= 0 && (int64_t)c->conn_index != v->o.conn)
        return;
    if (v->o.stream >= 0 && (int64_t)c->stream != v->o.stream)
        return;
    gw_buf *b = &st->body;
    gw_buf_append(b, "GRPC Message: ", 14);
    gw_buf_append(b, c->method ? c->method : "?", c->method ? strlen(c->method) : 1);
    gw_buf_printf(b, ", %s\n", m->from_client ? "Request" : "Response");
    indent(b, 1);
    gw_buf_printf(b, ".... ...%d = Compressed Flag: %s (%d)\n", m->compressed ? 1 : 0,
                  m->compressed ? "Compressed" : "Not Compressed", m->compressed ? 1 : 0);
    indent(b, 1);
    gw_buf_printf(b, "Message Length: %" PRIu32 "\n", m->length);
    if (m->compressed) {
        indent(b, 1);
        gw_buf_printf(b, "[Encoding: %s, %s]\n", m->encoding ? m->encoding : "?",
                      m->decoded ? "decompressed" : (m->why ? m->why : "not decoded"));
    }
    if (m->truncated) {
        indent(b, 1);
        gw_buf_printf(b, "[Truncated: %s]\n", m->why ? m->why : "bytes lost");
    }
    if (m->data && m->decoded && !m->truncated && c->is_grpc) {
        gw_buf_printf(b, "Protocol Buffers: %s,%s\n", c->method ? c->method : "?",
                      m->from_client ? "request" : "response");
        const pb_msgdef *t = view_schema_type(v->o.schemas, c->method, m->from_client);
        if (t)
            view_schema_tree(b, v->o.schemas, t, m->data, m->data_len, 1, &v->o.pb);
        else
            view_pb_tree(b, m->data, m->data_len, 1, &v->o.pb);
    }
    if (v->o.explain)
        view_explain_message(b, c, m, EXPLAIN_TREE, "]\n");
}

static void note(view *v, const tcp_conn *c, const char *fmt_what, uint64_t len, const char *why)
{
    fstate *st = v->state;
    if (!st->selected || !conn_selected(v, c) || v->o.json)
        return;
    if (tree(v)) {
        gw_buf_printf(&st->body, "[%s: %" PRIu64 " bytes%s%s]\n", fmt_what, len, why ? ", " : "",
                      why ? why : "");
    } else {
        if (st->nframes)
            gw_buf_append(&st->body, ", ", 2);
        gw_buf_printf(&st->body, "[%s %" PRIu64 "]", fmt_what, len);
        st->nframes++;
    }
}

static void on_tcp_gap(void *u, const tcp_conn *c, int dir, uint64_t off, uint64_t len)
{
    note(u, c, "TCP gap", len, "bytes never captured");
}

static void on_h2_skip(void *u, const tcp_conn *c, int dir, uint64_t off, uint64_t len,
                       const char *why)
{
    note(u, c, "HTTP/2 skipped", len, why);
}

static void on_packet_begin(void *u, const dissect_pkt *dp)
{
    view *v = u;
    fstate *st = v->state;
    if (v->ts_base < 0)
        v->ts_base = dp->pkt->ts_ns;
    gw_buf_reset(&st->body);
    gw_buf_reset(&st->json);
    gw_buf_reset(&st->expl);
    st->nframes = 0;
    st->stream_hit = 0;
    st->has_h2 = 0;
    st->selected = !v->done && view_pkt_selected(v, dp->pkt->no);
}

static const char *tcp_flags_str(uint8_t f, char *buf)
{
    static const struct { uint8_t bit; const char *name; } names[] = {
        {CAP_TCP_FIN, "FIN"}, {CAP_TCP_SYN, "SYN"}, {CAP_TCP_RST, "RST"}, {CAP_TCP_PSH, "PSH"},
        {CAP_TCP_ACK, "ACK"}, {CAP_TCP_URG, "URG"}, {CAP_TCP_ECE, "ECE"}, {CAP_TCP_CWR, "CWR"}};
    buf[0] = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (f & names[i].bit) {
            if (buf[0])
                strcat(buf, ", ");
            strcat(buf, names[i].name);
        }
    }
    return buf;
}

static void addr_pair(gw_buf *b, const cap_layers *l)
{
    char s[64], d[64];
    cap_addr_str(l->ipver, l->src, s, sizeof s);
    cap_addr_str(l->ipver, l->dst, d, sizeof d);
    gw_buf_printf(b, "%s \xe2\x86\x92 %s", s, d);
}

static void tree_lower_layers(view *v, const dissect_pkt *dp)
{
    gw_buf *b = &v->out;
    const cap_packet *p = dp->pkt;
    const cap_layers *l = dp->l;
    char s[64], d[64], fl[64];
    gw_buf_printf(b, "Frame %" PRIu64 ": %" PRIu32 " bytes on wire (%" PRIu64 " bits), %" PRIu32
                     " bytes captured (%" PRIu64 " bits)\n",
                  p->no, p->wirelen, (uint64_t)p->wirelen * 8, p->caplen, (uint64_t)p->caplen * 8);
    indent(b, 1);
    gw_buf_append(b, "Arrival Time: ", 14);
    view_fmt_rfc3339(b, p->ts_ns);
    gw_buf_putc(b, '\n');
    indent(b, 1);
    int64_t rel = p->ts_ns - v->ts_base;
    gw_buf_printf(b, "[Time since reference or first frame: %" PRId64 ".%09" PRId64 " seconds]\n",
                  rel / 1000000000, rel % 1000000000);
    indent(b, 1);
    gw_buf_printf(b, "Encapsulation type: %s (%d)\n", cap_linktype_name(l->linktype), l->linktype);
    if (l->has_eth) {
        gw_buf_printf(b, "Ethernet II, Src: %02x:%02x:%02x:%02x:%02x:%02x, Dst: "
                         "%02x:%02x:%02x:%02x:%02x:%02x\n",
                      l->eth_src[0], l->eth_src[1], l->eth_src[2], l->eth_src[3], l->eth_src[4],
                      l->eth_src[5], l->eth_dst[0], l->eth_dst[1], l->eth_dst[2], l->eth_dst[3],
                      l->eth_dst[4], l->eth_dst[5]);
    }
    for (int i = 0; i < l->nvlan; i++)
        gw_buf_printf(b, "802.1Q Virtual LAN, ID: %u\n", l->vlan[i]);
    if (l->ipver) {
        cap_addr_str(l->ipver, l->src, s, sizeof s);
        cap_addr_str(l->ipver, l->dst, d, sizeof d);
        if (l->ipver == 4)
            gw_buf_printf(b, "Internet Protocol Version 4, Src: %s, Dst: %s\n", s, d);
        else
            gw_buf_printf(b, "Internet Protocol Version 6, Src: %s, Dst: %s\n", s, d);
        indent(b, 1);
        if (l->ipver == 4)
            gw_buf_printf(b, "Header Length: %" PRIu32 ", Total Length: %" PRIu32
                             ", Identification: 0x%04x, TTL: %u, Protocol: %u\n",
                          l->ip_hdr_len, l->ip_len, l->ip_id, l->ttl, l->proto);
        else
            gw_buf_printf(b, "Payload Length: %" PRIu32 ", Flow Label: 0x%05" PRIx32
                             ", Next Header: %u, Hop Limit: %u\n",
                          l->ip_len, l->flow_label, l->proto, l->ttl);
        if (l->reassembled) {
            indent(b, 1);
            gw_buf_append(b, "[Reassembled from IP fragments]\n", 32);
        }
    }
    if (l->is_tcp) {
        gw_buf_printf(b, "Transmission Control Protocol, Src Port: %u, Dst Port: %u, Len: %" PRIu32
                         "\n",
                      l->sport, l->dport, l->payload_len + l->payload_missing);
        if (dp->conn) {
            indent(b, 1);
            gw_buf_printf(b, "[Stream index: %" PRIu64 "]\n", dp->conn->index);
        }
        indent(b, 1);
        gw_buf_printf(b, "Sequence Number (raw): %" PRIu32 "\n", l->seq);
        indent(b, 1);
        gw_buf_printf(b, "Acknowledgment number (raw): %" PRIu32 "\n", l->ack);
        indent(b, 1);
        gw_buf_printf(b, "Header Length: %" PRIu32 " bytes\n", l->tcp_hdr_len);
        indent(b, 1);
        gw_buf_printf(b, "Flags: 0x%03x (%s)\n", l->flags, tcp_flags_str(l->flags, fl));
        indent(b, 1);
        gw_buf_printf(b, "Window: %u\n", l->window);
        if (l->payload_missing) {
            indent(b, 1);
            gw_buf_printf(b, "[%" PRIu32 " payload bytes not captured (snaplen)]\n",
                          l->payload_missing);
        }
        if (l->payload_len) {
            indent(b, 1);
            gw_buf_printf(b, "TCP payload (%" PRIu32 " bytes)\n", l->payload_len);
        }
    }
    if (l->anomaly) {
        indent(b, 1);
        gw_buf_printf(b, "[Anomaly: %s]\n", l->anomaly);
    }
}

static void frames_line(view *v, const dissect_pkt *dp, fstate *st)
{
    gw_buf *b = &v->out;
    const cap_layers *l = dp->l;
    int64_t rel = dp->pkt->ts_ns - v->ts_base;
    char fl[64];
    gw_buf_printf(b, "%6" PRIu64 " %4" PRId64 ".%06" PRId64 " ", dp->pkt->no, rel / 1000000000,
                  (rel % 1000000000) / 1000);
    if (l->ipver)
        addr_pair(b, l);
    else
        gw_buf_append(b, "? \xe2\x86\x92 ?", 7);
    const char *proto = st->has_h2 ? "HTTP2" : l->is_tcp ? "TCP" : l->ipver ? "IP" : "?";
    gw_buf_printf(b, " %s %" PRIu32 " ", proto, dp->pkt->wirelen);
    if (st->nframes) {
        gw_buf_append(b, st->body.data, st->body.len);
    } else if (l->is_tcp) {
        gw_buf_printf(b, "%u \xe2\x86\x92 %u [%s] Len=%" PRIu32, l->sport, l->dport,
                      tcp_flags_str(l->flags, fl), l->payload_len + l->payload_missing);
    } else if (l->anomaly) {
        gw_buf_append(b, l->anomaly, strlen(l->anomaly));
    }
    gw_buf_putc(b, '\n');
    if (v->o.explain) {
        if (!st->nframes)
            view_explain_tcp(b, l, EXPLAIN_FRAMES, "\n");
        gw_buf_append(b, st->expl.data, st->expl.len);
    }
}

static void json_packet(view *v, const dissect_pkt *dp, fstate *st)
{
    gw_buf *b = &v->out;
    const cap_layers *l = dp->l;
    char s[64], d[64];
    gw_buf_printf(b, "{\"type\":\"packet\",\"no\":%" PRIu64 ",\"time\":\"", dp->pkt->no);
    view_fmt_rfc3339(b, dp->pkt->ts_ns);
    gw_buf_printf(b, "\",\"rel_us\":%" PRId64 ",\"len\":%" PRIu32 ",\"caplen\":%" PRIu32,
                  (dp->pkt->ts_ns - v->ts_base) / 1000, dp->pkt->wirelen, dp->pkt->caplen);
    if (l->ipver) {
        cap_addr_str(l->ipver, l->src, s, sizeof s);
        cap_addr_str(l->ipver, l->dst, d, sizeof d);
        gw_buf_printf(b, ",\"src\":\"%s\",\"dst\":\"%s\"", s, d);
    }
    if (l->is_tcp) {
        gw_buf_printf(b, ",\"sport\":%u,\"dport\":%u,\"tcp_len\":%" PRIu32 ",\"tcp_flags\":%u",
                      l->sport, l->dport, l->payload_len + l->payload_missing, l->flags);
        if (dp->conn)
            gw_buf_printf(b, ",\"conn\":%" PRIu64, dp->conn->index);
    }
    gw_buf_append(b, ",\"frames\":[", 11);
    gw_buf_append(b, st->json.data, st->json.len);
    gw_buf_append(b, "]}\n", 3);
}

static void on_packet_end(void *u, const dissect_pkt *dp)
{
    view *v = u;
    fstate *st = v->state;
    if (!st->selected)
        return;
    if (v->o.conn >= 0 && (!dp->conn || (int64_t)dp->conn->index != v->o.conn))
        return;
    if (v->o.stream >= 0 && !st->stream_hit)
        return;
    if (v->o.json)
        json_packet(v, dp, st);
    else if (tree(v)) {
        tree_lower_layers(v, dp);
        if (v->o.explain && !st->nframes)
            view_explain_tcp(&v->out, dp->l, EXPLAIN_TREE, "]\n");
        gw_buf_append(&v->out, st->body.data, st->body.len);
        gw_buf_putc(&v->out, '\n');
    } else
        frames_line(v, dp, st);
    view_record_done(v);
}

static void del_state(view *v)
{
    fstate *st = v->state;
    if (!st)
        return;
    gw_buf_free(&st->body);
    gw_buf_free(&st->json);
    gw_buf_free(&st->expl);
    gw_free(st);
}

int view_frames_init(view *v, dissect_sink *s)
{
    fstate *st = gw_calloc(1, sizeof *st); /* owned by the view */
    if (!st)
        return GW_ENOMEM;
    gw_buf_init(&st->body, 0);
    gw_buf_init(&st->json, 0);
    gw_buf_init(&st->expl, 0);
    v->state = st;
    v->del_state = del_state;
    s->on_packet_begin = on_packet_begin;
    s->on_packet_end = on_packet_end;
    s->on_frame = on_frame;
    s->on_preface = on_preface;
    s->on_message = on_message;
    s->on_tcp_gap = on_tcp_gap;
    s->on_h2_skip = on_h2_skip;
    return 0;
}
