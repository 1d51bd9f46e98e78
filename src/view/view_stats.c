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

typedef struct mstat {
    char *method; /* owned */
    uint64_t calls, incomplete;
    uint64_t status[NSTATUS];
    uint64_t req_msgs, resp_msgs, req_bytes, resp_bytes;
    uint64_t max_us;
    uint32_t hist[NBUCKET];
} mstat;

typedef struct sstate {
    mstat *m;   /* owned */
    uint32_t slot[2 * MAX_METHODS]; /* 1 + index into m, 0 empty (find) */
    size_t n, cap;
    uint64_t conns, h2_conns, calls;
    uint64_t pkts, bytes;
} sstate;

static int bucket_of(uint64_t us)
{
    if (us <= 1)
        return 0;
    int b = (int)(16.0 * log2((double)us)) + 1;
    return b >= NBUCKET ? NBUCKET - 1 : b;
}

static uint64_t bucket_value(int b)
{
    return b == 0 ? 1 : (uint64_t)exp2((double)(b - 1) / 16.0);
}

/* Methods by name: an open-addressing table of indexes into m (MAX_METHODS entries at most, so
 * it never fills past half). A call's method is found with one hash and usually one compare
 * instead of a compare per known method. */
#define NSLOT (2 * MAX_METHODS)

static uint32_t hash_of(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

/* The slot holding key, or the empty slot where it would go. */
static uint32_t slot_of(const sstate *st, const char *key)
{
    uint32_t i = hash_of(key) & (NSLOT - 1);
    while (st->slot[i] && strcmp(st->m[st->slot[i] - 1].method, key) != 0)
        i = (i + 1) & (NSLOT - 1);
    return i;
}

static mstat *find(view *v, const char *method)
{
    sstate *st = v->state;
    const char *key = method ? method : "(unknown method)";
    uint32_t i = slot_of(st, key);
    if (st->slot[i])
        return &st->m[st->slot[i] - 1];
    if (st->n >= MAX_METHODS) {
        key = "(other)";
        i = slot_of(st, key);
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
    st->n++;
    st->slot[i] = (uint32_t)st->n;
    return m;
}

static void on_call_end(void *u, grpc_call *c)
{
    view *v = u;
    sstate *st = v->state;
    if (v->o.conn >= 0 && (int64_t)c->conn_index != v->o.conn)
        return;
    mstat *m = find(v, c->method);
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
    m->hist[bucket_of(us)]++;
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
        mstat *m = find(v, f->method);
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
    v->state = st;
    v->finish = finish;
    v->del_state = del_state;
    v->absorb = absorb;
    s->on_call_end = on_call_end;
    s->on_conn_close = on_conn_close;
    s->on_packet_end = on_packet_end;
    return 0;
}
