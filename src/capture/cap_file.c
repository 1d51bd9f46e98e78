/* cap_file: packet sources (pcap/pcapng files, live interfaces) and the pcap writer, all through
 * libpcap. Files are fed to libpcap through a counting stream (fopencookie) that follows the
 * record structure, so every packet and every error has its exact file offset, even on a pipe. */
#include "cap.h"

#include <errno.h>
#include <fcntl.h>
#include <pcap/pcap.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "capture/cap_mmap.h"
#include "gw_err.h"
#include "gw_mem.h"

/* ---- the record tracker ------------------------------------------------------------------- */
/* Watches the bytes handed to libpcap and remembers where recent records (pcap) or blocks
 * (pcapng) start. libpcap has consumed up to ftell(), so the record that holds byte ftell()-1 is
 * the one just returned or the one that failed. The ring must outlast the records of one stdio
 * buffer refill; reads are capped at READ_MAX bytes and a record is at least 12 bytes. */
#define READ_MAX 8192
#define RING 1024

enum { FMT_UNKNOWN, FMT_PCAP, FMT_PCAPNG, FMT_OTHER };

#define PCAPNG_SHB 0x0A0D0D0Au /* pcapng section header block; reads the same in both orders */

typedef struct tracker {
    int fmt;
    int big;          /* byte order of the pcap file or the current pcapng section */
    unsigned rec_hdr; /* pcap: record header size (16, or 24 for the "modified" format) */
    int lost;         /* the structure stopped making sense: no more records are recorded */
    uint64_t pos;     /* bytes seen */
    uint64_t cur;     /* start of the record being seen */
    uint64_t cur_len; /* its length, 0 until its header has been seen */
    uint8_t hdr[12];  /* its first bytes */
    unsigned nhdr;
    uint64_t starts[RING];
    uint64_t nstarts;
} tracker;

static uint32_t rd32(const uint8_t *b, int big)
{
    if (big)
        return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
    return (uint32_t)b[3] << 24 | (uint32_t)b[2] << 16 | (uint32_t)b[1] << 8 | b[0];
}

static void push_start(tracker *t, uint64_t off)
{
    t->starts[t->nstarts % RING] = off;
    t->nstarts++;
}

/* Classify the first 4 bytes. pcap: the magic in either byte order (microsecond a1b2c3d4,
 * nanosecond a1b23c4d, "modified" a1b2cd34 with 24-byte record headers); pcapng: an SHB. */
static void sniff(tracker *t)
{
    static const uint32_t magics[] = {0xa1b2c3d4u, 0xa1b23c4du, 0xa1b2cd34u};
    for (int big = 0; big < 2; big++)
        for (size_t i = 0; i < sizeof magics / sizeof magics[0]; i++)
            if (rd32(t->hdr, big) == magics[i]) {
                t->fmt = FMT_PCAP;
                t->big = big;
                t->rec_hdr = magics[i] == 0xa1b2cd34u ? 24 : 16;
                t->cur = 0;
                t->cur_len = 24; /* the file header, then records */
                return;
            }
    if (rd32(t->hdr, 1) == PCAPNG_SHB) {
        t->fmt = FMT_PCAPNG;
        push_start(t, 0);
        return; /* the SHB's header is still being collected */
    }
    t->fmt = FMT_OTHER;
    t->lost = 1;
}

/* A record's header is complete when its length can be known: 0 = need more, 1 = known. */
static int header_done(tracker *t)
{
    if (t->fmt == FMT_PCAP) {
        if (t->nhdr < 12)
            return 0;
        t->cur_len = (uint64_t)t->rec_hdr + rd32(t->hdr + 8, t->big);
        return 1;
    }
    if (t->nhdr < 8)
        return 0;
    int shb = rd32(t->hdr, 1) == PCAPNG_SHB;
    if (shb) {
        if (t->nhdr < 12)
            return 0;
        uint32_t bom = rd32(t->hdr + 8, 1);
        if (bom == 0x1A2B3C4Du)
            t->big = 1;
        else if (bom == 0x4D3C2B1Au)
            t->big = 0;
        else {
            t->lost = 1;
            return 1;
        }
    }
    uint32_t len = rd32(t->hdr + 4, t->big);
    if (len < 12 || len % 4)
        t->lost = 1;
    else
        t->cur_len = len;
    return 1;
}

static void tracker_feed(tracker *t, const uint8_t *b, size_t n)
{
    size_t i = 0;
    while (i < n && !t->lost) {
        if (t->fmt == FMT_UNKNOWN) {
            t->hdr[t->nhdr++] = b[i++];
            t->pos++;
            if (t->nhdr == 4)
                sniff(t);
            continue;
        }
        if (t->cur_len == 0) {
            if (t->nhdr == 0)
                push_start(t, t->cur);
            t->hdr[t->nhdr++] = b[i++];
            t->pos++;
            header_done(t);
            continue;
        }
        uint64_t left = t->cur + t->cur_len - t->pos;
        if (left == 0) {
            t->cur += t->cur_len;
            t->cur_len = 0;
            t->nhdr = 0;
            continue;
        }
        size_t take = left < n - i ? (size_t)left : n - i;
        i += take;
        t->pos += take;
    }
    t->pos += n - i;
}

/* Start of the latest record beginning at or before `off`, or UINT64_MAX. */
static uint64_t tracker_lookup(const tracker *t, uint64_t off)
{
    uint64_t lo = t->nstarts > RING ? t->nstarts - RING : 0;
    for (uint64_t k = t->nstarts; k > lo; k--)
        if (t->starts[(k - 1) % RING] <= off)
            return t->starts[(k - 1) % RING];
    return UINT64_MAX;
}

/* ---- the counting stream ------------------------------------------------------------------ */
typedef struct fin {
    int fd;
    int own; /* close fd at the end (not for standard input) */
    tracker t;
} fin;

static ssize_t fin_read(void *c, char *buf, size_t n)
{
    fin *in = c;
    if (n > READ_MAX)
        n = READ_MAX;
    ssize_t r;
    do
        r = read(in->fd, buf, n);
    while (r < 0 && errno == EINTR);
    if (r > 0)
        tracker_feed(&in->t, (const uint8_t *)buf, (size_t)r);
    return r;
}

/* Only ftell() is supported: stdio subtracts what it has buffered from our count. */
static int fin_seek(void *c, off64_t *off, int whence)
{
    fin *in = c;
    if (whence == SEEK_CUR && *off == 0) {
        *off = (off64_t)in->t.pos;
        return 0;
    }
    errno = ESPIPE;
    return -1;
}

static int fin_close(void *c)
{
    fin *in = c;
    if (in->own && in->fd >= 0)
        close(in->fd);
    in->fd = -1;
    return 0;
}

/* ---- sources ------------------------------------------------------------------------------ */
struct cap_source {
    pcap_t *p;
    fin *in;    /* files: the stream under libpcap (owned; its FILE is closed by pcap_close) */
    char *name; /* file or interface, for messages (owned) */
    int live;
    int linktype;
    int snaplen;
    int nano; /* timestamps come in nanoseconds */
    uint64_t no;
    struct bpf_program prog; /* files: filter applied here so packet numbers count every packet */
    int has_prog;
    int err; /* sticky: a damaged file keeps reporting its damage */
    char errmsg[256];
    volatile sig_atomic_t broken;
    cap_mm mm;  /* classic pcap in a regular file: read in place (mm.base set), libpcap not used
                   for reading (p is a dead handle for filters and names) */
};

int cap_linktype_supported(int linktype)
{
    switch (linktype) {
    case DLT_EN10MB:
    case DLT_LINUX_SLL:
    case DLT_LINUX_SLL2:
    case DLT_NULL:
    case DLT_LOOP:
    case DLT_RAW:
    case 101: /* LINKTYPE_RAW, should a caller pass the file value through */
    case DLT_IPV4:
    case DLT_IPV6:
        return 1;
    default:
        return 0;
    }
}

const char *cap_linktype_name(int linktype)
{
    static _Thread_local char buf[24];
    const char *s = pcap_datalink_val_to_name(linktype);
    if (s)
        return s;
    snprintf(buf, sizeof buf, "DLT_%d", linktype);
    return buf;
}

static void set_msg(char *msg, size_t msglen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_msg(char *msg, size_t msglen, const char *fmt, ...)
{
    if (!msg || !msglen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, msglen, fmt, ap);
    va_end(ap);
}

static cap_source *source_new(const char *name)
{
    cap_source *s = gw_calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->name = gw_strdup(name);
    if (!s->name) {
        gw_free(s);
        return NULL;
    }
    return s;
}

static int check_linktype(cap_source *s, char *msg, size_t msglen)
{
    s->linktype = pcap_datalink(s->p);
    s->snaplen = pcap_snapshot(s->p);
    if (cap_linktype_supported(s->linktype))
        return 0;
    set_msg(msg, msglen, "%s: link type %s (%d) is not supported", s->name,
            cap_linktype_name(s->linktype), s->linktype);
    return GW_ELINKTYPE;
}

/* libpcap's "truncated dump file; tried to read ..." reads better as "record truncated: ...". */
static const char *fold(const char *e, const char **prefix)
{
    static const char *const heads[] = {"truncated dump file; ", "truncated pcapng dump file; "};
    *prefix = "";
    for (size_t i = 0; i < sizeof heads / sizeof heads[0]; i++)
        if (strncmp(e, heads[i], strlen(heads[i])) == 0) {
            *prefix = "record truncated: ";
            return e + strlen(heads[i]);
        }
    return e;
}

int cap_source_open_file(cap_source **out, const char *path, char *msg, size_t msglen)
{
    int rc = 0;
    int stdin_ = strcmp(path, "-") == 0;
    char errbuf[PCAP_ERRBUF_SIZE] = "";
    FILE *f = NULL;
    *out = NULL;
    cap_source *s = source_new(stdin_ ? "<stdin>" : path);
    fin *in = gw_calloc(1, sizeof *in);
    if (!s || !in) {
        set_msg(msg, msglen, "%s: out of memory", path);
        rc = GW_ENOMEM;
        goto out;
    }
    in->fd = stdin_ ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    in->own = !stdin_;
    if (in->fd < 0) {
        set_msg(msg, msglen, "%s: cannot open: %s", path, strerror(errno));
        rc = GW_EIO;
        goto out;
    }
    if (!stdin_) {
        int m = cap_mm_open(&s->mm, in->fd);
        if (m == 1) {
            /* Mapped: no stream, no libpcap reader; a dead handle compiles filters. */
            close(in->fd);
            s->p = pcap_open_dead_with_tstamp_precision(
                s->mm.linktype, s->mm.snaplen ? (int)s->mm.snaplen : 262144,
                PCAP_TSTAMP_PRECISION_NANO);
            if (!s->p) {
                set_msg(msg, msglen, "%s: out of memory", s->name);
                rc = GW_ENOMEM;
                goto out;
            }
            s->nano = 1;
            rc = check_linktype(s, msg, msglen);
            goto out;
        }
    }
    cookie_io_functions_t io = {.read = fin_read, .seek = fin_seek, .close = fin_close};
    f = fopencookie(in, "r", io);
    if (!f) {
        fin_close(in);
        set_msg(msg, msglen, "%s: out of memory", s->name);
        rc = GW_ENOMEM;
        goto out;
    }
    s->in = in;
    in = NULL;
    s->p = pcap_fopen_offline_with_tstamp_precision(f, PCAP_TSTAMP_PRECISION_NANO, errbuf);
    if (!s->p) {
        const tracker *t = &s->in->t;
        if (ferror(f)) {
            set_msg(msg, msglen, "%s: read error: %s", s->name, strerror(errno));
            rc = GW_EIO;
        } else if (t->fmt == FMT_UNKNOWN || t->fmt == FMT_OTHER) {
            set_msg(msg, msglen, "%s: not a pcap or pcapng file", s->name);
            rc = GW_EFORMAT;
        } else if (strstr(errbuf, "truncated")) {
            const char *prefix;
            const char *e = fold(errbuf, &prefix);
            set_msg(msg, msglen, "%s: offset 0: file header truncated (%s)", s->name, e);
            rc = GW_ETRUNCATED;
        } else {
            set_msg(msg, msglen, "%s: %s", s->name, errbuf);
            rc = GW_EFORMAT;
        }
        fclose(f); /* libpcap leaves a stream it refused to the caller */
        goto out;
    }
    s->nano = 1;
    rc = check_linktype(s, msg, msglen);
out:
    gw_free(in);
    if (rc < 0) {
        cap_source_del(s);
        return rc;
    }
    *out = s;
    return 0;
}

int cap_source_open_live(cap_source **out, const char *iface, int snaplen, char *msg, size_t msglen)
{
    int rc = 0;
    char errbuf[PCAP_ERRBUF_SIZE] = "";
    const char *name = iface ? iface : "any";
    *out = NULL;
    cap_source *s = source_new(name);
    if (!s) {
        set_msg(msg, msglen, "%s: out of memory", name);
        return GW_ENOMEM;
    }
    s->live = 1;
    s->p = pcap_create(name, errbuf);
    if (!s->p) {
        set_msg(msg, msglen, "%s: %s", name, errbuf);
        rc = GW_EIO;
        goto out;
    }
    pcap_set_snaplen(s->p, snaplen > 0 ? snaplen : 262144);
    pcap_set_immediate_mode(s->p, 1);
    pcap_set_timeout(s->p, 200); /* wake now and then to notice cap_source_break() */
    pcap_set_tstamp_precision(s->p, PCAP_TSTAMP_PRECISION_NANO);
    int r = pcap_activate(s->p);
    if (r < 0) {
        const char *e = pcap_geterr(s->p);
        if (!e || !*e)
            e = pcap_statustostr(r);
        if (r == PCAP_ERROR_PERM_DENIED) {
            set_msg(msg, msglen,
                    "%s: permission denied: live capture needs the CAP_NET_RAW and CAP_NET_ADMIN "
                    "capabilities; grant them with: setcap cap_net_raw,cap_net_admin=eip "
                    "$(command -v grpcwire) (or run as root)",
                    name);
            rc = GW_EPERM;
        } else if (r == PCAP_ERROR_NO_SUCH_DEVICE) {
            set_msg(msg, msglen, "%s: no such interface (%s)", name, e);
            rc = GW_ENOTFOUND;
        } else {
            set_msg(msg, msglen, "%s: cannot capture: %s", name, e);
            rc = GW_EIO;
        }
        goto out;
    }
    s->nano = pcap_get_tstamp_precision(s->p) == PCAP_TSTAMP_PRECISION_NANO;
    rc = check_linktype(s, msg, msglen);
out:
    if (rc < 0) {
        cap_source_del(s);
        return rc;
    }
    *out = s;
    return 0;
}

int cap_source_set_filter(cap_source *s, const char *expr, char *msg, size_t msglen)
{
    struct bpf_program prog;
    if (pcap_compile(s->p, &prog, expr, 1, PCAP_NETMASK_UNKNOWN) < 0) {
        set_msg(msg, msglen, "filter \"%s\": %s", expr, pcap_geterr(s->p));
        return GW_EPARSE;
    }
    if (s->live) {
        int r = pcap_setfilter(s->p, &prog);
        pcap_freecode(&prog);
        if (r < 0) {
            set_msg(msg, msglen, "filter \"%s\": %s", expr, pcap_geterr(s->p));
            return GW_EIO;
        }
        return 0;
    }
    if (s->has_prog)
        pcap_freecode(&s->prog);
    s->prog = prog;
    s->has_prog = 1;
    return 0;
}

static void fill(cap_source *s, const struct pcap_pkthdr *h, const u_char *data, cap_packet *pkt)
{
    int64_t frac = (int64_t)h->ts.tv_usec * (s->nano ? 1 : 1000);
    pkt->no = s->no;
    int64_t ns;
    /* pcapng allows 64-bit timestamps far past what int64 nanoseconds can hold: saturate. */
    if (__builtin_mul_overflow((int64_t)h->ts.tv_sec, (int64_t)1000000000, &ns) ||
        __builtin_add_overflow(ns, frac, &ns))
        ns = h->ts.tv_sec < 0 ? INT64_MIN : INT64_MAX;
    pkt->ts_ns = ns;
    pkt->caplen = h->caplen;
    pkt->wirelen = h->len;
    pkt->linktype = s->linktype;
    pkt->file_offset = UINT64_MAX;
    pkt->data = data;
}

/* The offset of the record that holds the last byte libpcap consumed. */
static uint64_t consumed_record(cap_source *s)
{
    long end = ftell(pcap_file(s->p));
    if (end <= 0)
        return UINT64_MAX;
    return tracker_lookup(&s->in->t, (uint64_t)end - 1);
}

static int file_error(cap_source *s)
{
    const char *e = pcap_geterr(s->p);
    const char *prefix;
    const char *what = fold(e, &prefix);
    uint64_t off = consumed_record(s);
    if (*prefix)
        s->err = GW_ETRUNCATED;
    else if (strstr(e, "error reading dump file"))
        s->err = GW_EIO;
    else
        s->err = GW_ECORRUPT;
    if (off == UINT64_MAX)
        snprintf(s->errmsg, sizeof s->errmsg, "%s: after packet %llu: %s%s", s->name,
                 (unsigned long long)s->no, prefix, what);
    else
        snprintf(s->errmsg, sizeof s->errmsg, "%s: offset %llu: %s%s", s->name,
                 (unsigned long long)off, prefix, what);
    return s->err;
}

static __attribute__((noinline)) int next_slow(cap_source *s, cap_packet *pkt, char *msg,
                                                size_t msglen);

int cap_source_next(cap_source *s, cap_packet *pkt, char *msg, size_t msglen)
{
    if (s->mm.base && !s->has_prog && !s->err) {
        /* The mapped file's common case: the record's fields straight into *pkt, as fill()
         * would set them (seconds below 2^32: no overflow to saturate). */
        uint64_t off;
        const uint8_t *r = cap_mm_quick(&s->mm, &off);
        if (r) {
            uint32_t h[4]; /* seconds, fraction, caplen, wirelen */
            memcpy(h, r, sizeof h);
            if (s->mm.swap) { /* one test of the byte order for all four */
                for (int i = 0; i < 4; i++)
                    h[i] = __builtin_bswap32(h[i]);
            }
            pkt->no = ++s->no;
            pkt->ts_ns = (int64_t)h[0] * 1000000000 +
                         (s->mm.nano ? (int64_t)h[1] : (int64_t)h[1] * 1000);
            pkt->caplen = h[2];
            pkt->wirelen = h[3];
            pkt->linktype = s->linktype;
            pkt->file_offset = off;
            pkt->data = r + CAP_MM_REC_HDR;
            return 1;
        }
    }
    return next_slow(s, pkt, msg, msglen);
}

/* Everything but the mapped file's common case: errors, filters, the end, libpcap. */
static __attribute__((noinline)) int next_slow(cap_source *s, cap_packet *pkt, char *msg,
                                                size_t msglen)
{
    struct pcap_pkthdr *h;
    const u_char *data;
    if (s->err) {
        set_msg(msg, msglen, "%s", s->errmsg);
        return s->err;
    }
    while (s->mm.base) {
        struct pcap_pkthdr mh;
        const uint8_t *md;
        uint64_t off;
        char what[160];
        int r = cap_mm_next(&s->mm, &mh, &md, &off, what, sizeof what);
        if (r == 0)
            return 0;
        if (r < 0) {
            const char *prefix;
            const char *e = fold(what, &prefix);
            s->err = r;
            snprintf(s->errmsg, sizeof s->errmsg, "%s: offset %llu: %s%s", s->name,
                     (unsigned long long)off, prefix, e);
            set_msg(msg, msglen, "%s", s->errmsg);
            return s->err;
        }
        s->no++;
        if (!s->mm.nano)
            mh.ts.tv_usec *= 1000; /* fill() takes nanoseconds, as libpcap gives them */
        if (s->has_prog && !pcap_offline_filter(&s->prog, &mh, md))
            continue;
        fill(s, &mh, md, pkt);
        pkt->file_offset = off;
        return 1;
    }
    for (;;) {
        if (s->live && s->broken)
            return 0;
        int r = pcap_next_ex(s->p, &h, &data);
        if (r == 1) {
            s->no++;
            if (s->has_prog && !pcap_offline_filter(&s->prog, h, data))
                continue;
            fill(s, h, data, pkt);
            if (!s->live)
                pkt->file_offset = consumed_record(s);
            return 1;
        }
        if (r == 0) /* live: the buffer timeout passed without packets */
            continue;
        if (r == PCAP_ERROR_BREAK)
            return 0;
        if (s->live) {
            set_msg(msg, msglen, "%s: %s", s->name, pcap_geterr(s->p));
            return GW_EIO;
        }
        file_error(s);
        set_msg(msg, msglen, "%s", s->errmsg);
        return s->err;
    }
}

void cap_source_break(cap_source *s)
{
    if (!s)
        return;
    s->broken = 1;
    if (s->p)
        pcap_breakloop(s->p);
}

int cap_source_linktype(const cap_source *s)
{
    return s->linktype;
}
int cap_source_snaplen(const cap_source *s)
{
    return s->snaplen;
}

uint64_t cap_source_dropped(const cap_source *s)
{
    struct pcap_stat st;
    if (!s->live || pcap_stats(s->p, &st) < 0)
        return 0;
    return st.ps_drop;
}

void cap_source_del(cap_source *s)
{
    if (!s)
        return;
    if (s->has_prog)
        pcap_freecode(&s->prog);
    if (s->p)
        pcap_close(s->p); /* closes the counting stream, which closes the file */
    cap_mm_close(&s->mm);
    gw_free(s->in);
    gw_free(s->name);
    gw_free(s);
}

/* ---- writer ------------------------------------------------------------------------------- */
struct cap_writer {
    pcap_t *p;
    pcap_dumper_t *d;
    uint32_t snaplen;
};

int cap_writer_open(cap_writer **out, const char *path, int linktype, int snaplen, char *msg,
                    size_t msglen)
{
    int rc = 0;
    *out = NULL;
    cap_writer *w = gw_calloc(1, sizeof *w);
    if (!w) {
        set_msg(msg, msglen, "%s: out of memory", path);
        return GW_ENOMEM;
    }
    w->snaplen = snaplen > 0 ? (uint32_t)snaplen : 262144;
    w->p = pcap_open_dead(linktype, (int)w->snaplen);
    if (!w->p) {
        set_msg(msg, msglen, "%s: out of memory", path);
        rc = GW_ENOMEM;
        goto out;
    }
    if (strcmp(path, "-") == 0) {
        /* A duplicate of stdout, so that closing the dump leaves stdout open. */
        int fd = dup(STDOUT_FILENO);
        FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
        if (!f) {
            if (fd >= 0)
                close(fd);
            set_msg(msg, msglen, "<stdout>: %s", strerror(errno));
            rc = GW_EIO;
            goto out;
        }
        w->d = pcap_dump_fopen(w->p, f);
        if (!w->d)
            fclose(f);
    } else {
        w->d = pcap_dump_open(w->p, path);
    }
    if (!w->d) {
        set_msg(msg, msglen, "%s: cannot write: %s", path, pcap_geterr(w->p));
        rc = GW_EIO;
    }
out:
    if (rc < 0) {
        cap_writer_del(w);
        return rc;
    }
    *out = w;
    return 0;
}

int cap_writer_write(cap_writer *w, int64_t ts_ns, const uint8_t *data, uint32_t caplen,
                     uint32_t wirelen)
{
    struct pcap_pkthdr h;
    int64_t sec = ts_ns / 1000000000, rem = ts_ns % 1000000000;
    if (rem < 0) {
        sec--;
        rem += 1000000000;
    }
    memset(&h, 0, sizeof h);
    h.ts.tv_sec = (time_t)sec;
    h.ts.tv_usec = (suseconds_t)(rem / 1000);
    h.caplen = caplen < w->snaplen ? caplen : w->snaplen;
    h.len = wirelen < h.caplen ? h.caplen : wirelen;
    pcap_dump((u_char *)w->d, &h, data);
    return ferror(pcap_dump_file(w->d)) ? GW_EIO : 0;
}

int cap_writer_flush(cap_writer *w)
{
    return pcap_dump_flush(w->d) < 0 ? GW_EIO : 0;
}

void cap_writer_del(cap_writer *w)
{
    if (!w)
        return;
    if (w->d)
        pcap_dump_close(w->d);
    if (w->p)
        pcap_close(w->p);
    gw_free(w);
}
