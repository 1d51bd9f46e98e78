/* Tests for the HPACK decoder: RFC 7541 Appendix C, the seed's grpc-go blocks, mid-capture
 * decoding, malformed input, Huffman edge cases, allocation failures. */
#include "hpack_test.h"


typedef struct want {
    const char *name, *value;
    int rep;
    uint32_t index;
} want;

static void check_fields(const got *g, const want *w, int nw, int line)
{
    if (g->n != nw)
        fprintf(stderr, "line %d: %d fields, expected %d\n", line, g->n, nw);
    GW_CHECK_INT(g->n, nw);
    for (int i = 0; i < nw && i < g->n; i++) {
        GW_CHECK_STR(g->v[i].name, w[i].name);
        GW_CHECK_STR(g->v[i].value, w[i].value);
        GW_CHECK_INT(g->v[i].name_len, strlen(w[i].name));
        GW_CHECK_INT(g->v[i].value_len, strlen(w[i].value));
        if (w[i].rep) {
            GW_CHECK_INT(g->v[i].f.rep, w[i].rep);
            GW_CHECK_INT(g->v[i].f.index, w[i].index);
        }
        GW_CHECK_INT(g->v[i].f.unknown_name, 0);
        GW_CHECK_INT(g->v[i].f.unknown_value, 0);
    }
}

/* Expected table, newest first, and size. */
static void check_table(const hpack_decoder *d, const want *w, int nw, size_t size)
{
    const hpack_dyn *t = hpack_decoder_table(d);
    GW_CHECK_INT(t->count, nw);
    GW_CHECK_INT(t->size, size);
    for (int i = 0; i < nw && (size_t)i < t->count; i++) {
        const hpack_entry *e = hpack_dyn_get(t, (size_t)i + 1);
        GW_CHECK_STR(e->name, w[i].name);
        GW_CHECK_STR(e->value, w[i].value);
    }
}

#define NW(a) (int)(sizeof(a) / sizeof((a)[0]))

/* ---- C.1 integers ---- */


static void test_c1_integers(void)
{
    uint8_t b[16];
    uint8_t want1[] = {0x0a}, want2[] = {0x1f, 0x9a, 0x0a}, want3[] = {0x2a};
    size_t n = enc_int(b, 0, 5, 10); /* C.1.1 */
    GW_CHECK_MEM(b, n, want1, sizeof want1);
    n = enc_int(b, 0, 5, 1337); /* C.1.2 */
    GW_CHECK_MEM(b, n, want2, sizeof want2);
    n = enc_int(b, 0, 8, 42); /* C.1.3 */
    GW_CHECK_MEM(b, n, want3, sizeof want3);

    /* The same 5-bit integers through the decoder, as size updates (001 prefix). */
    hpack_decoder *d = hpack_decoder_new(NULL, 1);
    got g;
    const char *why;
    GW_CHECK_INT(dec_hex(d, "2a", &g, &why), 0);
    GW_CHECK_INT(hpack_decoder_table(d)->max, 10);
    GW_CHECK_INT(dec_hex(d, "3f9a0a", &g, &why), 0);
    GW_CHECK_INT(hpack_decoder_table(d)->max, 1337);
    GW_CHECK_INT(g.n, 0);
    /* Boundaries of the 7-bit index prefix: 126 fits, 127 needs a continuation octet. */
    hpack_decoder_del(d);
    d = hpack_decoder_new(NULL, 1);
    /* Insert 66 entries so that indexes 62..127 exist. */
    for (int i = 0; i < 66; i++) {
        char h[64];
        snprintf(h, sizeof h, "4001%02x0176", 'a' + i % 26);
        GW_CHECK_INT(dec_hex(d, h, &g, &why), 0);
    }
    GW_CHECK_INT(dec_hex(d, "fe", &g, &why), 0); /* index 126 */
    GW_CHECK_INT(g.v[0].f.index, 126);
    GW_CHECK_INT(dec_hex(d, "ff00", &g, &why), 0); /* index 127 */
    GW_CHECK_INT(g.v[0].f.index, 127);
    GW_CHECK_INT(dec_hex(d, "ff80808000", &g, &why), 0); /* redundant zero continuations */
    GW_CHECK_INT(g.v[0].f.index, 127);
    hpack_decoder_del(d);
}

/* ---- C.2 ---- */

static void test_c2(void)
{
    got g;
    const char *why;
    hpack_decoder *d = hpack_decoder_new(NULL, 1);
    /* C.2.1 Literal Header Field with Indexing */
    GW_CHECK_INT(dec_hex(d, "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572",
                         &g, &why), 0);
    want w1[] = {{"custom-key", "custom-header", HPACK_INC_NEW_NAME, 0}};
    check_fields(&g, w1, NW(w1), __LINE__);
    GW_CHECK_INT(g.v[0].f.name_wire, 10);
    GW_CHECK_INT(g.v[0].f.value_wire, 13);
    GW_CHECK_INT(g.v[0].f.name_huff, 0);
    check_table(d, w1, 1, 55);
    hpack_decoder_del(d);

    /* C.2.2 Literal Header Field without Indexing */
    d = hpack_decoder_new(NULL, 1);
    GW_CHECK_INT(dec_hex(d, "040c 2f73 616d 706c 652f 7061 7468", &g, &why), 0);
    want w2[] = {{":path", "/sample/path", HPACK_NOIDX_INDEXED_NAME, 4}};
    check_fields(&g, w2, NW(w2), __LINE__);
    GW_CHECK_INT(g.v[0].f.name_wire, 0);
    GW_CHECK_INT(g.v[0].f.value_wire, 12);
    check_table(d, NULL, 0, 0);
    hpack_decoder_del(d);

    /* C.2.3 Literal Header Field Never Indexed */
    d = hpack_decoder_new(NULL, 1);
    GW_CHECK_INT(dec_hex(d, "1008 7061 7373 776f 7264 0673 6563 7265 74", &g, &why), 0);
    want w3[] = {{"password", "secret", HPACK_NEVER_NEW_NAME, 0}};
    check_fields(&g, w3, NW(w3), __LINE__);
    check_table(d, NULL, 0, 0);
    hpack_decoder_del(d);

    /* C.2.4 Indexed Header Field */
    d = hpack_decoder_new(NULL, 1);
    GW_CHECK_INT(dec_hex(d, "82", &g, &why), 0);
    want w4[] = {{":method", "GET", HPACK_INDEXED, 2}};
    check_fields(&g, w4, NW(w4), __LINE__);
    check_table(d, NULL, 0, 0);
    hpack_decoder_del(d);
}

/* ---- C.3 / C.4 requests ---- */

static void request_sequence(const char *b1, const char *b2, const char *b3, int huff)
{
    got g;
    const char *why;
    hpack_decoder *d = hpack_decoder_new(NULL, 1);
    want r1[] = {{":method", "GET", HPACK_INDEXED, 2},
                 {":scheme", "http", HPACK_INDEXED, 6},
                 {":path", "/", HPACK_INDEXED, 4},
                 {":authority", "www.example.com", HPACK_INC_INDEXED_NAME, 1}};
    want t1[] = {{":authority", "www.example.com", 0, 0}};
    GW_CHECK_INT(dec_hex(d, b1, &g, &why), 0);
    check_fields(&g, r1, NW(r1), __LINE__);
    GW_CHECK_INT(g.v[3].f.value_huff, huff);
    GW_CHECK_INT(g.v[3].f.value_wire, huff ? 12 : 15);
    check_table(d, t1, NW(t1), 57);

    want r2[] = {{":method", "GET", HPACK_INDEXED, 2},
                 {":scheme", "http", HPACK_INDEXED, 6},
                 {":path", "/", HPACK_INDEXED, 4},
                 {":authority", "www.example.com", HPACK_INDEXED, 62},
                 {"cache-control", "no-cache", HPACK_INC_INDEXED_NAME, 24}};
    want t2[] = {{"cache-control", "no-cache", 0, 0}, {":authority", "www.example.com", 0, 0}};
    GW_CHECK_INT(dec_hex(d, b2, &g, &why), 0);
    check_fields(&g, r2, NW(r2), __LINE__);
    check_table(d, t2, NW(t2), 110);

    want r3[] = {{":method", "GET", HPACK_INDEXED, 2},
                 {":scheme", "https", HPACK_INDEXED, 7},
                 {":path", "/index.html", HPACK_INDEXED, 5},
                 {":authority", "www.example.com", HPACK_INDEXED, 63},
                 {"custom-key", "custom-value", HPACK_INC_NEW_NAME, 0}};
    want t3[] = {{"custom-key", "custom-value", 0, 0},
                 {"cache-control", "no-cache", 0, 0},
                 {":authority", "www.example.com", 0, 0}};
    GW_CHECK_INT(dec_hex(d, b3, &g, &why), 0);
    check_fields(&g, r3, NW(r3), __LINE__);
    GW_CHECK_INT(g.v[4].f.name_huff, huff);
    GW_CHECK_INT(g.v[4].f.value_huff, huff);
    GW_CHECK_INT(g.v[4].f.name_wire, huff ? 8 : 10);
    GW_CHECK_INT(g.v[4].f.value_wire, huff ? 9 : 12);
    check_table(d, t3, NW(t3), 164);
    GW_CHECK_INT(hpack_decoder_synced(d), 1);
    hpack_decoder_del(d);
}

static void test_c3_c4(void)
{
    request_sequence("8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
                     "8286 84be 5808 6e6f 2d63 6163 6865",
                     "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
                     0);
    request_sequence("8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
                     "8286 84be 5886 a8eb 1064 9cbf",
                     "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf", 1);
}

/* ---- C.5 / C.6 responses, table size 256 ---- */

static void response_sequence(const char *b1, const char *b2, const char *b3)
{
    got g;
    const char *why;
    hpack_opts o;
    hpack_opts_default(&o);
    o.max_table_size = 256;
    hpack_decoder *d = hpack_decoder_new(&o, 1);
    const char *date1 = "Mon, 21 Oct 2013 20:13:21 GMT", *loc = "https://www.example.com";
    want r1[] = {{":status", "302", HPACK_INC_INDEXED_NAME, 8},
                 {"cache-control", "private", HPACK_INC_INDEXED_NAME, 24},
                 {"date", date1, HPACK_INC_INDEXED_NAME, 33},
                 {"location", loc, HPACK_INC_INDEXED_NAME, 46}};
    want t1[] = {{"location", loc, 0, 0},
                 {"date", date1, 0, 0},
                 {"cache-control", "private", 0, 0},
                 {":status", "302", 0, 0}};
    GW_CHECK_INT(dec_hex(d, b1, &g, &why), 0);
    check_fields(&g, r1, NW(r1), __LINE__);
    check_table(d, t1, NW(t1), 222);

    want r2[] = {{":status", "307", HPACK_INC_INDEXED_NAME, 8},
                 {"cache-control", "private", HPACK_INDEXED, 65},
                 {"date", date1, HPACK_INDEXED, 64},
                 {"location", loc, HPACK_INDEXED, 63}};
    want t2[] = {{":status", "307", 0, 0},
                 {"location", loc, 0, 0},
                 {"date", date1, 0, 0},
                 {"cache-control", "private", 0, 0}};
    GW_CHECK_INT(dec_hex(d, b2, &g, &why), 0);
    check_fields(&g, r2, NW(r2), __LINE__);
    check_table(d, t2, NW(t2), 222);

    const char *date2 = "Mon, 21 Oct 2013 20:13:22 GMT";
    const char *cookie = "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1";
    want r3[] = {{":status", "200", HPACK_INDEXED, 8},
                 {"cache-control", "private", HPACK_INDEXED, 65},
                 {"date", date2, HPACK_INC_INDEXED_NAME, 33},
                 {"location", loc, HPACK_INDEXED, 64},
                 {"content-encoding", "gzip", HPACK_INC_INDEXED_NAME, 26},
                 {"set-cookie", cookie, HPACK_INC_INDEXED_NAME, 55}};
    want t3[] = {{"set-cookie", cookie, 0, 0}, {"content-encoding", "gzip", 0, 0}, {"date", date2, 0, 0}};
    GW_CHECK_INT(dec_hex(d, b3, &g, &why), 0);
    check_fields(&g, r3, NW(r3), __LINE__);
    check_table(d, t3, NW(t3), 215);
    hpack_decoder_del(d);
}

static void test_c5_c6(void)
{
    response_sequence("4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133"
                      "2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70"
                      "6c65 2e63 6f6d",
                      "4803 3330 37c1 c0bf",
                      "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d"
                      "54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049"
                      "5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e"
                      "3d31");
    response_sequence("4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6"
                      "2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
                      "4883 640e ffc1 c0bf",
                      "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab"
                      "77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f"
                      "9587 3160 65c0 03ed 4ee5 b106 3d50 07");
}

/* ---- the seed: grpc-go helloworld, frames 12 and 15 ---- */

static const char *seed_req =
    "838645956272d141fc1eca245f15852a4b631b87eb1968a0ff418ba0e41d139d09b8d800d87f5f8b1d75d0620d"
    "263d4c4d65647a8a9acac8b4c7602bb8cae040027465864d833505b11f40899acac8b24d494f6a7f857df7c4d8"
    "2d";
static const char *seed_resp1 = "885f8b1d75d0620d263d4c4d6564";
static const char *seed_resp2 = "40889acac8b21234da8f013040899acac8b5254207317f00";

static void test_seed(void)
{
    want req[] = {{":method", "POST", HPACK_INDEXED, 3},
                  {":scheme", "http", HPACK_INDEXED, 6},
                  {":path", "/helloworld.Greeter/SayHello", HPACK_INC_INDEXED_NAME, 5},
                  {":authority", "localhost:50051", HPACK_INC_INDEXED_NAME, 1},
                  {"content-type", "application/grpc", HPACK_INC_INDEXED_NAME, 31},
                  {"user-agent", "grpc-go/1.63.0", HPACK_INC_INDEXED_NAME, 58},
                  {"te", "trailers", HPACK_INC_NEW_NAME, 0},
                  {"grpc-timeout", "999250u", HPACK_INC_NEW_NAME, 0}};
    for (int synced = 1; synced >= 0; synced--) {
        got g;
        const char *why;
        hpack_decoder *d = hpack_decoder_new(NULL, synced);
        GW_CHECK_INT(hpack_decoder_synced(d), synced);
        GW_CHECK_INT(dec_hex(d, seed_req, &g, &why), 0);
        check_fields(&g, req, NW(req), __LINE__);
        /* Wire details as Wireshark shows them (all literals Huffman coded here). */
        GW_CHECK_INT(g.v[2].f.value_huff, 1);
        GW_CHECK_INT(g.v[2].f.value_wire, 21);
        GW_CHECK_INT(g.v[6].f.name_huff, 0);
        GW_CHECK_INT(g.v[6].f.name_wire, 2);
        GW_CHECK_INT(g.v[6].f.value_huff, 1);
        GW_CHECK_INT(g.v[6].f.value_wire, 6);
        GW_CHECK_INT(g.v[7].f.name_huff, 1);
        GW_CHECK_INT(g.v[7].f.name_wire, 9);
        GW_CHECK_INT(g.v[7].f.value_wire, 5);
        GW_CHECK_INT(hpack_decoder_table(d)->count, 6);
        GW_CHECK_INT(hpack_decoder_synced(d), synced);
        hpack_decoder_del(d);

        /* The server's direction: HEADERS then trailers on one decoder. */
        d = hpack_decoder_new(NULL, synced);
        want r1[] = {{":status", "200", HPACK_INDEXED, 8},
                     {"content-type", "application/grpc", HPACK_INC_INDEXED_NAME, 31}};
        GW_CHECK_INT(dec_hex(d, seed_resp1, &g, &why), 0);
        check_fields(&g, r1, NW(r1), __LINE__);
        want r2[] = {{"grpc-status", "0", HPACK_INC_NEW_NAME, 0},
                     {"grpc-message", "", HPACK_INC_NEW_NAME, 0}};
        GW_CHECK_INT(dec_hex(d, seed_resp2, &g, &why), 0);
        check_fields(&g, r2, NW(r2), __LINE__);
        GW_CHECK_INT(g.v[1].f.value_wire, 0);
        GW_CHECK_INT(g.v[1].f.value_huff, 0);
        want t[] = {{"grpc-message", "", 0, 0},
                    {"grpc-status", "0", 0, 0},
                    {"content-type", "application/grpc", 0, 0}};
        check_table(d, t, NW(t), 32 + 12 + 32 + 12 + 32 + 28);
        hpack_decoder_del(d);
    }
}

/* ---- mid-capture ---- */

static void test_midcapture(void)
{
    got g;
    const char *why;
    hpack_decoder *d = hpack_decoder_new(NULL, 0);
    /* gRPC's second call on a connection: everything indexed from entries we never saw. */
    GW_CHECK_INT(dec_hex(d, "8386c5c4c3c2c1", &g, &why), 0);
    GW_CHECK_INT(g.n, 7);
    GW_CHECK_STR(g.v[0].name, ":method");
    GW_CHECK_INT(g.v[2].f.index, 69);
    GW_CHECK_INT(g.v[2].f.unknown_name, 1);
    GW_CHECK_INT(g.v[2].f.unknown_value, 1);
    GW_CHECK_INT(g.v[2].name_len, 0);
    GW_CHECK_INT(g.v[2].value_len, 0);
    GW_CHECK_INT(g.v[2].f.rep, HPACK_INDEXED);

    /* Literal with an unknown name, incremental: inserts an entry whose name is unknown. */
    GW_CHECK_INT(dec_hex(d, "7f0303616263", &g, &why), 0); /* name index 63+3 = 66 */
    GW_CHECK_INT(g.n, 1);
    GW_CHECK_INT(g.v[0].f.rep, HPACK_INC_INDEXED_NAME);
    GW_CHECK_INT(g.v[0].f.index, 66);
    GW_CHECK_INT(g.v[0].f.unknown_name, 1);
    GW_CHECK_INT(g.v[0].f.unknown_value, 0);
    GW_CHECK_STR(g.v[0].value, "abc");
    /* A new-name insert after it. */
    GW_CHECK_INT(dec_hex(d, "4001780179", &g, &why), 0);
    /* Now 62 = x:y, 63 = (unknown):abc, 64 = older unknown. */
    GW_CHECK_INT(dec_hex(d, "be bf c0 7f00 0178", &g, &why), 0);
    GW_CHECK_INT(g.n, 4);
    GW_CHECK_STR(g.v[0].name, "x");
    GW_CHECK_STR(g.v[0].value, "y");
    GW_CHECK_INT(g.v[0].f.unknown_name, 0);
    GW_CHECK_INT(g.v[1].f.unknown_name, 1);
    GW_CHECK_INT(g.v[1].f.unknown_value, 0);
    GW_CHECK_STR(g.v[1].value, "abc");
    GW_CHECK_INT(g.v[2].f.unknown_name, 1);
    GW_CHECK_INT(g.v[2].f.unknown_value, 1);
    /* 7f00 = inc indexing, name index 63: the unknown-name entry; value "x". Inserted again. */
    GW_CHECK_INT(g.v[3].f.index, 63);
    GW_CHECK_INT(g.v[3].f.unknown_name, 1);
    GW_CHECK_STR(g.v[3].value, "x");
    GW_CHECK_INT(hpack_decoder_table(d)->unknown_names, 2);
    GW_CHECK_INT(hpack_decoder_synced(d), 0);

    /* Re-sync by a size update to 0, then back to 4096. */
    GW_CHECK_INT(dec_hex(d, "20 3fe11f 82", &g, &why), 0);
    GW_CHECK_INT(hpack_decoder_synced(d), 1);
    GW_CHECK_INT(hpack_decoder_table(d)->count, 0);
    GW_CHECK_INT(hpack_decoder_table(d)->max, 4096);
    /* Now a dynamic index past the table is an error again. */
    GW_CHECK_INT(dec_hex(d, "be", &g, &why), GW_EPARSE);
    GW_CHECK_STR(why, "index beyond the table");
    GW_CHECK_INT(hpack_decoder_synced(d), 0); /* errors desync */
    hpack_decoder_del(d);

    /* Re-sync by filling the table: known entries leave no room for an older one. */
    d = hpack_decoder_new(NULL, 0);
    char hex[2048];
    /* Each entry: a 1-octet name, a 200-octet value, + 32 = 233; 17 of them = 3961, and
     * 3961 + 32 <= 4096: an older entry may still be there. */
    int i;
    for (i = 0; i < 17; i++) {
        int o = snprintf(hex, sizeof hex, "4001%02x7f49", 'a' + i);
        for (int k = 0; k < 200; k++)
            o += snprintf(hex + o, sizeof hex - (size_t)o, "76");
        GW_CHECK_INT(dec_hex(d, hex, &g, &why), 0);
        GW_CHECK_INT(hpack_decoder_synced(d), 0);
        GW_CHECK_INT(hpack_decoder_table(d)->count, (size_t)i + 1);
    }
    /* An unknown reference still reports unknown before the table is full. */
    GW_CHECK_INT(dec_hex(d, "ff10", &g, &why), 0); /* index 127+16 = 143 - 61 = 82 > 17 */
    GW_CHECK_INT(g.v[0].f.unknown_value, 1);
    /* Entry of 32 + 1 + 80 = 113: 3961 + 113 = 4074 <= 4096, + 32 > 4096: provably synced. */
    {
        int o = snprintf(hex, sizeof hex, "4001%02x50", 'z');
        for (int k = 0; k < 80; k++)
            o += snprintf(hex + o, sizeof hex - (size_t)o, "77");
        GW_CHECK_INT(dec_hex(d, hex, &g, &why), 0);
    }
    GW_CHECK_INT(hpack_decoder_table(d)->size, 4074);
    GW_CHECK_INT(hpack_decoder_synced(d), 1);
    GW_CHECK_INT(dec_hex(d, "ff10", &g, &why), GW_EPARSE);
    hpack_decoder_del(d);

    /* Eviction when unsynced: known entries go only when they alone exceed the maximum. */
    d = hpack_decoder_new(NULL, 0);
    for (i = 0; i < 18; i++) {
        int o = snprintf(hex, sizeof hex, "4001%02x7f49", 'a' + i);
        for (int k = 0; k < 200; k++)
            o += snprintf(hex + o, sizeof hex - (size_t)o, "76");
        GW_CHECK_INT(dec_hex(d, hex, &g, &why), 0);
    }
    /* 18 * 233 = 4194 > 4096: a known entry was evicted, so every older one went first. */
    GW_CHECK_INT(hpack_decoder_table(d)->count, 17);
    GW_CHECK_INT(hpack_decoder_synced(d), 1);
    hpack_decoder_del(d);

    /* desync() forgets everything known. */
    d = hpack_decoder_new(NULL, 1);
    GW_CHECK_INT(dec_hex(d, seed_req, &g, &why), 0);
    hpack_decoder_desync(d);
    GW_CHECK_INT(hpack_decoder_synced(d), 0);
    GW_CHECK_INT(hpack_decoder_table(d)->count, 0);
    GW_CHECK_INT(dec_hex(d, "be", &g, &why), 0);
    GW_CHECK_INT(g.v[0].f.unknown_name, 1);
    hpack_decoder_del(d);
}

/* ---- malformed ---- */

typedef struct bad_case {
    const char *hex;
    int err;
    const char *why;
    int fields; /* delivered before the damage */
} bad_case;

static void test_malformed(void)
{
    static const bad_case cases[] = {
        {"80", GW_EPARSE, "index 0", 0},
        {"8286 80", GW_EPARSE, "index 0", 2},
        {"be", GW_EPARSE, "index beyond the table", 0},
        {"7e0161", GW_EPARSE, "index beyond the table", 0}, /* literal name index 62 */
        {"ff", GW_EPARSE, "truncated integer", 0},
        {"ff80", GW_EPARSE, "truncated integer", 0},
        {"ff ffffffff0f", GW_EPARSE, "integer overflow", 0},
        {"ff 8080808080 00", GW_EPARSE, "integer overflow", 0}, /* 6 continuation octets */
        {"ff ffffffff7f", GW_EPARSE, "integer overflow", 0},
        {"40 7f ffffffff0f", GW_EPARSE, "integer overflow", 0},
        {"4005616263", GW_EPARSE, "truncated string", 0},
        {"400161", GW_EPARSE, "truncated integer", 0},
        {"40016101", GW_EPARSE, "truncated string", 0},
        {"04", GW_EPARSE, "truncated integer", 0},
        {"00", GW_EPARSE, "truncated integer", 0},
        /* Huffman: EOS (30 ones) inside the string. */
        {"0084ffffffff0161", GW_EPARSE, "Huffman string contains EOS", 0},
        /* padding of 8 one bits: 'a' (00011) + 111 then a whole 0xff. */
        {"0082 1fff 0161", GW_EPARSE, "bad Huffman padding", 0},
        /* padding not all ones: 'a' then 000. */
        {"0081 18 0161", GW_EPARSE, "bad Huffman padding", 0},
        /* a code cut short: first 8 bits of a 13-bit code. */
        {"0081 ff 0161", GW_EPARSE, "bad Huffman padding", 0},
        {"82 3f e11f", GW_EPARSE, "table size update after a field", 1},
        {"3fe21f", GW_EPARSE, "table size update over the limit", 0}, /* 4097 */
        {"20 3fe21f", GW_EPARSE, "table size update over the limit", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        got g;
        const char *why = NULL;
        hpack_decoder *d = hpack_decoder_new(NULL, 1);
        int rv = dec_hex(d, cases[i].hex, &g, &why);
        if (rv != cases[i].err || !why || strcmp(why, cases[i].why) != 0)
            fprintf(stderr, "case %zu (%s): rv %d why %s\n", i, cases[i].hex, rv,
                    why ? why : "(null)");
        GW_CHECK_INT(rv, cases[i].err);
        GW_CHECK_STR(why, cases[i].why);
        GW_CHECK_INT(g.n, cases[i].fields);
        GW_CHECK_INT(hpack_decoder_synced(d), 0);
        hpack_decoder_del(d);
    }

    /* Caps: string length and header list size. */
    hpack_opts o;
    hpack_opts_default(&o);
    o.max_string = 4;
    o.max_header_list = 2 * 32 + 7 + 4 + 7 + 4; /* exactly two ":method GET"-sized fields */
    got g;
    const char *why;
    hpack_decoder *d = hpack_decoder_new(&o, 1);
    GW_CHECK_INT(dec_hex(d, "000161 056162636465", &g, &why), GW_ECAP);
    GW_CHECK_STR(why, "string over the limit");
    hpack_decoder_del(d);
    d = hpack_decoder_new(&o, 1);
    /* Huffman within 4 wire octets but 6 decoded ("aaaaaa" = 30 bits = 4 octets). */
    {
        uint8_t in[6] = {'a', 'a', 'a', 'a', 'a', 'a'}, h[8];
        size_t hn = hpack_huff_encode(in, 6, h);
        GW_CHECK_INT(hn, 4);
        char hex[64];
        int off = snprintf(hex, sizeof hex, "000161%02x", 0x80 | (unsigned)hn);
        for (size_t k = 0; k < hn; k++)
            off += snprintf(hex + off, sizeof hex - (size_t)off, "%02x", h[k]);
        GW_CHECK_INT(dec_hex(d, hex, &g, &why), GW_ECAP);
        GW_CHECK_STR(why, "string over the limit");
    }
    hpack_decoder_del(d);
    d = hpack_decoder_new(&o, 1);
    GW_CHECK_INT(dec_hex(d, "8282", &g, &why), 0);
    GW_CHECK_INT(dec_hex(d, "828282", &g, &why), GW_ECAP);
    GW_CHECK_STR(why, "header list over the limit");
    GW_CHECK_INT(g.n, 2);
    hpack_decoder_del(d);
}

/* ---- every prefix of a valid block: an error or a consistent success ---- */

static void check_prefixes(const char *hex, size_t table_max)
{
    static uint8_t full[4096];
    size_t n = gw_test_unhex(hex, full, sizeof full);
    got all, g;
    hpack_opts o;
    hpack_opts_default(&o);
    o.max_table_size = table_max;
    hpack_decoder *d = hpack_decoder_new(&o, 1);
    memset(&all, 0, sizeof all);
    GW_CHECK_INT(hpack_decode_block(d, full, n, collect, &all, NULL), 0);
    hpack_decoder_del(d);
    for (size_t k = 0; k <= n; k++) {
        uint8_t *cut = malloc(k ? k : 1); /* exact size: ASan catches any over-read */
        memcpy(cut, full, k);
        d = hpack_decoder_new(&o, 1);
        memset(&g, 0, sizeof g);
        const char *why = NULL;
        int rv = hpack_decode_block(d, cut, k, collect, &g, &why);
        GW_CHECK(rv == 0 || (rv == GW_EPARSE && why));
        GW_CHECK(g.n <= all.n);
        for (int i = 0; i < g.n && i < all.n; i++) {
            GW_CHECK_INT(g.v[i].f.rep, all.v[i].f.rep);
            GW_CHECK_STR(g.v[i].name, all.v[i].name);
            /* The last field of a successful prefix may be a truncated raw value: no, a prefix
             * ending inside a string is a truncation error, so values match too. */
            GW_CHECK_STR(g.v[i].value, all.v[i].value);
        }
        hpack_decoder_del(d);
        free(cut);
    }
}

static void test_prefixes(void)
{
    check_prefixes(seed_req, 4096);
    check_prefixes(seed_resp2, 4096);
    check_prefixes("4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0"
                   "82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
                   256);
    check_prefixes("3fe11f 400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572 be"
                   "1008 7061 7373 776f 7264 0673 6563 7265 74",
                   4096);
}

typedef struct keep {
    const char *name[4], *value[4];
    int n;
} keep;

static int keepcb(void *u, const hpack_field *f)
{
    keep *k = u;
    if (k->n < 4) {
        k->name[k->n] = f->name;
        k->value[k->n] = f->value;
    }
    k->n++;
    return 0;
}

/* A callback that stops early, and the lifetime of the strings it is given. */
static void test_stop_and_lifetime(void)
{
    got g;
    const char *why;
    hpack_decoder *d = hpack_decoder_new(NULL, 1);
    size_t n = gw_test_unhex(seed_req, blk, sizeof blk);
    memset(&g, 0, sizeof g);
    g.stop_after = 2;
    GW_CHECK_INT(hpack_decode_block(d, blk, n, collect, &g, &why), 0);
    GW_CHECK_INT(g.n, 2);
    /* The rest of the block was still applied to the table. */
    GW_CHECK_INT(hpack_decoder_table(d)->count, 6);
    GW_CHECK_INT(hpack_decoder_synced(d), 1);
    hpack_decoder_del(d);

    /* Strings stay valid until the next call, even when the entry they came from is evicted
     * later in the same block. */
    hpack_opts o;
    hpack_opts_default(&o);
    o.max_table_size = 40; /* room for one small entry */
    d = hpack_decoder_new(&o, 1);
    n = gw_test_unhex("40 0161 0162 be 40 0163 0164 be", blk, sizeof blk);
    keep k;
    memset(&k, 0, sizeof k);
    GW_CHECK_INT(hpack_decode_block(d, blk, n, keepcb, &k, &why), 0);
    GW_CHECK_INT(k.n, 4);
    GW_CHECK_STR(k.name[1], "a");
    GW_CHECK_STR(k.value[1], "b");
    GW_CHECK_STR(k.name[3], "c");
    GW_CHECK_STR(k.value[3], "d");
    GW_CHECK_INT(hpack_decoder_table(d)->count, 1);
    hpack_decoder_del(d);
}

/* ---- Huffman ---- */

static void test_huffman(void)
{
    static const struct {
        const char *hex, *text;
    } v[] = {
        {"f1e3 c2e5 f23a 6ba0 ab90 f4ff", "www.example.com"},
        {"a8eb 1064 9cbf", "no-cache"},
        {"25a8 49e9 5ba9 7d7f", "custom-key"},
        {"25a8 49e9 5bb8 e8b4 bf", "custom-value"},
        {"6402", "302"},
        {"aec3 771a 4b", "private"},
        {"d07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff", "Mon, 21 Oct 2013 20:13:21 GMT"},
        {"9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3", "https://www.example.com"},
        {"9bd9 ab", "gzip"},
        {"94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160"
         "65c0 03ed 4ee5 b106 3d50 07",
         "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1"},
        {"", ""},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        uint8_t in[128], out[128], enc[128];
        size_t n = gw_test_unhex(v[i].hex, in, sizeof in);
        size_t tl = strlen(v[i].text);
        GW_CHECK_INT(hpack_huff_decode(in, n, out, sizeof out), tl);
        GW_CHECK_MEM(out, tl, v[i].text, tl);
        GW_CHECK_INT(hpack_huff_encoded_len((const uint8_t *)v[i].text, tl), n);
        GW_CHECK_INT(hpack_huff_encode((const uint8_t *)v[i].text, tl, enc), n);
        GW_CHECK_MEM(enc, n, in, n);
        if (tl > 0)
            GW_CHECK_INT(hpack_huff_decode(in, n, out, tl - 1), GW_ECAP);
    }
    /* Every symbol alone and in runs round-trips. */
    int bad = 0;
    for (int s = 0; s < 256; s++) {
        uint8_t in[3] = {(uint8_t)s, (uint8_t)s, (uint8_t)(255 - s)}, enc[16], out[8];
        for (size_t len = 1; len <= 3; len++) {
            size_t n = hpack_huff_encode(in, len, enc);
            if (n != hpack_huff_encoded_len(in, len) ||
                hpack_huff_decode(enc, n, out, sizeof out) != (ptrdiff_t)len ||
                memcmp(out, in, len) != 0)
                bad++;
        }
    }
    GW_CHECK_INT(bad, 0);
    srand(7541);
    bad = 0;
    for (int r = 0; r < 2000; r++) {
        uint8_t in[64], enc[256], out[64];
        size_t len = (size_t)(rand() % 64);
        for (size_t k = 0; k < len; k++)
            in[k] = (uint8_t)(r & 1 ? rand() % 256 : 'a' + rand() % 26);
        size_t n = hpack_huff_encode(in, len, enc);
        if (hpack_huff_decode(enc, n, out, sizeof out) != (ptrdiff_t)len || memcmp(out, in, len))
            bad++;
    }
    GW_CHECK_INT(bad, 0);
    /* Rejections. */
    uint8_t eos[] = {0xff, 0xff, 0xff, 0xff}, out[16];
    GW_CHECK_INT(hpack_huff_decode(eos, 4, out, sizeof out), GW_EPARSE); /* EOS + 2 bits */
    uint8_t eos2[] = {0x1f, 0xff, 0xff, 0xff, 0xff}; /* 'a' then EOS */
    GW_CHECK_INT(hpack_huff_decode(eos2, 5, out, sizeof out), GW_EPARSE);
    uint8_t pad8[] = {0x1f, 0xff}; /* 'a' + 11 ones of padding */
    GW_CHECK_INT(hpack_huff_decode(pad8, 2, out, sizeof out), GW_EPARSE);
    uint8_t ff[] = {0xff}; /* 8 ones only */
    GW_CHECK_INT(hpack_huff_decode(ff, 1, out, sizeof out), GW_EPARSE);
    uint8_t pad7[] = {0xfe}; /* '?' is 10 bits 1111111100: 0xfe is a prefix, not padding */
    GW_CHECK_INT(hpack_huff_decode(pad7, 1, out, sizeof out), GW_EPARSE);
    uint8_t ok7[] = {0x1f}; /* 'a' + 3 ones */
    GW_CHECK_INT(hpack_huff_decode(ok7, 1, out, sizeof out), 1);
    uint8_t zero[] = {0x00}; /* '0' (00000) + 000: padding of zeros */
    GW_CHECK_INT(hpack_huff_decode(zero, 1, out, sizeof out), GW_EPARSE);
    uint8_t ones7[] = {0x07, 0xff}; /* 00000 111 11111111: '0' then 11 ones */
    GW_CHECK_INT(hpack_huff_decode(ones7, 2, out, sizeof out), GW_EPARSE);
}

/* Zero-copy references: fields point into dynamic entries, and evicted entries are retired
 * until the next block, so every string handed out in a block survives the block (and an
 * error's desync), and an insertion may copy its name from the entry it evicts. */
static void test_eviction_in_block(void)
{
    hpack_opts o;
    hpack_opts_default(&o);
    o.max_table_size = 40; /* room for one small entry (a:b is 34) */
    hpack_decoder *d = hpack_decoder_new(&o, 1);
    const char *why;
    keep k;
    /* Insert a:b, reference it, then insert with the indexed name 62 (a) a new value: the
     * insertion evicts the very entry its name points into. Then reference the new entry. */
    size_t n = gw_test_unhex("40 0161 0162 be 7e 0163 be", blk, sizeof blk);
    memset(&k, 0, sizeof k);
    GW_CHECK_INT(hpack_decode_block(d, blk, n, keepcb, &k, &why), 0);
    GW_CHECK_INT(k.n, 4);
    GW_CHECK_STR(k.name[0], "a");
    GW_CHECK_STR(k.value[0], "b");
    GW_CHECK_STR(k.name[1], "a"); /* from the entry evicted by the next field */
    GW_CHECK_STR(k.value[1], "b");
    GW_CHECK_STR(k.name[2], "a");
    GW_CHECK_STR(k.value[2], "c");
    GW_CHECK_STR(k.name[3], "a");
    GW_CHECK_STR(k.value[3], "c");
    const hpack_dyn *t = hpack_decoder_table(d);
    GW_CHECK_INT(t->count, 1);
    GW_CHECK_STR(hpack_dyn_get(t, 1)->name, "a");
    GW_CHECK_STR(hpack_dyn_get(t, 1)->value, "c");
    GW_CHECK_INT(t->retired_bytes, 34); /* a:b waits for the next block */
    /* The next block releases it. */
    n = gw_test_unhex("be", blk, sizeof blk);
    memset(&k, 0, sizeof k);
    GW_CHECK_INT(hpack_decode_block(d, blk, n, keepcb, &k, &why), 0);
    GW_CHECK_INT(t->retired_bytes, 0);
    GW_CHECK(t->retired == NULL); /* no arena was outgrown */
    GW_CHECK_STR(k.name[0], "a");
    GW_CHECK_STR(k.value[0], "c");

    /* A chain in one block: each insertion evicts the previous entry, whose strings were
     * handed out; all of them stay readable until the block returns (keepcb keeps pointers). */
    n = gw_test_unhex("40 0178 0131 be 7e 0132 be 7e 0133 be", blk, sizeof blk);
    keep k2;
    memset(&k2, 0, sizeof k2);
    GW_CHECK_INT(hpack_decode_block(d, blk, n, keepcb, &k2, &why), 0);
    GW_CHECK_INT(k2.n, 6);
    GW_CHECK_STR(k2.name[0], "x");
    GW_CHECK_STR(k2.value[0], "1");
    GW_CHECK_STR(k2.name[1], "x");
    GW_CHECK_STR(k2.value[1], "1");
    GW_CHECK_STR(k2.name[2], "x");
    GW_CHECK_STR(k2.value[2], "2");
    GW_CHECK_STR(k2.name[3], "x");
    GW_CHECK_STR(k2.value[3], "2");
    GW_CHECK_INT(t->count, 1);
    GW_CHECK_STR(hpack_dyn_get(t, 1)->value, "3");
    GW_CHECK(t->retired_bytes <= o.max_table_size + o.max_header_list);

    /* An error desyncs (clears) the table: fields delivered before it stay valid after the
     * call returns, until the next call. */
    n = gw_test_unhex("40 0179 0139 be ff", blk, sizeof blk); /* ff: truncated integer */
    memset(&k, 0, sizeof k);
    GW_CHECK_INT(hpack_decode_block(d, blk, n, keepcb, &k, &why), GW_EPARSE);
    GW_CHECK_STR(why, "truncated integer");
    GW_CHECK_INT(k.n, 2);
    GW_CHECK_INT(t->count, 0);
    GW_CHECK_STR(k.name[0], "y");
    GW_CHECK_STR(k.value[0], "9");
    GW_CHECK_STR(k.name[1], "y");
    GW_CHECK_STR(k.value[1], "9");
    /* So do they across a table size change between blocks (h2_conn reads its fields after
     * the block, and SETTINGS may shrink the table before the next one). */
    hpack_decoder_del(d);
    d = hpack_decoder_new(&o, 1);
    n = gw_test_unhex("40 017a 0138 be", blk, sizeof blk);
    memset(&k, 0, sizeof k);
    GW_CHECK_INT(hpack_decode_block(d, blk, n, keepcb, &k, &why), 0);
    hpack_decoder_set_max_table_size(d, 0);
    GW_CHECK_INT(hpack_decoder_table(d)->count, 0);
    GW_CHECK_STR(k.name[1], "z");
    GW_CHECK_STR(k.value[1], "8");
    hpack_decoder_desync(d);
    GW_CHECK_STR(k.value[0], "8");
    hpack_decoder_del(d); /* frees the arenas too (ASan: no leak) */

    /* An entry larger than the table empties it (RFC 7541 4.4); earlier references survive. */
    d = hpack_decoder_new(&o, 1);
    n = gw_test_unhex("40 0161 0162 be 7e 0a 30313233343536373839", blk, sizeof blk);
    memset(&k, 0, sizeof k);
    GW_CHECK_INT(hpack_decode_block(d, blk, n, keepcb, &k, &why), 0);
    GW_CHECK_INT(k.n, 3);
    GW_CHECK_STR(k.name[1], "a");
    GW_CHECK_STR(k.value[1], "b");
    GW_CHECK_STR(k.name[2], "a"); /* the name came from the entry the insertion dropped */
    GW_CHECK_STR(k.value[2], "0123456789");
    GW_CHECK_INT(hpack_decoder_table(d)->count, 0);
    hpack_decoder_del(d);

    /* Static references carry the table's lengths. */
    d = hpack_decoder_new(NULL, 1);
    int bad = 0;
    for (uint8_t i = 1; i <= 61; i++) {
        got g;
        uint8_t b = (uint8_t)(0x80 | i);
        memset(&g, 0, sizeof g);
        if (hpack_decode_block(d, &b, 1, collect, &g, &why) != 0 || g.n != 1 ||
            g.v[0].f.name_len != strlen(hpack_static_name(i)) ||
            g.v[0].f.value_len != strlen(hpack_static_value(i)) ||
            strcmp(g.v[0].name, hpack_static_name(i)) || strcmp(g.v[0].value, hpack_static_value(i)))
            bad++;
    }
    GW_CHECK_INT(bad, 0);
    hpack_decoder_del(d);
}

/* ---- names, settings ---- */

static void test_names_and_settings(void)
{
    GW_CHECK_STR(hpack_rep_name(HPACK_INDEXED), "Indexed Header Field");
    GW_CHECK_STR(hpack_rep_name(HPACK_INC_INDEXED_NAME),
                 "Literal Header Field with Incremental Indexing - Indexed Name");
    GW_CHECK_STR(hpack_rep_name(HPACK_INC_NEW_NAME),
                 "Literal Header Field with Incremental Indexing - New Name");
    GW_CHECK_STR(hpack_rep_name(HPACK_NOIDX_INDEXED_NAME),
                 "Literal Header Field without Indexing - Indexed Name");
    GW_CHECK_STR(hpack_rep_name(HPACK_NOIDX_NEW_NAME),
                 "Literal Header Field without Indexing - New Name");
    GW_CHECK_STR(hpack_rep_name(HPACK_NEVER_INDEXED_NAME),
                 "Literal Header Field never Indexed - Indexed Name");
    GW_CHECK_STR(hpack_rep_name(HPACK_NEVER_NEW_NAME),
                 "Literal Header Field never Indexed - New Name");
    GW_CHECK(hpack_rep_name(0) != NULL);
    GW_CHECK_STR(hpack_static_name(1), ":authority");
    GW_CHECK_STR(hpack_static_value(1), "");
    GW_CHECK_STR(hpack_static_name(16), "accept-encoding");
    GW_CHECK_STR(hpack_static_value(16), "gzip, deflate");
    GW_CHECK_STR(hpack_static_name(61), "www-authenticate");
    GW_CHECK(hpack_static_name(0) == NULL);
    GW_CHECK(hpack_static_name(62) == NULL);
    GW_CHECK(hpack_static_value(62) == NULL);

    hpack_opts o;
    hpack_opts_default(&o);
    GW_CHECK_INT(o.max_table_size, 4096);
    GW_CHECK_INT(o.max_header_list, 256 * 1024);
    GW_CHECK_INT(o.max_string, 64 * 1024);

    /* A lower SETTINGS_HEADER_TABLE_SIZE shrinks the table and bounds later updates. */
    got g;
    const char *why;
    hpack_decoder *d = hpack_decoder_new(NULL, 1);
    GW_CHECK_INT(dec_hex(d, seed_req, &g, &why), 0);
    hpack_decoder_set_max_table_size(d, 100);
    GW_CHECK_INT(hpack_decoder_table(d)->max, 100);
    GW_CHECK_INT(hpack_decoder_table(d)->count, 2); /* grpc-timeout 51 + te 42 */
    GW_CHECK_INT(hpack_decoder_table(d)->size, 93);
    GW_CHECK_INT(dec_hex(d, "3f46", &g, &why), GW_EPARSE); /* 31 + 70 = 101 */
    GW_CHECK_STR(why, "table size update over the limit");
    GW_CHECK_INT(hpack_decoder_synced(d), 0);        /* over the limit: error */
    hpack_decoder_set_max_table_size(d, 8192);
    GW_CHECK_INT(dec_hex(d, "3fe13f", &g, &why), 0); /* 31 + 8161 = 8192 */
    GW_CHECK_INT(hpack_decoder_table(d)->max, 8192);
    /* An entry larger than the table empties it, without error. */
    GW_CHECK_INT(dec_hex(d, "4001610162 203fe11f", &g, &why), GW_EPARSE); /* update after */
    hpack_decoder_del(d);
    d = hpack_decoder_new(NULL, 1);
    GW_CHECK_INT(dec_hex(d, "3f11 4001610162", &g, &why), 0); /* max 48: entry 34 */
    GW_CHECK_INT(hpack_decoder_table(d)->count, 1);
    GW_CHECK_INT(dec_hex(d, "400a61616161616161616161 0162", &g, &why), 0); /* 43 fits */
    GW_CHECK_INT(hpack_decoder_table(d)->count, 1);
    GW_CHECK_INT(dec_hex(d, "401061616161616161616161616161616161 0162", &g, &why), 0);
    GW_CHECK_INT(hpack_decoder_table(d)->count, 0); /* 49 > 48 */
    GW_CHECK_INT(hpack_decoder_table(d)->size, 0);
    GW_CHECK_INT(hpack_decoder_synced(d), 1);
    hpack_decoder_del(d);
    hpack_decoder_del(NULL);
}

/* ---- allocation failures ---- */

static void test_failmalloc(void)
{
    const char *blocks[] = {
        "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
        "8286 84be 5886 a8eb 1064 9cbf",
        "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
    };
    int ok_runs = 0;
    for (long fail = 0; fail < 40; fail++) {
        gw_mem_fail_after(fail);
        hpack_decoder *d = hpack_decoder_new(NULL, 1);
        if (d) {
            for (int b = 0; b < 3; b++) {
                got g;
                const char *why = NULL;
                int rv = dec_hex(d, blocks[b], &g, &why);
                GW_CHECK(rv == 0 || rv == GW_ENOMEM);
                if (rv == GW_ENOMEM)
                    GW_CHECK(hpack_decoder_synced(d) == 0);
            }
            if (hpack_decoder_synced(d))
                ok_runs++;
        }
        gw_mem_fail_after(-1);
        hpack_decoder_del(d);
    }
    GW_CHECK(ok_runs > 0);
}

/* ---- hpack_decode_block_into: the same fields as the callback, into a growing array ---- */

static int spill_count(void *u, const hpack_field *f)
{
    (void)f;
    (*(int *)u)++;
    return 0;
}

/* Decodes the blocks with two decoders, one per entry point, and compares every field. */
/* A field delivered into an array is the one the callback saw: bytes and every attribute. */
static void same_field(const hpack_field *x, const got_field *g)
{
    const hpack_field *y = &g->f;
    GW_CHECK_MEM(x->name, x->name_len, g->name, g->name_len);
    GW_CHECK_MEM(x->value, x->value_len, g->value, g->value_len);
    GW_CHECK_INT(x->rep, y->rep);
    GW_CHECK_INT(x->index, y->index);
    GW_CHECK_INT(x->name_huff, y->name_huff);
    GW_CHECK_INT(x->value_huff, y->value_huff);
    GW_CHECK_INT(x->name_wire, y->name_wire);
    GW_CHECK_INT(x->value_wire, y->value_wire);
    GW_CHECK_INT(x->unknown_name, y->unknown_name);
    GW_CHECK_INT(x->unknown_value, y->unknown_value);
}

static void into_matches(const char *const *blocks, int nb, size_t table, int synced)
{
    hpack_opts o;
    hpack_opts_default(&o);
    o.max_table_size = table;
    hpack_decoder *a = hpack_decoder_new(&o, synced), *b = hpack_decoder_new(&o, synced);
    hpack_field *arr = NULL;
    size_t cap = 0;
    for (int i = 0; i < nb; i++) {
        got g;
        const char *wa = NULL, *wb = NULL;
        int ra = dec_hex(a, blocks[i], &g, &wa);
        size_t n = gw_test_unhex(blocks[i], blk, sizeof blk);
        size_t nf = 0;
        int dropped = -1, unknown = -1, spilled = 0;
        int rb = hpack_decode_block_into(b, blk, n, &arr, &nf, &cap, spill_count, &spilled,
                                         &dropped, &unknown, &wb);
        GW_CHECK_INT(rb, ra);
        GW_CHECK((wa == NULL) == (wb == NULL));
        if (wa && wb)
            GW_CHECK_STR(wb, wa);
        GW_CHECK_INT(dropped, 0);
        GW_CHECK_INT(spilled, 0);
        GW_CHECK_INT(nf, g.n);
        int unk = 0;
        for (size_t k = 0; k < nf && k < MAXF; k++) {
            const hpack_field *x = &arr[k], *y = &g.v[k].f;
            same_field(x, &g.v[k]);
            unk |= y->unknown_name | y->unknown_value;
        }
        GW_CHECK_INT(unknown, unk);
        GW_CHECK_INT(hpack_decoder_synced(b), hpack_decoder_synced(a));
        GW_CHECK_INT(hpack_decoder_table(b)->size, hpack_decoder_table(a)->size);
    }
    gw_free(arr);
    hpack_decoder_del(a);
    hpack_decoder_del(b);
}

static void test_into(void)
{
    const char *c4[] = {"8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
                        "8286 84be 5886 a8eb 1064 9cbf",
                        "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf"};
    into_matches(c4, 3, 4096, 1);
    const char *c6[] = {
        "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6"
        "2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
        "4883 640e ffc1 c0bf",
        "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab"
        "77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f"
        "9587 3160 65c0 03ed 4ee5 b106 3d50 07"};
    into_matches(c6, 3, 256, 1);
    const char *seed[] = {seed_req, seed_resp1, seed_resp2};
    into_matches(seed, 3, 4096, 1);
    /* Mid-capture: references to entries from before it are unknown, in both. */
    const char *mid[] = {"be c0 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
                         "be bf 7e03 616263"};
    into_matches(mid, 2, 4096, 0);
    /* Malformed: the fields before the damage, the same error. */
    const char *bad[] = {"8286 ff ff ff ff ff 0f", "82 c8", "8286 4085 ffffffffff 00"};
    into_matches(bad, 3, 4096, 1);
    /* More fields than the array's first size: it grows. */
    char many[1024] = "";
    for (int i = 0; i < 40; i++)
        strcat(many, "82 84 86 ");
    const char *big[] = {many};
    into_matches(big, 1, 4096, 1);

    /* Allocation failures: what cannot be kept goes to spill, decoding goes on in step. */
    const char *blocks[] = {seed_req, many};
    int saw_spill = 0;
    for (long fail = 0; fail < 12; fail++) {
        hpack_decoder *d = hpack_decoder_new(NULL, 1);
        hpack_field *arr = NULL;
        size_t cap = 0;
        for (int bi = 0; bi < 2; bi++) {
            size_t n = gw_test_unhex(blocks[bi], blk, sizeof blk);
            size_t nf = 0;
            int dropped = -1, unknown = -1, spilled = 0;
            const char *why = NULL;
            gw_mem_fail_after(fail);
            int rv = hpack_decode_block_into(d, blk, n, &arr, &nf, &cap, spill_count, &spilled,
                                             &dropped, &unknown, &why);
            gw_mem_fail_after(-1);
            GW_CHECK(rv == 0 || rv == GW_ENOMEM);
            if (rv == 0)
                GW_CHECK_INT(nf + (size_t)spilled, bi == 0 ? 8 : 120);
            GW_CHECK_INT(dropped, spilled > 0);
            GW_CHECK(nf <= cap);
            saw_spill |= rv == 0 && spilled > 0;
        }
        gw_free(arr);
        hpack_decoder_del(d);
    }
    GW_CHECK(saw_spill);
}


/* Block cache and the other hpack_decode_into results: the cached entry point against
 * hpack_decode_block (which never caches), block by block, with what can change the table
 * between identical blocks. Steps "!desync" and "!max N" act on both decoders. */
static void cache_matches(const char *const *steps, int ns, int synced)
{
    hpack_decoder *a = hpack_decoder_new(NULL, synced), *b = hpack_decoder_new(NULL, synced);
    int spilled = 0;
    hpack_into io;
    memset(&io, 0, sizeof io);
    io.spill = spill_count;
    io.u = &spilled;
    for (int i = 0; i < ns; i++) {
        if (steps[i][0] == '!') {
            if (strcmp(steps[i], "!desync") == 0) {
                hpack_decoder_desync(a);
                hpack_decoder_desync(b);
            } else {
                size_t max = (size_t)strtoul(steps[i] + 5, NULL, 10);
                hpack_decoder_set_max_table_size(a, max);
                hpack_decoder_set_max_table_size(b, max);
            }
            continue;
        }
        got g;
        const char *wa = NULL;
        int ra = dec_hex(a, steps[i], &g, &wa);
        size_t n = gw_test_unhex(steps[i], blk, sizeof blk);
        io.nfields = 0;
        io.dropped = io.unknown = -1;
        io.why = "unset";
        io.field_bytes = 12345;
        int rb = hpack_decode_into(b, blk, n, &io);
        if (rb != ra || io.nfields != (size_t)g.n)
            fprintf(stderr, "cache step %d (%s): %d/%d, %zu/%d fields\n", i, steps[i], rb, ra,
                    io.nfields, g.n);
        GW_CHECK_INT(rb, ra);
        GW_CHECK((wa == NULL) == (io.why == NULL));
        if (wa && io.why)
            GW_CHECK_STR(io.why, wa);
        GW_CHECK_INT(io.dropped, 0);
        GW_CHECK_INT(spilled, 0);
        GW_CHECK_INT(io.nfields, g.n);
        int unk = 0;
        size_t bytes = 0;
        for (size_t k = 0; k < io.nfields && k < MAXF; k++) {
            const hpack_field *x = &io.fields[k], *y = &g.v[k].f;
            same_field(x, &g.v[k]);
            GW_CHECK_INT(x->name_static, y->name_static);
            if (x->name_static) /* the promise: exactly that static entry's name */
                GW_CHECK_MEM(x->name, x->name_len, hpack_static_name(x->name_static),
                             strlen(hpack_static_name(x->name_static)));
            unk |= y->unknown_name | y->unknown_value;
            bytes += x->name_len + x->value_len + 2;
        }
        GW_CHECK_INT(io.unknown, unk);
        GW_CHECK_INT(io.field_bytes, rb == 0 ? bytes : 0);
        GW_CHECK_INT(hpack_decoder_synced(b), hpack_decoder_synced(a));
        GW_CHECK_INT(hpack_decoder_table(b)->size, hpack_decoder_table(a)->size);
        GW_CHECK_INT(hpack_decoder_table(b)->count, hpack_decoder_table(a)->count);
    }
    gw_free(io.fields);
    hpack_decoder_del(a);
    hpack_decoder_del(b);
}

static void test_block_cache(void)
{
    const char *synced[] = {
        "40 01 61 01 78",            /* a: x (62) */
        "be 82", "be 82", "82 be",   /* the same octets twice: the second from the cache */
        "40 01 62 01 79",            /* b: y (62), a: x (63): the same octets, other fields */
        "be 82", "be 82", "bf be", "bf be",
        "!max 40",                   /* keeps the newest entry only (34 octets) */
        "be 82", "be 82", "bf 82",   /* 63 is gone: an error, and the decoder desyncs */
        "be 82", "be 82",            /* now references past our entries are unknown */
        "40 01 63 01 7a", "be bf", "be bf",
        "!desync", "be bf", "be bf",
        "!max 4096", "3f e1 1f", "be", "40 01 64 01 77", "be 82", "be 82",
        "20", "be 82", "be 82",      /* size update to 0: the table is empty */
        "40 01 65 01 76", "be be be be be be be be", "be be be be be be be be",
        "be be be be be be be be be", "ff 00", "ff 00", "80", "80",
    };
    cache_matches(synced, (int)(sizeof synced / sizeof synced[0]), 1);
    const char *mid[] = {"be bf", "be bf", "40 01 61 01 78", "be bf", "be bf", "c0", "c0",
                         "!desync", "be", "be"};
    cache_matches(mid, (int)(sizeof mid / sizeof mid[0]), 0);
    /* A table that evicts on every insertion, as a busy connection's does. */
    const char *busy[] = {"40 01 61 01 78", "40 01 62 01 79", "be bf", "!max 68", "be bf",
                          "40 01 63 01 7a", "be bf", "be bf", "40 01 63 01 7a", "be bf",
                          "be bf"};
    cache_matches(busy, (int)(sizeof busy / sizeof busy[0]), 1);
    into_matches(synced, 9, 4096, 1); /* and through hpack_decode_block_into */

    /* name_static: from the static table, through dynamic entries inserted naming it, not for
     * new names. */
    hpack_decoder *d = hpack_decoder_new(NULL, 1);
    hpack_into io;
    memset(&io, 0, sizeof io);
    const char *blocks[] = {"44 01 2f", "be", "40 02 7465 01 74", "be bf", "82 0f 2d 01 78",
                            "7e 01 79", "be"};
    const uint8_t want_ns[][3] = {{4}, {4}, {0}, {0, 4}, {2, 60}, {0}, {0}};
    for (size_t i = 0; i < sizeof blocks / sizeof blocks[0]; i++) {
        size_t n = gw_test_unhex(blocks[i], blk, sizeof blk);
        io.nfields = 0;
        GW_CHECK_INT(hpack_decode_into(d, blk, n, &io), 0);
        for (size_t k = 0; k < io.nfields; k++)
            GW_CHECK_INT(io.fields[k].name_static, want_ns[i][k]);
    }
    gw_free(io.fields);
    hpack_decoder_del(d);

    /* Literal names are remembered whatever the representation: the same Huffman coded new
     * name with incremental indexing, block after block, decodes the same. */
    const char *names[] = {"40 88 9acac8b21234da8f 01 30", "40 88 9acac8b21234da8f 01 31",
                           "40 88 9acac8b21234da8f 01 32", "be bf c0"};
    cache_matches(names, 4, 1);
    into_matches(names, 4, 4096, 1);
}

int main(void)
{
    test_c1_integers();
    test_c2();
    test_c3_c4();
    test_c5_c6();
    test_seed();
    test_midcapture();
    test_malformed();
    test_prefixes();
    test_stop_and_lifetime();
    test_huffman();
    test_eviction_in_block();
    test_names_and_settings();
    test_failmalloc();
    test_into();
    test_block_cache();
    GW_TEST_END();
}
