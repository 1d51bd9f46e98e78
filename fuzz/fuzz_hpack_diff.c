/* fuzz_hpack_diff: the same header blocks through our decoder and nghttp2's inflater, sharing
 * state across blocks (records: a length byte, then that many octets; 0xff takes the rest).
 * Until the first rejection, both must agree on acceptance, fields (name, value, never-indexed)
 * and the dynamic table. No settings changes here, so none of our documented leniencies apply
 * (size update not required after a SETTINGS decrease). Strings: nghttp2 rejects a string over
 * 65536 wire octets, as our default cap does; we also cap the decoded length at 65536, which
 * only inputs over 40 KiB can reach. */
#include <stdlib.h>
#include <string.h>
#include <nghttp2/nghttp2.h>
#include "gw_err.h"
#include "gw_mem.h"
#include "h2/hpack.h"
#include "h2/hpack_dyn.h"

#define MAXF 4096

typedef struct ref {
    const char *name, *value; /* ours: valid until the next call; nghttp2's copied below */
    size_t nl, vl;
    int never;
} ref;

static ref ours[MAXF];
static int nours;
static uint8_t ngpool[1 << 20];
static ref theirs[MAXF];
static int ntheirs;

static int cb(void *u, const hpack_field *f)
{
    if (nours < MAXF)
        ours[nours] = (ref){f->name, f->value, f->name_len, f->value_len,
                            f->rep == HPACK_NEVER_INDEXED_NAME || f->rep == HPACK_NEVER_NEW_NAME};
    nours++;
    return 0;
}

static int ng(nghttp2_hd_inflater *inf, const uint8_t *p, size_t n)
{
    size_t used = 0;
    ntheirs = 0;
    for (;;) {
        nghttp2_nv nv;
        int flags = 0;
        ssize_t rv = nghttp2_hd_inflate_hd2(inf, &nv, &flags, p, n, 1);
        if (rv < 0)
            return -1;
        p += rv;
        n -= (size_t)rv;
        if (flags & NGHTTP2_HD_INFLATE_EMIT) {
            if (ntheirs < MAXF && used + nv.namelen + nv.valuelen <= sizeof ngpool) {
                ref *r = &theirs[ntheirs];
                memcpy(ngpool + used, nv.name, nv.namelen);
                r->name = (const char *)ngpool + used;
                used += nv.namelen;
                memcpy(ngpool + used, nv.value, nv.valuelen);
                r->value = (const char *)ngpool + used;
                used += nv.valuelen;
                r->nl = nv.namelen;
                r->vl = nv.valuelen;
                r->never = (nv.flags & NGHTTP2_NV_FLAG_NO_INDEX) != 0;
            }
            ntheirs++;
        }
        if (flags & NGHTTP2_HD_INFLATE_FINAL) {
            nghttp2_hd_inflate_end_headers(inf);
            return 0;
        }
        if (!(flags & NGHTTP2_HD_INFLATE_EMIT) && n == 0)
            return -1;
    }
}

static void compare(hpack_decoder *d, nghttp2_hd_inflater *inf)
{
    if (nours != ntheirs)
        abort();
    for (int i = 0; i < nours && i < MAXF; i++) {
        const ref *a = &ours[i], *b = &theirs[i];
        if (a->nl != b->nl || a->vl != b->vl || a->never != b->never ||
            memcmp(a->name, b->name, a->nl) || memcmp(a->value, b->value, a->vl))
            abort();
    }
    const hpack_dyn *t = hpack_decoder_table(d);
    if (nghttp2_hd_inflate_get_num_table_entries(inf) - 61 != t->count ||
        nghttp2_hd_inflate_get_dynamic_table_size(inf) != t->size)
        abort();
    for (size_t i = 1; i <= t->count; i++) {
        const nghttp2_nv *nv = nghttp2_hd_inflate_get_table_entry(inf, 61 + i);
        const hpack_entry *e = hpack_dyn_get(t, i);
        if (!nv || e->name_len != nv->namelen || e->value_len != nv->valuelen ||
            memcmp(e->name, nv->name, nv->namelen) || memcmp(e->value, nv->value, nv->valuelen))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *p, size_t n)
{
    nghttp2_hd_inflater *inf;
    if (nghttp2_hd_inflate_new(&inf) != 0)
        return 0;
    hpack_opts o;
    hpack_opts_default(&o);
    o.max_header_list = (size_t)1 << 30; /* nghttp2's inflater has no such cap */
    hpack_decoder *d = hpack_decoder_new(&o, 1);
    /* The other entry point, with its fast paths, in step: the same results (its fields
     * compared to nghttp2's as ours are, after the whole block). */
    hpack_decoder *d2 = hpack_decoder_new(&o, 1);
    hpack_into io;
    memset(&io, 0, sizeof io);
    size_t i = 0;
    while (d && d2 && i < n) {
        uint8_t op = p[i++];
        size_t len = op == 0xff ? n - i : op;
        if (len > n - i)
            len = n - i;
        nours = 0;
        const char *why = NULL;
        int r2 = hpack_decode_block(d, p + i, len, cb, NULL, &why);
        io.nfields = 0;
        int r3 = hpack_decode_into(d2, p + i, len, &io);
        int r1 = ng(inf, p + i, len);
        i += len;
        if ((r1 != 0) != (r2 != 0) || r3 != r2 || (why == NULL) != (io.why == NULL) ||
            (why && strcmp(why, io.why)) || io.dropped)
            abort();
        if (r1)
            break; /* nghttp2's inflater is unusable after an error */
        compare(d, inf);
        nours = 0;
        for (size_t k = 0; k < io.nfields; k++)
            cb(NULL, &io.fields[k]);
        compare(d2, inf);
    }
    hpack_decoder_del(d);
    hpack_decoder_del(d2);
    gw_free(io.fields);
    nghttp2_hd_inflate_del(inf);
    return 0;
}
