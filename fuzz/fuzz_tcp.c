/* fuzz_tcp: synthetic segments for a few flows, decoded from the input, through the flow table.
 * Asserts what must hold whatever the input: each direction's deliveries and gaps are
 * contiguous from 0 and never overlap, nothing arrives for a closed connection, held bytes stay
 * within the caps, every opened connection is closed exactly once. A second table fed the same
 * segments takes the general path for every one of them (tcp_table_set_general_only): both
 * must tell the layer above exactly the same things (the fast path's differential check).
 *
 * Input: 4 bytes of options (small caps so that they bite), then records:
 *   flow:1 (endpoint pair and direction; flow 3 is a connection to itself) flags:1 seq:2
 *   (signed step from the direction's first sequence, x 16) ack:2 len:1 missing:1 (top bit:
 *   the rest x 16 cut by the snaplen; else bit 0: a length without bytes, bit 1: time steps
 *   back) [payload: len bytes, fewer at the end] */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "capture/cap.h"
#include "common/gw_mem.h"
#include "tcp/tcp.h"
#include "tcp/tcp_int.h"

typedef struct track {
    uint64_t next[2];
    int closed;
} track;

static long opens, closes;
static tcp_opts O;

/* Per table: a running hash of every callback with its arguments. */
typedef struct tally {
    uint64_t h;
} tally;

static void fold(void *u, uint64_t v)
{
    tally *t = u;
    t->h = (t->h ^ v) * 0x100000001b3ULL;
    t->h ^= t->h >> 29;
}

static void die(void)
{
    abort();
}

static void on_open(void *u, tcp_conn *c)
{
    if (c->user || c->closed)
        die();
    c->user = calloc(1, sizeof(track));
    opens++;
    fold(u, 1);
    fold(u, c->index);
    fold(u, (uint64_t)c->client << 8 | (uint64_t)c->client_how);
}

static void on_data(void *u, tcp_conn *c, int dir, uint64_t off, const uint8_t *p, size_t n,
                    uint64_t pkt_no, int64_t ts_ns)
{
    track *k = c->user;
    if (!k || c->closed || (dir != 0 && dir != 1) || n == 0 || off != k->next[dir])
        die();
    volatile uint8_t sink = p[0] ^ p[n - 1]; /* the bytes must be readable */
    (void)sink;
    k->next[dir] = off + n;
    fold(u, 2);
    fold(u, c->index << 1 | (uint64_t)dir);
    fold(u, off);
    fold(u, n);
    for (size_t i = 0; i < n; i++)
        fold(u, p[i]);
    fold(u, pkt_no);
    fold(u, (uint64_t)ts_ns);
}

static void on_gap(void *u, tcp_conn *c, int dir, uint64_t off, uint64_t len, uint64_t pkt_no,
                   int64_t ts_ns)
{
    track *k = c->user;
    if (!k || c->closed || (dir != 0 && dir != 1) || len == 0 || off != k->next[dir])
        die();
    k->next[dir] = off + len;
    fold(u, 3);
    fold(u, c->index << 1 | (uint64_t)dir);
    fold(u, off);
    fold(u, len);
    fold(u, pkt_no);
    fold(u, (uint64_t)ts_ns);
}

static void on_anomaly(void *u, tcp_conn *c, int dir, uint64_t pkt_no, const char *what)
{
    if (!what || c->closed)
        die();
    fold(u, 4);
    fold(u, c->index << 1 | (uint64_t)dir);
    fold(u, pkt_no);
    for (const char *s = what; *s; s++)
        fold(u, (uint8_t)*s);
}

static void on_close(void *u, tcp_conn *c, int why)
{
    track *k = c->user;
    if (!k || why < TCP_CLOSE_FIN || why > TCP_CLOSE_END)
        die();
    for (int d = 0; d < 2; d++)
        if (c->delivered[d] + c->gap_bytes[d] != k->next[d])
            die();
    free(k);
    c->user = NULL;
    closes++;
    fold(u, 5);
    fold(u, c->index);
    fold(u, (uint64_t)why);
}

/* What a caller sees after one packet: result, connection, direction and counters. */
static uint64_t seen(int rc, const tcp_conn *c, int dir, const tcp_table *t)
{
    tally x = {(uint64_t)(rc + 100)};
    fold(&x, tcp_table_nflows(t));
    fold(&x, tcp_table_held_bytes(t));
    if (!c)
        return x.h;
    fold(&x, c->index << 1 | (uint64_t)dir);
    fold(&x, (uint64_t)c->client << 8 | (uint64_t)c->client_how << 1 | (uint64_t)c->closed);
    fold(&x, (uint64_t)c->first_ts_ns);
    fold(&x, (uint64_t)c->last_ts_ns);
    for (int d = 0; d < 2; d++) {
        fold(&x, c->pkts[d]);
        fold(&x, c->wire_bytes[d]);
        fold(&x, c->payload_bytes[d]);
        fold(&x, c->delivered[d]);
        fold(&x, c->gap_bytes[d]);
        fold(&x, c->ngaps[d]);
        fold(&x, (uint64_t)c->syn[d] << 16 | (uint64_t)c->fin[d] << 8 | c->rst[d]);
    }
    return x.h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    tcp_opts_default(&O);
    O.ooo_max_segments = data[0] & 15;
    O.ooo_max_bytes = (size_t)data[1] * 8;
    O.ooo_max_bytes_total = (size_t)data[2] * 16;
    O.max_flows = 1 + (data[3] & 3);
    O.idle_timeout_ns = (data[3] >> 2) ? (int64_t)(data[3] >> 2) * 1000 : 0;
    opens = closes = 0;
    tally ta = {0}, tb = {0};
    tcp_callbacks cba = {&ta, on_open, on_data, on_gap, on_anomaly, on_close};
    tcp_callbacks cbb = {&tb, on_open, on_data, on_gap, on_anomaly, on_close};
    tcp_table *t = tcp_table_new(&O, &cba), *g = tcp_table_new(&O, &cbb);
    if (!t || !g) {
        tcp_table_del(t);
        tcp_table_del(g);
        return 0;
    }
    tcp_table_set_general_only(g, 1);
    size_t i = 4;
    uint64_t pkt = 0;
    int64_t ts = 0;
    static const uint32_t base[4][2] = {
        {1000, 2000}, {0xfffffff0u, 0x7ffffff0u}, {0, 0xffffff00u}, {0x80000000u, 5}};
    while (i + 8 <= size) {
        const uint8_t *r = data + i;
        i += 8;
        int flow = r[0] & 3, d = (r[0] >> 2) & 1, v6 = (r[0] >> 3) & 1;
        int16_t step = (int16_t)(r[2] << 8 | r[3]);
        uint16_t ack = (uint16_t)(r[4] << 8 | r[5]);
        uint32_t len = r[6], missing = r[7] & 0x80 ? (uint32_t)(r[7] & 0x7f) * 16 : 0;
        if (len > size - i)
            len = (uint32_t)(size - i);
        cap_layers L;
        memset(&L, 0, sizeof L);
        L.is_tcp = 1;
        L.ipver = v6 ? 6 : 4;
        L.src[0] = L.dst[0] = 10;
        L.src[3] = (uint8_t)(1 + d);
        L.dst[3] = (uint8_t)(2 - d);
        if (flow == 3) /* a connection to itself */
            L.src[3] = L.dst[3] = 1;
        L.sport = (uint16_t)(d ? 443 : 40000 + flow);
        L.dport = (uint16_t)(d ? 40000 + flow : 443);
        if (flow == 3)
            L.sport = L.dport = 5000;
        L.flags = r[1];
        L.seq = base[flow][d] + (uint32_t)((int32_t)step * 16);
        L.ack = base[flow][!d] + (uint32_t)ack;
        L.payload = len ? data + i : NULL;
        L.payload_len = len;
        L.payload_missing = missing;
        if ((r[7] & 0x81) == 0x01 && len) /* a length without bytes */
            L.payload = NULL;
        i += len;
        ts += (r[0] >> 4) * 100;
        if ((r[7] & 0x03) == 0x02)
            ts -= 50; /* capture time going back */
        tcp_conn *c = NULL, *c2 = NULL;
        int dir = -1, dir2 = -1;
        int rc = tcp_table_add(t, &L, ++pkt, ts, 54 + len, &c, &dir);
        int rc2 = tcp_table_add(g, &L, pkt, ts, 54 + len, &c2, &dir2);
        if (rc != 0 || !c || (dir != 0 && dir != 1))
            die();
        if (seen(rc, c, dir, t) != seen(rc2, c2, dir2, g) || ta.h != tb.h)
            die(); /* the fast path told the layer above something else */
        if (tcp_table_held_bytes(t) > O.ooo_max_bytes_total)
            die();
        if (tcp_table_nflows(t) > O.max_flows)
            die();
    }
    tcp_table_flush(t);
    tcp_table_flush(g);
    if (ta.h != tb.h)
        die();
    if (tcp_table_held_bytes(t) != 0 || tcp_table_nflows(t) != 0 || opens != closes)
        die();
    tcp_table_del(t);
    tcp_table_del(g);
    return 0;
}
