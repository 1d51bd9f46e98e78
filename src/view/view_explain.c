/* --explain: the seed's observations, made general. Sentences cite what the specs say, never
 * what one implementation happens to do, unless they name it. Header values are shown cleaned
 * (printable ASCII, cut at 40 bytes) since they come from the capture. */
#include "view/view_explain.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "h2/hpack.h"

#define STATIC_TABLE_LEN 61 /* RFC 7541 Appendix A */

static void say(gw_buf *b, const char *pre, const char *post, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void say(gw_buf *b, const char *pre, const char *post, const char *fmt, ...)
{
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    gw_buf_append(b, pre, strlen(pre));
    gw_buf_append(b, text, strlen(text));
    gw_buf_append(b, post, strlen(post));
}

/* Printable ASCII copy of captured bytes, at most max of them, "..." when cut. */
static const char *clean(char *out, size_t cap, const char *s, size_t n, size_t max)
{
    size_t j = 0;
    for (size_t i = 0; i < n && i < max && j + 4 < cap; i++)
        out[j++] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    if (n > max && j + 4 < cap) {
        memcpy(out + j, "...", 3);
        j += 3;
    }
    out[j] = 0;
    return out;
}

static const char *who(int from_client)
{
    return from_client == 1 ? "the client" : from_client == 0 ? "the server" : "the sender";
}

static const char *peer(int from_client)
{
    return from_client == 1 ? "the server" : from_client == 0 ? "the client" : "the receiver";
}

void view_explain_preface(gw_buf *b, const char *pre, const char *post)
{
    say(b, pre, post,
        "Connection preface: the client's fixed 24 bytes \"PRI * HTTP/2.0\\r\\n\\r\\nSM\\r\\n\\r\\n\" "
        "start every HTTP/2 connection made with prior knowledge (h2c, as gRPC does without TLS); "
        "a SETTINGS frame follows (RFC 9113 3.4).");
}

static void explain_setting(gw_buf *b, const char *pre, const char *post, uint16_t id, uint32_t v)
{
    switch (id) {
    case H2_SETTINGS_HEADER_TABLE_SIZE:
        say(b, pre, post,
            "  HEADER_TABLE_SIZE %" PRIu32 ": the HPACK dynamic table the peer's encoder may use "
            "for headers sent to this side holds at most %" PRIu32 " bytes (default 4096).", v, v);
        break;
    case H2_SETTINGS_ENABLE_PUSH:
        say(b, pre, post, "  ENABLE_PUSH %" PRIu32 ": %s", v,
            v ? "server push allowed (gRPC never pushes)."
              : "the server must not push (PUSH_PROMISE); gRPC never uses push anyway.");
        break;
    case H2_SETTINGS_MAX_CONCURRENT_STREAMS:
        say(b, pre, post,
            "  MAX_CONCURRENT_STREAMS %" PRIu32 ": at most %" PRIu32 " streams - in gRPC, calls - "
            "may be open at once towards this side (default: no limit).", v, v);
        break;
    case H2_SETTINGS_INITIAL_WINDOW_SIZE:
        say(b, pre, post,
            "  INITIAL_WINDOW_SIZE %" PRIu32 ": each stream's flow-control window for DATA sent to "
            "this side starts at %" PRIu32 " bytes (default 65535; the connection's own window "
            "stays 65535 until a WINDOW_UPDATE on stream 0).", v, v);
        break;
    case H2_SETTINGS_MAX_FRAME_SIZE:
        say(b, pre, post,
            "  MAX_FRAME_SIZE %" PRIu32 ": the largest frame payload this side accepts "
            "(default 16384).", v);
        break;
    case H2_SETTINGS_MAX_HEADER_LIST_SIZE:
        say(b, pre, post,
            "  MAX_HEADER_LIST_SIZE %" PRIu32 ": the largest header list this side accepts, "
            "counting name + value + 32 bytes per field (advisory).", v);
        break;
    case H2_SETTINGS_ENABLE_CONNECT_PROTOCOL:
        say(b, pre, post, "  ENABLE_CONNECT_PROTOCOL %" PRIu32 ": extended CONNECT (RFC 8441).", v);
        break;
    default:
        say(b, pre, post,
            "  setting 0x%04x = %" PRIu32 ": not one this side knows; receivers ignore unknown "
            "settings (RFC 9113 6.5.2).", id, v);
    }
}

static const char *h2_error_meaning(uint32_t code)
{
    switch (code) { /* RFC 9113 7 */
    case 0x0: return "no error: a graceful end";
    case 0x1: return "the peer broke the protocol";
    case 0x2: return "an unexpected internal error";
    case 0x3: return "flow-control limits were violated";
    case 0x4: return "SETTINGS were not acknowledged in time";
    case 0x5: return "a frame arrived on a half-closed stream";
    case 0x6: return "a frame had an invalid size";
    case 0x7: return "the stream was refused before any processing: safe to retry";
    case 0x8: return "the stream is no longer needed (a cancelled call)";
    case 0x9: return "the HPACK compression context broke";
    case 0xa: return "a CONNECT tunnel broke";
    case 0xb: return "the peer is too busy (or misbehaving): slow down";
    case 0xc: return "the transport security is inadequate";
    case 0xd: return "HTTP/1.1 is required";
    default: return "an unknown code, to be treated as INTERNAL_ERROR";
    }
}

/* One HPACK field: how it was represented and what that costs or saves. */
static void explain_field(gw_buf *b, const char *pre, const char *post, const hpack_field *h)
{
    char nm[64], val[64], where[96], huff[96];
    clean(nm, sizeof nm, h->name, h->name_len, 40);
    clean(val, sizeof val, h->value, h->value_len, 40);
    if (h->unknown_name || h->unknown_value) {
        say(b, pre, post,
            "  [HPACK] index %" PRIu32 " names a dynamic-table entry added before the capture "
            "began: its name and value cannot be known from these packets.", h->index);
        return;
    }
    if (h->index == 0)
        where[0] = 0;
    else if (h->index <= STATIC_TABLE_LEN)
        snprintf(where, sizeof where, "static table entry %" PRIu32, h->index);
    else if (h->index == STATIC_TABLE_LEN + 1)
        snprintf(where, sizeof where, "dynamic table index %" PRIu32 " (the newest entry)", h->index);
    else
        snprintf(where, sizeof where, "dynamic table index %" PRIu32 " (%" PRIu32 " entries were "
                 "added after it)", h->index, h->index - STATIC_TABLE_LEN - 1);
    huff[0] = 0;
    if (h->name_huff || h->value_huff)
        snprintf(huff, sizeof huff, "; Huffman-coded %s: %" PRIu32 " bytes on the wire for %zu",
                 h->name_huff && h->value_huff ? "name and value" : h->name_huff ? "name" : "value",
                 (h->name_huff ? h->name_wire : 0) + (h->value_huff ? h->value_wire : 0),
                 (h->name_huff ? h->name_len : 0) + (h->value_huff ? h->value_len : 0));
    switch (h->rep) {
    case HPACK_INDEXED:
        say(b, pre, post, "  [HPACK] %s: %s - Indexed: %s holds name and value, so the field "
            "is one index on the wire.", nm, val, where);
        break;
    case HPACK_INC_INDEXED_NAME:
        say(b, pre, post, "  [HPACK] %s: %s - Incremental Indexing, Indexed Name: the name is "
            "%s, the value is sent as a literal%s; the pair is then added to the dynamic table, "
            "so a repeat costs one index.", nm, val, where, huff);
        break;
    case HPACK_INC_NEW_NAME:
        say(b, pre, post, "  [HPACK] %s: %s - Incremental Indexing, New Name: name and value "
            "both sent as literals%s; the pair is then added to the dynamic table, so a repeat "
            "costs one index.", nm, val, huff);
        break;
    case HPACK_NOIDX_INDEXED_NAME:
    case HPACK_NOIDX_NEW_NAME:
        say(b, pre, post, "  [HPACK] %s: %s - without Indexing: %s%s, value sent as a literal "
            "and not added to the dynamic table (for values that change every time)%s.", nm, val,
            h->index ? "name from " : "name as a literal", h->index ? where : "", huff);
        break;
    case HPACK_NEVER_INDEXED_NAME:
    case HPACK_NEVER_NEW_NAME:
        say(b, pre, post, "  [HPACK] %s: %s - Never Indexed: %s%s, value sent as a literal that "
            "no encoder on the way may ever index, used for secrets such as credentials (RFC 7541 "
            "6.2.3)%s.", nm, val, h->index ? "name from " : "name as a literal",
            h->index ? where : "", huff);
        break;
    default:
        break;
    }
}

static const hpack_field *find(const h2_frame_rec *fr, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < fr->nfields; i++)
        if (fr->fields[i].name_len == n && memcmp(fr->fields[i].name, name, n) == 0)
            return &fr->fields[i];
    return NULL;
}

static int field_int(const hpack_field *h)
{
    int v = 0;
    if (!h || !h->value_len || h->value_len > 6)
        return -1;
    for (size_t i = 0; i < h->value_len; i++) {
        if (h->value[i] < '0' || h->value[i] > '9')
            return -1;
        v = v * 10 + (h->value[i] - '0');
    }
    return v;
}

static void explain_block(gw_buf *b, const h2_frame_rec *fr, const char *pre, const char *post)
{
    const hpack_field *method = find(fr, ":method"), *path = find(fr, ":path"),
                      *status = find(fr, ":status"), *gs = find(fr, "grpc-status"),
                      *ct = find(fr, "content-type"), *to = find(fr, "grpc-timeout");
    char s1[64], s2[64];
    uint32_t sid = fr->block_stream;
    size_t plain = 0;
    for (size_t i = 0; i < fr->nfields; i++)
        plain += fr->fields[i].name_len + fr->fields[i].value_len + 4; /* ": " and CRLF */
    if (fr->block_type == H2_FRAME_PUSH_PROMISE) {
        say(b, pre, post, "  the promised request of a server push; gRPC never uses push.");
    } else if (method) {
        say(b, pre, post,
            "  Request headers: %s %s opens stream %" PRIu32 " (clients use odd stream ids, "
            "each call gets the next one). gRPC always uses POST, the :path names "
            "/package.Service/Method.", clean(s1, sizeof s1, method->value, method->value_len, 16),
            path ? clean(s2, sizeof s2, path->value, path->value_len, 40) : "(no :path)", sid);
        if (ct)
            say(b, pre, post,
                "  content-type %s: a gRPC server answers anything not starting with "
                "application/grpc with HTTP 415.", clean(s1, sizeof s1, ct->value, ct->value_len, 40));
        if (find(fr, "te"))
            say(b, pre, post, "  te: trailers - the client declares it accepts trailers, which "
                "gRPC needs for its status.");
        if (to)
            say(b, pre, post, "  grpc-timeout %s: the call's deadline, relative to now "
                "(digits then a unit: H M S m u n).", clean(s1, sizeof s1, to->value, to->value_len, 12));
    } else if (status && gs && fr->block_end_stream) {
        say(b, pre, post,
            "  Trailers-Only response: :status %s and grpc-status %s (%s) in a single HEADERS "
            "with END_STREAM and no message - how gRPC answers a call that fails at once.",
            clean(s1, sizeof s1, status->value, status->value_len, 8),
            clean(s2, sizeof s2, gs->value, gs->value_len, 8), grpc_status_name(field_int(gs)));
    } else if (status) {
        int st = field_int(status);
        if (st == 200)
            say(b, pre, post,
                "  Response headers: :status 200 only says HTTP worked; the gRPC result comes "
                "at the end, in the grpc-status trailer (there are two status codes).");
        else
            say(b, pre, post,
                "  Response headers with HTTP status %s: not an answer from a gRPC service; "
                "a client reports it as %s (gRPC's http-grpc-status-mapping).",
                clean(s1, sizeof s1, status->value, status->value_len, 8),
                grpc_status_name(grpc_status_from_http(st)));
    } else if (gs) {
        int g = field_int(gs);
        say(b, pre, post,
            "  Trailers: header fields after the messages, ending the stream. grpc-status %s "
            "(%s) is the call's result%s, while the HTTP status stayed 200.",
            clean(s1, sizeof s1, gs->value, gs->value_len, 8), grpc_status_name(g),
            g == 0 ? "" : "; grpc-message says why");
    } else if (fr->block_end_stream) {
        say(b, pre, post, "  Trailers without grpc-status: a gRPC client reports such a call "
            "as failed (INTERNAL or UNKNOWN).");
    }
    say(b, pre, post,
        "  HPACK packed %zu field%s (about %zu bytes as text) into %zu bytes: fields come from "
        "the static table (61 common entries), the dynamic table (entries this connection added "
        "earlier, one table per direction) or as literals, optionally Huffman-coded.",
        fr->nfields, fr->nfields == 1 ? "" : "s", plain, fr->block_len);
    for (size_t i = 0; i < fr->nfields; i++)
        explain_field(b, pre, post, &fr->fields[i]);
    if (fr->hpack_unknown)
        say(b, pre, post, "  Some fields refer to dynamic-table entries from before the capture "
            "began: unknown, shown as such rather than guessed.");
    if (fr->hpack_err)
        say(b, pre, post, "  HPACK decoding failed here (%s): the rest of this direction's "
            "headers cannot be trusted.", fr->hpack_why ? fr->hpack_why : "malformed");
}

void view_explain_frame(gw_buf *b, const h2_frame_rec *fr, const char *pre, const char *post)
{
    const h2_frame *f = &fr->f;
    const char *w = who(fr->from_client), *o = peer(fr->from_client);
    switch (f->type) {
    case H2_FRAME_DATA:
        say(b, pre, post,
            "DATA on stream %" PRIu32 " from %s: %" PRIu32 " bytes of %s body. gRPC frames each "
            "message with a 5-byte prefix (1 byte compressed flag, 4 bytes big-endian length) "
            "before the protobuf bytes; a message may span DATA frames. These %" PRIu32 " bytes "
            "count against the stream's and the connection's flow-control windows.%s",
            f->stream_id, w, f->data_len, fr->from_client == 0 ? "the response" : "the request",
            f->length, (f->flags & H2_FLAG_END_STREAM)
                           ? (fr->from_client == 0 ? " END_STREAM: no trailers follow - unusual "
                                                     "for gRPC, whose status is in trailers."
                                                   : " END_STREAM: the client has sent its last "
                                                     "message (half-close).")
                           : "");
        break;
    case H2_FRAME_HEADERS:
        say(b, pre, post, "HEADERS on stream %" PRIu32 " from %s: a header block, HPACK-compressed "
            "(RFC 7541)%s%s.", f->stream_id, w,
            (f->flags & H2_FLAG_END_HEADERS) ? "" : ", continued in CONTINUATION frames",
            (f->flags & H2_FLAG_END_STREAM) ? "; END_STREAM: the sender's half of the stream is done"
                                            : "");
        break;
    case H2_FRAME_PRIORITY:
        say(b, pre, post, "PRIORITY on stream %" PRIu32 ": the sender's advice on scheduling; "
            "deprecated by RFC 9113 (5.3.2) and ignored by gRPC.", f->stream_id);
        break;
    case H2_FRAME_RST_STREAM: {
        int g = grpc_status_from_h2_error(f->error_code);
        say(b, pre, post,
            "RST_STREAM on stream %" PRIu32 " from %s: the stream ends at once with %s - %s. "
            "Without a grpc-status, a gRPC client reports the call as %s.", f->stream_id, w,
            h2_error_name(f->error_code), h2_error_meaning(f->error_code), grpc_status_name(g));
        break;
    }
    case H2_FRAME_SETTINGS:
        if (f->flags & H2_FLAG_ACK) {
            say(b, pre, post, "SETTINGS ACK from %s: it received %s's SETTINGS and applies them "
                "from here on; an ACK carries no parameters (RFC 9113 6.5.3).", w, o);
        } else {
            say(b, pre, post, "SETTINGS from %s: the parameters %s accepts on this connection, "
                "%s; %s must answer with a SETTINGS ACK (RFC 9113 6.5).", w,
                fr->from_client == 1 ? "the client" : fr->from_client == 0 ? "the server" : "it",
                f->nsettings ? "each one below" : "none here, so the defaults stand", o);
            for (uint32_t i = 0; i < f->nsettings; i++) {
                uint16_t id;
                uint32_t v;
                h2_frame_setting(f, i, &id, &v);
                explain_setting(b, pre, post, id, v);
            }
        }
        break;
    case H2_FRAME_PUSH_PROMISE:
        say(b, pre, post, "PUSH_PROMISE from %s: server push; gRPC never uses it.", w);
        break;
    case H2_FRAME_PING:
        if (f->flags & H2_FLAG_ACK)
            say(b, pre, post, "PING ACK from %s: echoes the 8 bytes of the PING it answers; the "
                "time between the two is one round trip.", w);
        else
            say(b, pre, post, "PING from %s: 8 opaque bytes %s must echo in a PING ACK (RFC 9113 "
                "6.7). gRPC uses pings for keepalive, to measure the round trip and (grpc-go) to "
                "estimate the bandwidth-delay product and grow its windows.", w, o);
        break;
    case H2_FRAME_GOAWAY:
        say(b, pre, post,
            "GOAWAY from %s (%s - %s): no new streams on this connection; streams up to id %" PRIu32
            " may still finish, later ones were not processed and can be retried on a new "
            "connection.%s", w, h2_error_name(f->error_code), h2_error_meaning(f->error_code),
            f->last_stream_id,
            f->last_stream_id == 0x7fffffff
                ? " Last id 2^31-1 is the first step of a graceful shutdown: a second GOAWAY with "
                  "the real last id follows (after a PING round trip in grpc-go)."
                : "");
        break;
    case H2_FRAME_WINDOW_UPDATE:
        if (f->stream_id == 0)
            say(b, pre, post, "WINDOW_UPDATE on stream 0 from %s: flow control for the whole "
                "connection - %s may send %" PRIu32 " more bytes of DATA (only DATA counts; "
                "every window starts at 65535).", w, o, f->window_increment);
        else
            say(b, pre, post, "WINDOW_UPDATE on stream %" PRIu32 " from %s: %s may send %" PRIu32
                " more bytes of DATA on this stream (flow control, RFC 9113 6.9).", f->stream_id,
                w, o, f->window_increment);
        break;
    case H2_FRAME_CONTINUATION:
        say(b, pre, post, "CONTINUATION on stream %" PRIu32 ": more of a header block that did "
            "not fit in one frame; nothing else may come between on the connection.", f->stream_id);
        break;
    default:
        say(b, pre, post, "Frame type %u is not defined by RFC 9113: receivers ignore unknown "
            "frame types (an extension).", f->type);
    }
    if (fr->has_block)
        explain_block(b, fr, pre, post);
    if (f->anomaly)
        say(b, pre, post, "  This frame breaks a rule of RFC 9113: %s.", f->anomaly);
}

void view_explain_message(gw_buf *b, const grpc_call *c, const grpc_msg *m, const char *pre,
                          const char *post)
{
    say(b, pre, post,
        "gRPC %s message %" PRIu32 ": the 5-byte prefix says %s (flag %d) and %" PRIu32 " bytes "
        "follow%s%s.", m->from_client ? "request" : "response", m->index + 1,
        m->compressed ? "compressed" : "not compressed", m->compressed ? 1 : 0, m->length,
        m->compressed ? ", compressed with the call's grpc-encoding " : "",
        m->compressed ? (m->encoding ? m->encoding : "(unknown)") : "");
    if (c->is_grpc && m->data && m->decoded && !m->truncated)
        say(b, pre, post, "  The bytes are a protobuf message: fields as (number, wire type) "
            "tags and values; without the .proto, names are unknown and types are guessed.");
}

void view_explain_tcp(gw_buf *b, const cap_layers *l, const char *pre, const char *post)
{
    uint8_t f = l->flags;
    uint32_t len = l->payload_len + l->payload_missing;
    if (!l->is_tcp)
        return;
    if ((f & CAP_TCP_SYN) && !(f & CAP_TCP_ACK))
        say(b, pre, post, "TCP SYN: the client opens a connection to port %u (1 of the 3-way "
            "handshake: SYN, SYN-ACK, ACK).",
            l->dport);
    else if ((f & CAP_TCP_SYN) && (f & CAP_TCP_ACK))
        say(b, pre, post, "TCP SYN-ACK: the server accepts (2 of 3).");
    else if (f & CAP_TCP_RST)
        say(b, pre, post, "TCP RST: the connection is aborted at once; anything unsent is lost.");
    else if (f & CAP_TCP_FIN)
        say(b, pre, post, "TCP FIN: port %u has nothing more to send (it can still receive); "
            "the connection ends when both sides have sent FIN.", l->sport);
    else if (len == 0 && (f & CAP_TCP_ACK))
        say(b, pre, post, "TCP ACK without data: acknowledges the bytes received so far "
            "(the one right after a SYN-ACK completes the handshake).");
    else if (len)
        say(b, pre, post, "TCP data that holds no complete HTTP/2 frame: the frame continues in "
            "a later segment (HTTP/2 frames and TCP segments need not line up).");
}

void view_explain_call(gw_buf *b, const grpc_call *c, const char *pre, const char *post)
{
    if (!c->is_grpc) {
        say(b, pre, post, "Not gRPC: the request's content-type is not application/grpc, so "
            "this is a plain HTTP/2 request%s.", c->http_status == 415 ? " and the 415 answer "
            "is what a gRPC server must send to it" : "");
        return;
    }
    if (c->grpc_status >= 0) {
        say(b, pre, post,
            "Two status codes: HTTP %d in the response headers says the request reached a gRPC "
            "server; grpc-status %d (%s) in the %s is the call's result%s.",
            c->http_status >= 0 ? c->http_status : 200, c->grpc_status,
            grpc_status_name(c->grpc_status),
            c->trailers_only ? "Trailers-Only response (one HEADERS, no message)" : "trailers",
            c->grpc_status ? (c->grpc_message && *c->grpc_message
                                  ? "; grpc-message (quoted above, percent-encoded on the wire) "
                                    "tells why"
                                  : "; there is no grpc-message to say why")
                           : "");
        if (c->status_details_len)
            say(b, pre, post, "  grpc-status-details-bin: %zu bytes of google.rpc.Status "
                "(base64 on the wire) with richer error details.", c->status_details_len);
    } else if (c->rst_code >= 0) {
        say(b, pre, post, "Ended by RST_STREAM(%s) from the %s before any grpc-status: a client "
            "reports %s.", h2_error_name((uint32_t)c->rst_code), c->rst_by_client ? "client" : "server",
            grpc_status_name(c->implied_status >= 0 ? c->implied_status
                                                    : grpc_status_from_h2_error((uint32_t)c->rst_code)));
    } else if (c->http_status >= 0 && c->http_status != 200) {
        say(b, pre, post, "HTTP %d and no grpc-status: not a gRPC answer; a client maps it to %s "
            "(http-grpc-status-mapping).", c->http_status,
            grpc_status_name(grpc_status_from_http(c->http_status)));
    } else if (c->goaway) {
        say(b, pre, post, "Ended by GOAWAY: the connection stopped before this call finished.");
    } else if (!c->complete) {
        say(b, pre, post, "The capture does not show how this call ended (no trailers seen).");
    }
    if (c->timeout_ns >= 0 && c->t_end >= c->t_start)
        say(b, pre, post, "  Deadline: the client allowed %.3f ms (grpc-timeout); the call took "
            "%.3f ms.", (double)c->timeout_ns / 1e6, (double)(c->t_end - c->t_start) / 1e6);
    if ((c->req_encoding && strcmp(c->req_encoding, "identity")) ||
        (c->resp_encoding && strcmp(c->resp_encoding, "identity")))
        say(b, pre, post, "  Compression: request %s, response %s (grpc-encoding; the prefix flag "
            "marks each compressed message).", c->req_encoding ? c->req_encoding : "identity",
            c->resp_encoding ? c->resp_encoding : "identity");
}
