/* rpc_proxy: packet synthesis decodes back through cap_decode with the fields it was given and
 * valid checksums (IPv4 and IPv6, SYN options and data segments of the largest size), and a
 * relay run in-process carries bytes both ways and records a consistent TCP conversation. */
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "capture/cap.h"
#include "common/gw_buf.h"
#include "gw_test.h"
#include "rpc/rpc.h"
#include "rpc/rpc_proxy.h"

static uint16_t fold(uint32_t s)
{
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)s;
}

static uint32_t sum(const uint8_t *p, size_t n)
{
    uint32_t s = 0;
    for (size_t i = 0; i + 1 < n; i += 2)
        s += (uint32_t)p[i] << 8 | p[i + 1];
    if (n & 1)
        s += (uint32_t)p[n - 1] << 8;
    return s;
}

static void check_one(int ipver, uint8_t flags, uint32_t n)
{
    static uint8_t pkt[14 + 40 + 40 + RPC_PROXY_MAX_SEG], payload[RPC_PROXY_MAX_SEG];
    rpc_synth_ep a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    a.ipver = b.ipver = ipver;
    if (ipver == 4) {
        uint8_t x[4] = {127, 0, 0, 1}, y[4] = {10, 1, 2, 3};
        memcpy(a.addr, x, 4);
        memcpy(b.addr, y, 4);
    } else {
        a.addr[15] = 1;
        b.addr[0] = 0xfe;
        b.addr[1] = 0x80;
        b.addr[15] = 7;
    }
    a.port = 55646;
    b.port = 50051;
    for (uint32_t i = 0; i < n; i++)
        payload[i] = (uint8_t)(i * 7);
    size_t len = rpc_synth_packet(pkt, &a, &b, 3678708405u, 3438549865u, flags, 848634857u,
                                  848634858u, payload, n);
    cap_decoder *d = NULL;
    GW_CHECK_INT(cap_decoder_new(&d, NULL), 0);
    cap_packet cp;
    memset(&cp, 0, sizeof cp);
    cp.no = 1;
    cp.caplen = cp.wirelen = (uint32_t)len;
    cp.linktype = 1;
    cp.data = pkt;
    cap_layers l;
    GW_CHECK_INT(cap_decode(d, &cp, &l), 1);
    GW_CHECK(l.anomaly == NULL);
    GW_CHECK_INT(l.ipver, ipver);
    GW_CHECK_INT(l.sport, 55646);
    GW_CHECK_INT(l.dport, 50051);
    GW_CHECK_INT(l.seq, 3678708405u);
    GW_CHECK_INT(l.ack, (flags & 0x10) ? 3438549865u : 0u);
    GW_CHECK_INT(l.flags, flags);
    GW_CHECK_INT(l.payload_len, n);
    GW_CHECK_INT(l.tcp_hdr_len, (flags & 0x02) ? 40u : 32u);
    GW_CHECK(memcmp(l.src, a.addr, ipver == 4 ? 4 : 16) == 0);
    GW_CHECK(memcmp(l.dst, b.addr, ipver == 4 ? 4 : 16) == 0);
    GW_CHECK(n == 0 || memcmp(l.payload, payload, n) == 0);
    /* Checksums: the IPv4 header and TCP with its pseudo-header both sum to 0xffff. */
    const uint8_t *ip = pkt + 14;
    size_t ihl = ipver == 4 ? 20 : 40;
    uint32_t tcplen = (uint32_t)(len - 14 - ihl);
    if (ipver == 4)
        GW_CHECK_INT(fold(sum(ip, 20)), 0xffff);
    uint32_t s = sum(ip + (ipver == 4 ? 12 : 8), ipver == 4 ? 8 : 32) + 6 + tcplen;
    GW_CHECK_INT(fold(s + sum(ip + ihl, tcplen)), 0xffff);
    cap_decoder_del(d);
}

/* ---- an in-process relay: echo server <- proxy <- client socket */
typedef struct rec {
    int packets, syn, synack, fin, rst;
    uint64_t data_bytes;
} rec;

static void on_packet(void *u, int64_t ts, const uint8_t *p, uint32_t n)
{
    rec *r = u;
    cap_decoder *d = NULL;
    cap_packet cp;
    cap_layers l;
    memset(&cp, 0, sizeof cp);
    cp.caplen = cp.wirelen = n;
    cp.linktype = 1;
    cp.data = p;
    r->packets++;
    if (cap_decoder_new(&d, NULL) == 0 && cap_decode(d, &cp, &l) == 1) {
        r->syn += (l.flags & 0x12) == 0x02;
        r->synack += (l.flags & 0x12) == 0x12;
        r->fin += !!(l.flags & 0x01);
        r->rst += !!(l.flags & 0x04);
        r->data_bytes += l.payload_len;
    }
    cap_decoder_del(d);
}

static void *run(void *u)
{
    rpc_proxy_run(u);
    return NULL;
}

static void relay_test(void)
{
    rpc_server *s = rpc_server_new(NULL);
    char sb[128], pb[128], to[160], why[256];
    GW_CHECK(s != NULL);
    GW_CHECK_INT(rpc_greeter_register(s), 0);
    GW_CHECK_INT(rpc_server_listen(s, "127.0.0.1:0", sb, sizeof sb), 0);
    GW_CHECK_INT(rpc_server_start(s), 0);
    snprintf(to, sizeof to, "127.0.0.1:%s", strrchr(sb, ':') + 1);
    rec r;
    memset(&r, 0, sizeof r);
    rpc_proxy_opts o;
    rpc_proxy_opts_default(&o);
    o.listen = "127.0.0.1:0";
    o.to = to;
    o.mss = 1000; /* the 100 kB reply below must be cut into segments */
    rpc_proxy_cbs cb = {on_packet, NULL, &r};
    rpc_proxy *p = rpc_proxy_new(&o, &cb, pb, sizeof pb, why, sizeof why);
    GW_CHECK(p != NULL);
    pthread_t th;
    GW_CHECK_INT(pthread_create(&th, NULL, run, p), 0);
    for (int k = 0; k < 3; k++) { /* three connections, one after the other */
        rpc_channel *ch = rpc_channel_new(pb, why, sizeof why);
        GW_CHECK(ch != NULL);
        gw_buf req, out;
        gw_buf_init(&req, 0);
        gw_buf_init(&out, 0);
        static char big[100000];
        memset(big, 'x', sizeof big - 1);
        rpc_hello_encode(&req, big, k == 2 ? sizeof big - 1 : 5);
        GW_CHECK_INT(rpc_unary(ch, "/helloworld.Greeter/SayHello", req.data, req.len, NULL, &out, NULL), 0);
        const char *g;
        size_t gl;
        GW_CHECK_INT(rpc_hello_decode(out.data, out.len, &g, &gl), 0);
        GW_CHECK_INT(gl, k == 2 ? sizeof big - 1 + 6 : 11u);
        gw_buf_free(&req);
        gw_buf_free(&out);
        rpc_channel_del(ch);
    }
    for (int i = 0; i < 300 && rpc_proxy_active(p); i++)
        usleep(10000);
    GW_CHECK_INT(rpc_proxy_active(p), 0u);
    GW_CHECK_INT(rpc_proxy_total(p), 3u);
    rpc_proxy_stop(p);
    pthread_join(th, NULL);
    rpc_proxy_del(p);
    rpc_server_shutdown(s);
    rpc_server_wait(s);
    rpc_server_del(s);
    GW_CHECK_INT(r.syn, 3);
    GW_CHECK_INT(r.synack, 3);
    GW_CHECK_INT(r.fin, 6);
    GW_CHECK_INT(r.rst, 0);
    GW_CHECK(r.data_bytes > 200000);
    GW_CHECK(r.packets > 200); /* 100 kB each way in 1000-byte segments */
}

int main(void)
{
    for (int v = 4; v <= 6; v += 2) {
        check_one(v, 0x02, 0);                    /* SYN */
        check_one(v, 0x12, 0);                    /* SYN-ACK */
        check_one(v, 0x10, 0);                    /* pure ACK */
        check_one(v, 0x18, 1);                    /* odd length: checksum padding */
        check_one(v, 0x18, RPC_PROXY_MAX_SEG);    /* the largest segment: IPv4 total 65535 */
        check_one(v, 0x11, 0);                    /* FIN */
        check_one(v, 0x14, 0);                    /* RST */
    }
    relay_test();
    GW_TEST_END();
}
