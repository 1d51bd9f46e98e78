#include "gw_mem.h"

#include <malloc.h>
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

/* Reachable from here, so leak checkers do not count what is kept at exit. */
static _Atomic(void *) big_slot[GW_BIG_SLOTS];
static atomic_size_t big_held; /* usable bytes in the slots, at most GW_BIG_HELD */

void *gw_big_get(size_t want, size_t *cap)
{
    if (should_fail())
        return NULL;
    for (int i = 0; i < GW_BIG_SLOTS; i++) {
        if (!atomic_load_explicit(&big_slot[i], memory_order_relaxed))
            continue;
        void *p = atomic_exchange(&big_slot[i], NULL);
        if (!p)
            continue;
        size_t n = malloc_usable_size(p);
        atomic_fetch_sub(&big_held, n);
        if (n >= want) {
            atomic_fetch_add_explicit(&alloc_count, 1, memory_order_relaxed);
            *cap = n;
            return p;
        }
        gw_big_put(p); /* too small for this one, not for the next */
    }
    return NULL;
}

void *gw_big_alloc(size_t n, size_t *cap)
{
    void *p = n >= GW_BIG_MIN ? gw_big_get(n, cap) : NULL;
    if (!p && (p = gw_malloc(n)) != NULL)
        *cap = n;
    return p;
}

void gw_big_put(void *p)
{
    if (!p)
        return;
    size_t n = malloc_usable_size(p);
    if (n >= GW_BIG_MIN && n <= GW_BIG_MAX + 4096) {
        if (atomic_fetch_add(&big_held, n) + n <= GW_BIG_HELD) {
            for (int i = 0; i < GW_BIG_SLOTS; i++) {
                void *none = NULL;
                if (atomic_compare_exchange_strong(&big_slot[i], &none, p))
                    return;
            }
        }
        atomic_fetch_sub(&big_held, n);
    }
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
