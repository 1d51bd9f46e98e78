#include "gw_test.h"

#include "common/gw_buf.h"
#include "common/gw_cur.h"
#include "common/gw_err.h"
#include "common/gw_mem.h"
#include "common/gw_simd.h"
#include "common/gw_utf8.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_err(void)
{
    GW_CHECK(GW_EINCOMPLETE == -1);
    GW_CHECK(GW_ENOMEM < 0 && GW_ENOMEM != GW_EINCOMPLETE);
    GW_CHECK_STR(gw_strerror(GW_ENOMEM), "out of memory");
    GW_CHECK_STR(gw_errname(GW_ECAP), "GW_ECAP");
    GW_CHECK_STR(gw_strerror(0), "success");
    GW_CHECK_STR(gw_strerror(-10000), "unknown error");
}

static void test_cur(void)
{
    const uint8_t b[] = {0x01, 0x02, 0x03, 0x04, 0x96, 0x01};
    gw_cur c = gw_cur_make(b, sizeof b);
    GW_CHECK_INT(gw_cur_be16(&c), 0x0102);
    GW_CHECK_INT(gw_cur_u8(&c), 3);
    GW_CHECK_INT(gw_cur_u8(&c), 4);
    GW_CHECK_INT(gw_cur_varint(&c), 150);
    GW_CHECK(gw_cur_ok(&c));
    GW_CHECK_INT(gw_cur_left(&c), 0);
    GW_CHECK_INT(gw_cur_be32(&c), 0);
    GW_CHECK(!gw_cur_ok(&c));
    /* an unterminated varint fails */
    const uint8_t v[] = {0xff, 0xff};
    c = gw_cur_make(v, sizeof v);
    gw_cur_varint(&c);
    GW_CHECK(!gw_cur_ok(&c));
    /* 10-byte varint with a too-large last byte fails */
    const uint8_t big[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02};
    c = gw_cur_make(big, sizeof big);
    gw_cur_varint(&c);
    GW_CHECK(!gw_cur_ok(&c));
    const uint8_t max[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    c = gw_cur_make(max, sizeof max);
    GW_CHECK(gw_cur_varint(&c) == UINT64_MAX);
    GW_CHECK(gw_cur_ok(&c));
}

static void test_buf(void)
{
    gw_buf b;
    gw_buf_init(&b, 10);
    GW_CHECK_INT(gw_buf_append(&b, "hello", 5), 0);
    GW_CHECK_INT(gw_buf_printf(&b, "%d", 1234), 0);
    GW_CHECK_INT(b.len, 9);
    GW_CHECK_INT(gw_buf_append(&b, "xy", 2), GW_ECAP);
    GW_CHECK_INT(b.len, 9);
    gw_buf_consume(&b, 5);
    GW_CHECK_MEM(b.data, b.len, "1234", 4);
    gw_buf_free(&b);

    gw_mem_fail_after(0);
    gw_buf_init(&b, 0);
    GW_CHECK_INT(gw_buf_append(&b, "x", 1), GW_ENOMEM);
    gw_mem_fail_after(-1);
    GW_CHECK_INT(gw_buf_append(&b, "x", 1), 0);
    gw_buf_free(&b);
}

/* The decimal writers against printf at every digit-count boundary (10^k - 1, 10^k, 10^k + 1),
 * 0, UINT64_MAX, INT64_MIN, and random values of every width; a capped buffer refuses a number
 * that does not fit and stays as it was. */
static int put_u64_ok(uint64_t v)
{
    char want[32];
    snprintf(want, sizeof want, "%llu", (unsigned long long)v);
    size_t wl = strlen(want);
    uint8_t d[24];
    memset(d, 'x', sizeof d);
    size_t k = gw_u64_into(d, v);
    int ok = k == wl && memcmp(d, want, wl) == 0 && d[wl] == 'x' && gw_u64_digits(v) == wl;
    gw_buf b;
    gw_buf_init(&b, 0);
    gw_buf_putc(&b, '<');
    ok &= gw_buf_put_u64(&b, v) == 0 && b.len == wl + 1 && memcmp(b.data + 1, want, wl) == 0;
    gw_buf_free(&b);
    if (!ok)
        fprintf(stderr, "u64 %s: %.*s\n", want, (int)k, (const char *)d);
    return ok;
}

static int put_i64_ok(int64_t v)
{
    char want[32];
    snprintf(want, sizeof want, "%lld", (long long)v);
    gw_buf b;
    gw_buf_init(&b, 0);
    int ok = gw_buf_put_i64(&b, v) == 0 && b.len == strlen(want) && memcmp(b.data, want, b.len) == 0;
    gw_buf_free(&b);
    return ok;
}

static void test_decimal(void)
{
    int bad = 0;
    uint64_t p = 1;
    for (int k = 0; k <= 19; k++, p *= 10) {
        bad += !put_u64_ok(p) + !put_u64_ok(p - 1) + !put_u64_ok(p + 1);
        bad += !put_i64_ok((int64_t)p) + !put_i64_ok(-(int64_t)p) + !put_i64_ok(1 - (int64_t)p);
    }
    bad += !put_u64_ok(0) + !put_u64_ok(UINT64_MAX) + !put_u64_ok(UINT64_MAX - 1);
    bad += !put_u64_ok((uint64_t)1 << 63) + !put_u64_ok(((uint64_t)1 << 32) - 1);
    bad += !put_i64_ok(INT64_MIN) + !put_i64_ok(INT64_MAX) + !put_i64_ok(0) + !put_i64_ok(-1);
    for (int b = 0; b < 64; b++) /* every bit length, both ends */
        bad += !put_u64_ok((uint64_t)1 << b) + !put_u64_ok(((uint64_t)1 << b) - 1);
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < 100000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        bad += !put_u64_ok(x >> (x & 63)) + !put_i64_ok((int64_t)(x >> (x % 61)) * (i & 1 ? -1 : 1));
    }
    GW_CHECK_INT(bad, 0);

    gw_buf c;
    gw_buf_init(&c, 8);
    GW_CHECK_INT(gw_buf_append(&c, "abc", 3), 0);
    GW_CHECK_INT(gw_buf_put_u64(&c, 123456), GW_ECAP); /* 3 + 6 > 8: nothing written */
    GW_CHECK_MEM(c.data, c.len, "abc", 3);
    GW_CHECK_INT(gw_buf_put_u64(&c, 12345), 0); /* exactly to the cap */
    GW_CHECK_MEM(c.data, c.len, "abc12345", 8);
    GW_CHECK_INT(gw_buf_put_u64(&c, 0), GW_ECAP);
    GW_CHECK_INT(gw_buf_put_i64(&c, -1), GW_ECAP);
    GW_CHECK_INT(c.len, 8);
    gw_buf_free(&c);

    /* gw_buf_room: room when it says 0, the cap's error otherwise, len unchanged */
    gw_buf_init(&c, 16);
    GW_CHECK_INT(gw_buf_room(&c, 16), 0);
    GW_CHECK(c.cap >= 16 && c.len == 0);
    GW_CHECK_INT(gw_buf_room(&c, 17), GW_ECAP);
    GW_CHECK_INT(gw_buf_append(&c, "0123456789", 10), 0);
    GW_CHECK_INT(gw_buf_room(&c, 6), 0);
    GW_CHECK_INT(gw_buf_room(&c, 7), GW_ECAP);
    GW_CHECK_INT(c.len, 10);
    gw_buf_free(&c);
    gw_mem_fail_after(0);
    gw_buf_init(&c, 0);
    GW_CHECK_INT(gw_buf_room(&c, 1), GW_ENOMEM);
    GW_CHECK_INT(gw_buf_put_u64(&c, 7), GW_ENOMEM);
    gw_mem_fail_after(-1);
    GW_CHECK_INT(gw_buf_put_u64(&c, 7), 0);
    GW_CHECK_MEM(c.data, c.len, "7", 1);
    gw_buf_free(&c);
}

/* Every byte value at every position of a word of clean text: the screens flag exactly it. */
static void test_swar(void)
{
    int bad = 0;
    for (int b = 0; b < 256; b++) {
        for (int k = 0; k < 8; k++) {
            uint8_t w[8];
            memset(w, 'a', sizeof w);
            w[k] = (uint8_t)b;
            uint64_t x;
            memcpy(&x, w, 8);
            int printable = b >= 0x20 && b <= 0x7e;
            bad += !!gw_swar_not_print(x) == printable;
            bad += !!gw_swar_has(x, '"') != (b == '"');
            bad += !!gw_swar_has(x, '\\') != (b == '\\');
        }
    }
    GW_CHECK_INT(bad, 0);
    /* Never a miss, whatever the neighbours: a bad byte anywhere is flagged. */
    uint64_t seed = 88172645463325252ull;
    for (int i = 0; i < 200000; i++) {
        seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
        uint8_t w[8];
        memcpy(w, &seed, 8);
        int any_bad = 0, any_quote = 0;
        for (int k = 0; k < 8; k++) {
            any_bad |= w[k] < 0x20 || w[k] > 0x7e;
            any_quote |= w[k] == '"';
        }
        if (any_bad && !gw_swar_not_print(seed))
            bad++;
        if (any_quote && !gw_swar_has(seed, '"'))
            bad++;
    }
    GW_CHECK_INT(bad, 0);
    GW_CHECK(gw_utf8_valid((const uint8_t *)"r\xc3\xa9sum\xc3\xa9 \xe2\x9c\x93", 12));
    GW_CHECK(!gw_utf8_valid((const uint8_t *)"\xc0\xaf", 2));          /* overlong */
    GW_CHECK(!gw_utf8_valid((const uint8_t *)"\xed\xa0\x80", 3));     /* surrogate */
    GW_CHECK(!gw_utf8_valid((const uint8_t *)"\xf4\x90\x80\x80", 4)); /* past U+10FFFF */
    GW_CHECK(!gw_utf8_valid((const uint8_t *)"\xe2\x9c", 2));          /* cut short */
}

/* ---- gw_simd screens: every level against a byte-at-a-time reference ---- */

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

static size_t screen_ref(int kind, const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n && !gw_screen_byte(kind, p[i]))
        i++;
    return i;
}

/* The input sits at the very end of its own allocation (ASan sees any read past p + n) and
 * `align` bytes after the start of it. */
static uint8_t *exact(size_t align, const uint8_t *src, size_t n, uint8_t **block)
{
    *block = malloc(align + n + 1);
    memcpy(*block + align, src, n);
    return *block + align;
}

static int screens_agree(const uint8_t *src, size_t n, size_t align)
{
    static const int kinds[] = {GW_SCREEN_JSON, GW_SCREEN_PRINT, GW_SCREEN_ASCII};
    uint8_t *block;
    const uint8_t *p = exact(align, src, n, &block);
    int bad = 0;
    for (int k = 0; k < 3; k++) {
        size_t want = screen_ref(kinds[k], p, n);
        for (int level = GW_SIMD_SWAR; level <= gw_simd_best(); level++)
            if (gw_screen_at(kinds[k], p, n, level) != want) {
                fprintf(stderr, "screen kind %d level %d n %zu align %zu: %zu, want %zu\n",
                        kinds[k], level, n, align, gw_screen_at(kinds[k], p, n, level), want);
                bad++;
            }
    }
    free(block);
    return bad;
}

static void test_screens(void)
{
    uint8_t src[320];
    int bad = 0;
    /* random bytes, and clean text with sparse random bytes: every length, every alignment */
    for (size_t n = 0; n <= 300; n++) {
        for (size_t align = 0; align < 32; align++) {
            for (size_t i = 0; i < n; i++)
                src[i] = (uint8_t)rnd();
            bad += screens_agree(src, n, align);
            for (size_t i = 0; i < n; i++)
                src[i] = rnd() % 97 ? (uint8_t)(0x20 + rnd() % 0x5f) : (uint8_t)rnd();
            bad += screens_agree(src, n, align);
        }
    }
    /* one byte of each class at every position of clean text */
    static const uint8_t special[] = {0x00, 0x09, 0x0a, 0x1f, 0x20, '"', '\\', 0x7e, 0x7f,
                                      0x80, 0xbf, 0xc3, 0xff};
    for (size_t n = 1; n <= 200; n++)
        for (size_t pos = 0; pos < n; pos++)
            for (size_t s = 0; s < sizeof special; s++) {
                memset(src, 'a', n);
                src[pos] = special[s];
                bad += screens_agree(src, n, (n + pos) % 32);
            }
    GW_CHECK_INT(bad, 0);
}

/* gw_utf8_valid (screen plus sequences) against the plain loop over gw_utf8_seq. */
static int utf8_ref(const uint8_t *p, size_t n)
{
    uint32_t cp;
    for (size_t i = 0; i < n;) {
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        size_t len = gw_utf8_seq(p + i, n - i, &cp);
        if (!len)
            return 0;
        i += len;
    }
    return 1;
}

static void test_utf8_valid(void)
{
    static const char *const chars[] = {"a", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
                                        "\n", "\xc3", "\xed\xa0\x80", "\xc0\xaf", "\xff"};
    uint8_t src[340];
    int bad = 0, valid = 0;
    for (size_t n = 0; n <= 300; n++) {
        for (size_t align = 0; align < 32; align++) {
            /* mostly ASCII with characters (good or bad) sprinkled, then cut to n bytes */
            size_t len = 0;
            while (len < n) {
                const char *c = rnd() % 16 ? "x" : chars[rnd() % (sizeof chars / sizeof chars[0])];
                size_t cl = strlen(c);
                memcpy(src + len, c, cl);
                len += cl;
            }
            uint8_t *block;
            const uint8_t *p = exact(align, src, n, &block);
            int want = utf8_ref(p, n);
            valid += want;
            bad += gw_utf8_valid(p, n) != want;
            free(block);
        }
    }
    GW_CHECK_INT(bad, 0);
    GW_CHECK(valid > 1000 && valid < 301 * 32 - 1000); /* both answers were exercised */
}

/* Large blocks come back with their size; small and huge ones are not kept; the slots and the
 * byte bound hold; a failing allocator fails gets too. */
static void test_big(void)
{
    size_t cap = 0;
    GW_CHECK(gw_big_get(GW_BIG_MIN, &cap) == NULL); /* nothing kept yet */
    uint8_t *a = gw_malloc(1u << 20);
    GW_CHECK(a != NULL);
    memset(a, 7, 1u << 20);
    gw_big_put(a);
    GW_CHECK(gw_big_get(2u << 20, &cap) == NULL); /* too small for this, still kept */
    uint8_t *b = gw_big_get(1u << 20, &cap);
    GW_CHECK(b == a);
    GW_CHECK(cap >= 1u << 20);
    GW_CHECK(b[(1u << 20) - 1] == 7); /* the same pages */
    gw_big_put(b);
    gw_mem_fail_after(0);
    GW_CHECK(gw_big_get(GW_BIG_MIN, &cap) == NULL);
    gw_mem_fail_after(-1);
    GW_CHECK(gw_big_get(GW_BIG_MIN, &cap) == b);
    gw_free(b);

    /* gw_big_alloc: a kept block when one fits, else a fresh one of the size asked. */
    uint8_t *k = gw_malloc(1u << 20);
    gw_big_put(k);
    GW_CHECK(gw_big_alloc(1u << 19, &cap) == k && cap >= 1u << 20);
    uint8_t *f = gw_big_alloc(100, &cap);
    GW_CHECK(f != NULL && f != k && cap == 100);
    gw_free(f);
    gw_free(k);

    gw_big_put(gw_malloc(100));               /* small: freed */
    gw_big_put(gw_malloc(GW_BIG_MAX + (1u << 20))); /* huge: freed */
    gw_big_put(NULL);
    GW_CHECK(gw_big_get(1, &cap) == NULL);

    /* Five 3 MiB blocks: the byte bound keeps two of them. */
    for (int i = 0; i < 5; i++)
        gw_big_put(gw_malloc(3u << 20));
    int kept = 0;
    void *p;
    while ((p = gw_big_get(GW_BIG_MIN, &cap)) != NULL) {
        kept++;
        gw_free(p);
    }
    GW_CHECK_INT(kept, GW_BIG_HELD / (3u << 20));
}

int main(void)
{
    test_big();
    test_swar();
    test_screens();
    test_utf8_valid();
    test_err();
    test_cur();
    test_buf();
    test_decimal();
    GW_TEST_END();
}
