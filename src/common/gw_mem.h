/* gw_mem: every allocation in the library goes through here so that tests can fail the n-th
 * allocation (gw_mem_fail_after) and count what is live. Thin wrappers over malloc otherwise. */
#ifndef GW_MEM_H
#define GW_MEM_H
#include <stddef.h>

void *gw_malloc(size_t n);
void *gw_calloc(size_t count, size_t n);
void *gw_realloc(void *p, size_t n);
void gw_free(void *p);
char *gw_strdup(const char *s);
char *gw_strndup(const char *s, size_t n);

/* Large blocks (message bodies, 256 KiB to 4 MiB) kept for reuse: a block freed with gw_big_put
 * goes to one of a few process-wide slots (GW_BIG_SLOTS blocks, GW_BIG_HELD bytes at most) and
 * gw_big_get hands it out again, its pages still mapped. A fresh megabyte is 256 page faults,
 * which on a virtual machine cost more than decoding the message. Any thread may call either. */
#define GW_BIG_MIN (256u << 10)
#define GW_BIG_MAX (4u << 20)
#define GW_BIG_SLOTS 4
#define GW_BIG_HELD (8u << 20)
/* A block of at least `want` bytes (its usable size in *cap), owned by the caller (gw_free or
 * gw_big_put); NULL when no slot holds one that large, or out of memory in tests. */
void *gw_big_get(size_t want, size_t *cap);
/* n bytes for a body or rendering: a kept block when n >= GW_BIG_MIN and one fits, else a fresh
 * gw_malloc. *cap is the block's usable size. Owned by the caller (gw_free or gw_big_put);
 * NULL when out of memory. */
void *gw_big_alloc(size_t n, size_t *cap);
/* Takes ownership of p (any gw_malloc'd block, or NULL): kept when it is within the sizes above
 * and a slot is free, otherwise freed. */
void gw_big_put(void *p);

/* Test hooks: after `n` more successful allocations every allocation fails; -1 disables. */
void gw_mem_fail_after(long n);
/* Number of allocations made so far (for failmalloc loops). */
long gw_mem_count(void);

#endif
