/* hpack_dyn: private to the HPACK decoder. The dynamic table (RFC 7541 2.3.2, 4) as a ring of
 * entries, newest last, with the RFC's size accounting (32 + name + value octets). An entry may
 * have an unknown name (inserted mid-capture from a reference to an entry older than the
 * capture): its size then counts the name as 0 octets, a lower bound. Also the static table. */
#ifndef HPACK_DYN_H
#define HPACK_DYN_H
#include <stddef.h>
#include <stdint.h>
#include <string.h>

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

/* One entry's storage: name and value, each NUL-terminated. Evicted buffers are retired, not
 * freed, so strings the decoder handed out stay valid until hpack_dyn_release. */
typedef struct hpack_dyn_buf {
    struct hpack_dyn_buf *next; /* on the retired list, or a spare list */
    uint32_t cls;               /* spare list it returns to (HPACK_DYN_CLASSES: none) */
    char data[];
} hpack_dyn_buf;

/* Released buffers of small entries are kept for the next insertions rather than freed: a busy
 * connection evicts one entry for each it inserts. Classes of 64 octets of data, a few each. */
#define HPACK_DYN_CLASSES 4
#define HPACK_DYN_CLASS_BYTES 64
#define HPACK_DYN_SPARES 4

typedef struct hpack_entry {
    char *name;  /* in buf */
    char *value; /* in buf */
    hpack_dyn_buf *buf; /* owned (by the table, then by its retired list) */
    uint32_t name_len;
    uint32_t value_len;
    uint8_t name_unknown;
    uint8_t name_static; /* as hpack_field.name_static; 0 from hpack_dyn_insert, set by the
                            decoder */
} hpack_entry;

typedef struct hpack_dyn {
    hpack_entry *ring; /* owned; cap slots, count used from `first` (the oldest) */
    size_t cap;
    size_t first;
    size_t count;
    size_t size;          /* sum of entry sizes (a lower bound while names are unknown) */
    size_t max;           /* the maximum in force (RFC 7541 4.2) */
    size_t unknown_names; /* entries with name_unknown */
    uint64_t evictions;   /* entries dropped for room (RFC 7541 4.3, 4.4), ever */
    hpack_dyn_buf *retired; /* owned: evicted since the last hpack_dyn_release */
    size_t retired_bytes;   /* their entry sizes, for tests */
    hpack_dyn_buf *spare[HPACK_DYN_CLASSES]; /* owned: released buffers kept for reuse */
    uint8_t nspare[HPACK_DYN_CLASSES];
} hpack_dyn;

void hpack_dyn_init(hpack_dyn *t, size_t max);
/* Frees the entries and the retired buffers. */
void hpack_dyn_free(hpack_dyn *t);
/* Drops every entry (retiring their buffers); the maximum stays. */
void hpack_dyn_clear(hpack_dyn *t);
/* Frees the retired buffers (or keeps a few for reuse): strings of evicted entries are invalid
 * from here on. */
void hpack_dyn_release(hpack_dyn *t);
/* i = 1 is the newest entry (HPACK index 62); NULL when i is 0 or over count. */
static inline const hpack_entry *hpack_dyn_get(const hpack_dyn *t, size_t i)
{
    if (i == 0 || i > t->count)
        return NULL;
    size_t k = t->first + t->count - i;
    return &t->ring[k >= t->cap ? k - t->cap : k];
}
/* RFC 7541 4.3-4.4: evicts the oldest entries to make room, then adds the entry, or only
 * empties the table when the entry is larger than the maximum. name is ignored when
 * name_unknown. name and value may point into an entry this insertion evicts (evicted buffers
 * are retired, not freed). Returns 0 or GW_ENOMEM (the table then lost its oldest entries
 * only). */
int hpack_dyn_insert(hpack_dyn *t, const char *name, size_t name_len, const char *value,
                     size_t value_len, int name_unknown);
/* RFC 7541 4.3: a new maximum, evicting down to it. */
void hpack_dyn_set_max(hpack_dyn *t, size_t max);

/* Static table (RFC 7541 Appendix A) with lengths, index 1..61 at [index - 1]. */
typedef struct hpack_static_entry {
    const char *name;
    const char *value;
    uint8_t name_len;
    uint8_t value_len;
} hpack_static_entry;
extern const hpack_static_entry hpack_static_table[61];

/* For tests and debugging views: the decoder's dynamic table, read only. */
struct hpack_decoder;
const hpack_dyn *hpack_decoder_table(const struct hpack_decoder *d);

#endif
