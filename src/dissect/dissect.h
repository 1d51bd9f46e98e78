/* dissect: the whole read pipeline wired once - capture decode -> tcp -> h2 -> grpc - so that
 * every front end (read, live, proxy, demo) drives it the same way: hand it packets, receive
 * records. It owns the per-connection state of every layer and frees it when tcp closes the
 * connection. It prints nothing; views consume the records through dissect_sink. */
#ifndef DISSECT_H
#define DISSECT_H
#include <stdint.h>

#include "capture/cap.h"
#include "grpc/grpc_call.h"
#include "h2/h2_conn.h"
#include "tcp/tcp.h"

#define DISSECT_MAX_H2_PORTS 16

typedef struct dissect_opts {
    cap_opts cap;
    tcp_opts tcp;
    h2_opts h2;
    grpc_opts grpc;
    uint16_t h2_ports[DISSECT_MAX_H2_PORTS]; /* --h2-port: HTTP/2 without detection */
    int n_h2_ports;
    int no_grpc;                            /* views that need only frames skip call assembly */
    /* Split reading: of every 16 live connections, how many the reading thread keeps for its
     * own upper layers (it also reads and runs tcp for all). 0 means the default, 7. Views
     * whose records cost more per call want it higher. */
    int split_share;
} dissect_opts;
void dissect_opts_default(dissect_opts *o);

/* Per-packet context handed to the sink. `conn` is NULL for packets that are not TCP. */
typedef struct dissect_pkt {
    const cap_packet *pkt;
    const cap_layers *l;
    int is_tcp;
    tcp_conn *conn;
    int dir;             /* sender's ep index */
} dissect_pkt;

/* What views receive. Every callback may be NULL; records are borrowed for the call. Frames,
 * gaps and skips arrive between on_packet_begin and on_packet_end of the packet whose arrival
 * produced them (held segments delivered later appear under the packet that released them). */
typedef struct dissect_sink {
    void *u;
    void (*on_packet_begin)(void *u, const dissect_pkt *dp);
    void (*on_packet_end)(void *u, const dissect_pkt *dp);
    void (*on_conn_open)(void *u, const tcp_conn *c);
    void (*on_conn_close)(void *u, const tcp_conn *c, int why, int h2_state);
    void (*on_tcp_gap)(void *u, const tcp_conn *c, int dir, uint64_t off, uint64_t len);
    void (*on_tcp_anomaly)(void *u, const tcp_conn *c, int dir, uint64_t pkt_no, const char *what);
    void (*on_preface)(void *u, const tcp_conn *c, int dir);
    void (*on_frame)(void *u, const tcp_conn *c, const h2_frame_rec *fr);
    void (*on_h2_skip)(void *u, const tcp_conn *c, int dir, uint64_t off, uint64_t len,
                       const char *why);
    void (*on_h2_anomaly)(void *u, const tcp_conn *c, int dir, uint32_t stream, const char *what);
    void (*on_call_start)(void *u, grpc_call *call);
    void (*on_message)(void *u, grpc_call *call, const grpc_msg *m);
    void (*on_call_end)(void *u, grpc_call *call);
    /* Split reading only (dissect_new_split). on_seq: the records that follow, up to the next
     * on_seq, come from event number seq; events are numbered in the order one thread would
     * deliver them, so sorting two sinks' records by it gives one thread's order. on_epoch: the
     * events of epoch e (a run of packets) are all delivered to this sink. */
    void (*on_seq)(void *u, uint64_t seq);
    void (*on_epoch)(void *u, uint64_t epoch);
} dissect_sink;

typedef struct dissect dissect;

/* opts may be NULL; the sink is copied. Returns 0 or GW_ENOMEM. */
int dissect_new(dissect **out, const dissect_opts *opts, const dissect_sink *sink);
/* Split reading, for the second core: connections are dealt between two sinks. sinks[0] gets
 * its records on the caller's thread, as dissect_new's sink does (and every packet's begin and
 * end); sinks[1] gets the records of its connections on a thread the dissect owns, in the same
 * order per connection (the tcp_conn it is shown is that thread's copy). merge(merge_u, e) runs on
 * that thread after both sinks saw on_epoch(e), epochs in order; the reader runs at most
 * DISSECT_EPOCHS epochs ahead of it. Returns 0 or GW_ENOMEM (no thread). */
#define DISSECT_EPOCHS 4
int dissect_new_split(dissect **out, const dissect_opts *opts, const dissect_sink sinks[2],
                      void (*merge)(void *merge_u, uint64_t epoch), void *merge_u);
/* One packet through every layer. Returns 0 or GW_ENOMEM. */
int dissect_packet(dissect *d, const cap_packet *pkt);
/* End of input: deliver what is held, end every call and connection (split: and wait until
 * the last epoch is merged). */
void dissect_finish(dissect *d);
void dissect_del(dissect *d);

/* Totals for summaries and progress. */
typedef struct dissect_stats {
    uint64_t packets, bytes, tcp_packets, conns, h2_conns, calls, frames;
    int64_t first_ts_ns, last_ts_ns;
} dissect_stats;
dissect_stats dissect_get_stats(const dissect *d);

#endif
