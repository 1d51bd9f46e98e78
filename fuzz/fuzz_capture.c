/* fuzz_capture: the capture layer on hostile bytes. First byte < 0x80: a link type selector, then
 * packets as [len hi][len lo][cut][bytes...] decoded in turn by one decoder (small reassembly caps,
 * so eviction and completion both happen); every pointer and length must stay inside the packet,
 * and a second decoder taking the general path for every packet (cap_decode_general) must give
 * the same result field by field: the differential check of cap_decode's fast path.
 * First byte >= 0x80: the rest is a file read through cap_source_open_file (memfd). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "capture/cap.h"
#include "capture/cap_int.h"

static volatile uint8_t sink;
static const int dlts[] = {1, 113, 276, 0, 108, 12, 101, 228, 229, 105};

static void check(const cap_packet *p, const cap_layers *l, int r)
{
    if (r < 0)
        return;
    if (l->link_len > p->caplen)
        abort();
    if (r == 0)
        return;
    if (!l->is_tcp || (l->ipver != 4 && l->ipver != 6) || l->tcp_hdr_len < 20 ||
        l->tcp_hdr_len > 60)
        abort();
    if (l->reassembled) {
        if (l->payload_len > 65535 || l->payload_missing)
            abort();
        uint8_t sum = 0; /* touch every byte: ASan checks the decoder's buffer */
        for (uint32_t i = 0; i < l->payload_len; i++)
            sum = (uint8_t)(sum + l->payload[i]);
        sink = sum;
        return;
    }
    const uint8_t *end = p->data + p->caplen;
    if (l->payload < p->data + l->link_len || l->payload > end ||
        l->payload_len > (size_t)(end - l->payload))
        abort();
    if ((size_t)l->link_len + l->ip_hdr_len + l->tcp_hdr_len + l->payload_len > p->caplen)
        abort();
    uint64_t wire = p->wirelen > p->caplen ? p->wirelen : p->caplen;
    if ((uint64_t)l->link_len + l->ip_hdr_len + l->tcp_hdr_len + l->payload_len +
            l->payload_missing >
        wire)
        abort();
}

/* Every field of two decodes alike? Payloads compare by position in the packet, or by bytes
 * when they come from each decoder's own reassembled datagram. */
static int same(const cap_layers *a, const cap_layers *b)
{
    if (a->linktype != b->linktype || a->link_len != b->link_len || a->has_eth != b->has_eth ||
        memcmp(a->eth_src, b->eth_src, 6) || memcmp(a->eth_dst, b->eth_dst, 6) ||
        a->ethertype != b->ethertype || a->vlan[0] != b->vlan[0] || a->vlan[1] != b->vlan[1] ||
        a->nvlan != b->nvlan || a->ipver != b->ipver || memcmp(a->src, b->src, 16) ||
        memcmp(a->dst, b->dst, 16) || a->proto != b->proto || a->ttl != b->ttl ||
        a->tos != b->tos || a->flow_label != b->flow_label || a->ip_id != b->ip_id ||
        a->ip_hdr_len != b->ip_hdr_len || a->ip_len != b->ip_len ||
        a->reassembled != b->reassembled || a->is_tcp != b->is_tcp || a->sport != b->sport ||
        a->dport != b->dport || a->seq != b->seq || a->ack != b->ack || a->flags != b->flags ||
        a->window != b->window || a->tcp_hdr_len != b->tcp_hdr_len ||
        a->payload_len != b->payload_len || a->payload_missing != b->payload_missing)
        return 0;
    if ((a->anomaly == NULL) != (b->anomaly == NULL) ||
        (a->anomaly && strcmp(a->anomaly, b->anomaly) != 0))
        return 0;
    if (a->reassembled)
        return a->payload_len == 0 || memcmp(a->payload, b->payload, a->payload_len) == 0;
    return a->payload == b->payload;
}

static void packets(const uint8_t *data, size_t size)
{
    cap_opts o;
    cap_opts_default(&o);
    o.ipfrag_max_bytes = 16384;
    o.ipfrag_max_datagrams = 4;
    o.ipfrag_timeout_ns = 1000;
    cap_decoder *d, *g;
    if (cap_decoder_new(&d, &o) < 0)
        return;
    if (cap_decoder_new(&g, &o) < 0) {
        cap_decoder_del(d);
        return;
    }
    int dlt = dlts[data[0] % (sizeof dlts / sizeof dlts[0])];
    size_t i = 1;
    int64_t ts = 0;
    uint64_t no = 0;
    while (i + 3 <= size) {
        size_t len = (size_t)data[i] << 8 | data[i + 1];
        uint8_t cut = data[i + 2];
        i += 3;
        if (len > size - i)
            len = size - i;
        /* An exact-size copy so that any over-read is caught. */
        uint8_t *buf = malloc(len ? len : 1);
        if (!buf)
            break;
        memcpy(buf, data + i, len);
        i += len;
        cap_packet p = {++no,       ts, (uint32_t)len, (uint32_t)len + (cut & 0x7f), dlt,
                        UINT64_MAX, buf};
        ts += cut & 0x80 ? 600 : 1;
        cap_layers l, m;
        memset(&l, 0xa5, sizeof l); /* garbage: a field the fast path forgot would keep it */
        memset(&m, 0x5a, sizeof m);
        int r = cap_decode(d, &p, &l);
        check(&p, &l, r);
        if (cap_decode_general(g, &p, &m) != r || !same(&l, &m))
            abort();
        free(buf);
    }
    cap_decoder_del(d);
    cap_decoder_del(g);
}

static void file(const uint8_t *data, size_t size)
{
    int fd = memfd_create("fuzz_capture", 0);
    if (fd < 0)
        return;
    if (write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return;
    }
    char path[64], msg[256];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    cap_source *s;
    if (cap_source_open_file(&s, path, msg, sizeof msg) == 0) {
        cap_decoder *d;
        if (cap_decoder_new(&d, NULL) == 0) {
            cap_packet p;
            int n = 0;
            while (n++ < 10000 && cap_source_next(s, &p, msg, sizeof msg) == 1) {
                if (p.file_offset != UINT64_MAX && p.file_offset >= size)
                    abort();
                cap_layers l;
                check(&p, &l, cap_decode(d, &p, &l));
            }
            cap_decoder_del(d);
        }
        cap_source_del(s);
    }
    close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (data[0] & 0x80)
        file(data + 1, size - 1);
    else
        packets(data, size);
    return 0;
}
