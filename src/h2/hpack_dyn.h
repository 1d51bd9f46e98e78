/* hpack_dyn: private to the HPACK decoder. The dynamic table (RFC 7541 2.3.2, 4) as a ring of
 * entries, newest last, with the RFC's size accounting (32 + name + value octets). An entry may
 * have an unknown name (inserted mid-capture from a reference to an entry older than the
 * capture): its size then counts the name as 0 octets, a lower bound. */
#ifndef HPACK_DYN_H
#define HPACK_DYN_H
#include <stddef.h>
#include <stdint.h>

#define HPACK_ENTRY_OVERHEAD 32 /* RFC 7541 4.1 */

typedef struct hpack_entry {
    char *name;  /* owned: name and value share one allocation, each NUL-terminated */
    char *value; /* points into the same allocation */
    uint32_t name_len;
    uint32_t value_len;
    uint8_t name_unknown;
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
} hpack_dyn;

void hpack_dyn_init(hpack_dyn *t, size_t max);
void hpack_dyn_free(hpack_dyn *t);
/* Drops every entry; the maximum stays. */
void hpack_dyn_clear(hpack_dyn *t);
/* i = 1 is the newest entry (HPACK index 62); NULL when i is 0 or over count. */
const hpack_entry *hpack_dyn_get(const hpack_dyn *t, size_t i);
/* RFC 7541 4.3-4.4: evicts the oldest entries to make room, then adds the entry, or only
 * empties the table when the entry is larger than the maximum. name is ignored when
 * name_unknown. Returns 0 or GW_ENOMEM (the table then lost its oldest entries only). */
int hpack_dyn_insert(hpack_dyn *t, const char *name, size_t name_len, const char *value,
                     size_t value_len, int name_unknown);
/* RFC 7541 4.3: a new maximum, evicting down to it. */
void hpack_dyn_set_max(hpack_dyn *t, size_t max);

/* For tests and debugging views: the decoder's dynamic table, read only. */
struct hpack_decoder;
const hpack_dyn *hpack_decoder_table(const struct hpack_decoder *d);

#endif
