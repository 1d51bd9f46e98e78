/* --conversations: every TCP connection with its endpoints, packets and bytes each way, gaps,
 * start and duration (what tshark -z conv,tcp gives). One small summary per connection is kept
 * until the end, sorted by connection index. */
#include "view/view_impl.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/gw_err.h"
#include "common/gw_mem.h"

typedef struct conv {
    uint64_t index;
    tcp_endpoint ep[2];
    int client; /* ep index, -1 unknown */
    uint64_t pkts[2], bytes[2], payload[2], gap_bytes[2];
    uint32_t ngaps[2];
    int64_t first_ts, last_ts;
    int why, h2;
} conv;

typedef struct cstate {
    conv *v;   /* owned */
    size_t n, cap;
    int64_t first_ts;
} cstate;

static void on_packet_begin(void *u, const dissect_pkt *dp)
{
    view *v = u;
    if (v->ts_base < 0)
        v->ts_base = dp->pkt->ts_ns;
}

static void take_counts(conv *x, const tcp_conn *c)
{
    for (int d = 0; d < 2; d++) {
        x->pkts[d] = c->pkts[d];
        x->bytes[d] = c->wire_bytes[d];
        x->payload[d] = c->payload_bytes[d];
    }
    x->last_ts = c->last_ts_ns;
}

/* tcp goes on counting a closed connection's stragglers (a last ACK, a RST after the FINs):
 * tshark counts them too, so the summary taken at close is brought up to date. They come soon
 * after the close, so the search looks at the newest summaries only. */
static void on_packet_end(void *u, const dissect_pkt *dp)
{
    view *v = u;
    cstate *st = v->state;
    if (!dp->conn || !dp->conn->closed)
        return;
    for (size_t i = st->n, k = 0; i > 0 && k < 256; i--, k++)
        if (st->v[i - 1].index == dp->conn->index) {
            take_counts(&st->v[i - 1], dp->conn);
            return;
        }
}

static void on_conn_close(void *u, const tcp_conn *c, int why, int h2_state)
{
    view *v = u;
    cstate *st = v->state;
    if (v->o.conn >= 0 && (int64_t)c->index != v->o.conn)
        return;
    if (st->n == st->cap) {
        size_t ncap = st->cap ? st->cap * 2 : 64;
        conv *nv = gw_realloc(st->v, ncap * sizeof *nv);
        if (!nv) {
            v->err = GW_ENOMEM;
            return;
        }
        st->v = nv;
        st->cap = ncap;
    }
    conv *x = &st->v[st->n++];
    x->index = c->index;
    memcpy(x->ep, c->ep, sizeof x->ep);
    x->client = c->client_how == TCP_CLIENT_UNKNOWN ? -1 : c->client;
    take_counts(x, c);
    for (int d = 0; d < 2; d++) {
        x->gap_bytes[d] = c->gap_bytes[d];
        x->ngaps[d] = c->ngaps[d];
    }
    x->first_ts = c->first_ts_ns;
    x->why = why;
    x->h2 = h2_state == H2_YES;
}

static int by_index(const void *a, const void *b)
{
    const conv *x = a, *y = b;
    return x->index < y->index ? -1 : x->index > y->index;
}

static const char *why_name(int why)
{
    switch (why) {
    case TCP_CLOSE_FIN: return "fin";
    case TCP_CLOSE_RST: return "rst";
    case TCP_CLOSE_IDLE: return "idle";
    default: return "open";
    }
}

static void finish(view *v)
{
    cstate *st = v->state;
    gw_buf *b = &v->out;
    if (st->n) /* qsort wants a real array, even for nothing */
        qsort(st->v, st->n, sizeof *st->v, by_index);
    if (!v->o.json) {
        gw_buf_printf(b, "TCP conversations: %zu\n", st->n);
        gw_buf_printf(b, "%4s  %-46s     %-46s %19s %19s %12s %10s %s\n", "#", "A", "B",
                      "A->B pkts/bytes", "B->A pkts/bytes", "start", "duration", "notes");
    }
    for (size_t i = 0; i < st->n && !(v->o.max_count && i >= v->o.max_count); i++) {
        const conv *x = &st->v[i];
        int64_t rel = x->first_ts - v->ts_base;
        int64_t dur = x->last_ts - x->first_ts;
        if (v->o.json) {
            gw_buf_printf(b, "{\"type\":\"conversation\",\"conn\":%" PRIu64 ",\"a\":\"", x->index);
            view_fmt_endpoint(b, &x->ep[0]);
            gw_buf_append(b, "\",\"b\":\"", 7);
            view_fmt_endpoint(b, &x->ep[1]);
            gw_buf_printf(b, "\",\"client\":%s", x->client < 0 ? "null" : x->client ? "\"b\"" : "\"a\"");
            for (int d = 0; d < 2; d++)
                gw_buf_printf(b, ",\"%s\":{\"packets\":%" PRIu64 ",\"bytes\":%" PRIu64
                                 ",\"payload_bytes\":%" PRIu64 ",\"gaps\":%" PRIu32
                                 ",\"gap_bytes\":%" PRIu64 "}",
                              d ? "b_to_a" : "a_to_b", x->pkts[d], x->bytes[d], x->payload[d],
                              x->ngaps[d], x->gap_bytes[d]);
            gw_buf_append(b, ",\"start\":\"", 10);
            view_fmt_rfc3339(b, x->first_ts);
            gw_buf_printf(b, "\",\"rel_start_ns\":%" PRId64 ",\"duration_ns\":%" PRId64
                             ",\"end\":\"%s\",\"http2\":%s}\n",
                          rel, dur, why_name(x->why), x->h2 ? "true" : "false");
        } else {
            gw_buf tmp;
            gw_buf_init(&tmp, 0);
            gw_buf_printf(b, "%4" PRIu64 "  ", x->index);
            for (int e = 0; e < 2; e++) {
                gw_buf_reset(&tmp);
                view_fmt_endpoint(&tmp, &x->ep[e]);
                gw_buf_printf(b, "%-46.*s%s", (int)tmp.len, (const char *)tmp.data,
                              e ? " " : (x->client == 0 ? " --> " : x->client == 1 ? " <-- " : " <-> "));
            }
            gw_buf_free(&tmp);
            for (int d = 0; d < 2; d++)
                gw_buf_printf(b, "%8" PRIu64 " %10" PRIu64 " ", x->pkts[d], x->bytes[d]);
            gw_buf_printf(b, "%5" PRId64 ".%06" PRId64 " %6" PRId64 ".%03" PRId64 "  %s%s",
                          rel / 1000000000, (rel % 1000000000) / 1000, dur / 1000000000,
                          (dur % 1000000000) / 1000000, why_name(x->why), x->h2 ? " http2" : "");
            if (x->ngaps[0] + x->ngaps[1])
                gw_buf_printf(b, " gaps=%" PRIu32 "/%" PRIu64 "B", x->ngaps[0] + x->ngaps[1],
                              x->gap_bytes[0] + x->gap_bytes[1]);
            gw_buf_putc(b, '\n');
        }
        if (b->len >= VIEW_FLUSH_AT)
            view_flush(v);
    }
}

static void del_state(view *v)
{
    cstate *st = v->state;
    if (st) {
        gw_free(st->v);
        gw_free(st);
    }
}

int view_conv_init(view *v, dissect_sink *s)
{
    cstate *st = gw_calloc(1, sizeof *st); /* owned by the view */
    if (!st)
        return GW_ENOMEM;
    v->state = st;
    v->finish = finish;
    v->del_state = del_state;
    s->on_packet_begin = on_packet_begin;
    s->on_packet_end = on_packet_end;
    s->on_conn_close = on_conn_close;
    return 0;
}
