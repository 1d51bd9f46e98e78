/* rpc_client: a gRPC client channel on nghttp2: one connection, calls multiplexed on it, driven
 * by the caller with rpc_channel_run (single-threaded). A call object outlives its on_done until
 * nghttp2 closes the stream, because nghttp2 may still hold it as a data source. */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <fcntl.h>

#include <nghttp2/nghttp2.h>

#include "common/gw_err.h"
#include "common/gw_mem.h"
#include "grpc/grpc_call.h"
#include "grpc/grpc_msg.h"
#include "rpc/rpc_int.h"

#define OUT_HIGH_WATER (256u << 10)
#define MAX_HEADER_BYTES (64u << 10)

struct rpc_channel {
    int fd;
    rpc_loop *loop;
    rpc_watch watch;
    uint32_t events;
    nghttp2_session *ng;
    nghttp2_session_callbacks *cbs;
    gw_buf out;
    size_t out_off;
    rpc_ccall *calls;  /* every call nghttp2 may still know (doubly linked) */
    size_t n_active;   /* calls whose on_done has not run */
    int dead;
    char authority[300];
};

struct rpc_ccall {
    rpc_channel *ch;
    int32_t sid;
    rpc_ccall *prev, *next;
    rpc_client_cbs cb;
    rpc_mdlist reqh, resph, trailers;
    int gzip;
    gw_buf out;        /* framed request messages not yet taken by nghttp2 */
    size_t out_off;
    int close_send;
    grpc_deframer df;
    gw_buf scratch;
    size_t max_recv;
    int http_status;
    int done;
    rpc_timer deadline;
};

/* ---------------------------------------------------------------- completion */

static void call_unlink_free(rpc_ccall *c)
{
    rpc_channel *ch = c->ch;
    rpc_timer_cancel(ch->loop, &c->deadline);
    if (c->prev)
        c->prev->next = c->next;
    else
        ch->calls = c->next;
    if (c->next)
        c->next->prev = c->prev;
    rpc_mdlist_free(&c->reqh);
    rpc_mdlist_free(&c->resph);
    rpc_mdlist_free(&c->trailers);
    grpc_deframer_free(&c->df);
    gw_buf_free(&c->scratch);
    gw_buf_free(&c->out);
    gw_free(c);
}

/* Report the status once. rst 1: cancel the stream if it is open; 2: only if we were still
 * sending (the server ended the call first). */
static void complete(rpc_ccall *c, int status, const char *message, int rst)
{
    if (c->done)
        return;
    c->done = 1;
    c->ch->n_active--;
    rpc_timer_cancel(c->ch->loop, &c->deadline);
    if (rst && c->sid > 0 && !c->ch->dead &&
        nghttp2_session_find_stream(c->ch->ng, c->sid) != NULL &&
        (rst == 1 || !nghttp2_session_get_stream_local_close(c->ch->ng, c->sid)))
        nghttp2_submit_rst_stream(c->ch->ng, NGHTTP2_FLAG_NONE, c->sid, NGHTTP2_CANCEL);
    if (c->cb.on_done)
        c->cb.on_done(c, status, message ? message : "", c->cb.u);
}

/* The status from trailers (or Trailers-Only headers), else what the HTTP status implies. */
static void complete_from(rpc_ccall *c, const rpc_mdlist *l)
{
    const rpc_md *st = rpc_mdlist_get(l, "grpc-status");
    const rpc_md *msg = rpc_mdlist_get(l, "grpc-message");
    char buf[128];
    if (c->http_status != 200) {
        snprintf(buf, sizeof buf, "unexpected HTTP status code received from server: %d",
                 c->http_status);
        complete(c, grpc_status_from_http(c->http_status), buf, 2);
        return;
    }
    if (!st) {
        complete(c, RPC_INTERNAL, "server closed the stream without sending trailers", 2);
        return;
    }
    char *end;
    long v = strtol(st->value, &end, 10);
    if (*end || end == st->value || v < 0 || v > 0x7fffffff)
        v = RPC_UNKNOWN;
    if (!msg) {
        complete(c, (int)v, "", 2);
        return;
    }
    char *dec = gw_malloc(msg->value_len + 1);
    if (!dec) {
        complete(c, (int)v, "", 2);
        return;
    }
    size_t n = grpc_message_unescape(msg->value, msg->value_len, dec);
    dec[n] = 0;
    complete(c, (int)v, dec, 2);
    gw_free(dec);
}

/* ---------------------------------------------------------------- connection I/O */

static void conn_lost(rpc_channel *ch)
{
    if (ch->dead)
        return;
    ch->dead = 1;
    for (rpc_ccall *c = ch->calls; c; c = c->next)
        complete(c, RPC_UNAVAILABLE, "connection closed", 0);
}

static void flush(rpc_channel *ch)
{
    if (ch->dead)
        return;
    for (;;) {
        if (nghttp2_session_send(ch->ng) != 0) {
            conn_lost(ch);
            return;
        }
        while (ch->out_off < ch->out.len) {
            ssize_t k = send(ch->fd, ch->out.data + ch->out_off, ch->out.len - ch->out_off, MSG_NOSIGNAL);
            if (k < 0) {
                if (errno == EINTR)
                    continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK)
                    goto wait;
                conn_lost(ch);
                return;
            }
            ch->out_off += (size_t)k;
        }
        ch->out_off = 0;
        gw_buf_reset(&ch->out);
        if (!nghttp2_session_want_write(ch->ng))
            break;
    }
wait:;
    uint32_t ev = EPOLLIN | (ch->out_off < ch->out.len ? EPOLLOUT : 0);
    if (ev != ch->events && rpc_loop_mod(ch->loop, ch->fd, ev, &ch->watch) == 0)
        ch->events = ev;
}

static void on_io(void *u, uint32_t events)
{
    rpc_channel *ch = u;
    if (ch->dead)
        return;
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
        uint8_t buf[16384];
        for (int rounds = 0; rounds < 8; rounds++) {
            ssize_t k = read(ch->fd, buf, sizeof buf);
            if (k < 0 && errno == EINTR)
                continue;
            if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                break;
            if (k <= 0 || nghttp2_session_mem_recv(ch->ng, buf, (size_t)k) < 0) {
                conn_lost(ch);
                return;
            }
            if ((size_t)k < sizeof buf)
                break;
        }
    }
}

static rpc_ccall *find_call(rpc_channel *ch, int32_t sid)
{
    rpc_ccall *c = nghttp2_session_get_stream_user_data(ch->ng, sid);
    if (c)
        return c;
    for (c = ch->calls; c; c = c->next)
        if (c->sid == sid)
            return c;
    return NULL;
}

static ssize_t cb_send(nghttp2_session *ng, const uint8_t *data, size_t len, int flags, void *ud)
{
    rpc_channel *ch = ud;
    if (ch->out.len - ch->out_off >= OUT_HIGH_WATER)
        return NGHTTP2_ERR_WOULDBLOCK;
    if (gw_buf_append(&ch->out, data, len) != 0)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    return (ssize_t)len;
}

static int cb_header(nghttp2_session *ng, const nghttp2_frame *f, const uint8_t *name, size_t nlen,
                     const uint8_t *value, size_t vlen, uint8_t flags, void *ud)
{
    rpc_ccall *c = find_call(ud, f->hd.stream_id);
    if (!c || c->done || f->hd.type != NGHTTP2_HEADERS)
        return 0;
    rpc_mdlist *l = f->headers.cat == NGHTTP2_HCAT_HEADERS ? &c->trailers : &c->resph;
    if (f->headers.cat == NGHTTP2_HCAT_RESPONSE && nlen == 7 && !memcmp(name, ":status", 7)) {
        int st = 0;
        for (size_t i = 0; i < vlen && i < 4; i++)
            st = st * 10 + (value[i] - '0');
        if (st >= 100 && st < 200)
            return 0; /* informational: the real response follows */
        c->http_status = st;
    }
    if (rpc_mdlist_add(l, (const char *)name, nlen, (const char *)value, vlen) != 0)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    return 0;
}

static void on_msg(void *u, const grpc_frame_msg *m)
{
    rpc_ccall *c = u;
    char buf[128];
    if (c->done)
        return;
    if (!m->body) {
        snprintf(buf, sizeof buf, "grpc: received message larger than max (%u vs. %zu)", m->length,
                 c->max_recv);
        complete(c, RPC_RESOURCE_EXHAUSTED, buf, 1);
        return;
    }
    const uint8_t *p = m->body;
    size_t n = m->body_len;
    if (m->compressed) {
        const rpc_md *enc = rpc_mdlist_get(&c->resph, "grpc-encoding");
        if (!enc || !strcasecmp(enc->value, "identity")) {
            complete(c, RPC_INTERNAL, "grpc: compressed flag set with identity or empty encoding", 1);
            return;
        }
        gw_buf_reset(&c->scratch);
        int rc = grpc_decompress(enc->value, p, n, &c->scratch, c->max_recv, 0);
        if (rc) {
            snprintf(buf, sizeof buf, "grpc: failed to decompress the received message (%s)",
                     gw_strerror(rc));
            complete(c, rc == GW_ECAP ? RPC_RESOURCE_EXHAUSTED
                        : rc == GW_EUNSUPPORTED ? RPC_INTERNAL : RPC_INTERNAL, buf, 1);
            return;
        }
        p = c->scratch.data ? c->scratch.data : (const uint8_t *)"";
        n = c->scratch.len;
    }
    if (c->cb.on_message)
        c->cb.on_message(c, p, n, c->cb.u);
}

static int cb_data_chunk(nghttp2_session *ng, uint8_t flags, int32_t sid, const uint8_t *data,
                         size_t len, void *ud)
{
    rpc_ccall *c = find_call(ud, sid);
    if (!c || c->done)
        return 0;
    if (grpc_deframer_feed(&c->df, data, len, on_msg, c) != 0) {
        complete(c, RPC_RESOURCE_EXHAUSTED, "out of memory", 1);
        return 0;
    }
    if (!c->done && c->df.overflow) {
        char buf[128];
        snprintf(buf, sizeof buf, "grpc: received message larger than max (%u vs. %zu)",
                 c->df.length, c->max_recv);
        complete(c, RPC_RESOURCE_EXHAUSTED, buf, 1);
    }
    return 0;
}

static int cb_frame_recv(nghttp2_session *ng, const nghttp2_frame *f, void *ud)
{
    if (f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA)
        return 0;
    rpc_ccall *c = find_call(ud, f->hd.stream_id);
    if (!c || c->done)
        return 0;
    if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_RESPONSE &&
        c->http_status >= 200 && !(f->hd.flags & NGHTTP2_FLAG_END_STREAM) && c->cb.on_headers)
        c->cb.on_headers(c, c->cb.u);
    if (!(f->hd.flags & NGHTTP2_FLAG_END_STREAM) || c->done)
        return 0;
    if (grpc_deframer_pending(&c->df)) {
        complete(c, RPC_INTERNAL, "server ended the stream inside a message", 1);
        return 0;
    }
    if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_RESPONSE)
        complete_from(c, &c->resph); /* Trailers-Only */
    else if (f->hd.type == NGHTTP2_HEADERS)
        complete_from(c, &c->trailers);
    else
        complete_from(c, &c->trailers); /* DATA with END_STREAM: no trailers at all */
    return 0;
}

static int cb_stream_close(nghttp2_session *ng, int32_t sid, uint32_t err, void *ud)
{
    rpc_ccall *c = find_call(ud, sid);
    if (!c)
        return 0;
    if (!c->done) {
        char buf[96];
        snprintf(buf, sizeof buf, "stream terminated by RST_STREAM with error code: %s",
                 nghttp2_http2_strerror(err));
        if (err == NGHTTP2_NO_ERROR)
            complete(c, RPC_INTERNAL, "stream closed without a status", 0);
        else if (err == NGHTTP2_REFUSED_STREAM)
            complete(c, RPC_UNAVAILABLE, buf, 0);
        else
            complete(c, grpc_status_from_h2_error(err), buf, 0);
    }
    nghttp2_session_set_stream_user_data(ng, sid, NULL);
    call_unlink_free(c);
    return 0;
}

static int cb_not_send(nghttp2_session *ng, const nghttp2_frame *f, int lib_error, void *ud)
{
    /* A request HEADERS that never went out (GOAWAY, too many streams): no stream will close. */
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    rpc_ccall *c = find_call(ud, f->hd.stream_id);
    if (!c)
        return 0;
    complete(c, RPC_UNAVAILABLE, nghttp2_strerror(lib_error), 0);
    if (!nghttp2_session_find_stream(ng, f->hd.stream_id))
        call_unlink_free(c);
    return 0;
}

/* ---------------------------------------------------------------- channel */

rpc_channel *rpc_channel_new(const char *addr, char *why, size_t why_cap)
{
    char host[256], port[16];
    struct addrinfo hints, *res = NULL;
    rpc_channel *ch = NULL;
    int fd = -1, err = 0;
    if (!addr)
        addr = "localhost:50051";
    if (rpc_addr_split(addr, "50051", host, sizeof host, port, sizeof port) != 0) {
        if (why)
            snprintf(why, why_cap, "bad address '%s'", addr);
        return NULL;
    }
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG;
    int gr = getaddrinfo(host[0] ? host : "localhost", port, &hints, &res);
    if (gr != 0) {
        if (why)
            snprintf(why, why_cap, "%s: %s", host, gai_strerror(gr));
        return NULL;
    }
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            err = errno;
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
            err = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0) {
        if (why)
            snprintf(why, why_cap, "%s", strerror(err));
        return NULL;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    ch = gw_calloc(1, sizeof *ch);
    if (!ch)
        goto fail;
    ch->fd = fd;
    gw_buf_init(&ch->out, 0);
    /* The authority the user typed, with the default port filled in. */
    if (strchr(host, ':'))
        snprintf(ch->authority, sizeof ch->authority, "[%s]:%s", host, port);
    else
        snprintf(ch->authority, sizeof ch->authority, "%s:%s", host[0] ? host : "localhost", port);
    ch->loop = rpc_loop_new();
    if (!ch->loop || nghttp2_session_callbacks_new(&ch->cbs) != 0)
        goto fail;
    nghttp2_session_callbacks_set_send_callback(ch->cbs, cb_send);
    nghttp2_session_callbacks_set_on_header_callback(ch->cbs, cb_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(ch->cbs, cb_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(ch->cbs, cb_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(ch->cbs, cb_stream_close);
    nghttp2_session_callbacks_set_on_frame_not_send_callback(ch->cbs, cb_not_send);
    if (nghttp2_session_client_new(&ch->ng, ch->cbs, ch) != 0)
        goto fail;
    nghttp2_settings_entry iv[2] = {
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1u << 20},
    };
    nghttp2_submit_settings(ch->ng, NGHTTP2_FLAG_NONE, iv, 2);
    nghttp2_session_set_local_window_size(ch->ng, NGHTTP2_FLAG_NONE, 0, 8u << 20);
    ch->watch.fn = on_io;
    ch->watch.u = ch;
    ch->events = EPOLLIN;
    if (rpc_loop_add(ch->loop, fd, EPOLLIN, &ch->watch) != 0)
        goto fail;
    return ch;
fail:
    if (why)
        snprintf(why, why_cap, "out of memory");
    if (ch) {
        ch->fd = -1;
        rpc_channel_del(ch);
    }
    close(fd);
    return NULL;
}

void rpc_channel_del(rpc_channel *ch)
{
    if (!ch)
        return;
    conn_lost(ch);
    while (ch->calls) {
        if (ch->ng && ch->calls->sid > 0)
            nghttp2_session_set_stream_user_data(ch->ng, ch->calls->sid, NULL);
        call_unlink_free(ch->calls);
    }
    if (ch->ng)
        nghttp2_session_del(ch->ng);
    if (ch->cbs)
        nghttp2_session_callbacks_del(ch->cbs);
    rpc_loop_del(ch->loop);
    if (ch->fd >= 0)
        close(ch->fd);
    gw_buf_free(&ch->out);
    gw_free(ch);
}

static ssize_t read_out(nghttp2_session *ng, int32_t sid, uint8_t *buf, size_t len,
                        uint32_t *flags, nghttp2_data_source *src, void *ud)
{
    rpc_ccall *c = src->ptr;
    size_t k = rpc_out_take(&c->out, &c->out_off, buf, len);
    if (c->out.len == 0 && c->close_send) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        return (ssize_t)k;
    }
    return k ? (ssize_t)k : NGHTTP2_ERR_DEFERRED;
}

static void deadline_fire(void *u)
{
    complete(u, RPC_DEADLINE_EXCEEDED, "context deadline exceeded", 1);
}

static int add_req_md(rpc_ccall *c, const char *name, const char *value, size_t vlen)
{
    return rpc_mdlist_add(&c->reqh, name, strlen(name), value, vlen);
}

rpc_ccall *rpc_channel_call(rpc_channel *ch, const char *path, const rpc_call_opts *o,
                            const rpc_client_cbs *cb)
{
    rpc_call_opts none;
    int rc = 0;
    if (ch->dead || !path)
        return NULL;
    if (!o) {
        memset(&none, 0, sizeof none);
        o = &none;
    }
    rpc_ccall *c = gw_calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->ch = ch;
    c->cb = *cb;
    c->gzip = o->gzip;
    c->max_recv = o->max_recv ? o->max_recv : RPC_MAX_MESSAGE;
    c->resph.limit = c->trailers.limit = MAX_HEADER_BYTES;
    grpc_deframer_init(&c->df, c->max_recv);
    gw_buf_init(&c->scratch, c->max_recv + 64);
    gw_buf_init(&c->out, 0);
    c->next = ch->calls;
    if (ch->calls)
        ch->calls->prev = c;
    ch->calls = c;

    char tbuf[32];
    rc = add_req_md(c, ":method", "POST", 4);
    rc = rc ? rc : add_req_md(c, ":scheme", "http", 4);
    rc = rc ? rc : add_req_md(c, ":path", path, strlen(path));
    rc = rc ? rc : add_req_md(c, ":authority", ch->authority, strlen(ch->authority));
    rc = rc ? rc : add_req_md(c, "content-type", "application/grpc", 16);
    rc = rc ? rc : add_req_md(c, "user-agent", "grpcwire/" GW_VERSION, strlen("grpcwire/" GW_VERSION));
    rc = rc ? rc : add_req_md(c, "te", "trailers", 8);
    rc = rc ? rc : add_req_md(c, "grpc-accept-encoding", "identity,deflate,gzip", 21);
    if (!rc && o->gzip)
        rc = add_req_md(c, "grpc-encoding", "gzip", 4);
    if (!rc && o->timeout_ms > 0) {
        rpc_timeout_encode(o->timeout_ms, tbuf, sizeof tbuf);
        rc = add_req_md(c, "grpc-timeout", tbuf, strlen(tbuf));
    }
    for (size_t i = 0; !rc && i < o->n_metadata; i++) {
        const rpc_md *m = &o->metadata[i];
        if (rpc_md_is_bin(m->name)) {
            gw_buf b;
            gw_buf_init(&b, 0);
            rc = rpc_base64_encode((const uint8_t *)m->value, m->value_len, &b);
            if (!rc)
                rc = add_req_md(c, m->name, b.len ? (char *)b.data : "", b.len);
            gw_buf_free(&b);
        } else {
            rc = add_req_md(c, m->name, m->value, m->value_len);
        }
    }
    nghttp2_nv *nv = rc ? NULL : gw_calloc(c->reqh.n, sizeof *nv);
    if (!nv)
        goto fail;
    for (size_t i = 0; i < c->reqh.n; i++) {
        nv[i].name = (uint8_t *)(uintptr_t)c->reqh.v[i].name;
        nv[i].namelen = strlen(c->reqh.v[i].name);
        nv[i].value = (uint8_t *)(uintptr_t)c->reqh.v[i].value;
        nv[i].valuelen = c->reqh.v[i].value_len;
        nv[i].flags = NGHTTP2_NV_FLAG_NONE;
    }
    /* Always with a data provider: request HEADERS never carry END_STREAM. */
    nghttp2_data_provider dp;
    dp.source.ptr = c;
    dp.read_callback = read_out;
    c->sid = nghttp2_submit_request(ch->ng, NULL, nv, c->reqh.n, &dp, c);
    gw_free(nv);
    if (c->sid < 0)
        goto fail;
    ch->n_active++;
    if (o->timeout_ms > 0) {
        c->deadline.fn = deadline_fire;
        c->deadline.u = c;
        rpc_timer_arm(ch->loop, &c->deadline, o->timeout_ms);
    }
    return c;
fail:
    c->done = 1;
    c->sid = 0;
    call_unlink_free(c);
    return NULL;
}

int rpc_ccall_send(rpc_ccall *c, const uint8_t *p, size_t n)
{
    if (c->done || c->close_send)
        return GW_EINVAL;
    int rc = grpc_frame_encode(&c->out, p, n, c->gzip);
    if (rc)
        return rc;
    nghttp2_session_resume_data(c->ch->ng, c->sid);
    return 0;
}

int rpc_ccall_close_send(rpc_ccall *c)
{
    if (c->done || c->close_send)
        return GW_EINVAL;
    c->close_send = 1;
    nghttp2_session_resume_data(c->ch->ng, c->sid);
    return 0;
}

void rpc_ccall_cancel(rpc_ccall *c)
{
    complete(c, RPC_CANCELLED, "context canceled", 1);
}

size_t rpc_ccall_headers(const rpc_ccall *c, const rpc_md **md)
{
    *md = c->resph.v;
    return c->resph.n;
}

size_t rpc_ccall_trailers(const rpc_ccall *c, const rpc_md **md)
{
    *md = c->trailers.v;
    return c->trailers.n;
}

size_t rpc_ccall_request_headers(const rpc_ccall *c, const rpc_md **md)
{
    *md = c->reqh.v;
    return c->reqh.n;
}

int rpc_channel_run(rpc_channel *ch, int64_t timeout_ms)
{
    int64_t end = timeout_ms < 0 ? -1 : rpc_now_ms() + timeout_ms;
    flush(ch);
    while (ch->n_active > 0 && !ch->dead) {
        int64_t wait = -1;
        if (end >= 0) {
            wait = end - rpc_now_ms();
            if (wait <= 0)
                return GW_ETIMEOUT;
        }
        if (rpc_loop_once(ch->loop, wait) != 0) {
            conn_lost(ch);
            break;
        }
        flush(ch);
        if (!ch->dead && !nghttp2_session_want_read(ch->ng) && !nghttp2_session_want_write(ch->ng))
            conn_lost(ch); /* GOAWAY seen and nothing left to do on this connection */
    }
    return ch->dead ? GW_ECLOSED : 0;
}

/* ---------------------------------------------------------------- blocking unary */

typedef struct unary_state {
    gw_buf *out;
    int status;
    char *message;
    int n;
} unary_state;

static void unary_msg(rpc_ccall *c, const uint8_t *p, size_t n, void *u)
{
    unary_state *st = u;
    if (st->n++ == 0 && gw_buf_append(st->out, p, n) != 0)
        rpc_ccall_cancel(c);
}

static void unary_done(rpc_ccall *c, int status, const char *message, void *u)
{
    unary_state *st = u;
    st->status = status;
    st->message = gw_strdup(message);
    if (status == RPC_OK && st->n != 1) {
        st->status = RPC_INTERNAL;
        gw_free(st->message);
        st->message = gw_strdup(st->n ? "too many response messages" : "no response message");
    }
}

int rpc_unary(rpc_channel *ch, const char *path, const uint8_t *req, size_t n,
              const rpc_call_opts *o, gw_buf *out, char **message)
{
    unary_state st = {out, -1, NULL, 0};
    rpc_client_cbs cb = {NULL, unary_msg, unary_done, &st};
    rpc_ccall *c = rpc_channel_call(ch, path, o, &cb);
    if (!c)
        return ch->dead ? GW_ECLOSED : GW_ENOMEM;
    int rc = rpc_ccall_send(c, req, n);
    if (!rc)
        rc = rpc_ccall_close_send(c);
    if (rc) {
        rpc_ccall_cancel(c);
        gw_free(st.message);
        return rc;
    }
    /* Run until this call is done (others on the channel progress too). */
    while (st.status < 0) {
        size_t before = ch->n_active;
        rc = rpc_channel_run(ch, 100);
        if (st.status >= 0)
            break;
        if (rc == GW_ECLOSED || (rc == 0 && before == 0))
            break;
    }
    if (message)
        *message = st.message;
    else
        gw_free(st.message);
    return st.status >= 0 ? st.status : GW_ECLOSED;
}
