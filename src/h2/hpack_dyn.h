/* hpack_dyn: private to the HPACK decoder. The dynamic table (RFC 7541 2.3.2, 4) as a ring of
 * entries, newest last, with the RFC's size accounting (32 + name + value octets). An entry may
 * have an unknown name (inserted mid-capture from a reference to an entry older than the
 * capture): its size then counts the name as 0 octets, a lower bound. Entry strings are kept in
 * a byte ring (no allocation per entry). Also the static table. */
#ifndef HPACK_DYN_H
#define HPACK_DYN_H
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "hpack.h"

#define HPACK_ENTRY_OVERHEAD 32 /* RFC 7541 4.1 */

/* memcpy of n bytes. Header strings are short, and a library call costs more than copying
 * them in a few overlapping words. */
static inline void hpack_copy(char *d, const char *s, size_t n)
{
    if (n >= 8 && n <= 32) {
        uint64_t a, b, c, e;
        memcpy(&a, s, 8);
        memcpy(&e, s + n - 8, 8);
        if (n > 16) {
            memcpy(&b, s + 8, 8);
            memcpy(&c, s + n - 16, 8);
            memcpy(d + 8, &b, 8);
            memcpy(d + n - 16, &c, 8);
        }
        memcpy(d, &a, 8);
        memcpy(d + n - 8, &e, 8);
    } else if (n >= 4 && n < 8) {
        uint32_t a, e;
        memcpy(&a, s, 4);
        memcpy(&e, s + n - 4, 4);
        memcpy(d, &a, 4);
        memcpy(d + n - 4, &e, 4);
    } else if (n < 4) {
        if (n) {
            d[0] = s[0];
            d[n / 2] = s[n / 2];
            d[n - 1] = s[n - 1];
        }
    } else {
        memcpy(d, s, n);
    }
}

/* One entry, as the field an Indexed Header Field naming it decodes to (index 0): a reference
 * copies ref and sets the index. name, name_len, value and value_len are ref's, by name (the
 * common initial sequence of the union's members). The static table is made of entries too. */
typedef struct hpack_entry {
    union {
        hpack_field ref;
        struct {
            const char *name;  /* NUL-terminated; "" (in the arena) when name_unknown */
            size_t name_len;   /* 0 when name_unknown */
            const char *value; /* NUL-terminated */
            size_t value_len;
        };
    };
    uint32_t size; /* HPACK_ENTRY_OVERHEAD + name_len + value_len (RFC 7541 4.1) */
    uint8_t name_unknown;
} hpack_entry;

/* Entry strings live in a byte ring, the arena: each insertion takes name, NUL, value, NUL at
 * the head. An evicted entry's octets stay untouched until hpack_dyn_release (strings the
 * decoder handed out are borrowed until then): the octets from `pin` (the oldest entry's at the
 * last release) to `head` are never reused before it. When no room is left, a larger arena
 * replaces the current one, which is retired (kept, not written) until the next release; that
 * release copies the live entries into one arena again. */
typedef struct hpack_arena {
    struct hpack_arena *next; /* on the retired list */
    size_t cap;
    char data[];
} hpack_arena;

typedef struct hpack_dyn {
    hpack_entry *ring; /* owned; cap slots (a power of two), count used */
    size_t cap;
    size_t mask;  /* cap - 1 */
    size_t first; /* the oldest entry is at ring[first & mask]; counts up, as top does */
    size_t top;   /* first + count: the next entry goes to ring[top & mask] */
    size_t count;
    size_t size;          /* sum of entry sizes (a lower bound while names are unknown) */
    size_t max;           /* the maximum in force (RFC 7541 4.2) */
    size_t unknown_names; /* entries with name_unknown */
    uint64_t evictions;   /* entries dropped for room (RFC 7541 4.3, 4.4), ever */
    hpack_arena *arena;   /* owned: where insertions go */
    size_t head;          /* next free octet of arena */
    size_t pin;           /* octets [pin, head) of arena (circularly) may be borrowed */
    hpack_arena *retired; /* owned: outgrown arenas, until the next release */
    size_t retired_bytes; /* sizes of the entries evicted since the last release, for tests */
} hpack_dyn;

void hpack_dyn_init(hpack_dyn *t, size_t max);
/* Frees the entries and the arenas. */
void hpack_dyn_free(hpack_dyn *t);
/* Drops every entry (their strings stay valid until the release); the maximum stays. */
void hpack_dyn_clear(hpack_dyn *t);
/* Strings of evicted entries are invalid from here on (their octets may be reused). Once per
 * block: the usual case inline, the rest (after an arena was outgrown) out of line. */
void hpack_dyn_release_retired(hpack_dyn *t);
static inline void hpack_dyn_release(hpack_dyn *t)
{
    t->retired_bytes = 0;
    if (t->retired)
        hpack_dyn_release_retired(t);
    else /* the oldest entry's octets come first */
        t->pin = t->count ? (size_t)(t->ring[t->first & t->mask].name - t->arena->data) : t->head;
}
/* i = 1 is the newest entry (HPACK index 62); NULL when i is 0 or over count. */
static inline const hpack_entry *hpack_dyn_get(const hpack_dyn *t, size_t i)
{
    if (i - 1 >= t->count)
        return NULL;
    return &t->ring[(t->top - i) & t->mask];
}
/* Evicts the oldest entry (RFC 7541 4.4). Its octets are not reused before the release. */
static inline void hpack_dyn_evict_oldest(hpack_dyn *t)
{
    const hpack_entry *e = &t->ring[t->first++ & t->mask];
    t->size -= e->size;
    t->unknown_names -= e->name_unknown;
    t->retired_bytes += e->size;
    t->count--;
}
/* Evicts until the entries' size is at most room (RFC 7541 4.3, 4.4). */
void hpack_dyn_evict_loop(hpack_dyn *t, size_t room);
static inline void hpack_dyn_evict_to(hpack_dyn *t, size_t room)
{
    if (t->size <= room)
        return;
    /* A full table evicts one entry per insertion, usually. */
    const hpack_entry *e = &t->ring[t->first & t->mask];
    if (t->size - e->size <= room) {
        hpack_dyn_evict_oldest(t);
        t->evictions++;
        return;
    }
    hpack_dyn_evict_loop(t, room);
}/* n octets of the arena that no borrowed string occupies, at its head or (rather than split)
 * at its start: the place (at *pos), not taken yet; NULL when there is none. Taking them is
 * setting head to *pos plus the octets used, at most n. */
static inline char *hpack_dyn_room(const hpack_dyn *t, size_t n, size_t *pos)
{
    size_t h = t->head, pin = t->pin;
    if (h >= pin) { /* in use: [pin, h) */
        if (t->arena && n <= t->arena->cap - h) {
            *pos = h;
            return t->arena->data + h;
        }
        if (n < pin) { /* strictly: head never reaches pin from below */
            *pos = 0;
            return t->arena->data;
        }
        return NULL;
    }
    if (n < pin - h) { /* in use: [pin, cap) and [0, h) */
        *pos = h;
        return t->arena->data + h;
    }
    return NULL;
}
/* An entry's ref, for the strings given. */
static inline void hpack_dyn_ref(hpack_entry *e, const char *name, size_t name_len,
                                 const char *value, size_t value_len, uint8_t name_static)
{
    hpack_field *f = &e->ref;
    f->name = name;
    f->name_len = name_len;
    f->value = value;
    f->value_len = value_len;
    f->rep = HPACK_INDEXED;
    f->index = 0;
    f->name_huff = f->value_huff = 0;
    f->name_wire = f->value_wire = 0;
    f->unknown_name = f->unknown_value = 0;
    f->name_static = name_static;
}
/* RFC 7541 4.3-4.4: evicts the oldest entries to make room, then adds the entry, or only
 * empties the table when the entry is larger than the maximum. name is ignored when
 * name_unknown; name_static as hpack_field's. name and value may point into an entry this
 * insertion evicts. Returns 0 or GW_ENOMEM (the table then lost its oldest entries only). */
int hpack_dyn_insert(hpack_dyn *t, const char *name, size_t name_len, const char *value,
                     size_t value_len, int name_unknown, uint8_t name_static);
/* RFC 7541 4.3: a new maximum, evicting down to it. */
void hpack_dyn_set_max(hpack_dyn *t, size_t max);

/* Static table (RFC 7541 Appendix A), index 1..61 at [index - 1]; ref.index and
 * ref.name_static are the index. */
extern const hpack_entry hpack_static_table[61];

/* For tests and debugging views: the decoder's dynamic table, read only. */
struct hpack_decoder;
const hpack_dyn *hpack_decoder_table(const struct hpack_decoder *d);

#endif
