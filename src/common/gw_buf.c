#include "gw_buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "gw_err.h"
#include "gw_mem.h"

void gw_buf_init(gw_buf *b, size_t limit)
{
    b->data = NULL;
    b->len = b->cap = 0;
    b->limit = limit ? limit : SIZE_MAX;
}

void gw_buf_free(gw_buf *b)
{
    gw_free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

int gw_buf_reserve(gw_buf *b, size_t extra)
{
    size_t limit = gw_buf_limit(b);
    if (extra > limit - b->len)
        return GW_ECAP;
    size_t need = b->len + extra;
    if (need <= b->cap)
        return 0;
    size_t ncap = b->cap ? b->cap : 64;
    while (ncap < need)
        ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
    if (ncap > limit)
        ncap = need > limit ? need : limit;
    uint8_t *d = gw_realloc(b->data, ncap);
    if (!d)
        return GW_ENOMEM;
    b->data = d;
    b->cap = ncap;
    return 0;
}

int gw_buf_append_grow(gw_buf *b, const void *p, size_t n)
{
    int rc = gw_buf_reserve(b, n);
    if (rc)
        return rc;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

const char gw_buf_digits2[200] = "0001020304050607080910111213141516171819"
                                 "2021222324252627282930313233343536373839"
                                 "4041424344454647484950515253545556575859"
                                 "6061626364656667686970717273747576777879"
                                 "8081828384858687888990919293949596979899";

int gw_buf_put_u64(gw_buf *b, uint64_t v)
{
    /* Length first, then the digits in place: no temporary, no copy. */
    unsigned n = gw_u64_digits(v);
    if (n > b->cap - b->len || n > gw_buf_limit(b) - b->len) {
        int rc = gw_buf_reserve(b, n);
        if (rc)
            return rc;
    }
    gw_u64_digits_back(b->data + b->len + n, v);
    b->len += n;
    return 0;
}

int gw_buf_put_i64(gw_buf *b, int64_t v)
{
    if (v >= 0)
        return gw_buf_put_u64(b, (uint64_t)v);
    int rc = gw_buf_putc(b, '-');
    return rc ? rc : gw_buf_put_u64(b, 0 - (uint64_t)v);
}

int gw_buf_printf(gw_buf *b, const char *fmt, ...)
{
    va_list ap;
    char small[256];
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return GW_EINVAL;
    if ((size_t)n < sizeof small)
        return gw_buf_append(b, small, (size_t)n);
    int rc = gw_buf_reserve(b, (size_t)n + 1);
    if (rc)
        return rc;
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void gw_buf_consume(gw_buf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}
