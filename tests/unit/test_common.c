#include "gw_test.h"

#include "common/gw_buf.h"
#include "common/gw_cur.h"
#include "common/gw_err.h"
#include "common/gw_mem.h"

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

int main(void)
{
    test_err();
    test_cur();
    test_buf();
    GW_TEST_END();
}
