/* gw_buf: a growable byte buffer with a hard cap. Appends past the cap fail with GW_ECAP and
 * leave the buffer unchanged, so a hostile stream can never grow memory beyond what was allowed. */
#ifndef GW_BUF_H
#define GW_BUF_H
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct gw_buf {
    uint8_t *data; /* owned by the buffer; NULL until the first append */
    size_t len;
    size_t cap;    /* allocated bytes */
    size_t limit;  /* hard cap on len; 0 means none, so a zeroed gw_buf is a valid empty one */
} gw_buf;

/* The cap in force: limit, or SIZE_MAX when it is 0. */
static inline size_t gw_buf_limit(const gw_buf *b) { return b->limit ? b->limit : SIZE_MAX; }

void gw_buf_init(gw_buf *b, size_t limit);
void gw_buf_free(gw_buf *b);
/* Returns 0, GW_ECAP (limit) or GW_ENOMEM. */
int gw_buf_reserve(gw_buf *b, size_t extra);
static inline int gw_buf_append(gw_buf *b, const void *p, size_t n);
static inline int gw_buf_putc(gw_buf *b, int c);
/* The out-of-line part of the two above: growing the buffer. */
int gw_buf_append_grow(gw_buf *b, const void *p, size_t n);
int gw_buf_printf(gw_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Decimal integers without printf: the JSON writers' hot path. */
int gw_buf_put_u64(gw_buf *b, uint64_t v);
int gw_buf_put_i64(gw_buf *b, int64_t v);
/* gw_buf_reserve with the common case (room already there) inline: then b->data + b->len has
 * room for n bytes. Returns 0, GW_ECAP or GW_ENOMEM. */
static inline int gw_buf_room(gw_buf *b, size_t n);
/* The two decimal digits of 0..99, "00" to "99". */
extern const char gw_buf_digits2[200];
/* Digits of v written to d (room for 20 bytes); returns how many. For writers that reserved an
 * upper bound and then write without checks. */
static inline size_t gw_u64_into(uint8_t *d, uint64_t v);
/* Drop the first n bytes (n <= len). */
void gw_buf_consume(gw_buf *b, size_t n);
static inline void gw_buf_reset(gw_buf *b) { b->len = 0; }

/* Appends are the formatters' hot path: the common case, room already allocated, inline. */
static inline int gw_buf_append(gw_buf *b, const void *p, size_t n)
{
    if (n <= b->cap - b->len && n <= gw_buf_limit(b) - b->len) {
        if (n)
            memcpy(b->data + b->len, p, n);
        b->len += n;
        return 0;
    }
    return gw_buf_append_grow(b, p, n);
}

static inline int gw_buf_putc(gw_buf *b, int c)
{
    if (b->len < b->cap && b->len < gw_buf_limit(b)) {
        b->data[b->len++] = (uint8_t)c;
        return 0;
    }
    uint8_t ch = (uint8_t)c;
    return gw_buf_append_grow(b, &ch, 1);
}

static inline int gw_buf_room(gw_buf *b, size_t n)
{
    if (n <= b->cap - b->len && n <= gw_buf_limit(b) - b->len)
        return 0;
    return gw_buf_reserve(b, n);
}

/* The number of decimal digits of v (1..20). */
static inline unsigned gw_u64_digits(uint64_t v)
{
    static const uint64_t pow10[20] = {1ull, 10ull, 100ull, 1000ull, 10000ull, 100000ull,
        1000000ull, 10000000ull, 100000000ull, 1000000000ull, 10000000000ull, 100000000000ull,
        1000000000000ull, 10000000000000ull, 100000000000000ull, 1000000000000000ull,
        10000000000000000ull, 100000000000000000ull, 1000000000000000000ull,
        10000000000000000000ull};
    if (v < 10)
        return 1;
    /* bits * log10(2) (1233 / 4096) is the digit count or one less. */
    unsigned t = (unsigned)(64 - __builtin_clzll(v | 1)) * 1233 >> 12;
    return t + (v >= pow10[t]);
}

/* The digits of v ending at e (exclusive), two per step. */
static inline void gw_u64_digits_back(uint8_t *e, uint64_t v)
{
    while (v >= 100) {
        uint64_t q = v / 100;
        e -= 2;
        memcpy(e, gw_buf_digits2 + 2 * (v - q * 100), 2);
        v = q;
    }
    if (v >= 10)
        memcpy(e - 2, gw_buf_digits2 + 2 * v, 2);
    else
        e[-1] = (uint8_t)('0' + v);
}

static inline size_t gw_u64_into(uint8_t *d, uint64_t v)
{
    unsigned n = gw_u64_digits(v);
    gw_u64_digits_back(d + n, v);
    return n;
}

/* n <= 64 bytes from s to d with a few overlapping moves instead of a call to memcpy, which
 * costs more than the copy at these lengths (header names and values, memo keys). Reads and
 * writes only [0, n). */
static inline void gw_copy_small(void *dst, const void *src, size_t n)
{
    uint8_t *d = dst;
    const uint8_t *s = src;
    if (n >= 16) {
        uint8_t a[16], b[16];
        if (n > 32) {
            memcpy(a, s + 16, 16);
            memcpy(b, s + n - 32, 16);
            memcpy(d + 16, a, 16);
            memcpy(d + n - 32, b, 16);
        }
        memcpy(a, s, 16);
        memcpy(b, s + n - 16, 16);
        memcpy(d, a, 16);
        memcpy(d + n - 16, b, 16);
    } else if (n >= 8) {
        uint64_t a, b;
        memcpy(&a, s, 8);
        memcpy(&b, s + n - 8, 8);
        memcpy(d, &a, 8);
        memcpy(d + n - 8, &b, 8);
    } else if (n >= 4) {
        uint32_t a, b;
        memcpy(&a, s, 4);
        memcpy(&b, s + n - 4, 4);
        memcpy(d, &a, 4);
        memcpy(d + n - 4, &b, 4);
    } else {
        for (size_t i = 0; i < n; i++)
            d[i] = s[i];
    }
}

#endif
