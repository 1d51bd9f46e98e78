/* cap_mmap: classic pcap files read through a memory map: records are handed out in place, with
 * no copy through stdio and libpcap's buffer. Used for regular files only; pcapng, standard
 * input and live capture go through libpcap. Messages match libpcap's for the same damage. */
#ifndef CAP_MMAP_H
#define CAP_MMAP_H
#include <pcap/pcap.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cap_mm {
    const uint8_t *base; /* the mapping (owned: cap_mm_close) */
    size_t len;
    size_t off;          /* next record */
    size_t dropped;      /* pages before this were given back (MADV_DONTNEED): a mapped file
                            must not count as our memory, or RSS would grow with the file */
    int swap;            /* the file's byte order differs from ours */
    int nano;            /* nanosecond timestamps */
    uint32_t snaplen;
    int linktype;        /* as a DLT_ value, the way libpcap reports it */
} cap_mm;

#define CAP_MM_REC_HDR 16
#define CAP_MM_MAX_CAPLEN 262144 /* libpcap's largest snapshot for the link types we decode */
#define CAP_MM_DROP_EVERY (4u << 20)

static inline uint32_t cap_mm_rd32(const uint8_t *p, int swap)
{
    uint32_t v;
    __builtin_memcpy(&v, p, 4);
    return swap ? __builtin_bswap32(v) : v;
}

/* The common case of cap_mm_next, inline: a whole, sane record and no pages to give back yet.
 * Returns its header (16 bytes, file byte order) and moves past it, or NULL when the caller
 * must call cap_mm_next (end of file, damage, or time to give pages back). */
static inline const uint8_t *cap_mm_quick(cap_mm *m, uint64_t *rec_off)
{
    size_t left = m->len - m->off;
    if (left < CAP_MM_REC_HDR || m->off - m->dropped >= CAP_MM_DROP_EVERY)
        return NULL;
    const uint8_t *r = m->base + m->off;
    uint32_t caplen = cap_mm_rd32(r + 8, m->swap);
    if (caplen > CAP_MM_MAX_CAPLEN || left - CAP_MM_REC_HDR < caplen)
        return NULL;
    *rec_off = m->off;
    m->off += CAP_MM_REC_HDR + caplen;
    return r;
}

/* Map fd when it is a regular file holding a classic pcap. Returns 1 when mapped, 0 when the
 * file is something else (the caller uses libpcap; fd untouched), GW_ENOMEM/GW_EIO otherwise. */
int cap_mm_open(cap_mm *m, int fd);
/* 1 with the record in *h and *data (valid until cap_mm_close) and its offset in *rec_off; 0 at
 * the end; GW_ETRUNCATED or GW_ECORRUPT with libpcap's wording in what. */
int cap_mm_next(cap_mm *m, struct pcap_pkthdr *h, const uint8_t **data, uint64_t *rec_off,
                char *what, size_t whatlen);
void cap_mm_close(cap_mm *m);

#endif
