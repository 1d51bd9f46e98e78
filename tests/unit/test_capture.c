/* test_capture: link layers, IPv4/IPv6 (options, extension headers, fragments), TCP, snaplen and
 * padding on packets built in memory; pcap/pcapng files written byte by byte to a temp dir and
 * read back, including every truncation of the last record, stdin and a pipe. cap_decode's fast
 * path for the common packet is held to the general path on every packet built here, on every
 * truncation of them and on random damage. */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <pcap/dlt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "capture/cap.h"
#include "capture/cap_int.h"
#include "common/gw_err.h"
#include "common/gw_mem.h"
#include "gw_test.h"

/* ---- packet builders ---------------------------------------------------------------------- */
static void be16(uint8_t *b, uint32_t v)
{
    b[0] = (uint8_t)(v >> 8);
    b[1] = (uint8_t)v;
}
static void be32(uint8_t *b, uint32_t v)
{
    be16(b, v >> 16);
    be16(b + 2, v);
}
static void put32(uint8_t *b, uint32_t v, int big)
{
    if (big)
        be32(b, v);
    else {
        b[0] = (uint8_t)v;
        b[1] = (uint8_t)(v >> 8);
        b[2] = (uint8_t)(v >> 16);
        b[3] = (uint8_t)(v >> 24);
    }
}
static void put16(uint8_t *b, uint32_t v, int big)
{
    if (big)
        be16(b, v);
    else {
        b[0] = (uint8_t)v;
        b[1] = (uint8_t)(v >> 8);
    }
}

static const uint8_t SRC4[4] = {10, 0, 0, 1}, DST4[4] = {192, 168, 1, 20};
static const uint8_t SRC6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
static const uint8_t DST6[16] = {0xfe, 0x80, 0,    0,    0,    0,    0,    0,
                                 0x02, 0x11, 0x22, 0xff, 0xfe, 0x33, 0x44, 0x55};
static const uint8_t MAC_D[6] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55};
static const uint8_t MAC_S[6] = {0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb};

/* TCP header (with `optlen` bytes of NOP options) + payload of `plen` bytes (i*7+3). */
static size_t mk_tcp(uint8_t *b, size_t optlen, size_t plen)
{
    size_t hl = 20 + optlen;
    memset(b, 0, hl);
    be16(b, 50051);
    be16(b + 2, 443);
    be32(b + 4, 0x11223344);
    be32(b + 8, 0xa0b0c0d0);
    b[12] = (uint8_t)(hl / 4 << 4);
    b[13] = CAP_TCP_PSH | CAP_TCP_ACK;
    be16(b + 14, 0xfe01);
    memset(b + 20, 1, optlen); /* NOP */
    for (size_t i = 0; i < plen; i++)
        b[hl + i] = (uint8_t)(i * 7 + 3);
    return hl + plen;
}

/* IPv4 header with `optlen` bytes of options around l4; total length covers them. */
static size_t mk_ip4(uint8_t *b, size_t optlen, uint16_t id, uint16_t fo, uint8_t proto,
                     const uint8_t *l4, size_t l4len)
{
    size_t hl = 20 + optlen;
    memset(b, 0, hl);
    b[0] = (uint8_t)(0x40 | hl / 4);
    b[1] = 0x28;
    be16(b + 2, (uint32_t)(hl + l4len));
    be16(b + 4, id);
    be16(b + 6, fo);
    b[8] = 63;
    b[9] = proto;
    memcpy(b + 12, SRC4, 4);
    memcpy(b + 16, DST4, 4);
    memset(b + 20, 1, optlen);
    memcpy(b + hl, l4, l4len);
    return hl + l4len;
}

/* IPv6 header + `ext` (already chained, first next header `nh`) + l4. */
static size_t mk_ip6(uint8_t *b, uint8_t nh, const uint8_t *ext, size_t extlen, const uint8_t *l4,
                     size_t l4len)
{
    be32(b, 6u << 28 | 0xb8u << 20 | 0x12345);
    be16(b + 4, (uint32_t)(extlen + l4len));
    b[6] = nh;
    b[7] = 64;
    memcpy(b + 8, SRC6, 16);
    memcpy(b + 24, DST6, 16);
    if (extlen)
        memcpy(b + 40, ext, extlen);
    if (l4len)
        memcpy(b + 40 + extlen, l4, l4len);
    return 40 + extlen + l4len;
}

enum {
    L_ETH,
    L_VLAN,
    L_QINQ,
    L_QINQ9100,
    L_SLL,
    L_SLL2,
    L_NULL_LE,
    L_NULL_BE,
    L_NULL_MAC6,
    L_LOOP,
    L_RAW,
    L_RAW101,
    L_IPV4,
    L_IPV6,
    L_COUNT
};
static const char *const lnames[] = {"eth",  "vlan",    "qinq",    "qinq9100",    "sll",
                                     "sll2", "null-le", "null-be", "null-mac-v6", "loop",
                                     "raw",  "raw101",  "ipv4",    "ipv6"};

/* Wrap an IP packet in link type `l`. Sets *dlt and *link (header bytes). */
static size_t wrap(int l, int ver, const uint8_t *ip, size_t iplen, uint8_t *b, int *dlt,
                   size_t *link)
{
    uint16_t et = ver == 4 ? 0x0800 : 0x86DD;
    size_t h = 0;
    switch (l) {
    case L_ETH:
    case L_VLAN:
    case L_QINQ:
    case L_QINQ9100:
        *dlt = DLT_EN10MB;
        memcpy(b, MAC_D, 6);
        memcpy(b + 6, MAC_S, 6);
        h = 12;
        if (l == L_QINQ || l == L_QINQ9100) {
            be16(b + h, l == L_QINQ ? 0x88a8 : 0x9100);
            be16(b + h + 2, 0x2000 | 100);
            h += 4;
        }
        if (l != L_ETH) {
            be16(b + h, 0x8100);
            be16(b + h + 2, 0xe000 | 200);
            h += 4;
        }
        be16(b + h, et);
        h += 2;
        break;
    case L_SLL:
        *dlt = DLT_LINUX_SLL;
        memset(b, 0, 16);
        be16(b + 2, 1);
        be16(b + 4, 6);
        memcpy(b + 6, MAC_S, 6);
        be16(b + 14, et);
        h = 16;
        break;
    case L_SLL2:
        *dlt = DLT_LINUX_SLL2;
        memset(b, 0, 20);
        be16(b, et);
        be32(b + 4, 3);
        be16(b + 8, 1);
        b[11] = 6;
        memcpy(b + 12, MAC_S, 6);
        h = 20;
        break;
    case L_NULL_LE:
        *dlt = DLT_NULL;
        put32(b, ver == 4 ? 2 : 10, 0);
        h = 4;
        break;
    case L_NULL_BE:
        *dlt = DLT_NULL;
        put32(b, ver == 4 ? 2 : 28, 1);
        h = 4;
        break;
    case L_NULL_MAC6:
        *dlt = DLT_NULL;
        put32(b, ver == 4 ? 2 : 30, 0);
        h = 4;
        break;
    case L_LOOP:
        *dlt = DLT_LOOP;
        put32(b, ver == 4 ? 2 : 24, 1);
        h = 4;
        break;
    case L_RAW:
        *dlt = DLT_RAW;
        break;
    case L_RAW101:
        *dlt = 101;
        break;
    case L_IPV4:
        *dlt = DLT_IPV4;
        break;
    case L_IPV6:
        *dlt = DLT_IPV6;
        break;
    }
    memcpy(b + h, ip, iplen);
    *link = h;
    return h + iplen;
}

static cap_packet mkpkt(int dlt, const uint8_t *b, size_t n, int64_t ts)
{
    cap_packet p = {1, ts, (uint32_t)n, (uint32_t)n, dlt, UINT64_MAX, b};
    return p;
}

static void check_payload(const cap_layers *l, size_t optlen, size_t plen)
{
    GW_CHECK_INT(l->tcp_hdr_len, 20 + optlen);
    GW_CHECK_INT(l->payload_len, plen);
    int ok = l->payload != NULL || plen == 0;
    for (size_t i = 0; ok && i < plen; i++)
        ok = l->payload[i] == (uint8_t)(i * 7 + 3);
    GW_CHECK(ok);
}

static void check_tcp_fields(const cap_layers *l)
{
    GW_CHECK_INT(l->is_tcp, 1);
    GW_CHECK_INT(l->sport, 50051);
    GW_CHECK_INT(l->dport, 443);
    GW_CHECK_INT(l->seq, 0x11223344);
    GW_CHECK_INT(l->ack, 0xa0b0c0d0);
    GW_CHECK_INT(l->flags, CAP_TCP_PSH | CAP_TCP_ACK);
    GW_CHECK_INT(l->window, 0xfe01);
}

/* ---- link layers x IPv4/IPv6 -------------------------------------------------------------- */
static void test_links(void)
{
    cap_decoder *d;
    GW_CHECK_INT(cap_decoder_new(&d, NULL), 0);
    uint8_t tcpb[200], ip[300], frame[400];
    size_t tl = mk_tcp(tcpb, 12, 33);
    for (int ver = 4; ver <= 6; ver += 2) {
        size_t il = ver == 4 ? mk_ip4(ip, 0, 0x4242, 0x4000, 6, tcpb, tl)
                             : mk_ip6(ip, 6, NULL, 0, tcpb, tl);
        for (int l = 0; l < L_COUNT; l++) {
            if ((l == L_IPV4 && ver == 6) || (l == L_IPV6 && ver == 4))
                continue;
            int dlt;
            size_t link;
            size_t n = wrap(l, ver, ip, il, frame, &dlt, &link);
            cap_packet p = mkpkt(dlt, frame, n, 1000);
            cap_layers o;
            int r = cap_decode(d, &p, &o);
            if (r != 1)
                fprintf(stderr, "link %s v%d: r=%d anomaly=%s\n", lnames[l], ver, r,
                        o.anomaly ? o.anomaly : "-");
            GW_CHECK_INT(r, 1);
            GW_CHECK(o.anomaly == NULL);
            GW_CHECK_INT(o.linktype, dlt);
            GW_CHECK_INT(o.link_len, link);
            GW_CHECK_INT(o.ethertype, ver == 4 ? 0x0800 : 0x86DD);
            int eth = l <= L_QINQ9100;
            GW_CHECK_INT(o.has_eth, eth);
            if (eth) {
                GW_CHECK_MEM(o.eth_dst, 6, MAC_D, 6);
                GW_CHECK_MEM(o.eth_src, 6, MAC_S, 6);
            }
            int nv = l == L_VLAN ? 1 : (l == L_QINQ || l == L_QINQ9100) ? 2 : 0;
            GW_CHECK_INT(o.nvlan, nv);
            if (nv == 1)
                GW_CHECK_INT(o.vlan[0], 200);
            if (nv == 2) {
                GW_CHECK_INT(o.vlan[0], 100);
                GW_CHECK_INT(o.vlan[1], 200);
            }
            GW_CHECK_INT(o.ipver, ver);
            GW_CHECK_INT(o.proto, 6);
            GW_CHECK_INT(o.reassembled, 0);
            if (ver == 4) {
                GW_CHECK_MEM(o.src, 4, SRC4, 4);
                GW_CHECK_MEM(o.dst, 4, DST4, 4);
                GW_CHECK_INT(o.ttl, 63);
                GW_CHECK_INT(o.tos, 0x28);
                GW_CHECK_INT(o.ip_id, 0x4242);
                GW_CHECK_INT(o.ip_hdr_len, 20);
                GW_CHECK_INT(o.ip_len, 20 + tl);
                GW_CHECK_INT(o.flow_label, 0);
            } else {
                GW_CHECK_MEM(o.src, 16, SRC6, 16);
                GW_CHECK_MEM(o.dst, 16, DST6, 16);
                GW_CHECK_INT(o.ttl, 64);
                GW_CHECK_INT(o.tos, 0xb8);
                GW_CHECK_INT(o.flow_label, 0x12345);
                GW_CHECK_INT(o.ip_hdr_len, 40);
                GW_CHECK_INT(o.ip_len, tl);
            }
            check_tcp_fields(&o);
            check_payload(&o, 12, 33);
            GW_CHECK(o.payload == frame + link + (ver == 4 ? 20 : 40) + 32);
            GW_CHECK_INT(o.payload_missing, 0);
        }
    }
    /* Not IP: ARP over Ethernet, an unknown loopback family, an 802.3 frame, a non-IP raw packet.
     */
    static const struct {
        int dlt;
        const char *hex;
        const char *anomaly;
        int ethertype;
    } notip[] = {
        {DLT_EN10MB, "001122334455 66778899aabb 0806 0001080006040001", NULL, 0x0806},
        {DLT_EN10MB, "001122334455 66778899aabb 0030 aaaa03000000", NULL, 0},
        {DLT_NULL, "07000000 4500", NULL, 0},
        {DLT_LOOP, "02000000 4500", NULL, 0},
        {DLT_RAW, "5500", "raw packet is not IPv4 or IPv6", 0},
        {DLT_RAW, "", "raw packet is empty", 0},
        {DLT_EN10MB, "0011223344", "Ethernet header truncated", 0},
        {DLT_EN10MB, "001122334455 66778899aabb 8100 00", "VLAN tag truncated", 0},
        {DLT_EN10MB,
         "001122334455 66778899aabb 8100 0001 8100 0002 8100 0003 8100 0004 8100 0005 0800",
         "too many VLAN tags", 0},
        {DLT_LINUX_SLL, "0000000100060011", "Linux cooked header truncated", 0},
        {DLT_LINUX_SLL2, "0800000000000003", "Linux cooked v2 header truncated", 0},
        {DLT_NULL, "0200", "loopback header truncated", 0},
        {DLT_IPV6, "4500", "IP version does not match the link layer's protocol", 0x86DD},
        {DLT_EN10MB, "001122334455 66778899aabb 0800", "IPv4 header truncated", 0x0800},
        {DLT_EN10MB, "001122334455 66778899aabb 86dd 6000", "IPv6 header truncated", 0x86DD},
        {105, "00", "unsupported link type", 0},
    };
    for (size_t i = 0; i < sizeof notip / sizeof notip[0]; i++) {
        uint8_t b[100];
        size_t n = gw_test_unhex(notip[i].hex, b, sizeof b);
        cap_packet p = mkpkt(notip[i].dlt, b, n, 0);
        cap_layers o;
        GW_CHECK_INT(cap_decode(d, &p, &o), 0);
        GW_CHECK_INT(o.ipver, 0);
        GW_CHECK_INT(o.is_tcp, 0);
        GW_CHECK_INT(o.ethertype, notip[i].ethertype);
        if (notip[i].anomaly)
            GW_CHECK_STR(o.anomaly, notip[i].anomaly);
        else
            GW_CHECK(o.anomaly == NULL);
    }
    /* A NULL data pointer with caplen 0 is just an empty packet. */
    cap_packet p0 = mkpkt(DLT_EN10MB, NULL, 0, 0);
    cap_layers o0;
    GW_CHECK_INT(cap_decode(d, &p0, &o0), 0);
    cap_decoder_del(d);
}

/* ---- IPv4 options, malformed headers, snaplen, padding ------------------------------------ */
static int decode_eth(cap_decoder *d, const uint8_t *ip, size_t iplen, uint32_t caplen_cut,
                      size_t pad, cap_layers *o, uint8_t *frame)
{
    int dlt;
    size_t link;
    size_t n = wrap(L_ETH, ip[0] >> 4, ip, iplen, frame, &dlt, &link);
    memset(frame + n, 0xee, pad);
    n += pad;
    cap_packet p = mkpkt(dlt, frame, n, 5);
    if (caplen_cut && caplen_cut < n)
        p.caplen = caplen_cut;
    return cap_decode(d, &p, o);
}

static void test_ip4_details(void)
{
    cap_decoder *d;
    GW_CHECK_INT(cap_decoder_new(&d, NULL), 0);
    uint8_t tcpb[300], ip[400], frame[500];
    cap_layers o;
    /* Options: IHL 8 (12 option bytes). */
    size_t tl = mk_tcp(tcpb, 0, 10);
    size_t il = mk_ip4(ip, 12, 7, 0, 6, tcpb, tl);
    GW_CHECK_INT(decode_eth(d, ip, il, 0, 0, &o, frame), 1);
    GW_CHECK_INT(o.ip_hdr_len, 32);
    GW_CHECK_INT(o.ip_len, 32 + tl);
    check_payload(&o, 0, 10);
    GW_CHECK(o.anomaly == NULL);
    /* Ethernet padding: a bare ACK (54 bytes) padded to 60 has no payload. */
    tl = mk_tcp(tcpb, 0, 0);
    il = mk_ip4(ip, 0, 8, 0, 6, tcpb, tl);
    GW_CHECK_INT(decode_eth(d, ip, il, 0, 6, &o, frame), 1);
    GW_CHECK_INT(o.payload_len, 0);
    GW_CHECK_INT(o.payload_missing, 0);
    GW_CHECK(o.anomaly == NULL);
    /* ... and a 2-byte payload padded from 56 to 60 bytes keeps 2. */
    tl = mk_tcp(tcpb, 0, 2);
    il = mk_ip4(ip, 0, 8, 0, 6, tcpb, tl);
    GW_CHECK_INT(decode_eth(d, ip, il, 0, 4, &o, frame), 1);
    check_payload(&o, 0, 2);
    /* IPv6 padded too. */
    il = mk_ip6(ip, 6, NULL, 0, tcpb, tl);
    GW_CHECK_INT(decode_eth(d, ip, il, 0, 9, &o, frame), 1);
    check_payload(&o, 0, 2);
    /* Snaplen: 100 payload bytes, 30 captured. */
    tl = mk_tcp(tcpb, 0, 100);
    il = mk_ip4(ip, 0, 9, 0, 6, tcpb, tl);
    GW_CHECK_INT(decode_eth(d, ip, il, 14 + 20 + 20 + 30, 0, &o, frame), 1);
    check_payload(&o, 0, 30);
    GW_CHECK_INT(o.payload_missing, 70);
    GW_CHECK(o.anomaly == NULL);
    il = mk_ip6(ip, 6, NULL, 0, tcpb, tl);
    GW_CHECK_INT(decode_eth(d, ip, il, 14 + 40 + 20 + 1, 0, &o, frame), 1);
    check_payload(&o, 0, 1);
    GW_CHECK_INT(o.payload_missing, 99);
    /* Cut at the end of the TCP header: no payload, all missing. */
    il = mk_ip4(ip, 0, 9, 0, 6, tcpb, tl);
    GW_CHECK_INT(decode_eth(d, ip, il, 14 + 40, 0, &o, frame), 1);
    GW_CHECK_INT(o.payload_len, 0);
    GW_CHECK_INT(o.payload_missing, 100);
    /* Cut inside the TCP header, inside TCP options, inside the IP header and its options. */
    GW_CHECK_INT(decode_eth(d, ip, il, 14 + 20 + 19, 0, &o, frame), 0);
    GW_CHECK_STR(o.anomaly, "TCP header truncated");
    GW_CHECK_INT(o.is_tcp, 0);
    tl = mk_tcp(tcpb, 20, 5);
    il = mk_ip4(ip, 8, 9, 0, 6, tcpb, tl);
    GW_CHECK_INT(decode_eth(d, ip, il, 14 + 28 + 30, 0, &o, frame), 0);
    GW_CHECK_STR(o.anomaly, "TCP header truncated");
    GW_CHECK_INT(decode_eth(d, ip, il, 14 + 25, 0, &o, frame), 0);
    GW_CHECK_STR(o.anomaly, "IPv4 header truncated");
    GW_CHECK_INT(o.ipver, 4);
    GW_CHECK_INT(decode_eth(d, ip, il, 14 + 19, 0, &o, frame), 0);
    GW_CHECK_STR(o.anomaly, "IPv4 header truncated");
    GW_CHECK_INT(o.ipver, 0);
    il = mk_ip6(ip, 6, NULL, 0, tcpb, tl);
    GW_CHECK_INT(decode_eth(d, ip, il, 14 + 39, 0, &o, frame), 0);
    GW_CHECK_STR(o.anomaly, "IPv6 header truncated");
    /* Malformed headers. */
    tl = mk_tcp(tcpb, 0, 10);
    il = mk_ip4(ip, 0, 9, 0, 6, tcpb, tl);
    ip[0] = 0x44;
    GW_CHECK_INT(decode_eth(d, ip, il, 0, 0, &o, frame), 0);
    GW_CHECK_STR(o.anomaly, "bad IPv4 header length");
    ip[0] = 0x45;
    be16(ip + 2, 19);
    GW_CHECK_INT(decode_eth(d, ip, il, 0, 0, &o, frame), 0);
    GW_CHECK_STR(o.anomaly, "bad IPv4 total length");
    be16(ip + 2, (uint32_t)il + 10); /* claims more than the (uncut) frame holds */
    GW_CHECK_INT(decode_eth(d, ip, il, 0, 0, &o, frame), 1);
    GW_CHECK_STR(o.anomaly, "IPv4 total length exceeds the packet");
    check_payload(&o, 0, 10);
    GW_CHECK_INT(o.payload_missing, 0);
    be16(ip + 2, 0); /* TSO: length filled in later by the NIC */
    GW_CHECK_INT(decode_eth(d, ip, il, 0, 0, &o, frame), 1);
    GW_CHECK_STR(o.anomaly, "IPv4 total length 0 (segmentation offload?)");
    check_payload(&o, 0, 10);
    be16(ip + 2, (uint32_t)il - 4); /* shorter than the segment: the tail is not payload */
    GW_CHECK_INT(decode_eth(d, ip, il, 0, 0, &o, frame), 1);
    check_payload(&o, 0, 6);
    be16(ip + 2, (uint32_t)il);
    ip[20 + 12] = 0x40; /* TCP data offset 4 */
    GW_CHECK_INT(decode_eth(d, ip, il, 0, 0, &o, frame), 0);
    GW_CHECK_STR(o.anomaly, "bad TCP header length");
    ip[20 + 12] = 0xf0; /* 60 bytes, more than the segment */
    GW_CHECK_INT(decode_eth(d, ip, il, 0, 0, &o, frame), 0);
    GW_CHECK_STR(o.anomaly, "bad TCP header length");
    be16(ip + 2, 30);
    GW_CHECK_INT(decode_eth(d, ip, il, 0, 0, &o, frame), 0);
    GW_CHECK_STR(o.anomaly, "TCP segment shorter than a TCP header");
    /* UDP is IP but not TCP. */
    il = mk_ip4(ip, 0, 9, 0, 17, tcpb, 8);
    GW_CHECK_INT(decode_eth(d, ip, il, 0, 0, &o, frame), 0);
    GW_CHECK_INT(o.ipver, 4);
    GW_CHECK_INT(o.proto, 17);
    GW_CHECK(o.anomaly == NULL);
    cap_decoder_del(d);
}

/* ---- IPv6 extension headers ---------------------------------------------------------------- */
static void test_ip6_ext(void)
{
    cap_decoder *d;
    GW_CHECK_INT(cap_decoder_new(&d, NULL), 0);
    uint8_t tcpb[100], ip[400], frame[500], ext[200];
    cap_layers o;
    size_t tl = mk_tcp(tcpb, 4, 17);
    /* hop-by-hop(8) -> routing(24) -> AH(12) -> dstopts(16) -> TCP */
    memset(ext, 0, sizeof ext);
    ext[0] = 43, ext[1] = 0;
    ext[8] = 51, ext[9] = 2;
    ext[32] = 60, ext[33] = 1;
    ext[44] = 6, ext[45] = 1;
    size_t il = mk_ip6(ip, 0, ext, 60, tcpb, tl);
    GW_CHECK_INT(decode_eth(d, ip, il, 0, 0, &o, frame), 1);
    GW_CHECK(o.anomaly == NULL);
    GW_CHECK_INT(o.ip_hdr_len, 100);
    GW_CHECK_INT(o.ip_len, 60 + tl);
    GW_CHECK_INT(o.proto, 6);
    check_tcp_fields(&o);
    check_payload(&o, 4, 17);
    /* Snaplen inside the chain. */
    GW_CHECK_INT(decode_eth(d, ip, il, 14 + 40 + 20, 0, &o, frame), 0);
    GW_CHECK_STR(o.anomaly, "IPv6 extension header truncated");
    /* An extension header longer than the payload length. */
    ext[1] = 40;
    il = mk_ip6(ip, 0, ext, 60, tcpb, tl);
    GW_CHECK_INT(decode_eth(d, ip, il, 0, 0, &o, frame), 0);
    GW_CHECK_STR(o.anomaly, "IPv6 extension header truncated");
    /* No next header. */
    ext[0] = 59, ext[1] = 0;
    il = mk_ip6(ip, 0, ext, 8, NULL, 0);
    GW_CHECK_INT(decode_eth(d, ip, il, 0, 0, &o, frame), 0);
    GW_CHECK(o.anomaly == NULL);
    GW_CHECK_INT(o.proto, 59);
    /* Nine destination-options headers: over the bound. */
    for (int i = 0; i < 9; i++) {
        ext[i * 8] = i == 8 ? 6 : 60;
        ext[i * 8 + 1] = 0;
    }
    il = mk_ip6(ip, 60, ext, 72, tcpb, tl);
    GW_CHECK_INT(decode_eth(d, ip, il, 0, 0, &o, frame), 0);
    GW_CHECK_STR(o.anomaly, "too many IPv6 extension headers");
    /* An atomic fragment (offset 0, M=0) is a whole datagram. */
    memset(ext, 0, 8);
    ext[0] = 6;
    be32(ext + 4, 77);
    il = mk_ip6(ip, 44, ext, 8, tcpb, tl);
    GW_CHECK_INT(decode_eth(d, ip, il, 0, 0, &o, frame), 1);
    GW_CHECK_INT(o.reassembled, 0);
    GW_CHECK_INT(o.ip_hdr_len, 48);
    check_payload(&o, 4, 17);
    cap_decoder_del(d);
}

/* ---- fragments ------------------------------------------------------------------------------ */
typedef struct frag {
    size_t off, len;
    int more;
    int corrupt; /* flip the data bytes */
} frag;

/* Build fragment `f` of the TCP segment `seg` for IP version `ver`, datagram id `id`. */
static size_t mk_frag(int ver, uint32_t id, const uint8_t *seg, const frag *f, uint8_t *ip)
{
    uint8_t data[2000];
    memcpy(data, seg + f->off, f->len);
    if (f->corrupt)
        for (size_t i = 0; i < f->len; i++)
            data[i] ^= 0xff;
    if (ver == 4)
        return mk_ip4(ip, 0, (uint16_t)id, (uint16_t)((f->more ? 0x2000 : 0) | f->off / 8), 6, data,
                      f->len);
    uint8_t fh[8] = {6, 0};
    be16(fh + 2, (uint32_t)(f->off | (f->more ? 1 : 0)));
    be32(fh + 4, id);
    return mk_ip6(ip, 44, fh, 8, data, f->len);
}

/* Feed fragments; return the result of the last, checking that earlier ones were held (0). */
static int feed(cap_decoder *d, int ver, uint32_t id, const uint8_t *seg, const frag *fs, size_t nf,
                int64_t ts, cap_layers *o, const char **anomaly_seen)
{
    uint8_t ip[2100];
    int r = 0;
    *anomaly_seen = NULL;
    for (size_t i = 0; i < nf; i++) {
        size_t il = mk_frag(ver, id, seg, &fs[i], ip);
        cap_packet p = mkpkt(ver == 4 ? DLT_IPV4 : DLT_IPV6, ip, il, ts);
        r = cap_decode(d, &p, o);
        if (o->anomaly && !*anomaly_seen)
            *anomaly_seen = o->anomaly;
        if (i + 1 < nf && r != 0) {
            GW_CHECK_INT(r, 0);
            return -100;
        }
    }
    return r;
}

static void test_fragments(void)
{
    uint8_t seg[1200];
    size_t sl = mk_tcp(seg, 0, 1000); /* 1020 bytes */
    static const frag in_order[] = {{0, 400, 1, 0}, {400, 400, 1, 0}, {800, 220, 0, 0}};
    static const frag reversed[] = {{800, 220, 0, 0}, {400, 400, 1, 0}, {0, 400, 1, 0}};
    static const frag dup[] = {{0, 400, 1, 0}, {0, 400, 1, 0}, {800, 220, 0, 0}, {400, 400, 1, 0}};
    static const frag overlap_same[] = {
        {0, 400, 1, 0}, {200, 400, 1, 0}, {800, 220, 0, 0}, {600, 200, 1, 0}};
    static const frag overlap_diff[] = {
        {0, 400, 1, 0}, {200, 400, 1, 1}, {800, 220, 0, 0}, {400, 400, 1, 0}};
    static const frag bad_len[] = {{0, 404, 1, 0}};
    static const frag beyond[] = {{0, 400, 1, 0}, {800, 220, 0, 0}, {1016, 8, 1, 0}};
    static const frag two_lasts[] = {{800, 220, 0, 0}, {800, 228, 0, 0}};
    static const frag last_short[] = {{400, 400, 1, 0}, {200, 96, 0, 0}};
    static const struct {
        const char *name;
        const frag *fs;
        size_t nf;
        int result;
        const char *anomaly;
    } cases[] = {
        {"in order", in_order, 3, 1, NULL},
        {"reversed", reversed, 3, 1, NULL},
        {"duplicate", dup, 4, 1, "duplicate IP fragment data"},
        {"overlap same bytes", overlap_same, 4, 1, "duplicate IP fragment data"},
        {"overlap different bytes", overlap_diff, 4, 0,
         "overlapping IP fragments with different data: datagram dropped"},
        {"length not multiple of 8", bad_len, 1, 0, "IP fragment length not a multiple of 8"},
        {"past the last fragment", beyond, 3, 0,
         "IP fragments disagree on the datagram's length: datagram dropped"},
        {"two last fragments", two_lasts, 2, 0,
         "IP fragments disagree on the datagram's length: datagram dropped"},
        {"last before received data", last_short, 2, 0,
         "IP fragments disagree on the datagram's length: datagram dropped"},
    };
    for (int ver = 4; ver <= 6; ver += 2) {
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
            cap_decoder *d;
            GW_CHECK_INT(cap_decoder_new(&d, NULL), 0);
            cap_layers o;
            const char *an;
            int r = feed(d, ver, 0x1234 + (uint32_t)c, seg, cases[c].fs, cases[c].nf, 100, &o, &an);
            if (r != cases[c].result)
                fprintf(stderr, "fragments v%d %s: r=%d anomaly=%s\n", ver, cases[c].name, r,
                        an ? an : "-");
            GW_CHECK_INT(r, cases[c].result);
            if (cases[c].anomaly)
                GW_CHECK_STR(an, cases[c].anomaly);
            else
                GW_CHECK(an == NULL);
            if (r == 1) {
                GW_CHECK_INT(o.reassembled, 1);
                GW_CHECK_INT(o.ipver, ver);
                check_tcp_fields(&o);
                check_payload(&o, 0, 1000);
                GW_CHECK_INT(o.payload_missing, 0);
                GW_CHECK_INT(o.ip_hdr_len, ver == 4 ? 20 : 48);
                GW_CHECK_INT(o.ip_len, ver == 4 ? 20 + sl : 8 + sl);
                /* The next decode releases the datagram; a plain packet is not reassembled. */
                uint8_t ip[200], t[100];
                size_t il = mk_ip4(ip, 0, 1, 0, 6, t, mk_tcp(t, 0, 3));
                cap_packet p = mkpkt(DLT_IPV4, ip, il, 101);
                GW_CHECK_INT(cap_decode(d, &p, &o), 1);
                GW_CHECK_INT(o.reassembled, 0);
            }
            cap_decoder_del(d);
        }
        /* Interleaved datagrams with different ids, and the same id from another protocol. */
        cap_decoder *d;
        GW_CHECK_INT(cap_decoder_new(&d, NULL), 0);
        cap_layers o;
        const char *an;
        GW_CHECK_INT(feed(d, ver, 1, seg, &in_order[0], 1, 0, &o, &an), 0);
        GW_CHECK_INT(feed(d, ver, 2, seg, &in_order[0], 2, 0, &o, &an), 0);
        GW_CHECK_INT(feed(d, ver, 1, seg, &in_order[1], 2, 0, &o, &an), 1);
        GW_CHECK_INT(feed(d, ver, 2, seg, &in_order[2], 1, 0, &o, &an), 1);
        check_payload(&o, 0, 1000);
        cap_decoder_del(d);

        /* Caps: two datagrams at most; the third evicts the oldest. */
        cap_opts opts;
        cap_opts_default(&opts);
        opts.ipfrag_max_datagrams = 2;
        GW_CHECK_INT(cap_decoder_new(&d, &opts), 0);
        for (uint32_t id = 1; id <= 3; id++)
            GW_CHECK_INT(feed(d, ver, id, seg, &in_order[0], 1, 0, &o, &an), 0);
        GW_CHECK_STR(an, "IP reassembly datagram cap reached: oldest datagram dropped");
        GW_CHECK_INT(feed(d, ver, 1, seg, &in_order[1], 2, 0, &o, &an), 0);
        GW_CHECK_INT(feed(d, ver, 3, seg, &in_order[1], 2, 0, &o, &an), 1);
        cap_decoder_del(d);

        /* Byte cap: 4 KiB holds two 2 KiB buffers, not three. */
        cap_opts_default(&opts);
        opts.ipfrag_max_bytes = 4096;
        GW_CHECK_INT(cap_decoder_new(&d, &opts), 0);
        for (uint32_t id = 1; id <= 3; id++)
            GW_CHECK_INT(feed(d, ver, id, seg, &in_order[0], 1, 0, &o, &an), 0);
        GW_CHECK_STR(an, "IP reassembly byte cap reached: oldest datagram dropped");
        GW_CHECK_INT(feed(d, ver, 1, seg, &in_order[1], 2, 0, &o, &an), 0);
        GW_CHECK_INT(feed(d, ver, 3, seg, &in_order[1], 2, 0, &o, &an), 1);
        cap_decoder_del(d);
        /* A single datagram bigger than the byte cap. */
        opts.ipfrag_max_bytes = 1000;
        GW_CHECK_INT(cap_decoder_new(&d, &opts), 0);
        GW_CHECK_INT(feed(d, ver, 1, seg, in_order, 3, 0, &o, &an), 0);
        GW_CHECK_STR(an, "IP datagram larger than the reassembly byte cap: dropped");
        cap_decoder_del(d);

        /* Timeout: the rest arrives 31 s later, the datagram is gone; within 30 s it completes. */
        GW_CHECK_INT(cap_decoder_new(&d, NULL), 0);
        GW_CHECK_INT(feed(d, ver, 9, seg, &in_order[0], 1, 0, &o, &an), 0);
        GW_CHECK_INT(feed(d, ver, 9, seg, &in_order[1], 2, 31000000000LL, &o, &an), 0);
        GW_CHECK_INT(feed(d, ver, 9, seg, &in_order[0], 1, 40000000000LL, &o, &an), 1);
        check_payload(&o, 0, 1000);
        cap_decoder_del(d);

        /* Fragment cut by the snaplen. */
        GW_CHECK_INT(cap_decoder_new(&d, NULL), 0);
        uint8_t ip[600];
        size_t il = mk_frag(ver, 5, seg, &in_order[0], ip);
        cap_packet p = mkpkt(ver == 4 ? DLT_IPV4 : DLT_IPV6, ip, il, 0);
        p.caplen -= 10;
        GW_CHECK_INT(cap_decode(d, &p, &o), 0);
        GW_CHECK_STR(o.anomaly, ver == 4 ? "IPv4 fragment cut by the snapshot length"
                                         : "IPv6 fragment cut by the snapshot length");
        cap_decoder_del(d);
    }
    /* Non-TCP fragments are not held. */
    cap_decoder *d;
    GW_CHECK_INT(cap_decoder_new(&d, NULL), 0);
    uint8_t ip[600];
    cap_layers o;
    size_t il = mk_ip4(ip, 0, 3, 0x2000, 17, seg, 400);
    cap_packet p = mkpkt(DLT_IPV4, ip, il, 0);
    GW_CHECK_INT(cap_decode(d, &p, &o), 0);
    GW_CHECK_INT(o.proto, 17);
    GW_CHECK(o.anomaly == NULL);
    uint8_t fh[8] = {17, 0, 0, 1, 0, 0, 0, 3};
    il = mk_ip6(ip, 44, fh, 8, seg, 400);
    p = mkpkt(DLT_IPV6, ip, il, 0);
    GW_CHECK_INT(cap_decode(d, &p, &o), 0);
    GW_CHECK_INT(o.proto, 17);
    GW_CHECK(o.anomaly == NULL);
    /* Ping of death: offset + length beyond 65535. */
    il = mk_ip4(ip, 0, 4, 8189, 6, seg, 100);
    p = mkpkt(DLT_IPV4, ip, il, 0);
    GW_CHECK_INT(cap_decode(d, &p, &o), 0);
    GW_CHECK_STR(o.anomaly, "IP fragment beyond 65535 bytes");
    cap_decoder_del(d);
}

/* ---- the fast path against the general one --------------------------------------------- */
static uint64_t drng = 0x2545f4914f6cdd1dULL;
static uint32_t drnd(void)
{
    drng ^= drng << 13;
    drng ^= drng >> 7;
    drng ^= drng << 17;
    return (uint32_t)(drng >> 11);
}

/* Every field of two decodes alike? Payloads compare by position in the packet, or by bytes
 * when they come from each decoder's own reassembled datagram. */
static int layers_same(const cap_packet *p, const cap_layers *a, const cap_layers *b)
{
    int same = a->linktype == b->linktype && a->link_len == b->link_len &&
               a->has_eth == b->has_eth && memcmp(a->eth_src, b->eth_src, 6) == 0 &&
               memcmp(a->eth_dst, b->eth_dst, 6) == 0 && a->ethertype == b->ethertype &&
               a->vlan[0] == b->vlan[0] && a->vlan[1] == b->vlan[1] && a->nvlan == b->nvlan &&
               a->ipver == b->ipver && memcmp(a->src, b->src, 16) == 0 &&
               memcmp(a->dst, b->dst, 16) == 0 && a->proto == b->proto && a->ttl == b->ttl &&
               a->tos == b->tos && a->flow_label == b->flow_label && a->ip_id == b->ip_id &&
               a->ip_hdr_len == b->ip_hdr_len && a->ip_len == b->ip_len &&
               a->reassembled == b->reassembled && a->is_tcp == b->is_tcp &&
               a->sport == b->sport && a->dport == b->dport && a->seq == b->seq &&
               a->ack == b->ack && a->flags == b->flags && a->window == b->window &&
               a->tcp_hdr_len == b->tcp_hdr_len && a->payload_len == b->payload_len &&
               a->payload_missing == b->payload_missing;
    if (!same)
        return 0;
    if ((a->anomaly == NULL) != (b->anomaly == NULL) ||
        (a->anomaly && strcmp(a->anomaly, b->anomaly) != 0))
        return 0;
    if (a->reassembled)
        return a->payload_len == 0 || memcmp(a->payload, b->payload, a->payload_len) == 0;
    if (!a->is_tcp) /* the general path leaves it NULL; nobody reads it */
        return a->payload == b->payload;
    (void)p;
    return a->payload == b->payload;
}

typedef struct diffstat {
    long packets, fast_taken, mismatches;
    int64_t ts; /* moves 31 s a packet: fragments one packet holds have timed out by the next */
} diffstat;

/* One packet through cap_decode on decoder da and cap_decode_general on db, into outputs
 * filled with different garbage first: a field the fast path forgot would keep it. */
static int diff_one(cap_decoder *da, cap_decoder *db, const cap_packet *p, diffstat *st)
{
    cap_layers a, b;
    memset(&a, 0xa5, sizeof a);
    memset(&b, 0x5a, sizeof b);
    cap_packet q = *p;
    q.ts_ns = st->ts += 31000000000LL;
    int ra = cap_decode(da, &q, &a);
    int rb = cap_decode_general(db, &q, &b);
    st->packets++;
    if (ra != rb || !layers_same(p, &a, &b)) {
        if (st->mismatches++ < 5)
            fprintf(stderr, "fast/general differ: dlt %d caplen %u wire %u r %d/%d %s/%s\n",
                    p->linktype, p->caplen, p->wirelen, ra, rb, a.anomaly ? a.anomaly : "-",
                    b.anomaly ? b.anomaly : "-");
    }
    /* Which path ran: the general one clears the whole struct, padding too; the fast one
     * writes fields only, so the padding byte after tos keeps the garbage. */
    size_t pad = offsetof(cap_layers, tos) + 1;
    if (pad < offsetof(cap_layers, flow_label) && ((const uint8_t *)&a)[pad] == 0xa5)
        st->fast_taken++;
    return ra;
}

/* Base packets: every link type, both IP versions, with and without IP options or extension
 * headers, TCP options, payload, odd TCP flags. Returns the frame length in b. */
static size_t diff_base(int k, uint8_t *b, int *dlt)
{
    uint8_t ip[400], t[300];
    int l = k % L_COUNT, ver = (k / L_COUNT) % 2 ? 6 : 4, var = k / (2 * L_COUNT) % 6;
    size_t tl = mk_tcp(t, var == 2 ? 12 : 0, var == 0 ? 0 : var == 1 ? 1 : 37);
    if (var == 3)
        t[13] = CAP_TCP_SYN | CAP_TCP_FIN | CAP_TCP_RST | CAP_TCP_URG;
    size_t il;
    if (ver == 4) {
        il = mk_ip4(ip, var == 4 ? 8 : 0, (uint16_t)(k * 77), var == 5 ? 0x4000 : 0, 6, t, tl);
    } else if (var == 4) {
        uint8_t ext[16] = {60, 0, 1, 4}; /* hop-by-hop, then destination options, then TCP */
        ext[8] = 6;
        ext[10] = 1;
        ext[11] = 4;
        il = mk_ip6(ip, 0, ext, 16, t, tl);
    } else {
        il = mk_ip6(ip, 6, NULL, 0, t, tl);
    }
    size_t link;
    return wrap(l, ver, ip, il, b, dlt, &link);
}

static void test_fast_differential(void)
{
    cap_decoder *da, *db;
    GW_CHECK_INT(cap_decoder_new(&da, NULL), 0);
    GW_CHECK_INT(cap_decoder_new(&db, NULL), 0);
    diffstat st = {0, 0, 0, 0};
    uint8_t b[600];
    int nbase = L_COUNT * 2 * 6;
    /* Every base packet at every capture length, with wire lengths below, at and above it. */
    for (int k = 0; k < nbase; k++) {
        int dlt;
        size_t n = diff_base(k, b, &dlt);
        for (size_t cut = 0; cut <= n; cut++) {
            static const int wire_delta[] = {0, -1, 1, 100};
            for (size_t w = 0; w < sizeof wire_delta / sizeof wire_delta[0]; w++) {
                uint8_t *copy = malloc(cut ? cut : 1); /* exact size: ASan sees any over-read */
                memcpy(copy, b, cut);
                cap_packet p = mkpkt(dlt, cut ? copy : NULL, cut, 5);
                long wl = (long)n + wire_delta[w];
                p.wirelen = (uint32_t)(wl < 0 ? 0 : wl);
                if (w == 1)
                    p.wirelen = cut ? (uint32_t)cut - 1 : 0; /* bogus: below the captured length */
                diff_one(da, db, &p, &st);
                free(copy);
            }
        }
    }
    long whole_fast = st.fast_taken;
    /* Random damage to the headers of Ethernet packets: lengths, versions, IHL, fragment bits,
     * data offsets, next headers all take odd values. */
    for (int i = 0; i < 60000; i++) {
        int dlt;
        int k = (int)(drnd() % 2) * L_COUNT + (int)(drnd() % 6) * 2 * L_COUNT +
                (drnd() % 8 == 0 ? L_VLAN : L_ETH);
        size_t n = diff_base(k, b, &dlt);
        int nflip = 1 + (int)(drnd() % 4);
        for (int f = 0; f < nflip; f++) {
            size_t at = 12 + drnd() % 70;
            if (at < n)
                b[at] = drnd() % 3 == 0 ? (uint8_t)(b[at] ^ (1u << (drnd() % 8))) : (uint8_t)drnd();
        }
        size_t cut = drnd() % 4 == 0 ? drnd() % (n + 1) : n;
        uint8_t *copy = malloc(cut ? cut : 1);
        memcpy(copy, b, cut);
        cap_packet p = mkpkt(dlt, copy, cut, 5);
        p.wirelen = drnd() % 3 == 0 ? (uint32_t)(drnd() % 700) : (uint32_t)n;
        diff_one(da, db, &p, &st);
        free(copy);
    }
    /* Fragments held, then completed, with plain packets between: both decoders keep the same
     * state, and a plain packet after a completed datagram is not taken for it. Fresh
     * decoders: the damage above left fragments of its own. */
    cap_decoder_del(da);
    cap_decoder_del(db);
    GW_CHECK_INT(cap_decoder_new(&da, NULL), 0);
    GW_CHECK_INT(cap_decoder_new(&db, NULL), 0);
    st.ts = 0;
    for (int ver = 4; ver <= 6; ver += 2) {
        uint8_t seg[1200], ip[1300], fr[1400];
        mk_tcp(seg, 0, 1000);
        static const frag parts[] = {{0, 400, 1, 0}, {400, 400, 1, 0}, {800, 220, 0, 0}};
        for (int j = 0; j < 3; j++) {
            int dlt;
            size_t link, il = mk_frag(ver, 77, seg, &parts[j], ip);
            size_t fl = wrap(L_ETH, ver, ip, il, fr, &dlt, &link);
            cap_packet p = mkpkt(dlt, fr, fl, 0);
            st.ts = -31000000000LL; /* all at time 0: nothing times out */
            GW_CHECK_INT(diff_one(da, db, &p, &st), j == 2 ? 1 : 0);
            size_t n = diff_base(ver == 4 ? 0 : L_COUNT, b, &dlt);
            p = mkpkt(dlt, b, n, 0);
            st.ts = -31000000000LL;
            GW_CHECK_INT(diff_one(da, db, &p, &st), 1);
        }
    }
    GW_CHECK_INT(st.mismatches, 0);
    /* The fast path did run, on the whole packets and on many damaged ones. */
    GW_CHECK(whole_fast >= 2 * 5 * 4);
    GW_CHECK(st.fast_taken > whole_fast + 10000);
    cap_decoder_del(da);
    cap_decoder_del(db);
}

static void test_names(void)
{
    char buf[64];
    GW_CHECK_STR(cap_addr_str(4, SRC4, buf, sizeof buf), "10.0.0.1");
    GW_CHECK_STR(cap_addr_str(6, SRC6, buf, sizeof buf), "2001:db8::1");
    GW_CHECK_STR(cap_addr_str(6, DST6, buf, sizeof buf), "fe80::211:22ff:fe33:4455");
    GW_CHECK_STR(cap_linktype_name(DLT_EN10MB), "EN10MB");
    GW_CHECK_STR(cap_linktype_name(DLT_LINUX_SLL2), "LINUX_SLL2");
    GW_CHECK_STR(cap_linktype_name(4242), "DLT_4242");
    GW_CHECK_INT(cap_linktype_supported(DLT_EN10MB), 1);
    GW_CHECK_INT(cap_linktype_supported(DLT_IPV6), 1);
    GW_CHECK_INT(cap_linktype_supported(105), 0);
    cap_opts o;
    cap_opts_default(&o);
    GW_CHECK_INT(o.ipfrag_max_bytes, 4 << 20);
    GW_CHECK_INT(o.ipfrag_max_datagrams, 256);
    GW_CHECK_INT(o.ipfrag_timeout_ns, 30000000000LL);
}

/* ---- files ---------------------------------------------------------------------------------- */
static char tmpdir[64];

static void write_file(const char *path, const uint8_t *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    GW_CHECK(f != NULL);
    if (!f)
        return;
    GW_CHECK_INT(fwrite(b, 1, n, f), n);
    fclose(f);
}

typedef struct want {
    int64_t ts_ns;
    uint32_t caplen, wirelen;
    uint64_t off;
} want;

/* Three packets: Ethernet/IPv4/TCP frames of different lengths, the last cut short. */
static size_t sample_frame(int i, uint8_t *b)
{
    uint8_t t[300], ip[400];
    size_t tl = mk_tcp(t, 0, (size_t)(i * 50));
    size_t il = mk_ip4(ip, 0, (uint16_t)i, 0, 6, t, tl);
    int dlt;
    size_t link;
    return wrap(L_ETH, 4, ip, il, b, &dlt, &link);
}

static const uint32_t SEC[3] = {1700000000, 1700000001, 1700000002};
static const uint32_t NSEC[3] = {123456789, 999999999, 1000};

/* pcap: returns the file size, fills the expected packets. */
static size_t mk_pcap(uint8_t *b, int big, int nano, want *w)
{
    put32(b, nano ? 0xa1b23c4d : 0xa1b2c3d4, big);
    put16(b + 4, 2, big);
    put16(b + 6, 4, big);
    put32(b + 8, 0, big);
    put32(b + 12, 0, big);
    put32(b + 16, 65535, big);
    put32(b + 20, 1, big);
    size_t n = 24;
    for (int i = 0; i < 3; i++) {
        uint8_t f[400];
        size_t fl = sample_frame(i, f);
        uint32_t cap = i == 2 ? (uint32_t)fl - 40 : (uint32_t)fl;
        uint32_t frac = nano ? NSEC[i] : NSEC[i] / 1000;
        put32(b + n, SEC[i], big);
        put32(b + n + 4, frac, big);
        put32(b + n + 8, cap, big);
        put32(b + n + 12, (uint32_t)fl, big);
        memcpy(b + n + 16, f, cap);
        w[i].ts_ns = (int64_t)SEC[i] * 1000000000 + (nano ? NSEC[i] : NSEC[i] / 1000 * 1000);
        w[i].caplen = cap;
        w[i].wirelen = (uint32_t)fl;
        w[i].off = n;
        n += 16 + cap;
    }
    return n;
}

static size_t ng_opt_end(uint8_t *b, size_t n, int big)
{
    put16(b + n, 0, big);
    put16(b + n + 2, 0, big);
    return n + 4;
}

/* pcapng: SHB, IDB 0 (if_tsresol 9), IDB 1 (default microseconds), EPBs alternating between
 * them, an ISB-like unknown block in between. */
static size_t mk_pcapng(uint8_t *b, int big, want *w)
{
    size_t n = 0, s;
    /* SHB */
    put32(b, 0x0A0D0D0A, big);
    put32(b + 4, 28, big);
    put32(b + 8, 0x1A2B3C4D, big);
    put16(b + 12, 1, big);
    put16(b + 14, 0, big);
    memset(b + 16, 0xff, 8);
    put32(b + 24, 28, big);
    n = 28;
    for (int i = 0; i < 2; i++) {
        s = n;
        put32(b + n, 1, big);
        put16(b + n + 8, 1, big);
        put16(b + n + 10, 0, big);
        put32(b + n + 12, 0, big);
        n += 16;
        if (i == 0) {
            put16(b + n, 9, big); /* if_tsresol */
            put16(b + n + 2, 1, big);
            b[n + 4] = 9;
            b[n + 5] = b[n + 6] = b[n + 7] = 0;
            n += 8;
            n = ng_opt_end(b, n, big);
        }
        put32(b + n, (uint32_t)(n + 4 - s), big);
        n += 4;
        put32(b + s + 4, (uint32_t)(n - s), big);
    }
    for (int i = 0; i < 3; i++) {
        if (i == 2) { /* a custom block libpcap skips */
            s = n;
            put32(b + n, 0x00000BAD, big);
            put32(b + n + 4, 16, big);
            put32(b + n + 8, 0, big);
            put32(b + n + 12, 16, big);
            n += 16;
        }
        uint8_t f[400];
        size_t fl = sample_frame(i, f);
        uint32_t cap = i == 2 ? (uint32_t)fl - 40 : (uint32_t)fl;
        int ifc = i == 1;
        uint64_t ts = ifc ? (uint64_t)SEC[i] * 1000000 + NSEC[i] / 1000
                          : (uint64_t)SEC[i] * 1000000000 + NSEC[i];
        s = n;
        put32(b + n, 6, big);
        put32(b + n + 8, (uint32_t)ifc, big);
        put32(b + n + 12, (uint32_t)(ts >> 32), big);
        put32(b + n + 16, (uint32_t)ts, big);
        put32(b + n + 20, cap, big);
        put32(b + n + 24, (uint32_t)fl, big);
        memcpy(b + n + 28, f, cap);
        n += 28 + cap;
        while ((n - s) % 4)
            b[n++] = 0;
        put32(b + n, (uint32_t)(n + 4 - s), big);
        n += 4;
        put32(b + s + 4, (uint32_t)(n - s), big);
        w[i].ts_ns = ifc ? (int64_t)SEC[i] * 1000000000 + NSEC[i] / 1000 * 1000
                         : (int64_t)SEC[i] * 1000000000 + NSEC[i];
        w[i].caplen = cap;
        w[i].wirelen = (uint32_t)fl;
        w[i].off = s;
    }
    return n;
}

/* Read `path` and compare with w[0..nw); returns what cap_source_next returned at the end. */
static int read_back(const char *path, const want *w, size_t nw, char *msg, size_t msglen)
{
    cap_source *s;
    int r = cap_source_open_file(&s, path, msg, msglen);
    GW_CHECK_INT(r, 0);
    if (r < 0) {
        fprintf(stderr, "open %s: %s\n", path, msg);
        return r;
    }
    GW_CHECK_INT(cap_source_linktype(s), DLT_EN10MB);
    GW_CHECK_INT(cap_source_dropped(s), 0);
    cap_packet p;
    size_t i = 0;
    while ((r = cap_source_next(s, &p, msg, msglen)) == 1) {
        if (i < nw) {
            uint8_t f[400];
            sample_frame((int)i, f);
            GW_CHECK_INT(p.no, i + 1);
            GW_CHECK_INT(p.ts_ns, w[i].ts_ns);
            GW_CHECK_INT(p.caplen, w[i].caplen);
            GW_CHECK_INT(p.wirelen, w[i].wirelen);
            GW_CHECK_INT(p.file_offset, w[i].off);
            GW_CHECK_INT(p.linktype, DLT_EN10MB);
            GW_CHECK_MEM(p.data, p.caplen, f, w[i].caplen);
        }
        i++;
    }
    GW_CHECK_INT(i, nw);
    cap_source_del(s);
    return r;
}

/* Cut a good file at every offset inside its last record: the earlier packets, then
 * GW_ETRUNCATED naming the last record's offset. A cut at the record's start is a clean end. */
static void check_truncations(const char *path, const uint8_t *b, size_t n, const want *w)
{
    char msg[256], expect[300];
    snprintf(expect, sizeof expect, "%s: offset %llu: record truncated: ", path,
             (unsigned long long)w[2].off);
    for (size_t cut = w[2].off; cut < n; cut++) {
        write_file(path, b, cut);
        msg[0] = 0;
        int r = read_back(path, w, 2, msg, sizeof msg);
        if (cut == w[2].off) {
            GW_CHECK_INT(r, 0);
            continue;
        }
        GW_CHECK_INT(r, GW_ETRUNCATED);
        if (strncmp(msg, expect, strlen(expect)) != 0)
            fprintf(stderr, "cut %zu: msg \"%s\", expected prefix \"%s\"\n", cut, msg, expect);
        GW_CHECK(strncmp(msg, expect, strlen(expect)) == 0);
    }
}

static void test_files(void)
{
    uint8_t b[4000];
    want w[3];
    char path[128], msg[256];
    for (int big = 0; big < 2; big++)
        for (int nano = 0; nano < 2; nano++) {
            size_t n = mk_pcap(b, big, nano, w);
            snprintf(path, sizeof path, "%s/p%d%d.pcap", tmpdir, big, nano);
            write_file(path, b, n);
            GW_CHECK_INT(read_back(path, w, 3, msg, sizeof msg), 0);
            check_truncations(path, b, n, w);
        }
    for (int big = 0; big < 2; big++) {
        size_t n = mk_pcapng(b, big, w);
        snprintf(path, sizeof path, "%s/n%d.pcapng", tmpdir, big);
        write_file(path, b, n);
        GW_CHECK_INT(read_back(path, w, 3, msg, sizeof msg), 0);
        check_truncations(path, b, n, w);
    }
    /* Cut inside the file header. */
    mk_pcap(b, 0, 0, w);
    snprintf(path, sizeof path, "%s/short.pcap", tmpdir);
    write_file(path, b, 10);
    cap_source *s = NULL;
    GW_CHECK_INT(cap_source_open_file(&s, path, msg, sizeof msg), GW_ETRUNCATED);
    GW_CHECK(s == NULL);
    /* Not a capture; empty; missing. */
    snprintf(path, sizeof path, "%s/text.txt", tmpdir);
    write_file(path, (const uint8_t *)"hello, this is not a capture\n", 29);
    char expect[300];
    snprintf(expect, sizeof expect, "%s: not a pcap or pcapng file", path);
    GW_CHECK_INT(cap_source_open_file(&s, path, msg, sizeof msg), GW_EFORMAT);
    GW_CHECK_STR(msg, expect);
    snprintf(path, sizeof path, "%s/empty", tmpdir);
    write_file(path, b, 0);
    GW_CHECK_INT(cap_source_open_file(&s, path, msg, sizeof msg), GW_EFORMAT);
    snprintf(path, sizeof path, "%s/missing.pcap", tmpdir);
    GW_CHECK_INT(cap_source_open_file(&s, path, msg, sizeof msg), GW_EIO);
    /* Unsupported link type. */
    size_t n = mk_pcap(b, 0, 0, w);
    put32(b + 20, 105, 0);
    snprintf(path, sizeof path, "%s/wifi.pcap", tmpdir);
    write_file(path, b, n);
    snprintf(expect, sizeof expect, "%s: link type IEEE802_11 (105) is not supported", path);
    GW_CHECK_INT(cap_source_open_file(&s, path, msg, sizeof msg), GW_ELINKTYPE);
    GW_CHECK_STR(msg, expect);
    /* A corrupt record: caplen far beyond any snapshot length. */
    n = mk_pcap(b, 0, 0, w);
    put32(b + w[1].off + 8, 0x7fffffff, 0);
    snprintf(path, sizeof path, "%s/corrupt.pcap", tmpdir);
    write_file(path, b, n);
    GW_CHECK_INT(read_back(path, w, 1, msg, sizeof msg), GW_ECORRUPT);
    snprintf(expect, sizeof expect, "%s: offset %llu: ", path, (unsigned long long)w[1].off);
    GW_CHECK(strncmp(msg, expect, strlen(expect)) == 0);
    /* The damage is reported again rather than turning into a clean end. */
    GW_CHECK_INT(cap_source_open_file(&s, path, msg, sizeof msg), 0);
    cap_packet p;
    GW_CHECK_INT(cap_source_next(s, &p, msg, sizeof msg), 1);
    GW_CHECK_INT(cap_source_next(s, &p, msg, sizeof msg), GW_ECORRUPT);
    GW_CHECK_INT(cap_source_next(s, &p, msg, sizeof msg), GW_ECORRUPT);
    cap_source_del(s);

    /* A filter keeps file packet numbers. */
    n = mk_pcap(b, 0, 1, w);
    snprintf(path, sizeof path, "%s/filter.pcap", tmpdir);
    write_file(path, b, n);
    GW_CHECK_INT(cap_source_open_file(&s, path, msg, sizeof msg), 0);
    GW_CHECK_INT(cap_source_set_filter(s, "not not not", msg, sizeof msg), GW_EPARSE);
    GW_CHECK_INT(cap_source_set_filter(s, "greater 100", msg, sizeof msg), 0);
    GW_CHECK_INT(cap_source_next(s, &p, msg, sizeof msg), 1);
    GW_CHECK_INT(p.no, 2);
    GW_CHECK_INT(p.file_offset, w[1].off);
    GW_CHECK_INT(cap_source_next(s, &p, msg, sizeof msg), 1);
    GW_CHECK_INT(p.no, 3);
    GW_CHECK_INT(cap_source_next(s, &p, msg, sizeof msg), 0);
    cap_source_del(s);
}

/* A mapped file is read by an inline fast path unless a filter is set (or pages are due to be
 * given back, every 4 MiB, or the record is damaged): the fast path, the general one (a filter
 * that keeps everything) and libpcap (standard input is not mapped) must hand out the same
 * packets, over more than 4 MiB, in both byte orders and both timestamp precisions, with
 * seconds up to 2^32-1. */
static void read_all(const char *path, const char *filter, int use_stdin, cap_packet *out,
                     uint8_t *data, size_t *n, size_t cap)
{
    char msg[256];
    cap_source *s = NULL;
    int saved = -1;
    if (use_stdin) {
        saved = dup(0);
        int fd = open(path, O_RDONLY);
        GW_CHECK(fd >= 0 && saved >= 0);
        dup2(fd, 0);
        close(fd);
    }
    GW_CHECK_INT(cap_source_open_file(&s, use_stdin ? "-" : path, msg, sizeof msg), 0);
    if (filter)
        GW_CHECK_INT(cap_source_set_filter(s, filter, msg, sizeof msg), 0);
    *n = 0;
    cap_packet p;
    int r;
    while (s && (r = cap_source_next(s, &p, msg, sizeof msg)) == 1 && *n < cap) {
        out[*n] = p;
        out[*n].data = NULL;
        memcpy(data + *n * 64, p.data, p.caplen < 64 ? p.caplen : 64);
        (*n)++;
    }
    cap_source_del(s);
    if (use_stdin) {
        dup2(saved, 0);
        close(saved);
    }
}

static void test_mm_fast_path(void)
{
    enum { NREC = 6400, FRAME = 1400 };
    size_t fsize = 24 + (size_t)NREC * (16 + FRAME);
    uint8_t *b = malloc(fsize);
    cap_packet *pk[3];
    uint8_t *dt[3];
    for (int k = 0; k < 3; k++) {
        pk[k] = malloc(NREC * sizeof **pk);
        dt[k] = calloc(NREC, 64);
    }
    char path[128];
    for (int big = 0; big < 2; big++)
        for (int nano = 0; nano < 2; nano++) {
            put32(b, nano ? 0xa1b23c4d : 0xa1b2c3d4, big);
            put16(b + 4, 2, big);
            put16(b + 6, 4, big);
            put32(b + 8, 0, big);
            put32(b + 12, 0, big);
            put32(b + 16, 65535, big);
            put32(b + 20, 1, big);
            size_t n = 24;
            uint64_t x = 0x9e3779b97f4a7c15ULL;
            for (int i = 0; i < NREC; i++) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                uint32_t cap = 60 + (uint32_t)(x % (FRAME - 60));
                uint32_t sec = i % 7 == 0 ? 0xffffffffu : (uint32_t)(x >> 33);
                uint32_t frac = (uint32_t)(x >> 8) % (nano ? 1000000000u : 1000000u);
                put32(b + n, sec, big);
                put32(b + n + 4, frac, big);
                put32(b + n + 8, cap, big);
                put32(b + n + 12, cap + (uint32_t)(x % 3), big);
                for (uint32_t j = 0; j < cap; j++)
                    b[n + 16 + j] = (uint8_t)(i * 7 + j);
                n += 16 + cap;
            }
            snprintf(path, sizeof path, "%s/fast%d%d.pcap", tmpdir, big, nano);
            write_file(path, b, n);
            GW_CHECK(n > (4u << 20)); /* crosses a page give-back */
            size_t got[3];
            read_all(path, NULL, 0, pk[0], dt[0], &got[0], NREC);
            read_all(path, "len >= 0", 0, pk[1], dt[1], &got[1], NREC);
            read_all(path, NULL, 1, pk[2], dt[2], &got[2], NREC);
            for (int k = 0; k < 3; k++)
                GW_CHECK_INT(got[k], NREC);
            for (int k = 1; k < 3; k++) {
                int same = 1;
                for (size_t i = 0; i < got[0] && i < got[k]; i++) {
                    const cap_packet *a = &pk[0][i], *c = &pk[k][i];
                    /* libpcap takes seconds as signed 32 bits: compare only below 2^31 */
                    int ts_ok = a->ts_ns == c->ts_ns || (k == 2 && i % 7 == 0);
                    same &= a->no == c->no && ts_ok && a->caplen == c->caplen &&
                            a->wirelen == c->wirelen && a->linktype == c->linktype &&
                            (k == 2 || a->file_offset == c->file_offset) &&
                            memcmp(dt[0] + i * 64, dt[k] + i * 64, 64) == 0;
                    if (!same) {
                        fprintf(stderr, "k %d big %d nano %d i %zu: %lld %lld\n", k, big, nano,
                                i, (long long)a->ts_ns, (long long)c->ts_ns);
                        break;
                    }
                }
                GW_CHECK(same);
            }
            GW_CHECK_INT(pk[0][0].ts_ns,
                         (int64_t)0xffffffffu * 1000000000 +
                             (int64_t)(pk[0][0].ts_ns % 1000000000));
            GW_CHECK_INT(pk[0][NREC - 1].no, NREC);
            GW_CHECK_INT(pk[0][1].file_offset, 24 + 16 + pk[0][0].caplen);
            remove(path);
        }
    for (int k = 0; k < 3; k++) {
        free(pk[k]);
        free(dt[k]);
    }
    free(b);
}

/* The same checks reading standard input in a child: a regular file, then a pipe. */
static void test_stdin(void)
{
    uint8_t b[4000];
    want w[3];
    for (int kind = 0; kind < 6; kind++) {
        size_t n = kind & 1 ? mk_pcapng(b, 0, w) : mk_pcap(b, 1, 1, w);
        char path[128];
        snprintf(path, sizeof path, "%s/stdin%d", tmpdir, kind);
        int pipe_ = kind >= 2;
        if (pipe_)
            n -= 7; /* and truncated, so the pipe's offsets are checked too */
        write_file(path, b, n);
        int fds[2] = {-1, -1};
        if (pipe_ && pipe(fds) < 0) {
            GW_CHECK(0);
            return;
        }
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0) {
            int fd = pipe_ ? fds[0] : open(path, O_RDONLY);
            if (pipe_)
                close(fds[1]);
            dup2(fd, 0);
            gw_t_fail = 0;
            char msg[256];
            int r = read_back("-", w, pipe_ ? 2 : 3, msg, sizeof msg);
            if (pipe_) {
                char expect[100];
                snprintf(expect, sizeof expect, "<stdin>: offset %llu: record truncated",
                         (unsigned long long)w[2].off);
                GW_CHECK_INT(r, GW_ETRUNCATED);
                GW_CHECK(strncmp(msg, expect, strlen(expect)) == 0);
            } else {
                GW_CHECK_INT(r, 0);
            }
            _exit(gw_t_fail ? 1 : 0);
        }
        if (pipe_) {
            /* kinds 4, 5: small writes with pauses, so the reader sees the bytes in pieces of
             * 1..7 (the results must not depend on how reads split the file). */
            close(fds[0]);
            unsigned seed = 7;
            for (size_t at = 0; at < n;) {
                size_t k = kind >= 4 ? 1 + (seed = seed * 1103515245 + 12345) % 7 : n - at;
                if (k > n - at)
                    k = n - at;
                GW_CHECK_INT(write(fds[1], b + at, k), k);
                at += k;
                if (kind >= 4)
                    usleep(100);
            }
            close(fds[1]);
        }
        int st = -1;
        waitpid(pid, &st, 0);
        GW_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
}

static void test_writer(void)
{
    char path[128], msg[256];
    snprintf(path, sizeof path, "%s/out.pcap", tmpdir);
    cap_writer *wr;
    GW_CHECK_INT(cap_writer_open(&wr, path, DLT_EN10MB, 65535, msg, sizeof msg), 0);
    want w[3];
    for (int i = 0; i < 3; i++) {
        uint8_t f[400];
        size_t fl = sample_frame(i, f);
        uint32_t cap = i == 2 ? (uint32_t)fl - 40 : (uint32_t)fl;
        int64_t ts = (int64_t)SEC[i] * 1000000000 + NSEC[i];
        GW_CHECK_INT(cap_writer_write(wr, ts, f, cap, (uint32_t)fl), 0);
        w[i].ts_ns = ts / 1000 * 1000;
        w[i].caplen = cap;
        w[i].wirelen = (uint32_t)fl;
        w[i].off = i == 0 ? 24 : w[i - 1].off + 16 + w[i - 1].caplen;
    }
    GW_CHECK_INT(cap_writer_flush(wr), 0);
    cap_writer_del(wr);
    GW_CHECK_INT(read_back(path, w, 3, msg, sizeof msg), 0);
    cap_writer_del(NULL);
    snprintf(path, sizeof path, "%s/no/such/dir.pcap", tmpdir);
    GW_CHECK_INT(cap_writer_open(&wr, path, DLT_EN10MB, 65535, msg, sizeof msg), GW_EIO);
}

static void test_live_errors(void)
{
    cap_source *s = NULL;
    char msg[512];
    int r = cap_source_open_live(&s, "gw-no-such-if0", 262144, msg, sizeof msg);
    /* Without CAP_NET_RAW libpcap may report the permission problem first. */
    GW_CHECK(r == GW_ENOTFOUND || r == GW_EPERM);
    if (r == GW_EPERM)
        GW_CHECK(strstr(msg, "setcap cap_net_raw,cap_net_admin=eip $(command -v grpcwire)") !=
                 NULL);
    GW_CHECK(s == NULL);
    cap_source_del(NULL);
}

/* Fail every allocation in turn: GW_ENOMEM or success, never a crash or a leak. */
static void test_failmalloc(void)
{
    uint8_t seg[1200], ip[600];
    size_t sl = mk_tcp(seg, 0, 1000);
    (void)sl;
    static const frag fs[] = {{800, 220, 0, 0}, {0, 400, 1, 0}, {400, 400, 1, 0}};
    int completed = 0;
    for (long k = 0; k < 40 && !completed; k++) {
        gw_mem_fail_after(k);
        cap_decoder *d = NULL;
        int r = cap_decoder_new(&d, NULL);
        if (r == 0) {
            for (int id = 1; id <= 3 && r >= 0; id++)
                for (size_t i = 0; i < 3 && r >= 0; i++) {
                    size_t il = mk_frag(4, (uint32_t)id, seg, &fs[i], ip);
                    cap_packet p = mkpkt(DLT_IPV4, ip, il, 0);
                    cap_layers o;
                    r = cap_decode(d, &p, &o);
                    if (r == 1 && id == 3)
                        completed = 1;
                }
        }
        GW_CHECK(r >= 0 || r == GW_ENOMEM);
        cap_decoder_del(d);
    }
    gw_mem_fail_after(-1);
    GW_CHECK_INT(completed, 1);
    char path[128], msg[256];
    uint8_t b[4000];
    want w[3];
    size_t n = mk_pcap(b, 0, 0, w);
    snprintf(path, sizeof path, "%s/fm.pcap", tmpdir);
    write_file(path, b, n);
    for (long k = 0; k < 4; k++) {
        gw_mem_fail_after(k);
        cap_source *s = NULL;
        int r = cap_source_open_file(&s, path, msg, sizeof msg);
        gw_mem_fail_after(-1);
        GW_CHECK(r == 0 || r == GW_ENOMEM);
        cap_source_del(s);
    }
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/gw_capXXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_links();
    test_ip4_details();
    test_ip6_ext();
    test_fragments();
    test_fast_differential();
    test_names();
    test_files();
    test_mm_fast_path();
    test_stdin();
    test_writer();
    test_live_errors();
    test_failmalloc();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    GW_TEST_END();
}
