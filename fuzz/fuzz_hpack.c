/* fuzz_hpack: arbitrary header blocks through one decoder, with settings changes and desyncs
 * in between, through either entry point (an option bit). Input: a byte of options, then records: an op byte, and for blocks a length byte
 * and that many octets. Checks the table's invariants and touches every string handed out, in
 * the callback and again after the block (and after a settings change or desync that follows
 * it): fields point into dynamic entries that later insertions may evict, and must stay valid
 * until the next block. */
#include <stdlib.h>
#include <string.h>
#include "gw_err.h"
#include "gw_mem.h"
#include "h2/hpack.h"
#include "h2/hpack_dyn.h"

static volatile uint8_t sink;

#define KEEP 256
typedef struct kept {
    const char *s;
    size_t n;
} kept;
static kept keep[2 * KEEP];
static size_t nkeep;

static void touch_str(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sink ^= (uint8_t)s[i];
    if (s[n] != 0) /* NUL-terminated, as hpack.c documents */
        abort();
}

static void touch_kept(void)
{
    for (size_t i = 0; i < nkeep; i++)
        touch_str(keep[i].s, keep[i].n);
}

static int touch(void *u, const hpack_field *f)
{
    size_t *count = u;
    touch_str(f->name, f->name_len);
    touch_str(f->value, f->value_len);
    if (nkeep + 2 <= 2 * KEEP) {
        keep[nkeep++] = (kept){f->name, f->name_len};
        keep[nkeep++] = (kept){f->value, f->value_len};
    }
    if (f->rep < HPACK_INDEXED || f->rep > HPACK_NEVER_NEW_NAME)
        abort();
    if ((f->unknown_name && f->name_len) || (f->unknown_value && f->value_len))
        abort();
    int new_name = f->rep == HPACK_INC_NEW_NAME || f->rep == HPACK_NOIDX_NEW_NAME ||
                   f->rep == HPACK_NEVER_NEW_NAME;
    if (new_name != (f->index == 0))
        abort();
    if (f->rep == HPACK_INDEXED && (f->name_wire || f->value_wire))
        abort();
    (*count)++;
    return *count > 1000; /* exercise the stop path too */
}

static void check_table(const hpack_decoder *d)
{
    const hpack_dyn *t = hpack_decoder_table(d);
    size_t size = 0, unknown = 0;
    for (size_t i = 1; i <= t->count; i++) {
        const hpack_entry *e = hpack_dyn_get(t, i);
        size += HPACK_ENTRY_OVERHEAD + e->name_len + e->value_len;
        unknown += e->name_unknown;
    }
    if (size != t->size || unknown != t->unknown_names || t->size > t->max)
        abort();
    if (hpack_dyn_get(t, t->count + 1) != NULL)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *p, size_t n)
{
    if (n < 1)
        return 0;
    nkeep = 0; /* strings of an earlier input died with its decoder */
    hpack_opts o;
    hpack_opts_default(&o);
    uint8_t opt = p[0];
    static const size_t tables[] = {0, 64, 256, 4096};
    o.max_table_size = tables[opt & 3];
    o.max_string = (opt & 4) ? 16 : 64 << 10;
    o.max_header_list = (opt & 8) ? 200 : 256 << 10;
    hpack_decoder *d = hpack_decoder_new(&o, (opt & 16) != 0);
    if (!d)
        return 0;
    hpack_into io;
    memset(&io, 0, sizeof io);
    size_t i = 1;
    while (i < n) {
        uint8_t op = p[i++];
        if (op == 0xfe) {
            hpack_decoder_desync(d);
            touch_kept();
        } else if (op == 0xfd && i < n) {
            hpack_decoder_set_max_table_size(d, (size_t)p[i++] * 64);
            touch_kept();
        } else {
            size_t len = op == 0xff ? n - i : op;
            if (len > n - i)
                len = n - i;
            size_t count = 0;
            const char *why = NULL;
            nkeep = 0;
            int rv;
            if (opt & 32) { /* hpack_decode_into: its fast paths and block cache */
                io.nfields = 0;
                rv = hpack_decode_into(d, p + i, len, &io);
                why = io.why;
                for (size_t k = 0; k < io.nfields; k++)
                    touch(&count, &io.fields[k]);
                if (rv == 0 && !io.dropped) {
                    size_t bytes = 0;
                    for (size_t k = 0; k < io.nfields; k++)
                        bytes += io.fields[k].name_len + io.fields[k].value_len + 2;
                    if (bytes != io.field_bytes)
                        abort();
                }
            } else {
                rv = hpack_decode_block(d, p + i, len, touch, &count, &why);
            }
            touch_kept();
            if (rv != 0 && rv != GW_EPARSE && rv != GW_ECAP)
                abort();
            if (rv != 0 && (!why || hpack_decoder_synced(d)))
                abort();
            i += len;
        }
        check_table(d);
    }
    hpack_decoder_del(d);
    gw_free(io.fields);
    return 0;
}
