/* gw_simd: byte screens for long text (JSON escaping, printable checks, UTF-8 validation) and the
 * run-time CPU check behind them. x86-64: SSE2 (baseline) and AVX2 (only inside functions marked
 * target("avx2"), chosen at run time, so the build needs no -mavx2); elsewhere portable SWAR.
 * Header-only, never allocates, never reads outside p[0..n). */
#ifndef GW_SIMD_H
#define GW_SIMD_H
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* -DGW_NO_SIMD builds the portable code only (to test it as a non-x86 build would run it). */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(GW_NO_SIMD)
#define GW_SIMD_X86 1
#include <immintrin.h>
#else
#define GW_SIMD_X86 0
#endif

/* Code levels, for the dispatchers and for tests that compare them: portable word-at-a-time C,
 * SSE2 16 bytes per step, AVX2 32 bytes per step. */
enum { GW_SIMD_SWAR = 0, GW_SIMD_SSE2 = 1, GW_SIMD_AVX2 = 2 };

/* The best level this CPU runs. Cached; the race between first callers is benign (they all store
 * the same value), relaxed atomics keep it free of undefined behaviour. */
static inline int gw_simd_best(void)
{
#if GW_SIMD_X86
    static int level = -1;
    int l = __atomic_load_n(&level, __ATOMIC_RELAXED);
    if (l < 0) {
        __builtin_cpu_init();
        l = __builtin_cpu_supports("avx2") ? GW_SIMD_AVX2 : GW_SIMD_SSE2;
        __atomic_store_n(&level, l, __ATOMIC_RELAXED);
    }
    return l;
#else
    return GW_SIMD_SWAR;
#endif
}

/* Word-at-a-time screens (SWAR): nonzero when some byte of x might need a closer look. They may
 * flag a clean word (a borrow or carry crossing bytes), never miss one; callers then go byte by
 * byte over that word. */
#define GW_ONES 0x0101010101010101ull
#define GW_HIGH 0x8080808080808080ull
/* A byte outside printable ASCII 0x20..0x7e. */
static inline uint64_t gw_swar_not_print(uint64_t x)
{
    return ((x - 0x20 * GW_ONES) | x | (x + GW_ONES)) & GW_HIGH;
}
/* A byte equal to c. */
static inline uint64_t gw_swar_has(uint64_t x, uint8_t c)
{
    uint64_t y = x ^ (c * GW_ONES);
    return (y - GW_ONES) & ~y & GW_HIGH;
}

/* The three screens. Each returns the index of the first byte of p[0..n) that it flags, or n:
 *   json:  outside 0x20..0x7e, or '"' or '\' (what a JSON string cannot hold as it is);
 *   print: outside 0x20..0x7e;
 *   ascii: 0x80 or above.
 * The result is exact at every level, so the levels can be compared byte for byte. */
enum { GW_SCREEN_JSON, GW_SCREEN_PRINT, GW_SCREEN_ASCII };

static inline int gw_screen_byte(int kind, uint8_t c)
{
    if (kind == GW_SCREEN_ASCII)
        return c >= 0x80;
    if (c < 0x20 || c > 0x7e)
        return 1;
    return kind == GW_SCREEN_JSON && (c == '"' || c == '\\');
}

static inline uint64_t gw_screen_word(int kind, uint64_t x)
{
    if (kind == GW_SCREEN_ASCII)
        return x & GW_HIGH;
    uint64_t m = gw_swar_not_print(x);
    if (kind == GW_SCREEN_JSON)
        m |= gw_swar_has(x, '"') | gw_swar_has(x, '\\');
    return m;
}

static inline size_t gw_screen_swar(int kind, const uint8_t *p, size_t n)
{
    size_t i = 0;
    for (uint64_t x; i + 8 <= n; i += 8) {
        memcpy(&x, p + i, 8);
        if (gw_screen_word(kind, x))
            break;
    }
    while (i < n && !gw_screen_byte(kind, p[i]))
        i++;
    return i;
}

#if GW_SIMD_X86
/* 0xff in each byte of x that the screen flags. "Outside 0x20..0x7e" in two operations: adding 1
 * maps 0x20..0x7e to 0x21..0x7f, the only bytes that stay above 0x20 as signed values (DEL and
 * 0x80..0xfe become negative, 0xff wraps to 0, controls stay at or below 0x20). */
static inline __attribute__((always_inline)) __m128i gw_screen_v128(int kind, __m128i x)
{
    if (kind == GW_SCREEN_ASCII)
        return x; /* movemask reads the top bit, which is all this screen asks */
    __m128i bad = _mm_cmpgt_epi8(_mm_set1_epi8(0x21), _mm_add_epi8(x, _mm_set1_epi8(1)));
    if (kind == GW_SCREEN_JSON)
        bad = _mm_or_si128(bad, _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('"')),
                                             _mm_cmpeq_epi8(x, _mm_set1_epi8('\\'))));
    return bad;
}

static inline __attribute__((always_inline)) size_t gw_screen_sse2(int kind, const uint8_t *p,
                                                                   size_t n)
{
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m128i bad = gw_screen_v128(kind, _mm_loadu_si128((const __m128i *)(p + i)));
        unsigned m = (unsigned)_mm_movemask_epi8(bad);
        if (m)
            return i + (size_t)__builtin_ctz(m);
    }
    if (i == n)
        return n;
    /* The tail (and short strings, the common case) without a byte loop and without reading
     * past p + n: one load that ends at n, overlapping bytes already screened (masked off), or
     * for fewer than 16 bytes in all, two 8- or 4-byte loads that cover them. */
    if (n >= 16) {
        size_t j = n - 16;
        unsigned m = (unsigned)_mm_movemask_epi8(
            gw_screen_v128(kind, _mm_loadu_si128((const __m128i *)(p + j))));
        m &= ~0u << (i - j);
        return m ? j + (size_t)__builtin_ctz(m) : n;
    }
    if (n >= 4) {
        size_t w;
        uint64_t lo, hi;
        if (n >= 8) {
            w = 8;
            memcpy(&lo, p, 8);
            memcpy(&hi, p + n - 8, 8);
        } else {
            uint32_t a, b;
            w = 4;
            memcpy(&a, p, 4);
            memcpy(&b, p + n - 4, 4);
            lo = a;
            hi = b;
        }
        __m128i x = _mm_set_epi64x((long long)hi, (long long)lo);
        unsigned m = (unsigned)_mm_movemask_epi8(gw_screen_v128(kind, x));
        /* lo covers bytes 0..w-1 (mask bits 0..w-1), hi bytes n-w..n-1 (bits 8..8+w-1). */
        unsigned mlo = m & ((1u << w) - 1), mhi = (m >> 8) & ((1u << w) - 1);
        if (mlo)
            return (size_t)__builtin_ctz(mlo);
        return mhi ? n - w + (size_t)__builtin_ctz(mhi) : n;
    }
    while (i < n && !gw_screen_byte(kind, p[i]))
        i++;
    return i;
}

__attribute__((target("avx2"))) static inline __attribute__((always_inline)) __m256i
gw_screen_v256(int kind, __m256i x)
{
    if (kind == GW_SCREEN_ASCII)
        return x;
    __m256i bad = _mm256_cmpgt_epi8(_mm256_set1_epi8(0x21), _mm256_add_epi8(x, _mm256_set1_epi8(1)));
    if (kind == GW_SCREEN_JSON)
        bad = _mm256_or_si256(bad, _mm256_or_si256(_mm256_cmpeq_epi8(x, _mm256_set1_epi8('"')),
                                                   _mm256_cmpeq_epi8(x, _mm256_set1_epi8('\\'))));
    return bad;
}

/* 64 bytes per step while the text is clean (one test for two loads), then 32, then SSE2 and
 * bytes for the tail. */
__attribute__((target("avx2"))) static inline __attribute__((always_inline)) size_t
gw_screen_avx2_body(int kind, const uint8_t *p, size_t n)
{
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        __m256i a = gw_screen_v256(kind, _mm256_loadu_si256((const __m256i *)(p + i)));
        __m256i b = gw_screen_v256(kind, _mm256_loadu_si256((const __m256i *)(p + i + 32)));
        uint32_t any = (uint32_t)_mm256_movemask_epi8(_mm256_or_si256(a, b));
        if (any) {
            uint64_t m = (uint64_t)(uint32_t)_mm256_movemask_epi8(b) << 32 |
                         (uint32_t)_mm256_movemask_epi8(a);
            return i + (size_t)__builtin_ctzll(m);
        }
    }
    for (; i + 32 <= n; i += 32) {
        uint32_t m = (uint32_t)_mm256_movemask_epi8(
            gw_screen_v256(kind, _mm256_loadu_si256((const __m256i *)(p + i))));
        if (m)
            return i + (size_t)__builtin_ctz(m);
    }
    return i + gw_screen_sse2(kind, p + i, n - i);
}

/* Out of line: a target("avx2") function cannot be inlined into ordinary callers anyway. */
__attribute__((target("avx2"), unused)) static size_t gw_screen_json_avx2(const uint8_t *p, size_t n)
{
    return gw_screen_avx2_body(GW_SCREEN_JSON, p, n);
}
__attribute__((target("avx2"), unused)) static size_t gw_screen_print_avx2(const uint8_t *p, size_t n)
{
    return gw_screen_avx2_body(GW_SCREEN_PRINT, p, n);
}
__attribute__((target("avx2"), unused)) static size_t gw_screen_ascii_avx2(const uint8_t *p, size_t n)
{
    return gw_screen_avx2_body(GW_SCREEN_ASCII, p, n);
}
#endif

/* The screen of `kind` at a given level (capped to what the build has; the caller checks the CPU).
 * Short inputs stay on SSE2: the AVX2 call only pays off over a few blocks. */
static inline size_t gw_screen_at(int kind, const uint8_t *p, size_t n, int level)
{
#if GW_SIMD_X86
    if (level >= GW_SIMD_AVX2 && n >= 64) {
        switch (kind) {
        case GW_SCREEN_JSON: return gw_screen_json_avx2(p, n);
        case GW_SCREEN_PRINT: return gw_screen_print_avx2(p, n);
        default: return gw_screen_ascii_avx2(p, n);
        }
    }
    if (level >= GW_SIMD_SSE2)
        return gw_screen_sse2(kind, p, n);
#else
    (void)level;
#endif
    return gw_screen_swar(kind, p, n);
}

/* The screen at the best level this CPU has. */
static inline size_t gw_screen(int kind, const uint8_t *p, size_t n)
{
    return gw_screen_at(kind, p, n, gw_simd_best());
}

#endif
