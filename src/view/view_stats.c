/* --stats: per method, calls, status mix, latency percentiles, messages and bytes each way; per
 * connection totals. Latencies go into a log-scale histogram (about 2% resolution), so memory is
 * fixed per method however many calls there are. Methods beyond MAX_METHODS fold into "(other)". */
#include "view/view_impl.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/gw_err.h"
#include "common/gw_mem.h"

#define MAX_METHODS 4096
#define NBUCKET 512 /* 2^(1/16) steps from 1 us: covers ~4e9 us */
#define NSTATUS 18  /* 0..16, then "none" */
#define NRECENT 256 /* find's cache */

typedef struct mstat {
    char *method; /* owned */
    size_t len;   /* strlen(method) */
    uint64_t calls, incomplete;
    uint64_t status[NSTATUS];
    uint64_t req_msgs, resp_msgs, req_bytes, resp_bytes;
    uint64_t max_us;
    uint32_t hist[NBUCKET];
} mstat;

typedef struct sstate {
    mstat *m;   /* owned */
    uint32_t slot[2 * MAX_METHODS]; /* 1 + index into m, 0 empty (find) */
    uint32_t recent[NRECENT]; /* 1 + index into m of a method found by its quick key, 0 none */
    uint64_t edge[NBUCKET + 1]; /* edge[b]: the least latency in bucket b or above (bucket_of) */
    size_t n, cap;
    uint64_t conns, h2_conns, calls;
    uint64_t pkts, bytes;
} sstate;

/* The bucket as first defined, in floating point: bucket_of gives the same, without log2. */
static int bucket_of_fp(uint64_t us)
{
    if (us <= 1)
        return 0;
    int b = (int)(16.0 * log2((double)us)) + 1;
    return b >= NBUCKET ? NBUCKET - 1 : b;
}

/* edge[b] for bucket_of: found with bucket_of_fp itself, so that the two agree to the last
 * microsecond whatever log2's rounding at the edges. */
static void edges_init(uint64_t edge[NBUCKET + 1])
{
    edge[0] = 0;
    for (int b = 1; b < NBUCKET; b++) {
        uint64_t g = (uint64_t)ceil(exp2((double)(b - 1) / 16.0));
        if (g < 2)
            g = 2;
        while (g > 2 && bucket_of_fp(g - 1) >= b)
            g--;
        while (bucket_of_fp(g) < b)
            g++;
        edge[b] = g;
    }
    edge[NBUCKET] = UINT64_MAX;
}

/* The largest b with edge[b] <= us. A latency in [2^e, 2^(e+1)) lies in buckets 16e+1..16e+16
 * (log2 of a power of two is exact): four compares find which. */
static int bucket_of(const uint64_t edge[NBUCKET + 1], uint64_t us)
{
    if (us <= 1)
        return 0;
    if (us >= edge[NBUCKET - 1])
        return NBUCKET - 1;
    int b = 16 * (63 - __builtin_clzll(us)) + 1; /* here us < 2^32, so b + 15 <= NBUCKET */
    if (us >= edge[b + 8])
        b += 8;
    if (us >= edge[b + 4])
        b += 4;
    if (us >= edge[b + 2])
        b += 2;
    if (us >= edge[b + 1])
        b += 1;
    return b;
}

static uint64_t bucket_value(int b)
{
    return b == 0 ? 1 : (uint64_t)exp2((double)(b - 1) / 16.0);
}

/* Methods by name: an open-addressing table of indexes into m (MAX_METHODS entries at most, so
 * it never fills past half), hashed over the whole name so that names alike in part do not
 * crowd one slot. In front of it, recent[]: indexed by a cheaper key, the row that key last led
 * to, right for almost every call, always checked by comparing the names whole. */
#define NSLOT (2 * MAX_METHODS)

static uint64_t load64(const char *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* Sixteen bytes a step in two lanes, the last step overlapping the one before (a method name is
 * read once), then a mix that brings every bit into the high half the slots use. */
static inline uint32_t hash_of(const char *s, size_t n)
{
    const uint64_t k1 = 0xff51afd7ed558ccdu, k2 = 0xc4ceb9fe1a85ec53u;
    uint64_t a = n, b = 0;
    if (n >= 16) {
        for (size_t i = 0; i + 16 < n; i += 16) {
            a = (a ^ load64(s + i)) * k1;
            b = (b ^ load64(s + i + 8)) * k2;
        }
        a ^= load64(s + n - 16);
        b ^= load64(s + n - 8);
    } else if (n >= 8) {
        a ^= load64(s);
        b ^= load64(s + n - 8);
    } else {
        memcpy(&b, s, n);
    }
    uint64_t h = a * k1 ^ b * k2;
    h ^= h >> 32;
    return (uint32_t)(h * k1 >> 32);
}

/* The slot holding key (n bytes, hash h), or the empty slot where it would go. */
static inline uint32_t slot_of(const sstate *st, const char *key, size_t n, uint32_t h)
{
    uint32_t i = h & (NSLOT - 1);
    for (; st->slot[i]; i = (i + 1) & (NSLOT - 1)) {
        const mstat *m = &st->m[st->slot[i] - 1];
        if (m->len == n && memcmp(m->method, key, n) == 0)
            break;
    }
    return i;
}

/* A method not seen before, whose slot would be i: its row, or "(other)"'s beyond MAX_METHODS. */
static mstat *add(sstate *st, const char *key, size_t n, uint32_t i)
{
    if (st->n >= MAX_METHODS) {
        key = "(other)";
        n = strlen(key);
        i = slot_of(st, key, n, hash_of(key, n));
        if (st->slot[i])
            return &st->m[st->slot[i] - 1];
    }
    if (st->n == st->cap) {
        size_t ncap = st->cap ? st->cap * 2 : 16;
        mstat *nm = gw_realloc(st->m, ncap * sizeof *nm);
        if (!nm)
            return NULL;
        st->m = nm;
        st->cap = ncap;
    }
    mstat *m = &st->m[st->n];
    memset(m, 0, sizeof *m);
    m->method = gw_strdup(key);
    if (!m->method)
        return NULL;
    m->len = n;
    st->n++;
    st->slot[i] = (uint32_t)st->n;
    return m;
}

/* memcmp(a, b, n) == 0, without a call for the lengths most method names have (8 to 32): two
 * or four words, overlapping as needed, cover the n bytes. */
static inline int same(const char *a, const char *b, size_t n)
{
    if (n < 8 || n > 32)
        return memcmp(a, b, n) == 0;
    if (load64(a) != load64(b) || load64(a + n - 8) != load64(b + n - 8))
        return 0;
    return n <= 16 || (load64(a + 8) == load64(b + 8) && load64(a + n - 16) == load64(b + n - 16));
}

/* Length and the first and last eight bytes: what tells most method names apart, at a fraction
 * of hash_of's cost. Only a hint: what it finds is compared whole. */
static inline uint32_t quick_of(const char *s, size_t n)
{
    uint64_t a = n, b = 0;
    if (n >= 8) {
        a ^= load64(s);
        b = load64(s + n - 8);
    } else {
        memcpy(&b, s, n);
    }
    return (uint32_t)((a * 0xff51afd7ed558ccdu ^ b * 0xc4ceb9fe1a85ec53u) >> 56);
}

/* A call's method: first the row its quick key last led to, then the table. */
static inline mstat *find(sstate *st, const char *method)
{
    const char *key = method ? method : "(unknown method)";
    size_t n = strlen(key);
    uint32_t q = quick_of(key, n), r = st->recent[q];
    if (r) {
        mstat *m = &st->m[r - 1];
        if (m->len == n && same(m->method, key, n))
            return m;
    }
    uint32_t i = slot_of(st, key, n, hash_of(key, n));
    if (st->slot[i]) {
        st->recent[q] = st->slot[i];
        return &st->m[st->slot[i] - 1];
    }
    return add(st, key, n, i); /* the next call finds it in the table */
}

static void on_call_end(void *u, grpc_call *c)
{
    view *v = u;
    sstate *st = v->state;
    if (v->o.conn >= 0 && (int64_t)c->conn_index != v->o.conn)
        return;
    mstat *m = find(st, c->method);
    if (!m) {
        v->err = GW_ENOMEM;
        return;
    }
    st->calls++;
    m->calls++;
    if (!c->complete)
        m->incomplete++;
    int s = c->grpc_status >= 0 ? c->grpc_status : c->implied_status;
    m->status[s >= 0 && s <= 16 ? s : 17]++;
    m->req_msgs += c->n_req;
    m->resp_msgs += c->n_resp;
    m->req_bytes += c->req_bytes;
    m->resp_bytes += c->resp_bytes;
    int64_t d = c->t_end - c->t_start;
    uint64_t us = d > 0 ? (uint64_t)d / 1000 : 0;
    if (us > m->max_us)
        m->max_us = us;
    m->hist[bucket_of(st->edge, us)]++;
}

static void on_conn_close(void *u, const tcp_conn *c, int why, int h2_state)
{
    view *v = u;
    sstate *st = v->state;
    st->conns++;
    if (h2_state == H2_YES)
        st->h2_conns++;
}

static void on_packet_end(void *u, const dissect_pkt *dp)
{
    view *v = u;
    sstate *st = v->state;
    st->pkts++;
    st->bytes += dp->pkt->wirelen;
}

static uint64_t pct(const mstat *m, double q)
{
    uint64_t want = (uint64_t)ceil(q * (double)m->calls), seen = 0;
    if (want == 0)
        want = 1;
    for (int b = 0; b < NBUCKET; b++) {
        seen += m->hist[b];
        if (seen >= want) {
            uint64_t val = bucket_value(b + 1); /* the bucket's upper edge */
            return val > m->max_us ? m->max_us : val;
        }
    }
    return m->max_us;
}

static int by_calls(const void *a, const void *b)
{
    const mstat *x = a, *y = b;
    if (x->calls != y->calls)
        return x->calls < y->calls ? 1 : -1;
    return strcmp(x->method, y->method);
}

static void finish(view *v)
{
    sstate *st = v->state;
    gw_buf *b = &v->out;
    if (st->n) /* find's table goes stale here: nothing is looked up after the end */
        qsort(st->m, st->n, sizeof *st->m, by_calls);
    if (!v->o.json) {
        gw_buf_printf(b, "%" PRIu64 " packets, %" PRIu64 " bytes, %" PRIu64 " TCP connections (%" PRIu64
                         " HTTP/2), %" PRIu64 " calls\n\n",
                      st->pkts, st->bytes, st->conns, st->h2_conns, st->calls);
        gw_buf_printf(b, "%-48s %7s %9s %9s %9s %9s %15s %15s  %s\n", "method", "calls", "p50",
                      "p90", "p99", "max", "req msgs/bytes", "resp msgs/bytes", "status");
    }
    for (size_t i = 0; i < st->n; i++) {
        const mstat *m = &st->m[i];
        if (v->o.json) {
            gw_buf_append(b, "{\"type\":\"method_stats\",\"method\":", 32);
            view_json_cstr(b, m->method);
            gw_buf_printf(b, ",\"calls\":%" PRIu64 ",\"incomplete\":%" PRIu64 ",\"status\":{",
                          m->calls, m->incomplete);
            int first = 1;
            for (int s = 0; s < NSTATUS; s++) {
                if (!m->status[s])
                    continue;
                gw_buf_printf(b, "%s\"%s\":%" PRIu64, first ? "" : ",",
                              s <= 16 ? grpc_status_name(s) : "none", m->status[s]);
                first = 0;
            }
            gw_buf_printf(b, "},\"latency_us\":{\"p50\":%" PRIu64 ",\"p90\":%" PRIu64
                             ",\"p99\":%" PRIu64 ",\"max\":%" PRIu64 "}",
                          pct(m, .5), pct(m, .9), pct(m, .99), m->max_us);
            gw_buf_printf(b, ",\"request_messages\":%" PRIu64 ",\"request_bytes\":%" PRIu64
                             ",\"response_messages\":%" PRIu64 ",\"response_bytes\":%" PRIu64 "}\n",
                          m->req_msgs, m->req_bytes, m->resp_msgs, m->resp_bytes);
        } else {
            gw_buf_printf(b, "%-48s %7" PRIu64 " ", m->method, m->calls);
            uint64_t q[4] = {pct(m, .5), pct(m, .9), pct(m, .99), m->max_us};
            for (int k = 0; k < 4; k++) {
                gw_buf tmp;
                gw_buf_init(&tmp, 0);
                view_fmt_duration(&tmp, (int64_t)q[k] * 1000);
                gw_buf_printf(b, "%9.*s ", (int)tmp.len, (const char *)tmp.data);
                gw_buf_free(&tmp);
            }
            gw_buf_printf(b, "%6" PRIu64 "/%-8" PRIu64 " %6" PRIu64 "/%-8" PRIu64 " ", m->req_msgs,
                          m->req_bytes, m->resp_msgs, m->resp_bytes);
            for (int s = 0; s < NSTATUS; s++)
                if (m->status[s])
                    gw_buf_printf(b, " %s=%" PRIu64, s <= 16 ? grpc_status_name(s) : "none",
                                  m->status[s]);
            gw_buf_putc(b, '\n');
        }
    }
    if (v->o.json)
        gw_buf_printf(b, "{\"type\":\"capture_stats\",\"packets\":%" PRIu64 ",\"bytes\":%" PRIu64
                         ",\"connections\":%" PRIu64 ",\"http2_connections\":%" PRIu64
                         ",\"calls\":%" PRIu64 "}\n",
                      st->pkts, st->bytes, st->conns, st->h2_conns, st->calls);
}

/* Split reading: the other thread's methods and counts join these. Sorting at the end makes the
 * order independent of which thread saw a method first; only the choice of methods folded into
 * "(other)" beyond MAX_METHODS can differ from one thread's. */
static void absorb(view *v, const view *peer)
{
    sstate *st = v->state;
    const sstate *ps = peer->state;
    st->conns += ps->conns;
    st->h2_conns += ps->h2_conns;
    st->calls += ps->calls;
    st->pkts += ps->pkts;
    st->bytes += ps->bytes;
    for (size_t i = 0; i < ps->n; i++) {
        const mstat *f = &ps->m[i];
        mstat *m = find(st, f->method);
        if (!m) {
            v->err = GW_ENOMEM;
            return;
        }
        m->calls += f->calls;
        m->incomplete += f->incomplete;
        for (int s = 0; s < NSTATUS; s++)
            m->status[s] += f->status[s];
        m->req_msgs += f->req_msgs;
        m->resp_msgs += f->resp_msgs;
        m->req_bytes += f->req_bytes;
        m->resp_bytes += f->resp_bytes;
        if (f->max_us > m->max_us)
            m->max_us = f->max_us;
        for (int b = 0; b < NBUCKET; b++)
            m->hist[b] += f->hist[b];
    }
}

static void del_state(view *v)
{
    sstate *st = v->state;
    if (!st)
        return;
    for (size_t i = 0; i < st->n; i++)
        gw_free(st->m[i].method);
    gw_free(st->m);
    gw_free(st);
}

int view_stats_init(view *v, dissect_sink *s)
{
    sstate *st = gw_calloc(1, sizeof *st); /* owned by the view */
    if (!st)
        return GW_ENOMEM;
    edges_init(st->edge);
    v->state = st;
    v->finish = finish;
    v->del_state = del_state;
    v->absorb = absorb;
    s->on_call_end = on_call_end;
    s->on_conn_close = on_conn_close;
    s->on_packet_end = on_packet_end;
    return 0;
}
