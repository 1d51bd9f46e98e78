/* cap_scan: every search (AVX2, SSE2, portable) against a naive reference on buffers with needles
 * planted at every offset; files read in blocks by 1-4 threads with needles across block and
 * thread boundaries; pipes, /proc, empty, short, missing and unreadable files; allocation failure.
 */
#include "capture/cap_scan.h"
#include "gw_mem.h"
#include "gw_test.h"
#include "h2/hpack.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static uint64_t rng = 0x9e3779b97f4a7c15u;
static uint8_t rnd8(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint8_t)(rng >> 24);
}

/* Random bytes over a small alphabet so first/last byte candidates are frequent. */
static void fill(uint8_t *p, size_t n, unsigned alpha)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(alpha ? 'a' + rnd8() % alpha : rnd8());
}

static int naive(const uint8_t *p, size_t n, const cap_needle *nd, size_t k)
{
    for (size_t j = 0; j < k; j++)
        for (size_t i = 0; nd[j].n <= n && i <= n - nd[j].n; i++)
            if (memcmp(p + i, nd[j].p, nd[j].n) == 0)
                return 1;
    return 0;
}

/* On an exact-size heap copy, so that ASan sees any read past the end. */
static int scan_exact(const uint8_t *p, size_t n, const cap_needle *nd, size_t k)
{
    uint8_t *c = malloc(n ? n : 1);
    if (!c)
        return -2;
    if (n)
        memcpy(c, p, n);
    int r = cap_scan_mem(c, n, nd, k);
    free(c);
    return r;
}

static const char *mode_name[] = {"best", "portable", "sse2"};

/* ---- buffers --------------------------------------------------------------------------- */

static void test_mem_planted(void)
{
    static const size_t lens[] = {1, 2, 3, 13, 19, 31, 32, 33, 63, 64};
    static uint8_t nbytes[8][64];
    uint8_t buf[300];
    for (int mode = 0; mode < 3; mode++) {
        cap_scan_force_portable(mode);
        for (size_t nk = 1; nk <= 8; nk++) {
            cap_needle nd[8];
            for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
                for (size_t j = 0; j < nk; j++) {
                    nd[j].n = lens[(li + j) % (sizeof lens / sizeof lens[0])];
                    fill(nbytes[j], nd[j].n, 0);
                    nd[j].p = nbytes[j];
                }
                for (size_t len = 0; len <= 200; len += (len < 80 ? 1 : 7)) {
                    int bad = 0;
                    fill(buf, len, 0);
                    if (scan_exact(buf, len, nd, nk) != naive(buf, len, nd, nk))
                        bad++;
                    /* The last needle at every offset: the one found last in the SIMD loop. */
                    size_t w = nk - 1, n = nd[w].n;
                    for (size_t at = 0; n <= len && at <= len - n; at++) {
                        fill(buf, len, 0);
                        memcpy(buf + at, nd[w].p, n);
                        if (scan_exact(buf, len, nd, nk) != 1)
                            bad++;
                        /* Right ends, wrong middle: a candidate the confirmation must reject. */
                        if (n >= 3) {
                            buf[at + n / 2] ^= 0x80;
                            if (scan_exact(buf, len, nd, nk) != naive(buf, len, nd, nk))
                                bad++;
                        }
                    }
                    if (bad)
                        fprintf(stderr, "mode %s: %zu needles, len %zu: %d wrong\n",
                                mode_name[mode], nk, len, bad);
                    GW_CHECK_INT(bad, 0);
                }
            }
        }
    }
    cap_scan_force_portable(0);
}

/* Small alphabet: many candidates and real matches; compared against the reference. */
static void test_mem_dense(void)
{
    uint8_t buf[4096], n1[4], n2[19], n3[2];
    cap_needle nd[3] = {{n1, sizeof n1}, {n2, sizeof n2}, {n3, sizeof n3}};
    for (int mode = 0; mode < 3; mode++) {
        cap_scan_force_portable(mode);
        int bad = 0, hits = 0;
        for (int round = 0; round < 3000; round++) {
            size_t len = rnd8() * 16u + rnd8() % 16u;
            unsigned alpha = 2 + rnd8() % 5;
            fill(buf, len, alpha);
            fill(n1, sizeof n1, alpha);
            fill(n2, sizeof n2, alpha);
            fill(n3, sizeof n3, alpha + 20);
            for (size_t k = 1; k <= 3; k++) {
                int want = naive(buf, len, nd, k);
                hits += want;
                if (scan_exact(buf, len, nd, k) != want)
                    bad++;
            }
        }
        GW_CHECK_INT(bad, 0);
        GW_CHECK(hits > 100); /* the table really exercised both answers */
    }
    cap_scan_force_portable(0);
}

static void test_mem_bad_needles(void)
{
    uint8_t big[CAP_SCAN_MAX_NEEDLE + 1] = {0}, buf[8] = {0};
    cap_needle empty = {big, 0}, toolong = {big, sizeof big}, null = {NULL, 3};
    cap_needle many[CAP_SCAN_MAX_NEEDLES + 1];
    for (size_t i = 0; i < CAP_SCAN_MAX_NEEDLES + 1; i++)
        many[i] = (cap_needle){big, 2};
    GW_CHECK_INT(cap_scan_mem(buf, sizeof buf, &empty, 1), -1);
    GW_CHECK_INT(cap_scan_mem(buf, sizeof buf, &toolong, 1), -1);
    GW_CHECK_INT(cap_scan_mem(buf, sizeof buf, &null, 1), -1);
    GW_CHECK_INT(cap_scan_mem(buf, sizeof buf, many, CAP_SCAN_MAX_NEEDLES + 1), -1);
    GW_CHECK_INT(cap_scan_mem(buf, sizeof buf, many, CAP_SCAN_MAX_NEEDLES), 1);
    GW_CHECK_INT(cap_scan_mem(buf, sizeof buf, many, 0), 0);
    GW_CHECK_INT(cap_scan_mem(NULL, 0, many, 1), 0);
}

/* ---- files ----------------------------------------------------------------------------- */

static char tmp_path[64];

static int write_tmp(const uint8_t *p, size_t n)
{
    strcpy(tmp_path, "/tmp/test_cap_scan.XXXXXX");
    int fd = mkstemp(tmp_path);
    if (fd < 0)
        return -1;
    size_t off = 0;
    while (off < n) {
        ssize_t w = write(fd, p + off, n - off);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    close(fd);
    return off == n ? 0 : -1;
}

static uint8_t path_needle[] = "/grpc.reflection.v1";
static uint8_t huff_needle[32];
static cap_needle real[2];

static void setup_real(void)
{
    size_t hl = hpack_huff_encode(path_needle, sizeof path_needle - 1, huff_needle);
    real[0] = (cap_needle){path_needle, sizeof path_needle - 1};
    real[1] = (cap_needle){huff_needle, hl - 1}; /* as cli_read: the last byte is shared */
}

static int scan_path(const char *path)
{
    char msg[256];
    return cap_scan_file(path, real, 2, msg, sizeof msg);
}

/* Block sizes from tiny to the default, 1-4 threads, a needle at every offset near each block
 * boundary and at the ends of the file. */
static void test_file_boundaries(void)
{
    static const size_t blocks[] = {1, 7, 64, 100, 4096};
    enum { FILE_LEN = 5000 };
    static uint8_t data[FILE_LEN];
    for (int mode = 0; mode < 3; mode++) {
        cap_scan_force_portable(mode);
        for (size_t bi = 0; bi < sizeof blocks / sizeof blocks[0]; bi++) {
            size_t b = blocks[bi];
            cap_scan_force_block(b);
            for (unsigned threads = 1; threads <= 4; threads++) {
                cap_scan_force_threads(threads);
                int bad = 0;
                for (size_t w = 0; w < 2; w++) {
                    size_t n = real[w].n;
                    /* Starts d bytes before a block edge: d = 0 begins a block, 1..n-1
                     * straddle two blocks, n ends just before the edge. */
                    const size_t ds[] = {0, 1, 2, n / 2, n - 2, n - 1, n};
                    size_t ats[64], na = 0;
                    ats[na++] = 0;
                    ats[na++] = FILE_LEN - n;
                    ats[na++] = FILE_LEN - n - 1;
                    for (size_t edge = b * 3; edge < FILE_LEN && na + 7 <= 64; edge += b * 11)
                        for (size_t di = 0; di < sizeof ds / sizeof ds[0]; di++)
                            if (edge >= ds[di] && edge - ds[di] + n <= FILE_LEN)
                                ats[na++] = edge - ds[di];
                    for (size_t a = 0; a < na; a++) {
                        fill(data, FILE_LEN, 0);
                        memcpy(data + ats[a], real[w].p, n);
                        if (write_tmp(data, FILE_LEN) || scan_path(tmp_path) != 1)
                            bad++;
                        unlink(tmp_path);
                    }
                }
                fill(data, FILE_LEN, 0);
                if (write_tmp(data, FILE_LEN) || scan_path(tmp_path) != 0)
                    bad++;
                unlink(tmp_path);
                if (bad)
                    fprintf(stderr, "mode %s block %zu threads %u: %d wrong\n", mode_name[mode], b,
                            threads, bad);
                GW_CHECK_INT(bad, 0);
            }
        }
    }
    cap_scan_force_portable(0);
    cap_scan_force_block(0);
    cap_scan_force_threads(0);
}

static void plant(int fd, off_t at, const cap_needle *nd, uint8_t *saved)
{
    GW_CHECK_INT(pread(fd, saved, nd->n, at), (long long)nd->n);
    GW_CHECK_INT(pwrite(fd, nd->p, nd->n, at), (long long)nd->n);
}

static void unplant(int fd, off_t at, const cap_needle *nd, const uint8_t *saved)
{
    GW_CHECK_INT(pwrite(fd, saved, nd->n, at), (long long)nd->n);
}

/* 20 MB of random bytes with the automatic settings: several threads and the default blocks. */
static void test_file_large(void)
{
    enum { BIG = 20 << 20 };
    uint8_t *data = malloc(BIG), saved[64];
    GW_CHECK(data != NULL);
    if (!data)
        return;
    fill(data, BIG, 0);
    GW_CHECK_INT(naive(data, BIG, real, 2), 0);
    GW_CHECK_INT(write_tmp(data, BIG), 0);
    free(data);
    int fd = open(tmp_path, O_RDWR);
    GW_CHECK(fd >= 0);
    for (int mode = 0; mode < 3; mode++) {
        cap_scan_force_portable(mode);
        GW_CHECK_INT(scan_path(tmp_path), 0);
        const off_t ats[] = {
            0,        BIG / 2 - 7, BIG / 2, (off_t)(512 << 10) * 13 - 5, (off_t)(1 << 20) * 3 - 1,
            BIG - 19, BIG - 13};
        for (size_t w = 0; w < 2; w++)
            for (size_t a = 0; a < sizeof ats / sizeof ats[0]; a++) {
                off_t at = ats[a] + (off_t)real[w].n > BIG ? BIG - (off_t)real[w].n : ats[a];
                plant(fd, at, &real[w], saved);
                GW_CHECK_INT(scan_path(tmp_path), 1);
                unplant(fd, at, &real[w], saved);
            }
        /* Both needles, far apart. */
        uint8_t saved2[64];
        plant(fd, 100, &real[0], saved);
        plant(fd, BIG - 100, &real[1], saved2);
        GW_CHECK_INT(scan_path(tmp_path), 1);
        unplant(fd, BIG - 100, &real[1], saved2);
        unplant(fd, 100, &real[0], saved);
        GW_CHECK_INT(scan_path(tmp_path), 0);
    }
    cap_scan_force_portable(0);
    close(fd);
    unlink(tmp_path);
}

static void test_file_small_and_errors(void)
{
    char msg[256];
    uint8_t shorter[10];
    memcpy(shorter, path_needle, sizeof shorter);
    GW_CHECK_INT(write_tmp(NULL, 0), 0);
    GW_CHECK_INT(scan_path(tmp_path), 0);
    unlink(tmp_path);
    GW_CHECK_INT(write_tmp(shorter, sizeof shorter), 0); /* a prefix of the needle */
    GW_CHECK_INT(scan_path(tmp_path), 0);
    unlink(tmp_path);
    GW_CHECK_INT(write_tmp(path_needle, real[0].n), 0); /* exactly the needle */
    GW_CHECK_INT(scan_path(tmp_path), 1);
    unlink(tmp_path);

    GW_CHECK_INT(cap_scan_file("/nonexistent/grpcwire-scan.pcap", real, 2, msg, sizeof msg), -1);
    GW_CHECK_STR(msg, "/nonexistent/grpcwire-scan.pcap: No such file or directory");
    GW_CHECK_INT(cap_scan_file("/tmp", real, 2, msg, sizeof msg), -1);
    GW_CHECK_STR(msg, "/tmp: Is a directory");
    GW_CHECK_INT(cap_scan_file("/nonexistent", real, 2, NULL, 0), -1); /* no message room */
    cap_needle empty = {path_needle, 0};
    GW_CHECK_INT(cap_scan_file("/tmp", &empty, 1, msg, sizeof msg), -1);
    GW_CHECK(strstr(msg, "bad search strings") != NULL);
    GW_CHECK_INT(cap_scan_file("/nonexistent", real, 0, msg, sizeof msg), -1);
    GW_CHECK_INT(cap_scan_file("/tmp", real, 0, msg, sizeof msg), 0); /* nothing to look for */

    /* /proc files report size 0 and are read as streams. */
    cap_needle name = {(const uint8_t *)"Name:", 5};
    GW_CHECK_INT(cap_scan_file("/proc/self/status", &name, 1, msg, sizeof msg), 1);
}

typedef struct pipe_feed {
    int fd;
    const uint8_t *p;
    size_t n;
} pipe_feed;

/* Small writes so the needle straddles reads; the data stays under the pipe's buffer size. */
static void *feed(void *arg)
{
    pipe_feed *f = arg;
    for (size_t off = 0; off < f->n;) {
        size_t step = 1 + rnd8() % 29;
        ssize_t w = write(f->fd, f->p + off, step < f->n - off ? step : f->n - off);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    close(f->fd);
    return NULL;
}

static void test_pipe(void)
{
    uint8_t data[3000];
    char path[64];
    int bad = 0;
    for (int mode = 0; mode < 3; mode++) {
        cap_scan_force_portable(mode);
        for (size_t b = 1; b <= 40; b += 3) {
            cap_scan_force_block(b);
            for (int with = 0; with < 3; with++) {
                int fds[2];
                pthread_t t;
                if (pipe(fds)) {
                    bad++;
                    continue;
                }
                fill(data, sizeof data, 0);
                if (with)
                    memcpy(data + 1000 + b * 37, real[with - 1].p, real[with - 1].n);
                pipe_feed f = {fds[1], data, sizeof data};
                pthread_create(&t, NULL, feed, &f);
                snprintf(path, sizeof path, "/dev/fd/%d", fds[0]);
                if (scan_path(path) != (with != 0))
                    bad++;
                pthread_join(t, NULL);
                close(fds[0]);
            }
        }
    }
    GW_CHECK_INT(bad, 0);
    cap_scan_force_block(0);
    cap_scan_force_portable(0);
}

static void test_alloc_failure(void)
{
    static uint8_t data[64 << 10];
    char msg[256];
    fill(data, sizeof data, 0);
    memcpy(data + sizeof data - 20, path_needle, real[0].n);
    GW_CHECK_INT(write_tmp(data, sizeof data), 0);
    cap_scan_force_block(1000);
    cap_scan_force_threads(2);
    gw_mem_fail_after(0);
    GW_CHECK_INT(cap_scan_file(tmp_path, real, 2, msg, sizeof msg), -1);
    GW_CHECK(strstr(msg, "Cannot allocate memory") != NULL);
    gw_mem_fail_after(1); /* one buffer: one thread does it all */
    GW_CHECK_INT(cap_scan_file(tmp_path, real, 2, msg, sizeof msg), 1);
    gw_mem_fail_after(-1);
    cap_scan_force_threads(0);
    cap_scan_force_block(0);
    unlink(tmp_path);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    setup_real();
    test_mem_planted();
    test_mem_dense();
    test_mem_bad_needles();
    test_file_boundaries();
    test_file_large();
    test_file_small_and_errors();
    test_pipe();
    test_alloc_failure();
    GW_TEST_END();
}
