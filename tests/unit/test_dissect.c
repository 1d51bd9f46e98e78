/* test_dissect: split reading gives one thread's records. The example captures are replayed as
 * many connections at once (ports shifted per copy, packets interleaved at random, some copies
 * losing packets, repeating them or ending without FIN), read once by one dissect and once by a
 * split one; every record of every layer is logged with the fields the layers above read (the
 * tcp_conn's client, handshake flags and counters included), and the two sinks' logs, merged by
 * event number, must equal the single log byte for byte. Epochs must merge in order, after both
 * sinks ended them; a split dissect deleted before finishing must free everything (ASan). The
 * same again with every TCP payload cut into segments of 1 to 40 bytes. */
#include "gw_test.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "common/gw_buf.h"
#include "common/gw_err.h"
#include "common/gw_mem.h"
#include "dissect/dissect.h"

/* ---- input ------------------------------------------------------------------------------ */
typedef struct pkt {
    uint8_t *data; /* owned */
    uint32_t caplen, wirelen;
    int linktype;
    int64_t ts;
    int tcp_at;    /* offset of the TCP header, -1 when not TCP */
    int pay_at;    /* offset of its payload */
} pkt;

typedef struct pkts {
    pkt *p;
    size_t n, cap;
} pkts;

static void push(pkts *v, const pkt *x)
{
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 256;
        v->p = realloc(v->p, v->cap * sizeof *v->p);
    }
    v->p[v->n++] = *x;
}

static void load(pkts *v, const char *path)
{
    char msg[256];
    cap_source *src = NULL;
    cap_decoder *dec = NULL;
    if (cap_source_open_file(&src, path, msg, sizeof msg) || cap_decoder_new(&dec, NULL)) {
        fprintf(stderr, "%s\n", msg);
        gw_t_fail++;
        return;
    }
    cap_packet cp;
    while (cap_source_next(src, &cp, msg, sizeof msg) > 0) {
        cap_layers l;
        pkt x = {malloc(cp.caplen ? cp.caplen : 1), cp.caplen, cp.wirelen, cp.linktype, cp.ts_ns,
                 -1, -1};
        memcpy(x.data, cp.data, cp.caplen);
        if (cap_decode(dec, &cp, &l) == 1 && l.payload >= cp.data &&
            l.payload <= cp.data + cp.caplen) {
            x.pay_at = (int)(l.payload - cp.data);
            x.tcp_at = x.pay_at - (int)l.tcp_hdr_len;
        }
        push(v, &x);
    }
    cap_decoder_del(dec);
    cap_source_del(src);
}

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11) % n;
}

/* nv lists; with_data: their packets' bytes too (the variants' bytes are the interleaved
 * list's). */
static void pkts_free(pkts *v, size_t nv, int with_data)
{
    for (size_t k = 0; k < nv; k++) {
        for (size_t i = 0; with_data && i < v[k].n; i++)
            free(v[k].p[i].data);
        free(v[k].p);
    }
}

/* Copy k of the source: ports shifted by 101 k; copies k % 4 == 1 lose packets, == 1 and 2
 * repeat some (with other bytes: behind a hole, a conflicting overlap), == 3 lose their last
 * packets (no FIN: closed by the end of input). */
static void variant(pkts *out, const pkts *src, int k)
{
    size_t n = src->n;
    if (k % 4 == 3 && n > 4)
        n -= 3;
    for (size_t i = 0; i < n; i++) {
        const pkt *s = &src->p[i];
        if (k % 4 == 1 && rnd(8) == 0)
            continue;
        for (int rep = 0; rep < ((k % 4 == 1 || k % 4 == 2) && rnd(6) == 0 ? 2 : 1); rep++) {
            pkt x = *s;
            x.data = malloc(s->caplen ? s->caplen : 1);
            memcpy(x.data, s->data, s->caplen);
            if (x.tcp_at >= 0 && (uint32_t)x.tcp_at + 4 <= x.caplen) {
                for (int j = 0; j < 2; j++) {
                    uint8_t *q = x.data + x.tcp_at + 2 * j;
                    unsigned port = ((unsigned)q[0] << 8 | q[1]) + 101u * (unsigned)k;
                    q[0] = (uint8_t)(port >> 8);
                    q[1] = (uint8_t)port;
                }
            }
            if (rep && x.pay_at >= 0 && (uint32_t)x.pay_at < x.caplen)
                x.data[x.caplen - 1] ^= 0x5a;
            push(out, &x);
        }
    }
}

/* Each TCP payload of an Ethernet packet cut into segments of 1 to 40 bytes (sequence numbers
 * and IP lengths fixed up; SYN on the first, FIN on the last): nearly every frame then spans
 * segments, DATA frames included. */
static void resegment(pkts *out, const pkts *src)
{
    for (size_t i = 0; i < src->n; i++) {
        const pkt *s = &src->p[i];
        uint32_t n = s->pay_at >= 0 ? s->caplen - (uint32_t)s->pay_at : 0;
        int v = s->caplen > 14 ? s->data[14] >> 4 : 0;
        if (s->linktype != 1 || n < 2 || s->caplen != s->wirelen || (v != 4 && v != 6)) {
            pkt x = *s;
            x.data = malloc(s->caplen ? s->caplen : 1);
            memcpy(x.data, s->data, s->caplen);
            push(out, &x);
            continue;
        }
        const uint8_t *t = s->data + s->tcp_at;
        uint32_t seq = (uint32_t)t[4] << 24 | (uint32_t)t[5] << 16 | (uint32_t)t[6] << 8 | t[7];
        for (uint32_t at = 0; at < n;) {
            uint32_t k = 1 + rnd(40);
            if (k > n - at)
                k = n - at;
            pkt x = *s;
            x.caplen = x.wirelen = (uint32_t)s->pay_at + k;
            x.data = malloc(x.caplen);
            memcpy(x.data, s->data, (size_t)s->pay_at);
            memcpy(x.data + s->pay_at, s->data + s->pay_at + at, k);
            uint8_t *q = x.data + x.tcp_at;
            uint32_t sq = seq + at + (at && (t[13] & 0x02)); /* a SYN takes a number */
            q[4] = (uint8_t)(sq >> 24), q[5] = (uint8_t)(sq >> 16);
            q[6] = (uint8_t)(sq >> 8), q[7] = (uint8_t)sq;
            if (at)
                q[13] &= (uint8_t)~0x02;
            if (at + k < n)
                q[13] &= (uint8_t)~0x01;
            uint32_t iplen = x.caplen - 14 - (v == 6 ? 40 : 0);
            x.data[v == 4 ? 16 : 18] = (uint8_t)(iplen >> 8);
            x.data[v == 4 ? 17 : 19] = (uint8_t)iplen;
            push(out, &x);
            at += k;
        }
    }
}

/* The copies interleaved at random, each in its own order, one millisecond apart. */
static void interleave(pkts *out, pkts *v, int nv)
{
    size_t *at = calloc((size_t)nv, sizeof *at);
    size_t left = 0;
    for (int i = 0; i < nv; i++)
        left += v[i].n;
    int64_t t = 1700000000LL * 1000000000LL;
    while (left) {
        int i = (int)rnd((uint32_t)nv);
        if (at[i] == v[i].n)
            continue;
        pkt x = v[i].p[at[i]++];
        x.ts = t;
        t += 1000000;
        push(out, &x);
        left--;
    }
    free(at);
}

/* ---- the recording sink ------------------------------------------------------------------- */
typedef struct rec {
    gw_buf log;
    uint64_t *seq; /* per line run: the event it came from (split) */
    size_t *end;
    size_t n, cap;
    uint64_t cur;
    atomic_llong epochs; /* on_epoch calls */
} rec;

static void mark(rec *r)
{
    size_t last = r->n ? r->end[r->n - 1] : 0;
    if (r->log.len == last)
        return;
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 1024;
        r->seq = realloc(r->seq, r->cap * sizeof *r->seq);
        r->end = realloc(r->end, r->cap * sizeof *r->end);
    }
    r->seq[r->n] = r->cur;
    r->end[r->n++] = r->log.len;
}

static void r_seq(void *u, uint64_t seq)
{
    rec *r = u;
    mark(r);
    r->cur = seq;
}
/* Checks on the second thread count into `wrong` (the test kit's counters are the main thread's). */
static atomic_int wrong;
static void r_epoch(void *u, uint64_t e)
{
    rec *r = u;
    if ((uint64_t)atomic_load(&r->epochs) != e)
        atomic_fetch_add(&wrong, 1);
    atomic_fetch_add(&r->epochs, 1);
}

static void conn_line(rec *r, const char *what, const tcp_conn *c)
{
    gw_buf_printf(&r->log,
                  "%s %" PRIu64 " %u-%u client=%d/%d syn=%d%d fin=%d%d rst=%d%d ts=%" PRId64
                  "-%" PRId64 "\n",
                  what, c->index, c->ep[0].port, c->ep[1].port, c->client, c->client_how,
                  c->syn[0], c->syn[1], c->fin[0], c->fin[1], c->rst[0], c->rst[1],
                  c->first_ts_ns, c->last_ts_ns);
}
static void r_open(void *u, const tcp_conn *c) { conn_line(u, "open", c); }
static void r_close(void *u, const tcp_conn *c, int why, int h2_state)
{
    rec *r = u;
    conn_line(r, "close", c);
    gw_buf_printf(&r->log,
                  "  why=%d h2=%d pkts=%" PRIu64 "/%" PRIu64 " wire=%" PRIu64 "/%" PRIu64
                  " payload=%" PRIu64 "/%" PRIu64 " delivered=%" PRIu64 "/%" PRIu64
                  " gap=%" PRIu64 "/%" PRIu64 " ngaps=%u/%u closed=%d\n",
                  why, h2_state, c->pkts[0], c->pkts[1], c->wire_bytes[0], c->wire_bytes[1],
                  c->payload_bytes[0], c->payload_bytes[1], c->delivered[0], c->delivered[1],
                  c->gap_bytes[0], c->gap_bytes[1], c->ngaps[0], c->ngaps[1], c->closed);
}
static void r_gap(void *u, const tcp_conn *c, int dir, uint64_t off, uint64_t len)
{
    gw_buf_printf(&((rec *)u)->log, "gap %" PRIu64 " %d %" PRIu64 "+%" PRIu64 "\n", c->index, dir,
                  off, len);
}
static void r_tanom(void *u, const tcp_conn *c, int dir, uint64_t pkt_no, const char *what)
{
    gw_buf_printf(&((rec *)u)->log, "tcp-anomaly %" PRIu64 " %d %" PRIu64 " %s\n", c->index, dir,
                  pkt_no, what);
}
static void r_preface(void *u, const tcp_conn *c, int dir)
{
    gw_buf_printf(&((rec *)u)->log, "preface %" PRIu64 " %d\n", c->index, dir);
}
static void r_frame(void *u, const tcp_conn *c, const h2_frame_rec *fr)
{
    rec *r = u;
    gw_buf_printf(&r->log,
                  "frame %" PRIu64 " d%d c%d type=%u flags=%u stream=%u len=%u pkts=%" PRIu64
                  "-%" PRIu64 " fields=%zu err=%d unknown=%d\n",
                  c->index, fr->dir, fr->from_client, fr->f.type, fr->f.flags, fr->f.stream_id,
                  fr->f.length, fr->first_pkt, fr->last_pkt, fr->has_block ? fr->nfields : 0,
                  fr->hpack_err, fr->hpack_unknown);
    for (size_t i = 0; fr->has_block && i < fr->nfields; i++)
        gw_buf_printf(&r->log, "  %.*s: %.*s\n", (int)fr->fields[i].name_len,
                      fr->fields[i].name, (int)fr->fields[i].value_len, fr->fields[i].value);
}
static void r_skip(void *u, const tcp_conn *c, int dir, uint64_t off, uint64_t len,
                   const char *why)
{
    gw_buf_printf(&((rec *)u)->log, "skip %" PRIu64 " %d %" PRIu64 "+%" PRIu64 " %s\n", c->index,
                  dir, off, len, why);
}
static void r_hanom(void *u, const tcp_conn *c, int dir, uint32_t stream, const char *what)
{
    gw_buf_printf(&((rec *)u)->log, "h2-anomaly %" PRIu64 " %d %u %s\n", c->index, dir, stream,
                  what);
}
static void r_start(void *u, grpc_call *c)
{
    gw_buf_printf(&((rec *)u)->log, "call %" PRIu64 " %u\n", c->conn_index, c->stream);
}
static void r_msg(void *u, grpc_call *c, const grpc_msg *m)
{
    gw_buf_printf(&((rec *)u)->log, "message %" PRIu64 " %u c%d #%" PRIu64 " %" PRIu64 "B\n",
                  c->conn_index, c->stream, m->from_client, (uint64_t)m->index, (uint64_t)m->length);
}
static void r_end(void *u, grpc_call *c)
{
    gw_buf_printf(&((rec *)u)->log,
                  "end %" PRIu64 " %u %s %u->%u http=%d grpc=%d implied=%d t=%" PRId64 "-%" PRId64
                  " req=%u resp=%u complete=%d\n",
                  c->conn_index, c->stream, c->method ? c->method : "-", c->client.port,
                  c->server.port, c->http_status, c->grpc_status, c->implied_status, c->t_start,
                  c->t_end, c->n_req, c->n_resp, c->complete);
}

static dissect_sink sink_of(rec *r)
{
    dissect_sink s;
    memset(&s, 0, sizeof s);
    s.u = r;
    s.on_conn_open = r_open;
    s.on_conn_close = r_close;
    s.on_tcp_gap = r_gap;
    s.on_tcp_anomaly = r_tanom;
    s.on_preface = r_preface;
    s.on_frame = r_frame;
    s.on_h2_skip = r_skip;
    s.on_h2_anomaly = r_hanom;
    s.on_call_start = r_start;
    s.on_message = r_msg;
    s.on_call_end = r_end;
    s.on_seq = r_seq;
    s.on_epoch = r_epoch;
    return s;
}

static void rec_free(rec *r)
{
    gw_buf_free(&r->log);
    free(r->seq);
    free(r->end);
}

/* ---- merge checks ------------------------------------------------------------------------- */
static rec *merge_recs[2];
static atomic_llong merged;
static void on_merge(void *u, uint64_t e)
{
    int ok = u == (void *)merge_recs && (uint64_t)atomic_load(&merged) == e && /* in order */
             /* both sinks ended the epoch (the reader may already be in a later one) */
             (uint64_t)atomic_load(&merge_recs[0]->epochs) > e &&
             (uint64_t)atomic_load(&merge_recs[1]->epochs) == e + 1;
    if (!ok)
        atomic_fetch_add(&wrong, 1);
    atomic_fetch_add(&merged, 1);
}

static void feed(dissect *d, const pkts *in, size_t upto)
{
    for (size_t i = 0; i < upto && i < in->n; i++) {
        const pkt *x = &in->p[i];
        cap_packet cp = {i + 1, x->ts, x->caplen, x->wirelen, x->linktype, UINT64_MAX, x->data};
        GW_CHECK_INT(dissect_packet(d, &cp), 0);
    }
}

static void run(const pkts *in, int ports_forced)
{
    dissect_opts o;
    dissect_opts_default(&o);
    if (ports_forced) { /* detection off for one port of the first copies: the forced path */
        o.h2_ports[0] = 50051 + 101;
        o.n_h2_ports = 1;
    }
    rec one, two[2];
    memset(&one, 0, sizeof one);
    memset(two, 0, sizeof two);
    dissect_sink s1 = sink_of(&one);
    s1.on_seq = NULL;
    s1.on_epoch = NULL;
    dissect *d1 = NULL, *d2 = NULL;
    GW_CHECK_INT(dissect_new(&d1, &o, &s1), 0);
    feed(d1, in, in->n);
    dissect_finish(d1);

    dissect_sink s2[2] = {sink_of(&two[0]), sink_of(&two[1])};
    merge_recs[0] = &two[0];
    merge_recs[1] = &two[1];
    atomic_store(&merged, 0);
    GW_CHECK_INT(dissect_new_split(&d2, &o, s2, on_merge, merge_recs), 0);
    feed(d2, in, in->n);
    dissect_finish(d2);
    mark(&two[0]);
    mark(&two[1]);

    /* both uppers had connections, and several epochs went round the ring */
    GW_CHECK(two[0].log.len > 0 && two[1].log.len > 0);
    GW_CHECK(atomic_load(&merged) > DISSECT_EPOCHS);
    GW_CHECK_INT(atomic_load(&merged), atomic_load(&two[1].epochs));

    gw_buf m;
    gw_buf_init(&m, 0);
    size_t i = 0, j = 0, ao = 0, bo = 0;
    while (i < two[0].n || j < two[1].n) {
        if (j == two[1].n || (i < two[0].n && two[0].seq[i] < two[1].seq[j])) {
            gw_buf_append(&m, two[0].log.data + ao, two[0].end[i] - ao);
            ao = two[0].end[i++];
        } else {
            GW_CHECK(i == two[0].n || two[0].seq[i] != two[1].seq[j]); /* an event is one upper's */
            gw_buf_append(&m, two[1].log.data + bo, two[1].end[j] - bo);
            bo = two[1].end[j++];
        }
    }
    GW_CHECK_INT(m.len, one.log.len);
    int same = m.len == one.log.len && memcmp(m.data, one.log.data, m.len) == 0;
    GW_CHECK(same);
    if (!same) {
        size_t k = 0;
        while (k < m.len && k < one.log.len && m.data[k] == one.log.data[k])
            k++;
        size_t from = k > 200 ? k - 200 : 0;
        fprintf(stderr, "first difference at %zu:\n--- one thread\n%.400s\n--- split\n%.400s\n", k,
                (const char *)one.log.data + from, (const char *)m.data + from);
    }
    dissect_stats a = dissect_get_stats(d1), b = dissect_get_stats(d2);
    GW_CHECK_INT(a.packets, b.packets);
    GW_CHECK_INT(a.conns, b.conns);
    GW_CHECK_INT(a.h2_conns, b.h2_conns);
    GW_CHECK_INT(a.calls, b.calls);
    GW_CHECK_INT(a.frames, b.frames);
    GW_CHECK(a.calls > 100 && a.conns > 50);
    /* the replay reaches the paths the copy of the tcp_conn must follow */
    static const char *const seen[] = {"\ngap ",   "\ntcp-anomaly ", "why=4 ", "why=1 ",
                                       "client=0/3", "client=1/3", "\nskip ",
                                       "\npreface ",  "complete=0"};
    for (size_t k = 0; k < sizeof seen / sizeof seen[0]; k++) {
        int found = memmem(one.log.data, one.log.len, seen[k], strlen(seen[k])) != NULL;
        if (!found)
            fprintf(stderr, "not seen: %s\n", seen[k]);
        GW_CHECK(found);
    }
    gw_buf_free(&m);
    dissect_del(d1);
    dissect_del(d2);
    rec_free(&one);
    rec_free(&two[0]);
    rec_free(&two[1]);
}

/* Deleted mid-read: the second thread's connections are freed, nothing is merged. */
static void drop_early(const pkts *in)
{
    rec two[2];
    memset(two, 0, sizeof two);
    dissect_sink s2[2] = {sink_of(&two[0]), sink_of(&two[1])};
    merge_recs[0] = &two[0];
    merge_recs[1] = &two[1];
    atomic_store(&merged, 0);
    dissect *d = NULL;
    GW_CHECK_INT(dissect_new_split(&d, NULL, s2, on_merge, merge_recs), 0);
    feed(d, in, in->n / 2);
    dissect_del(d);
    rec_free(&two[0]);
    rec_free(&two[1]);
}

int main(void)
{
    pkts src[3], all;
    memset(src, 0, sizeof src);
    memset(&all, 0, sizeof all);
    load(&src[0], "examples/greeter.pcap");
    load(&src[1], "examples/greeter-mixed.pcapng");
    load(&src[2], "tests/vectors/seed/seed-short.pcap");
    GW_CHECK(src[0].n > 10 && src[1].n > 100 && src[2].n > 0);

    enum { NV = 300 };
    pkts v[NV];
    memset(v, 0, sizeof v);
    for (int k = 0; k < NV; k++)
        variant(&v[k], &src[k % 3], k / 3);
    interleave(&all, v, NV);
    GW_CHECK(all.n > 4 * 2048);

    run(&all, 0);
    run(&all, 1);
    drop_early(&all);

    /* The same copies with every payload cut into small segments: nearly every frame is joined
     * across packets, on either thread. */
    pkts cut[3], v2[NV], all2;
    memset(cut, 0, sizeof cut);
    memset(v2, 0, sizeof v2);
    memset(&all2, 0, sizeof all2);
    for (int i = 0; i < 3; i++)
        resegment(&cut[i], &src[i]);
    for (int k = 0; k < NV; k++)
        variant(&v2[k], &cut[k % 3], k / 3);
    interleave(&all2, v2, NV);
    GW_CHECK(all2.n > 4 * all.n);
    run(&all2, 0);
    pkts_free(&all2, 1, 1);
    pkts_free(v2, NV, 0);
    pkts_free(cut, 3, 1);

    pkts_free(&all, 1, 1);
    pkts_free(v, NV, 0);
    pkts_free(src, 3, 1);
    GW_CHECK_INT(atomic_load(&wrong), 0);
    GW_TEST_END();
}
