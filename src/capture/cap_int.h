/* cap_int: what the capture sources share privately: the link-layer decoder hands the network
 * layer (cap_ip.c) the bytes after the link header. Not part of the contract in cap.h. */
#ifndef CAP_INT_H
#define CAP_INT_H
#include "cap.h"

/* Decode an IPv4 or IPv6 packet (ver 4 or 6; 0 = take it from the first nibble) and the TCP
 * segment in it. `n` bytes are captured, `wire` bytes were on the wire (wire >= n). Returns what
 * cap_decode returns. */
int cap_net_decode(cap_decoder *d, const cap_packet *pkt, int ver, const uint8_t *p, size_t n,
                   size_t wire, cap_layers *out);

typedef struct frag_dg frag_dg; /* an incomplete datagram (cap_ip.c) */

struct cap_decoder {
    cap_opts o;
    frag_dg **dgs; /* incomplete datagrams (owned), unordered */
    unsigned ndgs, adgs;
    size_t held; /* sum of their caps */
    uint64_t seq;
    uint8_t *out; /* the datagram completed by the last cap_decode (owned) */
};

void cap_decoder_begin_slow(cap_decoder *d, int64_t ts_ns);
/* Start decoding a packet captured at ts_ns: forget the previous reassembled datagram and drop
 * incomplete ones that timed out. Inline: without fragments (nearly always) nothing to do. */
static inline void cap_decoder_begin(cap_decoder *d, int64_t ts_ns)
{
    if (d->out || d->ndgs)
        cap_decoder_begin_slow(d, ts_ns);
}

/* cap_decode without its fast path for the common packet: what the differential tests and
 * fuzz_capture compare it against. */
int cap_decode_general(cap_decoder *d, const cap_packet *pkt, cap_layers *out);

static inline void cap_note(cap_layers *out, const char *why)
{
    if (!out->anomaly)
        out->anomaly = why;
}

#endif
