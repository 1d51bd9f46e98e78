/* cap_scan: "does this file contain any of these byte strings", fast, over the raw file bytes
 * (record headers included, so a match may be a false positive for packet payloads; never a
 * false negative). Regular files are read in large blocks by up to 4 threads that stop as soon
 * as one finds a match; anything else (pipes, devices) is read once, in order, by one thread. */
#ifndef CAP_SCAN_H
#define CAP_SCAN_H
#include <stddef.h>
#include <stdint.h>

#define CAP_SCAN_MAX_NEEDLE 64 /* bytes in one needle */
#define CAP_SCAN_MAX_NEEDLES 8 /* needles in one call */

typedef struct cap_needle {
    const uint8_t *p; /* borrowed for the call */
    size_t n;         /* 1..CAP_SCAN_MAX_NEEDLE */
} cap_needle;

/* 1 when some needle occurs in the file's bytes, 0 when none does (also for no needles), -1 with
 * one sentence naming the file and the problem in msg when the file cannot be read, memory runs
 * out, or a needle is empty or too long, or there are too many needles. */
int cap_scan_file(const char *path, const cap_needle *needles, size_t n_needles, char *msg,
                  size_t msg_cap);
/* The same with at most `threads` reading threads (0: as above), for a scan that runs beside
 * other work. */
int cap_scan_file_threads(const char *path, const cap_needle *needles, size_t n_needles,
                          unsigned threads, char *msg, size_t msg_cap);

/* Same question over a buffer (no I/O): 1 or 0; -1 for bad needles as above. */
int cap_scan_mem(const uint8_t *p, size_t n, const cap_needle *needles, size_t n_needles);

/* Test hooks, process-wide, not for use while a scan runs. force_portable: 0 the best search the
 * CPU has, 1 the portable one (memmem), 2 no AVX2 (SSE2 on x86-64). force_threads: a thread
 * count, 0 automatic (1 below 8 MiB, else the online CPUs up to 4). force_block: bytes per
 * read, 0 the default; small values exercise block boundaries. */
void cap_scan_force_portable(int on);
void cap_scan_force_threads(unsigned n);
void cap_scan_force_block(size_t n);

#endif
