/* fuzz_scan: the SIMD searches of cap_scan against its portable one (libc's memmem). Input: a byte with
 * the needle count (1-8) in its low bits, then per needle a length byte (1-64) and its bytes,
 * then the haystack; each search runs on an exact-size heap copy so reads past it are caught. */
#include <stdlib.h>
#include <string.h>
#include "capture/cap_scan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cap_needle nd[CAP_SCAN_MAX_NEEDLES];
    size_t off = 1, k;
    if (size < 1)
        return 0;
    k = (size_t)(data[0] & 7) + 1;
    for (size_t j = 0; j < k; j++) {
        if (off >= size)
            return 0;
        size_t n = (size_t)(data[off++] % CAP_SCAN_MAX_NEEDLE) + 1;
        if (n > size - off)
            return 0;
        nd[j] = (cap_needle){data + off, n};
        off += n;
    }
    size_t hn = size - off;
    uint8_t *hay = malloc(hn ? hn : 1);
    if (!hay)
        return 0;
    memcpy(hay, data + off, hn);
    cap_scan_force_portable(1);
    int want = cap_scan_mem(hay, hn, nd, k);
    for (int mode = 0; mode < 3; mode += 2) {
        cap_scan_force_portable(mode);
        if (cap_scan_mem(hay, hn, nd, k) != want)
            abort();
    }
    cap_scan_force_portable(0);
    free(hay);
    return 0;
}
