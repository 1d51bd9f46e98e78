/* Split reading: two views of one kind fed by two dissecting threads, merged back into the order
 * one view would print. Each view keeps its text per epoch with a mark per event (dissect's
 * on_seq); when both threads are done with an epoch, view_pair_merge interleaves the two texts
 * by event number. Views that print only at the end (--stats) add the second view's totals to
 * the first's before printing. */
#include "view/view_impl.h"

#include <string.h>

#include "common/gw_err.h"
#include "common/gw_mem.h"

#define KEEP_MAX (1u << 20)

/* Close the run of text appended since the last mark: it came from event cur_seq. */
static int mark(view *v)
{
    size_t end = v->cur.n ? v->cur.m[v->cur.n - 1].end : 0;
    if (v->out.len == end)
        return 0;
    if (v->cur.n == v->cur.cap) {
        size_t nc = v->cur.cap ? v->cur.cap * 2 : 256;
        view_mark *nm = gw_realloc(v->cur.m, nc * sizeof *nm);
        if (!nm)
            return GW_ENOMEM;
        v->cur.m = nm;
        v->cur.cap = nc;
    }
    v->cur.m[v->cur.n++] = (view_mark){v->cur_seq, v->out.len};
    return 0;
}

static void on_seq(void *u, uint64_t seq)
{
    view *v = u;
    if (mark(v))
        v->err = GW_ENOMEM;
    v->cur_seq = seq;
}

/* The epoch's text and marks move to its slot (whose emptied buffers come back for reuse). */
static void on_epoch(void *u, uint64_t epoch)
{
    view *v = u;
    if (mark(v))
        v->err = GW_ENOMEM;
    view_epoch *e = &v->ep[epoch % DISSECT_EPOCHS];
    gw_buf t = e->text;
    e->text = v->out;
    v->out = t;
    gw_buf_reset(&v->out);
    view_mark *m = e->m;
    size_t cap = e->cap;
    e->m = v->cur.m;
    e->n = v->cur.n;
    e->cap = v->cur.cap;
    v->cur.m = m;
    v->cur.cap = cap;
    v->cur.n = 0;
}

static void flush_merged(view *v)
{
    if (v->mout.len && view_out_write(v->o.out, v->mout.data, v->mout.len))
        atomic_store(&v->merge_err, GW_EIO);
    gw_buf_reset(&v->mout);
}

/* Small runs gather into writes of VIEW_FLUSH_AT; large ones go out as they are. */
static void put(view *v, const uint8_t *p, size_t n)
{
    if (v->mout.len + n > VIEW_FLUSH_AT)
        flush_merged(v);
    if (n >= VIEW_FLUSH_AT) {
        if (view_out_write(v->o.out, p, n))
            atomic_store(&v->merge_err, GW_EIO);
    } else if (gw_buf_append(&v->mout, p, n)) {
        atomic_store(&v->merge_err, GW_ENOMEM);
    }
}

void view_pair_merge(void *first, uint64_t epoch)
{
    view *v = first;
    view_epoch *a = &v->ep[epoch % DISSECT_EPOCHS], *b = &v->peer->ep[epoch % DISSECT_EPOCHS];
    size_t i = 0, j = 0, ao = 0, bo = 0;
    while (i < a->n || j < b->n) {
        if (j == b->n || (i < a->n && a->m[i].seq < b->m[j].seq)) {
            put(v, a->text.data + ao, a->m[i].end - ao);
            ao = a->m[i++].end;
        } else {
            put(v, b->text.data + bo, b->m[j].end - bo);
            bo = b->m[j++].end;
        }
    }
    a->n = b->n = 0;
    /* The buffers come back to the views for reuse, except large ones (an epoch that ended
     * calls with megabytes of JSON): kept, every slot would hold its largest epoch forever. */
    gw_buf *t[2] = {&a->text, &b->text};
    for (int k = 0; k < 2; k++) {
        if (t[k]->cap > KEEP_MAX)
            gw_buf_free(t[k]);
        else
            gw_buf_reset(t[k]);
    }
}

int view_new_pair(view **out, int kind, const view_opts *o, dissect_sink sinks[2])
{
    view *v[2] = {NULL, NULL};
    *out = NULL;
    if ((kind != VIEW_CALLS && kind != VIEW_STATS) || o->max_count || o->line_flush)
        return GW_EINVAL;
    view_opts one = *o;
    one.threads = 1; /* the second dissecting thread is the second core */
    for (int k = 0; k < 2; k++) {
        int rc = view_new(&v[k], kind, &one, &sinks[k]);
        if (rc) {
            view_del(v[0]);
            return rc;
        }
        v[k]->split = 1;
        sinks[k].on_seq = on_seq;
        sinks[k].on_epoch = on_epoch;
    }
    v[0]->peer = v[1];
    *out = v[0];
    return 0;
}

/* After dissect_finish (every epoch merged): the rest of the merged text goes out, the peer's
 * totals come in, and the first view prints its end as one view would. */
void view_pair_end(view *v)
{
    if (!v->peer || !v->split)
        return;
    flush_merged(v);
    int me = atomic_load(&v->merge_err);
    if (me)
        v->err = me;
    if (v->absorb)
        v->absorb(v, v->peer);
    if (v->peer->err)
        v->err = v->peer->err;
    v->split = 0;
}

void view_pair_free(view *v)
{
    for (int i = 0; i < DISSECT_EPOCHS; i++) {
        gw_buf_free(&v->ep[i].text);
        gw_free(v->ep[i].m);
    }
    gw_free(v->cur.m);
    gw_buf_free(&v->mout);
}
