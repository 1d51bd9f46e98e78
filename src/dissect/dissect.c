#include "dissect/dissect.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "common/gw_buf.h"
#include "common/gw_err.h"
#include "common/gw_mem.h"

/* One set of the layers above tcp with its sink: the whole pipeline has one; split reading has
 * two, the second driven by a thread from the events the first thread posts. Counters are per
 * upper so that no two threads write the same word. */
typedef struct upper {
    dissect *d;
    dissect_sink s;
    uint64_t h2_conns, calls, frames;
    char pad[64]; /* the two threads' counters never share a cache line with the other's data */
} upper;

/* Per TCP connection: the layers above tcp. Owned by the tcp_conn (user) until t_close; for a
 * connection dealt to the second upper, owned by that upper's thread from the open event on
 * (it frees it at the close event). */
typedef struct conn_state {
    h2_conn *h2;
    grpc_conn *grpc;
    upper *up;
    int detected; /* on_detect(H2_YES) seen */
    int remote;   /* dealt to upper 1: the fields below are its thread's */
    tcp_conn mirror; /* remote: that thread's copy of the tcp_conn, updated from the events */
} conn_state;

/* ---- split reading: events for upper 1, posted per epoch -------------------------------- */
enum { EV_OPEN = 1, EV_DATA, EV_GAP, EV_ANOMALY, EV_CLOSE };

/* What upper 1's layers read of the tcp_conn after its open, carried by every event. */
typedef struct ev_snap {
    int64_t first_ts_ns, last_ts_ns;
    int client, client_how;
    uint8_t syn[2], fin[2], rst[2];
} ev_snap;

typedef struct ev {
    uint64_t seq;
    conn_state *cs;
    uint8_t type, dir;
    int why;            /* EV_CLOSE */
    uint32_t n;         /* data bytes that follow the event (EV_DATA) */
    uint64_t off, len, pkt_no;
    int64_t ts;
    const char *what;   /* EV_ANOMALY (static) */
    ev_snap snap;
} ev;

/* An epoch ends after this many packets or bytes of TCP stream (both threads' together),
 * whichever comes first: large enough that the hand-over costs nothing, small enough that the
 * text held per epoch (JSON of large messages is a few times their size) stays small. */
#define EPOCH_PACKETS 512
#define EPOCH_BYTES (256u << 10)

/* The ring of epochs between the reading thread and upper 1's: at most DISSECT_EPOCHS in
 * flight, so memory stays bounded however far ahead the reader could run. */
typedef struct slot {
    gw_buf evs; /* events and their bytes, each 8-aligned */
} slot;

typedef struct split {
    pthread_t th;
    int started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    slot slots[DISSECT_EPOCHS];
    uint64_t epoch;      /* the reader's current epoch (filled in slots[epoch % N]) */
    /* Written under mu (publish), read with or without it. */
    _Atomic uint64_t done_epoch; /* epochs fully processed and merged by upper 1's thread */
    _Atomic uint64_t posted;     /* epochs handed over */
    atomic_int quit;     /* no more epochs after `posted` */
    atomic_int discard;  /* dissect_del before finish: process, do not merge */
    int sleepers;        /* threads in pthread_cond_wait (under mu) */
    uint64_t epoch_pkts;
    uint64_t epoch_bytes; /* stream bytes delivered to either upper in this epoch */
    void (*merge)(void *mu, uint64_t epoch);
    void *merge_u;
    uint64_t live[2];    /* live connections per upper, to deal new ones */
    int64_t idle_ns[2];  /* recent time each thread waited for the other (decayed per epoch;
                            written under mu) */
    int lean;            /* the reader's copy, per epoch: 1 upper 1 waits more, -1 upper 0 */
} split;

struct dissect {
    dissect_opts o;
    upper up[2];
    int nup;
    split *sp;          /* NULL: one thread */
    uint64_t seq;       /* split: events numbered in single-threaded order */
    cap_decoder *dec;
    tcp_table *tcp;
    dissect_stats st;
    int finished;
};

void dissect_opts_default(dissect_opts *o)
{
    memset(o, 0, sizeof *o);
    cap_opts_default(&o->cap);
    tcp_opts_default(&o->tcp);
    h2_opts_default(&o->h2);
    grpc_opts_default(&o->grpc);
}

/* ---- grpc -> sink ---------------------------------------------------------------------- */
static void g_call_start(void *u, grpc_call *c)
{
    upper *up = u;
    up->calls++;
    if (up->s.on_call_start)
        up->s.on_call_start(up->s.u, c);
}
static void g_message(void *u, grpc_call *c, const grpc_msg *m)
{
    upper *up = u;
    if (up->s.on_message)
        up->s.on_message(up->s.u, c, m);
}
static void g_call_end(void *u, grpc_call *c)
{
    upper *up = u;
    if (up->s.on_call_end)
        up->s.on_call_end(up->s.u, c);
}

/* ---- h2 -> grpc and sink --------------------------------------------------------------- */
/* The h2 callbacks' u is the connection's conn_state: its upper and grpc without a lookup. */
static void h_preface(void *u, h2_conn *h, int dir, uint64_t pkt_no, int64_t ts)
{
    upper *up = ((conn_state *)u)->up;
    if (up->s.on_preface)
        up->s.on_preface(up->s.u, h2_conn_tcp(h), dir);
}
static void h_frame(void *u, h2_conn *h, const h2_frame_rec *fr)
{
    conn_state *cs = u;
    upper *up = cs->up;
    up->frames++;
    if (up->s.on_frame)
        up->s.on_frame(up->s.u, h2_conn_tcp(h), fr);
    if (cs->grpc)
        grpc_conn_frame(cs->grpc, fr);
}
static void h_skip(void *u, h2_conn *h, int dir, uint64_t off, uint64_t len, const char *why,
                   uint64_t pkt_no, int64_t ts)
{
    conn_state *cs = u;
    upper *up = cs->up;
    if (up->s.on_h2_skip)
        up->s.on_h2_skip(up->s.u, h2_conn_tcp(h), dir, off, len, why);
    if (cs->grpc)
        grpc_conn_skip(cs->grpc, dir, len);
}
static void h_anomaly(void *u, h2_conn *h, int dir, uint32_t stream, uint64_t pkt_no,
                      const char *what)
{
    upper *up = ((conn_state *)u)->up;
    if (up->s.on_h2_anomaly)
        up->s.on_h2_anomaly(up->s.u, h2_conn_tcp(h), dir, stream, what);
}
static void h_detect(void *u, h2_conn *h, int state)
{
    conn_state *cs = u;
    upper *up = cs->up;
    if (state != H2_YES || cs->detected)
        return;
    cs->detected = 1;
    up->h2_conns++;
    if (!up->d->o.no_grpc) {
        grpc_callbacks gcb = {up, g_call_start, g_message, g_call_end};
        cs->grpc = grpc_conn_new(&up->d->o.grpc, &gcb, h);
    }
}

/* ---- one connection's layers above tcp, on its upper's thread ----------------------------- */
static int port_forced(const dissect *d, const tcp_conn *c)
{
    for (int i = 0; i < d->o.n_h2_ports; i++)
        if (c->ep[0].port == d->o.h2_ports[i] || c->ep[1].port == d->o.h2_ports[i])
            return 1;
    return 0;
}

/* cs (may be NULL: out of memory) gets its h2 connection; c is the tcp_conn its layers see. */
static void up_open(upper *up, conn_state *cs, tcp_conn *c)
{
    if (cs) {
        h2_opts ho = up->d->o.h2;
        ho.force = ho.force || port_forced(up->d, c);
        h2_callbacks hcb = {cs, h_preface, h_frame, h_skip, h_anomaly, h_detect};
        cs->h2 = h2_conn_new(&ho, &hcb, c);
    }
    if (up->s.on_conn_open)
        up->s.on_conn_open(up->s.u, c);
}

static void up_gap(upper *up, conn_state *cs, tcp_conn *c, int dir, uint64_t off, uint64_t len,
                   uint64_t pkt_no, int64_t ts)
{
    if (up->s.on_tcp_gap)
        up->s.on_tcp_gap(up->s.u, c, dir, off, len);
    if (cs && cs->h2)
        h2_conn_gap(cs->h2, dir, off, len, pkt_no, ts);
}

static void up_close(upper *up, conn_state *cs, tcp_conn *c, int why)
{
    int has = cs && cs->h2;
    if (has)
        h2_conn_end(cs->h2);
    int state = has ? h2_conn_state(cs->h2) : H2_NO;
    if (has && cs->grpc) {
        grpc_conn_close(cs->grpc, c->last_ts_ns);
        grpc_conn_del(cs->grpc);
    }
    if (up->s.on_conn_close)
        up->s.on_conn_close(up->s.u, c, why, state);
    if (has)
        h2_conn_del(cs->h2);
}

/* ---- tcp -> the uppers ------------------------------------------------------------------- */
/* Split: the next event's number, told to upper 0's sink when the event is its own. */
static uint64_t next_seq(dissect *d, const conn_state *cs)
{
    uint64_t seq = ++d->seq;
    if (d->sp && (!cs || !cs->remote) && d->up[0].s.on_seq)
        d->up[0].s.on_seq(d->up[0].s.u, seq);
    return seq;
}

static void snap_of(ev_snap *s, const tcp_conn *c)
{
    s->first_ts_ns = c->first_ts_ns;
    s->last_ts_ns = c->last_ts_ns;
    s->client = c->client;
    s->client_how = c->client_how;
    memcpy(s->syn, c->syn, 2);
    memcpy(s->fin, c->fin, 2);
    memcpy(s->rst, c->rst, 2);
}

/* Queue an event (and n bytes) for upper 1 in the current epoch's slot. Out of memory drops
 * the event and reports it: the connection then shows what a gap would. */
static int post(dissect *d, const ev *e, const uint8_t *p, size_t n)
{
    split *sp = d->sp;
    gw_buf *b = &sp->slots[sp->epoch % DISSECT_EPOCHS].evs;
    size_t pad = (8 - (n & 7)) & 7;
    if (gw_buf_reserve(b, sizeof *e + n + pad))
        return GW_ENOMEM;
    memcpy(b->data + b->len, e, sizeof *e);
    ((ev *)(void *)(b->data + b->len))->n = (uint32_t)n;
    b->len += sizeof *e;
    if (n)
        memcpy(b->data + b->len, p, n);
    memset(b->data + b->len + n, 0, pad);
    b->len += n + pad;
    return 0;
}

/* An event of connection cs numbered now, with c's fields as they stand; callers add the rest. */
static ev ev_of(dissect *d, conn_state *cs, const tcp_conn *c, int type)
{
    ev e;
    memset(&e, 0, sizeof e);
    e.seq = next_seq(d, cs);
    e.cs = cs;
    e.type = (uint8_t)type;
    snap_of(&e.snap, c);
    return e;
}

static void t_open(void *u, tcp_conn *c)
{
    dissect *d = u;
    d->st.conns++;
    conn_state *cs = gw_calloc(1, sizeof *cs); /* owned as the struct's comment says */
    /* Deal: the reading thread also reads, runs tcp for every connection and posts the other
     * thread's events (about a seventh of the work on small calls), so it keeps split_share
     * live connections of every 16 - one more while it keeps waiting for the other thread, two
     * fewer while the other keeps waiting for it. Output does not depend on the deal. */
    int who = 0;
    if (d->sp && cs) {
        uint64_t r = (uint64_t)(d->o.split_share + (d->sp->lean < 0) - 2 * (d->sp->lean > 0));
        who = d->sp->live[1] * r <= d->sp->live[0] * (16 - r);
    }
    if (cs) {
        cs->up = &d->up[who];
        cs->remote = who;
    }
    c->user = cs; /* NULL: out of memory, the connection is still counted but not decoded */
    if (!who) {
        if (d->sp)
            next_seq(d, cs);
        up_open(&d->up[0], cs, c);
        if (d->sp)
            d->sp->live[0]++;
        return;
    }
    d->sp->live[1]++;
    cs->mirror = *c;
    cs->mirror.user = NULL;
    ev e = ev_of(d, cs, c, EV_OPEN);
    (void)post(d, &e, NULL, 0);
}

static void t_data(void *u, tcp_conn *c, int dir, uint64_t off, const uint8_t *p, size_t n,
                   uint64_t pkt_no, int64_t ts)
{
    dissect *d = u;
    conn_state *cs = c->user;
    if (!cs)
        return;
    if (d->sp)
        d->sp->epoch_bytes += n;
    if (cs->remote) {
        ev e = ev_of(d, cs, c, EV_DATA);
        e.dir = (uint8_t)dir;
        e.off = off;
        e.pkt_no = pkt_no;
        e.ts = ts;
        (void)post(d, &e, p, n);
        return;
    }
    if (d->sp)
        next_seq(d, cs);
    if (cs->h2)
        h2_conn_data(cs->h2, dir, off, p, n, pkt_no, ts);
}

static void t_gap(void *u, tcp_conn *c, int dir, uint64_t off, uint64_t len, uint64_t pkt_no,
                  int64_t ts)
{
    dissect *d = u;
    conn_state *cs = c->user;
    if (cs && cs->remote) {
        ev e = ev_of(d, cs, c, EV_GAP);
        e.dir = (uint8_t)dir;
        e.off = off;
        e.len = len;
        e.pkt_no = pkt_no;
        e.ts = ts;
        (void)post(d, &e, NULL, 0);
        return;
    }
    if (d->sp)
        next_seq(d, cs);
    up_gap(&d->up[0], cs, c, dir, off, len, pkt_no, ts);
}

static void t_anomaly(void *u, tcp_conn *c, int dir, uint64_t pkt_no, const char *what)
{
    dissect *d = u;
    conn_state *cs = c->user;
    if (cs && cs->remote) {
        ev e = ev_of(d, cs, c, EV_ANOMALY);
        e.dir = (uint8_t)dir;
        e.pkt_no = pkt_no;
        e.what = what;
        (void)post(d, &e, NULL, 0);
        return;
    }
    if (d->sp)
        next_seq(d, cs);
    if (d->up[0].s.on_tcp_anomaly)
        d->up[0].s.on_tcp_anomaly(d->up[0].s.u, c, dir, pkt_no, what);
}

static void t_close(void *u, tcp_conn *c, int why)
{
    dissect *d = u;
    conn_state *cs = c->user;
    c->user = NULL;
    if (cs && cs->remote) {
        /* The whole tcp_conn travels: views read its counters when it closes. */
        d->sp->live[1]--;
        ev e = ev_of(d, cs, c, EV_CLOSE);
        e.why = why;
        tcp_conn full = *c;
        full.user = NULL;
        (void)post(d, &e, (const uint8_t *)&full, sizeof full);
        return;
    }
    if (d->sp) {
        next_seq(d, cs);
        d->sp->live[0]--;
    }
    up_close(&d->up[0], cs, c, why);
    gw_free(cs);
}

/* ---- upper 1's thread ------------------------------------------------------------------- */
static int64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* The copy follows the reader's tcp_conn, except where the layers above settled the client:
 * tcp only ever raises client_how (port guess, then SYN), the layers above set UPPER. */
static void apply_snap(tcp_conn *m, const ev_snap *s)
{
    m->first_ts_ns = s->first_ts_ns;
    m->last_ts_ns = s->last_ts_ns;
    if (s->client_how > m->client_how) {
        m->client = s->client;
        m->client_how = s->client_how;
    }
    memcpy(m->syn, s->syn, 2);
    memcpy(m->fin, s->fin, 2);
    memcpy(m->rst, s->rst, 2);
}

static void run_event(dissect *d, const ev *e, const uint8_t *p)
{
    upper *up = &d->up[1];
    conn_state *cs = e->cs;
    tcp_conn *m = &cs->mirror;
    if (up->s.on_seq)
        up->s.on_seq(up->s.u, e->seq);
    if (e->type == EV_CLOSE) {
        tcp_conn full;
        memcpy(&full, p, sizeof full);
        int client = m->client, how = m->client_how;
        *m = full;
        m->client = client;
        m->client_how = how;
    }
    apply_snap(m, &e->snap);
    switch (e->type) {
    case EV_OPEN: up_open(up, cs, m); break;
    case EV_DATA:
        if (cs->h2)
            h2_conn_data(cs->h2, e->dir, e->off, p, e->n, e->pkt_no, e->ts);
        break;
    case EV_GAP: up_gap(up, cs, m, e->dir, e->off, e->len, e->pkt_no, e->ts); break;
    case EV_ANOMALY:
        if (up->s.on_tcp_anomaly)
            up->s.on_tcp_anomaly(up->s.u, m, e->dir, e->pkt_no, e->what);
        break;
    case EV_CLOSE:
        up_close(up, cs, m, e->why);
        gw_free(cs);
        break;
    }
}

/* Waiting for the other thread: spin a little before sleeping. Waking a sleeping thread on a
 * virtual machine costs tens of microseconds (the other CPU was halted), several times the
 * usual wait at an epoch's end; the sleeper count spares the waker the wake-up call when no
 * one sleeps. */
#define SPIN_NS 50000
#if defined(__x86_64__) || defined(__i386__)
#define CPU_RELAX() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define CPU_RELAX() __asm__ __volatile__("yield")
#else
#define CPU_RELAX() ((void)0)
#endif

static int worker_may_go(split *sp, uint64_t e)
{
    return atomic_load(&sp->posted) > e || atomic_load(&sp->quit);
}
static int reader_may_go(split *sp, uint64_t e)
{
    return atomic_load(&sp->done_epoch) + DISSECT_EPOCHS > e;
}

/* Wait until ready(sp, arg); the time goes to idle_ns[who]. */
static void wait_for(split *sp, int (*ready)(split *, uint64_t), uint64_t arg, int who)
{
    if (ready(sp, arg))
        return;
    int64_t t0 = now_ns();
    for (unsigned i = 1; !ready(sp, arg); i++) {
        CPU_RELAX();
        if ((i & 63) == 0 && now_ns() - t0 > SPIN_NS) {
            pthread_mutex_lock(&sp->mu);
            sp->sleepers++;
            while (!ready(sp, arg))
                pthread_cond_wait(&sp->cv, &sp->mu);
            sp->sleepers--;
            pthread_mutex_unlock(&sp->mu);
            break;
        }
    }
    int64_t t = now_ns() - t0;
    pthread_mutex_lock(&sp->mu);
    sp->idle_ns[who] += t;
    pthread_mutex_unlock(&sp->mu);
}

/* Publish a new value of one of the counters the other thread waits on. */
static void publish(split *sp, _Atomic uint64_t *what, uint64_t v)
{
    pthread_mutex_lock(&sp->mu);
    atomic_store(what, v);
    if (sp->sleepers)
        pthread_cond_broadcast(&sp->cv);
    pthread_mutex_unlock(&sp->mu);
}

static void *split_main(void *arg)
{
    dissect *d = arg;
    split *sp = d->sp;
    for (uint64_t e = 0;; e++) {
        slot *s = &sp->slots[e % DISSECT_EPOCHS];
        wait_for(sp, worker_may_go, e, 1);
        if (atomic_load(&sp->posted) <= e)
            break; /* quit, and nothing more was posted */
        for (size_t o = 0; o < s->evs.len;) {
            const ev *x = (const ev *)(const void *)(s->evs.data + o);
            const uint8_t *p = s->evs.data + o + sizeof *x;
            run_event(d, x, p);
            o += sizeof *x + x->n + ((8 - (x->n & 7)) & 7);
        }
        if (d->up[1].s.on_epoch)
            d->up[1].s.on_epoch(d->up[1].s.u, e);
        if (!atomic_load(&sp->discard) && sp->merge)
            sp->merge(sp->merge_u, e);
        gw_buf_reset(&s->evs);
        publish(sp, &sp->done_epoch, e + 1);
    }
    return NULL;
}

/* Hand the current epoch over and open the next slot (waiting while it is still in use). */
static void end_epoch(dissect *d)
{
    split *sp = d->sp;
    if (d->up[0].s.on_epoch)
        d->up[0].s.on_epoch(d->up[0].s.u, sp->epoch);
    sp->epoch++;
    publish(sp, &sp->posted, sp->epoch);
    wait_for(sp, reader_may_go, sp->epoch, 0);
    /* Who has been waiting lately leans the deal of the next connections (1 ms of difference
     * in the decayed sums). */
    pthread_mutex_lock(&sp->mu);
    int64_t diff = sp->idle_ns[1] - sp->idle_ns[0];
    sp->lean = diff > 1000000 ? 1 : diff < -1000000 ? -1 : 0;
    sp->idle_ns[0] -= sp->idle_ns[0] >> 3;
    sp->idle_ns[1] -= sp->idle_ns[1] >> 3;
    pthread_mutex_unlock(&sp->mu);
    sp->epoch_pkts = 0;
    sp->epoch_bytes = 0;
}

/* End of the events: the last epoch goes over, the thread drains and stops. */
static void split_stop(dissect *d)
{
    split *sp = d->sp;
    if (!sp || !sp->started)
        return;
    end_epoch(d);
    pthread_mutex_lock(&sp->mu);
    atomic_store(&sp->quit, 1);
    pthread_cond_broadcast(&sp->cv);
    pthread_mutex_unlock(&sp->mu);
    pthread_join(sp->th, NULL);
    sp->started = 0;
}

/* ---- public ------------------------------------------------------------------------------ */
static int make(dissect **out, const dissect_opts *opts, const dissect_sink *sinks, int n)
{
    int rc = GW_ENOMEM;
    dissect *d = gw_calloc(1, sizeof *d); /* owned by the caller: dissect_del */
    *out = NULL;
    if (!d)
        return GW_ENOMEM;
    if (opts)
        d->o = *opts;
    else
        dissect_opts_default(&d->o);
    if (d->o.split_share < 3 || d->o.split_share > 14)
        d->o.split_share = 7; /* the default, and room for lean's +1 and -2 */
    d->nup = n;
    for (int i = 0; i < n; i++) {
        d->up[i].d = d;
        if (sinks)
            d->up[i].s = sinks[i];
    }
    rc = cap_decoder_new(&d->dec, &d->o.cap);
    if (rc)
        goto fail;
    tcp_callbacks tcb = {d, t_open, t_data, t_gap, t_anomaly, t_close};
    d->tcp = tcp_table_new(&d->o.tcp, &tcb);
    if (!d->tcp) {
        rc = GW_ENOMEM;
        goto fail;
    }
    d->st.first_ts_ns = -1;
    *out = d;
    return 0;
fail:
    dissect_del(d);
    return rc;
}

int dissect_new(dissect **out, const dissect_opts *opts, const dissect_sink *sink)
{
    return make(out, opts, sink, 1);
}

int dissect_new_split(dissect **out, const dissect_opts *opts, const dissect_sink sinks[2],
                      void (*merge)(void *mu, uint64_t epoch), void *merge_u)
{
    int rc = make(out, opts, sinks, 2);
    if (rc)
        return rc;
    dissect *d = *out;
    split *sp = gw_calloc(1, sizeof *sp); /* owned by d: split_free */
    if (!sp) {
        dissect_del(d);
        *out = NULL;
        return GW_ENOMEM;
    }
    pthread_mutex_init(&sp->mu, NULL);
    pthread_cond_init(&sp->cv, NULL);
    sp->merge = merge;
    sp->merge_u = merge_u;
    d->sp = sp;
    if (pthread_create(&sp->th, NULL, split_main, d) != 0) {
        dissect_del(d);
        *out = NULL;
        return GW_ENOMEM;
    }
    sp->started = 1;
    return 0;
}

int dissect_packet(dissect *d, const cap_packet *pkt)
{
    cap_layers l;
    dissect_pkt dp = {pkt, &l, 0, NULL, 0};
    const dissect_sink *s = &d->up[0].s;
    int rc = cap_decode(d->dec, pkt, &l);
    if (rc < 0)
        return rc;
    d->st.packets++;
    d->st.bytes += pkt->caplen;
    if (d->st.first_ts_ns < 0)
        d->st.first_ts_ns = pkt->ts_ns;
    d->st.last_ts_ns = pkt->ts_ns;
    dp.is_tcp = rc == 1;
    if (d->sp)
        next_seq(d, NULL);
    if (dp.is_tcp) {
        /* The tcp_conn is only known after tcp_table_add, but views want the packet's begin
         * before the records its bytes produce: begin is called with conn = NULL for TCP packets
         * and end with the conn filled in. */
        d->st.tcp_packets++;
        if (s->on_packet_begin)
            s->on_packet_begin(s->u, &dp);
        rc = tcp_table_add(d->tcp, &l, pkt->no, pkt->ts_ns, pkt->wirelen, &dp.conn, &dp.dir);
        if (rc == GW_ENOMEM)
            return rc;
    } else if (s->on_packet_begin) {
        s->on_packet_begin(s->u, &dp);
    }
    if (d->sp)
        next_seq(d, NULL);
    if (s->on_packet_end)
        s->on_packet_end(s->u, &dp);
    if (d->sp && (++d->sp->epoch_pkts >= EPOCH_PACKETS || d->sp->epoch_bytes >= EPOCH_BYTES))
        end_epoch(d);
    return 0;
}

void dissect_finish(dissect *d)
{
    if (d->finished)
        return;
    d->finished = 1;
    tcp_table_flush(d->tcp);
    split_stop(d);
}

void dissect_del(dissect *d)
{
    if (!d)
        return;
    if (d->sp && d->sp->started && !d->finished) {
        /* Dropped without finishing: upper 1 still frees its connections, merges nothing. */
        atomic_store(&d->sp->discard, 1);
        dissect_finish(d);
    }
    tcp_table_del(d->tcp);
    cap_decoder_del(d->dec);
    if (d->sp) {
        for (int i = 0; i < DISSECT_EPOCHS; i++)
            gw_buf_free(&d->sp->slots[i].evs);
        pthread_mutex_destroy(&d->sp->mu);
        pthread_cond_destroy(&d->sp->cv);
        gw_free(d->sp);
    }
    gw_free(d);
}

dissect_stats dissect_get_stats(const dissect *d)
{
    dissect_stats st = d->st;
    for (int i = 0; i < d->nup; i++) {
        st.h2_conns += d->up[i].h2_conns;
        st.calls += d->up[i].calls;
        st.frames += d->up[i].frames;
    }
    return st;
}
