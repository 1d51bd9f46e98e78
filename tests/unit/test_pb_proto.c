/* .proto parser: the test protos (tests/vectors/schema, plus descriptor.proto and the WKT from
 * /usr/include) parse to exactly the schema protoc's descriptor sets describe (canonical dumps
 * compared file by file); errors carry file:line:column; built-ins; failing allocations. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/gw_err.h"
#include "common/gw_mem.h"
#include "gw_test.h"
#include "pb/pb_schema.h"

static const char *const dirs[] = {"tests/vectors/schema", "/usr/include"};

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    uint8_t *buf = malloc(1 << 20);
    *n = fread(buf, 1, 1 << 20, f);
    fclose(f);
    return buf;
}

static char *dump(const pb_filedef *f)
{
    gw_buf b;
    gw_buf_init(&b, 0);
    pb_schema_dump_file(&b, f);
    gw_buf_putc(&b, 0);
    char *r = strdup((char *)b.data);
    gw_buf_free(&b);
    return r;
}

/* Every file of protoc's set must dump the same from our parser. */
static void roundtrip(const char *proto, const char *pbset)
{
    pb_schemas *ours, *theirs;
    char err[512] = "";
    GW_CHECK_INT(pb_schemas_new(&ours, NULL), 0);
    GW_CHECK_INT(pb_schemas_new(&theirs, NULL), 0);
    int e = pb_schemas_load_proto(ours, proto, dirs, 2, err, sizeof err);
    if (e)
        fprintf(stderr, "%s\n", err);
    GW_CHECK_INT(e, 0);
    size_t n;
    uint8_t *set = slurp(pbset, &n);
    GW_CHECK(set != NULL);
    if (set) {
        e = pb_schemas_load_descset(theirs, set, n, err, sizeof err);
        if (e)
            fprintf(stderr, "%s\n", err);
        GW_CHECK_INT(e, 0);
    }
    GW_CHECK(pb_schemas_n_files(theirs) > 0);
    for (size_t i = 0; i < pb_schemas_n_files(theirs); i++) {
        const pb_filedef *tf = pb_schemas_file(theirs, i);
        const pb_filedef *of = pb_schemas_find_file(ours, tf->name);
        GW_CHECK(of != NULL);
        if (!of) {
            fprintf(stderr, "  missing file %s\n", tf->name);
            continue;
        }
        char *a = dump(of), *b = dump(tf);
        if (strcmp(a, b) != 0) {
            fprintf(stderr, "--- ours %s\n%s--- protoc\n%s", tf->name, a, b);
        }
        GW_CHECK_STR(a, b);
        free(a);
        free(b);
    }
    free(set);
    pb_schemas_del(ours);
    pb_schemas_del(theirs);
}

static void test_roundtrips(void)
{
    roundtrip("tests/vectors/schema/shop.proto", "tests/vectors/schema/shop.pb");
    roundtrip("tests/vectors/schema/legacy.proto", "tests/vectors/schema/legacy.pb");
}

/* The set without imports: files load, references to missing files stay unresolved and
 * resolve when the missing files arrive later (as reflection delivers them). */
static void test_noimports(void)
{
    pb_schemas *s;
    char err[256];
    size_t n;
    pb_schemas_new(&s, NULL);
    uint8_t *set = slurp("tests/vectors/schema/shop.noimports.pb", &n);
    GW_CHECK_INT(pb_schemas_load_descset(s, set, n, err, sizeof err), 0);
    const pb_msgdef *item = pb_schemas_find_message(s, "shop.v1.Item");
    GW_CHECK(item != NULL);
    const pb_fdef *price = pb_msg_field(item, 4);
    GW_CHECK(price && price->msg == NULL);
    GW_CHECK_INT(pb_schemas_load_proto(s, "tests/vectors/schema/shop/common.proto", dirs, 2, err,
                                       sizeof err), 0);
    GW_CHECK(price && price->msg == pb_schemas_find_message(s, "shop.common.Money"));
    const pb_methoddef *md = pb_schemas_find_method(s, "/shop.v1.Catalog/GetItem");
    GW_CHECK(md && md->out == item);
    free(set);
    pb_schemas_del(s);
}

static void test_builtin(void)
{
    pb_schemas *s;
    pb_schemas_new(&s, NULL);
    GW_CHECK_INT(pb_schemas_add_builtin(s), 0);
    const pb_methoddef *md = pb_schemas_find_method(s, "/helloworld.Greeter/SayHello");
    GW_CHECK(md && md->in && md->out);
    GW_CHECK_STR(md ? md->in->full_name : NULL, "helloworld.HelloRequest");
    GW_CHECK_STR(md ? md->out->fields[0].name : NULL, "message");
    static const char *const wkt[] = {
        "google.protobuf.Timestamp", "google.protobuf.Duration", "google.protobuf.Any",
        "google.protobuf.Empty", "google.protobuf.Struct", "google.protobuf.Value",
        "google.protobuf.ListValue", "google.protobuf.Int64Value", "google.protobuf.BytesValue",
        "google.protobuf.FieldMask", "google.rpc.Status", "google.rpc.BadRequest",
    };
    for (size_t i = 0; i < sizeof wkt / sizeof wkt[0]; i++)
        GW_CHECK(pb_schemas_find_message(s, wkt[i]) != NULL);
    GW_CHECK(pb_schemas_find_enum(s, "google.protobuf.NullValue") != NULL);
    GW_CHECK(pb_schemas_find_method(s, "/helloworld.Greeter/Nope") == NULL);
    GW_CHECK(pb_schemas_find_method(s, "helloworld.Greeter/SayHello") == NULL);
    GW_CHECK(pb_schemas_find_method(s, "/helloworld.Greeter/SayHello/x") == NULL);
    /* A user's definition replaces a built-in's. */
    const char *mine = "syntax = \"proto3\"; package helloworld;\n"
                       "message HelloRequest { string who = 1; int32 times = 2; }\n";
    char err[256];
    GW_CHECK_INT(pb_schemas_parse_proto(s, "mine.proto", mine, strlen(mine), NULL, 0, err,
                                        sizeof err), 0);
    const pb_msgdef *hr = pb_schemas_find_message(s, "helloworld.HelloRequest");
    GW_CHECK(hr && hr->n_fields == 2);
    pb_schemas_del(s);
}

static const struct {
    const char *src;
    const char *err; /* prefix of the message */
} bad[] = {
    {"syntax = \"proto4\";", "t.proto:1:10: unsupported syntax"},
    {"syntax = \"proto3\";\nmessage A {\n  int32 x = 0;\n}", "t.proto:3:13: field number out of range"},
    {"syntax = \"proto3\";\nmessage A {\n  Foo x = 1;\n}", "t.proto:3:3: unknown type Foo"},
    {"syntax = \"proto3\";\nmessage A {\n  required int32 x = 1;\n}", "t.proto:3:3: required fields"},
    {"syntax = \"proto2\";\nmessage A {\n  int32 x = 1;\n}", "t.proto:3:3: expected a label"},
    {"syntax = \"proto3\";\nmessage A {", "t.proto:2:12: unterminated message A"},
    {"syntax = \"proto3\";\n/* open", "t.proto:2:1: unterminated comment"},
    {"syntax = \"proto3\";\nmessage A { string s = 1 [default = \"x]; }", "t.proto:2:37: unterminated string"},
    {"syntax = \"proto3\";\nimport \"nope/missing.proto\";", "t.proto:2:8: import \"nope/missing.proto\" not found"},
    {"syntax = \"proto3\";\nenum E { A = 1; }", "t.proto:2:18: the first value of a proto3 enum must be zero"},
    {"syntax = \"proto3\";\nservice S { rpc M (In) returns (Out); }", "t.proto:2:20: unknown message In"},
    {"syntax = \"proto3\";\nmessage A { map<float, int32> m = 1; }", "t.proto:2:17: invalid map key type"},
    {"syntax = \"proto3\";\nmessage A { int32 x = 1 [(a.b) = {c: {d: 1}]; }", "t.proto:2:"},
    {"syntax = \"proto3\";\npackage a;\npackage b;", "t.proto:3:1: more than one package"},
    {"edition = \"2023\";", "t.proto:1:1: editions are not supported"},
    {"syntax = \"proto3\";\nmessage A { int32 x = 1; } }", "t.proto:2:28: unexpected '}'"},
};

static void test_errors(void)
{
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        pb_schemas *s;
        char err[256] = "";
        pb_schemas_new(&s, NULL);
        int e = pb_schemas_parse_proto(s, "t.proto", bad[i].src, strlen(bad[i].src), NULL, 0, err,
                                       sizeof err);
        GW_CHECK(e < 0);
        if (strncmp(err, bad[i].err, strlen(bad[i].err)) != 0)
            fprintf(stderr, "case %zu: got \"%s\", expected \"%s...\"\n", i, err, bad[i].err);
        GW_CHECK(strncmp(err, bad[i].err, strlen(bad[i].err)) == 0);
        GW_CHECK(pb_schemas_find_file(s, "t.proto") == NULL);
        pb_schemas_del(s);
    }
}

/* Name resolution follows protobuf's scoping: innermost first; a leading dot is absolute. */
static void test_scoping(void)
{
    const char *src = "syntax = \"proto3\"; package a.b;\n"
                      "message T { int32 outer = 1; }\n"
                      "message M {\n"
                      "  message T { int32 inner = 1; }\n"
                      "  T t1 = 1; .a.b.T t2 = 2; b.T t3 = 3; a.b.M.T t4 = 4;\n"
                      "  message N { T t5 = 1; M.T t6 = 2; }\n"
                      "}\n";
    pb_schemas *s;
    char err[256];
    pb_schemas_new(&s, NULL);
    GW_CHECK_INT(pb_schemas_parse_proto(s, "s.proto", src, strlen(src), NULL, 0, err, sizeof err), 0);
    const pb_msgdef *m = pb_schemas_find_message(s, "a.b.M");
    const pb_msgdef *n = pb_schemas_find_message(s, "a.b.M.N");
    GW_CHECK(m && n);
    if (m && n) {
        GW_CHECK_STR(pb_msg_field(m, 1)->type_name, ".a.b.M.T");
        GW_CHECK_STR(pb_msg_field(m, 2)->type_name, ".a.b.T");
        GW_CHECK_STR(pb_msg_field(m, 3)->type_name, ".a.b.T");
        GW_CHECK_STR(pb_msg_field(m, 4)->type_name, ".a.b.M.T");
        GW_CHECK_STR(pb_msg_field(n, 1)->type_name, ".a.b.M.T");
        GW_CHECK_STR(pb_msg_field(n, 2)->type_name, ".a.b.M.T");
    }
    pb_schemas_del(s);
}

/* Limits: a schema arena cap, and deep nesting, fail cleanly. */
static void test_limits(void)
{
    pb_schema_limits lim;
    pb_schema_limits_default(&lim);
    lim.max_bytes = 32 * 1024;
    pb_schemas *s;
    char err[256];
    pb_schemas_new(&s, &lim);
    gw_buf src;
    gw_buf_init(&src, 0);
    gw_buf_printf(&src, "syntax = \"proto3\";\n");
    for (int i = 0; i < 2000; i++)
        gw_buf_printf(&src, "message M%d { int32 a_long_field_name_%d = 1; }\n", i, i);
    GW_CHECK_INT(pb_schemas_parse_proto(s, "big.proto", (char *)src.data, src.len, NULL, 0, err,
                                        sizeof err), GW_ECAP);
    pb_schemas_del(s);
    gw_buf_reset(&src);
    gw_buf_printf(&src, "syntax = \"proto3\";\n");
    for (int i = 0; i < 100; i++)
        gw_buf_printf(&src, "message M%d {", i);
    for (int i = 0; i < 100; i++)
        gw_buf_printf(&src, "}");
    pb_schemas_new(&s, NULL);
    GW_CHECK_INT(pb_schemas_parse_proto(s, "deep.proto", (char *)src.data, src.len, NULL, 0, err,
                                        sizeof err), GW_EPARSE);
    GW_CHECK(strstr(err, "nested too deeply") != NULL);
    pb_schemas_del(s);
    gw_buf_free(&src);
}

static void test_failmalloc(void)
{
    int ok = 0;
    for (long n = 0; n < 400 && !ok; n += 3) {
        pb_schemas *s = NULL;
        gw_mem_fail_after(n);
        if (pb_schemas_new(&s, NULL) == 0) {
            char err[256];
            ok = pb_schemas_load_proto(s, "tests/vectors/schema/legacy.proto", dirs, 2, err,
                                       sizeof err) == 0;
        }
        gw_mem_fail_after(-1);
        pb_schemas_del(s);
    }
    GW_CHECK(ok);
}

int main(void)
{
    test_roundtrips();
    test_noimports();
    test_builtin();
    test_errors();
    test_scoping();
    test_limits();
    test_failmalloc();
    GW_TEST_END();
}
