/* view_fmt: the hand-written formatters agree with libc's (gmtime_r + printf) everywhere, and
 * gw_buf's integer writers with printf's %llu/%lld. */
#include <inttypes.h>
#include <stdlib.h>
#include <time.h>

#include "gw_test.h"
#include "view/view.h"

static void libc_rfc3339(char *out, size_t cap, int64_t ts_ns)
{
    int64_t sec = ts_ns / 1000000000, ns = ts_ns % 1000000000;
    if (ns < 0) {
        ns += 1000000000;
        sec--;
    }
    time_t t = (time_t)sec;
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (long)(ns / 1000));
}

static int same_rfc3339(int64_t ts)
{
    char want[64];
    gw_buf b;
    gw_buf_init(&b, 0);
    libc_rfc3339(want, sizeof want, ts);
    view_fmt_rfc3339(&b, ts);
    int ok = b.len == strlen(want) && memcmp(b.data, want, b.len) == 0;
    if (!ok)
        fprintf(stderr, "ts %" PRId64 ": %.*s, libc %s\n", ts, (int)b.len, (const char *)b.data,
                want);
    gw_buf_free(&b);
    return ok;
}

static void test_rfc3339(void)
{
    static const int64_t fixed[] = {
        0, 1, -1, 999, 1000, 999999999, 1000000000, -1000000000, -1000000001,
        1700000000009228000,        /* the generator's epoch */
        951782400000000000,         /* 2000-02-29 */
        951868799999999999,         /* 2000-02-29T23:59:59.999999 */
        4107542400000000000,        /* 2100-03-01: not a leap year before it */
        253402300799999999 * 1,     /* 1978 (ns) */
        -62135596800000000 * 1,     /* 1968 */
        INT64_MAX, INT64_MIN + 1,   /* the ends of int64 nanoseconds: 2262 and 1677 */
    };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        GW_CHECK(same_rfc3339(fixed[i]));
    /* Every day boundary of 1969..2100 and random instants up to year 2262 (int64 ns). */
    int bad = 0;
    for (int64_t d = -366; d < 47500 && !bad; d++) {
        int64_t s = d * 86400;
        bad |= !same_rfc3339(s * 1000000000) || !same_rfc3339(s * 1000000000 - 1);
    }
    srand(7);
    for (int i = 0; i < 200000 && !bad; i++) {
        int64_t ts = ((int64_t)rand() << 32 | (int64_t)(unsigned)rand()) % INT64_MAX;
        bad |= !same_rfc3339(i & 1 ? -ts : ts);
    }
    GW_CHECK(!bad);
}

static void test_integers(void)
{
    static const uint64_t u[] = {0, 1, 9, 10, 99, 100, 4294967295u, 4294967296u,
                                 18446744073709551615u};
    static const int64_t s[] = {0, -1, 1, -10, INT64_MAX, INT64_MIN, -9223372036854775807};
    char want[32];
    gw_buf b;
    gw_buf_init(&b, 0);
    for (size_t i = 0; i < sizeof u / sizeof u[0]; i++) {
        gw_buf_reset(&b);
        gw_buf_put_u64(&b, u[i]);
        snprintf(want, sizeof want, "%" PRIu64, u[i]);
        GW_CHECK(b.len == strlen(want) && memcmp(b.data, want, b.len) == 0);
    }
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
        gw_buf_reset(&b);
        gw_buf_put_i64(&b, s[i]);
        snprintf(want, sizeof want, "%" PRId64, s[i]);
        GW_CHECK(b.len == strlen(want) && memcmp(b.data, want, b.len) == 0);
    }
    gw_buf_free(&b);
}

int main(void)
{
    test_rfc3339();
    test_integers();
    GW_TEST_END();
}
