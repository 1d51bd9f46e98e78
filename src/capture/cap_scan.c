/* cap_scan: a multi-needle presence scan over a file's raw bytes.
 *
 * Regular files are cut into blocks that threads claim in file order from an atomic counter,
 * so an early match is found early and both cores stay busy to the end. Block c holds the match
 * starts [c*B, c*B+B) and is read with pread as bytes [c*B, c*B+B+maxlen-1): a needle that
 * straddles two blocks is wholly inside the first one. pread into a buffer that fits in L2 beats
 * mmap here: no page faults, and the copy leaves the bytes hot for the screen.
 *
 * The screen compares each position's first byte and the byte at its needle's last offset
 * (AVX2 64 or 32 positions a step, SSE2 16), then memcmp confirms the rare candidates. */
#include "capture/cap_scan.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gw_mem.h"

#if defined(__x86_64__) && defined(__SSE2__) && (defined(__GNUC__) || defined(__clang__))
#define HAVE_X86 1
#include <immintrin.h>
#else
#define HAVE_X86 0
#endif

#define BLOCK_DEFAULT ((size_t)512 << 10)
#define THREAD_MIN_FILE ((size_t)8 << 20) /* smaller files: one thread, spawning costs more */
#define THREADS_MAX 4

static int force_portable;
static unsigned force_threads;
#define PAGE 4096u
static size_t force_block;

void cap_scan_force_portable(int on)
{
    force_portable = on;
}
void cap_scan_force_threads(unsigned n)
{
    force_threads = n > THREADS_MAX ? THREADS_MAX : n;
}
void cap_scan_force_block(size_t n)
{
    force_block = n;
}

typedef struct needles {
    size_t k;
    size_t maxn;
    const uint8_t *p[CAP_SCAN_MAX_NEEDLES];
    size_t n[CAP_SCAN_MAX_NEEDLES];
} needles;

typedef int (*scan_fn)(const uint8_t *b, size_t len, const needles *s);

static int scan_portable(const uint8_t *b, size_t len, const needles *s)
{
    for (size_t k = 0; k < s->k; k++)
        if (s->n[k] <= len && memmem(b, len, s->p[k], s->n[k]))
            return 1;
    return 0;
}

#if HAVE_X86
/* Confirms the candidates in mask m (positions i+bit) for needle k; the screens guarantee
 * i + bit + n[k] <= len before they call it. */
static inline int confirm(const uint8_t *b, size_t i, unsigned m, const needles *s, size_t k)
{
    while (m) {
        size_t pos = i + (size_t)__builtin_ctz(m);
        if (memcmp(b + pos, s->p[k], s->n[k]) == 0)
            return 1;
        m &= m - 1;
    }
    return 0;
}

static int scan_sse2(const uint8_t *b, size_t len, const needles *s)
{
    __m128i first[CAP_SCAN_MAX_NEEDLES], last[CAP_SCAN_MAX_NEEDLES];
    size_t i = 0, span = s->maxn - 1 + 16; /* bytes a step reads, from i */
    for (size_t k = 0; k < s->k; k++) {
        first[k] = _mm_set1_epi8((char)s->p[k][0]);
        last[k] = _mm_set1_epi8((char)s->p[k][s->n[k] - 1]);
    }
    for (; len >= span && i <= len - span; i += 16) {
        __m128i a = _mm_loadu_si128((const __m128i *)(const void *)(b + i));
        for (size_t k = 0; k < s->k; k++) {
            __m128i e = _mm_loadu_si128((const __m128i *)(const void *)(b + i + s->n[k] - 1));
            unsigned m = (unsigned)_mm_movemask_epi8(
                _mm_and_si128(_mm_cmpeq_epi8(a, first[k]), _mm_cmpeq_epi8(e, last[k])));
            if (m && confirm(b, i, m, s, k))
                return 1;
        }
    }
    return scan_portable(b + i, len - i, s);
}

/* One 32-position step for needle k at i: candidates as a byte mask, zero almost always. */
#define AVX2_HITS(a, k, at)                                                                        \
    _mm256_and_si256(                                                                              \
        _mm256_cmpeq_epi8((a), first##k),                                                          \
        _mm256_cmpeq_epi8(_mm256_loadu_si256((const __m256i *)(const void *)(at)), last##k))

/* The caller's shape, written out so the four broadcasts stay in registers: two needles
 * ("/grpc.reflection.v1" and its Huffman form), 64 positions a step. */
__attribute__((target("avx2"))) static int scan_avx2_two(const uint8_t *b, size_t len,
                                                         const needles *s)
{
    const __m256i first0 = _mm256_set1_epi8((char)s->p[0][0]);
    const __m256i last0 = _mm256_set1_epi8((char)s->p[0][s->n[0] - 1]);
    const __m256i first1 = _mm256_set1_epi8((char)s->p[1][0]);
    const __m256i last1 = _mm256_set1_epi8((char)s->p[1][s->n[1] - 1]);
    size_t i = 0, span = s->maxn - 1 + 64, off0 = s->n[0] - 1, off1 = s->n[1] - 1;
    for (; len >= span && i <= len - span; i += 64) {
        const uint8_t *p = b + i;
        __m256i a0 = _mm256_loadu_si256((const __m256i *)(const void *)p);
        __m256i a1 = _mm256_loadu_si256((const __m256i *)(const void *)(p + 32));
        __m256i h00 = AVX2_HITS(a0, 0, p + off0), h01 = AVX2_HITS(a1, 0, p + off0 + 32);
        __m256i h10 = AVX2_HITS(a0, 1, p + off1), h11 = AVX2_HITS(a1, 1, p + off1 + 32);
        __m256i h = _mm256_or_si256(_mm256_or_si256(h00, h01), _mm256_or_si256(h10, h11));
        if (__builtin_expect(!_mm256_testz_si256(h, h), 0)) {
            if (confirm(b, i, (unsigned)_mm256_movemask_epi8(h00), s, 0) ||
                confirm(b, i + 32, (unsigned)_mm256_movemask_epi8(h01), s, 0) ||
                confirm(b, i, (unsigned)_mm256_movemask_epi8(h10), s, 1) ||
                confirm(b, i + 32, (unsigned)_mm256_movemask_epi8(h11), s, 1))
                return 1;
        }
    }
    return scan_sse2(b + i, len - i, s);
}

__attribute__((target("avx2"))) static int scan_avx2(const uint8_t *b, size_t len, const needles *s)
{
    __m256i first[CAP_SCAN_MAX_NEEDLES], last[CAP_SCAN_MAX_NEEDLES];
    size_t i = 0, span = s->maxn - 1 + 32; /* bytes a step reads, from i */
    if (s->k == 2)
        return scan_avx2_two(b, len, s);
    for (size_t k = 0; k < s->k; k++) {
        first[k] = _mm256_set1_epi8((char)s->p[k][0]);
        last[k] = _mm256_set1_epi8((char)s->p[k][s->n[k] - 1]);
    }
    for (; len >= span && i <= len - span; i += 32) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(const void *)(b + i));
        for (size_t k = 0; k < s->k; k++) {
            __m256i e = _mm256_loadu_si256((const __m256i *)(const void *)(b + i + s->n[k] - 1));
            unsigned m = (unsigned)_mm256_movemask_epi8(
                _mm256_and_si256(_mm256_cmpeq_epi8(a, first[k]), _mm256_cmpeq_epi8(e, last[k])));
            if (m && confirm(b, i, m, s, k))
                return 1;
        }
    }
    return scan_sse2(b + i, len - i, s);
}
#endif

static scan_fn pick_scan(void)
{
    if (force_portable == 1)
        return scan_portable;
#if HAVE_X86
    __builtin_cpu_init();
    return force_portable != 2 && __builtin_cpu_supports("avx2") ? scan_avx2 : scan_sse2;
#else
    return scan_portable;
#endif
}

static int load_needles(needles *s, const cap_needle *nd, size_t n_needles)
{
    if (n_needles > CAP_SCAN_MAX_NEEDLES)
        return -1;
    memset(s, 0, sizeof *s);
    for (size_t k = 0; k < n_needles; k++) {
        if (!nd[k].p || nd[k].n == 0 || nd[k].n > CAP_SCAN_MAX_NEEDLE)
            return -1;
        s->p[k] = nd[k].p;
        s->n[k] = nd[k].n;
        if (nd[k].n > s->maxn)
            s->maxn = nd[k].n;
    }
    s->k = n_needles;
    return 0;
}

int cap_scan_mem(const uint8_t *p, size_t n, const cap_needle *nd, size_t n_needles)
{
    needles s;
    if (load_needles(&s, nd, n_needles))
        return -1;
    if (s.k == 0 || n == 0)
        return 0;
    return pick_scan()(p, n, &s);
}

/* ---- files ------------------------------------------------------------------------------- */

typedef struct job {
    int fd;
    size_t size;  /* bytes scanned: the file's size when opened */
    size_t block; /* match starts per block */
    size_t nblocks;
    const needles *s;
    scan_fn scan;
    atomic_size_t next; /* next block to claim */
    atomic_int stop;    /* a match or an error: everyone leaves */
    atomic_int found;
    atomic_int err; /* errno of the first read failure, 0 if none */
} job;

/* Reads up to n bytes at off; returns the count (short only at end of file) or -1 (errno). */
static ssize_t pread_full(int fd, uint8_t *buf, size_t n, off_t off)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, buf + got, n - got, off + (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

typedef struct worker_arg {
    job *j;
    uint8_t *raw; /* owned by scan_regular */
    uint8_t *buf; /* block + maxlen - 1 bytes inside raw, page-aligned */
} worker_arg;

static void *worker(void *arg)
{
    job *j = ((worker_arg *)arg)->j;
    uint8_t *buf = ((worker_arg *)arg)->buf;
    size_t cap = j->block + j->s->maxn - 1;
    while (!atomic_load_explicit(&j->stop, memory_order_relaxed)) {
        size_t c = atomic_fetch_add(&j->next, 1);
        if (c >= j->nblocks)
            break;
        size_t off = c * j->block;
        size_t want = j->size - off < cap ? j->size - off : cap;
        ssize_t got = pread_full(j->fd, buf, want, (off_t)off);
        if (got < 0) {
            int zero = 0, e = errno ? errno : EIO;
            atomic_compare_exchange_strong(&j->err, &zero, e);
            atomic_store(&j->stop, 1);
            break;
        }
        if (got > 0 && j->scan(buf, (size_t)got, j->s)) {
            atomic_store(&j->found, 1);
            atomic_store(&j->stop, 1);
        }
    }
    return NULL;
}

static unsigned thread_count(size_t size, size_t nblocks, unsigned max)
{
    unsigned t = force_threads;
    if (!t) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        t = cpus < 1 ? 1 : cpus > THREADS_MAX ? THREADS_MAX : (unsigned)cpus;
        if (size < THREAD_MIN_FILE)
            t = 1;
        if (max && t > max)
            t = max;
    }
    if (t > nblocks)
        t = (unsigned)nblocks;
    return t ? t : 1;
}

/* Returns 1/0, or -1 with errno set. */
static int scan_regular(int fd, size_t size, const needles *s, scan_fn scan, unsigned max)
{
    job j;
    memset(&j, 0, sizeof j);
    j.fd = fd;
    j.size = size;
    j.block = force_block ? force_block : BLOCK_DEFAULT;
    j.nblocks = size / j.block + (size % j.block != 0);
    j.s = s;
    j.scan = scan;
    atomic_init(&j.next, 0);
    atomic_init(&j.stop, 0);
    atomic_init(&j.found, 0);
    atomic_init(&j.err, 0);
    if (j.nblocks == 0)
        return 0;
#ifdef POSIX_FADV_SEQUENTIAL
    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL); /* a cold file reads ahead further */
#endif
    /* Buffers come from this thread: gw_mem's test counters are not thread-safe. A buffer or
     * a thread that cannot be had just leaves its share to the others; this thread always works. */
    pthread_t tid[THREADS_MAX];
    worker_arg wa[THREADS_MAX];
    unsigned nt = thread_count(size, j.nblocks, max), nbuf = 0, started = 0;
    for (; nbuf < nt; nbuf++) {
        wa[nbuf].j = &j;
        /* Page-aligned like the file offsets it is read from: the kernel's copy runs several
         * times faster when source and destination share their alignment. */
        if (!(wa[nbuf].raw = gw_malloc(j.block + s->maxn - 1 + PAGE)))
            break;
        wa[nbuf].buf = (uint8_t *)(((uintptr_t)wa[nbuf].raw + PAGE - 1) & ~(uintptr_t)(PAGE - 1));
    }
    if (nbuf == 0) {
        errno = ENOMEM;
        return -1;
    }
    for (unsigned t = 1; t < nbuf; t++)
        if (pthread_create(&tid[started], NULL, worker, &wa[t]) == 0)
            started++;
    worker(&wa[0]);
    for (unsigned t = 0; t < started; t++)
        pthread_join(tid[t], NULL);
    for (unsigned t = 0; t < nbuf; t++)
        gw_free(wa[t].raw);
    if (atomic_load(&j.found))
        return 1;
    if (atomic_load(&j.err)) {
        errno = atomic_load(&j.err);
        return -1;
    }
    return 0;
}

/* Pipes, devices: one pass in order, carrying the last maxlen-1 bytes into the next fill. */
static int scan_stream(int fd, const needles *s, scan_fn scan)
{
    size_t block = force_block ? force_block : BLOCK_DEFAULT;
    size_t keep = 0, cap = block + s->maxn - 1;
    int rc = 0;
    uint8_t *buf = gw_malloc(cap);
    if (!buf) {
        errno = ENOMEM;
        return -1;
    }
    for (;;) {
        ssize_t r = read(fd, buf + keep, block);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = -1;
            break;
        }
        if (r == 0)
            break;
        size_t have = keep + (size_t)r;
        if (scan(buf, have, s)) {
            rc = 1;
            break;
        }
        keep = have < s->maxn - 1 ? have : s->maxn - 1;
        memmove(buf, buf + have - keep, keep);
    }
    int e = errno;
    gw_free(buf);
    errno = e;
    return rc;
}

int cap_scan_file(const char *path, const cap_needle *nd, size_t n_needles, char *msg,
                  size_t msg_cap)
{
    return cap_scan_file_threads(path, nd, n_needles, 0, msg, msg_cap);
}

int cap_scan_file_threads(const char *path, const cap_needle *nd, size_t n_needles,
                          unsigned threads, char *msg, size_t msg_cap)
{
    needles s;
    struct stat st;
    int rc, fd;
    if (msg_cap)
        msg[0] = '\0';
    if (load_needles(&s, nd, n_needles)) {
        if (msg_cap)
            snprintf(msg, msg_cap,
                     "%s: bad search strings (empty, longer than %d bytes, or more "
                     "than %d)",
                     path, CAP_SCAN_MAX_NEEDLE, CAP_SCAN_MAX_NEEDLES);
        return -1;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (msg_cap)
            snprintf(msg, msg_cap, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) < 0)
        rc = -1;
    else if (s.k == 0)
        rc = 0;
    else if (S_ISREG(st.st_mode) && st.st_size > 0 && (uintmax_t)st.st_size <= SIZE_MAX)
        /* size 0 may be a /proc file: those are read as a stream */
        rc = scan_regular(fd, (size_t)st.st_size, &s, pick_scan(), threads);
    else
        rc = scan_stream(fd, &s, pick_scan());
    if (rc < 0 && msg_cap)
        snprintf(msg, msg_cap, "%s: %s", path, strerror(errno));
    close(fd);
    return rc;
}
