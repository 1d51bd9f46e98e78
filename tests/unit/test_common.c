#include "gw_test.h"

#include "common/gw_buf.h"
#include "common/gw_cur.h"
#include "common/gw_err.h"
#include "common/gw_mem.h"
#include "common/gw_utf8.h"

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

int main(void)
{
    test_swar();
    test_err();
    test_cur();
    test_buf();
    GW_TEST_END();
}
