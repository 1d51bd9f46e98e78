/* cap: packets from pcap/pcapng files and live interfaces (through libpcap), and their decoding
 * through the link layer and IPv4/IPv6 (with fragment reassembly) down to TCP segments.
 * Limits: IP fragment state is capped in datagrams and bytes (cap_opts); nothing else is held. */
#ifndef CAP_H
#define CAP_H
#include <stddef.h>
#include <stdint.h>

typedef struct cap_opts {
    size_t ipfrag_max_bytes;      /* bytes held by incomplete datagrams, all together */
    unsigned ipfrag_max_datagrams; /* incomplete datagrams held at once */
    int64_t ipfrag_timeout_ns;    /* capture time after which an incomplete datagram is dropped */
} cap_opts;
void cap_opts_default(cap_opts *o);

/* One captured packet. `data` is borrowed until the next cap_source_next(). */
typedef struct cap_packet {
    uint64_t no;          /* 1-based, in file order */
    int64_t ts_ns;        /* nanoseconds since the epoch, UTC */
    uint32_t caplen;      /* bytes present in data */
    uint32_t wirelen;     /* bytes the packet had on the wire */
    int linktype;         /* DLT_* of the packet's interface */
    uint64_t file_offset; /* where its record starts in the file; UINT64_MAX if unknown */
    const uint8_t *data;
} cap_packet;

/* ---- sources ---------------------------------------------------------------------------- */
typedef struct cap_source cap_source;

/* Open a pcap or pcapng file; "-" reads standard input. On failure `msg` holds one sentence
 * naming the file and the problem. Returns 0, GW_EIO (cannot open), GW_EFORMAT (neither pcap nor
 * pcapng), GW_ELINKTYPE (a link type we cannot decode; msg names it) or GW_ENOMEM. */
int cap_source_open_file(cap_source **out, const char *path, char *msg, size_t msglen);
/* Live capture in immediate mode. GW_EPERM when the process lacks the capability (msg says how
 * to grant it), GW_ENOTFOUND for an unknown interface. */
int cap_source_open_live(cap_source **out, const char *iface, int snaplen, char *msg, size_t msglen);
/* Compile and install a BPF filter (tcpdump syntax). GW_EPARSE with msg on a bad expression. */
int cap_source_set_filter(cap_source *s, const char *expr, char *msg, size_t msglen);
/* 1: a packet in *pkt; 0: end of input; negative: GW_ETRUNCATED or GW_ECORRUPT (the file is
 * damaged: msg says "FILE: offset N: what") or GW_EIO. Packets before the damage were returned. */
int cap_source_next(cap_source *s, cap_packet *pkt, char *msg, size_t msglen);
/* Make a blocked live cap_source_next() return 0 soon (safe from a signal handler). */
void cap_source_break(cap_source *s);
int cap_source_linktype(const cap_source *s);
int cap_source_snaplen(const cap_source *s);
/* Packets the kernel dropped (live only; 0 for files). */
uint64_t cap_source_dropped(const cap_source *s);
void cap_source_del(cap_source *s);
/* Name of a DLT_* value ("EN10MB", "LINUX_SLL2", ...), or "DLT_<n>". */
const char *cap_linktype_name(int linktype);
/* 1 when cap_decode() understands this DLT_* value (the one list of supported link types):
 * EN10MB, LINUX_SLL, LINUX_SLL2, NULL, LOOP, RAW (and LINKTYPE_RAW 101), IPV4, IPV6. */
int cap_linktype_supported(int linktype);

/* ---- writer (pcap, microsecond) ----------------------------------------------------------- */
typedef struct cap_writer cap_writer;
/* "-" writes standard output. */
int cap_writer_open(cap_writer **out, const char *path, int linktype, int snaplen, char *msg, size_t msglen);
int cap_writer_write(cap_writer *w, int64_t ts_ns, const uint8_t *data, uint32_t caplen, uint32_t wirelen);
int cap_writer_flush(cap_writer *w);
void cap_writer_del(cap_writer *w);

/* ---- decoding ----------------------------------------------------------------------------- */
#define CAP_TCP_FIN 0x01 /* RFC 9293 3.1 */
#define CAP_TCP_SYN 0x02
#define CAP_TCP_RST 0x04
#define CAP_TCP_PSH 0x08
#define CAP_TCP_ACK 0x10
#define CAP_TCP_URG 0x20
#define CAP_TCP_ECE 0x40
#define CAP_TCP_CWR 0x80

/* What one packet is, layer by layer. Pointers are borrowed from the packet (or, for a datagram
 * reassembled from IP fragments, from the decoder) until the next cap_decode() call. */
typedef struct cap_layers {
    /* link */
    int linktype;
    uint32_t link_len;       /* bytes of link header, VLAN tags included */
    int has_eth;             /* Ethernet addresses present (EN10MB) */
    uint8_t eth_src[6], eth_dst[6];
    uint16_t ethertype;      /* of the network layer (after VLAN tags) */
    uint16_t vlan[2];        /* VLAN ids, outermost first */
    int nvlan;
    /* network */
    int ipver;               /* 4, 6, or 0 when the packet is not IP */
    uint8_t src[16], dst[16]; /* IPv4 uses the first 4 bytes */
    uint8_t proto;           /* upper-layer protocol (after IPv6 extension headers) */
    uint8_t ttl;             /* TTL or hop limit */
    uint8_t tos;             /* TOS or traffic class */
    uint32_t flow_label;     /* IPv6 */
    uint16_t ip_id;          /* IPv4 identification */
    uint32_t ip_hdr_len;     /* IPv4 header with options, or IPv6 header with extension headers */
    uint32_t ip_len;         /* total length (IPv4) or payload length (IPv6) as in the header */
    int reassembled;         /* the TCP segment came from a datagram reassembled from fragments */
    /* transport (valid when is_tcp) */
    int is_tcp;
    uint16_t sport, dport;
    uint32_t seq, ack;
    uint8_t flags;           /* CAP_TCP_* */
    uint16_t window;
    uint32_t tcp_hdr_len;
    const uint8_t *payload;  /* captured payload bytes */
    uint32_t payload_len;
    uint32_t payload_missing; /* payload bytes cut by the snaplen: the segment really carried
                                 payload_len + payload_missing bytes */
    /* a problem with this packet (static string) or NULL; the packet may still be TCP */
    const char *anomaly;
} cap_layers;

typedef struct cap_decoder cap_decoder;
/* opts may be NULL for defaults. */
int cap_decoder_new(cap_decoder **out, const cap_opts *opts);
void cap_decoder_del(cap_decoder *d);
/* Decode one packet into *out. Returns 1 when out describes a TCP segment, 0 when it does not
 * (not IP, not TCP, a fragment held for reassembly, malformed: see out->anomaly), or GW_ENOMEM. */
int cap_decode(cap_decoder *d, const cap_packet *pkt, cap_layers *out);
/* Format an address of cap_layers (ipver 4 or 6) into buf (at least 46 bytes). */
const char *cap_addr_str(int ipver, const uint8_t *addr, char *buf, size_t n);

#endif
