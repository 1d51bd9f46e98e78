/* Split reading: two views of one kind fed by two dissecting threads, merged back into the order
 * one view would print. Each view keeps its text per epoch with a mark per event (dissect's
 * on_seq); when both threads are done with an epoch, view_pair_merge interleaves the two texts
 * by event number. Views that print only at the end (--stats) add the second view's totals to
 * the first's before printing. */
#include "view/view_impl.h"

#include <errno.h>
#include <string.h>
#include <sys/uio.h>

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

/* The merged runs go out with writev straight from the two views' buffers: JSON of small calls
 * is 2 KB a call, and copying it into one buffer first cost the merging thread a tenth. */
#define NIOV 512

typedef struct iov_out {
    struct iovec v[NIOV];
    int n;
} iov_out;

static void flush_iov(view *v, iov_out *o)
{
    struct iovec *iv = o->v;
    int n = o->n;
    o->n = 0;
    while (n > 0) {
        ssize_t k = writev(v->fd, iv, n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            atomic_store(&v->merge_err, GW_EIO);
            return;
        }
        while (n > 0 && (size_t)k >= iv->iov_len) {
            k -= (ssize_t)iv->iov_len;
            iv++;
            n--;
        }
        if (n > 0) {
            iv->iov_base = (char *)iv->iov_base + k;
            iv->iov_len -= (size_t)k;
        }
    }
}

static void put(view *v, iov_out *o, const uint8_t *p, size_t n)
{
    if (!n)
        return;
    struct iovec *last = o->n ? &o->v[o->n - 1] : NULL;
    if (last && (const uint8_t *)last->iov_base + last->iov_len == p) {
        last->iov_len += n; /* the same view's next run */
        return;
    }
    if (o->n == NIOV)
        flush_iov(v, o);
    o->v[o->n++] = (struct iovec){(void *)p, n};
}

void view_pair_merge(void *first, uint64_t epoch)
{
    view *v = first;
    view_epoch *a = &v->ep[epoch % DISSECT_EPOCHS], *b = &v->peer->ep[epoch % DISSECT_EPOCHS];
    size_t i = 0, j = 0, ao = 0, bo = 0;
    iov_out o;
    o.n = 0;
    while (i < a->n || j < b->n) {
        if (j == b->n || (i < a->n && a->m[i].seq < b->m[j].seq)) {
            put(v, &o, a->text.data + ao, a->m[i].end - ao);
            ao = a->m[i++].end;
        } else {
            put(v, &o, b->text.data + bo, b->m[j].end - bo);
            bo = b->m[j++].end;
        }
    }
    flush_iov(v, &o);
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
    /* Merged text bypasses stdio: what it holds goes first, and it holds nothing after. */
    v[0]->fd = fileno(o->out);
    if (v[0]->fd < 0 || fflush(o->out) != 0) {
        view_del(v[0]);
        return GW_EIO;
    }
    *out = v[0];
    return 0;
}

/* After dissect_finish (every epoch merged): the rest of the merged text goes out, the peer's
 * totals come in, and the first view prints its end as one view would. */
void view_pair_end(view *v)
{
    if (!v->peer || !v->split)
        return;
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
}
