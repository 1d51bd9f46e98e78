/* hpack_huff: the HPACK Huffman code (RFC 7541 5.2, Appendix B). Decoding is table driven: a
 * fast decoder takes one or two symbols per step from a 12-bit window and handles valid strings
 * of short codes; anything else goes through the exact decoder, a byte at a time through a
 * 256-state machine. Both tables are composed at first use from hpack_huff_gen.py's output
 * (the byte table from its nibble machine, the window table from its code table), so they agree
 * with the RFC by construction; encoding packs codes into a 64-bit accumulator. */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include "hpack.h"
#include "hpack_huff.h"
#include "hpack_huff_table.h"
#include "gw_err.h"

/* One byte step, packed in 32 bits: the next state, up to two symbols (codes are at least 5
 * bits, so a byte completes at most two) as a pair in memory order, their count, and the nibble
 * machine's flags after the low nibble. An EOS (HUFF_FAIL) can only complete in a byte that
 * emitted nothing before it, as EOS is 30 bits long; so a failing step emits nothing. */
#define B_NEXT(e) ((e) & 0xffu)
#define B_PAIR(e) ((uint16_t)((e) >> 8))
#define B_ACCEPT (1u << 24)
#define B_FAIL (1u << 25)
#define B_NSYM(e) ((e) >> 30)

static uint32_t byte_step[256 * 256]; /* [state << 8 | byte], 256 KiB, written once */
static pthread_once_t byte_once = PTHREAD_ONCE_INIT;
static _Atomic int byte_ready; /* skips pthread_once's cost once the table is built */

/* Built once per process, and its cost counts for short captures: the high nibble's step is
 * looked up once per 16 bytes. */
static void build_byte_steps(void)
{
    for (unsigned state = 0; state < 256; state++) {
        for (unsigned h = 0; h < 16; h++) {
            const huff_step *hi = &huff_dec[state][h];
            uint32_t *row = &byte_step[state << 8 | h << 4];
            if (hi->flags & HUFF_FAIL) {
                for (unsigned l = 0; l < 16; l++)
                    row[l] = B_FAIL;
                continue;
            }
            const huff_step *lrow = huff_dec[hi->next];
            for (unsigned l = 0; l < 16; l++) {
                const huff_step *lo = &lrow[l];
                uint32_t e = B_FAIL;
                if (!(lo->flags & HUFF_FAIL)) {
                    uint8_t sym[2] = {0, 0};
                    uint32_t nsym = 0;
                    uint16_t pair;
                    if (hi->flags & HUFF_SYM)
                        sym[nsym++] = hi->sym;
                    if (lo->flags & HUFF_SYM)
                        sym[nsym++] = lo->sym;
                    memcpy(&pair, sym, 2);
                    e = lo->next | (uint32_t)pair << 8 | nsym << 30 |
                        ((lo->flags & HUFF_ACCEPT) ? B_ACCEPT : 0);
                }
                row[l] = e;
            }
        }
    }
    atomic_store_explicit(&byte_ready, 1, memory_order_release);
}

/* The exact decoder: every outcome and reason. The fast one below defers to it for all but
 * plain success. */
static __attribute__((noinline)) ptrdiff_t byte_decode(const uint8_t *p, size_t n, uint8_t *out,
                                                       size_t outcap, const char **why)
{
    const char *w = NULL;
    ptrdiff_t rv;
    size_t o = 0, i = 0;
    unsigned state = 0;
    uint32_t e = B_ACCEPT; /* an empty string is valid */
    if (!atomic_load_explicit(&byte_ready, memory_order_acquire))
        pthread_once(&byte_once, build_byte_steps);
    /* Before byte i at most 8i/5 symbols were written, so while 8i/5 + 2 <= outcap both octets
     * of a step's pair fit without a check. Past the last symbol they may scribble within
     * outcap. */
    size_t fast = outcap >= 2 ? (outcap - 2) * 5 / 8 + 1 : 0;
    if (fast > n)
        fast = n;
    /* A failing step emits nothing and leads to state 0, so the loop need not stop at one:
     * the first failure is all that can go wrong here (no cap check), found at the end. */
    uint32_t any = 0;
    for (; i < fast; i++) {
        e = byte_step[state << 8 | p[i]];
        any |= e;
        uint16_t pair = B_PAIR(e);
        memcpy(out + o, &pair, 2);
        o += B_NSYM(e);
        state = B_NEXT(e);
    }
    if (any & B_FAIL)
        goto eos;
    for (; i < n; i++) {
        e = byte_step[state << 8 | p[i]];
        if (e & B_FAIL)
            goto eos;
        uint16_t pair = B_PAIR(e);
        uint8_t sym[2];
        memcpy(sym, &pair, 2);
        for (unsigned k = 0; k < B_NSYM(e); k++) {
            if (o >= outcap)
                goto cap;
            out[o++] = sym[k];
        }
        state = B_NEXT(e);
    }
    if (!(e & B_ACCEPT)) {
        /* The bits after the last symbol are not a prefix of EOS of at most 7 bits. */
        w = "bad Huffman padding";
        rv = GW_EPARSE;
        goto out;
    }
    rv = (ptrdiff_t)o;
    goto out;
eos:
    w = "Huffman string contains EOS";
    rv = GW_EPARSE;
    goto out;
cap:
    w = "decoded string over the limit";
    rv = GW_ECAP;
out:
    if (why)
        *why = w;
    return rv;
}


/* The fast decoder's table (see hpack_huff.h): one symbol per 12-bit prefix first, then a
 * second one wherever the rest of the 12 bits holds a whole code. Built from the encoder's
 * table (itself generated from the RFC). */
uint32_t hpack_huff_win[1u << HPACK_HUFF_WIN_BITS];
_Atomic int hpack_huff_win_ready;
static pthread_once_t win_once = PTHREAD_ONCE_INIT;

static void build_win(void)
{
    enum { W = HPACK_HUFF_WIN_BITS };
    static uint16_t one[1u << W]; /* sym | len << 8; len 0: a longer code */
    for (unsigned s = 0; s < 256; s++) {
        unsigned len = huff_len[s];
        if (len > W)
            continue;
        unsigned lo = huff_code[s] << (W - len), hi = (huff_code[s] + 1) << (W - len);
        for (unsigned x = lo; x < hi; x++)
            one[x] = (uint16_t)(s | len << 8);
    }
    for (unsigned x = 0; x < (1u << W); x++) {
        unsigned l1 = one[x] >> 8;
        uint32_t e = 0;
        if (l1) {
            uint8_t sym[2] = {(uint8_t)one[x], 0};
            unsigned used = l1, nsym = 1;
            /* The rest of x, left aligned, zeros after: a code found there is whole only if
             * it fits in what is left. */
            unsigned rest = (x << l1) & ((1u << W) - 1), l2 = one[rest] >> 8;
            if (l2 && l1 + l2 <= W) {
                sym[1] = (uint8_t)one[rest];
                used += l2;
                nsym = 2;
            }
            uint16_t pair;
            memcpy(&pair, sym, 2);
            e = pair | used << 16 | l1 << 20 | nsym << 24;
        }
        hpack_huff_win[x] = e;
    }
    atomic_store_explicit(&hpack_huff_win_ready, 1, memory_order_release);
}

void hpack_huff_win_build(void) { pthread_once(&win_once, build_win); }

ptrdiff_t hpack_huff_decode_why(const uint8_t *p, size_t n, uint8_t *out, size_t outcap,
                                const char **why)
{
    hpack_huff_win_prepare();
    if (n <= (SIZE_MAX - 2) / 8 && outcap >= n * 8 / 5 + 2) {
        ptrdiff_t r = hpack_huff_fast(p, n, out);
        if (r >= 0) {
            if (why)
                *why = NULL;
            return r;
        }
    }
    return byte_decode(p, n, out, outcap, why);
}

ptrdiff_t hpack_huff_decode(const uint8_t *p, size_t n, uint8_t *out, size_t outcap)
{
    return hpack_huff_decode_why(p, n, out, outcap, NULL);
}

size_t hpack_huff_encoded_len(const uint8_t *p, size_t n)
{
    uint64_t bits = 0;
    for (size_t i = 0; i < n; i++)
        bits += huff_len[p[i]];
    return (size_t)((bits + 7) / 8);
}

size_t hpack_huff_encode(const uint8_t *p, size_t n, uint8_t *out)
{
    uint64_t acc = 0; /* pending bits, right aligned; never more than 7 + 30 */
    unsigned nbits = 0;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        acc = acc << huff_len[p[i]] | huff_code[p[i]];
        nbits += huff_len[p[i]];
        while (nbits >= 8) {
            nbits -= 8;
            out[o++] = (uint8_t)(acc >> nbits);
        }
    }
    if (nbits > 0) /* pad with the most significant bits of EOS: all ones */
        out[o++] = (uint8_t)(acc << (8 - nbits) | (0xffu >> nbits));
    return o;
}
