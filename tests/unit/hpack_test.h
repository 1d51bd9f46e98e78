/* Helpers shared by the HPACK tests (test_hpack.c, test_hpack_fast.c): a field collector,
 * hex blocks, the integer encoder. */
#ifndef HPACK_TEST_H
#define HPACK_TEST_H
#include <stdlib.h>
#include "gw_test.h"
#include "gw_err.h"
#include "gw_mem.h"
#include "h2/hpack.h"
#include "h2/hpack_dyn.h"
#include "h2/hpack_huff.h"
#include "h2/hpack_huff_table.h" /* the nibble machine, for the reference Huffman decoder */

#define MAXF 64

typedef struct got_field {
    char name[512];
    char value[512];
    size_t name_len, value_len;
    hpack_field f; /* name/value pointers not to be used after the call */
} got_field;

typedef struct got {
    got_field v[MAXF];
    int n;
    int stop_after; /* 0: never stop */
} got;

static inline int collect(void *u, const hpack_field *f)
{
    got *g = u;
    if (g->n < MAXF) {
        got_field *x = &g->v[g->n];
        x->f = *f;
        x->name_len = f->name_len;
        x->value_len = f->value_len;
        snprintf(x->name, sizeof x->name, "%.*s", (int)f->name_len, f->name);
        snprintf(x->value, sizeof x->value, "%.*s", (int)f->value_len, f->value);
    }
    g->n++;
    return g->stop_after && g->n >= g->stop_after;
}

static uint8_t blk[8192];
static inline int dec_hex(hpack_decoder *d, const char *hex, got *g, const char **why)
{
    size_t n = gw_test_unhex(hex, blk, sizeof blk);
    memset(g, 0, sizeof *g);
    return hpack_decode_block(d, blk, n, collect, g, why);
}

static inline size_t enc_int(uint8_t *out, uint8_t first, unsigned nbits, uint64_t v)
{
    uint64_t mask = (1u << nbits) - 1;
    size_t n = 0;
    if (v < mask) {
        out[n++] = (uint8_t)(first | v);
        return n;
    }
    out[n++] = (uint8_t)(first | mask);
    v -= mask;
    while (v >= 128) {
        out[n++] = (uint8_t)(v % 128 + 128);
        v /= 128;
    }
    out[n++] = (uint8_t)v;
    return n;
}

#endif
