#include "view/view.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <time.h>

#include "common/gw_err.h"

void view_opts_default(view_opts *o)
{
    memset(o, 0, sizeof *o);
    o->out = stdout;
    o->conn = -1;
    o->stream = -1;
    pb_opts_default(&o->pb);
}

static void split_ts(int64_t ts_ns, struct tm *tm, long *frac_ns)
{
    int64_t sec = ts_ns / 1000000000;
    int64_t ns = ts_ns % 1000000000;
    if (ns < 0) {
        ns += 1000000000;
        sec--;
    }
    time_t t = (time_t)sec;
    gmtime_r(&t, tm);
    *frac_ns = (long)ns;
}

/* Two digits, then the separator. */
static char *two(char *o, unsigned v, char sep)
{
    o[0] = (char)('0' + v / 10 % 10);
    o[1] = (char)('0' + v % 10);
    o[2] = sep;
    return o + 3;
}

/* Proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's civil_from_days):
 * no gmtime_r, so any thread may format times. */
static void civil(int64_t days, int64_t *y, unsigned *m, unsigned *d)
{
    days += 719468;
    int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    unsigned doe = (unsigned)(days - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

/* The six digits of the microseconds in ns (0..999999999), two at a time. */
static void micros(char *o, int64_t ns)
{
    unsigned us = (unsigned)ns / 1000, hi = us / 10000, lo = us % 100;
    memcpy(o, gw_buf_digits2 + 2 * hi, 2);
    memcpy(o + 2, gw_buf_digits2 + 2 * (us / 100 - hi * 100), 2);
    memcpy(o + 4, gw_buf_digits2 + 2 * lo, 2);
}

/* The common form of ts_ns, "YYYY-MM-DDTHH:MM:SS.ffffffZ", into t (27 bytes); 1 (nothing
 * written) for years outside 0..9999. */
static int rfc3339_into(char *t, int64_t ts_ns)
{
    int64_t sec = ts_ns / 1000000000, ns = ts_ns % 1000000000;
    if (ns < 0) {
        ns += 1000000000;
        sec--;
    }
    /* Records come in time order: most times share their second with the one before. Per
     * thread (the writer thread formats message times too). */
    static _Thread_local int64_t last_sec = INT64_MIN;
    static _Thread_local char last[20]; /* "YYYY-MM-DDTHH:MM:SS." */
    if (sec != last_sec) {
        int64_t days = sec / 86400, sod = sec % 86400;
        if (sod < 0) {
            sod += 86400;
            days--;
        }
        int64_t y;
        unsigned mo, d;
        civil(days, &y, &mo, &d);
        if (y < 0 || y > 9999)
            return 1;
        char *o = last;
        o = two(o, (unsigned)(y / 100), '\0') - 1;
        o = two(o, (unsigned)(y % 100), '-');
        o = two(o, mo, '-');
        o = two(o, d, 'T');
        o = two(o, (unsigned)(sod / 3600), ':');
        o = two(o, (unsigned)(sod / 60 % 60), ':');
        two(o, (unsigned)(sod % 60), '.');
        last_sec = sec;
    }
    memcpy(t, last, 20);
    micros(t + 20, ns);
    t[26] = 'Z';
    return 0;
}

/* The last two texts view_fmt_rfc3339 wrote, by exact time. Per thread, as above. */
static _Thread_local struct {
    int64_t ts;
    int set;
    char t[32]; /* 27 used; copied whole */
} seen[2];
static _Thread_local unsigned seen_next;

/* view_fmt_rfc3339 for a time not in seen: formats it and keeps it there. */
static __attribute__((noinline)) void rfc3339_new(gw_buf *b, int64_t ts_ns)
{
    char t[32] = {0};
    if (rfc3339_into(t, ts_ns)) { /* outside what four digits say: the slow, general form */
        struct tm tm;
        long frac;
        split_ts(ts_ns, &tm, &frac);
        gw_buf_printf(b, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
                      tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac / 1000);
        return;
    }
    unsigned k = seen_next;
    seen_next = k ^ 1;
    seen[k].ts = ts_ns;
    seen[k].set = 1;
    memcpy(seen[k].t, t, 32);
    gw_buf_append(b, t, 27);
}

void view_fmt_rfc3339(gw_buf *b, int64_t ts_ns)
{
    /* A call's start is its first message's time and its end its last's, so the same instants
     * come back within a JSON record (callgrind, small unary calls: 270k times, 78k formatted;
     * ~65 -> ~20 instructions each on average). */
    unsigned i = seen[1].set && seen[1].ts == ts_ns;
    if (i || (seen[0].set && seen[0].ts == ts_ns)) {
        if (gw_buf_room(b, 32) == 0) { /* a fixed-size copy, in place */
            memcpy(b->data + b->len, seen[i].t, 32);
            b->len += 27;
        } else {
            gw_buf_append(b, seen[i].t, 27);
        }
        return;
    }
    rfc3339_new(b, ts_ns);
}

void view_fmt_clock(gw_buf *b, int64_t ts_ns)
{
    /* The time of day alone: floor division gives what gmtime_r would, without calling it. */
    int64_t sec = ts_ns / 1000000000, ns = ts_ns % 1000000000;
    if (ns < 0) {
        ns += 1000000000;
        sec--;
    }
    int64_t sod = sec % 86400;
    if (sod < 0)
        sod += 86400;
    char t[15], *o = t;
    o = two(o, (unsigned)(sod / 3600), ':');
    o = two(o, (unsigned)(sod / 60 % 60), ':');
    o = two(o, (unsigned)(sod % 60), '.');
    micros(o, ns);
    gw_buf_append(b, t, sizeof t);
}

/* Where the double d = n / div lies against the decimal tie (2 * q + 1) * scale / (2 * div),
 * exactly: 1 above, -1 below, 0 on it. d is positive and below 2^53, so d = m * 2^e with e < 0
 * and both sides are integers under 2^120. Returns 2 when it cannot tell (no 128-bit type). */
static int vs_tie(double d, uint64_t q, uint64_t scale, uint64_t div)
{
#ifdef __SIZEOF_INT128__
    uint64_t bits;
    memcpy(&bits, &d, sizeof bits);
    int ex = (int)(bits >> 52 & 0x7ff);
    if (ex == 0 || ex >= 1075 || ex < 1075 - 60)
        return 2;
    unsigned __int128 m = (bits & ((UINT64_C(1) << 52) - 1)) | UINT64_C(1) << 52;
    unsigned __int128 l = m * div * 2;
    unsigned __int128 r = ((unsigned __int128)(2 * q + 1) * scale) << (1075 - ex);
    return l > r ? 1 : l < r ? -1 : 0;
#else
    (void)d, (void)q, (void)scale, (void)div;
    return 2;
#endif
}

/* n / (scale * 10^dec) with dec decimals then unit, exactly as printf's %.<dec>f writes the
 * double d = n / (scale * 10^dec) (the caller's own expression). Away from the halfway point
 * between two outputs, d (within n * 2^-52 of the exact quotient) rounds as the exact quotient
 * does, which integers tell; near it, vs_tie compares d itself with the tie, and an exact tie
 * goes to the even last digit as glibc's printf does in the default rounding mode. Returns 1,
 * writing nothing, when it cannot tell: the caller asks printf. */
static int put_fixed(gw_buf *b, uint64_t n, double d, uint64_t scale, unsigned dec,
                     const char *unit, size_t ulen)
{
    uint64_t div = scale;
    for (unsigned k = 0; k < dec; k++)
        div *= 10;
    uint64_t q = n / scale, rem = n % scale, half = scale / 2, margin = (n >> 50) + 1;
    if (rem + margin >= half && rem <= half + margin) {
        int t = vs_tie(d, q, scale, div);
        if (t == 2)
            return 1;
        q += t > 0 || (t == 0 && (q & 1));
    } else {
        q += rem > half;
    }
    char o[40];
    size_t i = sizeof o - ulen;
    memcpy(o + i, unit, ulen);
    for (unsigned k = 0; k < dec; k++, q /= 10)
        o[--i] = (char)('0' + q % 10);
    o[--i] = '.';
    do {
        o[--i] = (char)('0' + q % 10);
        q /= 10;
    } while (q);
    gw_buf_append(b, o + i, sizeof o - i);
    return 0;
}

void view_fmt_duration(gw_buf *b, int64_t ns)
{
    if (ns < 0) {
        gw_buf_append(b, "?", 1);
    } else if (ns < 1000000) {
        gw_buf_put_u64(b, (uint64_t)ns / 1000);
        gw_buf_append(b, "us", 2);
    } else if (ns < 1000000000) {
        double d = (double)ns / 1e6;
        if (put_fixed(b, (uint64_t)ns, d, 10000, 2, "ms", 2))
            gw_buf_printf(b, "%.2fms", d);
    } else {
        double d = (double)ns / 1e9;
        if (put_fixed(b, (uint64_t)ns, d, 1000000, 3, "s", 1))
            gw_buf_printf(b, "%.3fs", d);
    }
}

/* The call log writes the same endpoints over and over (two per line): a small table of the
 * strings already made, by value, direct mapped on the port and the address's last bytes. Per
 * thread because JSON jobs may format on a second one. */
typedef struct ep_memo {
    tcp_endpoint e;
    char s[64]; /* >= what tcp_endpoint_str needs to write in place */
    size_t n;   /* 0: empty */
} ep_memo;
#define EP_MEMOS 64
static _Thread_local ep_memo ep_memos[EP_MEMOS];

static int same_ep(const tcp_endpoint *a, const tcp_endpoint *b)
{
    return a->ipver == b->ipver && a->port == b->port && memcmp(a->addr, b->addr, 16) == 0;
}

void view_fmt_endpoint(gw_buf *b, const tcp_endpoint *e)
{
    if (!e) {
        char tmp[8];
        tcp_endpoint_str(e, tmp, sizeof tmp);
        gw_buf_append(b, tmp, strlen(tmp));
        return;
    }
    uint32_t head, tail; /* IPv4 is in the first 4 bytes, IPv6 differs mostly in the last */
    memcpy(&head, e->addr, 4);
    memcpy(&tail, e->addr + 12, 4);
    uint32_t h = (head ^ tail ^ e->port * 0x9e3779b1u) * 0x9e3779b1u;
    ep_memo *m = &ep_memos[h >> 26]; /* 64 slots */
    if (!m->n || !same_ep(&m->e, e)) {
        m->e = *e;
        tcp_endpoint_str(e, m->s, sizeof m->s);
        m->n = strlen(m->s);
    }
    if (gw_buf_room(b, sizeof m->s) == 0) { /* the whole slot: a fixed-size copy */
        memcpy(b->data + b->len, m->s, sizeof m->s);
        b->len += m->n;
        return;
    }
    gw_buf_append(b, m->s, m->n);
}

void view_fmt_bytes(gw_buf *b, uint64_t n)
{
    if (n < 1000) {
        gw_buf_put_u64(b, n);
        gw_buf_append(b, "B", 1);
    } else if (n < 1000000) {
        double d = (double)n / 1e3;
        if (put_fixed(b, n, d, 100, 1, "kB", 2))
            gw_buf_printf(b, "%.1fkB", d);
    } else if (n < 1000000000) {
        double d = (double)n / 1e6;
        if (put_fixed(b, n, d, 100000, 1, "MB", 2))
            gw_buf_printf(b, "%.1fMB", d);
    } else {
        double d = (double)n / 1e9;
        if (put_fixed(b, n, d, 100000000, 1, "GB", 2))
            gw_buf_printf(b, "%.1fGB", d);
    }
}

void view_fmt_text(gw_buf *b, const char *s, size_t n, size_t max)
{
    static const char hex[] = "0123456789abcdef";
    /* 1: shown escaped (controls, backslash, DEL) */
    static const uint8_t esc[256] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
                                     1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
                                     ['\\'] = 1, [0x7f] = 1};
    size_t lim = n < max ? n : max, i = 0;
    while (i < lim) {
        size_t j = i; /* a run of bytes that stand for themselves: one append */
        while (j < lim && !esc[(unsigned char)s[j]])
            j++;
        if (j > i)
            gw_buf_append(b, s + i, j - i);
        if (j == lim)
            break;
        unsigned char c = (unsigned char)s[j];
        if (c == '\\') {
            gw_buf_append(b, "\\\\", 2);
        } else {
            char e[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]};
            gw_buf_append(b, e, 4);
        }
        i = j + 1;
    }
    if (lim < n)
        gw_buf_append(b, "...", 3);
}

static const view_colors no_colors = {"", "", "", "", "", "", "", "", ""};
static const view_colors ansi_colors = {"\033[0m",  "\033[2m",  "\033[1m",  "\033[31m", "\033[32m",
                                        "\033[33m", "\033[34m", "\033[35m", "\033[36m"};

const view_colors *view_colors_get(int on)
{
    return on ? &ansi_colors : &no_colors;
}

int view_flush_buf(gw_buf *b, FILE *f)
{
    int rc = 0;
    if (b->len && fwrite(b->data, 1, b->len, f) != b->len)
        rc = GW_EIO;
    gw_buf_reset(b);
    return rc;
}
