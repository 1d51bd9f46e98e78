/* hpack_huff: private to the HPACK decoder. The Huffman decoder with a reason string, so the
 * block decoder can say why a string was rejected, and its fast path for the block decoder's
 * own. Tables: hpack_huff_table.h (generated), composed at first use. */
#ifndef HPACK_HUFF_H
#define HPACK_HUFF_H
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* As hpack_huff_decode; on failure *why is a static reason. Octets of out past the decoded
 * length (within outcap) may be overwritten: the decoder stores symbols in pairs. */
ptrdiff_t hpack_huff_decode_why(const uint8_t *p, size_t n, uint8_t *out, size_t outcap,
                                const char **why);

/* The fast decoder, inline for the block decoder's fast path: a bit buffer, and a table on its
 * next 12 bits that gives one or two whole symbols (codes of 5 to 12 bits: every character of
 * usual header values) and the bits they take. It only ever succeeds: a longer code (EOS among
 * them) or bad padding returns -1, and hpack_huff_decode_why, a byte at a time, says what is
 * wrong. Entry: the pair in memory order (16 bits), bits taken by the entry's symbols (4),
 * bits of the first symbol (4), number of symbols (0: a code longer than the window). */
#define HPACK_HUFF_WIN_BITS 12
extern uint32_t hpack_huff_win[1u << HPACK_HUFF_WIN_BITS];
extern _Atomic int hpack_huff_win_ready;
void hpack_huff_win_build(void);
/* Before the first hpack_huff_fast. */
static inline void hpack_huff_win_prepare(void)
{
    if (!atomic_load_explicit(&hpack_huff_win_ready, memory_order_acquire))
        hpack_huff_win_build();
}

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "hpack_huff.h: the fast decoder's loads assume a little-endian host"
#endif

static inline uint64_t hpack_huff_be64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return __builtin_bswap64(v);
}

static inline uint32_t hpack_huff_be32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return __builtin_bswap32(v);
}

/* n (<= 8) octets at the top of a word, zeros after them. */
static inline uint64_t hpack_huff_top(const uint8_t *p, size_t n)
{
    if (n >= 4) /* two overlapping loads: p[0..3] on top, p[n-4..n-1] after */
        return (uint64_t)hpack_huff_be32(p) << 32 |
               (uint64_t)hpack_huff_be32(p + n - 4) << (64 - 8 * n);
    uint64_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= (uint64_t)p[i] << (56 - 8 * i);
    return acc;
}

/* Decodes while at least a window of bits is buffered: acc holds `bits` bits from its top, and
 * below them zeros or (after a word refill) the next input bits, which the next refill writes
 * again. */
#define HPACK_HUFF_STEPS()                                                                      \
    while (bits >= HPACK_HUFF_WIN_BITS) {                                                       \
        uint32_t e_ = hpack_huff_win[acc >> (64 - HPACK_HUFF_WIN_BITS)];                        \
        if (!(e_ >> 24))                                                                        \
            return -1;                                                                          \
        uint16_t pair_ = (uint16_t)e_;                                                          \
        memcpy(out + o, &pair_, 2);                                                             \
        o += e_ >> 24;                                                                          \
        acc <<= (e_ >> 16) & 0xf;                                                               \
        bits -= (e_ >> 16) & 0xf;                                                               \
    }

/* n octets into out, which has room for n * 8 / 5 + 2 octets (every symbol n octets can hold,
 * and a pair store past the last). Returns the length, or -1. */
static inline ptrdiff_t hpack_huff_fast(const uint8_t *p, size_t n, uint8_t *out)
{
    uint64_t acc;
    unsigned bits;
    size_t o = 0;
    if (n <= 6) {
        /* The usual short value (a grpc-timeout) in one word, with ones after it: a symbol
         * that would need bits past the end then makes bits negative, and a valid string ends
         * with the window on ones only (no code of 12 bits or less is all ones) and at most 7
         * of them its own. */
        acc = hpack_huff_top(p, n);
        acc |= ~0ull >> (8 * n);
        int left = (int)(8 * n);
        while (left > 0) {
            uint32_t e = hpack_huff_win[acc >> (64 - HPACK_HUFF_WIN_BITS)];
            if (!(e >> 24))
                break;
            uint16_t pair = (uint16_t)e;
            memcpy(out + o, &pair, 2);
            o += e >> 24;
            acc <<= (e >> 16) & 0xf;
            left -= (int)((e >> 16) & 0xf);
        }
        /* (Past the window's first 12 bits no zero can have come in: at most 48 + 12 bits
         * were taken.) */
        if (left < 0 || left > 7 || acc >> 56 != 0xff)
            return -1;
        return (ptrdiff_t)o;
    }
    if (n <= 8) {
        acc = hpack_huff_top(p, n);
        bits = (unsigned)(8 * n);
        HPACK_HUFF_STEPS();
    } else {
        size_t i = 0;
        acc = 0;
        bits = 0;
        while (n - i >= 8) { /* whole octets up to 63 bits; the partial one comes again */
            acc |= hpack_huff_be64(p + i) >> bits;
            i += (63 - bits) >> 3;
            bits |= 56;
            HPACK_HUFF_STEPS();
        }
        while (i < n) {
            while (bits <= 56 && i < n) {
                acc |= (uint64_t)p[i++] << (56 - bits);
                bits += 8;
            }
            HPACK_HUFF_STEPS();
        }
    }
    /* Fewer bits left than a window: the symbols that end within them (looked up with ones
     * after them), then the padding, which must be a prefix of EOS of at most 7 bits. */
    while (bits >= 5) {
        uint32_t e = hpack_huff_win[(acc | ~0ull >> bits) >> (64 - HPACK_HUFF_WIN_BITS)];
        unsigned used = (e >> 16) & 0xf, len1 = (e >> 20) & 0xf;
        if (!(e >> 24) || len1 > bits)
            break;
        uint16_t pair = (uint16_t)e;
        memcpy(out + o, &pair, 2);
        if (used <= bits) {
            o += e >> 24;
        } else {
            o += 1;
            used = len1;
        }
        acc <<= used;
        bits -= used;
    }
    if (bits > 7 || (bits && (acc >> (64 - bits)) != (1u << bits) - 1))
        return -1;
    return (ptrdiff_t)o;
}

#endif
