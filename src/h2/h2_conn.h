/* h2_conn: the HTTP/2 view of one TCP connection. Takes each direction's ordered bytes and gaps
 * from tcp, detects HTTP/2 (client preface, or a run of plausible frame headers for a connection
 * seen from the middle), splits frames, joins header blocks across CONTINUATION, runs one HPACK
 * decoder per direction, and emits one record per frame. After a gap it resynchronises on the
 * next plausible frame header and marks HPACK of that direction out of sync.
 * Limits (h2_opts): frame size accepted, header block size, CONTINUATION count, bytes examined
 * before giving up on detection. Never allocates per frame on the hot path except to join a
 * frame split across segments (bounded by max_frame). */
#ifndef H2_CONN_H
#define H2_CONN_H
#include <stddef.h>
#include <stdint.h>

#include "h2/h2_frame.h"
#include "h2/hpack.h"
#include "tcp/tcp.h"

typedef struct h2_opts {
    uint32_t max_frame;          /* largest frame length we buffer/accept (default 16 MiB - 1) */
    size_t max_header_block;     /* header block bytes across CONTINUATION (default 256 KiB) */
    unsigned max_continuations;  /* CONTINUATION frames per block (default 64) */
    size_t detect_max;           /* span of one chain of frame headers: the window held while
                                    looking for HTTP/2 (64 KiB) */
    size_t detect_budget;        /* bytes scanned per direction before "not HTTP/2" when the
                                    connection is seen from the middle: enough to get past a
                                    large DATA frame the capture began inside (4 MiB) */
    unsigned detect_run;         /* plausible frame headers in a row needed mid-stream (3) */
    int force;                   /* treat the connection as HTTP/2 whatever it looks like */
    hpack_opts hpack;
} h2_opts;
void h2_opts_default(h2_opts *o);

enum h2_state {
    H2_DETECTING = 0, /* not decided yet */
    H2_YES,           /* HTTP/2 */
    H2_NO,            /* not HTTP/2: its bytes are ignored */
};

typedef struct h2_conn h2_conn;

/* One frame, as views and the gRPC layer see it. Borrowed for the duration of the callback. */
typedef struct h2_frame_rec {
    int dir;              /* tcp direction: the sender is ep[dir] */
    int from_client;      /* 1 if the sender is the client, 0 server, -1 unknown */
    uint64_t off;         /* stream offset of the frame's first byte */
    uint64_t first_pkt;   /* packet that carried its first byte */
    uint64_t last_pkt;    /* packet that completed it: views show it there, as tshark does */
    int64_t ts_ns;        /* timestamp of last_pkt */
    h2_frame f;           /* payload borrowed */
    /* When this frame ends a header block (END_HEADERS on HEADERS, PUSH_PROMISE or
     * CONTINUATION): the decoded fields of the whole block. */
    int has_block;
    uint32_t block_stream;      /* stream the block belongs to */
    uint8_t block_type;         /* H2_FRAME_HEADERS or H2_FRAME_PUSH_PROMISE */
    uint8_t block_end_stream;   /* END_STREAM was set on the HEADERS that began the block */
    size_t block_len;           /* encoded bytes of the whole block */
    const hpack_field *fields;
    size_t nfields;
    int hpack_err;              /* 0, or the error that stopped decoding (fields before it are kept) */
    const char *hpack_why;      /* static reason with hpack_err */
    int hpack_unknown;          /* some fields referenced entries from before the capture */
    /* (Addition) The sum over fields of name_len + value_len + 2 when the decoder counted it
     * (the block decoded whole), else 0: consumers that need it then add it up themselves. */
    size_t field_bytes;
} h2_frame_rec;

typedef struct h2_callbacks {
    void *u;
    /* The client preface (24 bytes) was seen. */
    void (*on_preface)(void *u, h2_conn *h, int dir, uint64_t pkt_no, int64_t ts_ns);
    void (*on_frame)(void *u, h2_conn *h, const h2_frame_rec *fr);
    /* `len` bytes at `off` were not parsed as frames: lost in a gap, or skipped while looking
     * for the next frame header. why is static. */
    void (*on_skip)(void *u, h2_conn *h, int dir, uint64_t off, uint64_t len, const char *why,
                    uint64_t pkt_no, int64_t ts_ns);
    /* A connection-level anomaly (static), e.g. "HPACK out of sync after gap". */
    void (*on_anomaly)(void *u, h2_conn *h, int dir, uint32_t stream, uint64_t pkt_no,
                       const char *what);
    /* Detection settled (H2_YES or H2_NO). */
    void (*on_detect)(void *u, h2_conn *h, int state);
} h2_callbacks;

/* tc is borrowed and must outlive the h2_conn (free it in the tcp on_close). cb is copied. */
h2_conn *h2_conn_new(const h2_opts *opts, const h2_callbacks *cb, tcp_conn *tc);
void h2_conn_del(h2_conn *h);
/* Feed from tcp's callbacks. */
void h2_conn_data(h2_conn *h, int dir, uint64_t off, const uint8_t *p, size_t n, uint64_t pkt_no,
                  int64_t ts_ns);
void h2_conn_gap(h2_conn *h, int dir, uint64_t off, uint64_t len, uint64_t pkt_no, int64_t ts_ns);
/* The connection is over: settle what detection still holds (a direction seen mid-stream whose
 * frames were too few for detect_run is taken when they run exactly to its last byte). */
void h2_conn_end(h2_conn *h);
int h2_conn_state(const h2_conn *h);
tcp_conn *h2_conn_tcp(const h2_conn *h);
/* HPACK state of a direction: 1 synced, 0 not. */
int h2_conn_hpack_synced(const h2_conn *h, int dir);

#endif
