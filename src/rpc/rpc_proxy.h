/* rpc_proxy: a recording TCP relay that needs no privileges. It accepts on one address, connects
 * each client to an upstream, relays bytes both ways, and turns what it relays into the packets a
 * capture on the wire between the two would have shown: Ethernet + IPv4/IPv6 + TCP with the
 * handshake, consistent sequence/ack numbers, pure ACKs, FIN or RST at the end, real timestamps.
 * Single-threaded (one epoll loop run by the caller); packets are handed to a callback on that
 * thread. Limits: connections at once (max_conns); one read of up to 64 KiB per direction is
 * held while the other side cannot take it (then that side is not read). */
#ifndef RPC_PROXY_H
#define RPC_PROXY_H
#include <stddef.h>
#include <stdint.h>

#define RPC_PROXY_MAX_SEG 65483 /* 65535 - 20 (IPv4) - 32 (TCP with timestamps) */

typedef struct rpc_proxy rpc_proxy;

typedef struct rpc_proxy_opts {
    const char *listen;   /* "127.0.0.1:0", "[::1]:8080", ":8080" */
    const char *to;       /* upstream "host:port" */
    unsigned max_conns;   /* relayed connections at once; more are refused (default 1024) */
    uint32_t mss;         /* payload bytes per synthesized segment (default RPC_PROXY_MAX_SEG) */
} rpc_proxy_opts;
void rpc_proxy_opts_default(rpc_proxy_opts *o);

enum rpc_proxy_event {
    RPC_PROXY_OPEN = 1, /* a client connected and the upstream answered */
    RPC_PROXY_CLOSE,    /* both sides closed (FIN each way) */
    RPC_PROXY_RESET,    /* one side broke (reset, error) or the upstream refused; what says */
};

typedef struct rpc_proxy_cbs {
    /* One synthesized Ethernet frame (DLT_EN10MB); data borrowed for the call. */
    void (*on_packet)(void *u, int64_t ts_ns, const uint8_t *data, uint32_t len);
    /* Connection events for logs (may be NULL). client/server are "addr:port" strings. */
    void (*on_event)(void *u, int event, const char *client, const char *server, const char *what);
    void *u;
} rpc_proxy_cbs;

/* Resolve and bind. bound (may be NULL) receives the listening address ("127.0.0.1:40123").
 * why receives a sentence on failure. Returns NULL on failure. */
rpc_proxy *rpc_proxy_new(const rpc_proxy_opts *o, const rpc_proxy_cbs *cb, char *bound,
                         size_t bound_cap, char *why, size_t why_cap);
/* Run the loop until rpc_proxy_stop(). Open connections are then closed, each recorded as an
 * RST (the relay cut them). Returns 0 or GW_ESYS. */
int rpc_proxy_run(rpc_proxy *p);
/* Make rpc_proxy_run return. Async-signal-safe and thread-safe (an eventfd write). */
void rpc_proxy_stop(rpc_proxy *p);
/* Connections open now, and relayed in total (accepted and connected upstream). Thread-safe. */
unsigned rpc_proxy_active(const rpc_proxy *p);
uint64_t rpc_proxy_total(const rpc_proxy *p);
/* NULL is fine; the loop must not be running. */
void rpc_proxy_del(rpc_proxy *p);

/* ---- packet synthesis (exposed for tests) ------------------------------------------------- */
typedef struct rpc_synth_ep {
    int ipver;          /* 4 or 6 */
    uint8_t addr[16];   /* IPv4 in the first 4 bytes */
    uint16_t port;
} rpc_synth_ep;

/* Build Ethernet + IP + TCP (NOP NOP Timestamps, or the SYN options) around payload into out
 * (capacity >= 14 + 40 + 40 + n). Checksums are computed. Returns the frame length. */
size_t rpc_synth_packet(uint8_t *out, const rpc_synth_ep *src, const rpc_synth_ep *dst,
                        uint32_t seq, uint32_t ack, uint8_t flags, uint32_t tsval,
                        uint32_t tsecr, const uint8_t *payload, uint32_t n);

#endif
