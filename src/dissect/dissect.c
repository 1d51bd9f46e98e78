#include "dissect/dissect.h"

#include <string.h>

#include "common/gw_err.h"
#include "common/gw_mem.h"

/* Per TCP connection: the layers above tcp. Owned by the tcp_conn (user), freed in on_close. */
typedef struct conn_state {
    h2_conn *h2;
    grpc_conn *grpc;
    int detected;   /* on_detect(H2_YES) seen */
} conn_state;

struct dissect {
    dissect_opts o;
    dissect_sink s;
    cap_decoder *dec;
    tcp_table *tcp;
    dissect_stats st;
    int64_t now_ns; /* timestamp of the packet being processed */
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
    dissect *d = u;
    d->st.calls++;
    if (d->s.on_call_start)
        d->s.on_call_start(d->s.u, c);
}
static void g_message(void *u, grpc_call *c, const grpc_msg *m)
{
    dissect *d = u;
    if (d->s.on_message)
        d->s.on_message(d->s.u, c, m);
}
static void g_call_end(void *u, grpc_call *c)
{
    dissect *d = u;
    if (d->s.on_call_end)
        d->s.on_call_end(d->s.u, c);
}

/* ---- h2 -> grpc and sink --------------------------------------------------------------- */
static void h_preface(void *u, h2_conn *h, int dir, uint64_t pkt_no, int64_t ts)
{
    dissect *d = u;
    if (d->s.on_preface)
        d->s.on_preface(d->s.u, h2_conn_tcp(h), dir);
}
static void h_frame(void *u, h2_conn *h, const h2_frame_rec *fr)
{
    dissect *d = u;
    conn_state *cs = *h2_conn_user(h);
    d->st.frames++;
    if (d->s.on_frame)
        d->s.on_frame(d->s.u, h2_conn_tcp(h), fr);
    if (cs && cs->grpc)
        grpc_conn_frame(cs->grpc, fr);
}
static void h_skip(void *u, h2_conn *h, int dir, uint64_t off, uint64_t len, const char *why,
                   uint64_t pkt_no, int64_t ts)
{
    dissect *d = u;
    conn_state *cs = *h2_conn_user(h);
    if (d->s.on_h2_skip)
        d->s.on_h2_skip(d->s.u, h2_conn_tcp(h), dir, off, len, why);
    if (cs && cs->grpc)
        grpc_conn_skip(cs->grpc, dir, len);
}
static void h_anomaly(void *u, h2_conn *h, int dir, uint32_t stream, uint64_t pkt_no,
                      const char *what)
{
    dissect *d = u;
    if (d->s.on_h2_anomaly)
        d->s.on_h2_anomaly(d->s.u, h2_conn_tcp(h), dir, stream, what);
}
static void h_detect(void *u, h2_conn *h, int state)
{
    dissect *d = u;
    conn_state *cs = *h2_conn_user(h);
    if (state != H2_YES || !cs || cs->detected)
        return;
    cs->detected = 1;
    d->st.h2_conns++;
    if (!d->o.no_grpc) {
        grpc_callbacks gcb = {d, g_call_start, g_message, g_call_end};
        cs->grpc = grpc_conn_new(&d->o.grpc, &gcb, h);
    }
}

/* ---- tcp -> h2 and sink ---------------------------------------------------------------- */
static int port_forced(const dissect *d, const tcp_conn *c)
{
    for (int i = 0; i < d->o.n_h2_ports; i++)
        if (c->ep[0].port == d->o.h2_ports[i] || c->ep[1].port == d->o.h2_ports[i])
            return 1;
    return 0;
}

static void t_open(void *u, tcp_conn *c)
{
    dissect *d = u;
    d->st.conns++;
    conn_state *cs = gw_calloc(1, sizeof *cs); /* owned by c->user until t_close */
    if (cs) {
        h2_opts ho = d->o.h2;
        ho.force = ho.force || port_forced(d, c);
        h2_callbacks hcb = {d, h_preface, h_frame, h_skip, h_anomaly, h_detect};
        cs->h2 = h2_conn_new(&ho, &hcb, c);
        if (cs->h2) {
            *h2_conn_user(cs->h2) = cs;
        } else {
            gw_free(cs);
            cs = NULL;
        }
    }
    c->user = cs; /* NULL: out of memory, the connection is still counted but not decoded */
    if (d->s.on_conn_open)
        d->s.on_conn_open(d->s.u, c);
}

static void t_data(void *u, tcp_conn *c, int dir, uint64_t off, const uint8_t *p, size_t n,
                   uint64_t pkt_no, int64_t ts)
{
    conn_state *cs = c->user;
    (void)u;
    if (cs)
        h2_conn_data(cs->h2, dir, off, p, n, pkt_no, ts);
}

static void t_gap(void *u, tcp_conn *c, int dir, uint64_t off, uint64_t len, uint64_t pkt_no,
                  int64_t ts)
{
    dissect *d = u;
    conn_state *cs = c->user;
    if (d->s.on_tcp_gap)
        d->s.on_tcp_gap(d->s.u, c, dir, off, len);
    if (cs)
        h2_conn_gap(cs->h2, dir, off, len, pkt_no, ts);
}

static void t_anomaly(void *u, tcp_conn *c, int dir, uint64_t pkt_no, const char *what)
{
    dissect *d = u;
    if (d->s.on_tcp_anomaly)
        d->s.on_tcp_anomaly(d->s.u, c, dir, pkt_no, what);
}

static void t_close(void *u, tcp_conn *c, int why)
{
    dissect *d = u;
    conn_state *cs = c->user;
    if (cs)
        h2_conn_end(cs->h2);
    int state = cs ? h2_conn_state(cs->h2) : H2_NO;
    if (cs && cs->grpc) {
        grpc_conn_close(cs->grpc, c->last_ts_ns);
        grpc_conn_del(cs->grpc);
    }
    if (d->s.on_conn_close)
        d->s.on_conn_close(d->s.u, c, why, state);
    if (cs) {
        h2_conn_del(cs->h2);
        gw_free(cs);
    }
    c->user = NULL;
}

/* ---- public ------------------------------------------------------------------------------ */
int dissect_new(dissect **out, const dissect_opts *opts, const dissect_sink *sink)
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
    if (sink)
        d->s = *sink;
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

int dissect_packet(dissect *d, const cap_packet *pkt)
{
    cap_layers l;
    dissect_pkt dp = {pkt, &l, 0, NULL, 0};
    int rc = cap_decode(d->dec, pkt, &l);
    if (rc < 0)
        return rc;
    d->st.packets++;
    d->st.bytes += pkt->caplen;
    if (d->st.first_ts_ns < 0)
        d->st.first_ts_ns = pkt->ts_ns;
    d->st.last_ts_ns = pkt->ts_ns;
    d->now_ns = pkt->ts_ns;
    dp.is_tcp = rc == 1;
    if (dp.is_tcp) {
        /* The tcp_conn is only known after tcp_table_add, but views want the packet's begin
         * before the records its bytes produce: begin is called with conn = NULL for TCP packets
         * and end with the conn filled in. */
        d->st.tcp_packets++;
        if (d->s.on_packet_begin)
            d->s.on_packet_begin(d->s.u, &dp);
        rc = tcp_table_add(d->tcp, &l, pkt->no, pkt->ts_ns, pkt->wirelen, &dp.conn, &dp.dir);
        if (rc == GW_ENOMEM)
            return rc;
    } else if (d->s.on_packet_begin) {
        d->s.on_packet_begin(d->s.u, &dp);
    }
    if (d->s.on_packet_end)
        d->s.on_packet_end(d->s.u, &dp);
    return 0;
}

void dissect_finish(dissect *d)
{
    tcp_table_flush(d->tcp);
}

void dissect_del(dissect *d)
{
    if (!d)
        return;
    tcp_table_del(d->tcp);
    cap_decoder_del(d->dec);
    gw_free(d);
}

const dissect_stats *dissect_get_stats(const dissect *d)
{
    return &d->st;
}
