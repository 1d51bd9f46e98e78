/* view: the only printers. Each view consumes dissect records and writes text or NDJSON to a
 * FILE through a buffer (no stdio call per field). Views stream: calls print as they end,
 * packets as they are read; only conversations and statistics print at the end, holding one
 * small summary per connection or method. */
#ifndef VIEW_H
#define VIEW_H
#include <stdint.h>
#include <stdio.h>

#include "common/gw_buf.h"
#include "dissect/dissect.h"
#include "pb/pb_wire.h"

enum view_kind {
    VIEW_CALLS = 0, /* the call log (default) */
    VIEW_FRAMES,    /* one line per packet with its HTTP/2 frames */
    VIEW_TREE,      /* -V: every layer of every packet */
    VIEW_CONV,      /* --conversations */
    VIEW_STATS,     /* --stats */
};

enum view_json_mode {
    VIEW_JSON_OFF = 0,
    VIEW_JSON_CALLS,    /* --json: one object per call (or per packet/connection for the other views) */
    VIEW_JSON_MESSAGES, /* --json=messages: also one object per message as it completes */
};

typedef struct view_opts {
    FILE *out;
    int json;               /* enum view_json_mode */
    int color;              /* ANSI colour (only on a tty, never with NO_COLOR) */
    int line_flush;         /* flush after every record (live capture, pipes to a human) */
    int explain;            /* --explain: plain-language lines for learners */
    int threads;            /* 2: JSON messages render and output writes on a second thread
                               (same bytes, same order); 1: all on the caller's */
    /* selection */
    uint64_t first_pkt, last_pkt; /* packet range (inclusive); last 0 = no limit */
    int64_t conn;           /* only this connection index; -1 all */
    int64_t stream;         /* only this stream id; -1 all */
    uint64_t max_count;     /* -c: stop after this many records (packets or calls); 0 = no limit */
    pb_opts pb;
    struct pb_schemas *schemas; /* message types by method (src/pb/pb_schema.h): built-ins,
                                   --proto, --protoset, learned from reflection; NULL: schemaless */
} view_opts;
void view_opts_default(view_opts *o);

typedef struct view view;
/* Create a view and fill `sink` with its callbacks. Returns 0 or GW_ENOMEM. */
int view_new(view **out, int kind, const view_opts *o, dissect_sink *sink);
/* Split reading (dissect_new_split): two views of one kind, one per dissecting thread, whose
 * records reach o->out merged into exactly the order one view would print them. *out is the
 * view to finish and delete (it owns the second); sinks[0] and sinks[1] are the two views'
 * sinks; view_pair_merge with *out as its argument is dissect's merge callback. For the call
 * log (text or JSON) and --stats, without max_count or line_flush; GW_EINVAL otherwise. */
int view_new_pair(view **out, int kind, const view_opts *o, dissect_sink sinks[2]);
void view_pair_merge(void *first, uint64_t epoch);
/* End of input: print what is printed at the end, flush. Returns 0 or GW_EIO (write failed). */
int view_finish(view *v);
/* Wait until the writer thread has caught up: call before changing what jobs read (schemas). */
void view_sync(view *v);
/* 1 when max_count records were printed or output failed: the reader may stop. */
int view_done(const view *v);
void view_del(view *v);

/* ---- shared formatting (view_fmt.c) ------------------------------------------------------ */
/* RFC 3339 UTC with microseconds: 2024-08-29T02:15:57.925436Z */
void view_fmt_rfc3339(gw_buf *b, int64_t ts_ns);
/* 02:15:57.925436 (UTC, like tcpdump -tttt without the date) */
void view_fmt_clock(gw_buf *b, int64_t ts_ns);
/* A duration: 286us, 1.25ms, 3.2s */
void view_fmt_duration(gw_buf *b, int64_t ns);
/* addr:port, IPv6 in brackets */
void view_fmt_endpoint(gw_buf *b, const tcp_endpoint *e);
/* a byte count: 13 B, 1.2 kB, 3.4 MB */
void view_fmt_bytes(gw_buf *b, uint64_t n);
/* Printable text: non-printable bytes as \xNN, at most max bytes then "...". */
void view_fmt_text(gw_buf *b, const char *s, size_t n, size_t max);

/* Colours: empty strings when colour is off. */
typedef struct view_colors {
    const char *reset, *dim, *bold, *red, *green, *yellow, *blue, *magenta, *cyan;
} view_colors;
const view_colors *view_colors_get(int on);

/* Write the buffer to f and empty it; GW_EIO on a write error. */
int view_flush_buf(gw_buf *b, FILE *f);

#endif
