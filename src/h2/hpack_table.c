/* hpack_table: the static table (RFC 7541 Appendix A) and the dynamic table: a ring of entries
 * and a byte ring (the arena) for their strings. */
#include <string.h>
#include "hpack.h"
#include "hpack_dyn.h"
#include "gw_err.h"
#include "gw_mem.h"

/* Lengths are sizeof - 1: the decoder never measures a static string. i: the index, which is
 * also the entry's name_static (its name is that of static entry i). */
#define S(i, n, v)                                                                             \
    {.ref = {.name = n, .name_len = sizeof n - 1, .value = v, .value_len = sizeof v - 1,          \
             .rep = HPACK_INDEXED, .index = i, .name_static = i},                                 \
     .size = HPACK_ENTRY_OVERHEAD + sizeof n + sizeof v - 2}
const hpack_entry hpack_static_table[61] = {
    S(1, ":authority", ""),
    S(2, ":method", "GET"),
    S(3, ":method", "POST"),
    S(4, ":path", "/"),
    S(5, ":path", "/index.html"),
    S(6, ":scheme", "http"),
    S(7, ":scheme", "https"),
    S(8, ":status", "200"),
    S(9, ":status", "204"),
    S(10, ":status", "206"),
    S(11, ":status", "304"),
    S(12, ":status", "400"),
    S(13, ":status", "404"),
    S(14, ":status", "500"),
    S(15, "accept-charset", ""),
    S(16, "accept-encoding", "gzip, deflate"),
    S(17, "accept-language", ""),
    S(18, "accept-ranges", ""),
    S(19, "accept", ""),
    S(20, "access-control-allow-origin", ""),
    S(21, "age", ""),
    S(22, "allow", ""),
    S(23, "authorization", ""),
    S(24, "cache-control", ""),
    S(25, "content-disposition", ""),
    S(26, "content-encoding", ""),
    S(27, "content-language", ""),
    S(28, "content-length", ""),
    S(29, "content-location", ""),
    S(30, "content-range", ""),
    S(31, "content-type", ""),
    S(32, "cookie", ""),
    S(33, "date", ""),
    S(34, "etag", ""),
    S(35, "expect", ""),
    S(36, "expires", ""),
    S(37, "from", ""),
    S(38, "host", ""),
    S(39, "if-match", ""),
    S(40, "if-modified-since", ""),
    S(41, "if-none-match", ""),
    S(42, "if-range", ""),
    S(43, "if-unmodified-since", ""),
    S(44, "last-modified", ""),
    S(45, "link", ""),
    S(46, "location", ""),
    S(47, "max-forwards", ""),
    S(48, "proxy-authenticate", ""),
    S(49, "proxy-authorization", ""),
    S(50, "range", ""),
    S(51, "referer", ""),
    S(52, "refresh", ""),
    S(53, "retry-after", ""),
    S(54, "server", ""),
    S(55, "set-cookie", ""),
    S(56, "strict-transport-security", ""),
    S(57, "transfer-encoding", ""),
    S(58, "user-agent", ""),
    S(59, "vary", ""),
    S(60, "via", ""),
    S(61, "www-authenticate", ""),
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

static int in_arena(const hpack_arena *a, const char *p)
{
    uintptr_t x = (uintptr_t)p, b = (uintptr_t)a->data;
    return x >= b && x - b < a->cap;
}

static void arenas_free(hpack_arena *a)
{
    while (a) {
        hpack_arena *next = a->next;
        gw_free(a);
        a = next;
    }
}

/* Octets of the entry's strings, NULs included. */
static size_t entry_bytes(const hpack_entry *e) { return e->name_len + e->value_len + 2; }

/* After an arena was outgrown: the live entries into one new arena, or (allocation failed)
 * left where they are, the retired arenas kept. Returns 0 when the retired ones can go. */
static int gather(hpack_dyn *t)
{
    size_t live = 0;
    for (size_t i = 0; i < t->count; i++)
        live += entry_bytes(&t->ring[(t->first + i) & t->mask]);
    size_t cap = t->arena->cap;
    if (cap < 2 * live)
        cap = 2 * live;
    hpack_arena *a = gw_malloc(sizeof *a + cap);
    if (!a)
        return -1;
    a->next = NULL;
    a->cap = cap;
    size_t h = 0;
    for (size_t i = 0; i < t->count; i++) {
        hpack_entry *e = &t->ring[(t->first + i) & t->mask];
        size_t nb = entry_bytes(e);
        char *p = a->data + h;
        memcpy(p, e->name, e->name_len + 1);
        memcpy(p + e->name_len + 1, e->value, e->value_len + 1);
        e->ref.name = p;
        e->ref.value = p + e->name_len + 1;
        h += nb;
    }
    gw_free(t->arena);
    t->arena = a;
    t->head = h;
    return 0;
}

void hpack_dyn_release_retired(hpack_dyn *t)
{
    if (gather(t) == 0) {
        arenas_free(t->retired);
        t->retired = NULL;
    }
    /* The oldest entry in the current arena starts the octets still in use. (With retired
     * arenas kept, older entries may live in those; they are never written.) */
    size_t i = 0;
    if (t->retired)
        while (i < t->count && !in_arena(t->arena, t->ring[(t->first + i) & t->mask].name))
            i++;
    t->pin = i < t->count ? (size_t)(t->ring[(t->first + i) & t->mask].name - t->arena->data)
                          : t->head;
}

/* No room for n octets in the arena: a larger one; the current one is retired. */
static __attribute__((noinline)) char *arena_grow(hpack_dyn *t, size_t n)
{
    size_t cap = t->arena ? t->arena->cap * 2 : 2 * t->max;
    if (cap < 256)
        cap = 256;
    if (!t->arena && cap > 16384)
        cap = 16384; /* the maximum may be far larger than what a peer uses */
    if (cap < 2 * n)
        cap = 2 * n;
    hpack_arena *a = gw_malloc(sizeof *a + cap);
    if (!a)
        return NULL;
    a->next = NULL;
    a->cap = cap;
    if (t->arena) {
        t->arena->next = t->retired;
        t->retired = t->arena;
    }
    t->arena = a;
    t->head = n;
    t->pin = 0;
    return a->data;
}

/* n octets at the head, outside [pin, head); wraps to the start rather than split. */
static inline char *arena_take(hpack_dyn *t, size_t n)
{
    size_t pos;
    char *p = hpack_dyn_room(t, n, &pos);
    if (!p)
        return arena_grow(t, n);
    t->head = pos + n;
    return p;
}

/* hpack_dyn_evict_to's loop: more than one entry to evict. In locals. */
void hpack_dyn_evict_loop(hpack_dyn *t, size_t room)
{
    size_t size = t->size, first = t->first, count = t->count, gone = 0, unknown = 0;
    while (count > 0 && size > room) {
        const hpack_entry *e = &t->ring[first++ & t->mask];
        size -= e->size;
        gone += e->size;
        unknown += e->name_unknown;
        count--;
    }
    t->evictions += t->count - count;
    t->retired_bytes += gone;
    t->unknown_names -= unknown;
    t->size = size;
    t->first = first;
    t->count = count;
}

void hpack_dyn_clear(hpack_dyn *t)
{
    while (t->count > 0)
        hpack_dyn_evict_oldest(t);
    t->first = t->top = 0;
}

void hpack_dyn_free(hpack_dyn *t)
{
    gw_free(t->arena);
    arenas_free(t->retired);
    gw_free(t->ring);
    t->arena = t->retired = NULL;
    t->ring = NULL;
    t->cap = t->mask = t->count = t->first = t->top = 0;
    t->head = t->pin = 0;
}

void hpack_dyn_set_max(hpack_dyn *t, size_t max)
{
    t->max = max;
    hpack_dyn_evict_to(t, max);
}

/* Grows the ring, keeping the entries in order from slot 0. */
static __attribute__((noinline)) int grow(hpack_dyn *t)
{
    size_t ncap = t->cap ? t->cap * 2 : 16;
    hpack_entry *n = gw_malloc(ncap * sizeof *n);
    if (!n)
        return GW_ENOMEM;
    for (size_t i = 0; i < t->count; i++)
        n[i] = t->ring[(t->first + i) & t->mask];
    gw_free(t->ring);
    t->ring = n;
    t->cap = ncap;
    t->mask = ncap - 1;
    t->first = 0;
    t->top = t->count;
    return 0;
}

int hpack_dyn_insert(hpack_dyn *t, const char *name, size_t name_len, const char *value,
                     size_t value_len, int name_unknown, uint8_t name_static)
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
    hpack_dyn_evict_to(t, t->max - need);
    if (t->count == t->cap && grow(t) < 0)
        return GW_ENOMEM;
    /* name and value may lie in octets just evicted: they are not reused before the release,
     * so the copy below cannot overlap them. */
    char *p = arena_take(t, name_len + value_len + 2);
    if (!p)
        return GW_ENOMEM;
    hpack_copy(p, name, name_len);
    p[name_len] = 0;
    hpack_copy(p + name_len + 1, value, value_len);
    p[name_len + 1 + value_len] = 0;
    hpack_entry *e = &t->ring[t->top++ & t->mask];
    hpack_dyn_ref(e, p, name_len, p + name_len + 1, value_len, name_static);
    e->size = (uint32_t)need;
    e->name_unknown = name_unknown ? 1 : 0;
    t->count++;
    t->size += need;
    t->unknown_names += e->name_unknown;
    return 0;
}
