/* test_tcp: the flow table and reassembly. A known pseudo-random byte stream is cut into
 * segments and fed in chosen orders (reversed, random, every permutation), with duplicates,
 * overlaps, conflicts, wrap-around, holes, snaplen cuts and small caps; the recorder rebuilds
 * each direction from on_data/on_gap and checks contiguity, content, the exact gaps, and that
 * each delivered chunk came from the packet that carried it. tcp_table_add's fast path for
 * in-order segments and bare ACKs is held to the general path on random conversations. */
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
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}
static uint32_t rndn(uint32_t n)
{
    return n ? rnd() % n : 0;
}

static uint8_t orig[2][MAXLEN]; /* the streams each direction sends */

static void make_streams(void)
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

static void rec_reset(void)
{
    memset(&R, 0, sizeof R);
}

static void r_open(void *u, tcp_conn *c)
{
    R.nopen++;
    if (c->index < MAXC)
        R.opened[c->index]++;
}

static void r_data(void *u, tcp_conn *c, int dir, uint64_t off, const uint8_t *p, size_t n,
                   uint64_t pkt_no, int64_t ts_ns)
{
    R.events++;
    if (c->closed)
        R.after_close++;
    if (c->index >= MAXC)
        return;
    if (R.closes[c->index])
        R.after_close++;
    rstream *s = &R.s[c->index][dir];
    if (off != s->next || n == 0)
        s->bad = 1;
    if (!R.nbuf) {
        if (off + n <= MAXLEN)
            memcpy(s->buf + off, p, n);
        else
            s->bad = 1;
    }
    s->next = off + n;
    if (s->nch < MAXCH)
        s->ch[s->nch++] = (chunk){off, n, pkt_no, ts_ns, 0};
    else
        s->bad = 1;
}

static void r_gap(void *u, tcp_conn *c, int dir, uint64_t off, uint64_t len, uint64_t pkt_no,
                  int64_t ts_ns)
{
    R.events++;
    if (c->closed)
        R.after_close++;
    if (c->index >= MAXC)
        return;
    if (R.closes[c->index])
        R.after_close++;
    rstream *s = &R.s[c->index][dir];
    if (off != s->next || len == 0)
        s->bad = 1;
    s->next = off + len;
    if (s->nch < MAXCH)
        s->ch[s->nch++] = (chunk){off, len, pkt_no, ts_ns, 1};
    else
        s->bad = 1;
}

static void r_anom(void *u, tcp_conn *c, int dir, uint64_t pkt_no, const char *what)
{
    R.nanom++;
    R.anom = what;
    R.anom_dir = dir;
    R.anom_pkt = pkt_no;
}

static void r_close(void *u, tcp_conn *c, int why)
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

static void conv_init(tcp_table *t, uint32_t isn0, uint32_t isn1)
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
static int pkt_raw(int d, uint32_t seq, uint32_t ack, uint8_t flags, const uint8_t *p, uint32_t len,
                   uint32_t missing, uint64_t off)
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

static int send_data(int d, uint64_t off, uint32_t len, uint32_t missing, uint8_t extra)
{
    return pkt_raw(d, CV.base[d] + (uint32_t)off, CV.base[!d] + CV.ackoff[d],
                   CAP_TCP_ACK | CAP_TCP_PSH | extra, orig[d] + off, len, missing, off);
}

static void handshake(void)
{
    pkt_raw(0, CV.base[0] - 1, 0, CAP_TCP_SYN, NULL, 0, 0, 0);
    pkt_raw(1, CV.base[1] - 1, CV.base[0], CAP_TCP_SYN | CAP_TCP_ACK, NULL, 0, 0, 0);
    pkt_raw(0, CV.base[0], CV.base[1], CAP_TCP_ACK, NULL, 0, 0, 0);
}

/* Direction d of connection idx must be exactly orig[d][0, total) with the given holes
 * (pairs off,len, adjacent gaps merged), every byte from the packet that carried it. */
static void check_stream(int idx, int d, uint64_t total, const uint64_t *gaps, size_t ngaps)
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

static tcp_table *new_table(const tcp_opts *o)
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
static size_t cut(piece *pc, size_t cap, int d, uint32_t total, uint32_t maxlen)
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

static void shuffle(size_t *v, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = rndn((uint32_t)i);
        size_t s = v[i - 1];
        v[i - 1] = v[j];
        v[j] = s;
    }
}

static int next_perm(size_t *v, size_t n)
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
static void run_order(const piece *pc, size_t n, const size_t *order, uint32_t isn0, uint32_t isn1,
                      uint64_t total0, uint64_t total1, const char *label)
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

/* ---- cases ------------------------------------------------------------------------------ */

static void test_in_order(void)
{
    piece pc[64];
    size_t n = cut(pc, 64, 0, SLEN, 1460);
    size_t order[64];
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    run_order(pc, n, order, 1000, 2000, SLEN, 0, "in order");
    /* one chunk per segment, each the whole segment */
    GW_CHECK_INT(R.s[0][0].nch, n);
    int whole = 1;
    for (size_t i = 0; i < n && i < R.s[0][0].nch; i++)
        whole &= R.s[0][0].ch[i].off == pc[i].off && R.s[0][0].ch[i].len == pc[i].len &&
                 R.s[0][0].ch[i].pkt == 4 + i;
    GW_CHECK(whole);
}

static void test_reversed(void)
{
    piece pc[200];
    size_t n = cut(pc, 200, 0, SLEN, 100);
    GW_CHECK(n < 256);
    size_t order[200];
    for (size_t i = 0; i < n; i++)
        order[i] = n - 1 - i;
    run_order(pc, n, order, 1000, 2000, SLEN, 0, "reversed");
    /* delivered all at once when the first arrived, each piece with its own packet */
    GW_CHECK_INT(R.s[0][0].nch, n);
}

static void test_random_orders(void)
{
    for (int iter = 0; iter < 200; iter++) {
        piece pc[400];
        size_t n = cut(pc, 200, 0, SLEN, 300);
        n += cut(pc + n, 200, 1, SLEN, 300);
        size_t order[400];
        for (size_t i = 0; i < n; i++)
            order[i] = i;
        shuffle(order, n);
        run_order(pc, n, order, rnd(), rnd(), SLEN, SLEN, "random order");
    }
}

static void test_all_permutations(void)
{
    /* six disjoint segments of varied sizes */
    const piece six[6] = {{0, 0, 1, 0},      {0, 1, 700, 0},   {0, 701, 3, 0},
                          {0, 704, 1500, 0}, {0, 2204, 96, 0}, {0, 2300, 2700, 0}};
    size_t order[8] = {0, 1, 2, 3, 4, 5};
    int count = 0;
    do {
        run_order(six, 6, order, 0xfffff000u, 7, SLEN, 0, "six");
        count++;
    } while (next_perm(order, 6));
    GW_CHECK_INT(count, 720);

    /* overlapping retransmissions with the same bytes, cut at other boundaries */
    const piece ov[6] = {{0, 0, 100, 0},   {0, 100, 150, 0}, {0, 50, 130, 0},
                         {0, 250, 150, 0}, {0, 180, 120, 0}, {0, 0, 400, 0}};
    for (size_t i = 0; i < 6; i++)
        order[i] = i;
    count = 0;
    do {
        run_order(ov, 6, order, 5, 7, 400, 0, "overlaps");
        count++;
    } while (next_perm(order, 6));
    GW_CHECK_INT(count, 720);

    /* a segment that starts before a held one and extends past it, inside and around others */
    const piece sp[5] = {
        {0, 300, 50, 0}, {0, 200, 300, 0}, {0, 0, 200, 0}, {0, 400, 200, 0}, {0, 199, 2, 0}};
    for (size_t i = 0; i < 5; i++)
        order[i] = i;
    do {
        run_order(sp, 5, order, 5, 7, 600, 0, "spans");
    } while (next_perm(order, 5));
}

static void test_duplicates(void)
{
    for (int iter = 0; iter < 50; iter++) {
        piece pc[400];
        size_t n = cut(pc, 150, 0, SLEN, 200);
        for (size_t i = 0, m = n; i < m; i++)
            pc[n++] = pc[i];
        /* and some retransmissions recut across boundaries */
        for (int k = 0; k < 20; k++) {
            uint32_t off = rndn(SLEN - 1), len = 1 + rndn(400);
            if (len > SLEN - off)
                len = SLEN - off;
            pc[n++] = (piece){0, off, len, 0};
        }
        size_t order[400];
        for (size_t i = 0; i < n; i++)
            order[i] = i;
        shuffle(order, n);
        run_order(pc, n, order, rnd(), rnd(), SLEN, 0, "duplicates");
    }
}

static void test_conflict(void)
{
    /* B [100,200) held; C [150,250) disagrees inside the overlap: reported, held bytes win */
    tcp_table *t = new_table(NULL);
    conv_init(t, 100, 200);
    handshake();
    send_data(0, 100, 100, 0, 0);
    uint8_t bad[100];
    memcpy(bad, orig[0] + 150, 100);
    bad[20] ^= 0xff; /* offset 170 */
    pkt_raw(0, CV.base[0] + 150, CV.base[1], CAP_TCP_ACK, bad, 100, 0, 150);
    uint64_t cpkt = CV.pkt;
    GW_CHECK_INT(R.nanom, 1);
    GW_CHECK_STR(R.anom, "conflicting overlap");
    GW_CHECK_INT(R.anom_pkt, cpkt);
    GW_CHECK_INT(R.anom_dir, 0);
    send_data(0, 0, 100, 0, 0);
    GW_CHECK_INT(R.s[0][0].next, 250);
    tcp_table_del(t);
    check_stream(0, 0, 250, NULL, 0);

    /* the same bytes again: no anomaly */
    t = new_table(NULL);
    conv_init(t, 100, 200);
    handshake();
    send_data(0, 100, 100, 0, 0);
    send_data(0, 150, 100, 0, 0);
    send_data(0, 0, 100, 0, 0);
    tcp_table_del(t);
    GW_CHECK_INT(R.nanom, 0);
    check_stream(0, 0, 250, NULL, 0);

    /* corrupt copy held first: it is what gets delivered (documented: first held copy wins) */
    t = new_table(NULL);
    conv_init(t, 100, 200);
    handshake();
    pkt_raw(0, CV.base[0] + 150, CV.base[1], CAP_TCP_ACK, bad, 100, 0, 150);
    send_data(0, 100, 100, 0, 0);
    GW_CHECK_INT(R.nanom, 1);
    send_data(0, 0, 100, 0, 0);
    tcp_table_del(t);
    GW_CHECK(!R.s[0][0].bad);
    GW_CHECK_INT(R.s[0][0].buf[170], orig[0][170] ^ 0xff);
    GW_CHECK_INT(R.s[0][0].buf[169], orig[0][169]);

    /* against delivered data there is no copy: trimmed, not compared */
    t = new_table(NULL);
    conv_init(t, 100, 200);
    handshake();
    send_data(0, 0, 200, 0, 0);
    pkt_raw(0, CV.base[0] + 150, CV.base[1], CAP_TCP_ACK, bad, 100, 0, 150);
    tcp_table_del(t);
    GW_CHECK_INT(R.nanom, 0);
    GW_CHECK_INT(R.s[0][0].next, 250);
    GW_CHECK(memcmp(R.s[0][0].buf + 200, bad + 50, 50) == 0);
}

static void test_wraparound(void)
{
    /* ISNs so that the stream crosses 2^32 in the middle, in every direction */
    static const uint32_t isns[] = {0xffffffffu, 0xfffffffeu, 0xfffff800u, 0x7fffffffu, 0};
    for (size_t k = 0; k < sizeof isns / sizeof isns[0]; k++) {
        for (int iter = 0; iter < 20; iter++) {
            piece pc[200];
            size_t n = cut(pc, 100, 0, SLEN, 400);
            n += cut(pc + n, 100, 1, SLEN, 400);
            size_t order[200];
            for (size_t i = 0; i < n; i++)
                order[i] = i;
            if (iter)
                shuffle(order, n);
            run_order(pc, n, order, isns[k], isns[k] - 2500, SLEN, SLEN, "wrap");
        }
    }
    /* a stream longer than 2^32 bytes would be slow to feed; check the offset keeps counting
     * past one wrap with few big hops: 5 x 1 GiB of "cut" bytes, then real data */
    tcp_table *t = new_table(NULL);
    R.nbuf = 1;
    conv_init(t, 0xfffffff0u, 1);
    handshake();
    uint64_t off = 0;
    for (int i = 0; i < 5; i++) {
        pkt_raw(0, CV.base[0] + (uint32_t)off, CV.base[1], CAP_TCP_ACK, NULL, 0, 1u << 30, off);
        off += 1u << 30;
    }
    pkt_raw(0, CV.base[0] + (uint32_t)off, CV.base[1], CAP_TCP_ACK, orig[0], 10, 0, off);
    GW_CHECK_INT(R.s[0][0].next, off + 10);
    GW_CHECK_INT(CV.conn->gap_bytes[0], off);
    GW_CHECK_INT(CV.conn->delivered[0], 10);
    GW_CHECK_INT(R.s[0][0].ch[R.s[0][0].nch - 1].off, off);
    tcp_table_del(t);
}

static void test_mid_connection(void)
{
    /* no handshake: the first sequence seen is offset 0 */
    tcp_table *t = new_table(NULL);
    conv_init(t, 0, 0);
    CV.base[0] = 0x10000000u;
    CV.base[1] = 0x20000000u;
    send_data(0, 0, 100, 0, 0);
    send_data(0, 100, 100, 0, 0);
    /* older bytes (before offset 0) and a retransmission overlapping delivered data */
    pkt_raw(0, CV.base[0] - 50, CV.base[1], CAP_TCP_ACK, orig[0], 100, 0, 0);
    send_data(0, 150, 150, 0, 0);
    send_data(1, 0, 70, 0, 0);
    GW_CHECK_INT(R.s[0][0].next, 300);
    GW_CHECK_INT(R.s[0][0].nch, 3);
    GW_CHECK_INT(R.s[0][0].ch[2].off, 200);
    GW_CHECK_INT(R.s[0][0].ch[2].pkt, 4);
    GW_CHECK_INT(CV.conn->client_how, TCP_CLIENT_PORT);
    GW_CHECK_INT(CV.conn->client, 0);
    GW_CHECK_INT(CV.conn->syn[0], 0);
    tcp_table_del(t);
    check_stream(0, 0, 300, NULL, 0);
    check_stream(0, 1, 70, NULL, 0);

    /* the server speaks first (mid-stream): ep[0] is the server, the port says so */
    t = new_table(NULL);
    conv_init(t, 0, 0);
    send_data(1, 0, 10, 0, 0);
    GW_CHECK_INT(CV.dir, 0);
    GW_CHECK_INT(CV.conn->ep[0].port, 50051);
    GW_CHECK_INT(CV.conn->client, 1);
    send_data(0, 0, 10, 0, 0);
    GW_CHECK_INT(CV.dir, 1);
    tcp_table_del(t);
}

static void test_tfo(void)
{
    /* data in the SYN counts from offset 0 (TCP Fast Open) */
    tcp_table *t = new_table(NULL);
    conv_init(t, 500, 900);
    pkt_raw(0, CV.base[0] - 1, 0, CAP_TCP_SYN, orig[0], 100, 0, 0);
    pkt_raw(1, CV.base[1] - 1, CV.base[0] + 100, CAP_TCP_SYN | CAP_TCP_ACK, NULL, 0, 0, 0);
    /* the SYN retransmitted with its data: old */
    pkt_raw(0, CV.base[0] - 1, 0, CAP_TCP_SYN, orig[0], 100, 0, 0);
    GW_CHECK_INT(CV.conn->index, 0);
    send_data(0, 100, 50, 0, 0);
    tcp_table_del(t);
    check_stream(0, 0, 150, NULL, 0);
    GW_CHECK_INT(R.s[0][0].ch[0].pkt, 1);
    GW_CHECK_INT(R.nopen, 1);
}

static void test_gaps(void)
{
    const uint64_t g100[] = {100, 100};
    /* (b) at close: the hole is declared when the capture ends */
    tcp_table *t = new_table(NULL);
    conv_init(t, 1, 2);
    handshake();
    send_data(0, 0, 100, 0, 0);
    send_data(0, 200, 100, 0, 0);
    uint64_t held_pkt = CV.pkt;
    GW_CHECK_INT(tcp_table_held_bytes(t), 100);
    GW_CHECK_INT(R.s[0][0].next, 100);
    tcp_table_flush(t);
    GW_CHECK_INT(tcp_table_held_bytes(t), 0);
    GW_CHECK_INT(tcp_table_nflows(t), 0);
    check_stream(0, 0, 300, g100, 1);
    GW_CHECK_INT(R.s[0][0].ch[1].pkt, held_pkt); /* the gap is named by the packet after it */
    GW_CHECK_INT(R.s[0][0].ch[2].pkt, held_pkt);
    GW_CHECK_INT(R.at_close[0].ngaps[0], 1);
    GW_CHECK_INT(R.at_close[0].gap_bytes[0], 100);
    GW_CHECK_INT(R.at_close[0].delivered[0], 200);
    tcp_table_del(t);

    /* (c) by ACK: the peer acknowledged past the hole, so the capture lost those bytes */
    t = new_table(NULL);
    conv_init(t, 1, 2);
    handshake();
    send_data(0, 0, 100, 0, 0);
    send_data(0, 200, 100, 0, 0);
    CV.ackoff[1] = 300;
    send_data(1, 0, 0, 0, 0); /* a pure ACK */
    GW_CHECK_INT(R.s[0][0].next, 300);
    GW_CHECK_INT(tcp_table_held_bytes(t), 0);
    GW_CHECK_INT(R.s[0][0].ch[1].gap, 1);
    tcp_table_del(t);
    check_stream(0, 0, 300, g100, 1);

    /* a partial ACK declares only what it covers; the rest can still arrive */
    t = new_table(NULL);
    conv_init(t, 1, 2);
    handshake();
    send_data(0, 0, 100, 0, 0);
    send_data(0, 200, 100, 0, 0);
    CV.ackoff[1] = 150;
    send_data(1, 0, 0, 0, 0);
    GW_CHECK_INT(R.s[0][0].next, 150);
    GW_CHECK_INT(R.s[0][0].ch[1].pkt, CV.pkt); /* named by the ACK */
    send_data(0, 150, 50, 0, 0);
    GW_CHECK_INT(R.s[0][0].next, 300);
    /* an ACK beyond everything sent declares nothing */
    CV.ackoff[1] = 5000;
    send_data(1, 0, 0, 0, 0);
    GW_CHECK_INT(R.s[0][0].next, 300);
    const uint64_t g50[] = {100, 50};
    tcp_table_del(t);
    check_stream(0, 0, 300, g50, 1);

    /* an ACK with no held data after it declares nothing (the data may be in flight) */
    t = new_table(NULL);
    conv_init(t, 1, 2);
    handshake();
    send_data(0, 0, 100, 0, 0);
    CV.ackoff[1] = 300;
    send_data(1, 0, 0, 0, 0);
    GW_CHECK_INT(R.s[0][0].next, 100);
    send_data(0, 100, 200, 0, 0);
    tcp_table_del(t);
    check_stream(0, 0, 300, NULL, 0);

    /* several holes, the last one bounded only by a FIN: all declared at close */
    t = new_table(NULL);
    conv_init(t, 1, 2);
    handshake();
    send_data(0, 10, 10, 0, 0);
    send_data(0, 30, 10, 0, 0);
    pkt_raw(0, CV.base[0] + 60, CV.base[1], CAP_TCP_ACK | CAP_TCP_FIN, NULL, 0, 0, 60);
    tcp_table_del(t);
    const uint64_t g3[] = {0, 10, 20, 10, 40, 20};
    check_stream(0, 0, 60, g3, 3);
}

static void test_caps(void)
{
    tcp_opts o;
    tcp_opts_default(&o);
    GW_CHECK_INT(o.ooo_max_segments, 256);
    GW_CHECK_INT(o.ooo_max_bytes, 1 << 20);
    GW_CHECK_INT(o.ooo_max_bytes_total, 32 << 20);
    GW_CHECK_INT(o.max_flows, 1000000);
    GW_CHECK_INT(o.idle_timeout_ns, 300 * SEC);

    /* segment cap: three held, the fourth forces the first hole */
    o.ooo_max_segments = 3;
    tcp_table *t = new_table(&o);
    conv_init(t, 1, 2);
    handshake();
    send_data(0, 200, 100, 0, 0);
    send_data(0, 300, 100, 0, 0);
    send_data(0, 450, 50, 0, 0);
    GW_CHECK_INT(tcp_table_held_bytes(t), 250);
    send_data(0, 600, 100, 0, 0);
    GW_CHECK_INT(R.s[0][0].next, 400); /* only the first hole went */
    GW_CHECK_INT(tcp_table_held_bytes(t), 150);
    send_data(0, 100, 100, 0, 0); /* too late: old */
    send_data(0, 400, 50, 0, 0);  /* fills the second hole */
    GW_CHECK_INT(R.s[0][0].next, 500);
    tcp_table_del(t);
    const uint64_t gs[] = {0, 200, 500, 100};
    check_stream(0, 0, 700, gs, 2);

    /* byte cap per direction */
    tcp_opts_default(&o);
    o.ooo_max_bytes = 250;
    t = new_table(&o);
    conv_init(t, 1, 2);
    handshake();
    send_data(0, 200, 100, 0, 0);
    send_data(0, 300, 100, 0, 0);
    send_data(0, 400, 100, 0, 0);
    GW_CHECK_INT(R.s[0][0].next, 500);
    GW_CHECK_INT(tcp_table_held_bytes(t), 0);
    tcp_table_del(t);
    const uint64_t gb[] = {0, 200};
    check_stream(0, 0, 500, gb, 1);

    /* a piece larger than the cap on its own is delivered after a gap */
    o.ooo_max_bytes = 50;
    t = new_table(&o);
    conv_init(t, 1, 2);
    handshake();
    send_data(0, 200, 100, 0, 0);
    GW_CHECK_INT(R.s[0][0].next, 300);
    tcp_table_del(t);
    const uint64_t g200[] = {0, 200};
    check_stream(0, 0, 300, g200, 1);

    /* no holding at all */
    tcp_opts_default(&o);
    o.ooo_max_segments = 0;
    t = new_table(&o);
    conv_init(t, 1, 2);
    handshake();
    send_data(0, 100, 100, 0, 0);
    send_data(0, 0, 100, 0, 0);
    send_data(0, 300, 100, 0, 0);
    tcp_table_del(t);
    const uint64_t g0[] = {0, 100, 200, 100};
    check_stream(0, 0, 400, g0, 2);

    /* the global cap: two connections share it. It counts 64 bytes of bookkeeping per held
     * piece: A holds 2 pieces (328), B's 100-byte piece would make 492 > 450 */
    tcp_opts_default(&o);
    o.ooo_max_bytes_total = 450;
    t = new_table(&o);
    conv_init(t, 1, 2);
    handshake();
    send_data(0, 100, 100, 0, 0);
    send_data(0, 300, 100, 0, 0);
    GW_CHECK_INT(tcp_table_held_bytes(t), 200);
    CV.port[0] = 40001; /* a second connection */
    handshake();
    GW_CHECK_INT(CV.conn->index, 1);
    send_data(0, 100, 100, 0, 0); /* nothing of its own to give up: forced through a gap */
    GW_CHECK_INT(R.s[1][0].next, 200);
    GW_CHECK_INT(tcp_table_held_bytes(t), 200);
    send_data(0, 300, 50, 0, 0);
    GW_CHECK_INT(tcp_table_held_bytes(t), 250);
    send_data(0, 500, 100, 0, 0); /* over: its own hole goes first, then this one */
    GW_CHECK_INT(R.s[1][0].next, 600);
    GW_CHECK_INT(tcp_table_held_bytes(t), 200);
    GW_CHECK_INT(R.s[0][0].next, 0); /* the other connection kept its data */
    tcp_table_del(t);
    const uint64_t gA[] = {0, 100, 200, 100};
    check_stream(0, 0, 400, gA, 2);
    const uint64_t gB[] = {0, 100, 200, 100, 350, 150};
    check_stream(1, 0, 600, gB, 3);
}

static void test_cap_empty_pieces(void)
{
    /* pieces without captured bytes still cost bookkeeping: 5 fit under 320 */
    tcp_opts o;
    tcp_opts_default(&o);
    o.ooo_max_bytes_total = 5 * 64;
    tcp_table *t = new_table(&o);
    conv_init(t, 1, 2);
    for (int i = 0; i < 8; i++) {
        CV.port[0] = (uint16_t)(40000 + i);
        send_data(0, 0, 10, 0, 0);
        send_data(0, 100, 0, 100, 0);
        GW_CHECK_INT(tcp_table_held_bytes(t), 0);
    }
    for (int i = 0; i < 8; i++)
        GW_CHECK_INT(R.s[i][0].next, i < 5 ? 10 : 200);
    tcp_table_del(t);
    for (int i = 0; i < 8; i++)
        check_stream(i, 0, 200, (const uint64_t[]){10, 190}, 1);
}

static void test_snaplen(void)
{
    /* in order: captured bytes, then the cut ones as a gap named by the same packet */
    tcp_table *t = new_table(NULL);
    conv_init(t, 1, 2);
    handshake();
    send_data(0, 0, 60, 40, 0);
    uint64_t p1 = CV.pkt;
    GW_CHECK_INT(R.s[0][0].next, 100);
    GW_CHECK_INT(R.s[0][0].ch[1].gap, 1);
    GW_CHECK_INT(R.s[0][0].ch[1].pkt, p1);
    /* out of order with a cut, then the hole fills */
    send_data(0, 200, 30, 70, 0);
    uint64_t p2 = CV.pkt;
    send_data(0, 100, 100, 0, 0);
    GW_CHECK_INT(R.s[0][0].next, 300);
    GW_CHECK_INT(R.s[0][0].ch[4].gap, 1);
    GW_CHECK_INT(R.s[0][0].ch[4].off, 230);
    GW_CHECK_INT(R.s[0][0].ch[4].pkt, p2);
    /* a full copy of a cut range that was already declared: old */
    send_data(0, 230, 70, 0, 0);
    /* nothing captured at all */
    send_data(0, 300, 0, 100, 0);
    send_data(0, 400, 10, 0, 0);
    GW_CHECK_INT(R.s[0][0].next, 410);
    tcp_table_del(t);
    const uint64_t g[] = {60, 40, 230, 170}; /* adjacent gaps merge */
    check_stream(0, 0, 410, g, 2);
    GW_CHECK_INT(R.at_close[0].ngaps[0], 3);
    GW_CHECK_INT(R.at_close[0].payload_bytes[0], 100 + 100 + 100 + 70 + 100 + 10);

    /* a cut held piece overlapped by a full later copy: the held (cut) one wins */
    t = new_table(NULL);
    conv_init(t, 1, 2);
    handshake();
    send_data(0, 100, 20, 80, 0);
    send_data(0, 100, 100, 0, 0);
    send_data(0, 0, 100, 0, 0);
    tcp_table_del(t);
    const uint64_t g2[] = {120, 80};
    check_stream(0, 0, 200, g2, 1);
}

static void test_fin_rst(void)
{
    /* FIN both ways, closed at the final ACK, after the last delivery */
    tcp_table *t = new_table(NULL);
    conv_init(t, 1, 2);
    handshake();
    send_data(0, 0, 100, 0, 0);
    CV.ackoff[1] = 100;
    send_data(1, 0, 50, 0, 0);
    CV.ackoff[0] = 50;
    send_data(0, 100, 20, 0, CAP_TCP_FIN);
    GW_CHECK_INT(R.closes[0], 0);
    CV.ackoff[1] = 121;
    send_data(1, 50, 0, 0, 0); /* ACK of the FIN */
    send_data(1, 50, 10, 0, CAP_TCP_FIN);
    GW_CHECK_INT(R.closes[0], 0);
    GW_CHECK_INT(R.s[0][1].next, 60);
    CV.ackoff[0] = 61;
    send_data(0, 121, 0, 0, 0); /* the final ACK: seq after the FIN, no "data after FIN" */
    GW_CHECK_INT(R.closes[0], 1);
    GW_CHECK_INT(R.why[0], TCP_CLOSE_FIN);
    GW_CHECK_INT(R.nanom, 0);
    GW_CHECK_INT(R.close_event[0], R.events);
    GW_CHECK(CV.conn && CV.conn->closed);
    GW_CHECK_INT(tcp_table_nflows(t), 0);
    /* counters as tshark -z conv,tcp counts them */
    tcp_conn *c = &R.at_close[0];
    GW_CHECK_INT(c->pkts[0], 5);
    GW_CHECK_INT(c->pkts[1], 4);
    GW_CHECK_INT(c->wire_bytes[0], 54 * 5 + 120);
    GW_CHECK_INT(c->wire_bytes[1], 54 * 4 + 60);
    GW_CHECK_INT(c->payload_bytes[0], 120);
    GW_CHECK_INT(c->delivered[1], 60);
    GW_CHECK(c->syn[0] && c->syn[1] && c->fin[0] && c->fin[1] && !c->rst[0] && !c->rst[1]);
    GW_CHECK_INT(c->first_ts_ns, 1000 * SEC + 1000);
    GW_CHECK_INT(c->last_ts_ns, 1000 * SEC + 9000);
    GW_CHECK_INT(c->client, 0);
    GW_CHECK_INT(c->client_how, TCP_CLIENT_SYN);
    /* a straggler joins the closed connection, nothing new opens */
    send_data(1, 61, 0, 0, 0);
    GW_CHECK_INT(CV.conn->index, 0);
    GW_CHECK(CV.conn->closed);
    GW_CHECK_INT(R.nopen, 1);
    tcp_table_del(t);
    GW_CHECK_INT(R.closes[0], 1);
    GW_CHECK_INT(R.after_close, 0);

    /* FIN with a hole before it: settled when the other side's FIN comes */
    t = new_table(NULL);
    conv_init(t, 1, 2);
    handshake();
    send_data(0, 0, 100, 0, 0);
    send_data(0, 200, 100, 0, CAP_TCP_FIN);
    GW_CHECK_INT(R.s[0][0].next, 100);
    CV.ackoff[1] = 100;
    send_data(1, 0, 0, 0, CAP_TCP_FIN);
    GW_CHECK_INT(R.s[0][0].next, 300);
    GW_CHECK_INT(R.closes[0], 0);
    send_data(0, 301, 0, 0, 0); /* acks nothing of the server yet */
    GW_CHECK_INT(R.closes[0], 0);
    tcp_table_del(t); /* no final ACK: closes at the end, as FIN since both were delivered */
    GW_CHECK_INT(R.why[0], TCP_CLOSE_FIN);
    check_stream(0, 0, 300, (const uint64_t[]){100, 100}, 1);

    /* a FIN with a hole whose data comes late (retransmission) loses nothing */
    t = new_table(NULL);
    conv_init(t, 1, 2);
    handshake();
    send_data(0, 0, 100, 0, 0);
    send_data(0, 200, 100, 0, CAP_TCP_FIN);
    send_data(0, 100, 100, 0, 0);
    GW_CHECK_INT(R.s[0][0].next, 300);
    tcp_table_del(t);
    check_stream(0, 0, 300, NULL, 0);

    /* RST: held data delivered with the gap, then on_close at once */
    t = new_table(NULL);
    conv_init(t, 1, 2);
    handshake();
    send_data(0, 0, 100, 0, 0);
    send_data(0, 200, 100, 0, 0);
    pkt_raw(1, CV.base[1], CV.base[0] + 100, CAP_TCP_RST | CAP_TCP_ACK, orig[1], 5, 0, 0);
    GW_CHECK_INT(R.closes[0], 1);
    GW_CHECK_INT(R.why[0], TCP_CLOSE_RST);
    GW_CHECK_INT(R.s[0][0].next, 300);
    GW_CHECK_INT(R.s[0][1].next, 0); /* a RST's payload is not stream data */
    GW_CHECK(R.at_close[0].rst[1]);
    GW_CHECK_INT(tcp_table_held_bytes(t), 0);
    GW_CHECK_INT(tcp_table_nflows(t), 0);
    send_data(0, 300, 10, 0, 0); /* after the RST: absorbed */
    GW_CHECK_INT(CV.conn->index, 0);
    GW_CHECK_INT(R.nopen, 1);
    tcp_table_del(t);
    GW_CHECK_INT(R.closes[0], 1);
    GW_CHECK_INT(R.after_close, 0);
    check_stream(0, 0, 300, (const uint64_t[]){100, 100}, 1);

    /* data after FIN and an inconsistent FIN are anomalies; the data is not delivered */
    t = new_table(NULL);
    conv_init(t, 1, 2);
    handshake();
    send_data(0, 0, 100, 0, CAP_TCP_FIN);
    send_data(0, 101, 10, 0, 0);
    GW_CHECK_STR(R.anom, "data after FIN");
    send_data(0, 90, 20, 0, 0);
    GW_CHECK_STR(R.anom, "data after FIN");
    pkt_raw(0, CV.base[0] + 50, CV.base[1], CAP_TCP_ACK | CAP_TCP_FIN, NULL, 0, 0, 50);
    GW_CHECK_STR(R.anom, "inconsistent FIN");
    GW_CHECK_INT(R.nanom, 3);
    tcp_table_del(t);
    check_stream(0, 0, 100, NULL, 0);
}

static void test_port_reuse(void)
{
    tcp_table *t = new_table(NULL);
    conv_init(t, 1000, 2000);
    handshake();
    send_data(0, 0, 10, 0, CAP_TCP_FIN);
    CV.ackoff[1] = 11;
    send_data(1, 0, 0, 0, CAP_TCP_FIN);
    CV.ackoff[0] = 1;
    send_data(0, 11, 0, 0, 0);
    GW_CHECK_INT(R.closes[0], 1);
    /* the same ports again: a SYN opens connection 1 */
    conv_init(t, 777777, 888888);
    handshake();
    GW_CHECK_INT(CV.conn->index, 1);
    GW_CHECK(!CV.conn->closed);
    GW_CHECK_INT(R.nopen, 2);
    send_data(0, 0, 20, 0, 0);
    /* the SYN again with the same ISN: a retransmission, same connection */
    pkt_raw(0, CV.base[0] - 1, 0, CAP_TCP_SYN, NULL, 0, 0, 0);
    GW_CHECK_INT(CV.conn->index, 1);
    /* a SYN with another ISN on a live connection: a new one (as tshark's tcp.stream) */
    conv_init(t, 5, 6);
    handshake();
    GW_CHECK_INT(CV.conn->index, 2);
    GW_CHECK_INT(R.closes[1], 1);
    GW_CHECK_INT(R.why[1], TCP_CLOSE_IDLE);
    GW_CHECK_INT(R.s[1][0].next, 20);
    /* after a RST, even the same ISN starts over */
    pkt_raw(1, CV.base[1], 0, CAP_TCP_RST, NULL, 0, 0, 0);
    GW_CHECK_INT(R.why[2], TCP_CLOSE_RST);
    pkt_raw(0, CV.base[0] - 1, 0, CAP_TCP_SYN, NULL, 0, 0, 0);
    GW_CHECK_INT(CV.conn->index, 3);
    /* a SYN-ACK (not a SYN) does not start a connection */
    pkt_raw(1, CV.base[1] - 1, CV.base[0], CAP_TCP_SYN | CAP_TCP_ACK, NULL, 0, 0, 0);
    GW_CHECK_INT(CV.conn->index, 3);
    GW_CHECK_INT(tcp_table_nflows(t), 1);
    tcp_table_del(t);
    GW_CHECK_INT(R.nopen, 4);
    GW_CHECK_INT(R.nclose, 4);
    for (int i = 0; i < 4; i++)
        GW_CHECK_INT(R.closes[i], 1);
    GW_CHECK_INT(R.why[3], TCP_CLOSE_END);
}

static void one_packet_conn(uint16_t p0, uint16_t p1, uint8_t flags, int want_client, int want_how)
{
    tcp_table *t = new_table(NULL);
    conv_init(t, 1, 2);
    CV.port[0] = p0;
    CV.port[1] = p1;
    pkt_raw(0, 100, 200, flags, NULL, 0, 0, 0);
    GW_CHECK_INT(CV.conn->client, want_client);
    GW_CHECK_INT(CV.conn->client_how, want_how);
    tcp_table_del(t);
}

static void test_client(void)
{
    one_packet_conn(40000, 50051, CAP_TCP_SYN, 0, TCP_CLIENT_SYN);
    one_packet_conn(50051, 40000, CAP_TCP_SYN, 0, TCP_CLIENT_SYN); /* the SYN beats ports */
    one_packet_conn(443, 40000, CAP_TCP_SYN | CAP_TCP_ACK, 1, TCP_CLIENT_SYN);
    one_packet_conn(40000, 443, CAP_TCP_ACK, 0, TCP_CLIENT_PORT);
    one_packet_conn(443, 40000, CAP_TCP_ACK, 1, TCP_CLIENT_PORT);
    one_packet_conn(1234, 80, CAP_TCP_ACK, 0, TCP_CLIENT_PORT);
    one_packet_conn(80, 1234, CAP_TCP_ACK, 1, TCP_CLIENT_PORT);     /* the lower port serves */
    one_packet_conn(50051, 40000, CAP_TCP_ACK, 1, TCP_CLIENT_PORT); /* listed beats ephemeral */
    one_packet_conn(40000, 50051, CAP_TCP_ACK, 0, TCP_CLIENT_PORT);
    one_packet_conn(60000, 61000, CAP_TCP_ACK, 0, TCP_CLIENT_PORT); /* none: first sender */
    one_packet_conn(61000, 60000, CAP_TCP_ACK, 0, TCP_CLIENT_PORT);
    one_packet_conn(5000, 5000, CAP_TCP_ACK, 0, TCP_CLIENT_PORT); /* tie: first sender */

    /* the layer above overrides; a SYN seen later does not undo it */
    tcp_table *t = new_table(NULL);
    conv_init(t, 1, 2);
    send_data(0, 0, 10, 0, 0);
    GW_CHECK_INT(CV.conn->client, 0);
    tcp_conn_set_client(CV.conn, 1);
    GW_CHECK_INT(CV.conn->client, 1);
    GW_CHECK_INT(CV.conn->client_how, TCP_CLIENT_UPPER);
    pkt_raw(1, CV.base[1] - 1, 0, CAP_TCP_SYN, NULL, 0, 0, 0); /* its first packet: same conn */
    GW_CHECK_INT(CV.conn->index, 0);
    GW_CHECK_INT(CV.conn->client, 1);
    tcp_conn_set_client(CV.conn, 7); /* ignored */
    GW_CHECK_INT(CV.conn->client, 1);
    tcp_table_del(t);

    /* the SYN-ACK seen before the SYN (capture reordering): still one connection */
    t = new_table(NULL);
    conv_init(t, 1, 2);
    pkt_raw(1, CV.base[1] - 1, CV.base[0], CAP_TCP_SYN | CAP_TCP_ACK, NULL, 0, 0, 0);
    pkt_raw(0, CV.base[0] - 1, 0, CAP_TCP_SYN, NULL, 0, 0, 0);
    GW_CHECK_INT(CV.conn->index, 0);
    GW_CHECK_INT(CV.dir, 1);
    GW_CHECK_INT(CV.conn->client, 1);
    send_data(0, 0, 10, 0, 0);
    GW_CHECK_INT(CV.dir, 1);
    send_data(1, 0, 7, 0, 0);
    tcp_table_del(t);
    GW_CHECK_INT(R.s[0][1].next, 10); /* dir 1 is ep[1], the client */
    GW_CHECK_INT(R.s[0][0].next, 7);
    GW_CHECK(!R.s[0][0].bad && !R.s[0][1].bad);
}

static void test_idle(void)
{
    tcp_opts o;
    tcp_opts_default(&o);
    o.idle_timeout_ns = 10 * SEC;
    tcp_table *t = new_table(&o);
    conv_init(t, 1, 2);
    handshake();
    send_data(0, 0, 10, 0, 0);
    send_data(0, 20, 10, 0, 0); /* held: delivered with its gap when evicted */
    CV.port[0] = 40001;
    CV.ts += 5 * SEC;
    handshake();
    GW_CHECK_INT(tcp_table_nflows(t), 2);
    CV.ts += 7 * SEC; /* 12 s after the first one */
    send_data(0, 0, 10, 0, 0);
    GW_CHECK_INT(R.closes[0], 1);
    GW_CHECK_INT(R.why[0], TCP_CLOSE_IDLE);
    GW_CHECK_INT(R.closes[1], 0);
    GW_CHECK_INT(tcp_table_nflows(t), 1);
    GW_CHECK_INT(tcp_table_held_bytes(t), 0);
    check_stream(0, 0, 30, (const uint64_t[]){10, 10}, 1);
    tcp_table_expire(t, CV.ts + 9 * SEC);
    GW_CHECK_INT(R.closes[1], 0);
    tcp_table_expire(t, CV.ts + 11 * SEC);
    GW_CHECK_INT(R.closes[1], 1);
    GW_CHECK_INT(R.why[1], TCP_CLOSE_IDLE);
    GW_CHECK_INT(tcp_table_nflows(t), 0);
    /* the first flow's 4-tuple again without SYN: a new connection */
    CV.port[0] = 40000;
    send_data(0, 30, 10, 0, 0);
    GW_CHECK_INT(CV.conn->index, 2);
    tcp_table_del(t);
    GW_CHECK_INT(R.why[2], TCP_CLOSE_END);
}

static void test_flow_cap(void)
{
    tcp_opts o;
    tcp_opts_default(&o);
    o.max_flows = 3;
    tcp_table *t = new_table(&o);
    conv_init(t, 1, 2);
    for (int i = 0; i < 3; i++) {
        CV.port[0] = (uint16_t)(40000 + i);
        send_data(0, 0, 10, 0, 0);
    }
    CV.port[0] = 40000;
    send_data(0, 10, 10, 0, 0); /* touch 0: 1 is now the least recently active */
    CV.port[0] = 40003;
    send_data(0, 0, 10, 0, 0);
    GW_CHECK_INT(CV.conn->index, 3);
    GW_CHECK_INT(tcp_table_nflows(t), 3);
    GW_CHECK_INT(R.closes[1], 1);
    GW_CHECK_INT(R.why[1], TCP_CLOSE_IDLE);
    GW_CHECK_INT(R.closes[0] + R.closes[2], 0);
    /* a closed connection (kept for stragglers) goes before a live one */
    CV.port[0] = 40002;
    pkt_raw(0, CV.base[0] + 10, 0, CAP_TCP_RST, NULL, 0, 0, 0);
    GW_CHECK_INT(R.why[2], TCP_CLOSE_RST);
    CV.port[0] = 40004;
    send_data(0, 0, 10, 0, 0);
    GW_CHECK_INT(CV.conn->index, 4);
    GW_CHECK_INT(R.closes[0] + R.closes[3], 0);
    GW_CHECK_INT(tcp_table_nflows(t), 3);
    CV.port[0] = 40005;
    send_data(0, 0, 10, 0, 0);
    GW_CHECK_INT(R.closes[0], 1);
    tcp_table_del(t);
    GW_CHECK_INT(R.nclose, 6);
    GW_CHECK_INT(R.after_close, 0);
}

static void test_hostile_caps(void)
{
    tcp_opts o;
    tcp_opts_default(&o);
    o.ooo_max_bytes = 3000;
    o.ooo_max_segments = 20;
    o.ooo_max_bytes_total = 10000;
    o.max_flows = 40;
    tcp_table *t = new_table(&o);
    R.nbuf = 1;
    conv_init(t, 1, 2);
    size_t maxheld = 0;
    int bad = 0;
    for (int i = 0; i < 20000; i++) {
        int d = (int)rndn(2);
        CV.port[0] = (uint16_t)(40000 + rndn(60));
        uint32_t seq = rnd() ^ (rnd() << 16);
        uint32_t len = rndn(1500);
        uint8_t flags =
            (uint8_t)(CAP_TCP_ACK | (rndn(50) == 0 ? CAP_TCP_FIN : 0) |
                      (rndn(200) == 0 ? CAP_TCP_RST : 0) | (rndn(100) == 0 ? CAP_TCP_SYN : 0));
        if (rndn(4)) /* mostly near the stream: ahead of the first packet's seq */
            seq = 1000 + rndn(60000);
        pkt_raw(d, seq, rnd(), flags, orig[d], len, rndn(10) == 0 ? rndn(3000) : 0, 0);
        if (CV.rc != 0)
            bad++;
        if (tcp_table_held_bytes(t) > maxheld)
            maxheld = tcp_table_held_bytes(t);
    }
    GW_CHECK_INT(bad, 0);
    GW_CHECK(maxheld <= 10000);
    GW_CHECK(maxheld > 3000); /* the pattern did reach the caps */
    GW_CHECK(tcp_table_nflows(t) <= 40);
    tcp_table_flush(t);
    GW_CHECK_INT(tcp_table_held_bytes(t), 0);
    GW_CHECK_INT(tcp_table_nflows(t), 0);
    tcp_table_del(t);
    GW_CHECK_INT(R.after_close, 0);
    GW_CHECK_INT(R.nopen, R.nclose);
    int contiguous = 1;
    for (int i = 0; i < MAXC; i++)
        contiguous &= !R.s[i][0].bad && !R.s[i][1].bad;
    GW_CHECK(contiguous);

    /* one direction alone never holds more than its own cap */
    t = new_table(&o);
    conv_init(t, 1, 2);
    handshake();
    maxheld = 0;
    for (int i = 0; i < 2000; i++) {
        send_data(0, 1 + rndn(MAXLEN - 1600), 1 + rndn(1500), 0, 0);
        if (tcp_table_held_bytes(t) > maxheld)
            maxheld = tcp_table_held_bytes(t);
    }
    GW_CHECK(maxheld <= 3000);
    tcp_table_del(t);
    GW_CHECK(!R.s[0][0].bad);
}

static void test_interleaved_random(void)
{
    /* both directions, random cuts, random duplicates and recuts, random order, with ACKs
     * that only acknowledge what the receiver must have had (what was fed in order) */
    for (int iter = 0; iter < 100; iter++) {
        tcp_table *t = new_table(NULL);
        conv_init(t, rnd(), rnd());
        handshake();
        piece pc[600];
        size_t n = cut(pc, 200, 0, SLEN, 500);
        n += cut(pc + n, 200, 1, SLEN, 500);
        for (int k = 0; k < 60; k++) {
            int d = (int)rndn(2);
            uint32_t off = rndn(SLEN - 1), len = 1 + rndn(800);
            if (len > SLEN - off)
                len = SLEN - off;
            pc[n++] = (piece){d, off, len, 0};
        }
        size_t order[600];
        for (size_t i = 0; i < n; i++)
            order[i] = i;
        shuffle(order, n);
        for (size_t i = 0; i < n; i++) {
            const piece *p = &pc[order[i]];
            CV.ackoff[p->dir] = (uint32_t)R.s[0][!p->dir].next;
            send_data(p->dir, p->off, p->len, 0, 0);
        }
        GW_CHECK_INT(tcp_table_held_bytes(t), 0);
        tcp_table_del(t);
        check_stream(0, 0, SLEN, NULL, 0);
        check_stream(0, 1, SLEN, NULL, 0);
        GW_CHECK_INT(R.nanom, 0);
    }
}

static void test_lossy_random(void)
{
    /* random drops: the result is the stream with exactly the dropped ranges as gaps */
    for (int iter = 0; iter < 200; iter++) {
        tcp_table *t = new_table(NULL);
        conv_init(t, rnd(), rnd());
        handshake();
        piece pc[200];
        size_t n = cut(pc, 200, 0, SLEN, 300);
        uint8_t lost[SLEN];
        memset(lost, 0, sizeof lost);
        size_t order[200], m = 0;
        for (size_t i = 0; i < n; i++) {
            if (i + 1 < n && rndn(5) == 0) { /* never the last: the end must be known */
                memset(lost + pc[i].off, 1, pc[i].len);
                continue;
            }
            order[m++] = i;
        }
        shuffle(order, m);
        int use_ack = iter & 1;
        for (size_t i = 0; i < m; i++) {
            send_data(0, pc[order[i]].off, pc[order[i]].len, 0, 0);
            if (use_ack && rndn(4) == 0) { /* the peer acks a random prefix */
                CV.ackoff[1] = rndn(SLEN);
                send_data(1, 0, 0, 0, 0);
            }
        }
        tcp_table_del(t);
        uint64_t g[2 * 64];
        size_t ng = 0;
        for (uint32_t i = 0; i < SLEN; i++) {
            if (!lost[i])
                continue;
            if (i && lost[i - 1] && ng) {
                g[2 * ng - 1]++;
            } else if (ng < 64) {
                g[2 * ng] = i;
                g[2 * ng + 1] = 1;
                ng++;
            }
        }
        if (!use_ack) {
            check_stream(0, 0, SLEN, g, ng);
        } else {
            /* random ACKs may declare a hole before a late segment arrives: then bytes of
             * that segment count as gap too; still contiguous, content exact, and every lost
             * byte inside a gap */
            check_stream(0, 0, SLEN, NULL, (size_t)-1);
            rstream *s = &R.s[0][0];
            int lost_in_gap = 1;
            for (size_t i = 0; i < s->nch; i++)
                if (!s->ch[i].gap)
                    for (uint64_t b = s->ch[i].off; b < s->ch[i].off + s->ch[i].len; b++)
                        lost_in_gap &= !lost[b];
            GW_CHECK(lost_in_gap);
        }
    }
}

static void test_ipv6_and_str(void)
{
    tcp_table *t = new_table(NULL);
    conv_init(t, 1, 2);
    CV.ipver = 6;
    memset(CV.ip[0], 0, 16);
    memset(CV.ip[1], 0, 16);
    CV.ip[0][0] = 0x20;
    CV.ip[0][1] = 0x01;
    CV.ip[0][2] = 0x0d;
    CV.ip[0][3] = 0xb8;
    CV.ip[0][15] = 1;
    CV.ip[1][15] = 1;
    send_data(0, 0, 10, 0, 0);
    char buf[56];
    GW_CHECK_STR(tcp_endpoint_str(&CV.conn->ep[0], buf, sizeof buf), "[2001:db8::1]:40000");
    GW_CHECK_STR(tcp_endpoint_str(&CV.conn->ep[1], buf, sizeof buf), "[::1]:50051");
    send_data(1, 0, 10, 0, 0);
    GW_CHECK_INT(CV.conn->index, 0);
    /* the same bytes as IPv4 are another pair */
    CV.ipver = 4;
    uint8_t v4[16] = {10, 0, 0, 1};
    memcpy(CV.ip[0], v4, 16);
    memcpy(CV.ip[1], v4, 16);
    CV.ip[1][3] = 2;
    send_data(0, 0, 10, 0, 0);
    GW_CHECK_INT(CV.conn->index, 1);
    GW_CHECK_STR(tcp_endpoint_str(&CV.conn->ep[1], buf, sizeof buf), "10.0.0.2:50051");
    tcp_endpoint bogus = {0};
    GW_CHECK_STR(tcp_endpoint_str(&bogus, buf, sizeof buf), "?");
    tcp_table_del(t);

    /* misuse */
    t = new_table(NULL);
    cap_layers L;
    memset(&L, 0, sizeof L);
    tcp_conn *c = (tcp_conn *)1;
    GW_CHECK_INT(tcp_table_add(t, &L, 1, 0, 60, &c, NULL), GW_EINVAL);
    GW_CHECK(c == NULL);
    tcp_table_del(t);
    tcp_table_del(NULL);
}

static void test_many_flows(void)
{
    /* the table grows; every flow keeps its own streams; memory per idle flow is small */
    tcp_table *t = new_table(NULL);
    conv_init(t, 1, 2);
    R.nbuf = 1;
    for (int i = 0; i < 5000; i++) {
        CV.ip[0][2] = (uint8_t)(i >> 8);
        CV.ip[0][3] = (uint8_t)i;
        send_data(0, 0, 10, 0, 0);
        GW_CHECK_INT(CV.conn->index, (uint64_t)i);
    }
    for (int i = 0; i < 5000; i++) {
        CV.ip[0][2] = (uint8_t)(i >> 8);
        CV.ip[0][3] = (uint8_t)i;
        send_data(1, 0, 10, 0, 0);
        if (CV.conn->index != (uint64_t)i || CV.dir != 1) {
            GW_CHECK_INT(CV.conn->index, (uint64_t)i);
            break;
        }
    }
    GW_CHECK_INT(tcp_table_nflows(t), 5000);
    long before = gw_mem_count();
    for (int i = 0; i < 5000; i++) {
        CV.ip[0][2] = (uint8_t)(i >> 8);
        CV.ip[0][3] = (uint8_t)i;
        send_data(0, 10, 10, 0, 0);
    }
    GW_CHECK_INT(gw_mem_count() - before, 0); /* no allocation in order */
    tcp_table_del(t);
    GW_CHECK_INT(R.nclose, 5000);
}

/* The table remembers the previous packet's flow to skip the hash: it must forget a flow that is
 * destroyed (flow cap, idle), and must still tell the two directions and a flow to itself apart. */
static void test_last_flow(void)
{
    tcp_opts o;
    tcp_opts_default(&o);
    o.max_flows = 1;
    tcp_table *t = new_table(&o);
    conv_init(t, 1, 2);
    send_data(0, 0, 10, 0, 0);
    GW_CHECK_INT(CV.conn->index, 0);
    send_data(1, 0, 10, 0, 0); /* the same flow, the other way: through the remembered one */
    GW_CHECK_INT(CV.conn->index, 0);
    GW_CHECK_INT(CV.dir, 1);
    CV.port[0] = 40001; /* another pair: the cap evicts the remembered flow */
    send_data(0, 0, 10, 0, 0);
    GW_CHECK_INT(CV.conn->index, 1);
    GW_CHECK_INT(R.closes[0], 1);
    CV.port[0] = 40000; /* the first pair again: a new connection, not the freed one */
    send_data(0, 10, 10, 0, 0);
    GW_CHECK_INT(CV.conn->index, 2);
    GW_CHECK_INT(CV.dir, 0);
    GW_CHECK_INT(R.closes[1], 1);
    tcp_table_del(t);

    /* a connection to itself: one flow, every packet ep[0]'s */
    t = new_table(NULL);
    conv_init(t, 1, 2);
    memcpy(CV.ip[1], CV.ip[0], 16);
    CV.port[1] = CV.port[0];
    send_data(0, 0, 10, 0, 0);
    send_data(0, 10, 10, 0, 0);
    GW_CHECK_INT(CV.conn->index, 0);
    GW_CHECK_INT(CV.dir, 0);
    CV.port[1] = 50051; /* then a normal pair from the same address */
    send_data(1, 0, 10, 0, 0);
    GW_CHECK_INT(CV.conn->index, 1);
    GW_CHECK_INT(CV.dir, 0);
    send_data(0, 0, 10, 0, 0);
    GW_CHECK_INT(CV.conn->index, 1);
    GW_CHECK_INT(CV.dir, 1);
    tcp_table_del(t);
    GW_CHECK_INT(R.s[0][0].next, 20);
}

/* The previous packet's flow is matched on the segment's addresses without building endpoints:
 * it must agree with the hashed lookup. IPv4 compares 4 address bytes only (whatever follows
 * them), the IP version is part of the key, and the same pair seen either way is one flow. */
static void test_last_flow_match(void)
{
    tcp_table *t = new_table(NULL);
    conv_init(t, 1, 2);
    handshake();
    for (int i = 0; i < 10; i++) {
        /* garbage after the IPv4 addresses: the same flow either way */
        CV.ip[0][4 + i] = (uint8_t)(0xa0 + i);
        CV.ip[1][15 - i] = (uint8_t)(0x50 + i);
        send_data(i & 1, (uint64_t)(i / 2) * 10, 10, 0, 0);
        GW_CHECK_INT(CV.conn->index, 0);
        GW_CHECK_INT(CV.dir, i & 1);
    }
    /* the same 4 bytes and ports as IPv6 (and the rest zero): another flow */
    conv_init(t, 1, 2);
    CV.ipver = 6;
    send_data(0, 0, 10, 0, 0);
    GW_CHECK_INT(CV.conn->index, 1);
    GW_CHECK_INT(CV.dir, 0);
    CV.ipver = 4; /* back: the first flow, found by hashing */
    send_data(1, 50, 10, 0, 0);
    GW_CHECK_INT(CV.conn->index, 0);
    GW_CHECK_INT(CV.dir, 1);
    CV.ipver = 6; /* and the IPv6 one again, the other way */
    send_data(1, 0, 10, 0, 0);
    GW_CHECK_INT(CV.conn->index, 1);
    GW_CHECK_INT(CV.dir, 1);
    /* IPv6 addresses that differ only after the first 4 bytes: distinct flows */
    CV.ip[1][12] ^= 1;
    send_data(1, 0, 10, 0, 0);
    GW_CHECK_INT(CV.conn->index, 2);
    GW_CHECK_INT(CV.dir, 0);
    /* An IPv6 address whose bytes spell an IPv4 pair with its ports (in either byte order),
     * then that IPv4 pair: another flow, whichever way the table packs its keys. */
    tcp_conn *c6 = NULL, *c4 = NULL;
    int d6 = -1, d4 = -1;
    for (int order = 0; order < 2; order++) {
        cap_layers L;
        memset(&L, 0, sizeof L);
        L.is_tcp = 1;
        L.ipver = 6;
        static const uint8_t a4[4] = {192, 0, 2, 7}, b4[4] = {192, 0, 2, 9};
        uint16_t sp = 40123, dp = 8443;
        memcpy(L.src, a4, 4);
        memcpy(L.src + 4, b4, 4);
        L.src[8] = (uint8_t)(order ? sp >> 8 : sp);
        L.src[9] = (uint8_t)(order ? sp : sp >> 8);
        L.src[10] = (uint8_t)(order ? dp >> 8 : dp);
        L.src[11] = (uint8_t)(order ? dp : dp >> 8);
        L.src[order ? 15 : 12] = 4;
        memcpy(L.dst, L.src, 16);
        L.dst[0] ^= 0x80;
        L.sport = sp;
        L.dport = dp;
        L.flags = CAP_TCP_ACK;
        GW_CHECK_INT(tcp_table_add(t, &L, 100, 100, 60, &c6, &d6), 0);
        memset(L.src, 0, 16);
        memset(L.dst, 0, 16);
        memcpy(L.src, a4, 4);
        memcpy(L.dst, b4, 4);
        L.ipver = 4;
        GW_CHECK_INT(tcp_table_add(t, &L, 101, 100, 60, &c4, &d4), 0);
        GW_CHECK(c6 != c4);
        GW_CHECK_INT(c6->ep[0].ipver, 6);
        GW_CHECK_INT(c4->ep[0].ipver, 4);
    }
    tcp_table_del(t);
    GW_CHECK_INT(R.s[0][0].next, 50);
    GW_CHECK_INT(R.s[0][1].next, 60);
    GW_CHECK_INT(R.nopen, 6);
}

/* ACKs that move nothing skip the call into the direction; those that do must still settle:
 * ACKs at, behind and past the next offset, with a piece held beyond a hole. */
static void test_ack_precheck(void)
{
    tcp_table *t = new_table(NULL);
    conv_init(t, 1, 2);
    handshake();
    send_data(0, 0, 100, 0, 0);
    send_data(0, 200, 100, 0, 0); /* held: [100, 200) missing */
    CV.ackoff[1] = 100;           /* at next: nothing */
    send_data(1, 0, 10, 0, 0);
    GW_CHECK_INT(R.s[0][0].next, 100);
    CV.ackoff[1] = 50; /* behind: nothing */
    send_data(1, 10, 10, 0, 0);
    GW_CHECK_INT(R.s[0][0].next, 100);
    CV.ackoff[1] = 150; /* past next, inside the hole: a gap up to there */
    send_data(1, 20, 10, 0, 0);
    GW_CHECK_INT(R.s[0][0].next, 150);
    CV.ackoff[1] = 250; /* past the hole: the rest of it, then the held piece */
    send_data(1, 30, 10, 0, 0);
    GW_CHECK_INT(R.s[0][0].next, 300);
    static const uint64_t gaps[] = {100, 100};
    check_stream(0, 0, 300, gaps, 1);
    /* a sequence number far behind (more than 2^31 away) counts as behind, not past */
    CV.ackoff[1] = 300 + 0x80000001u;
    send_data(1, 40, 10, 0, 0);
    GW_CHECK_INT(R.s[0][0].next, 300);
    tcp_table_del(t);
    check_stream(0, 1, 50, NULL, 0);
}

/* ---- the fast path against the general one ---------------------------------------------- */
/* Everything a table tells the layer above, as text: callbacks and, after each packet, the
 * result and the connection's counters. Two tables fed alike must write the same log. */
typedef struct dlog {
    char *buf;
    size_t len, cap;
} dlog;

static void logf_(dlog *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(dlog *l, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if (l->len + (size_t)n + 1 > l->cap) {
        l->cap = (l->len + (size_t)n + 1) * 2;
        l->buf = realloc(l->buf, l->cap);
    }
    memcpy(l->buf + l->len, tmp, (size_t)n + 1);
    l->len += (size_t)n;
}

static uint32_t fnv(const uint8_t *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

static void d_open(void *u, tcp_conn *c)
{
    logf_(u, "open %llu client %d/%d\n", (unsigned long long)c->index, c->client, c->client_how);
}
static void d_data(void *u, tcp_conn *c, int dir, uint64_t off, const uint8_t *p, size_t n,
                   uint64_t pkt_no, int64_t ts_ns)
{
    logf_(u, "data %llu %d %llu %zu %08x pkt %llu ts %lld\n", (unsigned long long)c->index, dir,
          (unsigned long long)off, n, fnv(p, n), (unsigned long long)pkt_no, (long long)ts_ns);
}
static void d_gap(void *u, tcp_conn *c, int dir, uint64_t off, uint64_t len, uint64_t pkt_no,
                  int64_t ts_ns)
{
    logf_(u, "gap %llu %d %llu %llu pkt %llu ts %lld\n", (unsigned long long)c->index, dir,
          (unsigned long long)off, (unsigned long long)len, (unsigned long long)pkt_no,
          (long long)ts_ns);
}
static void d_anom(void *u, tcp_conn *c, int dir, uint64_t pkt_no, const char *what)
{
    logf_(u, "anomaly %llu %d pkt %llu %s\n", (unsigned long long)c->index, dir,
          (unsigned long long)pkt_no, what);
}
static void d_close(void *u, tcp_conn *c, int why)
{
    logf_(u, "close %llu why %d\n", (unsigned long long)c->index, why);
}

static void log_conn(dlog *l, int rc, const tcp_conn *c, int dir, const tcp_table *t)
{
    logf_(l, "rc %d flows %zu held %zu", rc, tcp_table_nflows(t), tcp_table_held_bytes(t));
    if (!c) {
        logf_(l, " no conn\n");
        return;
    }
    logf_(l, " conn %llu dir %d client %d/%d closed %d ts %lld-%lld\n",
          (unsigned long long)c->index, dir, c->client, c->client_how, c->closed,
          (long long)c->first_ts_ns, (long long)c->last_ts_ns);
    for (int d = 0; d < 2; d++)
        logf_(l, "  %d: pkts %llu wire %llu payload %llu delivered %llu gaps %llu/%u s%d f%d r%d\n",
              d, (unsigned long long)c->pkts[d], (unsigned long long)c->wire_bytes[d],
              (unsigned long long)c->payload_bytes[d], (unsigned long long)c->delivered[d],
              (unsigned long long)c->gap_bytes[d], c->ngaps[d], c->syn[d], c->fin[d], c->rst[d]);
}

/* A few conversations (IPv4, IPv6, one to itself, one whose IPv6 addresses begin like the
 * IPv4 ones) each sending a stream; what each packet does is drawn at random, mostly in-order
 * data and bare ACKs with, among them, holes, retransmissions, overlaps with other bytes,
 * snaplen cuts, a length without bytes, SYNs (again), FINs, RSTs, time jumps past the idle
 * timeout and more flows than the cap. */
typedef struct dconv {
    int ipver;
    uint8_t ip[2][16];
    uint16_t port[2];
    uint32_t isn[2];
    uint64_t sent[2]; /* stream offset each side has sent up to */
} dconv;

static void diff_run(uint64_t seed, int npkts, const tcp_opts *o)
{
    dlog la = {0}, lb = {0};
    tcp_callbacks ca = {&la, d_open, d_data, d_gap, d_anom, d_close};
    tcp_callbacks cb = {&lb, d_open, d_data, d_gap, d_anom, d_close};
    tcp_table *ta = tcp_table_new(o, &ca), *tb = tcp_table_new(o, &cb);
    tcp_table_set_general_only(tb, 1);
    rng = seed;
    dconv cv[5];
    memset(cv, 0, sizeof cv);
    for (int i = 0; i < 5; i++) {
        dconv *v = &cv[i];
        v->ipver = i == 2 || i == 4 ? 6 : 4;
        v->ip[0][0] = v->ip[1][0] = 10;
        v->ip[0][3] = 1;
        v->ip[1][3] = (uint8_t)(i == 3 ? 1 : 2);
        v->port[0] = (uint16_t)(i == 3 ? 5000 : 40000 + i);
        v->port[1] = (uint16_t)(i == 3 ? 5000 : 443);
        if (i == 4) /* the IPv6 twin of conversation 0: the same first bytes and ports */
            v->port[0] = 40000;
        if (v->ipver == 6)
            v->ip[0][15] = (uint8_t)i;
        v->isn[0] = i == 1 ? 0xfffffff0u : rnd();
        v->isn[1] = i == 1 ? 0x7ffffff0u : rnd();
    }
    int64_t ts = 1000;
    static uint8_t payload[3000];
    for (size_t i = 0; i < sizeof payload; i++)
        payload[i] = (uint8_t)rnd();
    for (int k = 1; k <= npkts; k++) {
        int ci = (int)(rndn(8) < 5 ? (uint32_t)(k / 7) % 5 : rndn(5)); /* runs, and switches */
        dconv *v = &cv[ci];
        int d = (int)rndn(2);
        cap_layers L;
        memset(&L, 0, sizeof L);
        L.is_tcp = 1;
        L.ipver = v->ipver;
        memcpy(L.src, v->ip[d], 16);
        memcpy(L.dst, v->ip[!d], 16);
        if (v->ipver == 4 && rndn(4) == 0) /* bytes after an IPv4 address do not count */
            L.src[7] = L.dst[9] = (uint8_t)rnd();
        L.sport = v->port[d];
        L.dport = v->port[!d];
        L.flags = CAP_TCP_ACK;
        uint64_t off = v->sent[d];
        uint32_t len = rndn(3) == 0 ? 0 : 1 + rndn(300);
        uint32_t r = rndn(1000);
        if (r < 15) { /* a hole: skip ahead */
            off += 1 + rndn(500);
        } else if (r < 40) { /* a retransmission or an overlap */
            off = off > 0 ? off - rndn((uint32_t)(off < 400 ? off : 400) + 1) : 0;
        } else if (r < 50) {
            L.flags = CAP_TCP_SYN;
            if (rndn(2))
                v->isn[d] = rnd(); /* port reuse with a new ISN */
            len = 0;
        } else if (r < 55) {
            L.flags = CAP_TCP_SYN | CAP_TCP_ACK;
            len = 0;
        } else if (r < 62) {
            L.flags |= CAP_TCP_FIN;
        } else if (r < 66) {
            L.flags = rndn(2) ? CAP_TCP_RST : CAP_TCP_RST | CAP_TCP_ACK;
        } else if (r < 70) {
            L.payload_missing = 1 + rndn(100); /* cut by the snaplen */
        } else if (r < 72) {
            L.payload_missing = 5; /* and a length without bytes below */
        } else if (r < 80) {
            L.flags = 0; /* no ACK */
        } else if (r < 90) {
            L.flags |= CAP_TCP_PSH | CAP_TCP_URG | CAP_TCP_ECE;
        }
        uint32_t soff = (uint32_t)off + ((L.flags & CAP_TCP_SYN) ? 0 : 1);
        L.seq = v->isn[d] + soff - ((L.flags & CAP_TCP_SYN) ? 0 : 0);
        if (L.flags & CAP_TCP_SYN)
            L.seq = v->isn[d];
        uint64_t aoff = v->sent[!d];
        uint32_t ar = rndn(20);
        if (ar == 0)
            aoff += 1 + rndn(800); /* acknowledges bytes never seen: a gap */
        else if (ar == 1 && aoff > 10)
            aoff -= rndn(10);
        else if (ar == 2)
            aoff += 0x80000001u; /* far behind */
        L.ack = v->isn[!d] + 1 + (uint32_t)aoff;
        size_t at = (size_t)(off % 2000);
        L.payload = len ? payload + at : NULL;
        L.payload_len = len;
        if (r >= 70 && r < 72)
            L.payload = NULL;
        if (r >= 30 && r < 40 && len) { /* other bytes than the first copy */
            L.payload = payload + (at + 7) % 2000;
        }
        if (!(L.flags & (CAP_TCP_SYN | CAP_TCP_RST)) && off + len > v->sent[d])
            v->sent[d] = off + len + ((L.flags & CAP_TCP_FIN) ? 1 : 0);
        if (L.flags & CAP_TCP_SYN)
            v->sent[d] = 0;
        uint32_t tr = rndn(200);
        if (tr == 0)
            ts += o && o->idle_timeout_ns ? o->idle_timeout_ns + 1 : 2 * SEC; /* idle */
        else if (tr == 1)
            ts -= 500; /* capture time going back a little */
        else
            ts += rndn(3) ? 1000 : 400 * 1000 * 1000;
        tcp_conn *c1 = NULL, *c2 = NULL;
        int d1 = -1, d2 = -1;
        uint32_t frame = 54 + len + (uint32_t)rndn(4);
        int r1 = tcp_table_add(ta, &L, (uint64_t)k, ts, frame, &c1, &d1);
        int r2 = tcp_table_add(tb, &L, (uint64_t)k, ts, frame, &c2, &d2);
        log_conn(&la, r1, c1, d1, ta);
        log_conn(&lb, r2, c2, d2, tb);
        if (la.len != lb.len || memcmp(la.buf, lb.buf, la.len) != 0)
            break; /* reported below, with the first difference */
    }
    tcp_table_del(ta);
    tcp_table_del(tb);
    size_t i = 0;
    while (i < la.len && i < lb.len && la.buf[i] == lb.buf[i])
        i++;
    if (i != la.len || i != lb.len) {
        size_t from = i > 300 ? i - 300 : 0;
        fprintf(stderr, "seed %llu: fast and general paths differ at byte %zu:\n--- fast\n%.400s\n--- general\n%.400s\n",
                (unsigned long long)seed, i, la.buf + from, lb.buf + from);
    }
    GW_CHECK_INT(i, la.len);
    GW_CHECK_INT(la.len, lb.len);
    free(la.buf);
    free(lb.buf);
}

static void test_fast_differential(void)
{
    for (uint64_t seed = 1; seed <= 12; seed++)
        diff_run(seed * 0x9e3779b97f4a7c15ULL, 4000, NULL);
    tcp_opts o;
    tcp_opts_default(&o);
    o.max_flows = 3;
    o.idle_timeout_ns = 3 * SEC;
    o.ooo_max_segments = 4;
    o.ooo_max_bytes = 600;
    for (uint64_t seed = 100; seed <= 108; seed++)
        diff_run(seed * 0x9e3779b97f4a7c15ULL, 4000, &o);
    o.ooo_max_bytes_total = 200;
    diff_run(7777, 4000, &o);
}

static void test_failmalloc(void)
{
    /* every allocation failing in turn: no crash, no leak, streams stay contiguous */
    int saw_enomem = 0, saw_ok = 0;
    for (long k = 0; k < 200; k++) {
        rec_reset();
        gw_mem_fail_after(k);
        tcp_table *t = tcp_table_new(NULL, &CB);
        if (!t) {
            gw_mem_fail_after(-1);
            continue;
        }
        conv_init(t, 1, 2);
        handshake();
        int enomem = 0;
        for (int i = 9; i >= 0; i--) {
            send_data(0, (uint64_t)i * 100, 100, 0, 0);
            enomem |= CV.rc == GW_ENOMEM;
            CV.port[0] = (uint16_t)(40000 + (i & 1));
        }
        tcp_table_del(t);
        gw_mem_fail_after(-1);
        GW_CHECK(!R.s[0][0].bad && !R.s[1][0].bad);
        GW_CHECK_INT(R.nopen, R.nclose);
        saw_enomem |= enomem;
        saw_ok |= !enomem && R.s[0][0].next == 1000;
    }
    GW_CHECK(saw_enomem);
    GW_CHECK(saw_ok);
}

int main(void)
{
    make_streams();
    test_in_order();
    test_reversed();
    test_random_orders();
    test_all_permutations();
    test_duplicates();
    test_conflict();
    test_wraparound();
    test_mid_connection();
    test_tfo();
    test_gaps();
    test_caps();
    test_cap_empty_pieces();
    test_snaplen();
    test_fin_rst();
    test_port_reuse();
    test_client();
    test_idle();
    test_flow_cap();
    test_hostile_caps();
    test_interleaved_random();
    test_lossy_random();
    test_ipv6_and_str();
    test_many_flows();
    test_last_flow();
    test_last_flow_match();
    test_ack_precheck();
    test_fast_differential();
    test_failmalloc();
    GW_TEST_END();
}
