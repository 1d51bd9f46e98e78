/* h2_frame: the 9-byte envelope and the typed payloads of RFC 9113 4.1 and 6. Zero-copy: every
 * pointer set on an h2_frame borrows the caller's bytes. A violation is recorded as the frame's
 * first anomaly and parsing keeps whatever can still be read. */
#include "h2/h2_frame.h"

#include <string.h>

#include "gw_cur.h"
#include "gw_err.h"

/*  +-----------------------------------------------+
 *  |                 Length (24)                   |
 *  +---------------+---------------+---------------+
 *  |   Type (8)    |   Flags (8)   |
 *  +-+-------------+---------------+-------------------------------+
 *  |R|                 Stream Identifier (31)                      |
 *  +=+=============================================================+
 *  |                   Frame Payload (0...)                      ...
 *  +---------------------------------------------------------------+   RFC 9113 4.1 */
ptrdiff_t h2_frame_hdr_parse(const uint8_t *p, size_t n, h2_frame *f)
{
    if (n < H2_FRAME_HDR_LEN)
        return GW_INCOMPLETE;
    *f = (h2_frame){0};
    h2_frame_envelope(p, f); /* fixed layout, length checked above: no cursor needed */
    return H2_FRAME_HDR_LEN;
}

static void flag(h2_frame *f, const char *why)
{
    if (!f->anomaly)
        f->anomaly = why;
}

/* Which types live on a stream, which on the connection (stream 0). WINDOW_UPDATE and unknown
 * types may be either. Returns 1 stream, 0 connection, -1 either. */
static int stream_scoped(unsigned type)
{
    static const int8_t scope[10] = {
        [H2_FRAME_DATA] = 1,     [H2_FRAME_HEADERS] = 1,      [H2_FRAME_PRIORITY] = 1,
        [H2_FRAME_RST_STREAM] = 1, [H2_FRAME_SETTINGS] = 0,   [H2_FRAME_PUSH_PROMISE] = 1,
        [H2_FRAME_PING] = 0,     [H2_FRAME_GOAWAY] = 0,       [H2_FRAME_WINDOW_UPDATE] = -1,
        [H2_FRAME_CONTINUATION] = 1,
    };
    return type < sizeof scope ? scope[type] : -1;
}

/* Pad Length (RFC 9113 6.1, 6.2, 6.6): read it when PADDED, and return how many bytes of the
 * payload are left after `fixed` more bytes of typed fields, or -1 when they do not fit. */
static long padded_rest(h2_frame *f, gw_cur *c, uint32_t fixed)
{
    uint32_t head = fixed;
    if (f->flags & H2_FLAG_PADDED) {
        f->pad_len = gw_cur_u8(c);
        head++;
    }
    if (f->length < head || !gw_cur_ok(c))
        return -1;
    return (long)(f->length - head);
}

/* Stream Dependency and Weight (RFC 9113 6.3, and 6.2 with PRIORITY). */
static void priority_fields(h2_frame *f, gw_cur *c)
{
    uint32_t dep = gw_cur_be32(c);
    uint8_t w = gw_cur_u8(c);
    if (!gw_cur_ok(c))
        return;
    f->has_priority = 1;
    f->exclusive = (uint8_t)(dep >> 31);
    f->dep_stream = dep & 0x7fffffffu;
    f->weight = (uint16_t)(w + 1);
    if (f->dep_stream == f->stream_id && f->stream_id != 0)
        flag(f, "stream depends on itself"); /* RFC 9113 5.3.1 */
}

static void settings_check(h2_frame *f)
{
    for (uint32_t i = 0; i < f->nsettings; i++) {
        uint16_t id;
        uint32_t v;
        h2_frame_setting(f, i, &id, &v);
        switch (id) { /* RFC 9113 6.5.2 */
        case H2_SETTINGS_ENABLE_PUSH:
            if (v > 1)
                flag(f, "SETTINGS_ENABLE_PUSH above 1");
            break;
        case H2_SETTINGS_INITIAL_WINDOW_SIZE:
            if (v > 0x7fffffffu)
                flag(f, "SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1");
            break;
        case H2_SETTINGS_MAX_FRAME_SIZE:
            if (v < 16384 || v > 16777215)
                flag(f, "SETTINGS_MAX_FRAME_SIZE outside 2^14..2^24-1");
            break;
        case H2_SETTINGS_ENABLE_CONNECT_PROTOCOL: /* RFC 8441 3 */
            if (v > 1)
                flag(f, "SETTINGS_ENABLE_CONNECT_PROTOCOL above 1");
            break;
        default:
            break;
        }
    }
}

int h2_frame_payload_parse(h2_frame *f, const uint8_t *p)
{
    /* The typed fields run from payload to the end of the struct: clear them in one go. */
    memset((char *)f + offsetof(h2_frame, payload), 0, sizeof *f - offsetof(h2_frame, payload));
    f->payload = p;

    /* Most frames of a busy connection: unpadded DATA, HEADERS without priority fields, on a
     * stream. For those the checks below find nothing and take the whole payload as data. */
    if (f->type <= H2_FRAME_HEADERS && f->stream_id != 0 &&
        !(f->flags & (H2_FLAG_PADDED | H2_FLAG_PRIORITY))) {
        f->data = p;
        f->data_len = f->length;
        return 0;
    }
    /* The connection-level chatter of a busy connection, well formed: what the switch below
     * finds for it, without the cursor. */
    if (f->type == H2_FRAME_WINDOW_UPDATE && f->length == 4) {
        uint32_t inc = ((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]) &
                       0x7fffffffu;
        if (inc) {
            f->window_increment = inc;
            return 0;
        }
    } else if (f->type == H2_FRAME_PING && f->length == 8 && f->stream_id == 0) {
        f->data = p;
        f->data_len = 8;
        return 0;
    }

    gw_cur c = gw_cur_make(p, f->length);
    long rest;
    int scope = stream_scoped(f->type);
    if (scope == 1 && f->stream_id == 0)
        flag(f, "stream frame on stream 0");
    else if (scope == 0 && f->stream_id != 0)
        flag(f, "connection frame on a non-zero stream");

    switch (f->type) {
    case H2_FRAME_DATA: /* [Pad Length] Data [Padding]  6.1 */
        rest = padded_rest(f, &c, 0);
        if (rest < 0 || f->pad_len > rest) {
            flag(f, "padding longer than the payload");
            break;
        }
        f->data = c.p;
        f->data_len = (uint32_t)(rest - f->pad_len);
        break;
    case H2_FRAME_HEADERS: /* [Pad Length] [E|Dependency Weight] Fragment [Padding]  6.2 */
        rest = padded_rest(f, &c, (f->flags & H2_FLAG_PRIORITY) ? 5 : 0);
        if (rest < 0) {
            flag(f, (f->flags & H2_FLAG_PRIORITY) ? "HEADERS too short for its priority fields"
                                                   : "padding longer than the payload");
            break;
        }
        if (f->flags & H2_FLAG_PRIORITY)
            priority_fields(f, &c);
        if (f->pad_len > rest) {
            flag(f, "padding longer than the payload");
            break;
        }
        f->data = c.p;
        f->data_len = (uint32_t)(rest - f->pad_len);
        break;
    case H2_FRAME_PRIORITY: /* E|Dependency(31) Weight(8)  6.3 */
        if (f->length != 5)
            flag(f, "PRIORITY length is not 5");
        priority_fields(f, &c);
        break;
    case H2_FRAME_RST_STREAM: /* Error Code(32)  6.4 */
        if (f->length != 4)
            flag(f, "RST_STREAM length is not 4");
        f->error_code = gw_cur_be32(&c);
        break;
    case H2_FRAME_SETTINGS: /* (Identifier(16) Value(32))*  6.5 */
        if (f->flags & H2_FLAG_ACK) {
            if (f->length != 0)
                flag(f, "SETTINGS ACK with a payload");
            break;
        }
        if (f->length % 6)
            flag(f, "SETTINGS length is not a multiple of 6");
        f->nsettings = f->length / 6;
        settings_check(f);
        break;
    case H2_FRAME_PUSH_PROMISE: /* [Pad Length] R|Promised Stream ID(31) Fragment [Padding]  6.6 */
        rest = padded_rest(f, &c, 4);
        if (rest < 0) {
            flag(f, "PUSH_PROMISE too short");
            break;
        }
        f->promised_id = gw_cur_be32(&c) & 0x7fffffffu;
        if (f->pad_len > rest) {
            flag(f, "padding longer than the payload");
            break;
        }
        if (f->promised_id == 0)
            flag(f, "PUSH_PROMISE promises stream 0");
        f->data = c.p;
        f->data_len = (uint32_t)(rest - f->pad_len);
        break;
    case H2_FRAME_PING: /* Opaque Data(64)  6.7 */
        if (f->length != 8)
            flag(f, "PING length is not 8");
        f->data = p;
        f->data_len = f->length;
        break;
    case H2_FRAME_GOAWAY: /* R|Last-Stream-ID(31) Error Code(32) Debug Data  6.8 */
        if (f->length < 8) {
            flag(f, "GOAWAY shorter than 8");
            break;
        }
        f->last_stream_id = gw_cur_be32(&c) & 0x7fffffffu;
        f->error_code = gw_cur_be32(&c);
        f->data = c.p;
        f->data_len = f->length - 8;
        break;
    case H2_FRAME_WINDOW_UPDATE: /* R|Window Size Increment(31)  6.9 */
        if (f->length != 4)
            flag(f, "WINDOW_UPDATE length is not 4");
        f->window_increment = gw_cur_be32(&c) & 0x7fffffffu;
        if (f->length >= 4 && f->window_increment == 0)
            flag(f, "WINDOW_UPDATE increment of 0");
        break;
    case H2_FRAME_CONTINUATION: /* Fragment  6.10 */
    default:                    /* unknown types are kept whole and are not an anomaly (5.5) */
        f->data = p;
        f->data_len = f->length;
        break;
    }
    return 0;
}

void h2_frame_setting(const h2_frame *f, uint32_t i, uint16_t *id, uint32_t *value)
{
    *id = 0;
    *value = 0;
    if (i >= f->nsettings || !f->payload)
        return;
    gw_cur c = gw_cur_make(f->payload + (size_t)i * 6, 6);
    *id = gw_cur_be16(&c);
    *value = gw_cur_be32(&c);
}

/* Flags each type defines (RFC 9113 6.x); anything else on the wire is taken as a sign that these
 * bytes are not a frame header. */
static const uint8_t type_flags[10] = {
    [H2_FRAME_DATA] = H2_FLAG_END_STREAM | H2_FLAG_PADDED,
    [H2_FRAME_HEADERS] = H2_FLAG_END_STREAM | H2_FLAG_END_HEADERS | H2_FLAG_PADDED | H2_FLAG_PRIORITY,
    [H2_FRAME_SETTINGS] = H2_FLAG_ACK,
    [H2_FRAME_PUSH_PROMISE] = H2_FLAG_END_HEADERS | H2_FLAG_PADDED,
    [H2_FRAME_PING] = H2_FLAG_ACK,
    [H2_FRAME_CONTINUATION] = H2_FLAG_END_HEADERS,
};

int h2_frame_plausible(const uint8_t *p, size_t n, uint32_t max_frame, int sender_is_client)
{
    h2_frame f;
    if (h2_frame_hdr_parse(p, n, &f) < 0)
        return GW_INCOMPLETE;
    if (f.type > H2_FRAME_CONTINUATION || (f.flags & ~type_flags[f.type]) || f.length > max_frame)
        return 0;
    /* The R bit must be ignored by a receiver, but no sender sets it: a set bit is evidence. */
    if (f.reserved)
        return 0;
    int scope = stream_scoped(f.type);
    if ((scope == 1 && f.stream_id == 0) || (scope == 0 && f.stream_id != 0))
        return 0;
    uint32_t min = 0;
    if (f.flags & H2_FLAG_PADDED)
        min += 1;
    switch (f.type) {
    case H2_FRAME_HEADERS:
        if (f.flags & H2_FLAG_PRIORITY)
            min += 5;
        /* Only a client opens streams with HEADERS, on odd ids (5.1.1); a server also answers
         * on them, and sends HEADERS on even ids it promised. */
        if (sender_is_client == 1 && !(f.stream_id & 1))
            return 0;
        break;
    case H2_FRAME_PUSH_PROMISE:
        if (sender_is_client == 1) /* 8.4: only servers push */
            return 0;
        min += 4;
        break;
    case H2_FRAME_PRIORITY:
        return f.length == 5;
    case H2_FRAME_RST_STREAM:
    case H2_FRAME_WINDOW_UPDATE:
        return f.length == 4;
    case H2_FRAME_PING:
        return f.length == 8;
    case H2_FRAME_GOAWAY:
        min = 8;
        break;
    case H2_FRAME_SETTINGS:
        return (f.flags & H2_FLAG_ACK) ? f.length == 0 : f.length % 6 == 0;
    default:
        break;
    }
    return f.length >= min;
}

const char *h2_frame_type_name(unsigned type)
{
    static const char *const names[] = {"DATA",     "HEADERS",      "PRIORITY", "RST_STREAM",
                                        "SETTINGS", "PUSH_PROMISE", "PING",     "GOAWAY",
                                        "WINDOW_UPDATE", "CONTINUATION"};
    return type < sizeof names / sizeof names[0] ? names[type] : "UNKNOWN";
}

const char *h2_error_name(uint32_t code)
{
    static const char *const names[] = { /* RFC 9113 7 */
        "NO_ERROR",          "PROTOCOL_ERROR",    "INTERNAL_ERROR",      "FLOW_CONTROL_ERROR",
        "SETTINGS_TIMEOUT",  "STREAM_CLOSED",     "FRAME_SIZE_ERROR",    "REFUSED_STREAM",
        "CANCEL",            "COMPRESSION_ERROR", "CONNECT_ERROR",       "ENHANCE_YOUR_CALM",
        "INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED"};
    return code < sizeof names / sizeof names[0] ? names[code] : "UNKNOWN";
}

const char *h2_settings_name(uint16_t id)
{
    switch (id) {
    case H2_SETTINGS_HEADER_TABLE_SIZE: return "SETTINGS_HEADER_TABLE_SIZE";
    case H2_SETTINGS_ENABLE_PUSH: return "SETTINGS_ENABLE_PUSH";
    case H2_SETTINGS_MAX_CONCURRENT_STREAMS: return "SETTINGS_MAX_CONCURRENT_STREAMS";
    case H2_SETTINGS_INITIAL_WINDOW_SIZE: return "SETTINGS_INITIAL_WINDOW_SIZE";
    case H2_SETTINGS_MAX_FRAME_SIZE: return "SETTINGS_MAX_FRAME_SIZE";
    case H2_SETTINGS_MAX_HEADER_LIST_SIZE: return "SETTINGS_MAX_HEADER_LIST_SIZE";
    case H2_SETTINGS_ENABLE_CONNECT_PROTOCOL: return "SETTINGS_ENABLE_CONNECT_PROTOCOL";
    case 9: return "SETTINGS_NO_RFC7540_PRIORITIES"; /* RFC 9218 2.1 */
    case 0xfe03: return "GRPC_ALLOW_TRUE_BINARY_METADATA"; /* gRPC C-core extension */
    default: return "UNKNOWN";
    }
}
