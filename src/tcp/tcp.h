/* tcp: a flow table and per-direction reassembly that turns TCP segments into ordered byte
 * streams with explicit gaps. Offsets are 64-bit stream offsets (0 = first byte after the SYN,
 * or the first byte seen). Limits: out-of-order bytes and segments per direction and in total,
 * number of flows, idle time (tcp_opts); when a limit bites the stream reports a gap and goes on. */
#ifndef TCP_H
#define TCP_H
#include <stddef.h>
#include <stdint.h>

#include "capture/cap.h"

typedef struct tcp_opts {
    size_t ooo_max_bytes;        /* held out-of-order bytes per direction */
    unsigned ooo_max_segments;   /* held out-of-order segments per direction */
    size_t ooo_max_bytes_total;  /* held out-of-order bytes in all flows together */
    unsigned max_flows;          /* live flows; the least recently active is closed beyond it */
    int64_t idle_timeout_ns;     /* capture time after which a silent flow is closed */
} tcp_opts;
void tcp_opts_default(tcp_opts *o);

typedef struct tcp_endpoint {
    int ipver;
    uint8_t addr[16];
    uint16_t port;
} tcp_endpoint;

enum tcp_client_how {
    TCP_CLIENT_UNKNOWN = 0,
    TCP_CLIENT_PORT,  /* guessed from the ports (the lower, well-known or listed port serves) */
    TCP_CLIENT_SYN,   /* the SYN's sender */
    TCP_CLIENT_UPPER  /* settled by the layer above (HTTP/2 preface, request headers) */
};

enum tcp_close_why {
    TCP_CLOSE_FIN = 1, /* FIN seen both ways */
    TCP_CLOSE_RST,
    TCP_CLOSE_IDLE,    /* evicted: idle timeout or flow cap */
    TCP_CLOSE_END      /* end of capture */
};

/* Direction d is "bytes sent by ep[d]". Counters are per direction. */
typedef struct tcp_conn {
    uint64_t index;          /* 0-based in order of first packet, as tshark's tcp.stream */
    tcp_endpoint ep[2];      /* ep[0] sent the first packet seen */
    int client;              /* index into ep of the client; meaningful unless client_how is UNKNOWN */
    int client_how;          /* enum tcp_client_how */
    uint64_t pkts[2];        /* packets */
    uint64_t wire_bytes[2];  /* frame bytes on the wire (as tshark -z conv,tcp counts) */
    uint64_t payload_bytes[2]; /* TCP payload bytes seen, retransmissions included */
    uint64_t delivered[2];   /* bytes delivered in order (the stream offset reached) */
    uint64_t gap_bytes[2];   /* bytes never seen */
    uint32_t ngaps[2];
    int64_t first_ts_ns, last_ts_ns;
    uint8_t syn[2], fin[2], rst[2]; /* seen from that side */
    int closed;              /* on_close has been called */
    void *user;              /* owned by the layer above; it frees it in on_close */
} tcp_conn;

/* The layer above. Every callback may be NULL. During on_data the bytes are borrowed for the
 * call only. pkt_no/ts_ns name the packet that carried them (a held segment is delivered with
 * its own packet number when the hole before it fills). Callbacks run synchronously inside
 * tcp_table_add()/tcp_table_flush(). */
typedef struct tcp_callbacks {
    void *u;
    void (*on_open)(void *u, tcp_conn *c);
    void (*on_data)(void *u, tcp_conn *c, int dir, uint64_t off, const uint8_t *p, size_t n,
                    uint64_t pkt_no, int64_t ts_ns);
    /* `len` bytes at `off` will never be delivered (lost, never captured, cut by snaplen, or
     * dropped by a cap); delivery continues at off + len. */
    void (*on_gap)(void *u, tcp_conn *c, int dir, uint64_t off, uint64_t len, uint64_t pkt_no,
                   int64_t ts_ns);
    /* Something odd in this direction: a conflicting overlap, data after RST, ... (static). */
    void (*on_anomaly)(void *u, tcp_conn *c, int dir, uint64_t pkt_no, const char *what);
    /* After the last on_data/on_gap of the connection; the conn is freed when it returns. */
    void (*on_close)(void *u, tcp_conn *c, int why);
} tcp_callbacks;

typedef struct tcp_table tcp_table;
/* opts may be NULL. The callbacks struct is copied. Returns NULL on allocation failure. */
tcp_table *tcp_table_new(const tcp_opts *opts, const tcp_callbacks *cb);
/* Feed one decoded segment (seg->is_tcp). *conn and *dir (either may be NULL) receive the
 * connection and the sender's direction; the conn stays valid until the next call.
 * frame_len is the packet's wire length. Returns 0, GW_ENOMEM or GW_ECAP (nothing could be held). */
int tcp_table_add(tcp_table *t, const cap_layers *seg, uint64_t pkt_no, int64_t ts_ns,
                  uint32_t frame_len, tcp_conn **conn, int *dir);
/* The layer above knows who the client is (ep index). */
void tcp_conn_set_client(tcp_conn *c, int client_ep);
/* End of input: deliver what is held (with gaps), close every flow (TCP_CLOSE_END). */
void tcp_table_flush(tcp_table *t);
/* Close flows idle since before now_ns - idle_timeout (called by the table itself as time moves). */
void tcp_table_expire(tcp_table *t, int64_t now_ns);
/* Bytes currently held out of order, all flows. */
size_t tcp_table_held_bytes(const tcp_table *t);
size_t tcp_table_nflows(const tcp_table *t);
void tcp_table_del(tcp_table *t); /* flows still open get on_close(TCP_CLOSE_END) first */

/* "addr:port", IPv6 in brackets. buf of at least 56 bytes. */
const char *tcp_endpoint_str(const tcp_endpoint *e, char *buf, size_t n);

#endif
