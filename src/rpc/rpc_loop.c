/* rpc_loop: the epoll event loop with a binary-heap timer set, and the small codecs the server
 * and client share. One loop per thread; nothing here locks. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "common/gw_err.h"
#include "common/gw_mem.h"
#include "rpc/rpc_int.h"

#define MAX_EVENTS 64

struct rpc_loop {
    int ep;
    rpc_timer **heap; /* min-heap on when; heap[i]->slot == i + 1 */
    size_t n, cap;
};

int64_t rpc_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

rpc_loop *rpc_loop_new(void)
{
    rpc_loop *l = gw_calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->ep = epoll_create1(EPOLL_CLOEXEC);
    if (l->ep < 0) {
        gw_free(l);
        return NULL;
    }
    return l;
}

void rpc_loop_del(rpc_loop *l)
{
    if (!l)
        return;
    close(l->ep);
    gw_free(l->heap);
    gw_free(l);
}

static int ctl(rpc_loop *l, int op, int fd, uint32_t events, rpc_watch *w)
{
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = events;
    ev.data.ptr = w;
    return epoll_ctl(l->ep, op, fd, &ev) == 0 ? 0 : GW_ESYS;
}

int rpc_loop_add(rpc_loop *l, int fd, uint32_t events, rpc_watch *w)
{
    return ctl(l, EPOLL_CTL_ADD, fd, events, w);
}

int rpc_loop_mod(rpc_loop *l, int fd, uint32_t events, rpc_watch *w)
{
    return ctl(l, EPOLL_CTL_MOD, fd, events, w);
}

void rpc_loop_remove(rpc_loop *l, int fd)
{
    epoll_ctl(l->ep, EPOLL_CTL_DEL, fd, NULL);
}

static void heap_set(rpc_loop *l, size_t i, rpc_timer *t)
{
    l->heap[i] = t;
    t->slot = i + 1;
}

static void sift_up(rpc_loop *l, size_t i)
{
    rpc_timer *t = l->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (l->heap[parent]->when <= t->when)
            break;
        heap_set(l, i, l->heap[parent]);
        i = parent;
    }
    heap_set(l, i, t);
}

static void sift_down(rpc_loop *l, size_t i)
{
    rpc_timer *t = l->heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= l->n)
            break;
        if (c + 1 < l->n && l->heap[c + 1]->when < l->heap[c]->when)
            c++;
        if (t->when <= l->heap[c]->when)
            break;
        heap_set(l, i, l->heap[c]);
        i = c;
    }
    heap_set(l, i, t);
}

void rpc_timer_cancel(rpc_loop *l, rpc_timer *t)
{
    if (!t->slot)
        return;
    size_t i = t->slot - 1;
    t->slot = 0;
    l->n--;
    if (i == l->n)
        return;
    rpc_timer *last = l->heap[l->n];
    heap_set(l, i, last);
    if (i > 0 && l->heap[(i - 1) / 2]->when > last->when)
        sift_up(l, i);
    else
        sift_down(l, i);
}

int rpc_timer_arm(rpc_loop *l, rpc_timer *t, int64_t ms)
{
    rpc_timer_cancel(l, t);
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 10;
        rpc_timer **nh = gw_realloc(l->heap, nc * sizeof *nh);
        if (!nh)
            return GW_ENOMEM;
        l->heap = nh;
        l->cap = nc;
    }
    t->when = rpc_now_ms() + (ms < 0 ? 0 : ms);
    heap_set(l, l->n++, t);
    sift_up(l, l->n - 1);
    return 0;
}

int rpc_loop_once(rpc_loop *l, int64_t max_ms)
{
    struct epoll_event evs[MAX_EVENTS];
    int wait = max_ms < 0 ? -1 : (int)(max_ms > 1000000 ? 1000000 : max_ms);
    if (l->n) {
        int64_t due = l->heap[0]->when - rpc_now_ms();
        if (due < 0)
            due = 0;
        if (wait < 0 || due < wait)
            wait = (int)due;
    }
    int k = epoll_wait(l->ep, evs, MAX_EVENTS, wait);
    if (k < 0 && errno != EINTR)
        return GW_ESYS;
    for (int i = 0; i < k; i++) {
        rpc_watch *w = evs[i].data.ptr;
        w->fn(w->u, evs[i].events);
    }
    /* Timers armed by the callbacks below for "now" wait for the next round, so a handler that
     * re-arms with 0 cannot starve I/O. */
    int64_t now = rpc_now_ms();
    size_t budget = l->n;
    while (l->n && l->heap[0]->when <= now && budget--) {
        rpc_timer *t = l->heap[0];
        rpc_timer_cancel(l, t);
        t->fn(t->u);
    }
    return 0;
}

/* ---------------------------------------------------------------- metadata lists */

struct rpc_mdblock {
    rpc_mdblock *next;
    size_t used, cap;
    char data[];
};

#define MDBLOCK_MIN 320          /* a typical request's headers fit in one block */
#define MDBLOCK_KEEP (16u << 10) /* rpc_mdlist_reset frees blocks bigger than this */
#define MDLIST_KEEP 64           /* ... and entry arrays longer than this */

static char *md_alloc(rpc_mdlist *l, size_t need)
{
    rpc_mdblock *b = l->blk;
    if (!b || b->cap - b->used < need) {
        size_t cap = b ? b->cap * 2 : MDBLOCK_MIN;
        if (cap < need)
            cap = need;
        b = gw_malloc(sizeof *b + cap);
        if (!b)
            return NULL;
        b->next = l->blk;
        b->used = 0;
        b->cap = cap;
        l->blk = b;
    }
    char *p = b->data + b->used;
    b->used += need;
    return p;
}

int rpc_mdlist_add(rpc_mdlist *l, const char *name, size_t nlen, const char *value, size_t vlen)
{
    if (l->limit && (l->bytes + nlen + vlen > l->limit))
        return GW_ECAP;
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 10;
        rpc_md *nv = gw_realloc(l->v, nc * sizeof *nv);
        if (!nv)
            return GW_ENOMEM;
        l->v = nv;
        l->cap = nc;
    }
    char *nm = md_alloc(l, nlen + vlen + 2);
    if (!nm)
        return GW_ENOMEM;
    char *val = nm + nlen + 1;
    memcpy(nm, name, nlen);
    nm[nlen] = 0;
    if (vlen)
        memcpy(val, value, vlen);
    val[vlen] = 0;
    l->v[l->n].name = nm;
    l->v[l->n].value = val;
    l->v[l->n].value_len = vlen;
    l->n++;
    l->bytes += nlen + vlen;
    return 0;
}

static void free_blocks(rpc_mdblock *b)
{
    while (b) {
        rpc_mdblock *next = b->next;
        gw_free(b);
        b = next;
    }
}

void rpc_mdlist_free(rpc_mdlist *l)
{
    free_blocks(l->blk);
    gw_free(l->v);
    l->blk = NULL;
    l->v = NULL;
    l->n = l->cap = l->bytes = 0;
}

void rpc_mdlist_reset(rpc_mdlist *l)
{
    rpc_mdblock *b = l->blk;
    if (b) {
        free_blocks(b->next);
        b->next = NULL;
        b->used = 0;
        if (b->cap > MDBLOCK_KEEP) {
            gw_free(b);
            l->blk = NULL;
        }
    }
    if (l->cap > MDLIST_KEEP) {
        gw_free(l->v);
        l->v = NULL;
        l->cap = 0;
    }
    l->n = l->bytes = 0;
}

const rpc_md *rpc_mdlist_get(const rpc_mdlist *l, const char *name)
{
    for (size_t i = l->n; i-- > 0;)
        if (strcmp(l->v[i].name, name) == 0)
            return &l->v[i];
    return NULL;
}

/* ---------------------------------------------------------------- codecs */

int rpc_md_is_bin(const char *name)
{
    size_t n = strlen(name);
    return n >= 4 && strcmp(name + n - 4, "-bin") == 0;
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int rpc_base64_encode(const uint8_t *p, size_t n, gw_buf *out)
{
    int rc = gw_buf_reserve(out, (n + 2) / 3 * 4 + 1);
    if (rc)
        return rc;
    char *o = (char *)out->data + out->len;
    size_t k = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        o[k++] = b64[v >> 18];
        o[k++] = b64[(v >> 12) & 63];
        o[k++] = b64[(v >> 6) & 63];
        o[k++] = b64[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        o[k++] = b64[v >> 18];
        o[k++] = b64[(v >> 12) & 63];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        o[k++] = b64[v >> 18];
        o[k++] = b64[(v >> 12) & 63];
        o[k++] = b64[(v >> 6) & 63];
    }
    out->len += k;
    return 0;
}

static int b64val(int c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62; /* url-safe alphabet accepted too */
    if (c == '/' || c == '_') return 63;
    return -1;
}

int rpc_base64_decode(const char *s, size_t n, gw_buf *out)
{
    while (n && s[n - 1] == '=')
        n--;
    if (n % 4 == 1)
        return GW_EPARSE;
    int rc = gw_buf_reserve(out, n / 4 * 3 + 3);
    if (rc)
        return rc;
    uint8_t *o = out->data + out->len;
    size_t k = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64val((unsigned char)s[i]);
        if (v < 0)
            return GW_EPARSE;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            o[k++] = (uint8_t)(acc >> bits);
        }
    }
    out->len += k;
    return 0;
}

int rpc_percent_encode(const char *s, gw_buf *out)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        int rc;
        if (c >= 0x20 && c <= 0x7e && c != '%') {
            rc = gw_buf_putc(out, c);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            rc = gw_buf_append(out, e, 3);
        }
        if (rc)
            return rc;
    }
    return gw_buf_putc(out, 0);
}

void rpc_timeout_encode(int64_t ms, char *out, size_t cap)
{
    /* PROTOCOL-HTTP2.md: TimeoutValue is at most 8 digits. */
    if (ms < 0)
        ms = 0;
    if (ms <= 99999999)
        snprintf(out, cap, "%lldm", (long long)ms);
    else if (ms / 1000 <= 99999999)
        snprintf(out, cap, "%lldS", (long long)(ms / 1000));
    else
        snprintf(out, cap, "%lldH", (long long)(ms / 3600000 > 99999999 ? 99999999 : ms / 3600000));
}

int rpc_addr_split(const char *addr, const char *default_port, char *host, size_t hcap, char *port,
                   size_t pcap)
{
    const char *h = addr, *p = NULL;
    size_t hl;
    if (!addr)
        return GW_EINVAL;
    if (addr[0] == '[') {
        const char *e = strchr(addr, ']');
        if (!e)
            return GW_EINVAL;
        h = addr + 1;
        hl = (size_t)(e - h);
        if (e[1] == ':')
            p = e + 2;
        else if (e[1])
            return GW_EINVAL;
    } else {
        const char *c = strrchr(addr, ':');
        if (c && strchr(addr, ':') != c) {
            hl = strlen(addr); /* a bare IPv6 address */
        } else if (c) {
            hl = (size_t)(c - addr);
            p = c + 1;
        } else {
            hl = strlen(addr);
        }
    }
    if (!p || !*p)
        p = default_port;
    if (hl >= hcap || strlen(p) >= pcap)
        return GW_EINVAL;
    for (const char *q = p; *q; q++)
        if (*q < '0' || *q > '9')
            return GW_EINVAL;
    memcpy(host, h, hl);
    host[hl] = 0;
    strcpy(port, p);
    return 0;
}

int rpc_list_has(const char *list, size_t n, const char *tok)
{
    size_t tl = strlen(tok), i = 0;
    while (i < n) {
        while (i < n && (list[i] == ' ' || list[i] == ','))
            i++;
        size_t s = i;
        while (i < n && list[i] != ',')
            i++;
        size_t e = i;
        while (e > s && list[e - 1] == ' ')
            e--;
        if (e - s == tl && strncasecmp(list + s, tok, tl) == 0)
            return 1;
    }
    return 0;
}
