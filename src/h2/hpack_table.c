/* hpack_table: the static table (RFC 7541 Appendix A) and the dynamic table ring. */
#include <string.h>
#include "hpack.h"
#include "hpack_dyn.h"
#include "gw_err.h"
#include "gw_mem.h"

static const char *const static_table[61][2] = {
    {":authority", ""},
    {":method", "GET"},
    {":method", "POST"},
    {":path", "/"},
    {":path", "/index.html"},
    {":scheme", "http"},
    {":scheme", "https"},
    {":status", "200"},
    {":status", "204"},
    {":status", "206"},
    {":status", "304"},
    {":status", "400"},
    {":status", "404"},
    {":status", "500"},
    {"accept-charset", ""},
    {"accept-encoding", "gzip, deflate"},
    {"accept-language", ""},
    {"accept-ranges", ""},
    {"accept", ""},
    {"access-control-allow-origin", ""},
    {"age", ""},
    {"allow", ""},
    {"authorization", ""},
    {"cache-control", ""},
    {"content-disposition", ""},
    {"content-encoding", ""},
    {"content-language", ""},
    {"content-length", ""},
    {"content-location", ""},
    {"content-range", ""},
    {"content-type", ""},
    {"cookie", ""},
    {"date", ""},
    {"etag", ""},
    {"expect", ""},
    {"expires", ""},
    {"from", ""},
    {"host", ""},
    {"if-match", ""},
    {"if-modified-since", ""},
    {"if-none-match", ""},
    {"if-range", ""},
    {"if-unmodified-since", ""},
    {"last-modified", ""},
    {"link", ""},
    {"location", ""},
    {"max-forwards", ""},
    {"proxy-authenticate", ""},
    {"proxy-authorization", ""},
    {"range", ""},
    {"referer", ""},
    {"refresh", ""},
    {"retry-after", ""},
    {"server", ""},
    {"set-cookie", ""},
    {"strict-transport-security", ""},
    {"transfer-encoding", ""},
    {"user-agent", ""},
    {"vary", ""},
    {"via", ""},
    {"www-authenticate", ""},
};

const char *hpack_static_name(uint32_t index)
{
    return index >= 1 && index <= 61 ? static_table[index - 1][0] : NULL;
}

const char *hpack_static_value(uint32_t index)
{
    return index >= 1 && index <= 61 ? static_table[index - 1][1] : NULL;
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

static void evict_oldest(hpack_dyn *t)
{
    hpack_entry *e = &t->ring[t->first];
    t->size -= entry_size(e);
    if (e->name_unknown)
        t->unknown_names--;
    gw_free(e->name);
    memset(e, 0, sizeof *e);
    t->first = (t->first + 1) % t->cap;
    t->count--;
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
    gw_free(t->ring);
    t->ring = NULL;
    t->cap = 0;
}

const hpack_entry *hpack_dyn_get(const hpack_dyn *t, size_t i)
{
    if (i == 0 || i > t->count)
        return NULL;
    return &t->ring[(t->first + t->count - i) % t->cap];
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
    char *buf = gw_malloc(name_len + value_len + 2);
    if (!buf)
        return GW_ENOMEM;
    if (name_len)
        memcpy(buf, name, name_len);
    buf[name_len] = 0;
    if (value_len)
        memcpy(buf + name_len + 1, value, value_len);
    buf[name_len + 1 + value_len] = 0;
    hpack_entry *e = &t->ring[(t->first + t->count) % t->cap];
    e->name = buf;
    e->value = buf + name_len + 1;
    e->name_len = (uint32_t)name_len;
    e->value_len = (uint32_t)value_len;
    e->name_unknown = name_unknown ? 1 : 0;
    t->count++;
    t->size += need;
    if (name_unknown)
        t->unknown_names++;
    return 0;
}
