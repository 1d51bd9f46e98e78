/* test_tcp_fast: tcp_table_add's fast path for in-order segments of the last flow and for bare
 * ACKs: the cases it must decline, and the general path held to it on random conversations
 * (every callback and counter, packet by packet). */
#include "tcp_test.h"

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

int main(void)
{
    make_streams();
    test_last_flow();
    test_last_flow_match();
    test_ack_precheck();
    test_fast_differential();
    GW_TEST_END();
}
