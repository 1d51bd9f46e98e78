/* hpack_huff: the HPACK Huffman code (RFC 7541 5.2, Appendix B). Decoding is table driven, one
 * nibble at a time through a 256-state machine generated from the RFC's table by
 * hpack_huff_gen.py; encoding packs codes into a 64-bit accumulator. */
#include "hpack.h"
#include "hpack_huff.h"
#include "hpack_huff_table.h"
#include "gw_err.h"

ptrdiff_t hpack_huff_decode_why(const uint8_t *p, size_t n, uint8_t *out, size_t outcap,
                                const char **why)
{
    const char *w = NULL;
    ptrdiff_t rv;
    size_t o = 0;
    unsigned state = 0;
    int accept = 1; /* an empty string is valid */
    for (size_t i = 0; i < n; i++) {
        for (int half = 0; half < 2; half++) {
            unsigned nib = half ? (p[i] & 0x0fu) : (unsigned)(p[i] >> 4);
            const huff_step *s = &huff_dec[state][nib];
            if (s->flags & HUFF_FAIL) {
                w = "Huffman string contains EOS";
                rv = GW_EPARSE;
                goto out;
            }
            if (s->flags & HUFF_SYM) {
                if (o >= outcap) {
                    w = "decoded string over the limit";
                    rv = GW_ECAP;
                    goto out;
                }
                out[o++] = s->sym;
            }
            state = s->next;
            accept = (s->flags & HUFF_ACCEPT) != 0;
        }
    }
    if (!accept) {
        /* The bits after the last symbol are not a prefix of EOS of at most 7 bits. */
        w = "bad Huffman padding";
        rv = GW_EPARSE;
        goto out;
    }
    rv = (ptrdiff_t)o;
out:
    if (why)
        *why = w;
    return rv;
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
