/* cap_ip: IPv4 and IPv6 (extension header chain, bounded) down to TCP, with reassembly of
 * fragmented TCP datagrams. Lengths are always bounded by the IP header, so Ethernet padding never
 * becomes payload. Overlapping fragments with different bytes drop the datagram (RFC 5722, and
 * what Linux does for IPv4 too), so we never guess which copy the receiver saw. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "cap_int.h"
#include "gw_err.h"
#include "gw_mem.h"

#define IPPROTO_TCP_ 6    /* RFC 9293 */
#define IP6_HOPOPTS 0     /* RFC 8200 4.3 */
#define IP6_ROUTING 43    /* RFC 8200 4.4 */
#define IP6_FRAGMENT 44   /* RFC 8200 4.5 */
#define IP6_AH 51         /* RFC 4302 2 */
#define IP6_ESP 50        /* RFC 4303 */
#define IP6_NONEXT 59     /* RFC 8200 4.7 */
#define IP6_DSTOPTS 60    /* RFC 8200 4.6 */
#define MAX_EXT_HEADERS 8 /* bound on the IPv6 chain; real traffic has one or two */
#define MAX_DGRAM 65535u  /* largest reassembled payload: the 16-bit length fields */
#define UNITS ((MAX_DGRAM + 7) / 8)

/* ---- reassembly --------------------------------------------------------------------------- */
struct frag_dg {
    int ver;
    uint8_t src[16], dst[16];
    uint32_t id;
    uint8_t proto; /* IPv4 protocol (part of the key); IPv6: the fragment header's next header */
    uint64_t seq;  /* creation order, for evicting the oldest */
    int64_t first_ts;
    int have_last;
    uint32_t total;                /* payload length, once the last fragment arrived */
    uint32_t max_end;              /* furthest byte received */
    uint32_t nunits;               /* 8-byte units received */
    uint8_t *buf;                  /* payload bytes at their offsets (owned) */
    size_t cap;                    /* allocated size of buf: what counts against ipfrag_max_bytes */
    uint8_t have[(UNITS + 7) / 8]; /* which 8-byte units arrived */
};

void cap_opts_default(cap_opts *o)
{
    o->ipfrag_max_bytes = 4u << 20;
    o->ipfrag_max_datagrams = 256;
    o->ipfrag_timeout_ns = 30 * (int64_t)1000000000;
}

int cap_decoder_new(cap_decoder **out, const cap_opts *opts)
{
    cap_decoder *d = gw_calloc(1, sizeof *d);
    *out = NULL;
    if (!d)
        return GW_ENOMEM;
    if (opts)
        d->o = *opts;
    else
        cap_opts_default(&d->o);
    *out = d;
    return 0;
}

static void dg_drop(cap_decoder *d, unsigned i)
{
    frag_dg *g = d->dgs[i];
    d->held -= g->cap;
    gw_free(g->buf);
    gw_free(g);
    d->dgs[i] = d->dgs[--d->ndgs];
}

void cap_decoder_del(cap_decoder *d)
{
    if (!d)
        return;
    while (d->ndgs)
        dg_drop(d, d->ndgs - 1);
    gw_free(d->dgs);
    gw_free(d->out);
    gw_free(d);
}

void cap_decoder_begin_slow(cap_decoder *d, int64_t ts_ns)
{
    if (d->out) { /* rare: only after a datagram was reassembled */
        gw_free(d->out);
        d->out = NULL;
    }
    for (unsigned i = 0; i < d->ndgs;) {
        if (ts_ns - d->dgs[i]->first_ts > d->o.ipfrag_timeout_ns)
            dg_drop(d, i);
        else
            i++;
    }
}

/* Drop the oldest incomplete datagram other than `keep`; 0 when there was none. */
static int evict_oldest(cap_decoder *d, const frag_dg *keep)
{
    unsigned best = d->ndgs;
    for (unsigned i = 0; i < d->ndgs; i++)
        if (d->dgs[i] != keep && (best == d->ndgs || d->dgs[i]->seq < d->dgs[best]->seq))
            best = i;
    if (best == d->ndgs)
        return 0;
    dg_drop(d, best);
    return 1;
}

static unsigned dg_find(const cap_decoder *d, int ver, const cap_layers *l, uint32_t id,
                        uint8_t proto)
{
    size_t alen = ver == 4 ? 4 : 16;
    for (unsigned i = 0; i < d->ndgs; i++) {
        const frag_dg *g = d->dgs[i];
        if (g->ver == ver && g->id == id && (ver == 6 || g->proto == proto) &&
            memcmp(g->src, l->src, alen) == 0 && memcmp(g->dst, l->dst, alen) == 0)
            return i;
    }
    return d->ndgs;
}

static int unit_has(const frag_dg *g, size_t u)
{
    return g->have[u / 8] >> (u % 8) & 1;
}

/* Add one fragment's payload: `off` and `len` in bytes of the fragmentable part, `last` when no
 * more fragments follow. 1: the datagram is complete, d->out holds its *dlen bytes; 0: held or
 * dropped (see out->anomaly); GW_ENOMEM. */
static int frag_add(cap_decoder *d, int64_t ts, cap_layers *out, int ver, uint32_t id,
                    uint8_t proto, size_t off, const uint8_t *data, size_t len, int last,
                    size_t *dlen)
{
    size_t end = off + len;
    if (end > MAX_DGRAM) {
        cap_note(out, "IP fragment beyond 65535 bytes");
        return 0;
    }
    if (!last && (len == 0 || len % 8)) {
        cap_note(out, "IP fragment length not a multiple of 8");
        return 0;
    }
    unsigned i = dg_find(d, ver, out, id, proto);
    frag_dg *g;
    if (i == d->ndgs) {
        if (d->o.ipfrag_max_datagrams == 0) {
            cap_note(out, "IP reassembly is disabled: fragment dropped");
            return 0;
        }
        while (d->ndgs >= d->o.ipfrag_max_datagrams && evict_oldest(d, NULL))
            cap_note(out, "IP reassembly datagram cap reached: oldest datagram dropped");
        if (d->ndgs == d->adgs) {
            unsigned na = d->adgs ? d->adgs * 2 : 8;
            frag_dg **nd = gw_realloc(d->dgs, na * sizeof *nd);
            if (!nd)
                return GW_ENOMEM;
            d->dgs = nd;
            d->adgs = na;
        }
        g = gw_calloc(1, sizeof *g);
        if (!g)
            return GW_ENOMEM;
        g->ver = ver;
        memcpy(g->src, out->src, 16);
        memcpy(g->dst, out->dst, 16);
        g->id = id;
        g->proto = proto;
        g->seq = d->seq++;
        g->first_ts = ts;
        i = d->ndgs++;
        d->dgs[i] = g;
    }
    g = d->dgs[i];
    if ((g->have_last && end > g->total) || (last && g->have_last && end != g->total) ||
        (last && g->max_end > end)) {
        cap_note(out, "IP fragments disagree on the datagram's length: datagram dropped");
        dg_drop(d, i);
        return 0;
    }
    /* Overlap: identical bytes (a duplicate) are harmless; different bytes drop the datagram. */
    size_t u0 = off / 8, u1 = (end + 7) / 8, fresh = 0;
    for (size_t u = u0; u < u1; u++) {
        if (!unit_has(g, u)) {
            fresh++;
            continue;
        }
        size_t a = u * 8 > off ? u * 8 : off, b = u * 8 + 8 < end ? u * 8 + 8 : end;
        if (memcmp(g->buf + a, data + (a - off), b - a) != 0) {
            cap_note(out, "overlapping IP fragments with different data: datagram dropped");
            dg_drop(d, i);
            return 0;
        }
    }
    if (fresh < u1 - u0)
        cap_note(out, "duplicate IP fragment data");
    if (end > g->cap) {
        size_t ncap = (end + 2047) / 2048 * 2048;
        if (ncap > MAX_DGRAM + 1)
            ncap = MAX_DGRAM + 1;
        if (ncap > d->o.ipfrag_max_bytes) {
            cap_note(out, "IP datagram larger than the reassembly byte cap: dropped");
            dg_drop(d, i);
            return 0;
        }
        while (d->held + (ncap - g->cap) > d->o.ipfrag_max_bytes && evict_oldest(d, g))
            cap_note(out, "IP reassembly byte cap reached: oldest datagram dropped");
        i = dg_find(d, ver, out, id, proto); /* eviction moves entries */
        uint8_t *nb = gw_realloc(g->buf, ncap);
        if (!nb) {
            dg_drop(d, i);
            return GW_ENOMEM;
        }
        d->held += ncap - g->cap;
        g->buf = nb;
        g->cap = ncap;
    }
    for (size_t u = u0; u < u1; u++) {
        if (unit_has(g, u))
            continue;
        size_t a = u * 8 > off ? u * 8 : off, b = u * 8 + 8 < end ? u * 8 + 8 : end;
        memcpy(g->buf + a, data + (a - off), b - a);
        g->have[u / 8] |= (uint8_t)(1u << (u % 8));
        g->nunits++;
    }
    if (end > g->max_end)
        g->max_end = (uint32_t)end;
    if (last) {
        g->have_last = 1;
        g->total = (uint32_t)end;
    }
    if (!g->have_last || g->nunits != (g->total + 7) / 8)
        return 0;
    /* Complete: hand the buffer to the caller for the life of this cap_decode. */
    d->out = g->buf;
    *dlen = g->total;
    g->buf = NULL;
    d->held -= g->cap;
    g->cap = 0;
    dg_drop(d, i);
    out->reassembled = 1;
    return 1;
}

/* ---- TCP ---------------------------------------------------------------------------------- */
/* `cap` bytes of the segment are present, `seg` is what the IP length says it has (cap <= seg).
 * RFC 9293 3.1: ports(4) seq(4) ack(4) offset/flags(2) window(2) checksum(2) urgent(2) options */
static int tcp(cap_layers *out, const uint8_t *p, size_t cap, size_t seg)
{
    if (cap < 20) {
        cap_note(out, seg < 20 ? "TCP segment shorter than a TCP header" : "TCP header truncated");
        return 0;
    }
    size_t hl = (size_t)(p[12] >> 4) * 4;
    if (hl < 20 || hl > seg) {
        cap_note(out, "bad TCP header length");
        return 0;
    }
    if (hl > cap) {
        cap_note(out, "TCP header truncated");
        return 0;
    }
    out->is_tcp = 1;
    out->sport = (uint16_t)(p[0] << 8 | p[1]);
    out->dport = (uint16_t)(p[2] << 8 | p[3]);
    out->seq = (uint32_t)p[4] << 24 | (uint32_t)p[5] << 16 | (uint32_t)p[6] << 8 | p[7];
    out->ack = (uint32_t)p[8] << 24 | (uint32_t)p[9] << 16 | (uint32_t)p[10] << 8 | p[11];
    out->flags = p[13];
    out->window = (uint16_t)(p[14] << 8 | p[15]);
    out->tcp_hdr_len = (uint32_t)hl;
    out->payload = p + hl;
    out->payload_len = (uint32_t)(cap - hl);
    out->payload_missing = (uint32_t)(seg - cap);
    return 1;
}

/* ---- IPv4 --------------------------------------------------------------------------------- */
/* RFC 791 3.1: ver/ihl(1) tos(1) total length(2) id(2) flags/offset(2) ttl(1) proto(1)
 * checksum(2) src(4) dst(4) options */
static int ipv4(cap_decoder *d, const cap_packet *pkt, const uint8_t *p, size_t n, size_t wire,
                cap_layers *out)
{
    if (n < 20) {
        cap_note(out, "IPv4 header truncated");
        return 0;
    }
    out->ipver = 4;
    out->tos = p[1];
    out->ip_len = (uint32_t)(p[2] << 8 | p[3]);
    out->ip_id = (uint16_t)(p[4] << 8 | p[5]);
    uint16_t fo = (uint16_t)(p[6] << 8 | p[7]);
    out->ttl = p[8];
    out->proto = p[9];
    memcpy(out->src, p + 12, 4);
    memcpy(out->dst, p + 16, 4);
    size_t ihl = (size_t)(p[0] & 15) * 4;
    if (ihl < 20 || ihl > wire) {
        cap_note(out, "bad IPv4 header length");
        return 0;
    }
    if (ihl > n) {
        cap_note(out, "IPv4 header truncated");
        return 0;
    }
    out->ip_hdr_len = (uint32_t)ihl;
    size_t dlen = out->ip_len;
    if (dlen == 0) {
        /* Captured before segmentation offload filled it in. */
        cap_note(out, "IPv4 total length 0 (segmentation offload?)");
        dlen = wire;
    } else if (dlen < ihl) {
        cap_note(out, "bad IPv4 total length");
        return 0;
    } else if (dlen > wire) {
        cap_note(out, "IPv4 total length exceeds the packet");
        dlen = wire;
    }
    size_t have = dlen < n ? dlen : n;
    const uint8_t *pl = p + ihl;
    size_t pcap = have - ihl, plen = dlen - ihl;
    int mf = fo & 0x2000;
    size_t foff = (size_t)(fo & 0x1fff) * 8;
    if (mf || foff) {
        if (out->proto != IPPROTO_TCP_)
            return 0;
        if (pcap < plen) {
            cap_note(out, "IPv4 fragment cut by the snapshot length");
            return 0;
        }
        size_t rlen = 0;
        int r = frag_add(d, pkt->ts_ns, out, 4, out->ip_id, out->proto, foff, pl, plen, !mf, &rlen);
        if (r <= 0)
            return r;
        out->ip_len = (uint32_t)(ihl + rlen);
        return tcp(out, d->out, rlen, rlen);
    }
    if (out->proto != IPPROTO_TCP_)
        return 0;
    return tcp(out, pl, pcap, plen);
}

/* ---- IPv6 --------------------------------------------------------------------------------- */
typedef struct frag6 {
    uint8_t nh;
    size_t off;
    int more;
    uint32_t id;
} frag6;

/* Walk extension headers from *off within `have` bytes, starting with next header *nh.
 * 0: *nh is the upper-layer protocol at *off; 1: a fragment header (in *f, *off after it);
 * -1: the chain ends without an upper layer, or is malformed (anomaly). */
static int chain(const uint8_t *p, size_t have, size_t *off, uint8_t *nh, frag6 *f, int *count,
                 cap_layers *out)
{
    for (;;) {
        size_t len;
        switch (*nh) {
        case IP6_HOPOPTS:
        case IP6_ROUTING:
        case IP6_DSTOPTS:
        case IP6_AH:
        case IP6_FRAGMENT:
            break;
        case IP6_NONEXT:
        case IP6_ESP:
            return -1;
        default:
            return 0;
        }
        if (++*count > MAX_EXT_HEADERS) {
            cap_note(out, "too many IPv6 extension headers");
            return -1;
        }
        if (have - *off < 8) {
            cap_note(out, "IPv6 extension header truncated");
            return -1;
        }
        const uint8_t *h = p + *off;
        if (*nh == IP6_FRAGMENT) {
            /* RFC 8200 4.5: next(1) reserved(1) offset/M(2) identification(4) */
            uint16_t fo = (uint16_t)(h[2] << 8 | h[3]);
            f->nh = h[0];
            f->off = fo & 0xfff8;
            f->more = fo & 1;
            f->id = (uint32_t)h[4] << 24 | (uint32_t)h[5] << 16 | (uint32_t)h[6] << 8 | h[7];
            *off += 8;
            *nh = h[0];
            if (f->off == 0 && !f->more)
                continue; /* an atomic fragment (RFC 6946): the datagram is whole */
            return 1;
        }
        len = *nh == IP6_AH ? ((size_t)h[1] + 2) * 4 : ((size_t)h[1] + 1) * 8;
        if (have - *off < len) {
            cap_note(out, "IPv6 extension header truncated");
            return -1;
        }
        *nh = h[0];
        *off += len;
    }
}

/* RFC 8200 3: ver/class/flow(4) payload length(2) next header(1) hop limit(1) src(16) dst(16) */
static int ipv6(cap_decoder *d, const cap_packet *pkt, const uint8_t *p, size_t n, size_t wire,
                cap_layers *out)
{
    if (n < 40) {
        cap_note(out, "IPv6 header truncated");
        return 0;
    }
    uint32_t w = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    out->ipver = 6;
    out->tos = (uint8_t)(w >> 20);
    out->flow_label = w & 0xfffff;
    out->ip_len = (uint32_t)(p[4] << 8 | p[5]);
    uint8_t nh = p[6];
    out->ttl = p[7];
    memcpy(out->src, p + 8, 16);
    memcpy(out->dst, p + 24, 16);
    size_t dlen = 40 + (size_t)out->ip_len;
    if (out->ip_len == 0 && nh != IP6_NONEXT) {
        cap_note(out, "IPv6 payload length 0 (segmentation offload or jumbogram?)");
        dlen = wire;
    } else if (dlen > wire) {
        cap_note(out, "IPv6 payload length exceeds the packet");
        dlen = wire;
    }
    size_t have = dlen < n ? dlen : n, off = 40;
    int count = 0;
    frag6 f;
    int r = chain(p, have, &off, &nh, &f, &count, out);
    out->proto = nh;
    out->ip_hdr_len = (uint32_t)off;
    if (r < 0)
        return 0;
    if (r == 0)
        return nh == IPPROTO_TCP_ ? tcp(out, p + off, have - off, dlen - off) : 0;
    /* A fragment. Only TCP (possibly behind more extension headers) is worth reassembling. */
    if (nh != IPPROTO_TCP_ && nh != IP6_DSTOPTS && nh != IP6_ROUTING && nh != IP6_AH)
        return 0;
    if (have < dlen) {
        cap_note(out, "IPv6 fragment cut by the snapshot length");
        return 0;
    }
    size_t rlen = 0;
    r = frag_add(d, pkt->ts_ns, out, 6, f.id, f.nh, f.off, p + off, dlen - off, !f.more, &rlen);
    if (r <= 0)
        return r;
    size_t roff = 0;
    frag6 f2;
    r = chain(d->out, rlen, &roff, &nh, &f2, &count, out);
    out->proto = nh;
    out->ip_hdr_len = (uint32_t)(off + roff);
    out->ip_len = (uint32_t)(off - 40 + rlen);
    if (r > 0)
        cap_note(out, "IPv6 fragment header inside a fragmented datagram");
    if (r != 0 || nh != IPPROTO_TCP_)
        return 0;
    return tcp(out, d->out + roff, rlen - roff, rlen - roff);
}

int cap_net_decode(cap_decoder *d, const cap_packet *pkt, int ver, const uint8_t *p, size_t n,
                   size_t wire, cap_layers *out)
{
    if (n == 0) {
        cap_note(out, ver == 6 ? "IPv6 header truncated" : "IPv4 header truncated");
        return 0;
    }
    if (p[0] >> 4 != ver) {
        cap_note(out, "IP version does not match the link layer's protocol");
        return 0;
    }
    return ver == 4 ? ipv4(d, pkt, p, n, wire, out) : ipv6(d, pkt, p, n, wire, out);
}

const char *cap_addr_str(int ipver, const uint8_t *addr, char *buf, size_t n)
{
    if (!buf || n == 0)
        return "";
    if (!inet_ntop(ipver == 6 ? AF_INET6 : AF_INET, addr, buf, (socklen_t)n))
        snprintf(buf, n, "?");
    return buf;
}
