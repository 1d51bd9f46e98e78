#include "capture/cap_mmap.h"

#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/gw_err.h"

#define PCAP_FILE_HDR 24
#define PCAP_REC_HDR CAP_MM_REC_HDR
#define MAX_CAPLEN CAP_MM_MAX_CAPLEN
#define DROP_EVERY CAP_MM_DROP_EVERY
#define rd32 cap_mm_rd32

int cap_mm_open(cap_mm *m, int fd)
{
    struct stat st;
    uint8_t hdr[PCAP_FILE_HDR];
    memset(m, 0, sizeof *m);
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size < PCAP_FILE_HDR)
        return 0;
    if (pread(fd, hdr, sizeof hdr, 0) != (ssize_t)sizeof hdr)
        return 0;
    uint32_t magic;
    memcpy(&magic, hdr, 4);
    switch (magic) {
    case 0xa1b2c3d4: break;
    case 0xa1b23c4d: m->nano = 1; break;
    case 0xd4c3b2a1: m->swap = 1; break;
    case 0x4d3cb2a1: m->swap = m->nano = 1; break;
    default: return 0; /* pcapng or not a capture: libpcap says which */
    }
    if ((rd32(hdr + 4, m->swap) & 0xffff) != 2)
        return 0; /* a version we leave to libpcap's judgement */
    m->snaplen = rd32(hdr + 16, m->swap);
    int lt = (int)(rd32(hdr + 20, m->swap) & 0xffff);
    m->linktype = lt == 101 ? DLT_RAW : lt; /* LINKTYPE_RAW; the others we decode share values */
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED)
        return 0; /* not mappable (some file systems): libpcap reads it */
    madvise(p, (size_t)st.st_size, MADV_SEQUENTIAL);
    m->base = p;
    m->len = (size_t)st.st_size;
    m->off = PCAP_FILE_HDR;
    return 1;
}

int cap_mm_next(cap_mm *m, struct pcap_pkthdr *h, const uint8_t **data, uint64_t *rec_off,
                char *what, size_t whatlen)
{
    size_t left = m->len - m->off;
    if (left == 0)
        return 0;
    *rec_off = m->off;
    if (left < PCAP_REC_HDR) {
        snprintf(what, whatlen, "truncated dump file; tried to read %d header bytes, only got %zu",
                 PCAP_REC_HDR, left);
        return GW_ETRUNCATED;
    }
    const uint8_t *r = m->base + m->off;
    uint32_t caplen = rd32(r + 8, m->swap);
    if (caplen > MAX_CAPLEN) {
        snprintf(what, whatlen, "invalid packet capture length %u, bigger than maximum of %u",
                 caplen, MAX_CAPLEN);
        return GW_ECORRUPT;
    }
    if (left - PCAP_REC_HDR < caplen) {
        snprintf(what, whatlen, "truncated dump file; tried to read %u captured bytes, only got %zu",
                 caplen, left - PCAP_REC_HDR);
        return GW_ETRUNCATED;
    }
    /* Give back what lies behind this record: its bytes are borrowed until the next call only. */
    if (m->off - m->dropped >= DROP_EVERY) {
        size_t page = (size_t)sysconf(_SC_PAGESIZE);
        size_t upto = m->off / page * page;
        if (upto > m->dropped) {
            madvise((void *)(m->base + m->dropped), upto - m->dropped, MADV_DONTNEED);
            m->dropped = upto;
        }
    }
    h->ts.tv_sec = (time_t)rd32(r, m->swap);
    h->ts.tv_usec = (suseconds_t)rd32(r + 4, m->swap);
    h->caplen = caplen;
    h->len = rd32(r + 12, m->swap);
    *data = r + PCAP_REC_HDR;
    m->off += PCAP_REC_HDR + caplen;
    return 1;
}

void cap_mm_close(cap_mm *m)
{
    if (m->base)
        munmap((void *)m->base, m->len);
    memset(m, 0, sizeof *m);
}
