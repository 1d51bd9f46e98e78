/* One direction of a TCP connection: sequence numbers to 64-bit stream offsets, in-order
 * delivery straight from the packet, out-of-order pieces held (copied) under the caps, holes
 * declared as gaps when a cap bites, when the peer acknowledges past them, or at close.
 *
 * Overlaps: held bytes win over later copies of the same range (we compare them and report
 * "conflicting overlap" when they differ). Bytes already delivered are not kept, so a
 * retransmission that overlaps delivered data is trimmed without comparison. */
#include <string.h>

#include "common/gw_mem.h"
#include "tcp/tcp_int.h"

struct tcp_held {
    tcp_held *next;
    uint64_t off;
    uint64_t pkt_no;
    int64_t ts_ns;
    uint32_t len;     /* captured bytes in data[] */
    uint32_t missing; /* bytes after them that the snaplen cut: a gap when delivered */
    uint8_t data[];
};

/* The part of a segment still to place: data bytes [o, o + dlen), then cut bytes up to end. */
typedef struct src {
    uint64_t o;
    const uint8_t *p;
    uint64_t dlen;
} src;

static uint64_t umin(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}
static uint64_t umax(uint64_t a, uint64_t b)
{
    return a > b ? a : b;
}
static uint64_t held_end(const tcp_held *e)
{
    return e->off + e->len + e->missing;
}

/* Sequence numbers compare modulo 2^32 against the next expected one (RFC 9293 3.4), so a
 * stream may wrap any number of times. */
static int64_t rel(const tcp_half *h, uint32_t seq)
{
    uint32_t d = seq - (uint32_t)(h->base + (uint32_t)h->next);
    int64_t s = d < 0x80000000u ? (int64_t)d : (int64_t)d - (int64_t)0x100000000LL;
    return (int64_t)h->next + s;
}

static uint64_t high(const tcp_half *h)
{
    uint64_t hi = h->next;
    if (h->flags & TCP_H_FIN)
        hi = umax(hi, h->fin_off);
    if (h->ooo)
        hi = umax(hi, h->ooo->tail_end);
    return hi;
}

static void anomaly(tcp_rctx *x, const char *what)
{
    if (x->cb->on_anomaly)
        x->cb->on_anomaly(x->cb->u, x->c, x->dir, x->pkt_no, what);
}

static void emit_data(tcp_half *h, tcp_rctx *x, const uint8_t *p, uint64_t n, uint64_t pkt,
                      int64_t ts)
{
    if (!n)
        return;
    if (x->cb->on_data)
        x->cb->on_data(x->cb->u, x->c, x->dir, h->next, p, (size_t)n, pkt, ts);
    h->next += n;
    x->c->delivered[x->dir] += n;
}

static void emit_gap(tcp_half *h, tcp_rctx *x, uint64_t n, uint64_t pkt, int64_t ts)
{
    if (!n)
        return;
    if (x->cb->on_gap)
        x->cb->on_gap(x->cb->u, x->c, x->dir, h->next, n, pkt, ts);
    h->next += n;
    x->c->gap_bytes[x->dir] += n;
    x->c->ngaps[x->dir]++;
}

static void unlink_head(tcp_half *h, tcp_acct *acct)
{
    tcp_ooo *q = h->ooo;
    tcp_held *e = q->head;
    q->head = e->next;
    q->n--;
    q->bytes -= e->len;
    acct->bytes -= e->len;
    acct->cost -= e->len + TCP_PIECE_COST;
    gw_free(e);
    if (!q->head) {
        gw_free(q);
        h->ooo = NULL;
    }
}

/* Deliver held pieces that became contiguous, each with its own packet. */
static void drain(tcp_half *h, tcp_rctx *x)
{
    while (h->ooo && h->ooo->head->off <= h->next) {
        tcp_held *e = h->ooo->head;
        uint64_t end = held_end(e);
        if (end > h->next) {
            uint64_t skip = h->next - e->off;
            if (skip < e->len)
                emit_data(h, x, e->data + skip, e->len - skip, e->pkt_no, e->ts_ns);
            if (h->next < end)
                emit_gap(h, x, end - h->next, e->pkt_no, e->ts_ns);
        }
        unlink_head(h, x->acct);
    }
}

/* Move `next` to `limit`, declaring each hole a gap (named by the packet after it when there is
 * one) and delivering held pieces on the way, then whatever became contiguous. */
static void settle_to(tcp_half *h, tcp_rctx *x, uint64_t limit)
{
    while (h->next < limit) {
        tcp_held *e = h->ooo ? h->ooo->head : NULL;
        if (e && e->off <= h->next) {
            drain(h, x);
            continue;
        }
        uint64_t g = e && e->off < limit ? e->off : limit;
        int named = e && g == e->off;
        emit_gap(h, x, g - h->next, named ? e->pkt_no : x->pkt_no, named ? e->ts_ns : x->ts_ns);
    }
    drain(h, x);
}

static int fits(const tcp_half *h, const tcp_rctx *x, uint64_t nbytes)
{
    uint32_t n = h->ooo ? h->ooo->n : 0;
    size_t b = h->ooo ? h->ooo->bytes : 0;
    size_t cost = x->acct->cost, cap = x->o->ooo_max_bytes_total;
    return n < x->o->ooo_max_segments && b <= x->o->ooo_max_bytes &&
           nbytes <= x->o->ooo_max_bytes - b && cost <= cap &&
           nbytes + TCP_PIECE_COST <= cap - cost;
}

/* Copy [a, b) of the segment into the held list after *prev (NULL: search from the head). */
static int hold(tcp_half *h, tcp_rctx *x, const src *s, uint64_t a, uint64_t b, tcp_held **prev)
{
    uint64_t dend = umin(b, s->o + s->dlen);
    uint64_t nbytes = a < dend ? dend - a : 0;
    if (!h->ooo) {
        h->ooo = gw_calloc(1, sizeof *h->ooo);
        if (!h->ooo)
            return -1;
    }
    tcp_held *e = gw_malloc(sizeof *e + (size_t)nbytes);
    if (!e) {
        if (!h->ooo->head) {
            gw_free(h->ooo);
            h->ooo = NULL;
        }
        return -1;
    }
    e->off = a;
    e->pkt_no = x->pkt_no;
    e->ts_ns = x->ts_ns;
    e->len = (uint32_t)nbytes;
    e->missing = (uint32_t)(b - a - nbytes);
    if (nbytes)
        memcpy(e->data, s->p + (a - s->o), (size_t)nbytes);
    tcp_held **link = *prev ? &(*prev)->next : &h->ooo->head;
    while (*link && (*link)->off < a)
        link = &(*link)->next;
    e->next = *link;
    *link = e;
    h->ooo->n++;
    h->ooo->bytes += (size_t)nbytes;
    h->ooo->tail_end = umax(h->ooo->tail_end, b);
    x->acct->bytes += (size_t)nbytes;
    x->acct->cost += (size_t)nbytes + TCP_PIECE_COST;
    *prev = e;
    return 0;
}

/* Place [a, b), a range no held piece covers: deliver it if it is next, else hold it; when a
 * cap (or memory) forbids holding, declare holes from the front until it is next. */
static void place(tcp_half *h, tcp_rctx *x, const src *s, uint64_t a, uint64_t b, tcp_held **prev)
{
    uint64_t dend = umin(b, s->o + s->dlen);
    uint64_t nbytes = a < dend ? dend - a : 0;
    if (a != h->next) {
        while (!fits(h, x, nbytes) && h->ooo && h->ooo->head->off < a) {
            settle_to(h, x, h->ooo->head->off);
            *prev = NULL;
        }
        if (a != h->next) {
            if (fits(h, x, nbytes)) {
                if (hold(h, x, s, a, b, prev) == 0)
                    return;
                x->nomem = 1;
            }
            settle_to(h, x, a);
            *prev = NULL;
        }
    }
    emit_data(h, x, nbytes ? s->p + (a - s->o) : NULL, nbytes, x->pkt_no, x->ts_ns);
    if (h->next < b)
        emit_gap(h, x, b - h->next, x->pkt_no, x->ts_ns);
    drain(h, x);
    *prev = NULL;
}

/* Do the captured bytes of the segment and of held piece e differ inside [a, b)? */
static int differs(const tcp_held *e, const src *s, uint64_t a, uint64_t b)
{
    uint64_t lo = umax(a, umax(e->off, s->o));
    uint64_t hi = umin(b, umin(e->off + e->len, s->o + s->dlen));
    if (lo >= hi)
        return 0;
    return memcmp(e->data + (lo - e->off), s->p + (lo - s->o), (size_t)(hi - lo)) != 0;
}

void tcp_half_start(tcp_half *h, uint32_t seq, int syn)
{
    if (h->flags & TCP_H_STARTED)
        return;
    h->flags |= TCP_H_STARTED | (syn ? TCP_H_SYN : 0);
    h->base = syn ? seq + 1 : seq;
    h->next = 0;
}

uint32_t tcp_half_first_seq(const tcp_half *h)
{
    return (h->flags & TCP_H_SYN) ? h->base - 1 : h->base;
}

int tcp_half_fin_reached(const tcp_half *h)
{
    return (h->flags & TCP_H_FIN) && h->next >= h->fin_off;
}

void tcp_half_segment(tcp_half *h, tcp_rctx *x, uint32_t seq, int syn, const uint8_t *p,
                      uint32_t len, uint32_t missing, int fin)
{
    if (!(h->flags & TCP_H_STARTED)) {
        tcp_half_start(h, seq, syn);
    } else if (syn && !(h->flags & (TCP_H_SYN | TCP_H_FIN)) && h->next == 0 && !h->ooo) {
        /* Packets of the handshake seen out of order: the SYN fixes offset 0 until data has. */
        h->base = seq + 1;
        h->flags |= TCP_H_SYN;
    }
    uint64_t dlen = p ? len : 0;
    uint64_t tot = (uint64_t)len + missing;
    if (tot > UINT32_MAX) /* only a hostile caller: keeps a held piece's cut part in 32 bits */
        tot = UINT32_MAX;
    dlen = umin(dlen, tot);
    int64_t so = rel(h, seq) + (syn ? 1 : 0);

    if (fin) {
        int64_t fo = so + (int64_t)tot;
        if (!(h->flags & TCP_H_FIN)) {
            h->flags |= TCP_H_FIN;
            if (fo < (int64_t)h->next) {
                anomaly(x, "FIN before delivered data");
                fo = (int64_t)h->next;
            }
            h->fin_off = (uint64_t)fo;
        } else if (fo != (int64_t)h->fin_off) {
            anomaly(x, "inconsistent FIN");
        }
    }
    if (tot && (h->flags & TCP_H_FIN) && so + (int64_t)tot > (int64_t)h->fin_off) {
        anomaly(x, "data after FIN");
        if (so >= (int64_t)h->fin_off)
            return;
        tot = h->fin_off - (uint64_t)so;
        dlen = umin(dlen, tot);
    }
    if (so < 0) { /* bytes before offset 0: a retransmitted SYN's data, or hostile */
        uint64_t skip = (uint64_t)-so;
        if (skip >= tot)
            return;
        if (skip < dlen) {
            p += skip;
            dlen -= skip;
        } else {
            dlen = 0;
        }
        tot -= skip;
        so = 0;
    }
    src s = {(uint64_t)so, p, dlen};
    uint64_t end = s.o + tot;
    if (end <= h->next)
        return; /* entirely old: a retransmission (or a pure ACK) */
    if (!h->ooo && s.o == h->next) { /* the common case: next in order, nothing held */
        emit_data(h, x, dlen ? p : NULL, dlen, x->pkt_no, x->ts_ns);
        if (h->next < end)
            emit_gap(h, x, end - h->next, x->pkt_no, x->ts_ns);
        return;
    }

    uint64_t pos = umax(s.o, h->next);
    tcp_held *prev = NULL; /* the last held piece known to end at or before pos */
    int conflict = 0;
    while (pos < end) {
        if (pos < h->next) { /* delivering caught up past pos */
            pos = h->next;
            if (pos >= end)
                break;
        }
        tcp_held *e = prev ? prev->next : (h->ooo ? h->ooo->head : NULL);
        while (e && held_end(e) <= pos) {
            prev = e;
            e = e->next;
        }
        if (e && e->off <= pos) {
            uint64_t ov = umin(end, held_end(e));
            conflict |= differs(e, &s, pos, ov);
            pos = ov;
            prev = e;
            continue;
        }
        uint64_t pend = e ? umin(end, e->off) : end;
        place(h, x, &s, pos, pend, &prev);
        pos = pend;
    }
    if (conflict)
        anomaly(x, "conflicting overlap");
}

void tcp_half_ack(tcp_half *h, tcp_rctx *x, uint32_t ack)
{
    if (!(h->flags & TCP_H_STARTED))
        return;
    int64_t a = rel(h, ack);
    if ((h->flags & TCP_H_FIN) && a > (int64_t)h->fin_off)
        h->flags |= TCP_H_FIN_ACKED;
    if (a > (int64_t)h->next)
        tcp_half_settle(h, x, (uint64_t)a);
}

void tcp_half_settle(tcp_half *h, tcp_rctx *x, uint64_t limit)
{
    settle_to(h, x, umin(limit, high(h)));
}

void tcp_half_free(tcp_half *h, tcp_acct *acct)
{
    while (h->ooo)
        unlink_head(h, acct);
}
