/* hpack_table: the static table (RFC 7541 Appendix A) and the dynamic table ring. */
#include <string.h>
#include "hpack.h"
#include "hpack_dyn.h"
#include "gw_err.h"
#include "gw_mem.h"

/* Lengths are sizeof - 1: the decoder never measures a static string. */
#define S(n, v) {n, v, sizeof n - 1, sizeof v - 1}
const hpack_static_entry hpack_static_table[61] = {
    S(":authority", ""),
    S(":method", "GET"),
    S(":method", "POST"),
    S(":path", "/"),
    S(":path", "/index.html"),
    S(":scheme", "http"),
    S(":scheme", "https"),
    S(":status", "200"),
    S(":status", "204"),
    S(":status", "206"),
    S(":status", "304"),
    S(":status", "400"),
    S(":status", "404"),
    S(":status", "500"),
    S("accept-charset", ""),
    S("accept-encoding", "gzip, deflate"),
    S("accept-language", ""),
    S("accept-ranges", ""),
    S("accept", ""),
    S("access-control-allow-origin", ""),
    S("age", ""),
    S("allow", ""),
    S("authorization", ""),
    S("cache-control", ""),
    S("content-disposition", ""),
    S("content-encoding", ""),
    S("content-language", ""),
    S("content-length", ""),
    S("content-location", ""),
    S("content-range", ""),
    S("content-type", ""),
    S("cookie", ""),
    S("date", ""),
    S("etag", ""),
    S("expect", ""),
    S("expires", ""),
    S("from", ""),
    S("host", ""),
    S("if-match", ""),
    S("if-modified-since", ""),
    S("if-none-match", ""),
    S("if-range", ""),
    S("if-unmodified-since", ""),
    S("last-modified", ""),
    S("link", ""),
    S("location", ""),
    S("max-forwards", ""),
    S("proxy-authenticate", ""),
    S("proxy-authorization", ""),
    S("range", ""),
    S("referer", ""),
    S("refresh", ""),
    S("retry-after", ""),
    S("server", ""),
    S("set-cookie", ""),
    S("strict-transport-security", ""),
    S("transfer-encoding", ""),
    S("user-agent", ""),
    S("vary", ""),
    S("via", ""),
    S("www-authenticate", ""),
};
#undef S

const char *hpack_static_name(uint32_t index)
{
    return index >= 1 && index <= 61 ? hpack_static_table[index - 1].name : NULL;
}

const char *hpack_static_value(uint32_t index)
{
    return index >= 1 && index <= 61 ? hpack_static_table[index - 1].value : NULL;
}

void hpack_dyn_init(hpack_dyn *t, size_t max)
{
    memset(t, 0, sizeof *t);
    t->max = max;
}

static size_t entry_size(const hpack_entry *e)
{
    return HPACK_ENTRY_OVERHEAD + (size_t)e->name_len + e->value_len;
}

/* The decoder hands out pointers into entries, and a later insertion in the same block may
 * evict them (or insert a name read from the entry it evicts), so the buffer is retired until
 * the decoder's next block. Bound: between two releases we retire at most the table's content
 * at the first one plus what was inserted since, i.e. one table maximum plus one block's
 * header list (insertions count toward the header list cap). */
static void evict_oldest(hpack_dyn *t)
{
    hpack_entry *e = &t->ring[t->first];
    size_t sz = entry_size(e);
    t->size -= sz;
    if (e->name_unknown)
        t->unknown_names--;
    e->buf->next = t->retired;
    t->retired = e->buf;
    t->retired_bytes += sz;
    memset(e, 0, sizeof *e);
    t->first = t->first + 1 == t->cap ? 0 : t->first + 1;
    t->count--;
}

void hpack_dyn_release(hpack_dyn *t)
{
    hpack_dyn_buf *b = t->retired;
    while (b) {
        hpack_dyn_buf *next = b->next;
        if (b->cls < HPACK_DYN_CLASSES && t->nspare[b->cls] < HPACK_DYN_SPARES) {
            b->next = t->spare[b->cls];
            t->spare[b->cls] = b;
            t->nspare[b->cls]++;
        } else {
            gw_free(b);
        }
        b = next;
    }
    t->retired = NULL;
    t->retired_bytes = 0;
}

static void spares_free(hpack_dyn *t)
{
    for (unsigned c = 0; c < HPACK_DYN_CLASSES; c++) {
        hpack_dyn_buf *b = t->spare[c];
        while (b) {
            hpack_dyn_buf *next = b->next;
            gw_free(b);
            b = next;
        }
        t->spare[c] = NULL;
        t->nspare[c] = 0;
    }
}

/* Storage for n octets of entry data: a spare buffer of its class, or a new one. */
static hpack_dyn_buf *buf_get(hpack_dyn *t, size_t n)
{
    size_t cls = (n + HPACK_DYN_CLASS_BYTES - 1) / HPACK_DYN_CLASS_BYTES - 1; /* n >= 2 */
    if (cls >= HPACK_DYN_CLASSES) {
        hpack_dyn_buf *b = gw_malloc(sizeof *b + n);
        if (b)
            b->cls = HPACK_DYN_CLASSES;
        return b;
    }
    hpack_dyn_buf *b = t->spare[cls];
    if (b) {
        t->spare[cls] = b->next;
        t->nspare[cls]--;
        return b;
    }
    b = gw_malloc(sizeof *b + (cls + 1) * HPACK_DYN_CLASS_BYTES);
    if (b)
        b->cls = (uint32_t)cls;
    return b;
}

void hpack_dyn_clear(hpack_dyn *t)
{
    while (t->count > 0)
        evict_oldest(t);
    t->first = 0;
}

void hpack_dyn_free(hpack_dyn *t)
{
    if (t->ring)
        hpack_dyn_clear(t);
    hpack_dyn_release(t);
    spares_free(t);
    gw_free(t->ring);
    t->ring = NULL;
    t->cap = 0;
}

static void evict_to(hpack_dyn *t, size_t room)
{
    while (t->count > 0 && t->size > room) {
        evict_oldest(t);
        t->evictions++;
    }
}

void hpack_dyn_set_max(hpack_dyn *t, size_t max)
{
    t->max = max;
    evict_to(t, max);
}

/* Grows the ring, keeping the entries in order from slot 0. */
static int grow(hpack_dyn *t)
{
    size_t ncap = t->cap ? t->cap * 2 : 16;
    hpack_entry *n = gw_calloc(ncap, sizeof *n);
    if (!n)
        return GW_ENOMEM;
    for (size_t i = 0; i < t->count; i++)
        n[i] = t->ring[(t->first + i) % t->cap];
    gw_free(t->ring);
    t->ring = n;
    t->cap = ncap;
    t->first = 0;
    return 0;
}

int hpack_dyn_insert(hpack_dyn *t, const char *name, size_t name_len, const char *value,
                     size_t value_len, int name_unknown)
{
    if (name_unknown)
        name_len = 0;
    /* Compare without overflow: lengths are bounded by the decoder's string cap. */
    size_t need = HPACK_ENTRY_OVERHEAD + name_len + value_len;
    if (need > t->max) {
        hpack_dyn_clear(t); /* RFC 7541 4.4: not an error */
        t->evictions++;
        return 0;
    }
    evict_to(t, t->max - need);
    if (t->count == t->cap && grow(t) < 0)
        return GW_ENOMEM;
    hpack_dyn_buf *b = buf_get(t, name_len + value_len + 2);
    if (!b)
        return GW_ENOMEM;
    b->next = NULL;
    char *buf = b->data;
    hpack_copy(buf, name, name_len);
    buf[name_len] = 0;
    hpack_copy(buf + name_len + 1, value, value_len);
    buf[name_len + 1 + value_len] = 0;
    size_t k = t->first + t->count;
    hpack_entry *e = &t->ring[k >= t->cap ? k - t->cap : k];
    e->name = buf;
    e->value = buf + name_len + 1;
    e->buf = b;
    e->name_len = (uint32_t)name_len;
    e->value_len = (uint32_t)value_len;
    e->name_unknown = name_unknown ? 1 : 0;
    e->name_static = 0;
    t->count++;
    t->size += need;
    if (name_unknown)
        t->unknown_names++;
    return 0;
}
