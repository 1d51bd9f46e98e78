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

/* Test hooks: after `n` more successful allocations every allocation fails; -1 disables. */
void gw_mem_fail_after(long n);
/* Number of allocations made so far (for failmalloc loops). */
long gw_mem_count(void);

#endif
