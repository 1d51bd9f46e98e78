/* rpc_server: the gRPC server on nghttp2. Threads: one epoll loop per thread, each with its own
 * SO_REUSEPORT listening socket, so the kernel spreads connections over the cores and a connection
 * (and every call on it) lives on one thread without locks. Output is coalesced: nghttp2's send
 * callback appends to a per-connection buffer, written once per loop round. */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <nghttp2/nghttp2.h>

#include "common/gw_err.h"
#include "common/gw_mem.h"
#include "grpc/grpc_call.h"
#include "grpc/grpc_msg.h"
#include "rpc/rpc_int.h"

#define MAX_WORKERS 64
#define MAX_HEADER_BYTES (64u << 10)
#define OUT_HIGH_WATER (256u << 10) /* stop pulling frames from nghttp2 beyond this */
#define ACCEPT_ENCODING "identity,deflate,gzip"
#define POOL_CLASSES 16            /* nghttp2 allocator: 64-byte size classes up to 1 KiB */
#define POOL_STEP 64
#define POOL_KEEP_BYTES (64u << 10) /* free blocks kept per class */
#define CALL_POOL 256              /* finished calls kept per thread for reuse */
#define CALL_BUF_KEEP (64u << 10)  /* ... unless one of their buffers grew beyond this */

/* The request headers request_begin looks at, found once as they arrive (no lookups later). */
enum { H_METHOD, H_PATH, H_CT, H_ENC, H_ACC, H_TIMEOUT, H_COUNT };

static int known_header(const uint8_t *name, size_t n)
{
    switch (n) {
    case 5: return !memcmp(name, ":path", 5) ? H_PATH : -1;
    case 7: return !memcmp(name, ":method", 7) ? H_METHOD : -1;
    case 12: return !memcmp(name, "content-type", 12) ? H_CT : !memcmp(name, "grpc-timeout", 12) ? H_TIMEOUT : -1;
    case 13: return !memcmp(name, "grpc-encoding", 13) ? H_ENC : -1;
    case 20: return !memcmp(name, "grpc-accept-encoding", 20) ? H_ACC : -1;
    default: return -1;
    }
}

typedef struct method {
    char *path;
    rpc_handler h;
} method;

typedef struct worker worker;
typedef struct conn conn;

struct rpc_server {
    rpc_server_opts o;
    method *methods;
    size_t n_methods, cap_methods;
    worker *workers; /* n_workers, each with its listening socket once listen succeeded */
    int n_workers;
    int started;
    nghttp2_session_callbacks *cbs;
    nghttp2_option *ngopt;
};

struct worker {
    rpc_server *srv;
    rpc_loop *loop;
    int lfd, efd;
    rpc_watch lwatch, ewatch;
    pthread_t th;
    int running;
    int stopping;
    conn *conns;      /* all live connections (doubly linked) */
    size_t n_conns;
    conn *dirty;      /* connections to flush (or free) after this loop round */
    rpc_call *pool;   /* recycled calls (linked by next), n_pool of them */
    size_t n_pool;
    void *freel[POOL_CLASSES]; /* nghttp2's small blocks, by size class (see pool_malloc) */
    size_t nfree[POOL_CLASSES];
    nghttp2_mem mem;
};

struct conn {
    worker *w;
    int fd;
    rpc_watch watch;
    uint32_t events;
    nghttp2_session *ng;
    gw_buf out;
    size_t out_off;
    int dead;          /* close at the end of the round */
    int in_dirty;
    conn *next_dirty;
    conn *prev, *next;
    rpc_call *calls;   /* open calls (doubly linked) */
    int shutdown;      /* 0, 1: GOAWAY(2^31-1) + PING sent, 2: final GOAWAY sent */
    int ping_sent;
    rpc_timer ping_timer;
};

struct rpc_call {
    conn *cn;
    int32_t sid;
    const method *m;
    rpc_call *prev, *next;
    rpc_mdlist req;    /* every request header as received (wire values) */
    uint16_t known[H_COUNT]; /* index + 1 in req of the last of each header request_begin reads */
    rpc_mdlist md;     /* request metadata for the handler (-bin decoded), built on first use */
    int md_built;
    int headers_done;  /* request headers processed */
    int accept_gzip;   /* client's grpc-accept-encoding has gzip */
    int compress;      /* responses gzip'd (decided when the response headers go out) */
    int want_compress; /* -1 not set, else rpc_call_set_compress */
    char *req_encoding; /* NULL = identity */
    grpc_deframer df;
    gw_buf scratch;    /* decompression */
    uint32_t n_msgs;
    int last_compressed;
    gw_buf out;        /* framed response messages not yet taken by nghttp2 */
    size_t out_off;
    rpc_mdlist resp_h, trailers; /* trailers: the handler's; status and message go first */
    char status[12];    /* grpc-status, set by finish */
    gw_buf message;     /* grpc-message, percent-encoded, NUL-terminated ("" if none) */
    int response_submitted;
    int finished;
    int rst_after;     /* RST_STREAM(CANCEL) once our trailers are out, if the client still sends */
    int half_closed;
    rpc_timer deadline, utimer;
    void (*ufn)(rpc_call *c, void *u);
    void *uarg;
    void *user;
};

void rpc_server_opts_default(rpc_server_opts *o)
{
    memset(o, 0, sizeof *o);
    /* CPUs we may run on (taskset), as Go sizes GOMAXPROCS; all online CPUs if unknown. */
    cpu_set_t set;
    long n = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : sysconf(_SC_NPROCESSORS_ONLN);
    o->threads = n < 1 ? 1 : n > MAX_WORKERS ? MAX_WORKERS : (int)n;
    o->max_recv = RPC_MAX_MESSAGE;
    o->max_streams = 1000;
    o->ping_wait_ms = 1000;
}

/* ---------------------------------------------------------------- nghttp2 allocator */

/* nghttp2 allocates and frees several small blocks per stream (stream, frames, header copies);
 * a worker's sessions all run on its thread, so a lock-free per-worker free list per size class
 * takes glibc malloc off the hot path. Blocks carry a 16-byte header with their class. Sanitizer
 * builds use libc directly so ASan still sees nghttp2's memory. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GW_HAS_ASAN 1
#endif
#endif
#ifndef GW_HAS_ASAN
#define GW_HAS_ASAN 0
#endif

typedef struct phdr {
    size_t cls; /* POOL_CLASSES: a large block, straight from libc */
    size_t pad; /* keeps the payload 16-byte aligned */
} phdr;

static void *pool_malloc(size_t n, void *ud)
{
    worker *w = ud;
    size_t cls = n ? (n - 1) / POOL_STEP : 0;
    phdr *h;
    if (cls < POOL_CLASSES && w->freel[cls]) {
        h = w->freel[cls];
        memcpy(&w->freel[cls], h, sizeof(void *));
        w->nfree[cls]--;
    } else {
        if (cls >= POOL_CLASSES && n > SIZE_MAX - sizeof *h)
            return NULL;
        h = gw_malloc(sizeof *h + (cls < POOL_CLASSES ? (cls + 1) * POOL_STEP : n));
        if (!h)
            return NULL;
    }
    h->cls = cls < POOL_CLASSES ? cls : POOL_CLASSES;
    return h + 1;
}

static void pool_free(void *p, void *ud)
{
    worker *w = ud;
    if (!p)
        return;
    phdr *h = (phdr *)p - 1;
    size_t cls = h->cls;
    if (cls < POOL_CLASSES && w->nfree[cls] * (cls + 1) * POOL_STEP < POOL_KEEP_BYTES) {
        memcpy(h, &w->freel[cls], sizeof(void *));
        w->freel[cls] = h;
        w->nfree[cls]++;
        return;
    }
    gw_free(h);
}

static void *pool_calloc(size_t nmemb, size_t size, void *ud)
{
    if (size && nmemb > SIZE_MAX / size)
        return NULL;
    void *p = pool_malloc(nmemb * size, ud);
    if (p)
        memset(p, 0, nmemb * size);
    return p;
}

static void *pool_realloc(void *p, size_t n, void *ud)
{
    if (!p)
        return pool_malloc(n, ud);
    phdr *h = (phdr *)p - 1;
    if (h->cls == POOL_CLASSES) {
        if (n > SIZE_MAX - sizeof *h)
            return NULL;
        phdr *nh = gw_realloc(h, sizeof *h + n);
        return nh ? nh + 1 : NULL;
    }
    size_t cap = (h->cls + 1) * POOL_STEP;
    if (n <= cap)
        return p;
    void *q = pool_malloc(n, ud);
    if (!q)
        return NULL;
    memcpy(q, p, cap);
    pool_free(p, ud);
    return q;
}

static void pool_release(worker *w)
{
    for (int i = 0; i < POOL_CLASSES; i++) {
        while (w->freel[i]) {
            void *h = w->freel[i];
            memcpy(&w->freel[i], h, sizeof(void *));
            gw_free(h);
        }
        w->nfree[i] = 0;
    }
}

static nghttp2_mem *worker_mem(worker *w)
{
    w->mem.mem_user_data = w;
    w->mem.malloc = pool_malloc;
    w->mem.free = pool_free;
    w->mem.calloc = pool_calloc;
    w->mem.realloc = pool_realloc;
#if defined(__SANITIZE_ADDRESS__) || GW_HAS_ASAN
    return NULL;
#else
    return &w->mem;
#endif
}

/* ---------------------------------------------------------------- connections */

static void conn_dirty(conn *c)
{
    if (c->in_dirty)
        return;
    c->in_dirty = 1;
    c->next_dirty = c->w->dirty;
    c->w->dirty = c;
}

static void conn_kill(conn *c)
{
    c->dead = 1;
    conn_dirty(c);
}

static const method *find_method(const rpc_server *s, const char *path)
{
    for (size_t i = 0; i < s->n_methods; i++)
        if (strcmp(s->methods[i].path, path) == 0)
            return &s->methods[i];
    return NULL;
}

static void call_destroy(rpc_call *c)
{
    rpc_mdlist_free(&c->req);
    rpc_mdlist_free(&c->md);
    rpc_mdlist_free(&c->resp_h);
    rpc_mdlist_free(&c->trailers);
    grpc_deframer_free(&c->df);
    gw_buf_free(&c->scratch);
    gw_buf_free(&c->out);
    gw_buf_free(&c->message);
    gw_free(c);
}

static void call_free(rpc_call *c, int notify)
{
    conn *cn = c->cn;
    rpc_loop *l = cn->w->loop;
    rpc_timer_cancel(l, &c->deadline);
    rpc_timer_cancel(l, &c->utimer);
    if (notify && c->m && c->m->h.on_end && c->headers_done)
        c->m->h.on_end(c, c->m->h.u);
    if (c->prev)
        c->prev->next = c->next;
    else
        cn->calls = c->next;
    if (c->next)
        c->next->prev = c->prev;
    gw_free(c->req_encoding);
    worker *w = cn->w;
    if (w->n_pool < CALL_POOL && c->out.cap <= CALL_BUF_KEEP && c->scratch.cap <= CALL_BUF_KEEP &&
        c->df.body.cap <= CALL_BUF_KEEP && c->message.cap <= CALL_BUF_KEEP) {
        /* Recycle: keep the buffers and header storage, clear everything else. */
        rpc_mdlist req = c->req, md = c->md, rh = c->resp_h, tr = c->trailers;
        gw_buf out = c->out, scratch = c->scratch, body = c->df.body, msg = c->message;
        rpc_mdlist_reset(&req);
        rpc_mdlist_reset(&md);
        rpc_mdlist_reset(&rh);
        rpc_mdlist_reset(&tr);
        gw_buf_reset(&out);
        gw_buf_reset(&scratch);
        gw_buf_reset(&body);
        gw_buf_reset(&msg);
        memset(c, 0, sizeof *c);
        c->req = req;
        c->md = md;
        c->resp_h = rh;
        c->trailers = tr;
        c->out = out;
        c->scratch = scratch;
        c->df.body = body;
        c->message = msg;
        c->next = w->pool;
        w->pool = c;
        w->n_pool++;
        return;
    }
    call_destroy(c);
}

static void conn_free(conn *c)
{
    worker *w = c->w;
    rpc_timer_cancel(w->loop, &c->ping_timer);
    while (c->calls) {
        nghttp2_session_set_stream_user_data(c->ng, c->calls->sid, NULL);
        call_free(c->calls, 1);
    }
    nghttp2_session_del(c->ng);
    rpc_loop_remove(w->loop, c->fd);
    close(c->fd);
    gw_buf_free(&c->out);
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    w->n_conns--;
    gw_free(c);
}

/* Pull frames from nghttp2 and write them; wait for EPOLLOUT when the socket is full. */
static void conn_flush(conn *c)
{
    for (;;) {
        if (nghttp2_session_send(c->ng) != 0) {
            c->dead = 1;
            return;
        }
        while (c->out_off < c->out.len) {
            ssize_t k = send(c->fd, c->out.data + c->out_off, c->out.len - c->out_off, MSG_NOSIGNAL);
            if (k < 0) {
                if (errno == EINTR)
                    continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK)
                    goto wait;
                c->dead = 1;
                return;
            }
            c->out_off += (size_t)k;
        }
        c->out_off = 0;
        gw_buf_reset(&c->out);
        if (!nghttp2_session_want_write(c->ng))
            break;
    }
wait:;
    int pending = c->out_off < c->out.len;
    if (!pending && !nghttp2_session_want_read(c->ng) && !nghttp2_session_want_write(c->ng)) {
        c->dead = 1;
        return;
    }
    uint32_t ev = EPOLLIN | (pending ? EPOLLOUT : 0);
    if (ev != c->events && rpc_loop_mod(c->w->loop, c->fd, ev, &c->watch) == 0)
        c->events = ev;
}

static void worker_flush(worker *w)
{
    while (w->dirty) {
        conn *c = w->dirty;
        w->dirty = c->next_dirty;
        c->in_dirty = 0;
        if (!c->dead)
            conn_flush(c);
        if (c->dead)
            conn_free(c);
    }
}

static void conn_io(void *u, uint32_t events)
{
    conn *c = u;
    if (c->dead)
        return;
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
        uint8_t buf[16384];
        for (int rounds = 0; rounds < 8; rounds++) {
            ssize_t k = read(c->fd, buf, sizeof buf);
            if (k < 0 && errno == EINTR)
                continue;
            if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                break;
            if (k <= 0) {
                conn_kill(c);
                return;
            }
            ssize_t r = nghttp2_session_mem_recv(c->ng, buf, (size_t)k);
            if (r < 0) {
                conn_kill(c);
                return;
            }
            if ((size_t)k < sizeof buf)
                break;
        }
    }
    conn_dirty(c);
}

static void begin_shutdown(conn *c);

/* ---------------------------------------------------------------- responses */

static void push_nv(nghttp2_nv *nv, size_t *n, const char *name, const char *value, size_t vlen)
{
    nv[*n].name = (uint8_t *)(uintptr_t)name;
    nv[*n].namelen = strlen(name);
    nv[*n].value = (uint8_t *)(uintptr_t)value;
    nv[*n].valuelen = vlen;
    nv[*n].flags = NGHTTP2_NV_FLAG_NONE;
    (*n)++;
}

/* grpc-status, grpc-message (if any), then the handler's trailers. */
static void push_trailers(rpc_call *c, nghttp2_nv *nv, size_t *n, size_t max)
{
    push_nv(nv, n, "grpc-status", c->status, strlen(c->status));
    if (c->message.len > 1)
        push_nv(nv, n, "grpc-message", (const char *)c->message.data, c->message.len - 1);
    for (size_t i = 0; i < c->trailers.n && *n < max; i++)
        push_nv(nv, n, c->trailers.v[i].name, c->trailers.v[i].value, c->trailers.v[i].value_len);
}

static ssize_t read_out(nghttp2_session *ng, int32_t sid, uint8_t *buf, size_t len,
                        uint32_t *flags, nghttp2_data_source *src, void *ud)
{
    rpc_call *c = src->ptr;
    size_t k = rpc_out_take(&c->out, &c->out_off, buf, len);
    if (c->out.len == 0 && c->finished) {
        nghttp2_nv nv[64];
        size_t n = 0;
        *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
        push_trailers(c, nv, &n, 64);
        if (nghttp2_submit_trailer(ng, sid, nv, n) != 0)
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        return (ssize_t)k;
    }
    return k ? (ssize_t)k : NGHTTP2_ERR_DEFERRED;
}

static void add_response_headers(rpc_call *c, nghttp2_nv *nv, size_t *n, const char *status)
{
    push_nv(nv, n, ":status", status, strlen(status));
    if (strcmp(status, "200") != 0)
        return;
    push_nv(nv, n, "content-type", "application/grpc", 16);
    if (c->compress)
        push_nv(nv, n, "grpc-encoding", "gzip", 4);
    push_nv(nv, n, "grpc-accept-encoding", ACCEPT_ENCODING, sizeof ACCEPT_ENCODING - 1);
    for (size_t i = 0; i < c->resp_h.n && *n < 60; i++)
        push_nv(nv, n, c->resp_h.v[i].name, c->resp_h.v[i].value, c->resp_h.v[i].value_len);
}

static int submit_headers(rpc_call *c)
{
    nghttp2_nv nv[64];
    size_t n = 0;
    nghttp2_data_provider dp;
    if (c->response_submitted)
        return 0;
    c->compress = c->accept_gzip &&
                  (c->want_compress >= 0 ? c->want_compress
                                         : (c->req_encoding && !strcasecmp(c->req_encoding, "gzip")));
    add_response_headers(c, nv, &n, "200");
    dp.source.ptr = c;
    dp.read_callback = read_out;
    if (nghttp2_submit_response(c->cn->ng, c->sid, nv, n, &dp) != 0)
        return GW_ENOMEM;
    c->response_submitted = 1;
    conn_dirty(c->cn);
    return 0;
}

static int set_status(rpc_call *c, int status, const char *message)
{
    snprintf(c->status, sizeof c->status, "%d", status);
    gw_buf_reset(&c->message);
    if (message && *message)
        return rpc_percent_encode(message, &c->message);
    return 0;
}

static int finish(rpc_call *c, int status, const char *message, int rst)
{
    if (c->finished)
        return GW_EINVAL;
    c->finished = 1;
    c->rst_after = rst;
    rpc_timer_cancel(c->cn->w->loop, &c->deadline);
    int rc = set_status(c, status, message);
    if (rc)
        return rc;
    conn_dirty(c->cn);
    if (c->response_submitted) {
        nghttp2_session_resume_data(c->cn->ng, c->sid);
        return 0;
    }
    /* Trailers-Only: one HEADERS frame with END_STREAM. */
    nghttp2_nv nv[128];
    size_t n = 0;
    add_response_headers(c, nv, &n, "200");
    push_trailers(c, nv, &n, 128);
    c->response_submitted = 1;
    return nghttp2_submit_response(c->cn->ng, c->sid, nv, n, NULL) == 0 ? 0 : GW_ENOMEM;
}

/* An HTTP-level refusal (405, 415): no gRPC status, just the HTTP one. */
static void http_refuse(rpc_call *c, const char *status)
{
    nghttp2_nv nv[1];
    size_t n = 0;
    push_nv(nv, &n, ":status", status, strlen(status));
    c->finished = 1;
    c->response_submitted = 1;
    nghttp2_submit_response(c->cn->ng, c->sid, nv, n, NULL);
    conn_dirty(c->cn);
}

int rpc_call_send(rpc_call *c, const uint8_t *p, size_t n)
{
    if (c->finished)
        return GW_EINVAL;
    int rc = submit_headers(c);
    if (rc)
        return rc;
    rc = grpc_frame_encode(&c->out, p, n, c->compress);
    if (rc)
        return rc;
    nghttp2_session_resume_data(c->cn->ng, c->sid);
    conn_dirty(c->cn);
    return 0;
}

int rpc_call_finish(rpc_call *c, int status, const char *message)
{
    return finish(c, status, message, 0);
}

const char *rpc_call_path(const rpc_call *c)
{
    return c->m ? c->m->path : "";
}

static int reserved_header(const char *name);

/* The handler-facing metadata, from the request headers: only when a handler asks, since most
 * calls never look (the Greeter does not). The call is never really const here. */
static void build_md(const rpc_call *cc)
{
    rpc_call *c = (rpc_call *)(uintptr_t)cc;
    if (c->md_built)
        return;
    c->md_built = 1;
    for (size_t i = 0; i < c->req.n; i++) {
        const rpc_md *h = &c->req.v[i];
        int rc;
        if (reserved_header(h->name))
            continue;
        if (rpc_md_is_bin(h->name)) {
            gw_buf b;
            gw_buf_init(&b, 0);
            rc = rpc_base64_decode(h->value, h->value_len, &b);
            if (!rc)
                rc = rpc_mdlist_add(&c->md, h->name, strlen(h->name), b.len ? (char *)b.data : "",
                                    b.len);
            gw_buf_free(&b);
            if (rc == GW_EPARSE)
                continue; /* undecodable -bin value: dropped, as grpc-go does */
        } else {
            rc = rpc_mdlist_add(&c->md, h->name, strlen(h->name), h->value, h->value_len);
        }
        if (rc)
            return; /* out of memory: the handler sees what fitted */
    }
}

const char *rpc_call_metadata(const rpc_call *c, const char *name, size_t *len)
{
    build_md(c);
    const rpc_md *m = rpc_mdlist_get(&c->md, name);
    if (!m)
        return NULL;
    if (len)
        *len = m->value_len;
    return m->value;
}

size_t rpc_call_metadata_count(const rpc_call *c)
{
    build_md(c);
    return c->md.n;
}

int rpc_call_metadata_at(const rpc_call *c, size_t i, rpc_md *out)
{
    build_md(c);
    if (i >= c->md.n)
        return GW_EINVAL;
    *out = c->md.v[i];
    return 0;
}

static int add_md(rpc_mdlist *l, const char *name, const void *value, size_t len)
{
    if (!rpc_md_is_bin(name))
        return rpc_mdlist_add(l, name, strlen(name), value, len);
    gw_buf b;
    gw_buf_init(&b, 0);
    int rc = rpc_base64_encode(value, len, &b);
    if (!rc)
        rc = rpc_mdlist_add(l, name, strlen(name), b.len ? (char *)b.data : "", b.len);
    gw_buf_free(&b);
    return rc;
}

int rpc_call_add_header(rpc_call *c, const char *name, const void *value, size_t len)
{
    if (c->response_submitted)
        return GW_EINVAL;
    return add_md(&c->resp_h, name, value, len);
}

int rpc_call_add_trailer(rpc_call *c, const char *name, const void *value, size_t len)
{
    if (c->finished)
        return GW_EINVAL;
    return add_md(&c->trailers, name, value, len);
}

void rpc_call_set_compress(rpc_call *c, int on)
{
    c->want_compress = on ? 1 : 0;
}

static void utimer_fire(void *u)
{
    rpc_call *c = u;
    c->ufn(c, c->uarg);
}

void rpc_call_timer(rpc_call *c, int64_t ms, void (*fn)(rpc_call *c, void *u), void *u)
{
    c->ufn = fn;
    c->uarg = u;
    c->utimer.fn = utimer_fire;
    c->utimer.u = c;
    rpc_timer_arm(c->cn->w->loop, &c->utimer, ms);
}

void rpc_call_set_user(rpc_call *c, void *user)
{
    c->user = user;
}

size_t rpc_call_pending(const rpc_call *c)
{
    return c->out.len - c->out_off;
}

int rpc_call_compressed(const rpc_call *c)
{
    return c->last_compressed;
}

void *rpc_call_user(const rpc_call *c)
{
    return c->user;
}

/* ---------------------------------------------------------------- requests */

static void deadline_fire(void *u)
{
    rpc_call *c = u;
    finish(c, RPC_DEADLINE_EXCEEDED, "context deadline exceeded", 1);
}

static int reserved_header(const char *name)
{
    return name[0] == ':' || !strncmp(name, "grpc-", 5) || !strcmp(name, "te") ||
           !strcmp(name, "content-type");
}

/* The request headers are complete: validate in any header order, then dispatch. */
static void request_begin(rpc_call *c)
{
#define KNOWN(h) (c->known[h] ? &c->req.v[c->known[h] - 1] : NULL)
    const rpc_md *mth = KNOWN(H_METHOD), *path = KNOWN(H_PATH), *ct = KNOWN(H_CT);
    const rpc_md *enc = KNOWN(H_ENC), *acc = KNOWN(H_ACC), *to = KNOWN(H_TIMEOUT);
#undef KNOWN
    rpc_server *s = c->cn->w->srv;
    char msg[512];

    if (!mth || strcmp(mth->value, "POST") != 0) {
        http_refuse(c, "405");
        return;
    }
    if (!ct || strncmp(ct->value, "application/grpc", 16) != 0 ||
        (ct->value[16] && ct->value[16] != '+' && ct->value[16] != ';')) {
        http_refuse(c, "415");
        return;
    }
    c->accept_gzip = acc && rpc_list_has(acc->value, acc->value_len, "gzip");
    if (enc && strcasecmp(enc->value, "identity") != 0) {
        if (strcasecmp(enc->value, "gzip") && strcasecmp(enc->value, "deflate")) {
            snprintf(msg, sizeof msg, "grpc: Decompressor is not installed for grpc-encoding \"%.100s\"",
                     enc->value);
            rpc_mdlist_add(&c->resp_h, "grpc-accept-encoding", 20, ACCEPT_ENCODING,
                           sizeof ACCEPT_ENCODING - 1);
            finish(c, RPC_UNIMPLEMENTED, msg, 0);
            return;
        }
        c->req_encoding = gw_strdup(enc->value);
        if (!c->req_encoding) {
            finish(c, RPC_INTERNAL, "out of memory", 1);
            return;
        }
    }
    c->m = path ? find_method(s, path->value) : NULL;
    if (!c->m) {
        const char *p = path ? path->value : "";
        const char *slash = p[0] == '/' ? strrchr(p + 1, '/') : NULL;
        int known_service = 0;
        if (slash)
            for (size_t i = 0; i < s->n_methods && !known_service; i++)
                known_service = !strncmp(s->methods[i].path, p, (size_t)(slash - p + 1));
        if (!slash)
            snprintf(msg, sizeof msg, "malformed method name: \"%.200s\"", p);
        else if (known_service)
            snprintf(msg, sizeof msg, "unknown method %.200s for service %.*s", slash + 1,
                     (int)(slash - p - 1 > 200 ? 200 : slash - p - 1), p + 1);
        else
            snprintf(msg, sizeof msg, "unknown service %.*s",
                     (int)(slash - p - 1 > 200 ? 200 : slash - p - 1), p + 1);
        finish(c, RPC_UNIMPLEMENTED, msg, 0);
        return;
    }
    c->headers_done = 1;
    if (to) {
        int64_t ns = grpc_timeout_parse(to->value, to->value_len);
        if (ns >= 0) {
            c->deadline.fn = deadline_fire;
            c->deadline.u = c;
            rpc_timer_arm(c->cn->w->loop, &c->deadline, (ns + 999999) / 1000000);
        }
    }
}

static void on_msg(void *u, const grpc_frame_msg *m)
{
    rpc_call *c = u;
    if (c->finished)
        return;
    if (!m->body) {
        char msg[128];
        snprintf(msg, sizeof msg, "grpc: received message larger than max (%u vs. %zu)", m->length,
                 c->cn->w->srv->o.max_recv);
        finish(c, RPC_RESOURCE_EXHAUSTED, msg, 1);
        return;
    }
    const uint8_t *p = m->body;
    size_t n = m->body_len;
    if (m->compressed) {
        if (!c->req_encoding) {
            finish(c, RPC_INTERNAL, "grpc: compressed flag set with identity or empty encoding", 1);
            return;
        }
        gw_buf_reset(&c->scratch);
        int rc = grpc_decompress(c->req_encoding, p, n, &c->scratch, c->cn->w->srv->o.max_recv, 0);
        if (rc == GW_ECAP) {
            finish(c, RPC_RESOURCE_EXHAUSTED, "grpc: received message after decompression larger than max", 1);
            return;
        }
        if (rc) {
            finish(c, RPC_INTERNAL, "grpc: failed to decompress the received message", 1);
            return;
        }
        p = c->scratch.data ? c->scratch.data : (const uint8_t *)"";
        n = c->scratch.len;
    }
    c->n_msgs++;
    c->last_compressed = m->compressed != 0;
    if (c->n_msgs > 1 && (c->m->h.kind == RPC_UNARY || c->m->h.kind == RPC_SERVER_STREAMING)) {
        finish(c, RPC_INTERNAL, "grpc: too many request messages for a unary request", 1);
        return;
    }
    if (c->m->h.on_message)
        c->m->h.on_message(c, p, n, c->m->h.u);
}

static void half_close(rpc_call *c)
{
    if (c->half_closed)
        return;
    c->half_closed = 1;
    if (c->finished || !c->headers_done)
        return;
    if (grpc_deframer_pending(&c->df)) {
        finish(c, RPC_INTERNAL, "grpc: request stream ended inside a message", 0);
        return;
    }
    if (c->n_msgs == 0 && (c->m->h.kind == RPC_UNARY || c->m->h.kind == RPC_SERVER_STREAMING)) {
        finish(c, RPC_INTERNAL, "grpc: no request message for a unary request", 0);
        return;
    }
    if (c->m->h.on_half_close)
        c->m->h.on_half_close(c, c->m->h.u);
}

static int cb_begin_headers(nghttp2_session *ng, const nghttp2_frame *f, void *ud)
{
    conn *cn = ud;
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    worker *w = cn->w;
    rpc_call *c = w->pool;
    if (c) {
        w->pool = c->next;
        w->n_pool--;
        c->next = NULL;
        gw_buf body = c->df.body;
        grpc_deframer_init(&c->df, w->srv->o.max_recv);
        gw_buf_free(&c->df.body);
        c->df.body = body;
    } else {
        c = gw_calloc(1, sizeof *c);
        if (!c)
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        grpc_deframer_init(&c->df, w->srv->o.max_recv);
        gw_buf_init(&c->scratch, w->srv->o.max_recv + 64);
        gw_buf_init(&c->out, 0);
    }
    c->cn = cn;
    c->sid = f->hd.stream_id;
    c->want_compress = -1;
    c->req.limit = MAX_HEADER_BYTES;
    c->next = cn->calls;
    if (cn->calls)
        cn->calls->prev = c;
    cn->calls = c;
    nghttp2_session_set_stream_user_data(ng, c->sid, c);
    return 0;
}

static int cb_header(nghttp2_session *ng, const nghttp2_frame *f, const uint8_t *name, size_t nlen,
                     const uint8_t *value, size_t vlen, uint8_t flags, void *ud)
{
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0; /* request trailers carry nothing gRPC defines */
    rpc_call *c = nghttp2_session_get_stream_user_data(ng, f->hd.stream_id);
    if (!c)
        return 0;
    if (rpc_mdlist_add(&c->req, (const char *)name, nlen, (const char *)value, vlen) != 0 ||
        c->req.n > UINT16_MAX)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* over the header cap: reset the stream */
    int k = known_header(name, nlen);
    if (k >= 0)
        c->known[k] = (uint16_t)c->req.n; /* the last one wins, as rpc_mdlist_get would */
    return 0;
}

static int cb_frame_recv(nghttp2_session *ng, const nghttp2_frame *f, void *ud)
{
    conn *cn = ud;
    rpc_call *c = f->hd.stream_id ? nghttp2_session_get_stream_user_data(ng, f->hd.stream_id) : NULL;
    switch (f->hd.type) {
    case NGHTTP2_HEADERS:
        if (c && f->headers.cat == NGHTTP2_HCAT_REQUEST)
            request_begin(c);
        if (c && (f->hd.flags & NGHTTP2_FLAG_END_STREAM))
            half_close(c);
        break;
    case NGHTTP2_DATA:
        if (c && (f->hd.flags & NGHTTP2_FLAG_END_STREAM))
            half_close(c);
        break;
    case NGHTTP2_PING:
        if ((f->hd.flags & NGHTTP2_FLAG_ACK) && cn->shutdown == 1) {
            rpc_timer_cancel(cn->w->loop, &cn->ping_timer);
            begin_shutdown(cn);
        }
        break;
    default:
        break;
    }
    return 0;
}

static int cb_data_chunk(nghttp2_session *ng, uint8_t flags, int32_t sid, const uint8_t *data,
                         size_t len, void *ud)
{
    rpc_call *c = nghttp2_session_get_stream_user_data(ng, sid);
    if (!c || c->finished || !c->headers_done)
        return 0;
    if (grpc_deframer_feed(&c->df, data, len, on_msg, c) != 0) {
        finish(c, RPC_RESOURCE_EXHAUSTED, "out of memory", 1);
        return 0;
    }
    /* Refuse an oversized message as soon as its prefix says so, not after 4 MiB more. */
    if (!c->finished && c->df.overflow) {
        char msg[128];
        snprintf(msg, sizeof msg, "grpc: received message larger than max (%u vs. %zu)",
                 c->df.length, c->cn->w->srv->o.max_recv);
        finish(c, RPC_RESOURCE_EXHAUSTED, msg, 1);
    }
    return 0;
}

static int cb_frame_send(nghttp2_session *ng, const nghttp2_frame *f, void *ud)
{
    conn *cn = ud;
    if (f->hd.type == NGHTTP2_GOAWAY && cn->shutdown == 1 && !cn->ping_sent) {
        /* PING goes out after the first GOAWAY, so its ACK proves the client read that GOAWAY
         * (nghttp2 would otherwise send the PING first: it queues PINGs ahead of GOAWAY). */
        uint8_t opaque[8] = {'g', 'o', 'a', 'w', 'a', 'y', 0, 1};
        cn->ping_sent = 1;
        nghttp2_submit_ping(ng, NGHTTP2_FLAG_NONE, opaque);
        return 0;
    }
    if (f->hd.type != NGHTTP2_HEADERS || !(f->hd.flags & NGHTTP2_FLAG_END_STREAM))
        return 0;
    rpc_call *c = nghttp2_session_get_stream_user_data(ng, f->hd.stream_id);
    if (c && c->rst_after && !nghttp2_session_get_stream_remote_close(ng, f->hd.stream_id))
        nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, f->hd.stream_id, NGHTTP2_CANCEL);
    return 0;
}

static int cb_stream_close(nghttp2_session *ng, int32_t sid, uint32_t err, void *ud)
{
    rpc_call *c = nghttp2_session_get_stream_user_data(ng, sid);
    if (c) {
        nghttp2_session_set_stream_user_data(ng, sid, NULL);
        call_free(c, 1);
    }
    return 0;
}

static ssize_t cb_send(nghttp2_session *ng, const uint8_t *data, size_t len, int flags, void *ud)
{
    conn *cn = ud;
    if (cn->out.len - cn->out_off >= OUT_HIGH_WATER)
        return NGHTTP2_ERR_WOULDBLOCK;
    if (gw_buf_append(&cn->out, data, len) != 0)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    return (ssize_t)len;
}

/* ---------------------------------------------------------------- shutdown */

static void ping_timeout(void *u)
{
    begin_shutdown(u);
}

/* grpc-go's GracefulStop: GOAWAY(2^31-1) and a PING; the PING ACK (or a timeout) proves the
 * client has seen the first GOAWAY, so the real last stream id cannot race a new stream. */
static void begin_shutdown(conn *c)
{
    if (c->shutdown == 0) {
        c->shutdown = 1;
        nghttp2_submit_shutdown_notice(c->ng); /* the PING follows it: see cb_frame_send */
        c->ping_timer.fn = ping_timeout;
        c->ping_timer.u = c;
        rpc_timer_arm(c->w->loop, &c->ping_timer, c->w->srv->o.ping_wait_ms);
    } else if (c->shutdown == 1) {
        c->shutdown = 2;
        nghttp2_submit_goaway(c->ng, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(c->ng),
                              NGHTTP2_NO_ERROR, NULL, 0);
    }
    conn_dirty(c);
}

static void on_wake(void *u, uint32_t events)
{
    worker *w = u;
    uint64_t v;
    if (read(w->efd, &v, sizeof v) < 0 && errno != EAGAIN)
        return;
    if (w->stopping)
        return;
    w->stopping = 1;
    if (w->lfd >= 0) {
        rpc_loop_remove(w->loop, w->lfd);
        close(w->lfd);
        w->lfd = -1;
    }
    for (conn *c = w->conns; c; c = c->next)
        begin_shutdown(c);
}

/* ---------------------------------------------------------------- accept and threads */

static void on_accept(void *u, uint32_t events)
{
    worker *w = u;
    rpc_server *s = w->srv;
    for (;;) {
        int fd = accept4(w->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return; /* EAGAIN, or a transient error (EMFILE...): try again on the next event */
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        conn *c = gw_calloc(1, sizeof *c);
        if (!c) {
            close(fd);
            continue;
        }
        c->w = w;
        c->fd = fd;
        c->watch.fn = conn_io;
        c->watch.u = c;
        gw_buf_init(&c->out, 0);
        if (nghttp2_session_server_new3(&c->ng, s->cbs, c, s->ngopt, worker_mem(w)) != 0) {
            close(fd);
            gw_free(c);
            continue;
        }
        nghttp2_settings_entry iv[3] = {
            {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, s->o.max_streams},
            {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1u << 20},
            {NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES, 1}, /* simple per-stream queues (RFC 9218) */
        };
        nghttp2_submit_settings(c->ng, NGHTTP2_FLAG_NONE, iv, 3);
        nghttp2_session_set_local_window_size(c->ng, NGHTTP2_FLAG_NONE, 0, 8u << 20);
        c->events = EPOLLIN;
        if (rpc_loop_add(w->loop, fd, EPOLLIN, &c->watch) != 0) {
            nghttp2_session_del(c->ng);
            close(fd);
            gw_free(c);
            continue;
        }
        c->next = w->conns;
        if (w->conns)
            w->conns->prev = c;
        w->conns = c;
        w->n_conns++;
        conn_dirty(c);
    }
}

static void *worker_main(void *u)
{
    worker *w = u;
    while (!(w->stopping && w->n_conns == 0)) {
        if (rpc_loop_once(w->loop, -1) != 0)
            break;
        worker_flush(w);
    }
    /* A loop failure leaves connections behind: close them all. */
    while (w->conns)
        conn_free(w->conns);
    while (w->pool) {
        rpc_call *c = w->pool;
        w->pool = c->next;
        call_destroy(c);
    }
    w->n_pool = 0;
    pool_release(w); /* every session of this worker is gone */
    return NULL;
}

rpc_server *rpc_server_new(const rpc_server_opts *o)
{
    rpc_server *s = gw_calloc(1, sizeof *s);
    if (!s)
        return NULL;
    rpc_server_opts_default(&s->o);
    if (o) {
        if (o->threads > 0)
            s->o.threads = o->threads > MAX_WORKERS ? MAX_WORKERS : o->threads;
        if (o->max_recv)
            s->o.max_recv = o->max_recv;
        if (o->max_streams)
            s->o.max_streams = o->max_streams;
        if (o->ping_wait_ms > 0)
            s->o.ping_wait_ms = o->ping_wait_ms;
    }
    if (nghttp2_session_callbacks_new(&s->cbs) != 0 || nghttp2_option_new(&s->ngopt) != 0) {
        rpc_server_del(s);
        return NULL;
    }
    /* gRPC has no use for RFC 7540 priorities: keeping closed streams for the priority tree only
     * costs memory per call (see also SETTINGS_NO_RFC7540_PRIORITIES in on_accept). */
    nghttp2_option_set_no_closed_streams(s->ngopt, 1);
    nghttp2_session_callbacks_set_send_callback(s->cbs, cb_send);
    nghttp2_session_callbacks_set_on_begin_headers_callback(s->cbs, cb_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(s->cbs, cb_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(s->cbs, cb_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(s->cbs, cb_data_chunk);
    nghttp2_session_callbacks_set_on_frame_send_callback(s->cbs, cb_frame_send);
    nghttp2_session_callbacks_set_on_stream_close_callback(s->cbs, cb_stream_close);
    return s;
}

int rpc_server_add(rpc_server *s, const rpc_handler *h)
{
    if (!h || !h->path || s->started)
        return GW_EINVAL;
    if (find_method(s, h->path))
        return GW_EINVAL;
    if (s->n_methods == s->cap_methods) {
        size_t nc = s->cap_methods ? s->cap_methods * 2 : 8;
        method *nm = gw_realloc(s->methods, nc * sizeof *nm);
        if (!nm)
            return GW_ENOMEM;
        s->methods = nm;
        s->cap_methods = nc;
    }
    method *m = &s->methods[s->n_methods];
    m->h = *h;
    m->path = gw_strdup(h->path);
    if (!m->path)
        return GW_ENOMEM;
    m->h.path = m->path;
    s->n_methods++;
    return 0;
}

static void format_addr(const struct sockaddr_storage *ss, char *out, size_t cap)
{
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
        port = ntohs(a->sin6_port);
        snprintf(out, cap, "[%s]:%u", host, port);
    } else {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
        port = ntohs(a->sin_port);
        snprintf(out, cap, "%s:%u", host, port);
    }
}

static int bind_one(const struct sockaddr *sa, socklen_t len)
{
    int one = 1, zero = 0;
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if (sa->sa_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero); /* dual stack */
    if (bind(fd, sa, len) != 0 || listen(fd, 1024) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

int rpc_server_listen(rpc_server *s, const char *addr, char *bound, size_t bound_cap)
{
    char host[256], port[16];
    struct addrinfo hints, *res = NULL;
    int rc = GW_EINVAL;
    if (s->workers || rpc_addr_split(addr, "50051", host, sizeof host, port, sizeof port) != 0)
        return GW_EINVAL;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    if (getaddrinfo(host[0] ? host : "::", port, &hints, &res) != 0 || !res)
        return GW_EINVAL;
    s->workers = gw_calloc((size_t)s->o.threads, sizeof *s->workers);
    if (!s->workers) {
        rc = GW_ENOMEM;
        goto out;
    }
    struct sockaddr_storage ss;
    socklen_t sl = 0;
    int fd = -1;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = bind_one(ai->ai_addr, ai->ai_addrlen);
        sl = sizeof ss;
        if (fd >= 0)
            getsockname(fd, (struct sockaddr *)&ss, &sl);
    }
    if (fd < 0) {
        rc = GW_ESYS;
        goto out;
    }
    /* Port 0 picked a port: the other threads' sockets join that one. */
    for (int i = 0; i < s->o.threads; i++) {
        worker *w = &s->workers[i];
        w->srv = s;
        w->efd = -1;
        w->lfd = i == 0 ? fd : bind_one((struct sockaddr *)&ss, sl);
        if (w->lfd < 0) {
            rc = GW_ESYS;
            goto out;
        }
        s->n_workers = i + 1;
    }
    if (bound)
        format_addr(&ss, bound, bound_cap);
    rc = 0;
out:
    if (rc && s->workers) {
        int e = errno;
        for (int i = 0; i < s->n_workers; i++)
            close(s->workers[i].lfd);
        gw_free(s->workers);
        s->workers = NULL;
        s->n_workers = 0;
        errno = e;
    }
    freeaddrinfo(res);
    return rc;
}

int rpc_server_start(rpc_server *s)
{
    if (!s->workers || s->started)
        return GW_EINVAL;
    s->started = 1;
    for (int i = 0; i < s->n_workers; i++) {
        worker *w = &s->workers[i];
        w->loop = rpc_loop_new();
        w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (!w->loop || w->efd < 0)
            return GW_ESYS;
        w->lwatch.fn = on_accept;
        w->lwatch.u = w;
        w->ewatch.fn = on_wake;
        w->ewatch.u = w;
        if (rpc_loop_add(w->loop, w->lfd, EPOLLIN, &w->lwatch) != 0 ||
            rpc_loop_add(w->loop, w->efd, EPOLLIN, &w->ewatch) != 0)
            return GW_ESYS;
    }
    for (int i = 0; i < s->n_workers; i++) {
        if (pthread_create(&s->workers[i].th, NULL, worker_main, &s->workers[i]) != 0) {
            rpc_server_shutdown(s);
            return GW_ESYS;
        }
        s->workers[i].running = 1;
    }
    return 0;
}

void rpc_server_shutdown(rpc_server *s)
{
    uint64_t one = 1;
    for (int i = 0; i < s->n_workers; i++)
        if (s->workers[i].efd >= 0 && write(s->workers[i].efd, &one, sizeof one) < 0) {
            /* Only EAGAIN (counter full) is possible, and then a wake is already pending. */
        }
}

int rpc_server_wait(rpc_server *s)
{
    for (int i = 0; i < s->n_workers; i++)
        if (s->workers[i].running) {
            pthread_join(s->workers[i].th, NULL);
            s->workers[i].running = 0;
        }
    return 0;
}

void rpc_server_del(rpc_server *s)
{
    if (!s)
        return;
    rpc_server_wait(s);
    for (int i = 0; i < s->n_workers; i++) {
        worker *w = &s->workers[i];
        while (w->conns)
            conn_free(w->conns);
        while (w->pool) {
            rpc_call *c = w->pool;
            w->pool = c->next;
            call_destroy(c);
        }
        pool_release(w);
        if (w->lfd >= 0)
            close(w->lfd);
        if (w->efd >= 0)
            close(w->efd);
        rpc_loop_del(w->loop);
    }
    gw_free(s->workers);
    for (size_t i = 0; i < s->n_methods; i++)
        gw_free(s->methods[i].path);
    gw_free(s->methods);
    if (s->cbs)
        nghttp2_session_callbacks_del(s->cbs);
    if (s->ngopt)
        nghttp2_option_del(s->ngopt);
    gw_free(s);
}
