/* The ordered output queue and its writer thread (see view_out.h). One producer (the dissecting
 * thread), one consumer (the worker). The worker takes the whole queue at once, so the lock is
 * taken about once per batch, not per entry. */
#include "view/view_out.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "common/gw_err.h"
#include "common/gw_mem.h"

/* The producer renders a job itself when this much is already queued: the worker is behind.
 * Well above one job's weight (a 1 MB message weighs 3 MB), or it would render every big one. */
#define RENDER_HERE_AT (8u << 20)
/* Rendered text kept for a later use (a message written alone now and in its call later): past
 * this, text is dropped and rendered again when needed, so that long calls do not pile it up. */
#define KEEP_TEXT_MAX (4u << 20)
/* Entries are handed over in batches of this weight (one lock and at most one wake-up each). */
#define BATCH (256u << 10)

typedef struct entry {
    struct entry *next;
    view_job *job;  /* NULL: text */
    size_t weight;  /* counted in pending */
    size_t len;
    uint8_t text[]; /* len bytes when job is NULL */
} entry;

struct view_out {
    FILE *f;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t has_work, has_room, idle;
    entry *head, *tail;       /* under mu */
    entry *bhead, *btail;     /* the producer's batch, not yet handed over */
    size_t bweight;
    int closing;              /* under mu */
    int busy;                 /* the worker holds a batch: under mu */
    int sleeping;             /* the worker waits for work: under mu */
    atomic_size_t pending;    /* bytes queued and not yet written */
    gw_buf wb;                /* the worker's output, written in large pieces */
    atomic_size_t kept;       /* text held by jobs for later uses (KEEP_TEXT_MAX) */
    atomic_int producer_waiting;
    atomic_int err;
};

int view_out_write(FILE *f, const void *p, size_t n)
{
    int fd = fileno(f);
    if (n < 65536 || fd < 0)
        return n && fwrite(p, 1, n, f) != n ? GW_EIO : 0;
    if (fflush(f) != 0)
        return GW_EIO;
    const uint8_t *s = p;
    while (n) {
        ssize_t k = write(fd, s, n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return GW_EIO;
        }
        s += k;
        n -= (size_t)k;
    }
    return 0;
}

void view_job_render(view_job *j)
{
    int expect = 0;
    if (atomic_compare_exchange_strong(&j->state, &expect, 1)) {
        if (!j->text.data) { /* large: in pages a freed one left mapped */
            size_t cap;
            j->text.data = gw_big_alloc(j->weight, &cap);
            j->text.cap = j->text.data ? cap : 0;
        }
        j->render(j, &j->text);
        atomic_store(&j->state, 2);
        return;
    }
    while (atomic_load(&j->state) != 2) /* the other thread is rendering it: not for long */
        sched_yield();
}

void view_job_unref(view_job *j)
{
    if (j && atomic_fetch_sub(&j->refs, 1) == 1) {
        if (j->kept_in)
            atomic_fetch_sub(j->kept_in, j->kept);
        gw_big_put(j->text.data);
        j->free(j);
    }
}

#define WRITE_AT (1u << 20)

static void out_flush(view_out *q)
{
    if (!atomic_load(&q->err)) { /* after a failed write the rest is dropped */
        int rc = view_out_write(q->f, q->wb.data, q->wb.len);
        if (rc)
            atomic_store(&q->err, rc);
    }
    gw_buf_reset(&q->wb);
}

static void write_entry(view_out *q, entry *e)
{
    view_job *j = e->job;
    if (!j) {
        gw_buf_append(&q->wb, e->text, e->len);
    } else {
        int expect = 0;
        /* Our entry holds the only reference: nobody else will read its text, so it renders
         * straight into the output (no buffer of its own, no copy). */
        if (atomic_load(&j->refs) == 1 && atomic_compare_exchange_strong(&j->state, &expect, 1)) {
            j->render(j, &q->wb);
        } else {
            view_job_render(j);
            gw_buf_append(&q->wb, j->text.data, j->text.len);
            if (!j->kept_in && atomic_load(&j->refs) > 1) { /* another use will follow */
                if (atomic_load(&q->kept) + j->text.cap <= KEEP_TEXT_MAX) {
                    j->kept = j->text.cap;
                    atomic_fetch_add(&q->kept, j->kept);
                    j->kept_in = &q->kept;
                } else {
                    gw_big_put(j->text.data);
                    j->text = (gw_buf){0};
                    atomic_store(&j->state, 0); /* whoever needs it next renders it again */
                }
            }
        }
        view_job_unref(j);
    }
    if (q->wb.len >= WRITE_AT)
        out_flush(q);
}

static void *worker(void *arg)
{
    view_out *q = arg;
    pthread_mutex_lock(&q->mu);
    for (;;) {
        while (!q->head && !q->closing) {
            q->sleeping = 1;
            pthread_cond_wait(&q->has_work, &q->mu);
            q->sleeping = 0;
        }
        entry *e = q->head;
        if (!e)
            break; /* closing, and everything is written */
        q->head = q->tail = NULL;
        q->busy = 1;
        pthread_mutex_unlock(&q->mu);
        while (e) {
            entry *next = e->next;
            size_t w = e->weight;
            write_entry(q, e);
            gw_free(e);
            /* seq_cst with the producer's flag: one of us sees the other (no lost wake-up). */
            size_t left = atomic_fetch_sub(&q->pending, w) - w;
            if (left <= VIEW_OUT_MAX / 2 && atomic_load(&q->producer_waiting)) {
                pthread_mutex_lock(&q->mu);
                pthread_cond_signal(&q->has_room);
                pthread_mutex_unlock(&q->mu);
            }
            e = next;
        }
        out_flush(q);
        if (fflush(q->f) != 0)
            atomic_store(&q->err, GW_EIO);
        pthread_mutex_lock(&q->mu);
        q->busy = 0;
        if (!q->head)
            pthread_cond_broadcast(&q->idle);
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

int view_out_new(view_out **out, FILE *f, int threads)
{
    *out = NULL;
    if (threads < 2)
        return 0;
    view_out *q = gw_calloc(1, sizeof *q); /* owned by the caller: view_out_del */
    if (!q)
        return GW_ENOMEM;
    q->f = f;
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->has_work, NULL);
    pthread_cond_init(&q->has_room, NULL);
    pthread_cond_init(&q->idle, NULL);
    if (pthread_create(&q->th, NULL, worker, q) != 0) {
        pthread_mutex_destroy(&q->mu);
        pthread_cond_destroy(&q->has_work);
        pthread_cond_destroy(&q->has_room);
        pthread_cond_destroy(&q->idle);
        gw_free(q);
        return 0; /* one thread it is */
    }
    *out = q;
    return 0;
}

/* Hand the producer's batch to the worker; wait while too much is queued. */
static void publish(view_out *q)
{
    if (!q->bhead)
        return;
    atomic_fetch_add(&q->pending, q->bweight);
    pthread_mutex_lock(&q->mu);
    if (q->tail)
        q->tail->next = q->bhead;
    else
        q->head = q->bhead;
    q->tail = q->btail;
    if (q->sleeping)
        pthread_cond_signal(&q->has_work);
    pthread_mutex_unlock(&q->mu);
    q->bhead = q->btail = NULL;
    q->bweight = 0;
    if (atomic_load(&q->pending) <= VIEW_OUT_MAX)
        return;
    /* Too much queued (a slow reader of our output): wait until half of it is written. */
    pthread_mutex_lock(&q->mu);
    atomic_store(&q->producer_waiting, 1);
    while (atomic_load(&q->pending) > VIEW_OUT_MAX / 2)
        pthread_cond_wait(&q->has_room, &q->mu);
    atomic_store(&q->producer_waiting, 0);
    pthread_mutex_unlock(&q->mu);
}

static void push(view_out *q, entry *e)
{
    e->next = NULL;
    if (q->btail)
        q->btail->next = e;
    else
        q->bhead = e;
    q->btail = e;
    q->bweight += e->weight;
    if (q->bweight >= BATCH)
        publish(q);
}

int view_out_text(view_out *q, gw_buf *b)
{
    if (!b->len)
        return 0;
    if (!q->bhead) {
        /* Nothing of ours is waiting: when the worker has written everything too, this text is
         * next in order and goes out from here, without a copy or a wake-up (traffic of small
         * messages makes no jobs, and the worker would only copy text). The worker only gets
         * work from us, so it stays idle while we write. */
        pthread_mutex_lock(&q->mu);
        int idle = !q->head && !q->busy;
        pthread_mutex_unlock(&q->mu);
        if (idle) {
            int rc = atomic_load(&q->err) ? 0 : view_out_write(q->f, b->data, b->len);
            if (rc)
                atomic_store(&q->err, rc);
            gw_buf_reset(b);
            return 0;
        }
    }
    entry *e = gw_malloc(sizeof *e + b->len); /* owned by the queue until written */
    if (!e)
        return GW_ENOMEM;
    e->job = NULL;
    e->len = e->weight = b->len;
    memcpy(e->text, b->data, b->len);
    gw_buf_reset(b);
    push(q, e);
    return 0;
}

int view_out_job(view_out *q, view_job *j, int last)
{
    entry *e = gw_malloc(sizeof *e); /* owned by the queue until written */
    if (!e)
        return GW_ENOMEM;
    if (atomic_load(&j->state) == 0 && atomic_load(&q->pending) + q->bweight > RENDER_HERE_AT)
        view_job_render(j); /* the worker is behind: share the work */
    if (!last)
        atomic_fetch_add(&j->refs, 1);
    e->job = j;
    e->len = 0;
    e->weight = j->weight;
    push(q, e);
    return 0;
}

int view_out_sync(view_out *q)
{
    publish(q);
    pthread_mutex_lock(&q->mu);
    while (q->head || q->busy)
        pthread_cond_wait(&q->idle, &q->mu);
    pthread_mutex_unlock(&q->mu);
    return atomic_load(&q->err);
}

int view_out_failed(const view_out *q)
{
    return atomic_load(&((view_out *)(uintptr_t)q)->err) != 0;
}

void view_out_del(view_out *q)
{
    if (!q)
        return;
    publish(q);
    pthread_mutex_lock(&q->mu);
    q->closing = 1;
    pthread_cond_signal(&q->has_work);
    pthread_mutex_unlock(&q->mu);
    pthread_join(q->th, NULL);
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->has_work);
    pthread_cond_destroy(&q->has_room);
    pthread_cond_destroy(&q->idle);
    gw_buf_free(&q->wb);
    gw_free(q);
}
