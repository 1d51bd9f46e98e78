/* The reflection scan beside the main pass (see cli.h). The scan's thread owes nothing to the
 * rest: it reads the file on its own descriptor and leaves one int. Output reaches spec_write
 * from the view's threads under the stream's lock; mu orders it with the verdict. */
/* fopencookie: _GNU_SOURCE comes from the build */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "capture/cap_scan.h"
#include "cli.h"
#include "common/gw_buf.h"

/* Output held before the verdict; a pass that makes more waits for the scan. */
#define SPEC_HOLD (8u << 20)

enum { HOLDING, OPEN, DROP, FAILED };

struct cli_spec {
    const cap_needle *nd; /* borrowed from the caller, which outlives the scan */
    size_t nnd;
    unsigned threads; /* reading threads for the scan (cap_scan_file_threads) */
    const char *file;
    int fd; /* where output goes once open */
    pthread_t th;
    int found; /* the scan's answer, read after pthread_join */
    pthread_mutex_t mu;
    int state;  /* under mu */
    int joined; /* under mu */
    gw_buf held;
    FILE *out;
};

static void *scan_main(void *arg)
{
    cli_spec *s = arg;
    char msg[512];
    /* Unreadable: the main pass says so. */
    s->found = cap_scan_file_threads(s->file, s->nd, s->nnd, s->threads, msg, sizeof msg) == 1;
    return NULL;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t k = write(fd, p, n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Under mu: wait for the scan, then let the held output go or drop it. */
static void settle(cli_spec *s)
{
    if (s->joined)
        return;
    pthread_join(s->th, NULL);
    s->joined = 1;
    s->state = s->found ? DROP : OPEN;
    if (s->state == OPEN && s->held.len && write_all(s->fd, (const char *)s->held.data, s->held.len))
        s->state = FAILED; /* later writes fail too, and cli_spec_end says so */
    gw_buf_free(&s->held);
}

static ssize_t spec_write(void *c, const char *p, size_t n)
{
    cli_spec *s = c;
    pthread_mutex_lock(&s->mu);
    if (s->state == HOLDING && s->held.len + n > SPEC_HOLD)
        settle(s);
    int st = s->state, rc = 0;
    if (st == HOLDING)
        rc = gw_buf_append(&s->held, p, n);
    pthread_mutex_unlock(&s->mu);
    if (rc || st == FAILED || (st == OPEN && write_all(s->fd, p, n))) {
        errno = rc ? ENOMEM : st == FAILED ? EIO : errno;
        return -1;
    }
    return (ssize_t)n;
}

cli_spec *cli_spec_start(const char *file, const cap_needle *nd, size_t nnd, unsigned threads,
                         int fd)
{
    cli_spec *s = calloc(1, sizeof *s); /* owned by the caller: cli_spec_end */
    if (!s)
        return NULL;
    s->nd = nd;
    s->nnd = nnd;
    s->threads = threads;
    s->file = file;
    s->fd = fd;
    gw_buf_init(&s->held, 0);
    pthread_mutex_init(&s->mu, NULL);
    cookie_io_functions_t io = {NULL, spec_write, NULL, NULL};
    if (!(s->out = fopencookie(s, "w", io))) {
        pthread_mutex_destroy(&s->mu);
        free(s);
        return NULL;
    }
    if (pthread_create(&s->th, NULL, scan_main, s) != 0) {
        fclose(s->out);
        pthread_mutex_destroy(&s->mu);
        free(s);
        return NULL;
    }
    return s;
}

FILE *cli_spec_out(cli_spec *s) { return s->out; }

int cli_spec_found(cli_spec *s)
{
    pthread_mutex_lock(&s->mu);
    settle(s);
    int found = s->state == DROP && s->found;
    pthread_mutex_unlock(&s->mu);
    return found;
}

int cli_spec_end(cli_spec *s)
{
    if (!s)
        return 0;
    int rc = fflush(s->out) != 0;
    pthread_mutex_lock(&s->mu);
    settle(s);
    rc |= s->state == FAILED;
    pthread_mutex_unlock(&s->mu);
    rc |= fclose(s->out) != 0;
    pthread_mutex_destroy(&s->mu);
    gw_buf_free(&s->held);
    free(s);
    return rc;
}
