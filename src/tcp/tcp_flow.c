/* The flow table: connections keyed by the unordered address/port pair, numbered like tshark's
 * tcp.stream, kept on two activity lists (live, and closed ones kept as tombstones so that
 * stragglers after a FIN or RST do not open a new connection), closed by FIN/RST, idle time,
 * the flow cap, or the end of input.
 *
 * Closing: FIN both ways closes once both FINs are delivered and acknowledged (so the final ACK
 * is still counted); without that ACK it closes as TCP_CLOSE_FIN on idle/flush. RST closes at
 * once. Not reentrant: callbacks must not call back into the table.
 *
 * Most packets are an in-order segment or a bare ACK of the previous packet's flow: those take
 * a short path in tcp_table_add (two word compares to know the flow, no call into the
 * direction's reassembly); everything else goes through add_general, and the tests hold the
 * two to the same callbacks and counters (tcp_table_set_general_only). */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/gw_err.h"
#include "common/gw_mem.h"
#include "tcp/tcp_int.h"

#define NS_PER_SEC 1000000000LL
#define MIN_BUCKETS 256
#define PACK_WORDS 5

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
    /* last's endpoint pair as pack() packs a segment sent by ep[0] (index 0) and by ep[1]
     * (index 1), unused words zero; all zero, which no segment packs to, while last is NULL. */
    uint64_t last_key[2][PACK_WORDS];
    int64_t now_ns;         /* latest capture time seen (INT64_MIN before the first packet) */
    int64_t next_expire_ns; /* when add() next looks for idle flows (INT64_MIN: at once) */
    int general_only;       /* tests: every segment through the general path */
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

/* An endpoint as the table compares and hashes it: the address as two words (an IPv4 address
 * padded with zeros, as set_endpoint stores it), the port, the version. Built from a segment's
 * fields directly, so that the common packet never builds a tcp_endpoint. */
typedef struct ekey {
    uint64_t w0, w1;
    uint16_t port;
    int ipver;
} ekey;

static inline ekey key_of(int ipver, const uint8_t *addr, uint16_t port)
{
    uint8_t a[16] = {0};
    if (ipver == 4) /* fixed sizes: inline copies */
        memcpy(a, addr, 4);
    else
        memcpy(a, addr, 16);
    ekey k;
    memcpy(&k.w0, a, 8);
    memcpy(&k.w1, a + 8, 8);
    k.port = port;
    k.ipver = ipver;
    return k;
}

static inline ekey ep_key(const tcp_endpoint *e)
{
    ekey k;
    memcpy(&k.w0, e->addr, 8);
    memcpy(&k.w1, e->addr + 8, 8);
    k.port = e->port;
    k.ipver = e->ipver;
    return k;
}

static __attribute__((noinline)) void list_move_last(flist *l, tcp_flow *f)
{
    list_remove(l, f);
    list_append(l, f);
}

/* Endpoints are built by set_endpoint, which zeroes the unused part of addr: comparing whole
 * words is exact. No branches: it runs two to four times a packet. */
static inline int ep_is(const tcp_endpoint *e, const ekey *k)
{
    ekey x = ep_key(e);
    return ((x.w0 ^ k->w0) | (x.w1 ^ k->w1) | (uint64_t)(uint16_t)(x.port ^ k->port) |
            (uint64_t)(uint32_t)(x.ipver ^ k->ipver)) == 0;
}

static uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    h *= 0xff51afd7ed558ccdULL;
    return h ^ (h >> 33);
}

/* One endpoint under the table's seed. */
static inline uint64_t ep_hash(uint64_t seed, const ekey *k)
{
    uint64_t h = (k->w0 ^ seed) * 0x9e3779b97f4a7c15ULL;
    h ^= k->w1 ^ ((uint64_t)k->port << 8 | (uint64_t)(k->ipver & 0xff));
    h *= 0xff51afd7ed558ccdULL;
    return h ^ (h >> 29);
}

/* Both directions hash alike: the endpoints' hashes combine by a commutative sum (no ordering
 * compare per packet), then a final mix spreads it over the low bits that pick the bucket. */
static inline uint64_t pair_hash(const tcp_table *t, const ekey *a, const ekey *b)
{
    uint64_t h = ep_hash(t->seed, a) + ep_hash(t->seed, b);
    h *= 0xc4ceb9fe1a85ec53ULL;
    return h ^ (h >> 32);
}

static uint64_t flow_hash(const tcp_table *t, const tcp_flow *f)
{
    ekey a = ep_key(&f->c.ep[0]), b = ep_key(&f->c.ep[1]);
    return pair_hash(t, &a, &b);
}

/* Is f the flow of a segment from a to b? 1 with *d its direction (0 when a sent f's first
 * packet, and for a connection to itself, whose directions look alike), else 0. */
static inline int pair_dir(const tcp_flow *f, const ekey *a, const ekey *b, int *d)
{
    /* Ports first: in a chain they nearly always differ. */
    uint16_t p0 = f->c.ep[0].port, p1 = f->c.ep[1].port;
    if (p0 == a->port && p1 == b->port && ep_is(&f->c.ep[0], a) && ep_is(&f->c.ep[1], b)) {
        *d = 0;
        return 1;
    }
    if (p1 == a->port && p0 == b->port && ep_is(&f->c.ep[1], a) && ep_is(&f->c.ep[0], b)) {
        *d = 1;
        return 1;
    }
    return 0;
}

/* A segment's ports, IP version and addresses packed in words for an exact compare: IPv4 in
 * two, IPv6 in five. The first word holds the ports and the version, so that the first two
 * words of an IPv6 packing never equal an IPv4 one, and no packing is all zeros. Returns the
 * words used. */
static inline int pack(int ipver, const uint8_t *src, const uint8_t *dst, uint16_t sport,
                       uint16_t dport, uint64_t *w)
{
    w[0] = sport | (uint64_t)dport << 16 | (uint64_t)(uint8_t)ipver << 32;
    if (ipver == 4) {
        uint32_t s4, d4;
        memcpy(&s4, src, 4);
        memcpy(&d4, dst, 4);
        w[1] = s4 | (uint64_t)d4 << 32;
        return 2;
    }
    memcpy(&w[1], src, 8);
    memcpy(&w[2], src + 8, 8);
    memcpy(&w[3], dst, 8);
    memcpy(&w[4], dst + 8, 8);
    return 5;
}

static __attribute__((noinline)) void set_last(tcp_table *t, tcp_flow *f)
{
    t->last = f;
    const tcp_endpoint *e = f->c.ep;
    memset(t->last_key, 0, sizeof t->last_key);
    pack(e[0].ipver, e[0].addr, e[1].addr, e[0].port, e[1].port, t->last_key[0]);
    pack(e[0].ipver, e[1].addr, e[0].addr, e[1].port, e[0].port, t->last_key[1]);
}

static void clear_last(tcp_table *t)
{
    t->last = NULL;
    memset(t->last_key, 0, sizeof t->last_key);
}

/* The flow of a segment from a to b and its direction in *d, or NULL (with *d 0).
 * check_last: try the previous packet's flow first (packets come in runs of one connection). */
static inline tcp_flow *lookup(tcp_table *t, const ekey *a, const ekey *b, int check_last, int *d)
{
    if (check_last && t->last && pair_dir(t->last, a, b, d))
        return t->last;
    uint64_t hv = pair_hash(t, a, b);
    for (tcp_flow *f = t->buckets[hv & (t->nbuckets - 1)]; f; f = f->hnext) {
        if (pair_dir(f, a, b, d))
            return f;
    }
    *d = 0;
    return NULL;
}

static __attribute__((noinline)) tcp_flow *find_slow(tcp_table *t, const cap_layers *seg,
                                                     int check_last, int *d)
{
    ekey ka = key_of(seg->ipver, seg->src, seg->sport);
    ekey kb = key_of(seg->ipver, seg->dst, seg->dport);
    return lookup(t, &ka, &kb, check_last, d);
}

static inline int key_is(const uint64_t *k, const uint64_t *w, int n)
{
    if (n == 2)
        return ((k[0] ^ w[0]) | (k[1] ^ w[1])) == 0;
    return ((k[0] ^ w[0]) | (k[1] ^ w[1]) | (k[2] ^ w[2]) | (k[3] ^ w[3]) | (k[4] ^ w[4])) == 0;
}

static inline tcp_flow *find(tcp_table *t, const cap_layers *seg, int *d)
{
    uint64_t w[PACK_WORDS];
    int n = pack(seg->ipver, seg->src, seg->dst, seg->sport, seg->dport, w);
    if (key_is(t->last_key[0], w, n)) {
        *d = 0; /* also a connection to itself */
        return t->last;
    }
    if (key_is(t->last_key[1], w, n)) {
        *d = 1;
        return t->last;
    }
    return find_slow(t, seg, 0, d); /* the compares above were exact: t->last is not it */
}

static void hash_remove(tcp_table *t, tcp_flow *f)
{
    if (t->last == f)
        clear_last(t);
    uint64_t hv = flow_hash(t, f);
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
            uint64_t hv = flow_hash(t, f);
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
    /* The first packet sets the time and runs an expiry pass over the (empty) table, which
     * also schedules the next one: no "have we seen a packet" test on every packet. */
    t->now_ns = INT64_MIN;
    t->next_expire_ns = INT64_MIN;
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
    size_t bi = flow_hash(t, f) & (t->nbuckets - 1);
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

/* Capture time moves on: note the latest and, once per second of it, close idle flows (each
 * pass costs only what it closes). */
static inline void tick(tcp_table *t, int64_t ts_ns)
{
    if (ts_ns > t->now_ns)
        t->now_ns = ts_ns;
    if (t->now_ns >= t->next_expire_ns) {
        tcp_table_expire(t, t->now_ns);
        t->next_expire_ns = t->now_ns > INT64_MAX - NS_PER_SEC ? INT64_MAX : t->now_ns + NS_PER_SEC;
    }
}

/* Counters and activity of a packet of flow f in direction d. */
static inline void count(tcp_table *t, tcp_flow *f, int d, const cap_layers *seg, uint64_t pkt_no,
                         int64_t ts_ns, uint32_t frame_len, int opened)
{
    tcp_conn *c = &f->c;
    c->pkts[d]++;
    c->wire_bytes[d] += frame_len;
    c->payload_bytes[d] += (uint64_t)seg->payload_len + seg->payload_missing;
    if (opened || ts_ns < c->first_ts_ns)
        c->first_ts_ns = ts_ns;
    if (opened || ts_ns > c->last_ts_ns)
        c->last_ts_ns = ts_ns;
    f->last_pkt = pkt_no;
    if (t->last != f)
        set_last(t, f);
    flist *l = c->closed ? &t->tomb : &t->live;
    if (l->tail != f)
        list_move_last(l, f);
}

/* Everything but an in-order segment or bare ACK of a healthy flow: f (direction d) is the
 * segment's flow from lookup, or NULL. Out of line, so that the common case stays small. */
static __attribute__((noinline)) int add_general(tcp_table *t, const cap_layers *seg, tcp_flow *f,
                                                 int d, uint64_t pkt_no, int64_t ts_ns,
                                                 uint32_t frame_len, tcp_conn **conn, int *dir)
{
    if (conn)
        *conn = NULL;
    if (dir)
        *dir = 0;
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
        tcp_endpoint a, b;
        set_endpoint(&a, seg->ipver, seg->src, seg->sport);
        set_endpoint(&b, seg->ipver, seg->dst, seg->dport);
        f = create(t, &a, &b);
        if (!f)
            return GW_ENOMEM;
        d = 0;
        opened = 1;
    }

    tcp_conn *c = &f->c;
    count(t, f, d, seg, pkt_no, ts_ns, frame_len, opened);
    c->syn[d] |= syn;
    c->fin[d] |= fin;
    c->rst[d] |= rst;
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

/* Can the in-order path below take this segment of flow f, direction d? A live flow whose
 * sides have sent no FIN, this side started; no SYN, FIN or RST, nothing cut by the snaplen;
 * and either no payload (a bare ACK, which the reassembler would ignore: any sequence number
 * does) or payload at exactly the next expected sequence number with nothing held. */
static inline int in_order(const tcp_table *t, const tcp_flow *f, int d, const cap_layers *seg)
{
    const tcp_half *h = &f->h[d];
    /* One branch for all of it: each term is nonzero when it rules the fast path out. */
    uint32_t no = (uint32_t)t->general_only | (uint32_t)f->c.closed |
                  (seg->flags & (CAP_TCP_SYN | CAP_TCP_FIN | CAP_TCP_RST)) | seg->payload_missing |
                  ((f->h[0].flags | f->h[1].flags) & TCP_H_FIN) | (~h->flags & TCP_H_STARTED);
    if (no)
        return 0;
    return seg->payload_len == 0 ||
           (seg->payload && !h->ooo && seg->seq == (uint32_t)(h->base + (uint32_t)h->next));
}

static __attribute__((noinline)) void ack_slow(tcp_table *t, tcp_flow *f, int d, uint32_t ack,
                                               uint64_t pkt_no, int64_t ts_ns)
{
    tcp_rctx x = rctx(t, f, d, pkt_no, ts_ns);
    tcp_half_ack(&f->h[d], &x, ack);
}

int tcp_table_add(tcp_table *t, const cap_layers *seg, uint64_t pkt_no, int64_t ts_ns,
                  uint32_t frame_len, tcp_conn **conn, int *dir)
{
    if (!t || !seg || !seg->is_tcp || (seg->ipver != 4 && seg->ipver != 6)) {
        if (conn)
            *conn = NULL;
        if (dir)
            *dir = 0;
        return GW_EINVAL;
    }
    tick(t, ts_ns);

    int d;
    tcp_flow *f = find(t, seg, &d);
    if (!f || !in_order(t, f, d, seg))
        return add_general(t, seg, f, d, pkt_no, ts_ns, frame_len, conn, dir);

    /* Nearly every packet: what add_general and tcp_half_segment would do with it, without
     * their tests for what cannot happen here (the differential tests hold the two alike). */
    tcp_conn *c = &f->c;
    count(t, f, d, seg, pkt_no, ts_ns, frame_len, 0);
    if (conn)
        *conn = c;
    if (dir)
        *dir = d;
    /* tcp_half_ack_matters without its FIN test (no side has a FIN here): the ACK passes
     * the next offset the peer's side expects. */
    const tcp_half *peer = &f->h[!d];
    if ((seg->flags & CAP_TCP_ACK) && (peer->flags & TCP_H_STARTED) &&
        (int32_t)(seg->ack - (uint32_t)(peer->base + (uint32_t)peer->next)) > 0)
        ack_slow(t, f, !d, seg->ack, pkt_no, ts_ns);
    uint32_t n = seg->payload_len;
    if (n) {
        tcp_half *h = &f->h[d];
        if (t->cb.on_data)
            t->cb.on_data(t->cb.u, c, d, h->next, seg->payload, n, pkt_no, ts_ns);
        h->next += n;
        c->delivered[d] += n;
    }
    return 0;
}

void tcp_table_set_general_only(tcp_table *t, int on)
{
    t->general_only = on;
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
