/* test_tcp: the flow table and reassembly. A known pseudo-random byte stream is cut into
 * segments and fed in chosen orders (reversed, random, every permutation), with duplicates,
 * overlaps, conflicts, wrap-around, holes, snaplen cuts and small caps; the recorder rebuilds
 * each direction from on_data/on_gap and checks contiguity, content, the exact gaps, and that
 * each delivered chunk came from the packet that carried it. The fast path is in
 * test_tcp_fast.c. */
#include "tcp_test.h"

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
    test_failmalloc();
    GW_TEST_END();
}
