/* Descriptor loader: protoc's FileDescriptorSets (with and without imports), every truncation of
 * one (never a crash; an error or a clean load), malformed descriptors with their reasons, and
 * reflection responses carrying FileDescriptorProtos in any order. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/gw_err.h"
#include "gw_test.h"
#include "pb/pb_schema.h"
#include "pb/pb_wire.h"

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

static void test_sets(void)
{
    size_t n;
    uint8_t *set = slurp("tests/vectors/schema/shop.pb", &n);
    GW_CHECK(set != NULL);
    if (!set)
        return;
    pb_schemas *s;
    char err[256];
    pb_schemas_new(&s, NULL);
    GW_CHECK_INT(pb_schemas_load_descset(s, set, n, err, sizeof err), 0);
    GW_CHECK(pb_schemas_find_file(s, "google/protobuf/descriptor.proto") != NULL);
    const pb_methoddef *md = pb_schemas_find_method(s, "/shop.v1.Catalog/ListItems");
    GW_CHECK(md && md->server_streaming && !md->client_streaming && md->in && md->out);
    const pb_msgdef *item = pb_schemas_find_message(s, "shop.v1.Item");
    GW_CHECK(item && pb_msg_field(item, 2) && strcmp(pb_msg_field(item, 2)->json_name, "title") == 0);
    GW_CHECK(item && pb_msg_field(item, 6)->packed == 0);
    GW_CHECK(pb_schemas_find_extension(s, "google.protobuf.FieldOptions", 50001) != NULL);
    /* Loading again skips files already loaded. */
    size_t nf = pb_schemas_n_files(s);
    GW_CHECK_INT(pb_schemas_load_descset(s, set, n, err, sizeof err), 0);
    GW_CHECK_INT(pb_schemas_n_files(s), nf);
    pb_schemas_del(s);

    /* Every prefix: a clean load or an error, never a crash (ASan). */
    for (size_t k = 0; k < n; k += (k < 2000 ? 1 : 7)) {
        pb_schemas_new(&s, NULL);
        int e = pb_schemas_load_descset(s, set, k, err, sizeof err);
        GW_CHECK(e == 0 || e == GW_EPARSE);
        pb_schemas_del(s);
    }
    free(set);
}

static const struct {
    const char *hex;
    const char *why;
} bad[] = {
    {"0a03", "not a FileDescriptorSet"},
    {"0a020801", "file descriptor ?: file name: wrong wire type"},
    {"0a051203706b67", "file descriptor ?: a file without a name"},
    {"0a0e0a03612e70220712050a01781801", "file descriptor a.p: a message without a name"},
    {"0a150a03612e70220e0a014d12090a0178180020012805", "file descriptor a.p: field x: bad number"},
    {"0a150a03612e70220e0a014d12090a017818012001280b", "file descriptor a.p: field x: type name not fully qualified"},
};

static void test_bad(void)
{
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint8_t b[128];
        size_t n = gw_test_unhex(bad[i].hex, b, sizeof b);
        pb_schemas *s;
        char err[256] = "";
        pb_schemas_new(&s, NULL);
        int e = pb_schemas_load_descset(s, b, n, err, sizeof err);
        GW_CHECK_INT(e, GW_EPARSE);
        if (strncmp(err, bad[i].why, strlen(bad[i].why)) != 0)
            fprintf(stderr, "case %zu: \"%s\"\n", i, err);
        GW_CHECK(strncmp(err, bad[i].why, strlen(bad[i].why)) == 0);
        GW_CHECK_INT(pb_schemas_n_files(s), 0);
        pb_schemas_del(s);
    }
}

/* A ServerReflectionResponse with file_descriptor_response: the files of shop.pb, in reverse
 * order (dependents before their dependencies), split over two responses. */
static void test_reflection(void)
{
    size_t n;
    uint8_t *set = slurp("tests/vectors/schema/shop.pb", &n);
    if (!set)
        return;
    const uint8_t *files[64];
    size_t lens[64], nf = 0, off = 0;
    while (off < n && nf < 64) {
        pb_field f;
        ptrdiff_t k = pb_field_parse(set + off, n - off, &f);
        GW_CHECK(k > 0);
        if (k <= 0)
            break;
        files[nf] = f.bytes;
        lens[nf++] = (size_t)f.u;
        off += (size_t)k;
    }
    pb_schemas *s;
    pb_schemas_new(&s, NULL);
    int total = 0;
    for (int part = 0; part < 2; part++) {
        gw_buf fdr, resp;
        gw_buf_init(&fdr, 0);
        gw_buf_init(&resp, 0);
        for (size_t i = 0; i < nf; i++) {
            size_t j = nf - 1 - i;
            if ((int)(i % 2) == part)
                pb_put_bytes(&fdr, 1, files[j], lens[j]);
        }
        pb_put_bytes(&resp, 1, "localhost", 9);
        pb_put_bytes(&resp, 4, fdr.data, fdr.len);
        int k = pb_schemas_learn_reflection(s, resp.data, resp.len);
        GW_CHECK(k > 0);
        total += k;
        gw_buf_free(&fdr);
        gw_buf_free(&resp);
    }
    GW_CHECK_INT(total, (int)nf);
    const pb_methoddef *md = pb_schemas_find_method(s, "/shop.v1.Catalog/GetItem");
    GW_CHECK(md && md->in && md->out);
    const pb_msgdef *item = pb_schemas_find_message(s, "shop.v1.Item");
    GW_CHECK(item && pb_msg_field(item, 4)->msg == pb_schemas_find_message(s, "shop.common.Money"));
    GW_CHECK(item && item->file->learned);
    GW_CHECK(pb_is_reflection_method("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"));
    GW_CHECK(!pb_is_reflection_method("/grpc.reflection.v1.ServerReflection/Other"));
    /* Garbage is ignored. */
    GW_CHECK_INT(pb_schemas_learn_reflection(s, (const uint8_t *)"\x22\x03\x0a\x01\xff", 5), 0);
    pb_schemas_del(s);
    free(set);
}

int main(void)
{
    test_sets();
    test_bad();
    test_reflection();
    GW_TEST_END();
}
