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

int cap_decode(cap_decoder *d, const cap_packet *pkt, cap_layers *out)
{
    memset(out, 0, sizeof *out);
    out->linktype = pkt->linktype;
    cap_decoder_begin(d, pkt->ts_ns);
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
