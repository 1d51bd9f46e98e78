/* rpc internals shared by the server and the client: the epoll event loop with a timer heap, the
 * nghttp2 glue both sides use (output buffering, metadata lists) and small codecs (base64 for -bin
 * metadata, percent-encoding for grpc-message, grpc-timeout). Not a public contract. */
#ifndef RPC_INT_H
#define RPC_INT_H
#include <string.h>
#include <stddef.h>
#include <stdint.h>

#include "rpc.h"

/* ---- event loop: one per thread, not thread-safe except rpc_loop_wake */
typedef struct rpc_loop rpc_loop;
typedef struct rpc_watch {
    void (*fn)(void *u, uint32_t events); /* EPOLLIN/EPOLLOUT/EPOLLERR/EPOLLHUP */
    void *u;
} rpc_watch;
typedef struct rpc_timer {
    int64_t when;      /* monotonic ms */
    size_t slot;       /* heap index + 1; 0 = not armed */
    void (*fn)(void *u);
    void *u;
} rpc_timer;

rpc_loop *rpc_loop_new(void);
void rpc_loop_del(rpc_loop *l);
/* The watch is borrowed until rpc_loop_remove. Returns 0 or GW_ESYS. */
int rpc_loop_add(rpc_loop *l, int fd, uint32_t events, rpc_watch *w);
int rpc_loop_mod(rpc_loop *l, int fd, uint32_t events, rpc_watch *w);
void rpc_loop_remove(rpc_loop *l, int fd);
/* Arm (or re-arm) t to fire after ms; the timer is borrowed until it fires or is cancelled. */
int rpc_timer_arm(rpc_loop *l, rpc_timer *t, int64_t ms);
void rpc_timer_cancel(rpc_loop *l, rpc_timer *t);
/* Wait up to max_ms (-1: until something happens) for I/O, dispatch it, then fire due timers.
 * Returns 0 or GW_ESYS. */
int rpc_loop_once(rpc_loop *l, int64_t max_ms);
int64_t rpc_now_ms(void);

/* ---- metadata lists: owned copies of name/value pairs */
typedef struct rpc_mdblock rpc_mdblock; /* string storage, carved sequentially */
typedef struct rpc_mdlist {
    rpc_md *v; /* names and values owned (NUL-terminated), stored in blk */
    size_t n, cap;
    size_t bytes, limit; /* total name+value bytes, capped (0: no cap) */
    rpc_mdblock *blk;    /* newest first; strings never move, so a struct copy stays valid */
} rpc_mdlist;
int rpc_mdlist_add(rpc_mdlist *l, const char *name, size_t nlen, const char *value, size_t vlen);
void rpc_mdlist_free(rpc_mdlist *l);
/* Empty the list but keep (modest) memory for reuse: per-call lists on a hot path. */
void rpc_mdlist_reset(rpc_mdlist *l);
/* Last entry named name, or NULL. */
const rpc_md *rpc_mdlist_get(const rpc_mdlist *l, const char *name);

/* ---- codecs */
/* 1 if the metadata name ends in "-bin". */
int rpc_md_is_bin(const char *name);
/* Standard base64, unpadded (PROTOCOL-HTTP2.md: emit unpadded), appended to out. */
int rpc_base64_encode(const uint8_t *p, size_t n, gw_buf *out);
/* Padded or unpadded; returns 0 or GW_EPARSE. Appended to out. */
int rpc_base64_decode(const char *s, size_t n, gw_buf *out);
/* grpc-message: percent-encode bytes outside 0x20..0x7e and '%'. Appended to out, NUL-terminated. */
int rpc_percent_encode(const char *s, gw_buf *out);
/* grpc-timeout for ms: at most 8 digits, "250m", "100000S" ... into out (cap >= 16). */
void rpc_timeout_encode(int64_t ms, char *out, size_t cap);
/* Split "host:port", "[v6]:port", ":port" or "host" (default_port). Returns 0 or GW_EINVAL. */
int rpc_addr_split(const char *addr, const char *default_port, char *host, size_t hcap, char *port,
                   size_t pcap);
/* Comma-separated token list contains tok (case-insensitive, spaces trimmed). */
int rpc_list_has(const char *list, size_t n, const char *tok);


/* Move up to len pending bytes of out (from *off) into buf for nghttp2's data provider; the
 * buffer is emptied when drained and compacted past 1 MiB. Returns the bytes moved. */
static inline size_t rpc_out_take(gw_buf *out, size_t *off, uint8_t *buf, size_t len)
{
    size_t avail = out->len - *off;
    size_t k = avail < len ? avail : len;
    if (k)
        memcpy(buf, out->data + *off, k);
    *off += k;
    if (*off == out->len) {
        *off = 0;
        gw_buf_reset(out);
    } else if (*off > (1u << 20)) {
        gw_buf_consume(out, *off);
        *off = 0;
    }
    return k;
}

#endif
