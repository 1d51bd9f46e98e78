/* grpc_call: gRPC calls assembled from HTTP/2 frame records. A call is one request stream:
 * request headers, messages each way (5-byte prefix, reassembled across frames, emitted as soon
 * as each completes), response headers, trailers or Trailers-Only, RST_STREAM mapped to the status
 * it implies, GOAWAY closing what it names. Non-gRPC requests on the same connection are reported
 * too, marked is_grpc = 0. Limits (grpc_opts): message size buffered, decompressed size and
 * ratio, message bytes retained per call for the views, streams per connection, header bytes. */
#ifndef GRPC_CALL_H
#define GRPC_CALL_H
#include <stddef.h>
#include <stdint.h>

#include "h2/h2_conn.h"

typedef struct grpc_opts {
    size_t max_message;        /* one message's bytes buffered for decoding (default 16 MiB) */
    size_t max_decompressed;   /* decompressed size of one message (default 16 MiB) */
    unsigned max_ratio;        /* decompressed/compressed (default 1000) */
    size_t max_retained;       /* message bytes kept on a call for on_call_end (default 1 MiB) */
    unsigned max_streams;      /* open calls per connection (default 1024) */
    size_t max_header_bytes;   /* stored header names+values per call (default 64 KiB) */
    int keep;                  /* enum grpc_keep: which message bodies the views need */
    int no_header_lists;       /* the views show no header lists: req_headers, resp_headers and
                                  trailers stay empty (the fields are still read, and counted
                                  against max_header_bytes) */
} grpc_opts;

/* Message bodies are buffered, decompressed and handed out only as far as the views need them;
 * the others are counted (length, index, timing) with data == NULL. */
enum grpc_keep {
    GRPC_KEEP_ALL = 0,   /* every message (JSON, the tree) */
    GRPC_KEEP_FIRST,     /* the first message each way (the call log's preview) */
    GRPC_KEEP_NONE,      /* none (statistics, frame lists) */
};
void grpc_opts_default(grpc_opts *o);

typedef struct grpc_kv {
    char *name;  /* owned by the call */
    char *value;
    size_t name_len, value_len;
} grpc_kv;

typedef struct grpc_msg {
    int from_client;          /* 1: request message, 0: response */
    uint32_t index;           /* 0-based, per direction */
    uint32_t length;          /* as in the prefix */
    int compressed;           /* the prefix's flag */
    const char *encoding;     /* grpc-encoding in force ("identity" if none); borrowed from call */
    const uint8_t *data;      /* uncompressed payload, or the raw bytes if it could not be */
    size_t data_len;          /*   decompressed (decoded == 0) or was cut short (truncated) */
    int decoded;              /* data is the uncompressed message */
    int truncated;            /* bytes of the message were lost (gap) or over max_message */
    const char *why;          /* why it is not decoded/truncated (static), or NULL */
    uint64_t first_pkt, last_pkt;
    int64_t ts_ns;            /* completion time */
} grpc_msg;

/* Everything known about a call. Owned by the tracker; borrowed by callbacks. */
typedef struct grpc_call {
    uint64_t conn_index;      /* tcp_conn index */
    uint32_t stream;
    tcp_endpoint client, server;
    char *method;             /* :path, owned; NULL if request headers were not seen */
    char *authority;
    char *content_type;
    char *req_encoding, *resp_encoding; /* grpc-encoding each way, NULL = identity */
    char *timeout_raw;        /* grpc-timeout as sent */
    int64_t timeout_ns;       /* parsed, -1 if none or invalid */
    int is_grpc;              /* request content-type is application/grpc* (or -web) */
    const char *kind;         /* "grpc", "grpc+proto", "grpc+json", "grpc-web", "grpc-web-text",
                                 or "http" (not gRPC) */
    grpc_kv *req_headers;  size_t n_req_headers;
    grpc_kv *resp_headers; size_t n_resp_headers;
    grpc_kv *trailers;     size_t n_trailers;
    int http_status;          /* -1 if none */
    int grpc_status;          /* -1 if none (then see implied_status) */
    int implied_status;       /* the status a client would report (from RST_STREAM, HTTP status,
                                 missing trailers), -1 if none */
    char *grpc_message;       /* percent-decoded, owned; NULL if absent */
    uint8_t *status_details;  /* grpc-status-details-bin, base64-decoded, owned */
    size_t status_details_len;
    int trailers_only;
    int64_t rst_code;         /* RST_STREAM error code, -1 none */
    int rst_by_client;
    int goaway;               /* ended by GOAWAY */
    int64_t t_start;          /* first request byte (ns since epoch) */
    int64_t t_first_resp;     /* first response byte, -1 none */
    int64_t t_end;            /* last byte or close */
    uint64_t first_pkt, last_pkt;
    uint32_t n_req, n_resp;   /* messages each way */
    uint64_t req_bytes, resp_bytes; /* sum of message lengths each way */
    /* Messages retained for on_call_end, in order, up to max_retained bytes of data (later ones
     * keep their metadata but data == NULL). */
    grpc_msg *msgs; size_t n_msgs;
    int msgs_dropped;         /* some messages' data were not retained */
    int complete;             /* saw the call from its request headers to its end */
    const char *anomalies[8]; size_t n_anomalies; /* static strings */
    void *user;               /* for the views; not touched by grpc */
} grpc_call;

typedef struct grpc_callbacks {
    void *u;
    void (*on_call_start)(void *u, grpc_call *c);
    /* Each message as soon as it completes. The call's retained record of it, if there is one,
     * is already the last of c->msgs (same from_client and index); m->data may be scratch. */
    void (*on_message)(void *u, grpc_call *c, const grpc_msg *m);
    /* The call ended (end of stream both ways, RST_STREAM, GOAWAY, connection close, end of
     * capture); it is freed when this returns. */
    void (*on_call_end)(void *u, grpc_call *c);
} grpc_callbacks;

/* Move the retained bytes of c->msgs[i] to the caller (free with gw_free): a view that renders
 * on another thread keeps them without a copy. The record keeps data_len and its other fields
 * with data == NULL. NULL when there are no owned bytes (not retained, or empty). */
uint8_t *grpc_call_take_data(grpc_call *c, size_t i);

typedef struct grpc_conn grpc_conn;
/* One per h2 connection. opts may be NULL; cb is copied. */
grpc_conn *grpc_conn_new(const grpc_opts *opts, const grpc_callbacks *cb, h2_conn *h);
/* Feed every frame record of the connection. */
void grpc_conn_frame(grpc_conn *g, const h2_frame_rec *fr);
/* Bytes lost in a direction: open calls become incomplete, message reassembly resets. */
void grpc_conn_skip(grpc_conn *g, int dir, uint64_t len);
/* The connection ended: every open call ends (complete = 0 unless it had finished). */
void grpc_conn_close(grpc_conn *g, int64_t ts_ns);
void grpc_conn_del(grpc_conn *g);

/* "OK", "CANCELLED", ..., "UNAUTHENTICATED"; "UNKNOWN_STATUS" outside 0..16. */
const char *grpc_status_name(int code);
/* HTTP status -> gRPC status a client reports (gRPC's http-grpc-status-mapping.md). */
int grpc_status_from_http(int http_status);
/* RST_STREAM error code -> gRPC status (PROTOCOL-HTTP2.md "Errors"). */
int grpc_status_from_h2_error(uint32_t code);
/* grpc-timeout ("999250u") -> nanoseconds, or -1 if malformed. */
int64_t grpc_timeout_parse(const char *s, size_t n);
/* Percent-decode grpc-message into out (capacity >= n+1); bad % sequences are left raw. */
size_t grpc_message_unescape(const char *s, size_t n, char *out);

#endif
