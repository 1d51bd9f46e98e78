/* gw_test: a tiny assertion kit for table-driven unit tests. Each test binary calls its cases,
 * then GW_TEST_END() prints "N passed, N failed" and sets the exit status. */
#ifndef GW_TEST_H
#define GW_TEST_H
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int gw_t_pass, gw_t_fail;

#define GW_CHECK(cond)                                                                        \
    do {                                                                                      \
        if (cond) {                                                                           \
            gw_t_pass++;                                                                      \
        } else {                                                                              \
            gw_t_fail++;                                                                      \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);           \
        }                                                                                     \
    } while (0)

#define GW_CHECK_INT(a, b)                                                                    \
    do {                                                                                      \
        long long gw_a_ = (long long)(a), gw_b_ = (long long)(b);                             \
        if (gw_a_ == gw_b_) {                                                                 \
            gw_t_pass++;                                                                      \
        } else {                                                                              \
            gw_t_fail++;                                                                      \
            fprintf(stderr, "%s:%d: %s == %lld, expected %s == %lld\n", __FILE__, __LINE__,   \
                    #a, gw_a_, #b, gw_b_);                                                    \
        }                                                                                     \
    } while (0)

#define GW_CHECK_STR(a, b)                                                                    \
    do {                                                                                      \
        const char *gw_a_ = (a), *gw_b_ = (b);                                                \
        if (gw_a_ && gw_b_ && strcmp(gw_a_, gw_b_) == 0) {                                    \
            gw_t_pass++;                                                                      \
        } else {                                                                              \
            gw_t_fail++;                                                                      \
            fprintf(stderr, "%s:%d: %s is \"%s\", expected \"%s\"\n", __FILE__, __LINE__, #a, \
                    gw_a_ ? gw_a_ : "(null)", gw_b_ ? gw_b_ : "(null)");                      \
        }                                                                                     \
    } while (0)

#define GW_CHECK_MEM(a, alen, b, blen)                                                        \
    do {                                                                                      \
        size_t gw_al_ = (alen), gw_bl_ = (blen);                                              \
        if (gw_al_ == gw_bl_ && memcmp((a), (b), gw_al_) == 0) {                              \
            gw_t_pass++;                                                                      \
        } else {                                                                              \
            gw_t_fail++;                                                                      \
            fprintf(stderr, "%s:%d: %s (%zu bytes) differs from %s (%zu bytes)\n", __FILE__,  \
                    __LINE__, #a, gw_al_, #b, gw_bl_);                                        \
        }                                                                                     \
    } while (0)

#define GW_TEST_END()                                                                         \
    do {                                                                                      \
        printf("%d passed, %d failed\n", gw_t_pass, gw_t_fail);                               \
        return gw_t_fail ? 1 : 0;                                                             \
    } while (0)

/* Parse a hex string (spaces allowed) into out; returns the byte count. */
static inline size_t gw_test_unhex(const char *hex, unsigned char *out, size_t cap)
{
    size_t n = 0;
    int hi = -1;
    for (; *hex; hex++) {
        int v;
        char c = *hex;
        if (c >= '0' && c <= '9') v = c - '0';
        else if (c >= 'a' && c <= 'f') v = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') v = c - 'A' + 10;
        else continue;
        if (hi < 0) {
            hi = v;
        } else {
            if (n < cap) out[n] = (unsigned char)(hi << 4 | v);
            n++;
            hi = -1;
        }
    }
    return n;
}

#endif
