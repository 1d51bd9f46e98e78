/* tcp_int: private to src/tcp. One direction's reassembly state (tcp_reasm.c), driven by the
 * flow table (tcp_flow.c). A direction holds out-of-order data only in a side structure that
 * exists while something is held, so an idle direction costs 32 bytes. */
#ifndef TCP_INT_H
#define TCP_INT_H
#include <stddef.h>
#include <stdint.h>

#include "tcp/tcp.h"

typedef struct tcp_held tcp_held; /* one held piece of a segment (tcp_reasm.c) */

/* What a direction holds ahead of the next expected offset: sorted, never overlapping, every
 * piece starting after `next` (a piece at `next` is delivered at once). */
typedef struct tcp_ooo {
    tcp_held *head;
    uint64_t tail_end; /* end offset of the last piece */
    uint32_t n;        /* pieces */
    size_t bytes;      /* captured bytes in them */
} tcp_ooo;

enum {
    TCP_H_STARTED = 1,   /* base is known */
    TCP_H_SYN = 2,       /* base came from a SYN (offset 0 = ISN + 1) */
    TCP_H_FIN = 4,       /* fin_off is known */
    TCP_H_FIN_ACKED = 8, /* the peer acknowledged the FIN */
};

typedef struct tcp_half {
    uint64_t next;    /* next offset to deliver: bytes delivered plus gap bytes */
    uint64_t fin_off; /* offset the FIN occupies (TCP_H_FIN) */
    tcp_ooo *ooo;     /* owned; NULL while nothing is held */
    uint32_t base;    /* sequence number of offset 0 */
    uint8_t flags;    /* TCP_H_* */
} tcp_half;

/* What all flows hold together. The total cap is checked against `cost`, which charges each
 * held piece TCP_PIECE_COST bytes of bookkeeping on top of its data, so that a flood of tiny
 * or empty pieces across many flows is bounded too; tcp_table_held_bytes() reports `bytes`. */
typedef struct tcp_acct {
    size_t bytes;
    size_t cost;
} tcp_acct;
#define TCP_PIECE_COST 64

/* Everything a direction needs to call up and to account: built per packet by the table. */
typedef struct tcp_rctx {
    const tcp_callbacks *cb;
    const tcp_opts *o;
    tcp_acct *acct; /* the table's */
    tcp_conn *c;
    int dir;
    uint64_t pkt_no; /* the packet being processed (names gaps without a better owner) */
    int64_t ts_ns;
    int nomem; /* set when a piece could not be held for lack of memory */
} tcp_rctx;

/* Tests: send every segment through the general path, to compare it with the fast one. */
void tcp_table_set_general_only(tcp_table *t, int on);

/* Feed one segment of this direction (SYN/FIN flags, captured bytes and snaplen-cut bytes). */
void tcp_half_segment(tcp_half *h, tcp_rctx *x, uint32_t seq, int syn, const uint8_t *p,
                      uint32_t len, uint32_t missing, int fin);
/* Note that the peer acknowledged `ack`: holes it acknowledged were lost by the capture. */
void tcp_half_ack(tcp_half *h, tcp_rctx *x, uint32_t ack);
/* Would tcp_half_ack(h, x, ack) do anything? Inline, so that the ACK of nearly every packet,
 * which moves nothing, costs no call. */
static inline int tcp_half_ack_matters(const tcp_half *h, uint32_t ack)
{
    if (!(h->flags & TCP_H_STARTED))
        return 0;
    /* As rel() in tcp_reasm.c: the ACK's offset relative to the next expected one. */
    uint32_t d = ack - (uint32_t)(h->base + (uint32_t)h->next);
    if (d != 0 && d < 0x80000000u)
        return 1; /* past next */
    return (h->flags & TCP_H_FIN) && !(h->flags & TCP_H_FIN_ACKED);
}
/* Declare holes up to `limit` (at most the highest offset known to have been sent) and
 * deliver what is held up to there. UINT64_MAX settles everything. */
void tcp_half_settle(tcp_half *h, tcp_rctx *x, uint64_t limit);
/* Start without data (a packet with RST, whose payload is not stream data). */
void tcp_half_start(tcp_half *h, uint32_t seq, int syn);
/* The sequence number this direction started with (tshark's base_seq): the ISN after a SYN. */
uint32_t tcp_half_first_seq(const tcp_half *h);
int tcp_half_fin_reached(const tcp_half *h);
/* Drop whatever is held (without delivering) and give its bytes back to the table. */
void tcp_half_free(tcp_half *h, tcp_acct *acct);

#endif
