#include "gw_mem.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* Atomic because a view's writer thread allocates too; relaxed: they are counters. */
static _Atomic long fail_after = -1;
static _Atomic long alloc_count;

static int should_fail(void)
{
    long n = atomic_load_explicit(&fail_after, memory_order_relaxed);
    if (n < 0)
        return 0;
    if (n == 0)
        return 1;
    atomic_fetch_sub_explicit(&fail_after, 1, memory_order_relaxed);
    return 0;
}

void *gw_malloc(size_t n)
{
    if (should_fail())
        return NULL;
    atomic_fetch_add_explicit(&alloc_count, 1, memory_order_relaxed);
    return malloc(n ? n : 1);
}

void *gw_calloc(size_t count, size_t n)
{
    if (should_fail())
        return NULL;
    atomic_fetch_add_explicit(&alloc_count, 1, memory_order_relaxed);
    return calloc(count ? count : 1, n ? n : 1);
}

void *gw_realloc(void *p, size_t n)
{
    if (should_fail())
        return NULL;
    atomic_fetch_add_explicit(&alloc_count, 1, memory_order_relaxed);
    return realloc(p, n ? n : 1);
}

void gw_free(void *p)
{
    free(p);
}

char *gw_strndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *d = gw_malloc(len + 1);
    if (d) {
        memcpy(d, s, len);
        d[len] = 0;
    }
    return d;
}

char *gw_strdup(const char *s)
{
    return gw_strndup(s, strlen(s));
}

void gw_mem_fail_after(long n)
{
    fail_after = n;
}

long gw_mem_count(void)
{
    return alloc_count;
}
