/* view_fmt: the hand-written formatters agree with libc's (gmtime_r + printf) everywhere, and
 * gw_buf's integer writers with printf's %llu/%lld. The call log's clock, durations, sizes, text
 * and endpoints are checked against the printf/inet_ntop code they replaced, kept here. */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdlib.h>
#include <sys/socket.h>
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
    /* Runs of times in one second (the remembered prefix), across second, day and year
     * boundaries and before 1970, and back to an earlier second. */
    static const int64_t starts[] = {1700000000009228000, 946684799000000000, -1500000000,
                                     1700000000009228000};
    for (size_t k = 0; k < sizeof starts / sizeof starts[0]; k++)
        for (int64_t i = 0; i < 5000; i++)
            bad |= !same_rfc3339(starts[k] + i * 1234567);
    GW_CHECK(!bad);
    /* The remembered second written in place needs a little more room than the 27 bytes: a
     * buffer capped at exactly 27 takes them by the exact append; at 26 nothing is written. */
    for (int i = 0; i < 2000 && !bad; i++) {
        int64_t ts = 1700000000009228000 + (int64_t)i * 999 * (i % 3 ? 1 : 1000000);
        char want[64];
        libc_rfc3339(want, sizeof want, ts);
        gw_buf c;
        gw_buf_init(&c, 27);
        view_fmt_rfc3339(&c, ts);
        bad |= c.len != 27 || memcmp(c.data, want, 27) != 0;
        gw_buf_free(&c);
        gw_buf_init(&c, 26);
        view_fmt_rfc3339(&c, ts);
        bad |= c.len != 0;
        gw_buf_free(&c);
    }
    GW_CHECK(!bad);
}

/* The times written last are kept by exact value (a call's start and end come back as its
 * messages' times): drawn again and again from a small pool, in any order, with neighbours
 * that share the second, the microsecond or all but the sign, each is still libc's. */
static void test_rfc3339_repeats(void)
{
    static const int64_t pool[] = {
        1700000000003081000, 1700000000003090000, 1700000000003081001, /* same microsecond */
        1700000000003081999, 1700000000999999999, 1700000001000000000, /* second boundary */
        -1700000000003081000, 0, -1, 946684799999999000,
    };
    size_t np = sizeof pool / sizeof pool[0];
    int bad = 0;
    srand(11);
    for (int i = 0; i < 20000 && !bad; i++)
        bad |= !same_rfc3339(pool[(size_t)rand() % (i % 7 ? 3 : np)]);
    for (size_t a = 0; a < np; a++) /* each pair, alternating */
        for (size_t b = 0; b < np; b++)
            for (int k = 0; k < 4; k++)
                bad |= !same_rfc3339(pool[k & 1 ? b : a]);
    GW_CHECK(!bad);
    /* A kept time into a buffer with room for exactly 27 bytes, or 26 (nothing written). */
    gw_buf c;
    char want[64];
    libc_rfc3339(want, sizeof want, pool[0]);
    GW_CHECK(same_rfc3339(pool[0]));
    gw_buf_init(&c, 27);
    view_fmt_rfc3339(&c, pool[0]);
    GW_CHECK(c.len == 27 && memcmp(c.data, want, 27) == 0);
    gw_buf_free(&c);
    gw_buf_init(&c, 26);
    view_fmt_rfc3339(&c, pool[0]);
    GW_CHECK_INT((int)c.len, 0);
    gw_buf_free(&c);
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

/* ---- the call log's formatters against the printf code they replaced ------------------------ */

static uint64_t rng = 88172645463325252u; /* xorshift64, fixed seed */
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static int same_buf(gw_buf *b, const char *want, const char *what, uint64_t v)
{
    int ok = b->len == strlen(want) && memcmp(b->data, want, b->len) == 0;
    if (!ok)
        fprintf(stderr, "%s %" PRIu64 ": \"%.*s\", printf \"%s\"\n", what, v, (int)b->len,
                (const char *)b->data, want);
    gw_buf_reset(b);
    return ok;
}

static void old_clock(char *out, size_t cap, int64_t ts_ns)
{
    int64_t sec = ts_ns / 1000000000, ns = ts_ns % 1000000000;
    if (ns < 0) {
        ns += 1000000000;
        sec--;
    }
    time_t t = (time_t)sec;
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, cap, "%02d:%02d:%02d.%06ld", tm.tm_hour, tm.tm_min, tm.tm_sec, (long)(ns / 1000));
}

static void old_duration(char *out, size_t cap, int64_t ns)
{
    if (ns < 0)
        snprintf(out, cap, "?");
    else if (ns < 1000000)
        snprintf(out, cap, "%" PRId64 "us", ns / 1000);
    else if (ns < 1000000000)
        snprintf(out, cap, "%.2fms", (double)ns / 1e6);
    else
        snprintf(out, cap, "%.3fs", (double)ns / 1e9);
}

static void old_bytes(char *out, size_t cap, uint64_t n)
{
    if (n < 1000)
        snprintf(out, cap, "%" PRIu64 "B", n);
    else if (n < 1000000)
        snprintf(out, cap, "%.1fkB", (double)n / 1e3);
    else if (n < 1000000000)
        snprintf(out, cap, "%.1fMB", (double)n / 1e6);
    else
        snprintf(out, cap, "%.1fGB", (double)n / 1e9);
}

static int dur_ok(gw_buf *b, int64_t ns)
{
    char want[64];
    old_duration(want, sizeof want, ns);
    view_fmt_duration(b, ns);
    return same_buf(b, want, "duration", (uint64_t)ns);
}

static int bytes_ok(gw_buf *b, uint64_t n)
{
    char want[64];
    old_bytes(want, sizeof want, n);
    view_fmt_bytes(b, n);
    return same_buf(b, want, "bytes", n);
}

static void test_clock(void)
{
    gw_buf b;
    gw_buf_init(&b, 0);
    char want[64];
    int bad = 0;
    static const int64_t fixed[] = {0, 1, -1, 999, 1000, -1000, 86399999999999, 86400000000000,
                                    -86400000000000, -86400000000001, INT64_MAX, INT64_MIN,
                                    INT64_MIN + 1, 1700000000009228000};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        old_clock(want, sizeof want, fixed[i]);
        view_fmt_clock(&b, fixed[i]);
        GW_CHECK(same_buf(&b, want, "clock", (uint64_t)fixed[i]));
    }
    for (int i = 0; i < 300000 && !bad; i++) {
        int64_t ts = (int64_t)rnd();
        if (i & 1)
            ts %= (int64_t)1000000000 * 86400 * 3; /* near the epoch, both signs */
        old_clock(want, sizeof want, ts);
        view_fmt_clock(&b, ts);
        bad |= !same_buf(&b, want, "clock", (uint64_t)ts);
    }
    GW_CHECK(!bad);
    gw_buf_free(&b);
}

static void test_duration(void)
{
    gw_buf b;
    gw_buf_init(&b, 0);
    int bad = 0;
    /* every value below 3 ms (the us form, then ties at .xx5 ms every 10 us) */
    for (int64_t ns = -3; ns < 3000000 && !bad; ns++)
        bad |= !dur_ok(&b, ns);
    GW_CHECK(!bad);
    /* around every tie and digit carry of the ms and s forms at random scales */
    for (int i = 0; i < 200000 && !bad; i++) {
        int64_t base = (int64_t)(rnd() % 1000000000);
        base -= base % 10000;
        for (int64_t d = -2; d <= 2; d++)
            bad |= !dur_ok(&b, base + 5000 + d) || !dur_ok(&b, base + d);
        int64_t s = (int64_t)(rnd() >> (rnd() % 64)) & INT64_MAX;
        s -= s % 1000000;
        for (int64_t d = -2; d <= 2; d++)
            bad |= !dur_ok(&b, s + 500000 + d) || !dur_ok(&b, s + d);
        bad |= !dur_ok(&b, (int64_t)(rnd() & INT64_MAX) >> (rnd() % 63));
    }
    GW_CHECK(!bad);
    /* exact binary ties (1.125 ms: round half even), the edges of each form, int64's end */
    static const int64_t fixed[] = {1125000, 1375000, 1625000, 1875000, 999995000, 999994999,
                                    999995001, 999999999, 1000000000, 1000500000, 1001500000,
                                    9007199254740992, 9007199254740993, INT64_MAX, INT64_MAX - 1,
                                    (int64_t)1 << 62, 4611686018427887903, INT64_MIN, -1};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        GW_CHECK(dur_ok(&b, fixed[i]));
    gw_buf_free(&b);
}

static void test_bytes(void)
{
    gw_buf b;
    gw_buf_init(&b, 0);
    int bad = 0;
    for (uint64_t n = 0; n < 2000000 && !bad; n++)
        bad |= !bytes_ok(&b, n);
    GW_CHECK(!bad);
    for (int i = 0; i < 200000 && !bad; i++) {
        uint64_t m = rnd() % 1000000000;
        m -= m % 100000;
        for (uint64_t d = 0; d <= 4; d++)
            bad |= !bytes_ok(&b, m + 50000 + d - 2) || !bytes_ok(&b, m + d);
        uint64_t g = rnd() >> (rnd() % 64);
        g -= g % 100000000;
        for (uint64_t d = 0; d <= 4; d++)
            bad |= !bytes_ok(&b, g + 50000000 + d - 2) || !bytes_ok(&b, g + d);
        bad |= !bytes_ok(&b, rnd() >> (rnd() % 64));
    }
    GW_CHECK(!bad);
    static const uint64_t fixed[] = {999, 1000, 999949, 999950, 999951, 999999, 1000000,
                                     999950000, 999949999, 1000000000, 1050000000, 1150000000,
                                     9007199254740993u, 18446744073709551615u,
                                     18446744073709551615u - 50000000};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        GW_CHECK(bytes_ok(&b, fixed[i]));
    gw_buf_free(&b);
}

static void old_text(gw_buf *b, const char *s, size_t n, size_t max)
{
    size_t i;
    for (i = 0; i < n && i < max; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != 0x7f && c != '\\')
            gw_buf_putc(b, c);
        else if (c == '\\')
            gw_buf_append(b, "\\\\", 2);
        else
            gw_buf_printf(b, "\\x%02x", c);
    }
    if (i < n)
        gw_buf_append(b, "...", 3);
}

static void test_text(void)
{
    gw_buf a, b;
    gw_buf_init(&a, 0);
    gw_buf_init(&b, 0);
    int bad = 0;
    char s[300];
    for (int i = 0; i < 256; i++)
        s[i] = (char)i;
    for (size_t max = 0; max < 260; max += 7) {
        old_text(&a, s, 256, max);
        view_fmt_text(&b, s, 256, max);
        bad |= a.len != b.len || memcmp(a.data, b.data, a.len) != 0;
        gw_buf_reset(&a);
        gw_buf_reset(&b);
    }
    for (int i = 0; i < 100000 && !bad; i++) {
        size_t n = rnd() % sizeof s, max = rnd() % 320;
        for (size_t k = 0; k < n; k++) /* mostly printable, like method names */
            s[k] = (char)(rnd() % 8 ? 0x20 + rnd() % 0x60 : rnd() % 256);
        old_text(&a, s, n, max);
        view_fmt_text(&b, s, n, max);
        bad |= a.len != b.len || (a.len && memcmp(a.data, b.data, a.len) != 0);
        gw_buf_reset(&a);
        gw_buf_reset(&b);
    }
    GW_CHECK(!bad);
    gw_buf_free(&a);
    gw_buf_free(&b);
}

/* tcp_endpoint_str as it was (inet_ntop and snprintf). */
static const char *old_endpoint_str(const tcp_endpoint *e, char *buf, size_t n)
{
    char a[INET6_ADDRSTRLEN];
    if (!buf || !n)
        return "";
    if (!e || (e->ipver != 4 && e->ipver != 6) ||
        !inet_ntop(e->ipver == 4 ? AF_INET : AF_INET6, e->addr, a, sizeof a)) {
        snprintf(buf, n, "?");
        return buf;
    }
    if (e->ipver == 6)
        snprintf(buf, n, "[%s]:%u", a, (unsigned)e->port);
    else
        snprintf(buf, n, "%s:%u", a, (unsigned)e->port);
    return buf;
}

static int endpoint_ok(const tcp_endpoint *e, gw_buf *b)
{
    char want[80], got[80];
    int ok = 1;
    old_endpoint_str(e, want, sizeof want);
    /* every buffer size: truncation as snprintf's */
    for (size_t n = 1; n <= sizeof got && ok; n++) {
        char w[80];
        memset(got, 'Z', sizeof got);
        const char *r = tcp_endpoint_str(e, got, n);
        old_endpoint_str(e, w, n);
        ok = r == got && strcmp(got, w) == 0;
    }
    GW_CHECK_STR(tcp_endpoint_str(e, got, 0), "");
    view_fmt_endpoint(b, e);
    ok = ok && same_buf(b, want, "endpoint", e ? e->port : 0);
    if (!ok)
        fprintf(stderr, "endpoint: want %s\n", want);
    return ok;
}

static void test_endpoint(void)
{
    gw_buf b;
    gw_buf_init(&b, 0);
    static const struct {
        int ver;
        const char *addr;
        uint16_t port;
    } fixed[] = {
        {4, "0.0.0.0", 0},        {4, "127.0.0.1", 50051},   {4, "255.255.255.255", 65535},
        {4, "10.0.100.9", 9},     {4, "1.22.133.4", 10000},  {6, "::", 0},
        {6, "::1", 443},          {6, "::ffff:1.2.3.4", 80}, {6, "::1.2.3.4", 80},
        {6, "::ffff:0:1.2.3.4", 80}, {6, "2001:db8::1", 50051}, {6, "fe80::1:2:3:4", 1},
        {6, "1:0:0:2:0:0:0:3", 7}, {6, "1:0:0:2:0:0:3:4", 7}, {6, "1::", 65535},
        {6, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535}, {6, "0:1:0:1:0:1:0:1", 5},
        {6, "::ffff:255.255.255.255", 65535}, {6, "64:ff9b::1.2.3.4", 3},
    };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        tcp_endpoint e;
        memset(&e, 0, sizeof e);
        e.ipver = fixed[i].ver;
        e.port = fixed[i].port;
        GW_CHECK(inet_pton(e.ipver == 4 ? AF_INET : AF_INET6, fixed[i].addr, e.addr) == 1);
        GW_CHECK(endpoint_ok(&e, &b));
    }
    tcp_endpoint e;
    memset(&e, 0, sizeof e);
    GW_CHECK(endpoint_ok(&e, &b)); /* ipver 0 */
    e.ipver = 5;
    GW_CHECK(endpoint_ok(&e, &b));
    GW_CHECK(endpoint_ok(NULL, &b));
    /* random addresses, IPv6 ones with zero runs (the :: choice) and embedded IPv4 forms; a few
     * endpoints repeat so view_fmt_endpoint's memo is hit, missed and replaced */
    int bad = 0;
    tcp_endpoint pool[5];
    memset(pool, 0, sizeof pool);
    for (int i = 0; i < 20000 && !bad; i++) {
        tcp_endpoint *x = &pool[rnd() % 5];
        if (rnd() % 3 == 0) {
            bad |= !endpoint_ok(x, &b);
            continue;
        }
        memset(x, 0, sizeof *x);
        x->ipver = rnd() % 2 ? 4 : 6;
        x->port = (uint16_t)(rnd() % 4 ? rnd() : rnd() % 100);
        for (int k = 0; k < 16; k++)
            x->addr[k] = (uint8_t)(rnd() % 3 ? 0 : rnd() % 4 ? rnd() : 0xff);
        if (x->ipver == 4 && rnd() % 2)
            for (int k = 0; k < 4; k++)
                x->addr[k] = (uint8_t)(rnd() % 2 ? rnd() % 10 : rnd() % 120);
        if (x->ipver == 6 && rnd() % 4 == 0) { /* ::ffff:a.b.c.d or ::a.b.c.d */
            memset(x->addr, 0, 10);
            x->addr[10] = x->addr[11] = rnd() % 2 ? 0xff : 0;
        }
        bad |= !endpoint_ok(x, &b);
    }
    GW_CHECK(!bad);
    gw_buf_free(&b);

    /* The memo is a table of 64 slots: 300 endpoints that share addresses or ports (so slots
     * collide and are replaced), written in rounds, each one right every time; and into buffers
     * capped at exactly the string's length (the whole-slot copy needs more room: it falls back
     * to the exact append) and one byte less (nothing written). */
    static tcp_endpoint many[300];
    char want[80];
    for (int i = 0; i < 300; i++) {
        memset(&many[i], 0, sizeof many[i]);
        many[i].ipver = i % 3 ? 4 : 6;
        many[i].port = (uint16_t)(i % 2 ? 50051 : 40000 + i);
        many[i].addr[0] = 10;
        many[i].addr[3] = (uint8_t)(i % 7);
        many[i].addr[15] = (uint8_t)(i / 7);
    }
    for (int round = 0; round < 4 && !bad; round++)
        for (int i = 0; i < 300 && !bad; i++) {
            int k = round % 2 ? 299 - i : (i * 37) % 300;
            old_endpoint_str(&many[k], want, sizeof want);
            gw_buf capped;
            gw_buf_init(&capped, strlen(want));
            view_fmt_endpoint(&capped, &many[k]);
            bad |= !same_buf(&capped, want, "endpoint (capped)", many[k].port);
            gw_buf_free(&capped);
            gw_buf_init(&capped, strlen(want) - 1);
            view_fmt_endpoint(&capped, &many[k]);
            bad |= capped.len != 0;
            gw_buf_free(&capped);
        }
    GW_CHECK(!bad);
}

int main(void)
{
    test_rfc3339();
    test_rfc3339_repeats();
    test_integers();
    test_clock();
    test_duration();
    test_bytes();
    test_text();
    test_endpoint();
    GW_TEST_END();
}
