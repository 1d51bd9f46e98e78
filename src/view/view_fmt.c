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

void view_fmt_rfc3339(gw_buf *b, int64_t ts_ns)
{
    int64_t sec = ts_ns / 1000000000, ns = ts_ns % 1000000000;
    if (ns < 0) {
        ns += 1000000000;
        sec--;
    }
    int64_t days = sec / 86400, sod = sec % 86400;
    if (sod < 0) {
        sod += 86400;
        days--;
    }
    int64_t y;
    unsigned mo, d;
    civil(days, &y, &mo, &d);
    if (y < 0 || y > 9999) { /* outside what four digits say: the slow, general form */
        struct tm tm;
        long frac;
        split_ts(ts_ns, &tm, &frac);
        gw_buf_printf(b, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
                      tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac / 1000);
        return;
    }
    char t[27], *o = t;
    o = two(o, (unsigned)(y / 100), '\0') - 1;
    o = two(o, (unsigned)(y % 100), '-');
    o = two(o, mo, '-');
    o = two(o, d, 'T');
    o = two(o, (unsigned)(sod / 3600), ':');
    o = two(o, (unsigned)(sod / 60 % 60), ':');
    o = two(o, (unsigned)(sod % 60), '.');
    unsigned us = (unsigned)(ns / 1000);
    for (int i = 5; i >= 0; i--, us /= 10)
        o[i] = (char)('0' + us % 10);
    o[6] = 'Z';
    gw_buf_append(b, t, (size_t)(o + 7 - t));
}

void view_fmt_clock(gw_buf *b, int64_t ts_ns)
{
    struct tm tm;
    long ns;
    split_ts(ts_ns, &tm, &ns);
    gw_buf_printf(b, "%02d:%02d:%02d.%06ld", tm.tm_hour, tm.tm_min, tm.tm_sec, ns / 1000);
}

void view_fmt_duration(gw_buf *b, int64_t ns)
{
    if (ns < 0) {
        gw_buf_append(b, "?", 1);
    } else if (ns < 1000000) {
        gw_buf_printf(b, "%" PRId64 "us", ns / 1000);
    } else if (ns < 1000000000) {
        gw_buf_printf(b, "%.2fms", (double)ns / 1e6);
    } else {
        gw_buf_printf(b, "%.3fs", (double)ns / 1e9);
    }
}

void view_fmt_endpoint(gw_buf *b, const tcp_endpoint *e)
{
    char tmp[64];
    tcp_endpoint_str(e, tmp, sizeof tmp);
    gw_buf_append(b, tmp, strlen(tmp));
}

void view_fmt_bytes(gw_buf *b, uint64_t n)
{
    if (n < 1000)
        gw_buf_printf(b, "%" PRIu64 "B", n);
    else if (n < 1000000)
        gw_buf_printf(b, "%.1fkB", (double)n / 1e3);
    else if (n < 1000000000)
        gw_buf_printf(b, "%.1fMB", (double)n / 1e6);
    else
        gw_buf_printf(b, "%.1fGB", (double)n / 1e9);
}

void view_fmt_text(gw_buf *b, const char *s, size_t n, size_t max)
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
