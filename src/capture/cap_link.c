/* cap_link: the link layers cap_decode() understands (Ethernet with 802.1Q/QinQ tags, Linux
 * cooked v1/v2, BSD loopback in both byte orders, OpenBSD loop, raw IP) down to the network
 * layer, which cap_ip.c takes over. The supported set is cap_linktype_supported() in cap_file.c. */
#include <pcap/dlt.h>
#include <string.h>

#include "cap_int.h"
#include "gw_cur.h"

#define ETHERTYPE_IPV4 0x0800 /* IEEE 802 numbers */
#define ETHERTYPE_IPV6 0x86DD
#define ETHERTYPE_8021Q 0x8100
#define ETHERTYPE_8021AD 0x88A8
#define ETHERTYPE_QINQ_OLD 0x9100
#define MAX_TAGS 4 /* more VLAN tags than any real network stacks */

static int is_vlan(uint16_t t)
{
    return t == ETHERTYPE_8021Q || t == ETHERTYPE_8021AD || t == ETHERTYPE_QINQ_OLD;
}

/* VLAN tags, each TCI(2) + next type(2), then the network layer's type. 0, or -1 with an anomaly.
 */
static int vlan_tags(gw_cur *c, uint16_t type, cap_layers *out)
{
    int ntags = 0;
    while (is_vlan(type)) {
        if (++ntags > MAX_TAGS) {
            cap_note(out, "too many VLAN tags");
            return -1;
        }
        uint16_t tci = gw_cur_be16(c);
        type = gw_cur_be16(c);
        if (!gw_cur_ok(c)) {
            cap_note(out, "VLAN tag truncated");
            return -1;
        }
        if (out->nvlan < 2)
            out->vlan[out->nvlan++] = tci & 0x0fff;
    }
    out->ethertype = type;
    return 0;
}

/* Address families in DLT_NULL/DLT_LOOP headers: AF_INET is 2 everywhere; AF_INET6 is 10 on
 * Linux, 24 on NetBSD/OpenBSD, 28 on FreeBSD, 30 on macOS. */
static uint16_t af_ethertype(uint32_t af)
{
    switch (af) {
    case 2:
        return ETHERTYPE_IPV4;
    case 10:
    case 24:
    case 28:
    case 30:
        return ETHERTYPE_IPV6;
    default:
        return 0;
    }
}

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}
static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Nearly every packet is untagged Ethernet, IPv4 without options or IPv6 without extension
 * headers, not a fragment, with consistent lengths and a whole TCP header: such a packet is
 * decoded here in one pass, each field written once (no clearing of the whole struct, no cursor),
 * exactly as the general path below would leave it; the differential tests and fuzz_capture
 * hold the two to that. Returns 1 when it took the packet, 0 (with *out half written and
 * meaningless) when the general path must decode it from scratch. */
static int decode_fast(const cap_packet *pkt, cap_layers *out)
{
    const uint8_t *b = pkt->data;
    size_t caplen = pkt->caplen;
    if (pkt->linktype != DLT_EN10MB || !b || caplen < 14 + 20 + 20)
        return 0;
    uint16_t type = rd16(b + 12);
    const uint8_t *p = b + 14;
    size_t n = caplen - 14;
    size_t wire = pkt->wirelen > caplen ? pkt->wirelen - 14 : n;
    size_t ihl, dlen;
    if (type == ETHERTYPE_IPV4) {
        /* Version 4, IHL 5, TCP, neither MF nor a fragment offset; a total length that holds
         * both headers and fits the packet (0, short or long ones carry anomalies). */
        dlen = rd16(p + 2);
        if (p[0] != 0x45 || p[9] != 6 || (rd16(p + 6) & 0x3fff) || dlen < 40 || dlen > wire)
            return 0;
        ihl = 20;
        out->ipver = 4;
        out->tos = p[1];
        out->ip_len = (uint32_t)dlen;
        out->ip_id = rd16(p + 4);
        out->ttl = p[8];
        out->flow_label = 0;
        memcpy(out->src, p + 12, 4);
        memset(out->src + 4, 0, 12);
        memcpy(out->dst, p + 16, 4);
        memset(out->dst + 4, 0, 12);
    } else if (type == ETHERTYPE_IPV6) {
        /* Version 6, next header TCP at once, a payload length that holds a TCP header and
         * fits the packet. */
        dlen = 40 + (size_t)rd16(p + 4);
        if (p[0] >> 4 != 6 || p[6] != 6 || n < 40 + 20 || dlen < 40 + 20 || dlen > wire)
            return 0;
        ihl = 40;
        uint32_t w = rd32(p);
        out->ipver = 6;
        out->tos = (uint8_t)(w >> 20);
        out->flow_label = w & 0xfffff;
        out->ip_len = (uint32_t)(dlen - 40);
        out->ip_id = 0;
        out->ttl = p[7];
        memcpy(out->src, p + 8, 16);
        memcpy(out->dst, p + 24, 16);
    } else {
        return 0;
    }
    size_t have = dlen < n ? dlen : n;
    const uint8_t *t = p + ihl;
    size_t pcap = have - ihl; /* >= 20: n and dlen both hold ihl + 20 */
    size_t hl = (size_t)(t[12] >> 4) * 4;
    if (hl < 20 || hl > pcap) /* pcap <= the segment's length, so hl fits that too */
        return 0;
    out->linktype = DLT_EN10MB;
    out->link_len = 14;
    out->has_eth = 1;
    memcpy(out->eth_dst, b, 6);
    memcpy(out->eth_src, b + 6, 6);
    out->ethertype = type;
    out->vlan[0] = out->vlan[1] = 0;
    out->nvlan = 0;
    out->proto = 6;
    out->ip_hdr_len = (uint32_t)ihl;
    out->reassembled = 0;
    out->is_tcp = 1;
    out->sport = rd16(t);
    out->dport = rd16(t + 2);
    out->seq = rd32(t + 4);
    out->ack = rd32(t + 8);
    out->flags = t[13];
    out->window = rd16(t + 14);
    out->tcp_hdr_len = (uint32_t)hl;
    out->payload = t + hl;
    out->payload_len = (uint32_t)(pcap - hl);
    out->payload_missing = (uint32_t)(dlen - have);
    out->anomaly = NULL;
    return 1;
}

static __attribute__((noinline)) int decode_general(cap_decoder *d, const cap_packet *pkt,
                                                    cap_layers *out);

int cap_decode(cap_decoder *d, const cap_packet *pkt, cap_layers *out)
{
    /* With fragments held (rare) cap_decoder_begin has work: the general path does it. */
    if (!d->out && !d->ndgs && decode_fast(pkt, out))
        return 1;
    return cap_decode_general(d, pkt, out);
}

__attribute__((noinline)) int cap_decode_general(cap_decoder *d, const cap_packet *pkt,
                                                 cap_layers *out)
{
    cap_decoder_begin(d, pkt->ts_ns);
    return decode_general(d, pkt, out);
}

/* Every packet the fast path declines; cap_decoder_begin has run (running it again would do
 * nothing more). */
static __attribute__((noinline)) int decode_general(cap_decoder *d, const cap_packet *pkt,
                                                    cap_layers *out)
{
    memset(out, 0, sizeof *out);
    out->linktype = pkt->linktype;
    gw_cur c = gw_cur_make(pkt->data, pkt->data ? pkt->caplen : 0);
    int ver = -1;
    switch (pkt->linktype) {
    case DLT_EN10MB: {
        /* dst(6) src(6) type(2) [tags] */
        const uint8_t *dst = gw_cur_bytes(&c, 6), *src = gw_cur_bytes(&c, 6);
        uint16_t type = gw_cur_be16(&c);
        if (!gw_cur_ok(&c)) {
            cap_note(out, "Ethernet header truncated");
            return 0;
        }
        out->has_eth = 1;
        memcpy(out->eth_dst, dst, 6);
        memcpy(out->eth_src, src, 6);
        if (!is_vlan(type)) /* untagged, nearly always: no call */
            out->ethertype = type;
        else if (vlan_tags(&c, type, out) < 0)
            return 0;
        if (out->ethertype < 0x0600) { /* an 802.3 length: LLC follows, not IP */
            out->ethertype = 0;
            return 0;
        }
        break;
    }
    case DLT_LINUX_SLL: {
        /* packet type(2) ARPHRD(2) addr len(2) addr(8) protocol(2) */
        gw_cur_skip(&c, 14);
        uint16_t type = gw_cur_be16(&c);
        if (!gw_cur_ok(&c)) {
            cap_note(out, "Linux cooked header truncated");
            return 0;
        }
        if (vlan_tags(&c, type, out) < 0)
            return 0;
        break;
    }
    case DLT_LINUX_SLL2: {
        /* protocol(2) reserved(2) ifindex(4) ARPHRD(2) packet type(1) addr len(1) addr(8) */
        uint16_t type = gw_cur_be16(&c);
        gw_cur_skip(&c, 18);
        if (!gw_cur_ok(&c)) {
            cap_note(out, "Linux cooked v2 header truncated");
            return 0;
        }
        if (vlan_tags(&c, type, out) < 0)
            return 0;
        break;
    }
    case DLT_NULL:
    case DLT_LOOP: {
        /* DLT_NULL: the family in the capturing host's byte order, which we do not know, so
         * try both; DLT_LOOP: network byte order. */
        const uint8_t *h = gw_cur_bytes(&c, 4);
        if (!h) {
            cap_note(out, "loopback header truncated");
            return 0;
        }
        uint32_t be = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
        uint32_t le = (uint32_t)h[3] << 24 | (uint32_t)h[2] << 16 | (uint32_t)h[1] << 8 | h[0];
        out->ethertype = af_ethertype(be);
        if (!out->ethertype && pkt->linktype == DLT_NULL)
            out->ethertype = af_ethertype(le);
        if (!out->ethertype)
            return 0;
        break;
    }
    case DLT_RAW:
    case 101: /* LINKTYPE_RAW */
        ver = 0;
        break;
    case DLT_IPV4:
        ver = 4;
        break;
    case DLT_IPV6:
        ver = 6;
        break;
    default:
        cap_note(out, "unsupported link type");
        return 0;
    }
    if (ver < 0) {
        if (out->ethertype == ETHERTYPE_IPV4)
            ver = 4;
        else if (out->ethertype == ETHERTYPE_IPV6)
            ver = 6;
        else
            return 0;
    }
    size_t caplen = pkt->data ? pkt->caplen : 0;
    size_t link = pkt->data ? (size_t)(c.p - pkt->data) : 0;
    out->link_len = (uint32_t)link;
    const uint8_t *p = pkt->data ? pkt->data + link : NULL;
    size_t n = caplen - link;
    if (ver == 0) {
        ver = n ? p[0] >> 4 : 0;
        if (ver != 4 && ver != 6) {
            cap_note(out, n ? "raw packet is not IPv4 or IPv6" : "raw packet is empty");
            return 0;
        }
    }
    if (ver == 4)
        out->ethertype = ETHERTYPE_IPV4;
    else
        out->ethertype = ETHERTYPE_IPV6;
    /* Bytes after the link header on the wire; a wire length below the captured one is bogus. */
    size_t wire = pkt->wirelen > caplen ? pkt->wirelen - link : n;
    return cap_net_decode(d, pkt, ver, p, n, wire, out);
}
