/* hpack_huff: private to the HPACK decoder. The Huffman decoder with a reason string, so the
 * block decoder can say why a string was rejected. Tables: hpack_huff_table.h (generated). */
#ifndef HPACK_HUFF_H
#define HPACK_HUFF_H
#include <stddef.h>
#include <stdint.h>

/* As hpack_huff_decode; on failure *why is a static reason. Octets of out past the decoded
 * length (within outcap) may be overwritten: the decoder stores symbols in pairs. */
ptrdiff_t hpack_huff_decode_why(const uint8_t *p, size_t n, uint8_t *out, size_t outcap,
                                const char **why);

#endif
