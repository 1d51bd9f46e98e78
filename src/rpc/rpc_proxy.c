/* rpc_proxy: the recording relay. Each connection is two non-blocking sockets (0: the client,
 * 1: the upstream) and, beside them, the TCP state a wire capture would show: both endpoints,
 * each side's next sequence number and last timestamp value. Bytes are recorded when the relay
 * reads them (that is when they were on the wire), then written to the other side; while they
 * cannot all be written the source is not read, so memory stays at one buffer per direction. */
#include "rpc/rpc_proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/gw_err.h"
#include "common/gw_mem.h"
#include "rpc/rpc_int.h"

#define BUF_SIZE 65536
#define MAX_ADDRS 8
#define ETH_LEN 14
#define WIN_RAW 512   /* advertised window, scaled by 2^7 (WSCALE in the SYN) = 64 KiB */
#define WSCALE 7

enum { C_CONNECTING = 1, C_OPEN };

typedef struct pconn pconn;

typedef struct side {
    int fd;                /* -1 once closed */
    int watched;           /* registered with epoll */
    uint32_t mask;         /* events registered */
    rpc_watch w;
    uint8_t *buf;          /* bytes read from this side, not yet written to the other */
    size_t off, len;
    int eof;               /* this side sent FIN (read returned 0); recorded at once */
    int fwd;               /* that FIN was passed on: shutdown(other, SHUT_WR) */
    rpc_synth_ep ep;
    uint32_t nxt;          /* synthesized: next sequence number this side sends */
    uint32_t ts_last;      /* last TSval this side sent (the other echoes it) */
    uint16_t ip_id;
    char name[64];
    pconn *c;
} side;

struct pconn {
    rpc_proxy *p;
    int state;
    size_t ai;             /* upstream address being tried */
    side s[2];
    pconn *prev, *next;
};

struct rpc_proxy {
    rpc_proxy_opts o;
    rpc_proxy_cbs cb;
    rpc_loop *loop;
    int lfd, efd;
    rpc_watch lw, ew;
    int stopping;
    struct sockaddr_storage up[MAX_ADDRS];
    socklen_t up_len[MAX_ADDRS];
    size_t n_up;
    pconn *conns;
    unsigned active;       /* atomic */
    uint64_t total;        /* atomic */
    uint32_t rnd;
    int64_t t0_ms;         /* TSval origin */
    uint8_t pkt[ETH_LEN + 40 + 40 + RPC_PROXY_MAX_SEG];
};

void rpc_proxy_opts_default(rpc_proxy_opts *o)
{
    memset(o, 0, sizeof *o);
    o->max_conns = 1024;
    o->mss = RPC_PROXY_MAX_SEG;
}

/* ---------------------------------------------------------------- packet synthesis */

static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i + 1 < n; i += 2)
        sum += (uint32_t)p[i] << 8 | p[i + 1];
    if (n & 1)
        sum += (uint32_t)p[n - 1] << 8;
    return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

static void be16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

size_t rpc_synth_packet(uint8_t *out, const rpc_synth_ep *src, const rpc_synth_ep *dst,
                        uint32_t seq, uint32_t ack, uint8_t flags, uint32_t tsval,
                        uint32_t tsecr, const uint8_t *payload, uint32_t n)
{
    /* Options as Linux sends them. SYN: MSS, SACK permitted, timestamps, window scale (20
     * bytes); otherwise NOP NOP timestamps (12), as in the seed's capture. */
    uint8_t opt[20];
    size_t optlen;
    if (flags & 0x02) {
        uint8_t syn[20] = {2, 4, 0, 0, 4, 2, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0, 1, 3, 3, WSCALE};
        be16(syn + 2, RPC_PROXY_MAX_SEG);
        be32(syn + 8, tsval);
        be32(syn + 12, tsecr);
        memcpy(opt, syn, 20);
        optlen = 20;
    } else {
        uint8_t ts[12] = {1, 1, 8, 10};
        be32(ts + 4, tsval);
        be32(ts + 8, tsecr);
        memcpy(opt, ts, 12);
        optlen = 12;
    }
    size_t thl = 20 + optlen;
    int v6 = src->ipver == 6;
    size_t ihl = v6 ? 40 : 20;

    /* Ethernet II: zero addresses, as a capture on lo shows them. */
    memset(out, 0, 12);
    be16(out + 12, v6 ? 0x86dd : 0x0800);
    uint8_t *ip = out + ETH_LEN, *tcp = ip + ihl;

    /* TCP (RFC 9293 3.1) */
    be16(tcp, src->port);
    be16(tcp + 2, dst->port);
    be32(tcp + 4, seq);
    be32(tcp + 8, (flags & 0x10) ? ack : 0);
    tcp[12] = (uint8_t)((thl / 4) << 4);
    tcp[13] = flags;
    be16(tcp + 14, (flags & 0x02) ? 65535 : WIN_RAW); /* SYN windows are never scaled */
    be16(tcp + 16, 0);
    be16(tcp + 18, 0);
    memcpy(tcp + 20, opt, optlen);
    if (n)
        memcpy(tcp + thl, payload, n);
    uint32_t tcplen = (uint32_t)thl + n;

    uint32_t sum = 0;
    if (v6) {
        ip[0] = 0x60; ip[1] = 0; ip[2] = 0; ip[3] = 0;
        be16(ip + 4, tcplen);
        ip[6] = 6;    /* TCP */
        ip[7] = 64;   /* hop limit */
        memcpy(ip + 8, src->addr, 16);
        memcpy(ip + 24, dst->addr, 16);
        sum = csum_add(sum, src->addr, 16);
        sum = csum_add(sum, dst->addr, 16);
    } else {
        ip[0] = 0x45; ip[1] = 0;
        be16(ip + 2, 20 + tcplen);
        be16(ip + 4, 0);      /* identification: filled by the caller if it wants */
        be16(ip + 6, 0x4000); /* DF */
        ip[8] = 64;
        ip[9] = 6;
        be16(ip + 10, 0);
        memcpy(ip + 12, src->addr, 4);
        memcpy(ip + 16, dst->addr, 4);
        be16(ip + 10, csum_fold(csum_add(0, ip, 20)));
        sum = csum_add(sum, src->addr, 4);
        sum = csum_add(sum, dst->addr, 4);
    }
    sum += 6 + tcplen; /* pseudo-header: protocol and TCP length */
    sum = csum_add(sum, tcp, tcplen);
    be16(tcp + 16, csum_fold(sum));
    return ETH_LEN + ihl + tcplen;
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* One packet from side `from` of c. */
static void emit(pconn *c, int from, uint8_t flags, const uint8_t *payload, uint32_t n)
{
    rpc_proxy *p = c->p;
    side *a = &c->s[from], *b = &c->s[!from];
    uint32_t tsval = (uint32_t)(rpc_now_ms() - p->t0_ms) + 1;
    uint32_t ack = (flags & 0x10) ? b->nxt : 0;
    size_t len = rpc_synth_packet(p->pkt, &a->ep, &b->ep, a->nxt, ack, flags, tsval,
                                  (flags & 0x02) && !(flags & 0x10) ? 0 : b->ts_last, payload, n);
    if (a->ep.ipver == 4) { /* identification: per sender, as Linux counts it */
        uint8_t *ip = p->pkt + ETH_LEN;
        be16(ip + 4, a->ip_id++);
        be16(ip + 10, 0);
        be16(ip + 10, csum_fold(csum_add(0, ip, 20)));
        /* The TCP checksum does not cover the IP identification: it stays valid. */
    }
    a->ts_last = tsval;
    a->nxt += n + ((flags & 0x03) ? 1 : 0); /* SYN and FIN take a sequence number */
    if (p->cb.on_packet)
        p->cb.on_packet(p->cb.u, now_ns(), p->pkt, (uint32_t)len);
}

/* Bytes side `from` sent: segments of at most mss, PSH on the last, then the receiver's ACK. */
static void emit_data(pconn *c, int from, const uint8_t *d, size_t n)
{
    uint32_t mss = c->p->o.mss;
    while (n) {
        uint32_t k = n > mss ? mss : (uint32_t)n;
        emit(c, from, (uint8_t)(0x10 | (k == n ? 0x08 : 0)), d, k);
        d += k;
        n -= k;
    }
    emit(c, !from, 0x10, NULL, 0);
}

/* ---------------------------------------------------------------- addresses */

static int sa_to_ep(const struct sockaddr_storage *ss, rpc_synth_ep *ep)
{
    memset(ep, 0, sizeof *ep);
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        ep->ipver = 4;
        memcpy(ep->addr, &a->sin_addr, 4);
        ep->port = ntohs(a->sin_port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        ep->port = ntohs(a->sin6_port);
        if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) {
            ep->ipver = 4;
            memcpy(ep->addr, a->sin6_addr.s6_addr + 12, 4);
        } else {
            ep->ipver = 6;
            memcpy(ep->addr, &a->sin6_addr, 16);
        }
    } else {
        return -1;
    }
    return 0;
}

static void ep_str(const rpc_synth_ep *ep, char *out, size_t cap)
{
    char a[INET6_ADDRSTRLEN];
    inet_ntop(ep->ipver == 6 ? AF_INET6 : AF_INET, ep->addr, a, sizeof a);
    snprintf(out, cap, ep->ipver == 6 ? "[%s]:%u" : "%s:%u", a, ep->port);
}

static int sock_ep(int fd, int peer, rpc_synth_ep *ep)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    int r = peer ? getpeername(fd, (struct sockaddr *)&ss, &sl)
                 : getsockname(fd, (struct sockaddr *)&ss, &sl);
    return r == 0 ? sa_to_ep(&ss, ep) : -1;
}

/* ---------------------------------------------------------------- connections */

static void side_io(void *u, uint32_t ev);

static void set_events(pconn *c, int i, uint32_t mask)
{
    side *s = &c->s[i];
    rpc_loop *l = c->p->loop;
    if (s->fd < 0)
        return;
    if (!mask) {
        if (s->watched)
            rpc_loop_remove(l, s->fd);
        s->watched = 0;
    } else if (!s->watched) {
        if (rpc_loop_add(l, s->fd, mask, &s->w) == 0)
            s->watched = 1;
    } else if (mask != s->mask) {
        rpc_loop_mod(l, s->fd, mask, &s->w);
    }
    s->mask = mask;
}

/* What each socket waits for: input while nothing of its own is pending, output while the
 * other side's bytes are. */
static void update(pconn *c)
{
    for (int i = 0; i < 2; i++) {
        side *s = &c->s[i], *o = &c->s[!i];
        uint32_t m = 0;
        if (c->state == C_CONNECTING)
            m = i == 1 ? EPOLLOUT : EPOLLRDHUP;
        else {
            if (!s->eof && !s->len)
                m |= EPOLLIN;
            if (o->len)
                m |= EPOLLOUT;
        }
        set_events(c, i, m);
    }
}

static void conn_free(pconn *c)
{
    rpc_proxy *p = c->p;
    for (int i = 0; i < 2; i++) {
        set_events(c, i, 0);
        if (c->s[i].fd >= 0)
            close(c->s[i].fd);
        gw_free(c->s[i].buf);
    }
    if (c->prev)
        c->prev->next = c->next;
    else
        p->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    if (c->state == C_OPEN || c->state == C_CONNECTING)
        __atomic_sub_fetch(&p->active, 1, __ATOMIC_RELAXED);
    gw_free(c);
}

static void event(pconn *c, int ev, const char *what)
{
    rpc_proxy *p = c->p;
    if (p->cb.on_event)
        p->cb.on_event(p->cb.u, ev, c->s[0].name, c->s[1].name, what);
}

/* Side `who` broke (reset, error) or the relay cut the connection: record an RST from it, close
 * both sockets (the other side sees an orderly close, or a reset if it had unread bytes). */
static void conn_reset(pconn *c, int who, const char *what)
{
    if (c->state == C_OPEN)
        emit(c, who, 0x14, NULL, 0); /* RST, ACK */
    event(c, RPC_PROXY_RESET, what);
    conn_free(c);
}

/* Pass a recorded FIN on once the bytes before it are delivered; done when both are. */
static int maybe_forward_fin(pconn *c)
{
    for (int i = 0; i < 2; i++) {
        side *s = &c->s[i], *o = &c->s[!i];
        if (s->eof && !s->fwd && !s->len) {
            shutdown(o->fd, SHUT_WR);
            s->fwd = 1;
        }
    }
    if (c->s[0].fwd && c->s[1].fwd) {
        event(c, RPC_PROXY_CLOSE, "closed");
        conn_free(c);
        return 1;
    }
    return 0;
}

/* Write what side i read to the other side. Returns 0, or -1 when the connection was freed. */
static int flush_to(pconn *c, int i)
{
    side *s = &c->s[i], *o = &c->s[!i];
    while (s->len) {
        ssize_t w = send(o->fd, s->buf + s->off, s->len, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            if (errno == EINTR)
                continue;
            char why[128];
            snprintf(why, sizeof why, "%s: %s", i ? "client" : "upstream", strerror(errno));
            conn_reset(c, !i, why);
            return -1;
        }
        s->off += (size_t)w;
        s->len -= (size_t)w;
    }
    s->off = 0;
    return 0;
}

static int do_read(pconn *c, int i)
{
    side *s = &c->s[i];
    if (!s->buf && !(s->buf = gw_malloc(BUF_SIZE))) {
        conn_reset(c, 1, "out of memory");
        return -1;
    }
    ssize_t n = recv(s->fd, s->buf, BUF_SIZE, 0);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return 0;
        char why[128];
        snprintf(why, sizeof why, "%s: %s", i ? "upstream" : "client", strerror(errno));
        conn_reset(c, i, why);
        return -1;
    }
    if (n == 0) {
        s->eof = 1;
        emit(c, i, 0x11, NULL, 0); /* FIN, ACK */
        emit(c, !i, 0x10, NULL, 0);
        return maybe_forward_fin(c);
    }
    emit_data(c, i, s->buf, (size_t)n);
    s->off = 0;
    s->len = (size_t)n;
    if (flush_to(c, i))
        return -1;
    return maybe_forward_fin(c);
}

static void connected(pconn *c)
{
    side *cl = &c->s[0], *up = &c->s[1];
    rpc_synth_ep local;
    /* The capture shows the client talking to the upstream server, as on the wire between
     * them; when the two sockets differ in family, the relay's own address stands in. */
    if (sock_ep(cl->fd, 1, &cl->ep) || sock_ep(up->fd, 1, &up->ep)) {
        conn_reset(c, 1, "cannot read socket addresses");
        return;
    }
    if (up->ep.ipver != cl->ep.ipver && sock_ep(cl->fd, 0, &local) == 0)
        up->ep = local;
    ep_str(&cl->ep, cl->name, sizeof cl->name);
    ep_str(&up->ep, up->name, sizeof up->name);
    c->state = C_OPEN;
    __atomic_add_fetch(&c->p->total, 1, __ATOMIC_RELAXED);
    emit(c, 0, 0x02, NULL, 0); /* SYN */
    emit(c, 1, 0x12, NULL, 0); /* SYN, ACK */
    emit(c, 0, 0x10, NULL, 0); /* ACK */
    event(c, RPC_PROXY_OPEN, "open");
    update(c);
}

static int try_connect(pconn *c)
{
    rpc_proxy *p = c->p;
    side *up = &c->s[1];
    while (c->ai < p->n_up) {
        const struct sockaddr_storage *sa = &p->up[c->ai];
        int fd = socket(sa->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd >= 0) {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            if (connect(fd, (const struct sockaddr *)sa, p->up_len[c->ai]) == 0 ||
                errno == EINPROGRESS) {
                up->fd = fd;
                return 0;
            }
            close(fd);
        }
        c->ai++;
    }
    return -1;
}

/* The upstream refused: the client saw its connection accepted, so record the attempt as the
 * server's reset of it, and reset the client. */
static void refused(pconn *c, int err)
{
    side *cl = &c->s[0], *up = &c->s[1];
    char why[160];
    if (sock_ep(cl->fd, 1, &cl->ep) == 0 && sock_ep(cl->fd, 0, &up->ep) == 0) {
        ep_str(&cl->ep, cl->name, sizeof cl->name);
        if (c->p->n_up)
            sa_to_ep(&c->p->up[0], &up->ep);
        if (up->ep.ipver != cl->ep.ipver)
            sock_ep(cl->fd, 0, &up->ep);
        ep_str(&up->ep, up->name, sizeof up->name);
        emit(c, 0, 0x02, NULL, 0);
        up->nxt = 0;
        emit(c, 1, 0x14, NULL, 0); /* RST, ACK: connection refused */
    }
    struct linger lg = {1, 0};
    setsockopt(cl->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    snprintf(why, sizeof why, "upstream %s", strerror(err));
    event(c, RPC_PROXY_RESET, why);
    conn_free(c);
}

static void side_io(void *u, uint32_t ev)
{
    side *s = u;
    pconn *c = s->c;
    int i = s == &c->s[1];
    if (c->state == C_CONNECTING) {
        if (i == 0) { /* the client left before the upstream answered */
            conn_reset(c, 0, "client left before the upstream answered");
            return;
        }
        int err = 0;
        socklen_t el = sizeof err;
        getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (!err) {
            connected(c);
            return;
        }
        set_events(c, 1, 0);
        close(s->fd);
        s->fd = -1;
        c->ai++;
        if (try_connect(c) == 0)
            update(c);
        else
            refused(c, err);
        return;
    }
    side *o = &c->s[!i];
    int acted = 0;
    if ((ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)) && o->len) {
        acted = 1;
        if (flush_to(c, !i) || maybe_forward_fin(c))
            return;
    }
    if ((ev & (EPOLLIN | EPOLLERR | EPOLLHUP)) && !s->eof && !s->len) {
        acted = 1;
        if (do_read(c, i))
            return;
    }
    if (!acted && (ev & EPOLLERR)) {
        int err = 0;
        socklen_t el = sizeof err;
        getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &el);
        char why[128];
        snprintf(why, sizeof why, "%s: %s", i ? "upstream" : "client", strerror(err ? err : EIO));
        conn_reset(c, i, why);
        return;
    }
    update(c);
}

static void on_accept(void *u, uint32_t ev)
{
    rpc_proxy *p = u;
    for (;;) {
        int fd = accept4(p->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return; /* EAGAIN, or a transient error: the next event retries */
        if (__atomic_load_n(&p->active, __ATOMIC_RELAXED) >= p->o.max_conns) {
            close(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        pconn *c = gw_calloc(1, sizeof *c);
        if (!c) {
            close(fd);
            continue;
        }
        c->p = p;
        for (int i = 0; i < 2; i++) {
            c->s[i].c = c;
            c->s[i].fd = -1;
            c->s[i].w.fn = side_io;
            c->s[i].w.u = &c->s[i];
        }
        /* Initial sequence numbers: unpredictable enough for a capture (xorshift). */
        for (int i = 0; i < 2; i++) {
            p->rnd ^= p->rnd << 13;
            p->rnd ^= p->rnd >> 17;
            p->rnd ^= p->rnd << 5;
            c->s[i].nxt = p->rnd;
        }
        c->s[0].fd = fd;
        c->state = C_CONNECTING;
        c->next = p->conns;
        if (p->conns)
            p->conns->prev = c;
        p->conns = c;
        __atomic_add_fetch(&p->active, 1, __ATOMIC_RELAXED);
        if (try_connect(c)) {
            refused(c, errno ? errno : ECONNREFUSED);
            continue;
        }
        update(c);
    }
}

static void on_stop(void *u, uint32_t ev)
{
    rpc_proxy *p = u;
    uint64_t v;
    if (read(p->efd, &v, sizeof v) < 0) {
        /* nothing to do: the flag below is what counts */
    }
    p->stopping = 1;
}

/* ---------------------------------------------------------------- public */

static int resolve(const char *addr, int passive, struct sockaddr_storage *out, socklen_t *lens,
                   size_t max, size_t *n, char *why, size_t why_cap)
{
    char host[256], port[16];
    struct addrinfo hints, *res = NULL;
    if (rpc_addr_split(addr, passive ? "0" : "50051", host, sizeof host, port, sizeof port)) {
        snprintf(why, why_cap, "bad address '%s' (want host:port, [v6]:port or :port)", addr);
        return -1;
    }
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = passive ? AI_PASSIVE : 0;
    int r = getaddrinfo(host[0] ? host : (passive ? "::" : "localhost"), port, &hints, &res);
    if (r || !res) {
        snprintf(why, why_cap, "cannot resolve '%s': %s", addr, gai_strerror(r));
        return -1;
    }
    *n = 0;
    for (struct addrinfo *a = res; a && *n < max; a = a->ai_next) {
        if (a->ai_addrlen > sizeof *out)
            continue;
        memcpy(&out[*n], a->ai_addr, a->ai_addrlen);
        lens[*n] = (socklen_t)a->ai_addrlen;
        (*n)++;
    }
    freeaddrinfo(res);
    return *n ? 0 : -1;
}

rpc_proxy *rpc_proxy_new(const rpc_proxy_opts *o, const rpc_proxy_cbs *cb, char *bound,
                         size_t bound_cap, char *why, size_t why_cap)
{
    struct sockaddr_storage la[MAX_ADDRS];
    socklen_t ll[MAX_ADDRS];
    size_t nl = 0;
    rpc_proxy *p = gw_calloc(1, sizeof *p);
    if (!p) {
        snprintf(why, why_cap, "out of memory");
        return NULL;
    }
    p->o = *o;
    if (!p->o.mss || p->o.mss > RPC_PROXY_MAX_SEG)
        p->o.mss = RPC_PROXY_MAX_SEG;
    if (!p->o.max_conns)
        p->o.max_conns = 1024;
    if (cb)
        p->cb = *cb;
    p->lfd = p->efd = -1;
    p->t0_ms = rpc_now_ms() - 1000;
    p->rnd = (uint32_t)now_ns() ^ (uint32_t)getpid() ^ 0x9e3779b9u;
    if (!p->rnd)
        p->rnd = 1;
    if (!o->listen || !o->to) {
        snprintf(why, why_cap, "the proxy needs --listen and --to");
        goto fail;
    }
    if (resolve(o->to, 0, p->up, p->up_len, MAX_ADDRS, &p->n_up, why, why_cap) ||
        resolve(o->listen, 1, la, ll, MAX_ADDRS, &nl, why, why_cap))
        goto fail;
    for (size_t i = 0; i < nl && p->lfd < 0; i++) {
        int fd = socket(la[i].ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;
        int one = 1, zero = 0;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (la[i].ss_family == AF_INET6)
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero); /* dual stack */
        if (bind(fd, (struct sockaddr *)&la[i], ll[i]) == 0 && listen(fd, 512) == 0)
            p->lfd = fd;
        else
            close(fd);
    }
    if (p->lfd < 0) {
        snprintf(why, why_cap, "cannot listen on %s: %s", o->listen, strerror(errno));
        goto fail;
    }
    if (bound && bound_cap) {
        rpc_synth_ep ep;
        bound[0] = 0;
        if (sock_ep(p->lfd, 0, &ep) == 0)
            ep_str(&ep, bound, bound_cap);
    }
    p->loop = rpc_loop_new();
    p->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (!p->loop || p->efd < 0) {
        snprintf(why, why_cap, "cannot create the event loop: %s", strerror(errno));
        goto fail;
    }
    p->lw.fn = on_accept;
    p->lw.u = p;
    p->ew.fn = on_stop;
    p->ew.u = p;
    if (rpc_loop_add(p->loop, p->lfd, EPOLLIN, &p->lw) ||
        rpc_loop_add(p->loop, p->efd, EPOLLIN, &p->ew)) {
        snprintf(why, why_cap, "epoll: %s", strerror(errno));
        goto fail;
    }
    return p;
fail:
    rpc_proxy_del(p);
    return NULL;
}

int rpc_proxy_run(rpc_proxy *p)
{
    int rc = 0;
    while (!p->stopping) {
        rc = rpc_loop_once(p->loop, -1);
        if (rc)
            break;
    }
    while (p->conns)
        conn_reset(p->conns, 1, "proxy stopped");
    p->stopping = 0;
    return rc;
}

void rpc_proxy_stop(rpc_proxy *p)
{
    uint64_t one = 1;
    if (p && p->efd >= 0 && write(p->efd, &one, sizeof one) < 0) {
        /* the counter is saturated: a stop is pending anyway */
    }
}

unsigned rpc_proxy_active(const rpc_proxy *p)
{
    return __atomic_load_n(&p->active, __ATOMIC_RELAXED);
}

uint64_t rpc_proxy_total(const rpc_proxy *p)
{
    return __atomic_load_n(&p->total, __ATOMIC_RELAXED);
}

void rpc_proxy_del(rpc_proxy *p)
{
    if (!p)
        return;
    while (p->conns)
        conn_free(p->conns);
    if (p->lfd >= 0)
        close(p->lfd);
    if (p->efd >= 0)
        close(p->efd);
    rpc_loop_del(p->loop);
    gw_free(p);
}
