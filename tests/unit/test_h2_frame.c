/* test_h2_frame: every frame type's envelope and payload, valid and with each anomaly, the seed's
 * packets (frames 12 and 15 of the grpc-go helloworld capture), plausibility and names. */
#include <stdlib.h>

#include "gw_err.h"
#include "gw_test.h"
#include "h2/h2_frame.h"

typedef struct vec {
    const char *name;
    const char *hex;      /* envelope + payload */
    const char *anomaly;  /* expected, NULL for none */
    int plausible;        /* h2_frame_plausible(max 16384, sender unknown) */
    long data_off;        /* expected data - payload, -1 for data == NULL */
    long data_len;
} vec;

static const vec vecs[] = {
    /* DATA 6.1 */
    {"data", "000003 00 01 00000001 616263", NULL, 1, 0, 3},
    {"data padded", "000006 00 08 00000003 02 616263 0000", NULL, 1, 1, 3},
    {"data pad = rest", "000003 00 08 00000003 02 0000", NULL, 1, 1, 0},
    {"data pad too long", "000003 00 08 00000003 03 0000", "padding longer than the payload", 1, -1, 0},
    {"data padded empty", "000000 00 08 00000003", "padding longer than the payload", 0, -1, 0},
    {"data stream 0", "000001 00 00 00000000 61", "stream frame on stream 0", 0, 0, 1},
    {"data bad flag", "000001 00 02 00000001 61", NULL, 0, 0, 1},
    /* HEADERS 6.2 */
    {"headers", "000001 01 05 00000001 88", NULL, 1, 0, 1},
    {"headers prio", "000006 01 24 00000003 80000001 0f 88", NULL, 1, 5, 1},
    {"headers pad prio", "000009 01 2c 00000003 02 00000001 ff 88 0000", NULL, 1, 6, 1},
    {"headers pad too long", "000009 01 2c 00000003 04 00000001 ff 88 0000",
     "padding longer than the payload", 1, -1, 0},
    {"headers prio short", "000004 01 20 00000003 00000001", "HEADERS too short for its priority fields",
     0, -1, 0},
    {"headers self dep", "000005 01 20 00000003 00000003 10", "stream depends on itself", 1, 5, 0},
    {"headers stream 0", "000001 01 04 00000000 88", "stream frame on stream 0", 0, 0, 1},
    /* PRIORITY 6.3 */
    {"priority", "000005 02 00 00000005 00000003 0f", NULL, 1, -1, 0},
    {"priority len 4", "000004 02 00 00000005 00000003", "PRIORITY length is not 5", 0, -1, 0},
    {"priority stream 0", "000005 02 00 00000000 00000003 0f", "stream frame on stream 0", 0, -1, 0},
    /* RST_STREAM 6.4 */
    {"rst", "000004 03 00 00000001 00000008", NULL, 1, -1, 0},
    {"rst len 5", "000005 03 00 00000001 0000000800", "RST_STREAM length is not 4", 0, -1, 0},
    {"rst stream 0", "000004 03 00 00000000 00000008", "stream frame on stream 0", 0, -1, 0},
    /* SETTINGS 6.5 */
    {"settings", "00000c 04 00 00000000 0001 00001000 0004 7fffffff", NULL, 1, -1, 0},
    {"settings ack", "000000 04 01 00000000", NULL, 1, -1, 0},
    {"settings ack payload", "000006 04 01 00000000 000100001000", "SETTINGS ACK with a payload", 0, -1, 0},
    {"settings len 7", "000007 04 00 00000000 00010000100000", "SETTINGS length is not a multiple of 6",
     0, -1, 0},
    {"settings stream 1", "000000 04 00 00000001", "connection frame on a non-zero stream", 0, -1, 0},
    {"settings push 2", "000006 04 00 00000000 0002 00000002", "SETTINGS_ENABLE_PUSH above 1", 1, -1, 0},
    {"settings window", "000006 04 00 00000000 0004 80000000",
     "SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1", 1, -1, 0},
    {"settings frame small", "000006 04 00 00000000 0005 00003fff",
     "SETTINGS_MAX_FRAME_SIZE outside 2^14..2^24-1", 1, -1, 0},
    {"settings frame big", "000006 04 00 00000000 0005 01000000",
     "SETTINGS_MAX_FRAME_SIZE outside 2^14..2^24-1", 1, -1, 0},
    {"settings frame ok", "000006 04 00 00000000 0005 00ffffff", NULL, 1, -1, 0},
    {"settings unknown id", "000006 04 00 00000000 00ff ffffffff", NULL, 1, -1, 0},
    /* PUSH_PROMISE 6.6 */
    {"push", "000005 05 04 00000001 00000002 88", NULL, 1, 4, 1},
    {"push padded", "000007 05 0c 00000001 01 00000002 88 00", NULL, 1, 5, 1},
    {"push short", "000003 05 04 00000001 000000", "PUSH_PROMISE too short", 0, -1, 0},
    {"push pad long", "000007 05 0c 00000001 03 00000002 88 00", "padding longer than the payload", 1, -1,
     0},
    {"push stream 0", "000005 05 04 00000000 00000002 88", "stream frame on stream 0", 0, 4, 1},
    /* PING 6.7 */
    {"ping", "000008 06 00 00000000 0102030405060708", NULL, 1, 0, 8},
    {"ping ack", "000008 06 01 00000000 0102030405060708", NULL, 1, 0, 8},
    {"ping len 7", "000007 06 00 00000000 01020304050607", "PING length is not 8", 0, 0, 7},
    {"ping stream 3", "000008 06 00 00000003 0102030405060708", "connection frame on a non-zero stream", 0,
     0, 8},
    /* GOAWAY 6.8 */
    {"goaway", "00000a 07 00 00000000 00000003 0000000b 6869", NULL, 1, 8, 2},
    {"goaway short", "000007 07 00 00000000 00000003 000000", "GOAWAY shorter than 8", 0, -1, 0},
    {"goaway stream", "000008 07 00 00000001 00000003 00000000", "connection frame on a non-zero stream",
     0, 8, 0},
    /* WINDOW_UPDATE 6.9 */
    {"window conn", "000004 08 00 00000000 0000ffff", NULL, 1, -1, 0},
    {"window stream", "000004 08 00 00000001 8000ffff", NULL, 1, -1, 0},
    {"window zero", "000004 08 00 00000000 00000000", "WINDOW_UPDATE increment of 0", 1, -1, 0},
    {"window len 3", "000003 08 00 00000000 000001", "WINDOW_UPDATE length is not 4", 0, -1, 0},
    {"window len 5", "000005 08 00 00000000 0000000100", "WINDOW_UPDATE length is not 4", 0, -1, 0},
    {"window reserved only", "000004 08 00 00000001 80000000", "WINDOW_UPDATE increment of 0", 1, -1,
     0},
    {"ping len 9", "000009 06 00 00000000 010203040506070809", "PING length is not 8", 0, 0, 9},
    /* CONTINUATION 6.10 */
    {"continuation", "000002 09 04 00000001 8286", NULL, 1, 0, 2},
    {"continuation stream 0", "000002 09 00 00000000 8286", "stream frame on stream 0", 0, 0, 2},
    {"continuation bad flag", "000002 09 01 00000001 8286", NULL, 0, 0, 2},
    /* unknown types are kept (RFC 9113 5.5) */
    {"unknown", "000003 0a 00 00000000 616263", NULL, 0, 0, 3},
    {"unknown ff", "000000 ff ff 00000007", NULL, 0, 0, 0},
};

static void test_vectors(void)
{
    for (size_t i = 0; i < sizeof vecs / sizeof vecs[0]; i++) {
        const vec *v = &vecs[i];
        uint8_t buf[256];
        size_t n = gw_test_unhex(v->hex, buf, sizeof buf);
        h2_frame f;
        GW_CHECK_INT(h2_frame_hdr_parse(buf, n, &f), 9);
        GW_CHECK_INT(f.length, n - 9);
        GW_CHECK_INT(h2_frame_payload_parse(&f, buf + 9), 0);
        if (v->anomaly)
            GW_CHECK_STR(f.anomaly, v->anomaly);
        else if (f.anomaly)
            GW_CHECK_STR(f.anomaly, "(none)");
        if (v->data_off < 0) {
            GW_CHECK(f.data == NULL);
        } else {
            GW_CHECK(f.data == buf + 9 + v->data_off);
            GW_CHECK_INT(f.data_len, v->data_len);
        }
        int pl = h2_frame_plausible(buf, n, 16384, -1);
        if (pl != v->plausible)
            fprintf(stderr, "vector %s: plausible %d\n", v->name, pl);
        GW_CHECK_INT(pl, v->plausible);
        if (f.anomaly == NULL && pl == 0 && f.type <= 9 && !strstr(v->name, "flag"))
            fprintf(stderr, "vector %s: valid but implausible\n", v->name);
    }
}

static h2_frame parse1(const char *hex, uint8_t *buf)
{
    h2_frame f;
    size_t n = gw_test_unhex(hex, buf, 256);
    h2_frame_hdr_parse(buf, n, &f);
    h2_frame_payload_parse(&f, buf + 9);
    return f;
}

static void test_fields(void)
{
    uint8_t b[256];
    h2_frame f = parse1("000009 01 2d 80000003 02 80000001 ff 88 0000", b);
    GW_CHECK_INT(f.reserved, 1);
    GW_CHECK_INT(f.stream_id, 3);
    GW_CHECK_INT(f.flags, 0x2d);
    GW_CHECK_INT(f.pad_len, 2);
    GW_CHECK_INT(f.has_priority, 1);
    GW_CHECK_INT(f.exclusive, 1);
    GW_CHECK_INT(f.dep_stream, 1);
    GW_CHECK_INT(f.weight, 256);
    GW_CHECK(f.anomaly == NULL);

    f = parse1("000005 02 00 00000005 00000003 0f", b);
    GW_CHECK_INT(f.has_priority, 1);
    GW_CHECK_INT(f.exclusive, 0);
    GW_CHECK_INT(f.dep_stream, 3);
    GW_CHECK_INT(f.weight, 16);

    f = parse1("000004 03 00 00000001 00000008", b);
    GW_CHECK_INT(f.error_code, 8);
    GW_CHECK_STR(h2_error_name(f.error_code), "CANCEL");

    f = parse1("000012 04 00 00000000 0001 00001000 0004 7fffffff 0003 00000064", b);
    GW_CHECK_INT(f.nsettings, 3);
    uint16_t id;
    uint32_t val;
    h2_frame_setting(&f, 0, &id, &val);
    GW_CHECK_INT(id, 1);
    GW_CHECK_INT(val, 4096);
    h2_frame_setting(&f, 1, &id, &val);
    GW_CHECK_INT(id, H2_SETTINGS_INITIAL_WINDOW_SIZE);
    GW_CHECK_INT(val, 0x7fffffff);
    h2_frame_setting(&f, 2, &id, &val);
    GW_CHECK_INT(id, 3);
    GW_CHECK_INT(val, 100);
    h2_frame_setting(&f, 3, &id, &val); /* out of range */
    GW_CHECK_INT(id, 0);
    GW_CHECK_INT(val, 0);

    f = parse1("000006 04 01 00000000 000100001000", b); /* ACK carries no settings */
    GW_CHECK_INT(f.nsettings, 0);
    f = parse1("000007 04 00 00000000 00010000100000", b); /* whole entries still readable */
    GW_CHECK_INT(f.nsettings, 1);

    f = parse1("000005 05 04 00000001 80000002 88", b);
    GW_CHECK_INT(f.promised_id, 2);

    f = parse1("00000a 07 00 00000000 80000003 0000000b 6869", b);
    GW_CHECK_INT(f.last_stream_id, 3);
    GW_CHECK_INT(f.error_code, 11);
    GW_CHECK_STR(h2_error_name(f.error_code), "ENHANCE_YOUR_CALM");
    GW_CHECK_MEM(f.data, f.data_len, "hi", 2);

    f = parse1("000004 08 00 00000001 8000ffff", b);
    GW_CHECK_INT(f.window_increment, 65535);

    f = parse1("000003 0a 00 00000000 616263", b);
    GW_CHECK_INT(f.type, 10);
    GW_CHECK_STR(h2_frame_type_name(f.type), "UNKNOWN");

    GW_CHECK_INT(h2_frame_hdr_parse(b, 8, &f), GW_INCOMPLETE);
    GW_CHECK_INT(h2_frame_plausible(b, 8, 16384, -1), GW_INCOMPLETE);
}

/* Frames carried by packets 12 and 15 of the seed. */
#define SEED12_HEADERS                                                                         \
    "838645956272d141fc1eca245f15852a4b631b87eb1968a0ff418ba0e41d139d09b8d800d87f5f8b1d75d0620d" \
    "263d4c4d65647a8a9acac8b4c7602bb8cae040027465864d833505b11f40899acac8b24d494f6a7f857df7c4d8" \
    "2d"
static const char seed12[] = "000000 04 01 00000000"
                             "00005b 01 04 00000001" SEED12_HEADERS
                             "00000c 00 01 00000001 00 00000007 0a05776f726c64";
static const char seed15[] = "00000e 01 04 00000001 885f8b1d75d0620d263d4c4d6564"
                             "000012 00 00 00000001 00 0000000d 0a0b48656c6c6f20776f726c64"
                             "000018 01 05 00000001 40889acac8b21234da8f013040899acac8b5254207317f00";

typedef struct want {
    uint8_t type, flags;
    uint32_t stream, len;
} want;

static void walk(const char *hex, size_t total, const want *w, size_t nw, int sender_is_client)
{
    uint8_t buf[512];
    size_t n = gw_test_unhex(hex, buf, sizeof buf);
    GW_CHECK_INT(n, total);
    size_t pos = 0, i = 0;
    while (pos < n && i < nw) {
        h2_frame f;
        GW_CHECK_INT(h2_frame_plausible(buf + pos, n - pos, 16384, sender_is_client), 1);
        GW_CHECK_INT(h2_frame_hdr_parse(buf + pos, n - pos, &f), 9);
        GW_CHECK_INT(f.type, w[i].type);
        GW_CHECK_INT(f.flags, w[i].flags);
        GW_CHECK_INT(f.stream_id, w[i].stream);
        GW_CHECK_INT(f.length, w[i].len);
        GW_CHECK(pos + 9 + f.length <= n);
        h2_frame_payload_parse(&f, buf + pos + 9);
        GW_CHECK(f.anomaly == NULL);
        if (f.type == H2_FRAME_HEADERS)
            GW_CHECK_INT(f.data_len, f.length);
        if (f.type == H2_FRAME_DATA) {
            GW_CHECK_INT(f.data_len, f.length);
            GW_CHECK_INT(f.data[0], 0); /* gRPC message not compressed */
        }
        pos += 9 + f.length;
        i++;
    }
    GW_CHECK_INT(pos, n);
    GW_CHECK_INT(i, nw);
}

static void test_seed(void)
{
    const want w12[] = {{4, 1, 0, 0}, {1, 4, 1, 91}, {0, 1, 1, 12}};
    const want w15[] = {{1, 4, 1, 14}, {0, 0, 1, 18}, {1, 5, 1, 24}};
    walk(seed12, 130, w12, 3, 1);
    walk(seed15, 83, w15, 3, 0);
    uint8_t b[512];
    size_t n = gw_test_unhex(seed12, b, sizeof b);
    h2_frame f;
    h2_frame_hdr_parse(b + 9, n - 9, &f);
    h2_frame_payload_parse(&f, b + 18);
    uint8_t blk[91];
    GW_CHECK_INT(gw_test_unhex(SEED12_HEADERS, blk, sizeof blk), 91);
    GW_CHECK_MEM(f.data, f.data_len, blk, 91);
    /* A HEADERS on an even stream is not a client's (RFC 9113 5.1.1); a server may send it. */
    uint8_t even[9];
    gw_test_unhex("000001 01 04 00000002", even, 9);
    GW_CHECK_INT(h2_frame_plausible(even, 9, 16384, 1), 0);
    GW_CHECK_INT(h2_frame_plausible(even, 9, 16384, 0), 1);
    GW_CHECK_INT(h2_frame_plausible(even, 9, 16384, -1), 1);
    GW_CHECK_INT(h2_frame_plausible(b + 9, n - 9, 90, -1), 0); /* over max_frame */
    GW_CHECK_INT(h2_frame_plausible(b + 9, n - 9, 91, -1), 1);
    /* The preface is not a frame header. */
    GW_CHECK_INT(h2_frame_plausible((const uint8_t *)H2_PREFACE, H2_PREFACE_LEN, 1u << 24, -1), 0);
    GW_CHECK_INT(h2_frame_plausible((const uint8_t *)"GET / HTTP/1.1\r\n", 16, 1u << 24, -1), 0);
}

static void test_names(void)
{
    const char *types[] = {"DATA", "HEADERS", "PRIORITY", "RST_STREAM", "SETTINGS", "PUSH_PROMISE",
                           "PING", "GOAWAY", "WINDOW_UPDATE", "CONTINUATION"};
    for (unsigned i = 0; i < 10; i++)
        GW_CHECK_STR(h2_frame_type_name(i), types[i]);
    GW_CHECK_STR(h2_frame_type_name(10), "UNKNOWN");
    const char *errs[] = {"NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR",
                          "SETTINGS_TIMEOUT", "STREAM_CLOSED", "FRAME_SIZE_ERROR", "REFUSED_STREAM",
                          "CANCEL", "COMPRESSION_ERROR", "CONNECT_ERROR", "ENHANCE_YOUR_CALM",
                          "INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED"};
    for (uint32_t i = 0; i < 14; i++)
        GW_CHECK_STR(h2_error_name(i), errs[i]);
    GW_CHECK_STR(h2_error_name(14), "UNKNOWN");
    GW_CHECK_STR(h2_error_name(0xffffffffu), "UNKNOWN");
    GW_CHECK_STR(h2_settings_name(1), "SETTINGS_HEADER_TABLE_SIZE");
    GW_CHECK_STR(h2_settings_name(2), "SETTINGS_ENABLE_PUSH");
    GW_CHECK_STR(h2_settings_name(3), "SETTINGS_MAX_CONCURRENT_STREAMS");
    GW_CHECK_STR(h2_settings_name(4), "SETTINGS_INITIAL_WINDOW_SIZE");
    GW_CHECK_STR(h2_settings_name(5), "SETTINGS_MAX_FRAME_SIZE");
    GW_CHECK_STR(h2_settings_name(6), "SETTINGS_MAX_HEADER_LIST_SIZE");
    GW_CHECK_STR(h2_settings_name(8), "SETTINGS_ENABLE_CONNECT_PROTOCOL");
    GW_CHECK_STR(h2_settings_name(0), "UNKNOWN");
    GW_CHECK_STR(h2_settings_name(7), "UNKNOWN");
}

/* Random headers: payload views stay inside the frame, and plausible frames of the fixed-layout
 * types parse without anomaly. */
static void test_random(void)
{
    srand(12345);
    uint8_t b[64];
    for (int i = 0; i < 20000; i++) {
        size_t n = (size_t)(rand() % 40);
        for (size_t j = 0; j < n; j++)
            b[j] = (uint8_t)rand();
        if (n >= 9) { /* keep length within the buffer */
            b[0] = b[1] = 0;
            b[2] = (uint8_t)(n - 9);
            b[3] = (uint8_t)(b[3] % 12);
        }
        h2_frame f;
        if (h2_frame_hdr_parse(b, n, &f) == 9) {
            h2_frame_payload_parse(&f, b + 9);
            GW_CHECK(f.data == NULL || (f.data >= b + 9 && f.data + f.data_len <= b + n));
            /* plausible frames of these types cannot carry a payload anomaly */
            if (h2_frame_plausible(b, n, 16384, -1) == 1 &&
                (f.type == H2_FRAME_RST_STREAM || f.type == H2_FRAME_PING ||
                 f.type == H2_FRAME_GOAWAY || f.type == H2_FRAME_CONTINUATION))
                GW_CHECK(f.anomaly == NULL);
        } else {
            GW_CHECK(n < 9);
        }
    }
}

static int same_frame(const h2_frame *a, const h2_frame *b)
{
    return a->length == b->length && a->type == b->type && a->flags == b->flags &&
           a->reserved == b->reserved && a->stream_id == b->stream_id && a->payload == b->payload &&
           a->pad_len == b->pad_len && a->data == b->data && a->data_len == b->data_len &&
           a->has_priority == b->has_priority && a->exclusive == b->exclusive &&
           a->dep_stream == b->dep_stream && a->weight == b->weight &&
           a->error_code == b->error_code && a->promised_id == b->promised_id &&
           a->last_stream_id == b->last_stream_id && a->window_increment == b->window_increment &&
           a->nsettings == b->nsettings && a->anomaly == b->anomaly;
}

/* h2_conn reads envelopes with h2_frame_envelope into a record it does not clear, then parses the
 * payload: that must give exactly what hdr_parse (which clears) and payload_parse give, for every
 * vector and for random headers of every type and flag combination. */
static void test_envelope(void)
{
    srand(777);
    uint8_t b[64];
    for (int i = 0; i < 20000 + (int)(sizeof vecs / sizeof vecs[0]); i++) {
        size_t n;
        if (i < (int)(sizeof vecs / sizeof vecs[0])) {
            n = gw_test_unhex(vecs[i].hex, b, sizeof b);
        } else {
            n = 9 + (size_t)(rand() % 40);
            for (size_t j = 0; j < n; j++)
                b[j] = (uint8_t)rand();
            b[0] = b[1] = 0;
            b[2] = (uint8_t)(n - 9);
            b[3] = (uint8_t)(b[3] % 12);
            if (rand() % 4 == 0)
                b[5] = b[6] = b[7] = b[8] = 0; /* stream 0 often */
        }
        h2_frame clean, dirty;
        GW_CHECK_INT(h2_frame_hdr_parse(b, n, &clean), 9);
        h2_frame_payload_parse(&clean, b + 9);
        memset(&dirty, 0xa5, sizeof dirty);
        h2_frame_envelope(b, &dirty);
        GW_CHECK_INT(dirty.length, clean.length);
        GW_CHECK_INT(dirty.stream_id, clean.stream_id);
        GW_CHECK_INT(dirty.reserved, clean.reserved);
        h2_frame_payload_parse(&dirty, b + 9);
        if (!same_frame(&clean, &dirty)) {
            GW_CHECK(same_frame(&clean, &dirty));
            break;
        }
    }
}

/* The well-formed WINDOW_UPDATE and PING take a shortcut: the same fields as the general path
 * would set, every typed field included. */
static void test_chatter(void)
{
    const struct {
        const char *hex;
        uint32_t inc;
    } w[] = {{"000004 08 00 00000000 0000ffff", 0xffff},
             {"000004 08 00 00000005 ffffffff", 0x7fffffff},
             {"000004 08 00 00000000 80000001", 1},
             {"000008 06 01 00000000 0102030405060708", 0}};
    for (size_t i = 0; i < sizeof w / sizeof w[0]; i++) {
        uint8_t buf[256];
        h2_frame f = parse1(w[i].hex, buf);
        GW_CHECK(f.anomaly == NULL);
        GW_CHECK_INT(f.window_increment, w[i].inc);
        GW_CHECK(f.payload == buf + 9);
        GW_CHECK_INT(f.pad_len, 0);
        GW_CHECK_INT(f.has_priority, 0);
        GW_CHECK_INT(f.error_code, 0);
        GW_CHECK_INT(f.nsettings, 0);
        GW_CHECK_INT(f.last_stream_id, 0);
        if (f.type == H2_FRAME_PING) {
            GW_CHECK(f.data == buf + 9);
            GW_CHECK_INT(f.data_len, 8);
        } else {
            GW_CHECK(f.data == NULL);
            GW_CHECK_INT(f.data_len, 0);
        }
    }
}

int main(void)
{
    test_chatter();
    test_vectors();
    test_fields();
    test_seed();
    test_names();
    test_random();
    test_envelope();
    GW_TEST_END();
}
