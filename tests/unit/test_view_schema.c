/* Schema-aware rendering: tests/vectors/schema/item.bin (protoc --encode of item.txtpb, every
 * construct) renders exactly as protoc --decode prints it (item.decode.txt) and as
 * python3-protobuf's json_format prints it (item.json, compared after removing whitespace and
 * python's ".0" on whole floats); mismatches fall back per field; short and tree forms; guesses. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/gw_err.h"
#include "gw_test.h"
#include "pb/pb_schema.h"
#include "view/view_pb.h"
#include "view/view_schema.h"

static const char *const dirs[] = {"tests/vectors/schema", "/usr/include"};

static char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = malloc(1 << 20);
    *n = fread(buf, 1, (1 << 20) - 1, f);
    buf[*n] = 0;
    fclose(f);
    return buf;
}

/* Whitespace outside strings removed; "N.0" before , ] } becomes "N" (python prints whole
 * floats with .0, we print the shortest form; both read back to the same number). */
static char *norm_json(const char *s)
{
    size_t n = strlen(s), k = 0;
    char *o = malloc(n + 1);
    int in_str = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (in_str) {
            o[k++] = c;
            if (c == '\\' && i + 1 < n)
                o[k++] = s[++i];
            else if (c == '"')
                in_str = 0;
            continue;
        }
        if (c == '"')
            in_str = 1;
        if (c == ' ' || c == '\n')
            continue;
        if (c == '.' && i + 2 <= n && s[i + 1] == '0' && k && o[k - 1] >= '0' && o[k - 1] <= '9' &&
            (s[i + 2] == ',' || s[i + 2] == ']' || s[i + 2] == '}')) {
            i++;
            continue;
        }
        o[k++] = c;
    }
    o[k] = 0;
    return o;
}

static pb_schemas *load(void)
{
    pb_schemas *s;
    char err[256];
    pb_schemas_new(&s, NULL);
    int e = pb_schemas_load_proto(s, "tests/vectors/schema/shop.proto", dirs, 2, err, sizeof err);
    if (e)
        fprintf(stderr, "%s\n", err);
    GW_CHECK_INT(e, 0);
    GW_CHECK_INT(pb_schemas_add_builtin(s), 0);
    return s;
}

static char *render(int kind, const pb_schemas *s, const char *type, const uint8_t *p, size_t n)
{
    gw_buf b;
    gw_buf_init(&b, 0);
    const pb_msgdef *m = pb_schemas_find_message(s, type);
    if (kind == 0)
        view_schema_text(&b, s, m, p, n, 0, NULL);
    else if (kind == 1)
        view_schema_json(&b, s, m, p, n, NULL);
    else if (kind == 2)
        view_schema_short(&b, s, m, p, n, 0);
    else
        view_schema_tree(&b, s, m, p, n, 0, NULL);
    gw_buf_putc(&b, 0);
    char *r = strdup((char *)b.data);
    gw_buf_free(&b);
    return r;
}

static void test_item_oracles(pb_schemas *s)
{
    size_t n, tn, jn;
    char *bin = slurp("tests/vectors/schema/item.bin", &n);
    char *text = slurp("tests/vectors/schema/item.decode.txt", &tn);
    char *json = slurp("tests/vectors/schema/item.json", &jn);
    GW_CHECK(bin && text && json);
    if (!bin || !text || !json)
        return;
    char *ours = render(0, s, "shop.v1.Item", (uint8_t *)bin, n);
    if (strcmp(ours, text) != 0)
        fprintf(stderr, "--- ours\n%s--- protoc --decode\n%s", ours, text);
    GW_CHECK_STR(ours, text);
    free(ours);
    ours = render(1, s, "shop.v1.Item", (uint8_t *)bin, n);
    char *a = norm_json(ours), *b = norm_json(json);
    GW_CHECK_STR(a, b);
    free(a);
    free(b);
    free(ours);
    /* Byte by byte: every prefix renders without damage to memory (the oracle is ASan). */
    for (size_t k = 0; k < n; k++) {
        for (int kind = 0; kind < 4; kind++)
            free(render(kind, s, "shop.v1.Item", (uint8_t *)bin, k));
    }
    free(bin);
    free(text);
    free(json);
}

static const struct {
    const char *type;
    const char *hex;
    const char *json;
    const char *shortform;
} cases[] = {
    {"helloworld.HelloRequest", "0a05776f726c64", "{\"name\":\"world\"}", "{name: \"world\"}"},
    /* unknown field 5 kept as numbered */
    {"helloworld.HelloRequest", "0a01782801", "{\"name\":\"x\",\"5\":1}", "{name: \"x\", 5: 1}"},
    /* wrong wire type: schemaless for that field, and said so */
    {"helloworld.HelloRequest", "089601", "{\"1\":150,\"_mismatch\":{\"1\":\"name: wrong wire type for its declared type\"}}",
     "{1: 150}"},
    /* bad UTF-8 in a string */
    {"helloworld.HelloRequest", "0a02c328", "{\"1\":\"wyg=\",\"_mismatch\":{\"1\":\"name: invalid UTF-8 in a string field\"}}",
     NULL},
    /* unknown fields around a known one: not back to back on the wire (copied before the
     * schemaless renderer sees them), and a mismatch mixed in */
    {"helloworld.HelloRequest", "2801 0a0178 3002", "{\"name\":\"x\",\"5\":1,\"6\":2}",
     "{name: \"x\", 5: 1, 6: 2}"},
    {"helloworld.HelloRequest", "089601 0a0178 2801 0a02c328",
     "{\"name\":\"x\",\"1\":[150,\"wyg=\"],\"5\":1,\"_mismatch\":{\"1\":\"name: wrong wire type for its "
     "declared type\",\"1\":\"name: invalid UTF-8 in a string field\"}}",
     NULL},
    /* trailing garbage */
    {"helloworld.HelloRequest", "0a0178ff", "{\"name\":\"x\",\"_error\":\"not a protobuf message from offset 3\",\"_rest\":\"/w==\"}",
     "{name: \"x\", <not protobuf from offset 3>}"},
    /* proto3 zero values are not shown; empty message */
    {"shop.v1.ListItemsRequest", "0800", "{}", "{}"},
    {"shop.v1.ListItemsRequest", "08051801", "{\"pageSize\":5,\"region\":\"REGION_EU\"}",
     "{page_size: 5, region: REGION_EU}"},
    /* unknown enum number */
    {"shop.v1.ListItemsRequest", "1863", "{\"region\":99}", "{region: 99}"},
    /* google.rpc.Status with an unresolvable Any */
    {"google.rpc.Status", "080312026869 1a080a04782f7a7a1200",
     "{\"code\":3,\"message\":\"hi\",\"details\":[{\"@type\":\"x/zz\",\"_value\":\"\"}]}", NULL},
    /* Duration negative, Timestamp at the epoch */
    {"google.protobuf.Duration", "08ffffffffffffffffff0110e7ffffffffffffffff01", "\"-1.000000025s\"", NULL},
    {"google.protobuf.Timestamp", "", "\"1970-01-01T00:00:00Z\"", NULL},
    /* wrappers with nothing set, Empty */
    {"google.protobuf.Int64Value", "", "\"0\"", NULL},
    {"google.protobuf.Empty", "", "{}", "{}"},
};

static void test_cases(pb_schemas *s)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t bytes[256];
        size_t n = gw_test_unhex(cases[i].hex, bytes, sizeof bytes);
        char *j = render(1, s, cases[i].type, bytes, n);
        if (strcmp(j, cases[i].json) != 0)
            fprintf(stderr, "case %zu\n", i);
        GW_CHECK_STR(j, cases[i].json);
        free(j);
        if (cases[i].shortform) {
            char *sh = render(2, s, cases[i].type, bytes, n);
            GW_CHECK_STR(sh, cases[i].shortform);
            free(sh);
        }
    }
}

static void test_text_mismatch(pb_schemas *s)
{
    uint8_t bytes[] = {0x08, 0x96, 0x01, 0x0a, 0x01, 'x'};
    char *t = render(0, s, "helloworld.HelloRequest", bytes, sizeof bytes);
    GW_CHECK_STR(t, "name: \"x\"\n# schema mismatch: field 1 (name): wrong wire type for its declared type\n"
                    "1: 150\n");
    free(t);
    char *tr = render(3, s, "helloworld.HelloRequest", bytes + 3, 3);
    GW_CHECK(strstr(tr, "Message: helloworld.HelloRequest\n    Field(1): name = x (string)\n") == tr);
    free(tr);
}

static void test_short_cut(pb_schemas *s)
{
    uint8_t bytes[] = {0x0a, 0x0b, 'H', 'e', 'l', 'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd'};
    gw_buf b;
    gw_buf_init(&b, 0);
    view_schema_short(&b, s, pb_schemas_find_message(s, "helloworld.HelloReply"), bytes,
                      sizeof bytes, 12);
    GW_CHECK_MEM(b.data, b.len, "{message: \"H...", 15);
    gw_buf_free(&b);
}

static void test_guess(pb_schemas *s)
{
    /* ListItemsRequest{page_size: 5, page_token: "t", region: REGION_US} */
    uint8_t req[] = {0x08, 0x05, 0x12, 0x01, 't', 0x18, 0x02};
    char path[128];
    double score = 0;
    const pb_methoddef *md = view_schema_guess(s, req, sizeof req, NULL, 0, path, sizeof path, &score);
    GW_CHECK(md != NULL);
    GW_CHECK_STR(path, "/shop.v1.Catalog/ListItems");
    GW_CHECK(score > 0.9 && score <= 1.0);
    uint8_t junk[] = {0x7a, 0x01, 0xff};
    GW_CHECK(view_schema_guess(s, junk, sizeof junk, NULL, 0, path, sizeof path, &score) == NULL);
}

/* The cached method lookup answers as the uncached one, per schemas object, and sees a service
 * loaded after its first (negative) answer. */
static void test_method_cache(pb_schemas *s)
{
    GW_CHECK(pb_schemas_find_method_cached(s, NULL) == NULL);
    GW_CHECK(pb_schemas_find_method_cached(NULL, "/helloworld.Greeter/SayHello") == NULL);
    GW_CHECK(pb_schemas_find_method_cached(s, "") == NULL);
    GW_CHECK(pb_schemas_find_method_cached(s, "/") == NULL);
    GW_CHECK(pb_schemas_find_method_cached(s, "helloworld.Greeter/SayHello") == NULL);
    GW_CHECK(pb_schemas_find_method_cached(s, "/helloworld.Greeter/SayHello/x") == NULL);
    const pb_methoddef *a = pb_schemas_find_method_cached(s, "/helloworld.Greeter/SayHello");
    GW_CHECK(a != NULL && a == pb_schemas_find_method(s, "/helloworld.Greeter/SayHello"));
    GW_CHECK(pb_schemas_find_method_cached(s, "/helloworld.Greeter/SayHello") == a);
    GW_CHECK(pb_schemas_find_method_cached(s, "/helloworld.Greeter/SayHellp") == NULL);

    /* The same method in another schemas object: its own definition. */
    pb_schemas *t;
    GW_CHECK_INT(pb_schemas_new(&t, NULL), 0);
    GW_CHECK_INT(pb_schemas_add_builtin(t), 0);
    for (int i = 0; i < 3; i++) {
        const pb_methoddef *x = pb_schemas_find_method_cached(t, "/helloworld.Greeter/SayHello");
        const pb_methoddef *y = pb_schemas_find_method_cached(s, "/helloworld.Greeter/SayHello");
        GW_CHECK(x != NULL && x == pb_schemas_find_method(t, "/helloworld.Greeter/SayHello"));
        GW_CHECK(y == a && x != y);
    }

    /* Learned after a negative answer (a generation change), and a long path (not cached). */
    static const char lab[] = "/lab.v1.Later/Call";
    char longname[120], longp[200], src[600];
    memset(longname, 'o', 110);
    memcpy(longname, "Lo", 2);
    memcpy(longname + 107, "ng", 3); /* with the terminator */
    snprintf(longp, sizeof longp, "/lab.v1.%s/Call", longname);
    GW_CHECK(pb_schemas_find_method_cached(t, lab) == NULL);
    GW_CHECK(pb_schemas_find_method_cached(t, longp) == NULL);
    uint64_t g = pb_schemas_generation(t);
    int sl = snprintf(src, sizeof src,
                      "syntax = \"proto3\"; package lab.v1; message M { string x = 1; }\n"
                      "service Later { rpc Call(M) returns (M); }\n"
                      "service %s { rpc Call(M) returns (M); }\n", longname);
    char err[256];
    GW_CHECK_INT(pb_schemas_parse_proto(t, "lab.proto", src, (size_t)sl, NULL, 0, err, sizeof err),
                 0);
    GW_CHECK(pb_schemas_generation(t) != g);
    const pb_methoddef *l = pb_schemas_find_method_cached(t, lab);
    GW_CHECK(l != NULL && l == pb_schemas_find_method(t, lab));
    GW_CHECK(l && l->in && strcmp(l->in->full_name, "lab.v1.M") == 0);
    const pb_methoddef *ll = pb_schemas_find_method_cached(t, longp);
    GW_CHECK(ll != NULL && ll == pb_schemas_find_method(t, longp));
    GW_CHECK(view_schema_type(t, lab, 1) == l->in);
    /* Many methods through the small table: every answer still right. */
    static const char *const paths[] = {
        "/helloworld.Greeter/SayHello", "/grpc.health.v1.Health/Check",
        "/grpc.health.v1.Health/Watch", "/lab.v1.Later/Call", "/a.B/C", "/x.Y/Z",
        "/sessions.Store/Touch", "/auth.v1.Tokens/Validate",
    };
    for (int round = 0; round < 3; round++)
        for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
            GW_CHECK(pb_schemas_find_method_cached(t, paths[i]) ==
                     pb_schemas_find_method(t, paths[i]));
    pb_schemas_del(t);
    GW_CHECK(pb_schemas_find_method_cached(s, "/helloworld.Greeter/SayHello") == a);
}

/* Unknown fields after known ones render as the schemaless renderers render their bytes, for
 * the simple kinds written directly and for the rest through view_pb. */
static void test_unknown_rest(pb_schemas *s)
{
    static const char *const rests[] = {
        "103f",                         /* 2: 63 */
        "103f1a026168",                 /* 2: 63, 3: "ah" */
        "1a0210",                       /* 3: "" then a damaged field: not a rest */
        "1a00",                         /* 3: "" */
        "1a02616810ffffffffffffffffff01", /* descending numbers */
        "10808080808080800420",         /* 2^54 then ... */
        "108080808080808004",           /* 2: 2^54 (a string in JSON) */
        "1080808080808080102805",       /* 2: 2^53, 5: 5 */
        "1a03ff00fe",                   /* bytes */
        "1a020801",                     /* a nested message or a string? */
        "1a0a0a01611203e282ac7f0a",     /* not printable */
        "1a05c3a9e282ac",               /* UTF-8 */
        "1a025c22",                     /* escapes */
        "1d0000803f",                   /* fixed32 */
        "19000000000000f03f",           /* fixed64 */
        "1a03010203",                   /* packed-looking */
        "10011002",                     /* repeated varint */
        "0801",                         /* 1 (name) with the wrong wire type: a mismatch */
        "1b0801 1c",                    /* a group */
    };
    for (size_t i = 0; i < sizeof rests / sizeof rests[0]; i++) {
        uint8_t rest[64], msg[80] = {0x0a, 0x05, 'w', 'o', 'r', 'l', 'd'};
        char hex[128];
        size_t k = 0;
        for (const char *h = rests[i]; *h; h++)
            if (*h != ' ')
                hex[k++] = *h;
        hex[k] = 0;
        size_t rn = gw_test_unhex(hex, rest, sizeof rest);
        memcpy(msg + 7, rest, rn);
        gw_buf b;
        gw_buf_init(&b, 0);
        /* The expected join: the known field, then the schemaless rendering without braces. */
        gw_buf_append(&b, "{\"name\":\"world\"", 15);
        view_pb_json(&b, rest, rn, NULL);
        gw_buf_putc(&b, 0);
        char *want = strdup((char *)b.data);
        size_t wl = strlen(want);
        char *j = render(1, s, "helloworld.HelloRequest", msg, 7 + rn);
        gw_buf_free(&b);
        /* {"name":"world"{"2":63} -> {"name":"world","2":63} (only when the rest parses) */
        if (want[15] == '{' && !strstr(want, "_raw") && !strstr(want, "_error") &&
            strncmp(rests[i], "08", 2)) {
            want[15] = ',';
            want[wl] = 0;
            GW_CHECK_STR(j, want);
        }
        free(want);
        free(j);

        gw_buf_init(&b, 0);
        gw_buf_append(&b, "{name: \"world\"", 14);
        view_pb_short(&b, rest, rn, 0);
        gw_buf_putc(&b, 0);
        want = malloc(b.len + 2);
        memcpy(want, b.data, b.len);
        char *sh = render(2, s, "helloworld.HelloRequest", msg, 7 + rn);
        gw_buf_free(&b);
        if (want[14] == '{' && !strstr(want, "not protobuf") && strncmp(rests[i], "08", 2)) {
            /* {name: "world"{2: 63} -> {name: "world", 2: 63} */
            memmove(want + 16, want + 15, strlen(want + 15) + 1);
            want[14] = ',';
            want[15] = ' ';
            GW_CHECK_STR(sh, want);
        }
        free(want);
        free(sh);
    }
    /* Fixed expectations for the common shapes. */
    uint8_t m1[] = {0x0a, 0x05, 'w', 'o', 'r', 'l', 'd', 0x10, 0x3f, 0x1a, 0x02, 'a', 'h'};
    char *j = render(1, s, "helloworld.HelloRequest", m1, sizeof m1);
    GW_CHECK_STR(j, "{\"name\":\"world\",\"2\":63,\"3\":\"ah\"}");
    free(j);
    j = render(2, s, "helloworld.HelloRequest", m1, sizeof m1);
    GW_CHECK_STR(j, "{name: \"world\", 2: 63, 3: \"ah\"}");
    free(j);
    j = render(1, s, "helloworld.HelloRequest", m1 + 7, sizeof m1 - 7);
    GW_CHECK_STR(j, "{\"2\":63,\"3\":\"ah\"}");
    free(j);
    j = render(2, s, "helloworld.HelloRequest", m1 + 7, sizeof m1 - 7);
    GW_CHECK_STR(j, "{2: 63, 3: \"ah\"}");
    free(j);
    /* A long string (the general way) reads the same. */
    uint8_t m3[320] = {0x10, 0x07, 0x1a, 0xac, 0x02}; /* 2: 7, 3: 300 bytes */
    memset(m3 + 5, 'a', 300);
    char want[400] = "{\"2\":7,\"3\":\"";
    memset(want + strlen(want), 'a', 300);
    strcat(want, "\"}");
    j = render(1, s, "helloworld.HelloRequest", m3, 305);
    GW_CHECK_STR(j, want);
    free(j);
    uint8_t m2[] = {0x18, 0x01, 0x10, 0x02, 0x18, 0x03}; /* 3, 2, 3: sorted, 3 as an array */
    j = render(1, s, "helloworld.HelloRequest", m2, sizeof m2);
    GW_CHECK_STR(j, "{\"2\":2,\"3\":[1,3]}");
    free(j);
    j = render(2, s, "helloworld.HelloRequest", m2, sizeof m2);
    GW_CHECK_STR(j, "{3: 1, 2: 2, 3: 3}");
    free(j);
}


/* ---- the one-pass JSON way against the general way (view_schema_force_general) ---- */

static uint64_t fs_state = 0x853c49e6748fea9bull;
static uint32_t fs_rnd(void)
{
    fs_state ^= fs_state << 13;
    fs_state ^= fs_state >> 7;
    fs_state ^= fs_state << 17;
    return (uint32_t)(fs_state >> 16);
}

static void fs_varint(gw_buf *b, uint64_t v)
{
    while (v >= 0x80) {
        gw_buf_putc(b, (int)(v | 0x80));
        v >>= 7;
    }
    gw_buf_putc(b, (int)v);
}

static int fs_wire(int type)
{
    switch (type) {
    case PB_T_FIXED64: case PB_T_SFIXED64: case PB_T_DOUBLE: return 1;
    case PB_T_FIXED32: case PB_T_SFIXED32: case PB_T_FLOAT: return 5;
    case PB_T_STRING: case PB_T_BYTES: case PB_T_MESSAGE: return 2;
    case PB_T_GROUP: return 3;
    default: return 0;
    }
}

static void fs_message(gw_buf *b, const pb_msgdef *m, int depth);

/* One field numbered num of m: mostly of the declared wire type, with values that hit every
 * rule of the fast way (zero values, 2^53, strings printable or not, long or not, UTF-8 good
 * and bad), sometimes of another wire type or a group. */
static void fs_field(gw_buf *b, const pb_msgdef *m, uint32_t num, int depth)
{
    const pb_fdef *fd = pb_msg_field(m, num);
    static const int wts[] = {0, 1, 2, 5, 2, 0, 3};
    int wt = fd && fs_rnd() % 6 ? fs_wire(fd->type) : wts[fs_rnd() % 7];
    fs_varint(b, (uint64_t)num << 3 | (unsigned)wt);
    switch (wt) {
    case 0: {
        static const uint64_t vals[] = {0, 1, 2, 127, 128, 300, 0xffffffffull,
                                        9007199254740992ull, 9007199254740993ull, ~0ull};
        fs_varint(b, fs_rnd() % 3 ? fs_rnd() % 200 : vals[fs_rnd() % 10]);
        return;
    }
    case 1:
    case 5:
        for (int k = 0; k < (wt == 1 ? 8 : 4); k++)
            gw_buf_putc(b, fs_rnd() % 3 ? 0 : (int)(fs_rnd() & 0xff));
        return;
    case 3: /* a group: a field, then (mostly) its end */
        if (fs_rnd() % 2)
            fs_field(b, m, 1 + fs_rnd() % 4, depth + 1);
        if (fs_rnd() % 8)
            fs_varint(b, (uint64_t)num << 3 | 4);
        return;
    default:
        break;
    }
    gw_buf t;
    gw_buf_init(&t, 0);
    if (fd && fd->msg && depth < 3 && fs_rnd() % 4) {
        fs_message(&t, fd->msg, depth + 1);
    } else {
        static const char *const alpha[] = {"a", "Z", " ", "0", "-", "\"", "\\", "\n", "\t",
                                            "\x7f", "\x01", "\xc3\xa9", "\xe2\x82\xac",
                                            "\xf0\x9f\x98\x80", "\xc2\x85", "\xc3", "\xff"};
        size_t len = fs_rnd() % 8 == 0 ? 250 + fs_rnd() % 20 : fs_rnd() % 24;
        for (size_t k = 0; k < len; k++) {
            const char *a = fs_rnd() % 6 ? alpha[fs_rnd() % 5] : alpha[fs_rnd() % 17];
            gw_buf_append(&t, a, strlen(a));
        }
        if (fs_rnd() % 10 == 0) /* packed varints */
            for (int k = 0; k < 3; k++)
                fs_varint(&t, fs_rnd() % 1000);
    }
    fs_varint(b, t.len);
    gw_buf_append(b, t.data ? t.data : (const uint8_t *)"", t.len);
    gw_buf_free(&t);
}

/* A message of m: numbers drawn from its fields and a few unknown ones, mostly ascending and
 * unique (what the fast way takes), sometimes shuffled or repeated, sometimes damaged. */
static void fs_message(gw_buf *b, const pb_msgdef *m, int depth)
{
    uint32_t nums[8];
    size_t nf = fs_rnd() % (depth ? 4 : 8);
    for (size_t i = 0; i < nf; i++) {
        uint32_t r = fs_rnd() % 10;
        if (r < 7 && m->n_fields)
            nums[i] = m->fields[fs_rnd() % m->n_fields].number;
        else if (r < 9)
            nums[i] = 1 + fs_rnd() % 60;
        else
            nums[i] = 100 + fs_rnd() % 1100; /* extension ranges of legacy.Header */
    }
    if (fs_rnd() % 8) { /* ascending, unique */
        for (size_t i = 1; i < nf; i++)
            for (size_t j = i; j > 0 && nums[j - 1] > nums[j]; j--) {
                uint32_t t = nums[j];
                nums[j] = nums[j - 1];
                nums[j - 1] = t;
            }
        size_t k = 0;
        for (size_t i = 0; i < nf; i++)
            if (!k || nums[k - 1] != nums[i])
                nums[k++] = nums[i];
        nf = k;
    }
    for (size_t i = 0; i < nf; i++)
        fs_field(b, m, nums[i], depth);
}

static void test_fast_differential(pb_schemas *s, pb_schemas *legacy)
{
    static const char *const types[] = {
        "shop.v1.Item", "shop.v1.Item.Dimensions", "shop.v1.GetItemRequest",
        "shop.v1.ListItemsRequest", "shop.v1.Rule", "helloworld.HelloRequest",
        "helloworld.HelloReply", "google.protobuf.Timestamp", "google.protobuf.Int64Value",
        "legacy.Header", "legacy.Trailer", "legacy.Envelope",
    };
    static const int depths[] = {32, 0, 1, 3};
    gw_buf in, a, b;
    gw_buf_init(&in, 0);
    gw_buf_init(&a, 0);
    gw_buf_init(&b, 0);
    int differ = 0, total = 0, differ_short = 0, total_short = 0;
    for (size_t t = 0; t < sizeof types / sizeof *types; t++) {
        const pb_schemas *sc = strncmp(types[t], "legacy.", 7) ? s : legacy;
        const pb_msgdef *m = pb_schemas_find_message(sc, types[t]);
        GW_CHECK(m != NULL);
        if (!m)
            continue;
        for (int iter = 0; iter < 4000; iter++) {
            gw_buf_reset(&in);
            fs_message(&in, m, 0);
            if (iter % 16 == 5 && in.len) /* cut */
                in.len = fs_rnd() % in.len;
            if (iter % 16 == 9) /* trailing damage */
                gw_buf_append(&in, "\x0a\x7f", 2);
            pb_opts o = {.max_depth = depths[iter % 4]};
            const uint8_t *p = in.data ? in.data : (const uint8_t *)"";
            gw_buf_reset(&a);
            gw_buf_reset(&b);
            view_schema_force_general(1);
            int ra = view_schema_json(&a, sc, m, p, in.len, &o);
            view_schema_force_general(0);
            int rb = view_schema_json(&b, sc, m, p, in.len, &o);
            total++;
            if (ra != rb || a.len != b.len || (a.len && memcmp(a.data, b.data, a.len))) {
                if (differ++ < 3)
                    fprintf(stderr, "%s\ngeneral: %.*s\nfast:    %.*s\n", types[t], (int)a.len,
                            (char *)a.data, (int)b.len, (char *)b.data);
            }
            /* The one-line form (s_fast, and view_pb_short's for the rest), cut or not. */
            static const size_t maxes[] = {0, 60, 17, 3};
            size_t max = maxes[iter / 4 % 4];
            gw_buf_reset(&a);
            gw_buf_reset(&b);
            view_schema_force_general(1);
            view_pb_force_general(1);
            ra = view_schema_short(&a, sc, m, p, in.len, max);
            view_schema_force_general(0);
            view_pb_force_general(0);
            rb = view_schema_short(&b, sc, m, p, in.len, max);
            total_short++;
            if (ra != rb || a.len != b.len || (a.len && memcmp(a.data, b.data, a.len))) {
                if (differ_short++ < 3)
                    fprintf(stderr, "%s max %zu\ngeneral: %.*s\nfast:    %.*s\n", types[t], max,
                            (int)a.len, (char *)a.data, (int)b.len, (char *)b.data);
            }
        }
    }
    GW_CHECK_INT(differ, 0);
    GW_CHECK_INT(differ_short, 0);
    printf("schema json fast/general: %d messages, %d differ\n", total, differ);
    printf("schema short fast/general: %d messages, %d differ\n", total_short, differ_short);
    gw_buf_free(&in);
    gw_buf_free(&a);
    gw_buf_free(&b);
}

int main(void)
{
    pb_schemas *s = load();
    test_item_oracles(s);
    test_cases(s);
    test_text_mismatch(s);
    test_short_cut(s);
    test_guess(s);
    test_method_cache(s);
    test_unknown_rest(s);
    pb_schemas *legacy;
    char err[256];
    GW_CHECK_INT(pb_schemas_new(&legacy, NULL), 0);
    GW_CHECK_INT(pb_schemas_load_proto(legacy, "tests/vectors/schema/legacy.proto", dirs, 2, err,
                                       sizeof err),
                 0);
    test_fast_differential(s, legacy);
    pb_schemas_del(legacy);
    pb_schemas_del(s);
    GW_TEST_END();
}
