/* The flow table: connections keyed by the unordered address/port pair, numbered like tshark's
 * tcp.stream, kept on two activity lists (live, and closed ones kept as tombstones so that
 * stragglers after a FIN or RST do not open a new connection), closed by FIN/RST, idle time,
 * the flow cap, or the end of input.
 *
 * Closing: FIN both ways closes once both FINs are delivered and acknowledged (so the final ACK
 * is still counted); without that ACK it closes as TCP_CLOSE_FIN on idle/flush. RST closes at
 * once. Not reentrant: callbacks must not call back into the table. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/gw_err.h"
#include "common/gw_mem.h"
#include "tcp/tcp_int.h"

#define NS_PER_SEC 1000000000LL
#define MIN_BUCKETS 256

typedef struct tcp_flow tcp_flow;
struct tcp_flow {
    tcp_conn c;            /* first: a tcp_conn * is a tcp_flow * */
    tcp_flow *hnext;       /* hash chain */
    tcp_flow *prev, *next; /* activity list (live or tombstones), oldest first */
    uint64_t last_pkt;     /* names gaps declared at close */
    tcp_half h[2];
};

_Static_assert(sizeof(void *) != 8 || sizeof(tcp_flow) <= 288,
               "an idle flow and its bucket share must stay under 300 bytes");

typedef struct flist {
    tcp_flow *head, *tail;
} flist;

struct tcp_table {
    tcp_opts o;
    tcp_callbacks cb;
    tcp_flow **buckets;
    size_t nbuckets; /* a power of two */
    size_t nentries; /* live + tombstones */
    size_t nlive;
    flist live, tomb;
    uint64_t next_index;
    tcp_acct held;
    uint64_t seed;
    tcp_flow *last; /* the flow of the previous packet (still in the hash), or NULL */
    int have_time;
    int64_t now_ns;         /* latest capture time seen */
    int64_t next_expire_ns; /* when add() next looks for idle flows */
};

void tcp_opts_default(tcp_opts *o)
{
    o->ooo_max_bytes = (size_t)1 << 20;
    o->ooo_max_segments = 256;
    o->ooo_max_bytes_total = (size_t)32 << 20;
    o->max_flows = 1000000;
    o->idle_timeout_ns = 300 * NS_PER_SEC;
}

/* ---- lists and hashing ------------------------------------------------------------------ */

static void list_remove(flist *l, tcp_flow *f)
{
    if (f->prev)
        f->prev->next = f->next;
    else
        l->head = f->next;
    if (f->next)
        f->next->prev = f->prev;
    else
        l->tail = f->prev;
    f->prev = f->next = NULL;
}

static void list_append(flist *l, tcp_flow *f)
{
    f->next = NULL;
    f->prev = l->tail;
    if (l->tail)
        l->tail->next = f;
    else
        l->head = f;
    l->tail = f;
}

/* Endpoints are built by set_endpoint, which zeroes the unused part of addr: a fixed 16-byte
 * compare is exact. */
static int ep_eq(const tcp_endpoint *a, const tcp_endpoint *b)
{
    return a->port == b->port && a->ipver == b->ipver && memcmp(a->addr, b->addr, 16) == 0;
}

static uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    h *= 0xff51afd7ed558ccdULL;
    return h ^ (h >> 33);
}

/* One endpoint under the table's seed. */
static uint64_t ep_hash(uint64_t seed, const tcp_endpoint *e)
{
    uint64_t w0, w1;
    memcpy(&w0, e->addr, 8);
    memcpy(&w1, e->addr + 8, 8);
    uint64_t h = (w0 ^ seed) * 0x9e3779b97f4a7c15ULL;
    h ^= w1 ^ ((uint64_t)e->port << 8 | (uint64_t)(e->ipver & 0xff));
    h *= 0xff51afd7ed558ccdULL;
    return h ^ (h >> 29);
}

/* Both directions hash alike: the endpoints' hashes combine by a commutative sum (no ordering
 * compare per packet), then a final mix spreads it over the low bits that pick the bucket. */
static uint64_t pair_hash(const tcp_table *t, const tcp_endpoint *a, const tcp_endpoint *b)
{
    uint64_t h = ep_hash(t->seed, a) + ep_hash(t->seed, b);
    h *= 0xc4ceb9fe1a85ec53ULL;
    return h ^ (h >> 32);
}

static int same_pair(const tcp_flow *f, const tcp_endpoint *a, const tcp_endpoint *b)
{
    return (ep_eq(&f->c.ep[0], a) && ep_eq(&f->c.ep[1], b)) ||
           (ep_eq(&f->c.ep[0], b) && ep_eq(&f->c.ep[1], a));
}

static tcp_flow *lookup(tcp_table *t, const tcp_endpoint *a, const tcp_endpoint *b)
{
    /* Packets come in runs of one connection: try the previous packet's flow before hashing. */
    if (t->last && same_pair(t->last, a, b))
        return t->last;
    uint64_t hv = pair_hash(t, a, b);
    for (tcp_flow *f = t->buckets[hv & (t->nbuckets - 1)]; f; f = f->hnext) {
        if (same_pair(f, a, b))
            return f;
    }
    return NULL;
}

static void hash_remove(tcp_table *t, tcp_flow *f)
{
    if (t->last == f)
        t->last = NULL;
    uint64_t hv = pair_hash(t, &f->c.ep[0], &f->c.ep[1]);
    tcp_flow **link = &t->buckets[hv & (t->nbuckets - 1)];
    while (*link && *link != f)
        link = &(*link)->hnext;
    if (*link)
        *link = f->hnext;
    f->hnext = NULL;
}

/* Doubling at two entries per bucket keeps chains short and buckets at 4-8 bytes per flow
 * (a flow is 288 bytes on LP64: under 300 with its bucket share). When memory is short we keep
 * the old array (longer chains). */
static void maybe_grow(tcp_table *t)
{
    if (t->nentries <= 2 * t->nbuckets || t->nbuckets > SIZE_MAX / 2 / sizeof(tcp_flow *))
        return;
    size_t nb = t->nbuckets * 2;
    tcp_flow **b = gw_calloc(nb, sizeof *b);
    if (!b)
        return;
    for (size_t i = 0; i < t->nbuckets; i++) {
        tcp_flow *f = t->buckets[i];
        while (f) {
            tcp_flow *nx = f->hnext;
            uint64_t hv = pair_hash(t, &f->c.ep[0], &f->c.ep[1]);
            f->hnext = b[hv & (nb - 1)];
            b[hv & (nb - 1)] = f;
            f = nx;
        }
    }
    gw_free(t->buckets);
    t->buckets = b;
    t->nbuckets = nb;
}

/* ---- closing ---------------------------------------------------------------------------- */

static tcp_rctx rctx(tcp_table *t, tcp_flow *f, int dir, uint64_t pkt_no, int64_t ts_ns)
{
    tcp_rctx x = {&t->cb, &t->o, &t->held, &f->c, dir, pkt_no, ts_ns, 0};
    return x;
}

static int fin_done(const tcp_flow *f)
{
    return tcp_half_fin_reached(&f->h[0]) && tcp_half_fin_reached(&f->h[1]);
}

/* Deliver what is held with its gaps, tell the layer above, and keep the flow as a tombstone. */
static void close_flow(tcp_table *t, tcp_flow *f, int why)
{
    if (f->c.closed)
        return;
    for (int d = 0; d < 2; d++) {
        tcp_rctx x = rctx(t, f, d, f->last_pkt, f->c.last_ts_ns);
        tcp_half_settle(&f->h[d], &x, UINT64_MAX);
        tcp_half_free(&f->h[d], &t->held);
    }
    if (why != TCP_CLOSE_RST && fin_done(f))
        why = TCP_CLOSE_FIN;
    f->c.closed = 1;
    if (t->cb.on_close)
        t->cb.on_close(t->cb.u, &f->c, why);
    f->c.user = NULL;
    list_remove(&t->live, f);
    list_append(&t->tomb, f);
    t->nlive--;
}

static void destroy(tcp_table *t, tcp_flow *f)
{
    hash_remove(t, f);
    list_remove(f->c.closed ? &t->tomb : &t->live, f);
    if (!f->c.closed)
        t->nlive--;
    tcp_half_free(&f->h[0], &t->held);
    tcp_half_free(&f->h[1], &t->held);
    t->nentries--;
    gw_free(f);
}

static void evict(tcp_table *t, tcp_flow *f, int why)
{
    close_flow(t, f, why);
    destroy(t, f);
}

void tcp_table_expire(tcp_table *t, int64_t now_ns)
{
    if (!t || t->o.idle_timeout_ns <= 0 || now_ns < INT64_MIN + t->o.idle_timeout_ns)
        return;
    int64_t cutoff = now_ns - t->o.idle_timeout_ns;
    /* The lists are in order of activity; capture time is nearly so, which is enough. */
    while (t->live.head && t->live.head->c.last_ts_ns < cutoff)
        evict(t, t->live.head, TCP_CLOSE_IDLE);
    while (t->tomb.head && t->tomb.head->c.last_ts_ns < cutoff)
        destroy(t, t->tomb.head);
}

/* ---- the table -------------------------------------------------------------------------- */

tcp_table *tcp_table_new(const tcp_opts *opts, const tcp_callbacks *cb)
{
    tcp_table *t = gw_calloc(1, sizeof *t);
    if (!t)
        return NULL;
    if (opts)
        t->o = *opts;
    else
        tcp_opts_default(&t->o);
    if (t->o.max_flows == 0)
        t->o.max_flows = 1;
    if (cb)
        t->cb = *cb;
    t->nbuckets = MIN_BUCKETS;
    t->buckets = gw_calloc(t->nbuckets, sizeof *t->buckets);
    if (!t->buckets) {
        gw_free(t);
        return NULL;
    }
    /* A per-table seed so that chosen addresses cannot aim at one chain in every run. */
    t->seed = mix((uint64_t)(uintptr_t)t, (uint64_t)(uintptr_t)t->buckets);
    return t;
}

static int cmp_index(const void *a, const void *b)
{
    const tcp_flow *x = *(tcp_flow *const *)a, *y = *(tcp_flow *const *)b;
    return x->c.index < y->c.index ? -1 : x->c.index > y->c.index;
}

void tcp_table_flush(tcp_table *t)
{
    if (!t)
        return;
    /* Close in connection order so that output does not depend on activity. */
    tcp_flow **v = t->nlive ? gw_malloc(t->nlive * sizeof *v) : NULL;
    if (v) {
        size_t n = 0;
        for (tcp_flow *f = t->live.head; f; f = f->next)
            v[n++] = f;
        qsort(v, n, sizeof *v, cmp_index);
        for (size_t i = 0; i < n; i++)
            close_flow(t, v[i], TCP_CLOSE_END);
        gw_free(v);
    }
    while (t->live.head) /* without memory for the sort: in order of activity */
        close_flow(t, t->live.head, TCP_CLOSE_END);
    while (t->tomb.head)
        destroy(t, t->tomb.head);
}

void tcp_table_del(tcp_table *t)
{
    if (!t)
        return;
    tcp_table_flush(t);
    gw_free(t->buckets);
    gw_free(t);
}

size_t tcp_table_held_bytes(const tcp_table *t)
{
    return t ? t->held.bytes : 0;
}
size_t tcp_table_nflows(const tcp_table *t)
{
    return t ? t->nlive : 0;
}

void tcp_conn_set_client(tcp_conn *c, int client_ep)
{
    if (!c || (client_ep != 0 && client_ep != 1))
        return;
    c->client = client_ep;
    c->client_how = TCP_CLIENT_UPPER;
}

/* Ports that serve although they sit in the ephemeral range. */
static int listed_port(uint16_t p)
{
    static const uint16_t ports[] = {80, 443, 8080, 8443, 9090, 50051, 50052, 50053};
    for (size_t i = 0; i < sizeof ports / sizeof ports[0]; i++)
        if (ports[i] == p)
            return 1;
    return 0;
}

/* Without a handshake: the lower port serves when it looks like a server port (below the
 * ephemeral range or listed), else a listed higher port serves, else the first sender is the
 * client. */
static void guess_client(tcp_conn *c)
{
    uint16_t p0 = c->ep[0].port, p1 = c->ep[1].port;
    int server = -1;
    if (p0 != p1) {
        int lo = p0 < p1 ? 0 : 1;
        uint16_t lp = c->ep[lo].port, hp = c->ep[!lo].port;
        if (lp < 32768 || listed_port(lp))
            server = lo;
        else if (listed_port(hp))
            server = !lo;
    }
    c->client = server < 0 ? 0 : !server;
    c->client_how = TCP_CLIENT_PORT;
}

static tcp_flow *create(tcp_table *t, const tcp_endpoint *a, const tcp_endpoint *b)
{
    while (t->nentries >= t->o.max_flows && t->nentries > 0) {
        if (t->tomb.head)
            destroy(t, t->tomb.head);
        else
            evict(t, t->live.head, TCP_CLOSE_IDLE);
    }
    tcp_flow *f = gw_calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->c.index = t->next_index++;
    f->c.ep[0] = *a;
    f->c.ep[1] = *b;
    guess_client(&f->c);
    size_t bi = pair_hash(t, a, b) & (t->nbuckets - 1);
    f->hnext = t->buckets[bi];
    t->buckets[bi] = f;
    list_append(&t->live, f);
    t->nentries++;
    t->nlive++;
    maybe_grow(t);
    return f;
}

/* A SYN (without ACK) on a known pair starts a new connection, as tshark's tcp.stream does,
 * when the old one is closed or finishing, or when its sender used another first sequence. */
static int starts_new(const tcp_flow *f, int d, uint32_t seq)
{
    if (f->c.closed || f->c.rst[0] || f->c.rst[1] || f->c.fin[0] || f->c.fin[1])
        return 1;
    const tcp_half *h = &f->h[d];
    return (h->flags & TCP_H_STARTED) && tcp_half_first_seq(h) != seq;
}

/* Is e the endpoint (ipver, addr, port) of a segment? As ep_eq after set_endpoint, without
 * building the endpoint: an IPv4 address compares its 4 bytes only. */
static inline int seg_is(const tcp_endpoint *e, int ipver, const uint8_t *addr, uint16_t port)
{
    if (e->port != port || e->ipver != ipver)
        return 0;
    if (ipver == 4) {
        uint32_t x, y;
        memcpy(&x, e->addr, 4);
        memcpy(&y, addr, 4);
        return x == y;
    }
    return memcmp(e->addr, addr, 16) == 0;
}

static void set_endpoint(tcp_endpoint *e, int ipver, const uint8_t *addr, uint16_t port)
{
    memset(e, 0, sizeof *e);
    e->ipver = ipver;
    if (ipver == 4) /* fixed sizes: inline copies rather than a library call per packet */
        memcpy(e->addr, addr, 4);
    else
        memcpy(e->addr, addr, 16);
    e->port = port;
}

int tcp_table_add(tcp_table *t, const cap_layers *seg, uint64_t pkt_no, int64_t ts_ns,
                  uint32_t frame_len, tcp_conn **conn, int *dir)
{
    if (conn)
        *conn = NULL;
    if (dir)
        *dir = 0;
    if (!t || !seg || !seg->is_tcp || (seg->ipver != 4 && seg->ipver != 6))
        return GW_EINVAL;

    if (!t->have_time || ts_ns > t->now_ns)
        t->now_ns = ts_ns;
    if (!t->have_time) {
        t->have_time = 1;
        t->next_expire_ns = ts_ns > INT64_MAX - NS_PER_SEC ? INT64_MAX : ts_ns + NS_PER_SEC;
    } else if (t->now_ns >= t->next_expire_ns) {
        /* Once per second of capture time: each pass costs only what it closes. */
        tcp_table_expire(t, t->now_ns);
        t->next_expire_ns = t->now_ns > INT64_MAX - NS_PER_SEC ? INT64_MAX : t->now_ns + NS_PER_SEC;
    }

    /* Packets come in runs of one connection: match the previous packet's flow against the
     * segment's addresses directly, before building endpoints and hashing. */
    tcp_endpoint a, b;
    tcp_flow *f = t->last;
    int d;
    if (f && seg_is(&f->c.ep[0], seg->ipver, seg->src, seg->sport) &&
        seg_is(&f->c.ep[1], seg->ipver, seg->dst, seg->dport)) {
        d = 0; /* also a connection to itself: all of it is taken as ep[0]'s */
    } else if (f && seg_is(&f->c.ep[1], seg->ipver, seg->src, seg->sport) &&
               seg_is(&f->c.ep[0], seg->ipver, seg->dst, seg->dport)) {
        d = 1;
    } else {
        set_endpoint(&a, seg->ipver, seg->src, seg->sport);
        set_endpoint(&b, seg->ipver, seg->dst, seg->dport);
        f = lookup(t, &a, &b);
        d = f && ep_eq(&f->c.ep[0], &a) ? 0 : 1;
        if (f && ep_eq(&a, &b))
            d = 0; /* a connection to itself: both directions look alike; treat all as ep[0]'s */
    }
    int syn = (seg->flags & CAP_TCP_SYN) != 0;
    int ack = (seg->flags & CAP_TCP_ACK) != 0;
    int rst = (seg->flags & CAP_TCP_RST) != 0;
    int fin = (seg->flags & CAP_TCP_FIN) != 0;
    if (f && syn && !ack && starts_new(f, d, seg->seq)) {
        int why = (f->c.rst[0] || f->c.rst[1]) ? TCP_CLOSE_RST : TCP_CLOSE_IDLE;
        evict(t, f, why);
        f = NULL;
    }
    int opened = 0;
    if (!f) {
        set_endpoint(&a, seg->ipver, seg->src, seg->sport);
        set_endpoint(&b, seg->ipver, seg->dst, seg->dport);
        f = create(t, &a, &b);
        if (!f)
            return GW_ENOMEM;
        d = 0;
        opened = 1;
    }

    tcp_conn *c = &f->c;
    c->pkts[d]++;
    c->wire_bytes[d] += frame_len;
    c->payload_bytes[d] += (uint64_t)seg->payload_len + seg->payload_missing;
    if (opened || ts_ns < c->first_ts_ns)
        c->first_ts_ns = ts_ns;
    if (opened || ts_ns > c->last_ts_ns)
        c->last_ts_ns = ts_ns;
    c->syn[d] |= syn;
    c->fin[d] |= fin;
    c->rst[d] |= rst;
    f->last_pkt = pkt_no;
    t->last = f;
    flist *l = c->closed ? &t->tomb : &t->live;
    if (l->tail != f) {
        list_remove(l, f);
        list_append(l, f);
    }
    if (conn)
        *conn = c;
    if (dir)
        *dir = d;
    if (c->closed)
        return 0; /* a straggler after FIN or RST: counted, not delivered */

    if (syn && c->client_how < TCP_CLIENT_SYN) {
        c->client = ack ? !d : d;
        c->client_how = TCP_CLIENT_SYN;
    }
    if (opened && t->cb.on_open)
        t->cb.on_open(t->cb.u, c);

    tcp_rctx x = rctx(t, f, !d, pkt_no, ts_ns);
    if (ack && tcp_half_ack_matters(&f->h[!d], seg->ack))
        tcp_half_ack(&f->h[!d], &x, seg->ack);
    x.dir = d;
    x.nomem = 0;
    if (rst) {
        /* RFC 9293 3.5.3: a RST's payload is diagnostic text, not stream data. */
        tcp_half_start(&f->h[d], seg->seq, syn);
    } else {
        const uint8_t *p = seg->payload_len ? seg->payload : NULL;
        uint32_t missing = seg->payload_missing;
        if (!p && seg->payload_len) { /* no bytes behind a length: treat them as cut */
            missing =
                seg->payload_len > UINT32_MAX - missing ? UINT32_MAX : missing + seg->payload_len;
        }
        tcp_half_segment(&f->h[d], &x, seg->seq, syn, p, p ? seg->payload_len : 0, missing, fin);
    }
    int nomem = x.nomem;

    if (rst) {
        close_flow(t, f, TCP_CLOSE_RST);
    } else if ((f->h[0].flags & TCP_H_FIN) && (f->h[1].flags & TCP_H_FIN)) {
        /* Both sides are done sending: holes before the FINs will not be filled any more. */
        for (int i = 0; i < 2; i++) {
            tcp_rctx y = rctx(t, f, i, pkt_no, ts_ns);
            tcp_half_settle(&f->h[i], &y, UINT64_MAX);
        }
        if ((f->h[0].flags & TCP_H_FIN_ACKED) && (f->h[1].flags & TCP_H_FIN_ACKED))
            close_flow(t, f, TCP_CLOSE_FIN);
    }
    return nomem ? GW_ENOMEM : 0;
}

/* Decimal digits of v (< 100000) at o; returns how many. */
static size_t put_dec(char *o, unsigned v)
{
    size_t k = v >= 10000 ? 5 : v >= 1000 ? 4 : v >= 100 ? 3 : v >= 10 ? 2 : 1;
    for (size_t i = k; i-- > 0; v /= 10)
        o[i] = (char)('0' + v % 10);
    return k;
}

/* Written by hand rather than with inet_ntop and snprintf (the call log prints two per call);
 * IPv6 keeps inet_ntop for its :: compression and embedded IPv4 forms. Truncates like snprintf. */
const char *tcp_endpoint_str(const tcp_endpoint *e, char *buf, size_t n)
{
    char tmp[INET6_ADDRSTRLEN + 16];
    char *t = n >= sizeof tmp ? buf : tmp; /* room for the longest form: write in place */
    size_t k = 0;
    if (!buf || !n)
        return "";
    if (e && e->ipver == 4) {
        for (int i = 0; i < 4; i++) {
            k += put_dec(t + k, e->addr[i]);
            t[k++] = i < 3 ? '.' : ':';
        }
        k += put_dec(t + k, e->port);
    } else if (e && e->ipver == 6 && inet_ntop(AF_INET6, e->addr, t + 1, INET6_ADDRSTRLEN)) {
        t[0] = '[';
        k = 1 + strlen(t + 1);
        t[k++] = ']';
        t[k++] = ':';
        k += put_dec(t + k, e->port);
    } else {
        t[k++] = '?';
    }
    if (t == tmp) {
        if (k >= n)
            k = n - 1;
        memcpy(buf, t, k);
    }
    buf[k] = 0;
    return buf;
}
