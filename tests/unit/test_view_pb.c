/* Unit tests for view_pb: the four schemaless renderers, base64 and JSON strings. protoc
 * --decode_raw is the oracle for the text view (skipped with a message when protoc is absent);
 * JSON output is checked by a strict validator here and, when python3 exists, by json.loads.
 * The JSON renderer against its earlier form, on random messages: test_view_pb_json.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/gw_buf.h"
#include "common/gw_err.h"
#include "common/gw_mem.h"
#include "common/gw_utf8.h"
#include "gw_test.h"
#include "pb/pb_wire.h"
#include "view/view_pb.h"

/* ---- a strict JSON validator (RFC 8259), enough to prove our output parses ---- */

typedef struct jp {
    const unsigned char *p, *end;
    int depth;
} jp;

static void jws(jp *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static int jstring(jp *j)
{
    if (j->p >= j->end || *j->p != '"')
        return 0;
    j->p++;
    while (j->p < j->end) {
        unsigned char c = *j->p;
        if (c == '"') {
            j->p++;
            return 1;
        }
        if (c < 0x20)
            return 0;
        if (c == '\\') {
            if (++j->p >= j->end)
                return 0;
            c = *j->p++;
            if (c == 'u') {
                for (int i = 0; i < 4; i++, j->p++)
                    if (j->p >= j->end || !strchr("0123456789abcdefABCDEF", *j->p) || !*j->p)
                        return 0;
            } else if (!strchr("\"\\/bfnrt", c) || !c) {
                return 0;
            }
            continue;
        }
        if (c < 0x80) {
            j->p++;
            continue;
        }
        /* UTF-8: lead byte and continuation bytes (strict enough for our purposes) */
        int len = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c <= 0xdf ? 2 : 0;
        if (!len || j->end - j->p < len)
            return 0;
        for (int i = 1; i < len; i++)
            if ((j->p[i] & 0xc0) != 0x80)
                return 0;
        j->p += len;
    }
    return 0;
}

static int jnumber(jp *j)
{
    const unsigned char *s = j->p;
    if (j->p < j->end && *j->p == '-')
        j->p++;
    if (j->p >= j->end)
        return 0;
    if (*j->p == '0') {
        j->p++;
    } else if (*j->p >= '1' && *j->p <= '9') {
        while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
            j->p++;
    } else {
        return 0;
    }
    if (j->p < j->end && *j->p == '.') {
        j->p++;
        if (j->p >= j->end || *j->p < '0' || *j->p > '9')
            return 0;
        while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
            j->p++;
    }
    if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
        j->p++;
        if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
            j->p++;
        if (j->p >= j->end || *j->p < '0' || *j->p > '9')
            return 0;
        while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
            j->p++;
    }
    return j->p > s;
}

static int jvalue(jp *j);

static int jcontainer(jp *j, char open, char close)
{
    if (++j->depth > 1000)
        return 0;
    j->p++; /* open */
    jws(j);
    if (j->p < j->end && *j->p == close) {
        j->p++;
        j->depth--;
        return 1;
    }
    for (;;) {
        jws(j);
        if (open == '{') {
            if (!jstring(j))
                return 0;
            jws(j);
            if (j->p >= j->end || *j->p != ':')
                return 0;
            j->p++;
        }
        if (!jvalue(j))
            return 0;
        jws(j);
        if (j->p >= j->end)
            return 0;
        if (*j->p == close) {
            j->p++;
            j->depth--;
            return 1;
        }
        if (*j->p != ',')
            return 0;
        j->p++;
    }
}

static int jvalue(jp *j)
{
    jws(j);
    if (j->p >= j->end)
        return 0;
    switch (*j->p) {
    case '{': return jcontainer(j, '{', '}');
    case '[': return jcontainer(j, '[', ']');
    case '"': return jstring(j);
    case 't':
        if (j->end - j->p >= 4 && !memcmp(j->p, "true", 4)) return j->p += 4, 1;
        return 0;
    case 'f':
        if (j->end - j->p >= 5 && !memcmp(j->p, "false", 5)) return j->p += 5, 1;
        return 0;
    case 'n':
        if (j->end - j->p >= 4 && !memcmp(j->p, "null", 4)) return j->p += 4, 1;
        return 0;
    default: return jnumber(j);
    }
}

static int json_valid(const void *s, size_t n)
{
    jp j = {s, (const unsigned char *)s + n, 0};
    if (!jvalue(&j))
        return 0;
    jws(&j);
    return j.p == j.end;
}

/* ---- helpers ---- */

enum { TEXT, SHORT, JSON, TREE };

/* Render hex input with one view into a static NUL-terminated string. */
static const char *render(int view, const char *hexin, size_t max)
{
    static uint8_t in[8192];
    static char res[65536];
    size_t n = gw_test_unhex(hexin, in, sizeof in);
    gw_buf b;
    gw_buf_init(&b, 0);
    int rc = -1;
    switch (view) {
    case TEXT: rc = view_pb_text(&b, in, n, 0, NULL); break;
    case SHORT: rc = view_pb_short(&b, in, n, max); break;
    case JSON: rc = view_pb_json(&b, in, n, NULL); break;
    case TREE: rc = view_pb_tree(&b, in, n, 0, NULL); break;
    }
    if (rc) {
        snprintf(res, sizeof res, "error %d", rc);
    } else {
        size_t k = b.len < sizeof res - 1 ? b.len : sizeof res - 1;
        memcpy(res, b.data ? (const char *)b.data : "", k);
        res[k] = 0;
    }
    gw_buf_free(&b);
    return res;
}

/* "world" as the seed's request, "Hello world" as its response */
#define SEED_REQ "0a 05 77 6f 72 6c 64"
#define SEED_RESP "0a 0b 48 65 6c 6c 6f 20 77 6f 72 6c 64"

static void test_seed(void)
{
    GW_CHECK_STR(render(TEXT, SEED_REQ, 0), "1: \"world\"\n");
    GW_CHECK_STR(render(SHORT, SEED_REQ, 0), "{1: \"world\"}");
    GW_CHECK_STR(render(JSON, SEED_REQ, 0), "{\"1\":\"world\"}");
    GW_CHECK_STR(render(TREE, SEED_REQ, 0),
                 "Message: <UNKNOWN>\n"
                 "    Field(1):\n"
                 "        [Field Name: <UNKNOWN>]\n"
                 "        .000 1... = Field Number: 1\n"
                 "        .... .010 = Wire Type: Length-delimited (2)\n"
                 "        Value Length: 5\n"
                 "        Value: 776f726c64\n"
                 "        [As string: \"world\"]\n");
    GW_CHECK_STR(render(TEXT, SEED_RESP, 0), "1: \"Hello world\"\n");
    GW_CHECK_STR(render(SHORT, SEED_RESP, 0), "{1: \"Hello world\"}");
    GW_CHECK_STR(render(JSON, SEED_RESP, 0), "{\"1\":\"Hello world\"}");
    GW_CHECK_STR(render(TREE, SEED_RESP, 0),
                 "Message: <UNKNOWN>\n"
                 "    Field(1):\n"
                 "        [Field Name: <UNKNOWN>]\n"
                 "        .000 1... = Field Number: 1\n"
                 "        .... .010 = Wire Type: Length-delimited (2)\n"
                 "        Value Length: 11\n"
                 "        Value: 48656c6c6f20776f726c64\n"
                 "        [As string: \"Hello world\"]\n");

    /* The seed's lines, stripped of indentation, appear in order in our tree. */
    static const char *seed_lines[] = {"Message: <UNKNOWN>", "Field(1):", "[Field Name: <UNKNOWN>]",
                                       ".000 1... = Field Number: 1",
                                       ".... .010 = Wire Type: Length-delimited (2)",
                                       "Value Length: 5", "Value: 776f726c64"};
    const char *t = render(TREE, SEED_REQ, 0);
    for (size_t i = 0; i < sizeof seed_lines / sizeof seed_lines[0]; i++) {
        const char *hit = strstr(t, seed_lines[i]);
        GW_CHECK(hit != NULL);
        if (hit)
            t = hit;
    }
}

static void test_text(void)
{
    static const struct {
        const char *hex, *out;
    } cases[] = {
        {"08 96 01 08 03 08 01 08 ff ff ff ff ff ff ff ff ff 01",
         "1: 150\n1: 3  # zigzag -2\n1: 1\n1: 18446744073709551615  # int64 -1\n"},
        {"0d 00 00 80 3f 11 1f 85 eb 51 b8 1e 09 40 1d 01 00 00 00",
         "1: 0x3f800000  # float 1.0\n2: 0x40091eb851eb851f  # double 3.14\n3: 0x00000001\n"},
        {"12 03 0a 01 78", "2 {\n  1: \"x\"\n}\n"},
        {"12 07 12 05 1a 03 08 96 01", "2 {\n  2 {\n    3 {\n      1: 150\n    }\n  }\n}\n"},
        {"22 03 01 02 03", "4: \"\\001\\002\\003\"  # packed [1, 2, 3]\n"},
        {"2a 04 ff 00 27 5c", "5: \"\\377\\000\\'\\\\\"\n"},
        {"2a 04 28 61 28 62", "5: \"(a(b\"  # also parses as a message\n"},
        {"2a 06 68 c3 a9 6c 6c 6f", "5: \"h\\303\\251llo\"  # \"h\xc3\xa9llo\"\n"},
        {"2a 04 22 0a 09 5c", "5: \"\\\"\\n\\t\\\\\"\n"},
        {"0a 00", "1: \"\"\n"},
        {"0b 08 01 0c", "1 {\n  1: 1\n}\n"},
        {"0b 13 14 0c", "1 {\n  2 {\n  }\n}\n"},
        {"", ""},
        {"77 6f 72 6c 64", "# not a protobuf message from offset 0\n"},
        {"08 01 ff", "1: 1\n# not a protobuf message from offset 2\n"},
        {"f8 ff ff ff 0f 01", "536870911: 1\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        GW_CHECK_STR(render(TEXT, cases[i].hex, 0), cases[i].out);

    /* indent applies to every line */
    uint8_t in[16];
    size_t n = gw_test_unhex("08 01 12 02 08 02 ff", in, sizeof in);
    gw_buf b;
    gw_buf_init(&b, 0);
    GW_CHECK_INT(view_pb_text(&b, in, n, 4, NULL), 0);
    gw_buf_putc(&b, 0);
    GW_CHECK_STR((char *)b.data,
                 "    1: 1\n    2 {\n      1: 2\n    }\n    # not a protobuf message from offset 6\n");
    gw_buf_free(&b);
}

static void test_short(void)
{
    static const struct {
        const char *hex;
        size_t max;
        const char *out;
    } cases[] = {
        {"08 96 01 12 03 0a 01 78", 0, "{1: 150, 2: {1: \"x\"}}"},
        {"22 03 01 02 03", 0, "{4: [1, 2, 3]}"},
        {"2a 02 ff 00", 0, "{5: <ff00>}"},
        {"0d 00 00 80 3f 15 01 00 00 00 19 1f 85 eb 51 b8 1e 09 40", 0,
         "{1: 1.0, 2: 0x00000001, 3: 3.14}"},
        {"0b 08 01 0c 10 02", 0, "{1: {1: 1}, 2: 2}"},
        {"2a 04 22 0a 09 5c", 0, "{5: \"\\\"\\n\\t\\\\\"}"},
        {"", 0, "{}"},
        {"77 6f 72 6c 64", 0, "<5 bytes, not protobuf>"},
        {"08 01 ff", 0, "{1: 1, <not protobuf from offset 2>}"},
        {"0a 1e 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 "
         "61 61 61", 20, "{1: \"aaaaaaaaaaaa..."},
        {SEED_REQ, 12, "{1: \"world\"}"}, /* exactly max: not cut */
        {SEED_REQ, 11, "{1: \"wor..."},
        {"08 01 08 02 08 03 08 04 08 05 08 06 08 07", 16, "{1: 1, 1: 2, ..."},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        GW_CHECK_STR(render(SHORT, cases[i].hex, cases[i].max), cases[i].out);

    /* never split a UTF-8 character, never exceed max */
    char hexs[400] = "0a 28";
    for (int i = 0; i < 20; i++)
        strcat(hexs, " c3 a9");
    for (size_t max = 4; max < 50; max++) {
        const char *s = render(SHORT, hexs, max);
        GW_CHECK(strlen(s) <= max);
        GW_CHECK(json_valid("\"\"", 2)); /* keep the checker used */
        size_t L = strlen(s);
        /* no dangling lead byte before the "..." */
        if (L >= 4 && !strcmp(s + L - 3, "..."))
            GW_CHECK(((unsigned char)s[L - 4] & 0xe0) != 0xc0);
    }
}

static void test_json(void)
{
    static const struct {
        const char *hex, *out;
    } cases[] = {
        {"08 01 08 02 10 05", "{\"1\":[1,2],\"2\":5}"},
        {"10 05 08 01 08 02", "{\"1\":[1,2],\"2\":5}"}, /* out of order */
        {"08 01 10 05 08 02", "{\"1\":[1,2],\"2\":5}"}, /* interleaved */
        {"18 01 10 02 08 03", "{\"1\":3,\"2\":2,\"3\":1}"},
        {"08 80 80 80 80 80 80 80 10", "{\"1\":9007199254740992}"},    /* 2^53 */
        {"08 81 80 80 80 80 80 80 10", "{\"1\":\"9007199254740993\"}"}, /* 2^53 + 1 */
        {"08 ff ff ff ff ff ff ff ff ff 01", "{\"1\":\"18446744073709551615\"}"},
        {"2a 02 ff 00", "{\"5\":\"/wA=\"}"},
        {"22 03 01 02 03", "{\"4\":[1,2,3]}"},
        {"22 04 96 01 e8 07 22 02 01 02", "{\"4\":[[150,1000],[1,2]]}"},
        {"12 03 0a 01 78", "{\"2\":{\"1\":\"x\"}}"},
        {"0b 08 01 0c", "{\"1\":{\"1\":1}}"},
        {"0d 00 00 80 3f 11 01 00 00 00 00 00 20 00", "{\"1\":1065353216,\"2\":\"9007199254740993\"}"},
        {"0a 00", "{\"1\":\"\"}"},
        {"", "{}"},
        {"77 6f 72 6c 64", "{\"_raw\":\"d29ybGQ=\"}"},
        {"08 01 ff", "{\"1\":1,\"_error\":\"not a protobuf message from offset 2\",\"_rest\":\"/w==\"}"},
        {"2a 06 68 c3 a9 6c 6c 6f", "{\"5\":\"h\xc3\xa9llo\"}"},
        {"2a 04 22 0a 09 5c", "{\"5\":\"\\\"\\n\\t\\\\\"}"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *s = render(JSON, cases[i].hex, 0);
        GW_CHECK_STR(s, cases[i].out);
        GW_CHECK(json_valid(s, strlen(s)));
    }
}

static void test_tree(void)
{
    GW_CHECK_STR(render(TREE, "08 96 01 12 03 0a 01 78", 0),
                 "Message: <UNKNOWN>\n"
                 "    Field(1):\n"
                 "        [Field Name: <UNKNOWN>]\n"
                 "        .000 1... = Field Number: 1\n"
                 "        .... .000 = Wire Type: varint (0)\n"
                 "        Value: 9601\n"
                 "        [As uint64: 150]\n"
                 "    Field(2):\n"
                 "        [Field Name: <UNKNOWN>]\n"
                 "        .001 0... = Field Number: 2\n"
                 "        .... .010 = Wire Type: Length-delimited (2)\n"
                 "        Value Length: 3\n"
                 "        Value: 0a0178\n"
                 "        Message: <UNKNOWN>\n"
                 "            Field(1):\n"
                 "                [Field Name: <UNKNOWN>]\n"
                 "                .000 1... = Field Number: 1\n"
                 "                .... .010 = Wire Type: Length-delimited (2)\n"
                 "                Value Length: 1\n"
                 "                Value: 78\n"
                 "                [As string: \"x\"]\n");
    GW_CHECK_STR(render(TREE, "a5 01 00 00 80 bf 22 02 01 02 10 03 ff", 0),
                 "Message: <UNKNOWN>\n"
                 "    Field(20):\n"
                 "        [Field Name: <UNKNOWN>]\n"
                 "        Field Number: 20\n"
                 "        Wire Type: 32-bit (5)\n"
                 "        Value: 000080bf\n"
                 "        [As fixed32: 3212836864]\n"
                 "        [As float: -1.0]\n"
                 "    Field(4):\n"
                 "        [Field Name: <UNKNOWN>]\n"
                 "        .010 0... = Field Number: 4\n"
                 "        .... .010 = Wire Type: Length-delimited (2)\n"
                 "        Value Length: 2\n"
                 "        Value: 0102\n"
                 "        [As packed varints: 1, 2]\n"
                 "    Field(2):\n"
                 "        [Field Name: <UNKNOWN>]\n"
                 "        .001 0... = Field Number: 2\n"
                 "        .... .000 = Wire Type: varint (0)\n"
                 "        Value: 03\n"
                 "        [As uint64: 3]\n"
                 "        [As sint64 (zigzag): -2]\n"
                 "    [Malformed: not a protobuf message from offset 12]\n");
    GW_CHECK_STR(render(TREE, "0b 08 01 0c", 0),
                 "Message: <UNKNOWN>\n"
                 "    Field(1):\n"
                 "        [Field Name: <UNKNOWN>]\n"
                 "        .000 1... = Field Number: 1\n"
                 "        .... .011 = Wire Type: Start group (deprecated) (3)\n"
                 "        [As group]\n"
                 "        Message: <UNKNOWN>\n"
                 "            Field(1):\n"
                 "                [Field Name: <UNKNOWN>]\n"
                 "                .000 1... = Field Number: 1\n"
                 "                .... .000 = Wire Type: varint (0)\n"
                 "                Value: 01\n"
                 "                [As uint64: 1]\n");
}

/* Long values are cut in the tree and in packed comments. */
static void test_cuts(void)
{
    gw_buf m, out;
    gw_buf_init(&m, 0);
    gw_buf_init(&out, 0);
    uint8_t packed[40], str[100];
    for (int i = 0; i < 40; i++)
        packed[i] = (uint8_t)(i + 1);
    for (int i = 0; i < 100; i++)
        str[i] = (uint8_t)('a' + i % 26);
    str[63] = 0xc3; /* "é" straddles the 64-byte cut */
    str[64] = 0xa9;
    pb_put_bytes(&m, 4, packed, sizeof packed);
    pb_put_bytes(&m, 5, str, sizeof str);
    GW_CHECK_INT(view_pb_text(&out, m.data, m.len, 0, NULL), 0);
    gw_buf_putc(&out, 0);
    GW_CHECK(strstr((char *)out.data, "# packed [1, 2, 3, ") != NULL);
    GW_CHECK(strstr((char *)out.data, ", 31, 32, ... (40 values)]\n5: \"abc") != NULL);
    gw_buf_reset(&out);
    GW_CHECK_INT(view_pb_tree(&out, m.data, m.len, 0, NULL), 0);
    gw_buf_putc(&out, 0);
    GW_CHECK(strstr((char *)out.data, "[As packed varints: 1, 2, ") != NULL);
    GW_CHECK(strstr((char *)out.data, ", 32, ... (40 values)]\n") != NULL);
    GW_CHECK(strstr((char *)out.data, "Value: 0102030405060708090a0b0c0d0e0f101112131415161718191a1b"
                                      "1c1d1e1f202122232425262728\n") != NULL);
    GW_CHECK(strstr((char *)out.data, "Value: 6162636465666768696a6b6c6d6e6f707172737475767778797a"
                                      "6162636465666768696a6b6c6d6e6f707172737475767778797a"
                                      "6162636465666768696a6bc3...\n") != NULL);
    /* 63 letters, the cut backs off the split "é" */
    GW_CHECK(strstr((char *)out.data, "[As string: \"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopq"
                                      "rstuvwxyzabcdefghijk\"...]\n") != NULL);
    gw_buf_free(&m);
    gw_buf_free(&out);
}

static void test_helpers(void)
{
    static const struct {
        const char *in, *out;
    } b64[] = {{"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},     {"foo", "Zm9v"},
               {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}};
    gw_buf b;
    gw_buf_init(&b, 0);
    gw_buf_reserve(&b, 1); /* data is never NULL below (memcmp) */
    for (size_t i = 0; i < sizeof b64 / sizeof b64[0]; i++) {
        gw_buf_reset(&b);
        GW_CHECK_INT(view_base64(&b, (const uint8_t *)b64[i].in, strlen(b64[i].in)), 0);
        GW_CHECK_MEM(b.data, b.len, b64[i].out, strlen(b64[i].out));
    }
    /* long input crosses the internal chunk size */
    uint8_t big[300];
    for (int i = 0; i < 300; i++)
        big[i] = (uint8_t)i;
    gw_buf_reset(&b);
    GW_CHECK_INT(view_base64(&b, big, sizeof big), 0);
    GW_CHECK_INT(b.len, 400);
    GW_CHECK(!memcmp(b.data, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g", 44));
    GW_CHECK(!memcmp(b.data + 396, "KSor", 4));

    static const struct {
        const char *in;
        size_t n;
        const char *out;
    } js[] = {
        {"abc", 3, "\"abc\""},
        {"a\"b\\c", 5, "\"a\\\"b\\\\c\""},
        {"\n\r\t\b\f\x01\x1f\x7f", 8, "\"\\n\\r\\t\\b\\f\\u0001\\u001f\\u007f\""},
        {"\0", 1, "\"\\u0000\""},
        {"h\xc3\xa9", 3, "\"h\xc3\xa9\""},
        {"\xe2\x82\xac\xf0\x9f\x98\x80", 7, "\"\xe2\x82\xac\xf0\x9f\x98\x80\""},
        {"\xff", 1, "\"\\u00ff\""},
        {"\xc3", 1, "\"\\u00c3\""},           /* truncated sequence */
        {"\xc0\xaf", 2, "\"\\u00c0\\u00af\""}, /* overlong */
        {"\xed\xa0\x80", 3, "\"\\u00ed\\u00a0\\u0080\""}, /* surrogate */
        {"", 0, "\"\""},
    };
    for (size_t i = 0; i < sizeof js / sizeof js[0]; i++) {
        gw_buf_reset(&b);
        GW_CHECK_INT(view_json_string(&b, js[i].in, js[i].n), 0);
        GW_CHECK_MEM(b.data, b.len, js[i].out, strlen(js[i].out));
        GW_CHECK(json_valid(b.data, b.len));
    }
    gw_buf_free(&b);
}

/* ---- SIMD and scalar loops of view_base64 / view_json_string against plain references ---- */

static void base64_ref(gw_buf *b, const uint8_t *p, size_t n)
{
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        char q[4] = {t[v >> 18], t[v >> 12 & 63], i + 1 < n ? t[v >> 6 & 63] : '=',
                     i + 2 < n ? t[v & 63] : '='};
        gw_buf_append(b, q, 4);
    }
}

static void json_string_ref(gw_buf *b, const uint8_t *p, size_t n)
{
    gw_buf_putc(b, '"');
    for (size_t i = 0; i < n;) {
        uint8_t c = p[i];
        uint32_t cp;
        size_t len = c >= 0x80 ? gw_utf8_seq(p + i, n - i, &cp) : 0;
        if (len) {
            gw_buf_append(b, p + i, len);
            i += len;
            continue;
        }
        const char *e = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\n' ? "\\n" : c == '\r' ? "\\r"
                      : c == '\t' ? "\\t" : c == '\b' ? "\\b" : c == '\f' ? "\\f" : NULL;
        if (e)
            gw_buf_append(b, e, 2);
        else if (c < 0x20 || c >= 0x7f)
            gw_buf_printf(b, "\\u%04x", c);
        else
            gw_buf_putc(b, c);
        i++;
    }
    gw_buf_putc(b, '"');
}

static uint64_t diff_rng = 0x2545f4914f6cdd1dull;
static uint32_t diff_rnd(void)
{
    diff_rng ^= diff_rng << 13, diff_rng ^= diff_rng >> 7, diff_rng ^= diff_rng << 17;
    return (uint32_t)(diff_rng >> 16);
}

/* Both renderers over src[0..n) copied to the very end of an allocation (ASan sees any read past
 * p + n), at `align` bytes into it, at every code level; 0 when all agree with the references. */
static int simd_agree(const uint8_t *src, size_t n, size_t align)
{
    uint8_t *block = malloc(align + n + 1);
    uint8_t *p = block + align;
    memcpy(p, src, n);
    gw_buf want, got;
    gw_buf_init(&want, 0);
    gw_buf_init(&got, 0);
    gw_buf_reserve(&want, 1); /* data is never NULL below (memcmp) */
    int bad = 0;
    for (int which = 0; which < 2; which++) {
        gw_buf_reset(&want);
        if (which == 0)
            base64_ref(&want, p, n);
        else
            json_string_ref(&want, p, n);
        for (int force = 0; force <= 2; force++) {
            view_pb_force_scalar(force);
            gw_buf_reset(&got);
            gw_buf_putc(&got, '<'); /* appends keep what is before them */
            int rc = which == 0 ? view_base64(&got, p, n) : view_json_string(&got, (const char *)p, n);
            if (rc || got.len != want.len + 1 || got.data[0] != '<' ||
                memcmp(got.data + 1, want.data, want.len)) {
                if (bad++ < 5)
                    fprintf(stderr, "%s differs: n %zu align %zu force %d\n",
                            which ? "json_string" : "base64", n, align, force);
            }
        }
    }
    view_pb_force_scalar(0);
    gw_buf_free(&want);
    gw_buf_free(&got);
    free(block);
    return bad;
}

static void test_simd_differential(void)
{
    uint8_t src[360];
    int bad = 0;
    /* random bytes and mostly clean text: every length 0..300 at every alignment 0..31 */
    for (size_t n = 0; n <= 300; n++)
        for (size_t align = 0; align < 32; align++) {
            for (size_t i = 0; i < n; i++)
                src[i] = (uint8_t)diff_rnd();
            bad += simd_agree(src, n, align);
            for (size_t i = 0; i < n; i++)
                src[i] = diff_rnd() % 61 ? (uint8_t)(0x20 + diff_rnd() % 0x5f) : (uint8_t)diff_rnd();
            bad += simd_agree(src, n, align);
        }
    /* an escape or a UTF-8 sequence (good, bad, cut short) at every position of plain text */
    static const char *const toks[] = {"\"", "\\", "\n", "\t", "\x01", "\x1f", "\x7f", "\xc3\xa9",
                                       "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xff", "\xc3",
                                       "\xe2\x82", "\xed\xa0\x80", "\xc0\xaf", "\x80"};
    for (size_t n = 1; n <= 140; n++)
        for (size_t t = 0; t < sizeof toks / sizeof toks[0]; t++) {
            size_t tl = strlen(toks[t]);
            for (size_t pos = 0; pos + tl <= n; pos++) {
                memset(src, 'q', n);
                memcpy(src + pos, toks[t], tl);
                bad += simd_agree(src, n, (pos * 7 + n) % 32);
            }
        }
    /* long inputs cross the 64-byte screen step and many base64 blocks */
    for (size_t n = 1000; n < 1100; n += 7) {
        uint8_t *big = malloc(n);
        for (size_t i = 0; i < n; i++)
            big[i] = (uint8_t)('a' + i % 26);
        big[n - 1 - n % 5] = (uint8_t)"\"\\\n\xc3\x80"[n % 5];
        bad += simd_agree(big, n, n % 32);
        free(big);
    }
    /* Strings past the direct limit (4096) go in pieces: sequences and stray continuation bytes
     * at and around every piece boundary. */
    static const char *const seams[] = {"\xf0\x9f\x98\x80", "\xe2\x82\xac", "\xc3\xa9",
                                        "\x80\x80\x80\x80\x80", "\"\x01"};
    for (size_t n = 4090; n <= 8200; n += n < 4110 ? 1 : 4087) {
        uint8_t *big = malloc(n);
        for (size_t sm = 0; sm < sizeof seams / sizeof seams[0]; sm++)
            for (size_t at = 4088; at <= 4097 && at < n; at++) {
                memset(big, 'z', n);
                size_t sl = strlen(seams[sm]);
                if (at + sl <= n)
                    memcpy(big + at, seams[sm], sl);
                bad += simd_agree(big, n, at % 32);
            }
        free(big);
    }
    GW_CHECK_INT(bad, 0);

    /* A capped buffer where the string fits but its worst case does not: same bytes. */
    uint8_t txt[300];
    for (size_t i = 0; i < sizeof txt; i++)
        txt[i] = i % 7 ? (uint8_t)('a' + i % 26) : (uint8_t)"\"\xc3\xa9\n"[i % 4];
    gw_buf want, capped;
    gw_buf_init(&want, 0);
    json_string_ref(&want, txt, sizeof txt);
    gw_buf_init(&capped, want.len);
    GW_CHECK_INT(view_json_string(&capped, (const char *)txt, sizeof txt), 0);
    GW_CHECK_MEM(capped.data, capped.len, want.data, want.len);
    gw_buf_free(&capped);
    gw_buf_init(&capped, want.len - 1);
    GW_CHECK_INT(view_json_string(&capped, (const char *)txt, sizeof txt), GW_ECAP);
    gw_buf_free(&capped);
    gw_buf_free(&want);
}

/* view_json_string_into and view_json_pair_into write into exactly the room they promise to
 * need (an allocation of 6n+2 or 6(an+bn)+7 bytes: ASan sees a byte more), from sources at the
 * very end of theirs, at every code level: the short-string path (under 64 bytes, stores as it
 * screens) against the reference, for every byte value at every position of lengths 0..100 and
 * at odd alignments. */
static int into_agree(const uint8_t *src, size_t n, size_t align, const uint8_t *src2, size_t n2)
{
    uint8_t *blk = malloc(align + n + 1), *blk2 = malloc(n2 + 1);
    uint8_t *p = blk + align + 1, *q = blk2 + 1; /* ends at the end of the allocation */
    memcpy(p, src, n);
    memcpy(q, src2, n2);
    gw_buf want;
    gw_buf_init(&want, 0);
    json_string_ref(&want, p, n);
    size_t wl1 = want.len;
    gw_buf_putc(&want, ',');
    json_string_ref(&want, q, n2);
    int bad = 0;
    for (int force = 0; force <= 2; force++) {
        view_pb_force_scalar(force);
        uint8_t *d = malloc(6 * n + 2);
        size_t k = view_json_string_into(d, (const char *)p, n);
        bad += k != wl1 || memcmp(d, want.data, k) != 0;
        free(d);
        d = malloc(6 * (n + n2) + 7);
        k = view_json_pair_into(d, (const char *)p, n, (const char *)q, n2);
        bad += k != want.len + 2 || d[0] != '[' || d[k - 1] != ']' ||
               memcmp(d + 1, want.data, want.len) != 0;
        free(d);
    }
    view_pb_force_scalar(0);
    gw_buf_free(&want);
    free(blk);
    free(blk2);
    if (bad)
        fprintf(stderr, "into differs: n %zu align %zu n2 %zu\n", n, align, n2);
    return bad;
}

static void test_json_into(void)
{
    uint8_t src[128], other[] = "content-type";
    int bad = 0;
    for (size_t n = 0; n <= 100; n++) {
        for (size_t i = 0; i < n; i++)
            src[i] = (uint8_t)('a' + (i * 7 + n) % 26);
        bad += into_agree(src, n, n % 7, other, n % 13);
        for (size_t pos = 0; pos < n; pos++)
            for (int c = 0; c < 256; c += pos % 3 == 0 ? 1 : 17) {
                uint8_t keep = src[pos];
                src[pos] = (uint8_t)c;
                bad += into_agree(src, n, (pos + (size_t)c) % 5 * 3 + 1, src, pos);
                src[pos] = keep;
                if (bad > 5)
                    goto out;
            }
    }
out:
    GW_CHECK_INT(bad, 0);
}

/* Buffer caps and allocation failures come back as errors. */
static void test_errors(void)
{
    uint8_t in[64];
    size_t n = gw_test_unhex("10 05 08 01 12 03 0a 01 78 2a 02 ff 00 22 02 01 02", in, sizeof in);
    /* each view's full length first, then every smaller cap must fail, larger ones succeed */
    size_t full[4];
    for (int view = 0; view < 4; view++) {
        gw_buf b;
        gw_buf_init(&b, 0);
        int rc = view == 0   ? view_pb_text(&b, in, n, 0, NULL)
                 : view == 1 ? view_pb_json(&b, in, n, NULL)
                 : view == 2 ? view_pb_tree(&b, in, n, 0, NULL)
                             : view_pb_short(&b, in, n, 0);
        GW_CHECK_INT(rc, 0);
        full[view] = b.len;
        gw_buf_free(&b);
    }
    for (int view = 0; view < 4; view++) {
        for (size_t limit = 1; limit <= full[view] + 1; limit++) {
            gw_buf b;
            gw_buf_init(&b, limit);
            int rc = view == 0   ? view_pb_text(&b, in, n, 0, NULL)
                     : view == 1 ? view_pb_json(&b, in, n, NULL)
                     : view == 2 ? view_pb_tree(&b, in, n, 0, NULL)
                                 : view_pb_short(&b, in, n, 0);
            GW_CHECK_INT(rc, limit < full[view] ? GW_ECAP : 0);
            gw_buf_free(&b);
        }
    }
    /* out of order: a few fields are sorted in place, more than the inline array (8) in one
     * allocation; fail it */
    gw_buf b;
    gw_buf_init(&b, 0);
    gw_buf_reserve(&b, 4096);
    gw_mem_fail_after(0);
    GW_CHECK_INT(view_pb_json(&b, in, n, NULL), 0);
    static const char want5[] = "{\"1\":1,\"2\":[5,{\"1\":\"x\"}],\"4\":[1,2],\"5\":\"/wA=\"}";
    GW_CHECK_MEM(b.data, b.len, want5, strlen(want5));
    uint8_t many[64];
    size_t mn = gw_test_unhex("50 0a 48 09 40 08 38 07 30 06 28 05 20 04 18 03 10 02 08 01", many,
                              sizeof many);
    gw_buf_reset(&b);
    int rc = view_pb_json(&b, many, mn, NULL);
    gw_mem_fail_after(-1);
    GW_CHECK_INT(rc, GW_ENOMEM);
    gw_buf_reset(&b);
    GW_CHECK_INT(view_pb_json(&b, many, mn, NULL), 0);
    static const char want10[] =
        "{\"1\":1,\"2\":2,\"3\":3,\"4\":4,\"5\":5,\"6\":6,\"7\":7,\"8\":8,\"9\":9,\"10\":10}";
    GW_CHECK_MEM(b.data, b.len, want10, strlen(want10));
    gw_buf_free(&b);
}

/* 100-deep nesting: default depth 32 shows the rest as bytes, every view stays well formed. */
static void test_deep(void)
{
    gw_buf m, tmp, out;
    gw_buf_init(&m, 0);
    gw_buf_init(&tmp, 0);
    pb_put_uint(&m, 1, 1);
    for (int i = 0; i < 100; i++) {
        gw_buf_reset(&tmp);
        pb_put_bytes(&tmp, 1, m.data, m.len);
        gw_buf_reset(&m);
        gw_buf_append(&m, tmp.data, tmp.len);
    }
    gw_buf_init(&out, 0);
    GW_CHECK_INT(view_pb_json(&out, m.data, m.len, NULL), 0);
    GW_CHECK(json_valid(out.data, out.len));
    size_t braces = 0;
    for (size_t i = 0; i < out.len; i++)
        braces += out.data[i] == '{';
    GW_CHECK_INT(braces, 33); /* top level + 32 nested */

    gw_buf_reset(&out);
    GW_CHECK_INT(view_pb_text(&out, m.data, m.len, 0, NULL), 0);
    size_t opens = 0, closes = 0;
    for (size_t i = 0; i < out.len; i++) {
        opens += out.data[i] == '{';
        closes += out.data[i] == '}';
    }
    GW_CHECK_INT(opens, 32);
    GW_CHECK_INT(closes, 32);

    pb_opts o = {.max_depth = 200};
    gw_buf_reset(&out);
    GW_CHECK_INT(view_pb_json(&out, m.data, m.len, &o), 0);
    GW_CHECK(json_valid(out.data, out.len));
    gw_buf_reset(&out);
    GW_CHECK_INT(view_pb_tree(&out, m.data, m.len, 0, &o), 0);
    gw_buf_reset(&out);
    GW_CHECK_INT(view_pb_short(&out, m.data, m.len, 0), 0);
    gw_buf_free(&out);
    gw_buf_free(&m);
    gw_buf_free(&tmp);
}

/* ---- random messages and random bytes ---- */

static uint32_t rnd_state = 12345;
static uint32_t rnd(void)
{
    rnd_state = rnd_state * 1103515245u + 12345u;
    return rnd_state >> 8;
}

/* A random message from the encoders: varints, fixed, strings of letters, nested messages. */
static void random_message(gw_buf *b, int depth)
{
    int nf = (int)(rnd() % 6);
    for (int i = 0; i < nf; i++) {
        uint32_t num = rnd() % 40 + 1;
        switch (rnd() % (depth < 4 ? 6 : 5)) {
        case 0:
            pb_put_uint(b, num, (uint64_t)rnd() << (rnd() % 40));
            break;
        case 1: {
            uint32_t v = rnd();
            pb_put_tag(b, num, PB_WT_I32);
            gw_buf_append(b, &v, 4);
            break;
        }
        case 2: {
            uint64_t v = (uint64_t)rnd() << 32 | rnd();
            pb_put_tag(b, num, PB_WT_I64);
            gw_buf_append(b, &v, 8);
            break;
        }
        case 3: {
            char s[32];
            size_t n = rnd() % 20;
            for (size_t k = 0; k < n; k++)
                s[k] = "abcdefghij KLMN\"\\\n"[rnd() % 18];
            pb_put_bytes(b, num, s, n);
            break;
        }
        case 4: {
            uint8_t s[32];
            size_t n = rnd() % 12;
            for (size_t k = 0; k < n; k++)
                s[k] = (uint8_t)rnd();
            pb_put_bytes(b, num, s, n);
            break;
        }
        default: {
            gw_buf sub;
            gw_buf_init(&sub, 0);
            random_message(&sub, depth + 1);
            pb_put_bytes(b, num, sub.data, sub.len);
            gw_buf_free(&sub);
        }
        }
    }
}

/* Everything from "  # " to the end of each line goes: our annotations. */
static void strip_comments(gw_buf *t)
{
    size_t w = 0, i = 0;
    while (i < t->len) {
        if (i + 3 < t->len && !memcmp(t->data + i, "  # ", 4)) {
            while (i < t->len && t->data[i] != '\n')
                i++;
            continue;
        }
        t->data[w++] = t->data[i++];
    }
    t->len = w;
}

static int have_tool(const char *name)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", name);
    return system(cmd) == 0;
}

/* protoc --decode_raw of the bytes, or -1 when protoc says the input does not parse. */
static int protoc_decode(const uint8_t *p, size_t n, gw_buf *out)
{
    char path[] = "/tmp/test_view_pb_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    if (write(fd, p, n) != (ssize_t)n) {
        close(fd);
        unlink(path);
        return -1;
    }
    close(fd);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "protoc --decode_raw < %s 2>/dev/null", path);
    FILE *f = popen(cmd, "r");
    char buf[4096];
    size_t k;
    while (f && (k = fread(buf, 1, sizeof buf, f)) > 0)
        gw_buf_append(out, buf, k);
    int st = f ? pclose(f) : -1;
    unlink(path);
    return st == 0 ? 0 : -1;
}

static void test_protoc_oracle(void)
{
    if (!have_tool("protoc")) {
        printf("protoc not found: skipping the --decode_raw comparison\n");
        return;
    }
    static const char *fixed[] = {
        SEED_REQ,
        SEED_RESP,
        "08 96 01 08 03 08 01 08 ff ff ff ff ff ff ff ff ff 01",
        "0d 00 00 80 3f 11 1f 85 eb 51 b8 1e 09 40 1d 01 00 00 00",
        "12 07 12 05 1a 03 08 96 01",
        "22 03 01 02 03",
        "2a 04 ff 00 27 5c",
        "2a 06 68 c3 a9 6c 6c 6f",
        "2a 04 22 0a 09 5c",
        "0a 00",
        "0b 08 01 0c",
        "0b 13 14 0c",
        "f8 ff ff ff 0f 01",
        "",
    };
    int compared = 0, skipped = 0;
    gw_buf ours, theirs;
    gw_buf_init(&ours, 0);
    gw_buf_init(&theirs, 0);
    for (int iter = 0; iter < (int)(sizeof fixed / sizeof fixed[0]) + 150; iter++) {
        uint8_t in[4096];
        size_t n;
        gw_buf m;
        gw_buf_init(&m, 0);
        if (iter < (int)(sizeof fixed / sizeof fixed[0])) {
            n = gw_test_unhex(fixed[iter], in, sizeof in);
        } else {
            random_message(&m, 0);
            n = m.len < sizeof in ? m.len : sizeof in;
            if (n)
                memcpy(in, m.data, n);
        }
        gw_buf_free(&m);
        gw_buf_reset(&ours);
        gw_buf_reset(&theirs);
        GW_CHECK_INT(view_pb_text(&ours, in, n, 0, NULL), 0);
        /* where we knowingly differ from protoc (a string that also parses as a message stays
         * a string), there is nothing to compare */
        if (ours.len && memmem(ours.data, ours.len, "also parses as a message", 24)) {
            skipped++;
            continue;
        }
        strip_comments(&ours);
        GW_CHECK_INT(protoc_decode(in, n, &theirs), 0);
        GW_CHECK_MEM(ours.data, ours.len, theirs.data, theirs.len);
        if (ours.len != theirs.len || (ours.len && memcmp(ours.data, theirs.data, ours.len))) {
            fprintf(stderr, "ours:\n%.*s\nprotoc:\n%.*s\n", (int)ours.len, (char *)ours.data,
                    (int)theirs.len, (char *)theirs.data);
        }
        compared++;
    }
    printf("protoc oracle: %d compared, %d skipped (ambiguous strings)\n", compared, skipped);
    GW_CHECK(compared > 100);
    gw_buf_free(&ours);
    gw_buf_free(&theirs);
}

/* Random and mutated inputs: all views succeed, JSON always validates, short respects max. */
static void test_random_inputs(void)
{
    int py = have_tool("python3");
    char path[] = "/tmp/test_view_pb_json_XXXXXX";
    FILE *lines = NULL;
    if (py) {
        int fd = mkstemp(path);
        lines = fd >= 0 ? fdopen(fd, "w") : NULL;
    }
    int written = 0;
    gw_buf out;
    gw_buf_init(&out, 0);
    for (int iter = 0; iter < 3000; iter++) {
        uint8_t in[512];
        size_t n;
        gw_buf m;
        gw_buf_init(&m, 0);
        random_message(&m, 0);
        n = m.len < sizeof in ? m.len : sizeof in;
        if (n)
            memcpy(in, m.data, n);
        gw_buf_free(&m);
        if (iter % 3 == 1 && n) /* flip some bytes */
            for (int k = 0; k < 3; k++)
                in[rnd() % n] ^= (uint8_t)(1u << (rnd() % 8));
        if (iter % 3 == 2) { /* pure noise */
            n = rnd() % 64;
            for (size_t k = 0; k < n; k++)
                in[k] = (uint8_t)rnd();
        }
        gw_buf_reset(&out);
        GW_CHECK_INT(view_pb_json(&out, in, n, NULL), 0);
        int ok = json_valid(out.data, out.len);
        GW_CHECK(ok);
        if (!ok)
            fprintf(stderr, "invalid JSON: %.*s\n", (int)out.len, (char *)out.data);
        if (lines && iter % 10 == 0) {
            fwrite(out.data, 1, out.len, lines);
            fputc('\n', lines);
            written++;
        }
        gw_buf_reset(&out);
        GW_CHECK_INT(view_pb_text(&out, in, n, 2, NULL), 0);
        gw_buf_reset(&out);
        GW_CHECK_INT(view_pb_tree(&out, in, n, 1, NULL), 0);
        gw_buf_reset(&out);
        size_t max = rnd() % 80;
        GW_CHECK_INT(view_pb_short(&out, in, n, max), 0);
        GW_CHECK(max == 0 || out.len <= max);
    }
    gw_buf_free(&out);
    if (lines) {
        fclose(lines);
        char cmd[256];
        snprintf(cmd, sizeof cmd,
                 "python3 -c 'import json,sys\nfor l in open(sys.argv[1],encoding=\"utf-8\"): "
                 "json.loads(l)\nprint(\"ok\")' %s",
                 path);
        FILE *f = popen(cmd, "r");
        char res[16] = "";
        if (f) {
            if (!fgets(res, sizeof res, f))
                res[0] = 0;
            pclose(f);
        }
        GW_CHECK_STR(res, "ok\n");
        printf("python3 json.loads accepted %d documents\n", written);
        unlink(path);
    } else {
        printf("python3 not found: JSON checked by the built-in validator only\n");
    }
}

static void test_base64_into(void)
{
    uint8_t src[300];
    for (size_t i = 0; i < sizeof src; i++)
        src[i] = (uint8_t)(diff_rnd() & 0xff);
    int bad = 0;
    for (int level = 0; level < 3; level++) {
        view_pb_force_scalar(level);
        for (size_t n = 0; n <= 200; n++) {
            for (size_t off = 0; off < 3; off++) {
                uint8_t *p = malloc(n ? n : 1); /* exactly n bytes: reads past them are caught */
                memcpy(p, src + off, n);
                size_t need = (n + 2) / 3 * 4;
                uint8_t *d = malloc(need + VIEW_BASE64_SLACK);
                size_t k = view_base64_into(d, p, n);
                gw_buf want;
                gw_buf_init(&want, 0);
                base64_ref(&want, p, n);
                bad += k != need || want.len != k || (k && memcmp(want.data, d, k));
                gw_buf_free(&want);
                free(d);
                free(p);
            }
        }
    }
    view_pb_force_scalar(0);
    GW_CHECK_INT(bad, 0);
    /* Near a buffer's cap the slack does not fit: the text still does, by pieces. */
    for (size_t n = 0; n < 9000; n += 997) {
        uint8_t *p = malloc(n + 1);
        for (size_t i = 0; i < n; i++)
            p[i] = (uint8_t)i;
        gw_buf b, want;
        gw_buf_init(&b, 3 + (n + 2) / 3 * 4); /* the limit: exactly the text after "abc" */
        gw_buf_init(&want, 0);
        gw_buf_append(&b, "abc", 3);
        gw_buf_append(&want, "abc", 3);
        base64_ref(&want, p, n);
        GW_CHECK_INT(view_base64(&b, p, n), 0);
        GW_CHECK(b.len == want.len && memcmp(b.data, want.data, b.len) == 0);
        GW_CHECK_INT(view_base64(&b, p, 1), GW_ECAP); /* no room: nothing written */
        GW_CHECK(b.len == want.len);
        gw_buf_free(&b);
        gw_buf_free(&want);
        free(p);
    }
}

int main(void)
{
    test_seed();
    test_text();
    test_short();
    test_json();
    test_tree();
    test_cuts();
    test_helpers();
    test_simd_differential();
    test_json_into();
    test_errors();
    test_deep();
    test_protoc_oracle();
    test_random_inputs();
    test_base64_into();
    GW_TEST_END();
}
