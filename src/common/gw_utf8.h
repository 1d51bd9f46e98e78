/* gw_utf8: UTF-8 validation (RFC 3629: no overlong forms, no surrogates, nothing past U+10FFFF),
 * shared by the protobuf guesses and the renderers. Header-only; never allocates. The SWAR and
 * SIMD byte screens used with it live in gw_simd.h. */
#ifndef GW_UTF8_H
#define GW_UTF8_H
#include <stddef.h>
#include <stdint.h>

#include "gw_simd.h"

/* Length (2-4) of the valid multi-byte sequence starting at s[0] with its code point in *cp, or 0
 * when s[0] does not start one (ASCII included) or the sequence is invalid or cut short. */
static inline size_t gw_utf8_seq(const uint8_t *s, size_t n, uint32_t *cp)
{
    uint8_t c = s[0];
    size_t len;
    uint32_t v;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        v = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        v = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        v = c & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t k = 1; k < len; k++) {
        if ((s[k] & 0xc0) != 0x80)
            return 0;
        v = v << 6 | (s[k] & 0x3f);
    }
    if ((len == 3 && v < 0x800) || (len == 4 && (v < 0x10000 || v > 0x10ffff)) ||
        (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return len;
}

/* 1 when all n bytes are valid UTF-8. */
static inline int gw_utf8_valid(const uint8_t *p, size_t n)
{
    uint32_t cp;
    for (size_t i = 0; i < n;) {
        /* ASCII runs go by in blocks; only the lead byte of a multi-byte sequence stops us. */
        i += gw_screen(GW_SCREEN_ASCII, p + i, n - i);
        if (i == n)
            break;
        size_t len = gw_utf8_seq(p + i, n - i, &cp);
        if (!len)
            return 0;
        i += len;
    }
    return 1;
}

#endif
