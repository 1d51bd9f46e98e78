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
    pb_schemas_del(s);
    GW_TEST_END();
}
