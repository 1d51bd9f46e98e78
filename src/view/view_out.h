/* view_out: a view's output in order, optionally written by a second thread. The dissecting
 * thread queues text and jobs (message renderings: base64 and protobuf JSON, most of --json's
 * cost); a worker renders the jobs and writes everything in the order it was queued, so the
 * bytes are exactly what one thread would print. Queued bytes are bounded (VIEW_OUT_MAX): the
 * producer renders jobs itself when the worker falls behind and waits beyond the bound.
 * Private to src/view. */
#ifndef VIEW_OUT_H
#define VIEW_OUT_H
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>

#include "common/gw_buf.h"

#define VIEW_OUT_MAX (12u << 20)

/* A job is rendered once, by whichever thread claims it first, and may be written several times
 * (a message alone and again inside its call). Embed it first in the owner's struct. */
typedef struct view_job view_job;
struct view_job {
    atomic_int refs;        /* the creator's, plus one per queued use */
    atomic_int state;       /* 0 new, 1 being rendered, 2 done */
    gw_buf text;            /* the rendering once state is 2 */
    size_t weight;          /* estimate of the rendering's size, counted against the bound */
    size_t kept;            /* text bytes counted in the queue's kept budget (view_out.c) */
    atomic_size_t *kept_in; /* that budget, once counted */
    void (*render)(view_job *j, gw_buf *out);
    void (*free)(view_job *j); /* frees the owner's struct (text is freed here) */
};

typedef struct view_out view_out;

/* threads > 1 starts the worker; otherwise everything happens on the caller's thread and `out`
 * is NULL. Returns 0 or GW_ENOMEM (when the thread can not start, out is NULL: one thread). */
int view_out_new(view_out **out, FILE *f, int threads);
/* Queue the bytes of b and empty it (or write them at once when nothing is queued or being
 * written: the order is the same). */
int view_out_text(view_out *q, gw_buf *b);
/* Queue one use of j: it takes a reference, or with `last` the caller's own (then nothing else
 * holds one, and the worker renders j straight into the output). On GW_ENOMEM nothing is taken. */
int view_out_job(view_out *q, view_job *j, int last);
/* Wait until everything queued is written. Returns 0 or GW_EIO (a write failed, sticky). */
int view_out_sync(view_out *q);
/* A write failed on the worker (the producer may stop early). */
int view_out_failed(const view_out *q);
/* Waits for the worker, stops it. NULL is fine. */
void view_out_del(view_out *q);

/* Render j now on this thread if nobody has (state 0 -> 2). */
void view_job_render(view_job *j);
void view_job_unref(view_job *j);
/* Write n bytes to f; large runs skip stdio's buffer. Returns 0 or GW_EIO. */
int view_out_write(FILE *f, const void *p, size_t n);

#endif
