/* h2_frame: the HTTP/2 frame envelope and typed payloads (RFC 9113 4 and 6), parsed zero-copy.
 * Protocol violations are recorded on the frame (anomaly), never refused: views show them. */
#ifndef H2_FRAME_H
#define H2_FRAME_H
#include <stddef.h>
#include <stdint.h>

#define H2_PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" /* RFC 9113 3.4 */
#define H2_PREFACE_LEN 24
#define H2_FRAME_HDR_LEN 9                  /* RFC 9113 4.1 */

enum h2_frame_type {
    H2_FRAME_DATA = 0,          /* RFC 9113 6.1 */
    H2_FRAME_HEADERS = 1,       /* 6.2 */
    H2_FRAME_PRIORITY = 2,      /* 6.3 */
    H2_FRAME_RST_STREAM = 3,    /* 6.4 */
    H2_FRAME_SETTINGS = 4,      /* 6.5 */
    H2_FRAME_PUSH_PROMISE = 5,  /* 6.6 */
    H2_FRAME_PING = 6,          /* 6.7 */
    H2_FRAME_GOAWAY = 7,        /* 6.8 */
    H2_FRAME_WINDOW_UPDATE = 8, /* 6.9 */
    H2_FRAME_CONTINUATION = 9,  /* 6.10 */
};

#define H2_FLAG_END_STREAM 0x01  /* DATA, HEADERS */
#define H2_FLAG_ACK 0x01         /* SETTINGS, PING */
#define H2_FLAG_END_HEADERS 0x04 /* HEADERS, PUSH_PROMISE, CONTINUATION */
#define H2_FLAG_PADDED 0x08      /* DATA, HEADERS, PUSH_PROMISE */
#define H2_FLAG_PRIORITY 0x20    /* HEADERS */

enum h2_settings_id { /* RFC 9113 6.5.2 */
    H2_SETTINGS_HEADER_TABLE_SIZE = 1,
    H2_SETTINGS_ENABLE_PUSH = 2,
    H2_SETTINGS_MAX_CONCURRENT_STREAMS = 3,
    H2_SETTINGS_INITIAL_WINDOW_SIZE = 4,
    H2_SETTINGS_MAX_FRAME_SIZE = 5,
    H2_SETTINGS_MAX_HEADER_LIST_SIZE = 6,
    H2_SETTINGS_ENABLE_CONNECT_PROTOCOL = 8, /* RFC 8441 */
};

/* One frame. Every pointer is borrowed from the bytes given to h2_frame_payload_parse. */
typedef struct h2_frame {
    /* envelope (RFC 9113 4.1) */
    uint32_t length;       /* 24-bit payload length */
    uint8_t type;
    uint8_t flags;
    uint8_t reserved;      /* the R bit */
    uint32_t stream_id;    /* 31 bits */
    /* typed payload (valid after h2_frame_payload_parse) */
    const uint8_t *payload; /* `length` bytes */
    uint8_t pad_len;       /* PADDED frames */
    const uint8_t *data;   /* DATA content; header block fragment of HEADERS, PUSH_PROMISE and
                              CONTINUATION; GOAWAY debug data; PING opaque data (8 bytes) */
    uint32_t data_len;
    uint8_t has_priority;  /* HEADERS with PRIORITY flag, or a PRIORITY frame */
    uint8_t exclusive;
    uint32_t dep_stream;
    uint16_t weight;       /* 1..256 as the RFC means it (wire value + 1) */
    uint32_t error_code;   /* RST_STREAM, GOAWAY */
    uint32_t promised_id;  /* PUSH_PROMISE */
    uint32_t last_stream_id; /* GOAWAY */
    uint32_t window_increment; /* WINDOW_UPDATE */
    uint32_t nsettings;    /* SETTINGS: entries readable with h2_frame_setting() */
    const char *anomaly;   /* first protocol violation found (static), or NULL */
} h2_frame;

/* Parse the 9-byte envelope. Returns 9, or GW_INCOMPLETE when n < 9. */
ptrdiff_t h2_frame_hdr_parse(const uint8_t *p, size_t n, h2_frame *f);
/* The envelope of 9 bytes the caller has checked are there, setting only the envelope fields
 * (length, type, flags, reserved, stream_id): for a frame whose payload parse follows at once,
 * which sets every typed field. Inline because it runs once per frame. */
static inline void h2_frame_envelope(const uint8_t p[H2_FRAME_HDR_LEN], h2_frame *f)
{
    /* Two big-endian words (compilers turn these into byte-swapping loads). */
    uint32_t w0 = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    uint32_t w1 = (uint32_t)p[5] << 24 | (uint32_t)p[6] << 16 | (uint32_t)p[7] << 8 | p[8];
    f->length = w0 >> 8;
    f->type = (uint8_t)w0;
    f->flags = p[4];
    f->reserved = (uint8_t)(w1 >> 31);
    f->stream_id = w1 & 0x7fffffffu;
}
/* Parse the payload of a frame whose envelope is in *f; p holds f->length bytes. Fills the
 * typed fields; a violation (bad padding, wrong length, stream 0 where forbidden, ...) sets
 * f->anomaly and keeps what can be read. Returns 0. */
int h2_frame_payload_parse(h2_frame *f, const uint8_t *p);
/* SETTINGS entry i (< nsettings). */
void h2_frame_setting(const h2_frame *f, uint32_t i, uint16_t *id, uint32_t *value);

/* Could these bytes start a frame? Known type, flags valid for it, length <= max_frame, stream
 * id 0 exactly where the type needs it, and - when sender_is_client is 0 or 1 - a HEADERS
 * stream id of the right parity. Returns 1 if plausible, 0 if not, GW_INCOMPLETE if n < 9. */
int h2_frame_plausible(const uint8_t *p, size_t n, uint32_t max_frame, int sender_is_client);

/* "DATA", "HEADERS", ..., or "UNKNOWN". */
const char *h2_frame_type_name(unsigned type);
/* "NO_ERROR", "PROTOCOL_ERROR", ... (RFC 9113 7), or "UNKNOWN". */
const char *h2_error_name(uint32_t code);
/* "SETTINGS_HEADER_TABLE_SIZE", ... or "UNKNOWN". */
const char *h2_settings_name(uint16_t id);

#endif
