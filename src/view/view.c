#include "view/view_impl.h"

#include <string.h>

#include "common/gw_err.h"
#include "common/gw_mem.h"

int view_new(view **out, int kind, const view_opts *o, dissect_sink *sink)
{
    int rc;
    view *v = gw_calloc(1, sizeof *v); /* owned by the caller: view_del */
    *out = NULL;
    if (!v)
        return GW_ENOMEM;
    v->kind = kind;
    v->o = *o;
    v->c = view_colors_get(o->color && !o->json);
    v->ts_base = -1;
    gw_buf_init(&v->out, 0);
    /* Only the JSON call log has work worth a second thread; live output stays on this one. */
    if (kind == VIEW_CALLS && o->json && !o->line_flush && view_out_new(&v->q, o->out, o->threads)) {
        view_del(v);
        return GW_ENOMEM;
    }
    memset(sink, 0, sizeof *sink);
    sink->u = v;
    switch (kind) {
    case VIEW_CALLS: rc = view_calls_init(v, sink); break;
    case VIEW_FRAMES:
    case VIEW_TREE: rc = view_frames_init(v, sink); break;
    case VIEW_CONV: rc = view_conv_init(v, sink); break;
    case VIEW_STATS: rc = view_stats_init(v, sink); break;
    default: rc = GW_EINVAL;
    }
    if (rc) {
        view_del(v);
        return rc;
    }
    *out = v;
    return 0;
}

void view_put_job(view *v, view_job *j, int last)
{
    if (v->q) {
        if (view_out_text(v->q, &v->out) || view_out_job(v->q, j, last)) {
            v->err = GW_ENOMEM;
            if (last)
                view_job_unref(j);
        }
        return;
    }
    if (last && atomic_load(&j->state) == 0) {
        /* Nobody reads its text after this: straight into the output, not into a buffer of
         * its own (megabytes, fresh pages each time) and then copied. */
        j->render(j, &v->out);
    } else {
        view_job_render(j);
        gw_buf_append(&v->out, j->text.data, j->text.len);
    }
    if (last)
        view_job_unref(j);
}

void view_sync(view *v)
{
    view_flush(v);
    if (v->q && view_out_sync(v->q))
        v->err = GW_EIO;
}

void view_flush(view *v)
{
    if (v->split)
        return; /* the text waits for its epoch's merge */
    if (v->q) {
        if (view_out_text(v->q, &v->out))
            v->err = GW_ENOMEM;
        return;
    }
    if (view_flush_buf(&v->out, v->o.out))
        v->err = GW_EIO;
    if (v->o.line_flush)
        fflush(v->o.out);
}

void view_record_done(view *v)
{
    v->count++;
    if (v->o.max_count && v->count >= v->o.max_count)
        v->done = 1;
    if (v->o.line_flush || v->out.len >= VIEW_FLUSH_AT)
        view_flush(v);
}

int view_pkt_selected(const view *v, uint64_t no)
{
    if (no < v->o.first_pkt)
        return 0;
    if (v->o.last_pkt && no > v->o.last_pkt)
        return 0;
    return 1;
}

int view_finish(view *v)
{
    view_pair_end(v);
    if (v->finish)
        v->finish(v);
    view_sync(v);
    if (fflush(v->o.out) != 0)
        v->err = GW_EIO;
    return v->err;
}

int view_done(const view *v)
{
    return v->done || (v->q && view_out_failed(v->q)) || atomic_load(&v->merge_err);
}

void view_del(view *v)
{
    if (!v)
        return;
    if (v->del_state)
        v->del_state(v); /* the calls' references; queued uses hold their own */
    view_out_del(v->q);  /* drains the queue: its jobs read the view's options */
    view_del(v->peer);
    view_pair_free(v);
    gw_buf_free(&v->out);
    gw_free(v);
}
