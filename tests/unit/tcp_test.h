/* Helpers shared by the TCP tests (test_tcp.c, test_tcp_fast.c): a known pseudo-random stream
 * per direction, a recorder that rebuilds each direction from the callbacks, and a conversation
 * that sends cut pieces of the streams in chosen orders. */
#ifndef TCP_TEST_H
#define TCP_TEST_H
#include "gw_test.h"

#include <stdarg.h>
#include <stdlib.h>

#include "common/gw_err.h"
#include "common/gw_mem.h"
#include "tcp/tcp.h"
#include "tcp/tcp_int.h"

#define MAXC 8       /* connections the recorder follows (by index) */
#define MAXLEN 12000 /* bytes per direction it rebuilds */
#define MAXCH 2048   /* chunks per direction it remembers */
#define MAXPKT 8192
#define SLEN 5000
#define SEC 1000000000LL

/* ---- pseudo-random ---------------------------------------------------------------------- */
static uint64_t rng = 88172645463325252ULL;
static inline uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}
static inline uint32_t rndn(uint32_t n)
{
    return n ? rnd() % n : 0;
}

static uint8_t orig[2][MAXLEN]; /* the streams each direction sends */

static inline void make_streams(void)
{
    uint64_t s = 0x1234567;
    for (int d = 0; d < 2; d++)
        for (size_t i = 0; i < MAXLEN; i++) {
            s = s * 6364136223846793005ULL + 1442695040888963407ULL;
            orig[d][i] = (uint8_t)(s >> 56);
        }
}

/* ---- recorder --------------------------------------------------------------------------- */
typedef struct chunk {
    uint64_t off, len, pkt;
    int64_t ts;
    int gap;
} chunk;

typedef struct rstream {
    uint8_t buf[MAXLEN];
    uint64_t next;
    chunk ch[MAXCH];
    size_t nch;
    int bad; /* not contiguous, or beyond what we can hold */
} rstream;

typedef struct rec {
    rstream s[MAXC][2];
    int opened[MAXC], closes[MAXC], why[MAXC];
    tcp_conn at_close[MAXC];
    int after_close; /* callbacks for a connection after its on_close */
    int nbuf;        /* do not rebuild bytes (hostile tests) */
    int nanom;
    const char *anom;
    int anom_dir;
    uint64_t anom_pkt;
    long events;
    long close_event[MAXC];
    int nopen, nclose;
} rec;

static rec R;

static inline void rec_reset(void)
{
    memset(&R, 0, sizeof R);
}

static inline void r_open(void *u, tcp_conn *c)
{
    R.nopen++;
    if (c->index < MAXC)
        R.opened[c->index]++;
}

/* What r_data and r_gap check first: an event of a live connection, at the offset that stream
 * expects, of at least a byte. Returns its stream (next moved past it), or NULL past MAXC. */
static inline rstream *r_step(tcp_conn *c, int dir, uint64_t off, uint64_t n)
{
    R.events++;
    if (c->closed)
        R.after_close++;
    if (c->index >= MAXC)
        return NULL;
    if (R.closes[c->index])
        R.after_close++;
    rstream *s = &R.s[c->index][dir];
    if (off != s->next || n == 0)
        s->bad = 1;
    s->next = off + n;
    return s;
}

static inline void r_data(void *u, tcp_conn *c, int dir, uint64_t off, const uint8_t *p,
                          size_t n, uint64_t pkt_no, int64_t ts_ns)
{
    rstream *s = r_step(c, dir, off, n);
    if (!s)
        return;
    if (!R.nbuf) {
        if (off + n <= MAXLEN)
            memcpy(s->buf + off, p, n);
        else
            s->bad = 1;
    }
    if (s->nch < MAXCH)
        s->ch[s->nch++] = (chunk){off, n, pkt_no, ts_ns, 0};
    else
        s->bad = 1;
}

static inline void r_gap(void *u, tcp_conn *c, int dir, uint64_t off, uint64_t len,
                         uint64_t pkt_no, int64_t ts_ns)
{
    rstream *s = r_step(c, dir, off, len);
    if (!s)
        return;
    if (s->nch < MAXCH)
        s->ch[s->nch++] = (chunk){off, len, pkt_no, ts_ns, 1};
    else
        s->bad = 1;
}

static inline void r_anom(void *u, tcp_conn *c, int dir, uint64_t pkt_no, const char *what)
{
    R.nanom++;
    R.anom = what;
    R.anom_dir = dir;
    R.anom_pkt = pkt_no;
}

static inline void r_close(void *u, tcp_conn *c, int why)
{
    R.events++;
    R.nclose++;
    if (c->index >= MAXC)
        return;
    R.closes[c->index]++;
    R.why[c->index] = why;
    R.at_close[c->index] = *c;
    R.close_event[c->index] = R.events;
}

static const tcp_callbacks CB = {NULL, r_open, r_data, r_gap, r_anom, r_close};

/* ---- a conversation --------------------------------------------------------------------- */
typedef struct carried {
    int dir;
    uint64_t off, len;
    int64_t ts;
} carried;

typedef struct conv {
    tcp_table *t;
    int ipver;
    uint8_t ip[2][16];
    uint16_t port[2];
    uint32_t base[2];   /* sequence number of stream offset 0 */
    uint32_t ackoff[2]; /* what direction d acknowledges of the other one (offset) */
    uint64_t pkt;
    int64_t ts;
    carried car[MAXPKT];
    tcp_conn *conn; /* of the last packet */
    int dir;
    int rc;
} conv;

static conv CV;

static inline void conv_init(tcp_table *t, uint32_t isn0, uint32_t isn1)
{
    memset(&CV, 0, sizeof CV);
    CV.t = t;
    CV.ipver = 4;
    uint8_t a[4] = {10, 0, 0, 1}, b[4] = {10, 0, 0, 2};
    memcpy(CV.ip[0], a, 4);
    memcpy(CV.ip[1], b, 4);
    CV.port[0] = 40000;
    CV.port[1] = 50051;
    CV.base[0] = isn0 + 1;
    CV.base[1] = isn1 + 1;
    CV.ts = 1000 * SEC;
}

/* One packet from ep d. `off` is a stream offset (seq = base + off, before the SYN's own). */
static inline int pkt_raw(int d, uint32_t seq, uint32_t ack, uint8_t flags, const uint8_t *p,
                          uint32_t len, uint32_t missing, uint64_t off)
{
    cap_layers L;
    memset(&L, 0, sizeof L);
    L.ipver = CV.ipver;
    memcpy(L.src, CV.ip[d], 16);
    memcpy(L.dst, CV.ip[!d], 16);
    L.is_tcp = 1;
    L.proto = 6;
    L.sport = CV.port[d];
    L.dport = CV.port[!d];
    L.seq = seq;
    L.ack = ack;
    L.flags = flags;
    L.payload = p;
    L.payload_len = len;
    L.payload_missing = missing;
    CV.pkt++;
    CV.ts += 1000;
    if (CV.pkt < MAXPKT)
        CV.car[CV.pkt] = (carried){d, off, len, CV.ts};
    CV.rc = tcp_table_add(CV.t, &L, CV.pkt, CV.ts, 54 + len + missing, &CV.conn, &CV.dir);
    return CV.rc;
}

static inline int send_data(int d, uint64_t off, uint32_t len, uint32_t missing, uint8_t extra)
{
    return pkt_raw(d, CV.base[d] + (uint32_t)off, CV.base[!d] + CV.ackoff[d],
                   CAP_TCP_ACK | CAP_TCP_PSH | extra, orig[d] + off, len, missing, off);
}

static inline void handshake(void)
{
    pkt_raw(0, CV.base[0] - 1, 0, CAP_TCP_SYN, NULL, 0, 0, 0);
    pkt_raw(1, CV.base[1] - 1, CV.base[0], CAP_TCP_SYN | CAP_TCP_ACK, NULL, 0, 0, 0);
    pkt_raw(0, CV.base[0], CV.base[1], CAP_TCP_ACK, NULL, 0, 0, 0);
}

/* Direction d of connection idx must be exactly orig[d][0, total) with the given holes
 * (pairs off,len, adjacent gaps merged), every byte from the packet that carried it. */
static inline void check_stream(int idx, int d, uint64_t total, const uint64_t *gaps,
                                size_t ngaps)
{
    rstream *s = &R.s[idx][d];
    GW_CHECK(!s->bad);
    GW_CHECK_INT(s->next, total);
    uint64_t merged[2 * 64];
    size_t nm = 0;
    int bytes_ok = 1, owner_ok = 1;
    for (size_t i = 0; i < s->nch; i++) {
        chunk *c = &s->ch[i];
        if (c->gap) {
            if (nm && merged[2 * nm - 2] + merged[2 * nm - 1] == c->off)
                merged[2 * nm - 1] += c->len;
            else if (nm < 64) {
                merged[2 * nm] = c->off;
                merged[2 * nm + 1] = c->len;
                nm++;
            }
            continue;
        }
        if (c->off + c->len > MAXLEN || memcmp(s->buf + c->off, orig[d] + c->off, c->len) != 0)
            bytes_ok = 0;
        if (c->pkt >= MAXPKT) {
            owner_ok = 0;
            continue;
        }
        carried *k = &CV.car[c->pkt];
        if (k->dir != d || c->off < k->off || c->off + c->len > k->off + k->len || c->ts != k->ts)
            owner_ok = 0;
    }
    GW_CHECK(bytes_ok);
    GW_CHECK(owner_ok);
    if (ngaps == (size_t)-1) /* any gaps */
        return;
    GW_CHECK_INT(nm, ngaps);
    if (nm != ngaps)
        for (size_t i = 0; i < nm; i++)
            fprintf(stderr, "  gap %" PRIu64 "+%" PRIu64 "\n", merged[2 * i], merged[2 * i + 1]);
    int same = nm == ngaps;
    for (size_t i = 0; same && i < 2 * ngaps; i++)
        same = merged[i] == gaps[i];
    GW_CHECK(same);
}

static inline tcp_table *new_table(const tcp_opts *o)
{
    rec_reset();
    return tcp_table_new(o, &CB);
}

/* ---- cut / order helpers ---------------------------------------------------------------- */
typedef struct piece {
    int dir;
    uint32_t off, len, missing;
} piece;

/* Cut [0, total) of direction d into pieces of 1..maxlen bytes. */
static inline size_t cut(piece *pc, size_t cap, int d, uint32_t total, uint32_t maxlen)
{
    size_t n = 0;
    for (uint32_t off = 0; off < total && n < cap;) {
        uint32_t len = 1 + rndn(maxlen);
        if (len > total - off)
            len = total - off;
        pc[n++] = (piece){d, off, len, 0};
        off += len;
    }
    return n;
}

static inline void shuffle(size_t *v, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = rndn((uint32_t)i);
        size_t s = v[i - 1];
        v[i - 1] = v[j];
        v[j] = s;
    }
}

static inline int next_perm(size_t *v, size_t n)
{
    if (n < 2)
        return 0;
    size_t i = n - 1;
    while (i > 0 && v[i - 1] >= v[i])
        i--;
    if (i == 0)
        return 0;
    size_t j = n - 1;
    while (v[j] <= v[i - 1])
        j--;
    size_t s = v[i - 1];
    v[i - 1] = v[j];
    v[j] = s;
    for (size_t a = i, b = n - 1; a < b; a++, b--) {
        s = v[a];
        v[a] = v[b];
        v[b] = s;
    }
    return 1;
}

/* Handshake, then the pieces in `order`, flush; expect both streams whole (no gaps). */
static inline void run_order(const piece *pc, size_t n, const size_t *order, uint32_t isn0,
                             uint32_t isn1, uint64_t total0, uint64_t total1, const char *label)
{
    int before = gw_t_fail;
    tcp_table *t = new_table(NULL);
    conv_init(t, isn0, isn1);
    handshake();
    for (size_t i = 0; i < n; i++) {
        const piece *p = &pc[order[i]];
        send_data(p->dir, p->off, p->len, p->missing, 0);
    }
    /* Everything was sent: nothing may stay held. */
    GW_CHECK_INT(tcp_table_held_bytes(t), 0);
    GW_CHECK_INT(R.s[0][0].next, total0);
    GW_CHECK_INT(R.s[0][1].next, total1);
    tcp_table_del(t);
    check_stream(0, 0, total0, NULL, 0);
    check_stream(0, 1, total1, NULL, 0);
    GW_CHECK_INT(R.nanom, 0);
    GW_CHECK_INT(R.closes[0], 1);
    GW_CHECK_INT(R.why[0], TCP_CLOSE_END);
    GW_CHECK_INT(R.after_close, 0);
    GW_CHECK_INT(R.at_close[0].delivered[0], total0);
    GW_CHECK_INT(R.at_close[0].gap_bytes[0], 0);
    if (gw_t_fail != before) {
        fprintf(stderr, "  in %s, order:", label);
        for (size_t i = 0; i < n; i++)
            fprintf(stderr, " %u+%u", pc[order[i]].off, pc[order[i]].len);
        fprintf(stderr, "\n");
    }
}

#endif
