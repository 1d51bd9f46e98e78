/* view_pb: schemaless protobuf renderers (text, short, JSON, tree) over pb_walk_raw (JSON over
 * its pieces: pb_field_parse_whole and the classifiers). The guessing lives in pb_wire; this file
 * only formats. Buffer errors stop the walk (visitor returns nonzero) and are returned as is. */
#include "view/view_pb.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/gw_cur.h"
#include "common/gw_err.h"
#include "common/gw_mem.h"
#include "common/gw_simd.h"
#include "common/gw_utf8.h"

/* Matches pb_wire's own hard limit; the JSON renderer recurses by itself and needs its own. */
#define VIEW_PB_DEPTH_HARD 200
#define JSON_SAFE_INT 9007199254740992ull /* 2^53: larger integers lose precision in doubles */
/* Hints stay hints: packed lists in comments and tree lines show this many values, the tree shows
 * this many value bytes (in hex and as a string), as Wireshark cuts long labels. Without it the
 * tree of a deeply nested message repeats every level's bytes and grows as size x depth. */
#define LIST_MAX 32
#define TREE_BYTES_MAX 64

static int clamp_depth(const pb_opts *o)
{
    int d = o ? o->max_depth : 32;
    if (d < 0)
        return 0;
    return d > VIEW_PB_DEPTH_HARD ? VIEW_PB_DEPTH_HARD : d;
}

static int put(gw_buf *b, const char *s) { return gw_buf_append(b, s, strlen(s)); }

static int spaces(gw_buf *b, int n)
{
    static const char sp[] = "                                ";
    int rc = 0;
    while (n > 0 && !rc) {
        int k = n > 32 ? 32 : n;
        rc = gw_buf_append(b, sp, (size_t)k);
        n -= k;
    }
    return rc;
}

static int hex(gw_buf *b, const uint8_t *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    char tmp[128];
    size_t k = 0;
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        tmp[k++] = digits[p[i] >> 4];
        tmp[k++] = digits[p[i] & 15];
        if (k == sizeof tmp) {
            rc = gw_buf_append(b, tmp, k);
            k = 0;
        }
    }
    return rc ? rc : gw_buf_append(b, tmp, k);
}

/* protoc's CEscape: \n \r \t \" \' \\, other bytes outside 0x20..0x7e as three octal digits. */
static int cescape(gw_buf *b, const uint8_t *p, size_t n)
{
    int rc = 0;
    size_t run = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        uint8_t c = p[i];
        const char *esc = NULL;
        char oct[5];
        switch (c) {
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        case '"': esc = "\\\""; break;
        case '\'': esc = "\\'"; break;
        case '\\': esc = "\\\\"; break;
        default:
            if (c < 0x20 || c >= 0x7f) {
                snprintf(oct, sizeof oct, "\\%03o", c);
                esc = oct;
            }
        }
        if (!esc)
            continue;
        rc = gw_buf_append(b, p + run, i - run);
        if (!rc)
            rc = put(b, esc);
        run = i + 1;
    }
    return rc ? rc : gw_buf_append(b, p + run, n - run);
}

/* Length of the valid UTF-8 sequence (2-4 bytes) starting at s[0], or 0. */
static size_t utf8_len(const uint8_t *s, size_t n)
{
    uint32_t cp;
    return gw_utf8_seq(s, n, &cp);
}

/* The SIMD level the byte loops below may use: the best the CPU has, capped by the test switch. */
static int simd_cap = GW_SIMD_AVX2;

void view_pb_force_scalar(int on)
{
    int cap = on == 1 ? GW_SIMD_SWAR : on == 2 ? GW_SIMD_SSE2 : GW_SIMD_AVX2;
    __atomic_store_n(&simd_cap, cap, __ATOMIC_RELAXED);
}

static int force_general;

void view_pb_force_general(int on) { __atomic_store_n(&force_general, on, __ATOMIC_RELAXED); }

static int simd_level(void)
{
    int best = gw_simd_best(), cap = __atomic_load_n(&simd_cap, __ATOMIC_RELAXED);
    return best < cap ? best : cap;
}

static const char hex_digits[] = "0123456789abcdef";

/* The escaped string with its quotes into d, which has room for 6n+2 bytes (every byte may
 * become \u00XX); returns the bytes written. Valid UTF-8 passes through, other bytes >= 0x80
 * are written as \u00XX. */
#if GW_SIMD_X86
/* Short strings (header names and values, most of what JSON records hold) in one pass: each
 * 16-byte block is screened and stored as it is, the tail by a block that ends at n, strings
 * under 16 bytes by two overlapping 8- or 4-byte words; nothing read outside p[0..n). Returns
 * how many leading bytes are plain (all n, or the first one the JSON screen flags): those are
 * in o[0..k). Bytes past k may be written too, within o[0..n): the caller writes over them. */
static inline __attribute__((always_inline)) size_t plain_into_sse2(uint8_t *o, const uint8_t *p,
                                                                     size_t n)
{
    if (n >= 16) {
        size_t i = 0;
        for (; i + 16 <= n; i += 16) {
            __m128i x = _mm_loadu_si128((const __m128i *)(p + i));
            _mm_storeu_si128((__m128i *)(o + i), x);
            unsigned m = (unsigned)_mm_movemask_epi8(gw_screen_v128(GW_SCREEN_JSON, x));
            if (m)
                return i + (size_t)__builtin_ctz(m);
        }
        if (i == n)
            return n;
        size_t j = n - 16;
        __m128i x = _mm_loadu_si128((const __m128i *)(p + j));
        _mm_storeu_si128((__m128i *)(o + j), x);
        unsigned m = (unsigned)_mm_movemask_epi8(gw_screen_v128(GW_SCREEN_JSON, x));
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
            memcpy(o, &lo, 8);
            memcpy(o + n - 8, &hi, 8);
        } else {
            uint32_t a, b;
            w = 4;
            memcpy(&a, p, 4);
            memcpy(&b, p + n - 4, 4);
            memcpy(o, &a, 4);
            memcpy(o + n - 4, &b, 4);
            lo = a;
            hi = b;
        }
        __m128i x = _mm_set_epi64x((long long)hi, (long long)lo);
        unsigned m = (unsigned)_mm_movemask_epi8(gw_screen_v128(GW_SCREEN_JSON, x));
        unsigned mlo = m & ((1u << w) - 1), mhi = (m >> 8) & ((1u << w) - 1);
        if (mlo)
            return (size_t)__builtin_ctz(mlo);
        return mhi ? n - w + (size_t)__builtin_ctz(mhi) : n;
    }
    size_t i = 0;
    while (i < n && !gw_screen_byte(GW_SCREEN_JSON, p[i])) {
        o[i] = p[i];
        i++;
    }
    return i;
}
#endif

/* json_string_into from p[i] on (o: where p[i] goes), i < n: the escaping loop, out of line so
 * that the plain short strings of the inline part save no registers. */
static __attribute__((noinline)) size_t json_string_rest(uint8_t *d, uint8_t *o, const uint8_t *p,
                                                         size_t n, size_t i, int level)
{
    for (;;) {
        /* Long text goes by 8, 16 or 32 bytes per step while nothing needs escaping; the
         * screen stops exactly at the first byte that might. */
        size_t run = gw_screen_at(GW_SCREEN_JSON, p + i, n - i, level);
        if (run) {
            memcpy(o, p + i, run);
            o += run;
            i += run;
        }
        if (i == n)
            break;
        uint8_t c = p[i];
        if (c >= 0x80) {
            size_t adv = utf8_len(p + i, n - i);
            if (adv) {
                memcpy(o, p + i, adv);
                o += adv;
                i += adv;
                continue;
            }
        } else if (c == '"' || c == '\\') {
            o[0] = '\\';
            o[1] = c;
            o += 2;
            i++;
            continue;
        } else {
            char e = c == '\b' ? 'b' : c == '\f' ? 'f' : c == '\n' ? 'n' : c == '\r' ? 'r'
                   : c == '\t' ? 't' : 0;
            if (e) {
                o[0] = '\\';
                o[1] = (uint8_t)e;
                o += 2;
                i++;
                continue;
            }
        }
        /* Other controls, DEL and bytes that are not UTF-8. */
        memcpy(o, "\\u00", 4);
        o[4] = (uint8_t)hex_digits[c >> 4];
        o[5] = (uint8_t)hex_digits[c & 15];
        o += 6;
        i++;
    }
    *o++ = '"';
    return (size_t)(o - d);
}

static inline __attribute__((always_inline)) size_t json_string_into(uint8_t *d, const uint8_t *p,
                                                                     size_t n, int level)
{
    d[0] = '"';
    size_t i = 0;
#if GW_SIMD_X86
    if (n < 64 && level >= GW_SIMD_SSE2) {
        i = plain_into_sse2(d + 1, p, n);
        if (i == n) {
            d[n + 1] = '"';
            return n + 2;
        }
    }
#endif
    if (i == n) { /* n == 0 */
        d[1] = '"';
        return 2;
    }
    return json_string_rest(d, d + 1 + i, p, n, i, level);
}

size_t view_json_string_into(uint8_t *d, const char *s, size_t n)
{
    return json_string_into(d, (const uint8_t *)s, n, simd_level());
}

size_t view_json_pair_into(uint8_t *d, const char *a, size_t an, const char *b, size_t bn)
{
    int level = simd_level();
    uint8_t *o = d;
    *o++ = '[';
    o += json_string_into(o, (const uint8_t *)a, an, level);
    *o++ = ',';
    o += json_string_into(o, (const uint8_t *)b, bn, level);
    *o++ = ']';
    return (size_t)(o - d);
}

/* Strings up to this long are escaped straight into one reservation of the worst case. */
#define JSON_DIRECT_MAX 4096

int view_json_string(gw_buf *out, const char *s, size_t n)
{
    const uint8_t *p = (const uint8_t *)s;
    int level = simd_level();
    if (n <= JSON_DIRECT_MAX) {
        int rc = gw_buf_room(out, 6 * n + 2);
        if (rc == 0) {
            out->len += json_string_into(out->data + out->len, p, n, level);
            return 0;
        }
        if (rc != GW_ECAP)
            return rc;
        /* Near the buffer's cap: the worst case may not fit where the string does. */
    }
    int rc = gw_buf_putc(out, '"');
    size_t i = 0;
    while (i < n && !rc) {
        /* Pieces of at most JSON_DIRECT_MAX bytes that do not split a UTF-8 sequence (one is at
         * most 4 bytes: backing up over 3 continuation bytes is enough). */
        size_t end = n - i <= JSON_DIRECT_MAX ? n : i + JSON_DIRECT_MAX;
        for (int k = 0; k < 3 && end < n && (p[end] & 0xc0) == 0x80; k++)
            end--;
        uint8_t tmp[6 * JSON_DIRECT_MAX + 2];
        size_t k = json_string_into(tmp, p + i, end - i, level);
        rc = gw_buf_append(out, tmp + 1, k - 2); /* without the piece's own quotes */
        i = end;
    }
    return rc ? rc : gw_buf_putc(out, '"');
}

static const char b64_tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static char pairs[4096][2];
static pthread_once_t b64_once = PTHREAD_ONCE_INIT;

static void b64_init(void)
{
    for (int k = 0; k < 4096; k++) {
        pairs[k][0] = b64_tab[k >> 6];
        pairs[k][1] = b64_tab[k & 63];
    }
}

#if GW_SIMD_X86
/* 24 input bytes to 32 characters per step, all in registers (the usual pshufb method):
 *  1. One 32-byte load from 4 bytes before the block holds the block's bytes 0..11 at offsets
 *     4..15 of the low lane and 12..23 at offsets 0..11 of the high lane; a shuffle spreads each
 *     3-byte group a b c over one 32-bit word as the bytes b a c b.
 *  2. The word's low half is (a << 8 | b), its high half (b << 8 | c), so each 6-bit index sits
 *     at a fixed bit offset of a 16-bit half. Masking and one multiply-high (shift right by 10
 *     and 6) and one multiply-low (shift left by 4 and 8) move the four indexes into the four
 *     bytes, in output order.
 *  3. Index to character is index + an offset that depends only on the range (A-Z, a-z, 0-9,
 *     '+', '/'): a saturating subtract and a compare give each byte a range number 0..13, and a
 *     16-entry pshufb table gives that range's offset.
 * The first block has no 4 bytes before it: two 16-byte loads place it the same way. Every block
 * reads input bytes up to i + 27, so the loop stops 28 bytes before the end and the scalar loop
 * does the rest. Returns the input bytes consumed (a multiple of 24). */
__attribute__((target("avx2"))) static inline __attribute__((always_inline)) __m256i
b64_block(__m256i in, __m256i spread)
{
    const __m256i offsets = _mm256_setr_epi8(
        'a' - 26, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52,
        '0' - 52, '0' - 52, '+' - 62, '/' - 63, 'A', 0, 0, 'a' - 26, '0' - 52, '0' - 52, '0' - 52,
        '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '+' - 62, '/' - 63,
        'A', 0, 0);
    in = _mm256_shuffle_epi8(in, spread);
    /* a >> 2 and (b & 15) << 2 | c >> 6 (bits 15..10 and 11..6 of the halves) */
    __m256i s02 = _mm256_mulhi_epu16(_mm256_and_si256(in, _mm256_set1_epi32(0x0fc0fc00)),
                                     _mm256_set1_epi32(0x04000040));
    /* (a & 3) << 4 | b >> 4 and c & 63 (bits 9..4 and 5..0), moved up a byte */
    __m256i s13 = _mm256_mullo_epi16(_mm256_and_si256(in, _mm256_set1_epi32(0x003f03f0)),
                                     _mm256_set1_epi32(0x01000010));
    __m256i idx = _mm256_or_si256(s02, s13);
    /* range: 0..25 -> 13, 26..51 -> 0, 52..61 -> 1..10, 62 -> 11, 63 -> 12 */
    __m256i range = _mm256_subs_epu8(idx, _mm256_set1_epi8(51));
    __m256i upper = _mm256_cmpgt_epi8(_mm256_set1_epi8(26), idx);
    range = _mm256_or_si256(range, _mm256_and_si256(upper, _mm256_set1_epi8(13)));
    return _mm256_add_epi8(idx, _mm256_shuffle_epi8(offsets, range));
}

__attribute__((target("avx2"))) static size_t b64_avx2(char *o, const uint8_t *p, size_t n)
{
    const __m256i spread0 = _mm256_setr_epi8(1, 0, 2, 1, 4, 3, 5, 4, 7, 6, 8, 7, 10, 9, 11, 10,
                                             1, 0, 2, 1, 4, 3, 5, 4, 7, 6, 8, 7, 10, 9, 11, 10);
    const __m256i spread = _mm256_setr_epi8(5, 4, 6, 5, 8, 7, 9, 8, 11, 10, 12, 11, 14, 13, 15, 14,
                                            1, 0, 2, 1, 4, 3, 5, 4, 7, 6, 8, 7, 10, 9, 11, 10);
    if (n < 28)
        return 0;
    __m128i lo = _mm_loadu_si128((const __m128i *)p);
    __m128i hi = _mm_loadu_si128((const __m128i *)(p + 12));
    __m256i first = _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1);
    _mm256_storeu_si256((__m256i *)o, b64_block(first, spread0));
    size_t i = 24;
    for (o += 32; i + 28 <= n; i += 24, o += 32) {
        __m256i in = _mm256_loadu_si256((const __m256i *)(p + i - 4));
        _mm256_storeu_si256((__m256i *)o, b64_block(in, spread));
    }
    return i;
}
#endif

#if GW_SIMD_X86
/* The last r (1..24) bytes: copied into a zeroed block (so nothing past p[r] is read), encoded
 * as b64_avx2's first block is; zeros after the input encode the characters of a partial group
 * exactly, then '=' pads it. Writes 32 bytes at o; returns the characters that count. */
__attribute__((target("avx2"))) static size_t b64_tail_avx2(char *o, const uint8_t *p, size_t r)
{
    const __m256i spread0 = _mm256_setr_epi8(1, 0, 2, 1, 4, 3, 5, 4, 7, 6, 8, 7, 10, 9, 11, 10,
                                             1, 0, 2, 1, 4, 3, 5, 4, 7, 6, 8, 7, 10, 9, 11, 10);
    uint8_t blk[32] = {0};
    memcpy(blk, p, r);
    __m128i lo = _mm_loadu_si128((const __m128i *)blk);
    __m128i hi = _mm_loadu_si128((const __m128i *)(blk + 12));
    __m256i in = _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1);
    _mm256_storeu_si256((__m256i *)o, b64_block(in, spread0));
    size_t k = (r + 2) / 3 * 4;
    if (r % 3 == 1)
        o[k - 2] = '=';
    if (r % 3)
        o[k - 1] = '=';
    return k;
}
#endif

size_t view_base64_into(uint8_t *d, const uint8_t *p, size_t n)
{
    const char *tab = b64_tab;
    char *o = (char *)d;
    size_t i = 0;
#if GW_SIMD_X86
    if (simd_level() >= GW_SIMD_AVX2) {
        if (n >= 28) {
            i = b64_avx2(o, p, n);
            o += i / 3 * 4;
        }
        while (i < n) { /* at most 27 bytes: one or two blocks */
            size_t r = n - i < 24 ? n - i : 24;
            o += b64_tail_avx2(o, p + i, r);
            i += r;
        }
        return (size_t)(o - (char *)d);
    }
#endif
    /* Two output characters per lookup: 12 bits of input index a table of character pairs. */
    pthread_once(&b64_once, b64_init);
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        memcpy(o, pairs[v >> 12], 2);
        memcpy(o + 2, pairs[v & 4095], 2);
        o += 4;
    }
    if (i < n) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0);
        o[0] = tab[v >> 18];
        o[1] = tab[v >> 12 & 63];
        o[2] = i + 1 < n ? tab[v >> 6 & 63] : '=';
        o[3] = '=';
        o += 4;
    }
    return (size_t)(o - (char *)d);
}

int view_base64(gw_buf *out, const uint8_t *p, size_t n)
{
    size_t need = (n + 2) / 3 * 4;
    int rc = gw_buf_room(out, need);
    if (rc)
        return rc;
    if (gw_buf_room(out, need + VIEW_BASE64_SLACK) == 0) {
        out->len += view_base64_into(out->data + out->len, p, n);
        return 0;
    }
    /* Near the cap: the slack does not fit where the text does. By pieces through a copy. */
    uint8_t tmp[4 * 1024 + VIEW_BASE64_SLACK];
    for (size_t i = 0; i < n && !rc; i += 3 * 1024) {
        size_t k = n - i < 3 * 1024 ? n - i : 3 * 1024;
        rc = gw_buf_append(out, tmp, view_base64_into(tmp, p + i, k));
    }
    return rc;
}

/* The shortest %g form that reads back to the same float or double, with ".0" added to whole
 * numbers so that a float never reads like an integer. cap >= 32. */
static void fmt_real(char *buf, size_t cap, double d, int is_float)
{
    for (int prec = 1; prec <= (is_float ? 9 : 17); prec++) {
        snprintf(buf, cap, "%.*g", prec, d);
        if (is_float ? strtof(buf, NULL) == (float)d : strtod(buf, NULL) == d)
            break;
    }
    if (!strpbrk(buf, ".eEin"))
        strcat(buf, ".0");
}

/* A packed value in a comment or tree line; past LIST_MAX only counted. */
static int list_item(gw_buf *o, size_t *items, uint64_t u)
{
    int rc = 0;
    if (*items < LIST_MAX)
        rc = gw_buf_printf(o, "%s%" PRIu64, *items ? ", " : "", u);
    (*items)++;
    return rc;
}

static int list_end(gw_buf *o, size_t items)
{
    int rc = items > LIST_MAX ? gw_buf_printf(o, ", ... (%zu values)", items) : 0;
    return rc ? rc : put(o, "]\n");
}

/* The bytes of a field after its tag (value bytes for VARINT/I32/I64). */
static size_t tag_len(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n && i < 10 && (p[i] & 0x80))
        i++;
    return i < n ? i + 1 : n;
}

/* ---- text (protoc --decode_raw) ---- */

typedef struct text_ctx {
    gw_buf *out;
    int indent;
    size_t items; /* of the packed list being printed */
    int err;
} text_ctx;

static int text_line_start(text_ctx *t, const pb_value *v)
{
    int rc = spaces(t->out, t->indent + 2 * v->depth);
    return rc ? rc : gw_buf_printf(t->out, "%" PRIu32, v->f->number);
}

static int text_field(void *u, const pb_value *v)
{
    text_ctx *t = u;
    gw_buf *o = t->out;
    const pb_field *f = v->f;
    char num[40];
    int rc = 0;
    if (v->packed_item) {
        rc = list_item(o, &t->items, f->u);
        goto out;
    }
    rc = text_line_start(t, v);
    if (rc)
        goto out;
    switch (v->kind) {
    case PB_KIND_VARINT:
        rc = gw_buf_printf(o, ": %" PRIu64, f->u);
        if (!rc && f->u >= (1ull << 63))
            rc = gw_buf_printf(o, "  # int64 %" PRId64, (int64_t)f->u);
        else if (!rc && v->zigzag_better)
            rc = gw_buf_printf(o, "  # zigzag %" PRId64, v->sval);
        break;
    case PB_KIND_I32:
        rc = gw_buf_printf(o, ": 0x%08" PRIx32, (uint32_t)f->u);
        if (!rc && v->float_plausible) {
            fmt_real(num, sizeof num, v->dval, 1);
            rc = gw_buf_printf(o, "  # float %s", num);
        }
        break;
    case PB_KIND_I64:
        rc = gw_buf_printf(o, ": 0x%016" PRIx64, f->u);
        if (!rc && v->float_plausible) {
            fmt_real(num, sizeof num, v->dval, 0);
            rc = gw_buf_printf(o, "  # double %s", num);
        }
        break;
    default: { /* STRING, BYTES */
        int ascii = 1;
        for (size_t i = 0; i < (size_t)f->u; i++)
            ascii &= f->bytes[i] < 0x80;
        rc = put(o, ": \"");
        if (!rc)
            rc = cescape(o, f->bytes, (size_t)f->u);
        if (!rc)
            rc = gw_buf_putc(o, '"');
        if (!rc && v->kind == PB_KIND_STRING && !ascii) {
            rc = put(o, "  # ");
            if (!rc)
                rc = view_json_string(o, (const char *)f->bytes, (size_t)f->u);
        }
        if (!rc && v->kind == PB_KIND_STRING && v->ambiguous && f->u > 0)
            rc = put(o, ascii ? "  # also parses as a message" : "; also parses as a message");
    }
    }
    if (!rc)
        rc = gw_buf_putc(o, '\n');
out:
    t->err = rc;
    return rc != 0;
}

static int text_enter(void *u, const pb_value *v)
{
    text_ctx *t = u;
    int rc = text_line_start(t, v);
    if (!rc && v->kind == PB_KIND_PACKED) {
        rc = put(t->out, ": \"");
        if (!rc)
            rc = cescape(t->out, v->f->bytes, (size_t)v->f->u);
        if (!rc)
            rc = put(t->out, "\"  # packed [");
        t->items = 0;
    } else if (!rc) {
        rc = put(t->out, " {\n");
    }
    t->err = rc;
    return rc != 0;
}

static int text_leave(void *u, const pb_value *v)
{
    text_ctx *t = u;
    int rc;
    if (v->kind == PB_KIND_PACKED) {
        rc = list_end(t->out, t->items);
    } else {
        rc = spaces(t->out, t->indent + 2 * v->depth);
        if (!rc)
            rc = put(t->out, "}\n");
    }
    t->err = rc;
    return rc != 0;
}

int view_pb_text(gw_buf *out, const uint8_t *p, size_t n, int indent, const pb_opts *o)
{
    text_ctx t = {out, indent < 0 ? 0 : indent, 0, 0};
    pb_visitor vis = {&t, text_field, text_enter, text_leave};
    size_t bad = 0;
    int rc = pb_walk_raw(p, n, o, &vis, &bad);
    if (rc == 1)
        return t.err;
    if (rc == GW_EPARSE) {
        rc = spaces(out, t.indent);
        if (!rc)
            rc = gw_buf_printf(out, "# not a protobuf message from offset %zu\n", bad);
    }
    return rc;
}

/* ---- short (one line) ---- */

typedef struct short_ctx {
    gw_buf *out;
    size_t start;
    size_t max; /* 0: no limit */
    int first;
    int err;
} short_ctx;

/* How many input bytes of a string or bytes field are worth rendering: enough to pass max. */
static size_t short_room(const short_ctx *s, size_t n)
{
    if (!s->max)
        return n;
    size_t used = s->out->len - s->start;
    size_t room = used >= s->max ? 1 : s->max - used + 1;
    return n < room ? n : room;
}

static int short_over(const short_ctx *s) { return s->max && s->out->len - s->start > s->max; }

/* "0x" and v as `digits` lowercase hex digits (printf's %0*x), without printf. */
static int put_hex0x(gw_buf *o, uint64_t v, int digits)
{
    char t[18];
    t[0] = '0';
    t[1] = 'x';
    for (int i = 0; i < digits; i++)
        t[2 + i] = hex_digits[(v >> (4 * (digits - 1 - i))) & 15];
    return gw_buf_append(o, t, (size_t)digits + 2);
}

static int short_sep(short_ctx *s, const pb_value *v)
{
    int rc = 0;
    if (!s->first)
        rc = put(s->out, ", ");
    s->first = 0;
    if (!rc && !v->packed_item) {
        rc = gw_buf_put_u64(s->out, v->f->number);
        if (!rc)
            rc = put(s->out, ": ");
    }
    return rc;
}

static int short_field(void *u, const pb_value *v)
{
    short_ctx *s = u;
    gw_buf *o = s->out;
    const pb_field *f = v->f;
    char num[40];
    int rc = short_sep(s, v);
    if (rc)
        goto out;
    switch (v->kind) {
    case PB_KIND_VARINT:
        rc = gw_buf_put_u64(o, f->u);
        break;
    case PB_KIND_I32:
    case PB_KIND_I64:
        if (v->float_plausible) {
            fmt_real(num, sizeof num, v->dval, v->kind == PB_KIND_I32);
            rc = put(o, num);
        } else if (v->kind == PB_KIND_I32) {
            rc = put_hex0x(o, (uint32_t)f->u, 8);
        } else {
            rc = put_hex0x(o, f->u, 16);
        }
        break;
    case PB_KIND_STRING:
        rc = view_json_string(o, (const char *)f->bytes, short_room(s, (size_t)f->u));
        break;
    default:
        rc = gw_buf_putc(o, '<');
        if (!rc)
            rc = hex(o, f->bytes, short_room(s, (size_t)f->u));
        if (!rc)
            rc = gw_buf_putc(o, '>');
    }
out:
    s->err = rc;
    return rc != 0 || short_over(s);
}

static int short_enter(void *u, const pb_value *v)
{
    short_ctx *s = u;
    int rc = short_sep(s, v);
    if (!rc)
        rc = gw_buf_putc(s->out, v->kind == PB_KIND_PACKED ? '[' : '{');
    s->first = 1;
    s->err = rc;
    return rc != 0 || short_over(s);
}

static int short_leave(void *u, const pb_value *v)
{
    short_ctx *s = u;
    int rc = gw_buf_putc(s->out, v->kind == PB_KIND_PACKED ? ']' : '}');
    s->first = 0;
    s->err = rc;
    return rc != 0 || short_over(s);
}

#define SHORT_SCAN 4096

/* short_fast: the message is not one it takes; what it wrote was taken back. */
#define SHORT_FAST_NO 2
/* Longer strings go to the walk, which renders only what max needs of them. */
#define SHORT_FAST_STRING 256

/* The usual preview in one pass, byte for byte what the walk's visitor writes: every field a
 * varint or a length-delimited field the walk reads as a string (empty or printable UTF-8: a
 * string whatever else it parses as), so there is nothing to classify. Any other field takes
 * back what was written and returns SHORT_FAST_NO, for the walk. Like the walk it stops after the
 * first field that passes max (1); a string is written whole where the walk cuts it just past
 * max, which the caller's cut makes the same. 0: all written; or an error from the buffer. */
static int short_fast(short_ctx *s, const uint8_t *p, size_t n)
{
    gw_buf *o = s->out;
    size_t mark = o->len;
    int level = simd_level();
    for (size_t off = 0; off < n;) {
        pb_field f;
        ptrdiff_t k = pb_field_parse_quick(p + off, n - off, &f);
        if (!k)
            k = pb_field_parse(p + off, n - off, &f);
        if (k <= 0)
            goto no;
        size_t len = (size_t)f.u;
        if (f.wire_type == PB_WT_LEN) {
            if (len > SHORT_FAST_STRING)
                goto no;
            size_t plain = gw_screen_at(GW_SCREEN_JSON, f.bytes, len, level);
            if (plain < len && !pb_printable_utf8(f.bytes + plain, len - plain))
                goto no;
        } else if (f.wire_type != PB_WT_VARINT) {
            goto no;
        }
        off += (size_t)k;
        /* ", " number ": " value: a string escapes to at most 6 bytes a byte. */
        int rc = gw_buf_room(o, 2 + 10 + 2 + (f.wire_type == PB_WT_LEN ? 6 * len + 2 : 20));
        if (rc) {
            o->len = mark;
            return rc;
        }
        uint8_t *d = o->data + o->len;
        if (!s->first) {
            *d++ = ',';
            *d++ = ' ';
        }
        s->first = 0;
        d += gw_u64_into(d, f.number);
        *d++ = ':';
        *d++ = ' ';
        if (f.wire_type == PB_WT_LEN)
            d += json_string_into(d, f.bytes, len, level);
        else
            d += gw_u64_into(d, f.u);
        o->len = (size_t)(d - o->data);
        if (short_over(s))
            return 1;
    }
    return 0;
no:
    o->len = mark;
    s->first = 1;
    return SHORT_FAST_NO;
}

int view_pb_short(gw_buf *out, const uint8_t *p, size_t n, size_t max)
{
    short_ctx s = {out, out->len, max, 1, 0};
    pb_visitor vis = {&s, short_field, short_enter, short_leave};
    size_t bad = 0;
    int rc = gw_buf_putc(out, '{');
    if (rc)
        return rc;
    /* A preview needs the first fields only: walking a megabyte message to print 60 characters
     * would cost the call log most of its time. Walk a prefix; a field running past it is named
     * by its number and size. */
    size_t scan_n = n > SHORT_SCAN ? SHORT_SCAN : n;
    int frc = n <= SHORT_SCAN && !__atomic_load_n(&force_general, __ATOMIC_RELAXED)
                  ? short_fast(&s, p, n)
                  : SHORT_FAST_NO;
    if (frc < 0)
        return frc;
    if (frc == SHORT_FAST_NO) {
        pb_opts po;
        pb_opts_default(&po);
        po.no_ambiguity = 1; /* the preview does not mark ambiguous strings */
        rc = pb_walk_raw(p, scan_n, &po, &vis, &bad);
        if (rc == 1 && s.err)
            return s.err;
    } else {
        rc = frc; /* as the walk's: 0 whole, 1 stopped at max */
    }
    pb_field big;
    if (rc == GW_EPARSE && scan_n < n && pb_field_parse(p + bad, n - bad, &big) > 0 &&
        big.wire_type == PB_WT_LEN) {
        rc = gw_buf_printf(out, "%s%" PRIu32 ": <%" PRIu64 " bytes>, ...}", s.first ? "" : ", ",
                           big.number, big.u);
    } else if (rc == GW_EPARSE && scan_n < n) {
        rc = gw_buf_printf(out, "%s...}", s.first ? "" : ", ");
    } else if (rc == GW_EPARSE && bad == 0) {
        out->len = s.start;
        rc = gw_buf_printf(out, "<%zu bytes, not protobuf>", n);
    } else if (rc == GW_EPARSE) {
        rc = gw_buf_printf(out, "%s<not protobuf from offset %zu>}", s.first ? "" : ", ", bad);
    } else if (rc == 0) {
        rc = gw_buf_putc(out, '}');
    } else {
        rc = 0; /* stopped at max: cut below */
    }
    if (!rc && short_over(&s)) {
        size_t keep = s.start + (max >= 3 ? max - 3 : 0);
        while (keep > s.start && (out->data[keep] & 0xc0) == 0x80)
            keep--; /* never split a UTF-8 character */
        out->len = keep;
        rc = gw_buf_append(out, "...", max >= 3 ? 3 : max);
    }
    return rc;
}

/* ---- JSON ---- */

/* The JSON view makes pb_walk_raw's decisions itself, a field at a time, without a visitor:
 * fields are taken whole by pb_field_parse_whole and a length-delimited field is classified only
 * when it is printed. JSON needs the kind, never the ambiguity, so the cheap checks go first: a
 * printable string is a string without asking whether it also parses as a message (the walk's
 * precedence gives the same kind), and "does it parse as a message" is the first pass of
 * printing it as one. */

typedef struct json_ctx {
    gw_buf *out;
    int max_depth;
} json_ctx;

/* Messages with at most this many fields keep them from the first pass to the second (sorted in
 * place when out of order): no second parse, no allocation. Small: the renderer recurses. */
#define JSON_INLINE 8
/* json_message with `whole`: the bytes are not a message, nothing was written. */
#define JSON_NOT_MESSAGE 1

typedef struct field_ref {
    uint32_t number;
    size_t off;
} field_ref;

static int cmp_ref(const void *a, const void *b)
{
    const field_ref *x = a, *y = b;
    if (x->number != y->number)
        return x->number < y->number ? -1 : 1;
    return x->off < y->off ? -1 : x->off > y->off;
}

/* Decimal digits of u, right-aligned in tmp[20]; returns where they start. Two digits per step
 * (32-bit divisions once the value fits): field numbers and small values are the common case. */
static size_t dec_digits(char tmp[20], uint64_t u)
{
    static const char two[] = "0001020304050607080910111213141516171819"
                              "2021222324252627282930313233343536373839"
                              "4041424344454647484950515253545556575859"
                              "6061626364656667686970717273747576777879"
                              "8081828384858687888990919293949596979899";
    size_t i = 20;
    while (u > 0xffffffffu) {
        uint64_t q = u / 100;
        i -= 2;
        memcpy(tmp + i, two + 2 * (u - q * 100), 2);
        u = q;
    }
    uint32_t v = (uint32_t)u;
    while (v >= 100) {
        uint32_t q = v / 100;
        i -= 2;
        memcpy(tmp + i, two + 2 * (v - q * 100), 2);
        v = q;
    }
    if (v >= 10) {
        i -= 2;
        memcpy(tmp + i, two + 2 * v, 2);
    } else {
        tmp[--i] = (char)('0' + v);
    }
    return i;
}

/* Integers past 2^53 are strings: JSON readers would round them (proto3 JSON mapping). */
static int json_uint(gw_buf *o, uint64_t u)
{
    if (u <= JSON_SAFE_INT) { /* digits counted first: room for exactly what is written */
        unsigned k = gw_u64_digits(u);
        int rc = gw_buf_room(o, k);
        if (rc)
            return rc;
        gw_u64_digits_back(o->data + o->len + k, u);
        o->len += k;
        return 0;
    }
    int rc = gw_buf_putc(o, '"');
    if (!rc)
        rc = gw_buf_put_u64(o, u);
    return rc ? rc : gw_buf_putc(o, '"');
}

/* ,"N": (without the comma for the first key) in one append. */
static int json_key(gw_buf *o, uint32_t number, int first)
{
    if (gw_buf_room(o, 16) == 0) { /* in place: at most 1 + 1 + 10 + 2 bytes */
        uint8_t *d = o->data + o->len, *e = d;
        if (!first)
            *e++ = ',';
        *e++ = '"';
        e += gw_u64_into(e, number);
        e[0] = '"';
        e[1] = ':';
        o->len += (size_t)(e + 2 - d);
        return 0;
    }
    char tmp[24];
    tmp[22] = '"';
    tmp[23] = ':';
    size_t i = dec_digits(tmp + 2, number) + 2; /* digits end at tmp[21] */
    tmp[--i] = '"';
    if (!first)
        tmp[--i] = ',';
    return gw_buf_append(o, tmp + i, sizeof tmp - i);
}

static int json_message(json_ctx *j, const uint8_t *p, size_t n, int depth, int whole);


/* A length-delimited field, by the walk's rules: string, nested message, packed varints, bytes. */
static int json_len(json_ctx *j, const pb_field *f, int depth)
{
    gw_buf *o = j->out;
    const uint8_t *b = f->bytes;
    size_t n = (size_t)f->u;
    int rc;
    /* Printable ASCII with nothing to escape (most strings, and the empty field) is a string
     * written as it is: one screen instead of the printable check and the escaper's. */
    int level = simd_level();
    size_t plain;
#if GW_SIMD_X86
    if (n < 64 && level >= GW_SIMD_SSE2 && gw_buf_room(o, n + 2) == 0) {
        /* Screened as copied; the bytes past a flagged one are left beyond len. */
        uint8_t *d = o->data + o->len;
        plain = plain_into_sse2(d + 1, b, n);
        if (plain == n) {
            d[0] = '"';
            d[n + 1] = '"';
            o->len += n + 2;
            return 0;
        }
    } else
#endif
        plain = gw_screen_at(GW_SCREEN_JSON, b, n, level);
    if (plain == n) {
        rc = gw_buf_putc(o, '"');
        if (!rc)
            rc = gw_buf_append(o, b, n);
        return rc ? rc : gw_buf_putc(o, '"');
    }
    /* The plain prefix is whole printable characters: the check goes on from its end. */
    if (pb_printable_utf8(b + plain, n - plain))
        return view_json_string(o, (const char *)b, n);
    /* Past max_depth nothing is opened, packed lists included. */
    if (j->max_depth - depth >= 1) {
        rc = json_message(j, b, n, depth + 1, 1);
        if (rc != JSON_NOT_MESSAGE)
            return rc;
        if (pb_packed_varints(b, n)) {
            gw_cur c = gw_cur_make(b, n);
            int first = 1;
            rc = gw_buf_putc(o, '[');
            while (!rc && gw_cur_left(&c) > 0) {
                uint64_t u = gw_cur_varint(&c);
                if (!gw_cur_ok(&c))
                    break;
                if (!first)
                    rc = gw_buf_putc(o, ',');
                if (!rc)
                    rc = json_uint(o, u);
                first = 0;
            }
            return rc ? rc : gw_buf_putc(o, ']');
        }
    }
    rc = gw_buf_putc(o, '"');
    if (!rc)
        rc = view_base64(o, b, n);
    return rc ? rc : gw_buf_putc(o, '"');
}

static int json_field(json_ctx *j, const pb_field *f, int depth)
{
    switch (f->wire_type) {
    case PB_WT_VARINT:
    case PB_WT_I32:
    case PB_WT_I64:
        return json_uint(j->out, f->u);
    case PB_WT_LEN:
        return json_len(j, f, depth);
    case PB_WT_SGROUP: /* taken whole: bytes/u are the group's contents, known to parse */
        return json_message(j, f->bytes, (size_t)f->u, depth + 1, 0);
    }
    return put(j->out, "null");
}

/* The i-th field to print: from inl while it holds them in print order, else parsed again at its
 * offset (refs, when sorted by allocation) or after the previous one. */
typedef struct field_iter {
    const uint8_t *p;
    size_t good, count, kept, idx, off;
    int budget;
    const pb_field *inl;
    const field_ref *refs;
} field_iter;

static int iter_next(field_iter *it, pb_field *f)
{
    if (it->idx >= it->count)
        return 0;
    if (!it->refs && it->idx < it->kept) {
        *f = it->inl[it->idx++];
        return 1;
    }
    size_t at = it->refs ? it->refs[it->idx].off : it->off;
    ptrdiff_t r = at < it->good ? pb_field_parse_whole(it->p + at, it->good - at, it->budget, f) : -1;
    if (r <= 0)
        return 0; /* cannot happen: the first pass saw these fields */
    it->off = at + (size_t)r;
    it->idx++;
    return 1;
}

/* json_fast: the message is not one it takes; nothing was written. */
#define JSON_FAST_NO 2
/* Messages up to this size may take json_fast (it reserves room for the worst case at once). */
#define JSON_FAST_MAX 4096

/* The common message in one pass, as json_message writes it: every field parses, their numbers
 * strictly ascend (no sorting, no arrays) and none is a group. Numbers and plain strings (most
 * fields) are written through a cursor into room reserved once: a field takes at least 2 input
 * bytes and writes at most 14 (key) + 22 (value) bytes, a plain string 16 more than its bytes,
 * so 18 per input byte is enough; other length-delimited fields go through json_len. Anything
 * else: the output is taken back and JSON_FAST_NO returned, for json_message's general way. */
static int json_fast(json_ctx *j, const uint8_t *p, size_t n, int depth)
{
    gw_buf *b = j->out;
    size_t mark = b->len;
    if (n > JSON_FAST_MAX || gw_buf_room(b, 18 * n + 2))
        return JSON_FAST_NO;
    int budget = j->max_depth - depth, level = simd_level();
    uint8_t *o = b->data + b->len;
    *o++ = '{';
    uint32_t prev = 0;
    for (size_t pos = 0; pos < n;) {
        pb_field f;
        ptrdiff_t r = pb_field_parse_whole(p + pos, n - pos, budget, &f);
        if (r < 0 || f.number <= prev || f.wire_type == PB_WT_SGROUP)
            goto no;
        if (prev)
            *o++ = ',';
        prev = f.number;
        pos += (size_t)r;
        *o++ = '"';
        o += gw_u64_into(o, f.number);
        o[0] = '"';
        o[1] = ':';
        o += 2;
        if (f.wire_type != PB_WT_LEN) { /* VARINT, I32, I64: json_uint */
            if (f.u <= JSON_SAFE_INT) {
                o += gw_u64_into(o, f.u);
            } else {
                *o++ = '"';
                o += gw_u64_into(o, f.u);
                *o++ = '"';
            }
            continue;
        }
        size_t len = (size_t)f.u;
#if GW_SIMD_X86
        if (len < 64 && level >= GW_SIMD_SSE2) {
            if (plain_into_sse2(o + 1, f.bytes, len) == len) {
                o[0] = '"';
                o[len + 1] = '"';
                o += len + 2;
                continue;
            }
        } else
#endif
        if (gw_screen_at(GW_SCREEN_JSON, f.bytes, len, level) == len) {
            *o++ = '"';
            memcpy(o, f.bytes, len);
            o += len;
            *o++ = '"';
            continue;
        }
        b->len = (size_t)(o - b->data);
        int rc = json_len(j, &f, depth);
        if (rc)
            return rc; /* a buffer error: the output is partial, as json_message's would be */
        if (gw_buf_room(b, 18 * (n - pos) + 2))
            goto no;
        o = b->data + b->len;
    }
    *o++ = '}';
    b->len = (size_t)(o - b->data);
    return 0;
no:
    b->len = mark;
    return JSON_FAST_NO;
}

/* Objects with keys in ascending field-number order and repeated numbers as arrays. Fields come
 * on the wire almost always in number order, so runs of equal numbers are the arrays; otherwise
 * the fields are sorted by (number, offset): in place when few, else in one allocation. With
 * `whole`, bytes that do not parse completely write nothing and return JSON_NOT_MESSAGE. */
static int json_message(json_ctx *j, const uint8_t *p, size_t n, int depth, int whole)
{
    int frc = __atomic_load_n(&force_general, __ATOMIC_RELAXED) ? JSON_FAST_NO
                                                                 : json_fast(j, p, n, depth);
    if (frc != JSON_FAST_NO)
        return frc;
    gw_buf *o = j->out;
    int budget = j->max_depth - depth;
    size_t pos = 0, count = 0;
    uint32_t prev = 0;
    int sorted = 1, rc = 0;
    field_ref *refs = NULL;
    pb_field inl[JSON_INLINE];

    while (pos < n) {
        pb_field spare, *f = count < JSON_INLINE ? &inl[count] : &spare; /* parsed in place */
        ptrdiff_t r = pb_field_parse_whole(p + pos, n - pos, budget, f);
        if (r < 0)
            break;
        if (f->number < prev)
            sorted = 0;
        prev = f->number;
        f->offset = pos;
        count++;
        pos += (size_t)r;
    }
    size_t good = pos; /* fields end here; damage (if any) starts here */
    if (good < n && whole)
        return JSON_NOT_MESSAGE;
    if (good < n && count == 0) {
        rc = put(o, "{\"_raw\":\"");
        if (!rc)
            rc = view_base64(o, p, n);
        return rc ? rc : put(o, "\"}");
    }
    size_t kept = count < JSON_INLINE ? count : JSON_INLINE;
    if (!sorted && count <= JSON_INLINE) {
        for (size_t i = 1; i < count; i++) {
            pb_field x = inl[i];
            size_t k = i;
            while (k > 0 && (inl[k - 1].number > x.number ||
                             (inl[k - 1].number == x.number && inl[k - 1].offset > x.offset))) {
                inl[k] = inl[k - 1];
                k--;
            }
            inl[k] = x;
        }
    } else if (!sorted) {
        refs = gw_malloc(count * sizeof *refs);
        if (!refs)
            return GW_ENOMEM;
        pos = 0;
        for (size_t i = 0; i < count; i++) {
            pb_field f;
            ptrdiff_t r = pb_field_parse_whole(p + pos, good - pos, budget, &f);
            refs[i].number = f.number;
            refs[i].off = pos;
            pos += r > 0 ? (size_t)r : good - pos; /* r > 0: the first pass saw these fields */
        }
        qsort(refs, count, sizeof *refs, cmp_ref);
    }

    if (count <= JSON_INLINE) {
        /* All fields are in inl, in print order: runs of equal numbers are the arrays. */
        rc = gw_buf_putc(o, '{');
        for (size_t i = 0; i < count && !rc;) {
            size_t k = i + 1;
            while (k < count && inl[k].number == inl[i].number)
                k++;
            rc = json_key(o, inl[i].number, i == 0);
            if (!rc && k - i == 1) {
                rc = json_field(j, &inl[i], depth);
            } else if (!rc) {
                rc = gw_buf_putc(o, '[');
                for (size_t x = i; x < k && !rc; x++) {
                    if (x > i)
                        rc = gw_buf_putc(o, ',');
                    if (!rc)
                        rc = json_field(j, &inl[x], depth);
                }
                if (!rc)
                    rc = gw_buf_putc(o, ']');
            }
            i = k;
        }
        goto tail;
    }
    field_iter it = {p, good, count, kept, 0, 0, budget, inl, refs};
    if (kept)
        it.off = inl[kept - 1].offset + inl[kept - 1].size; /* sorted: where parsing resumes */
    rc = gw_buf_putc(o, '{');
    int in_array = 0, first_key = 1;
    /* cur is the field to print, nxt the one after it (to know whether a run continues). */
    pb_field cur, nxt;
    int have = iter_next(&it, &cur);
    while (!rc && have) {
        int more = iter_next(&it, &nxt);
        int same_next = more && nxt.number == cur.number;
        if (!in_array) {
            rc = json_key(o, cur.number, first_key);
            first_key = 0;
            if (!rc && same_next) {
                rc = gw_buf_putc(o, '[');
                in_array = 1;
            }
        } else {
            rc = gw_buf_putc(o, ',');
        }
        if (!rc)
            rc = json_field(j, &cur, depth);
        if (!rc && in_array && !same_next) {
            rc = gw_buf_putc(o, ']');
            in_array = 0;
        }
        if (more)
            cur = nxt;
        have = more;
    }
tail:
    if (!rc && good < n) {
        rc = gw_buf_printf(o, "%s\"_error\":\"not a protobuf message from offset %zu\",\"_rest\":\"",
                           count ? "," : "", good);
        if (!rc)
            rc = view_base64(o, p + good, n - good);
        if (!rc)
            rc = gw_buf_putc(o, '"');
    }
    if (!rc)
        rc = gw_buf_putc(o, '}');
    gw_free(refs);
    return rc; /* on failure the partial output stays; the caller sees rc */
}

int view_pb_json(gw_buf *out, const uint8_t *p, size_t n, const pb_opts *o)
{
    json_ctx j = {out, clamp_depth(o)};
    return json_message(&j, p, n, 0, 0);
}

/* ---- tree (Wireshark-like) ---- */

typedef struct tree_ctx {
    gw_buf *out;
    const uint8_t *base;
    int indent;
    size_t items;
    int err;
} tree_ctx;


static int tree_line(tree_ctx *t, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int tree_line(tree_ctx *t, int level, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    int rc = spaces(t->out, 4 * level);
    if (rc)
        return rc;
    va_start(ap, fmt);
    int k = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (k < 0)
        return GW_EINVAL;
    /* Our formats are short; anything long goes through the buffer directly by the caller. */
    rc = gw_buf_append(t->out, small, (size_t)k < sizeof small ? (size_t)k : sizeof small - 1);
    return rc ? rc : gw_buf_putc(t->out, '\n');
}

/* "Field(N):" and the tag lines. Returns the level of the field's children. */
static int tree_head(tree_ctx *t, const pb_value *v, int *rc)
{
    const pb_field *f = v->f;
    int level = t->indent + 1 + 2 * v->depth;
    const uint8_t *tag = t->base + f->offset;
    *rc = tree_line(t, level, "Field(%" PRIu32 "):", f->number);
    if (!*rc)
        *rc = tree_line(t, level + 1, "[Field Name: <UNKNOWN>]");
    if (*rc)
        return level + 1;
    if (!(tag[0] & 0x80)) {
        char nb[10], wb[10];
        uint8_t b = tag[0];
        for (int i = 0, k = 0; i < 8; i++, k++) {
            if (i == 4) {
                nb[k] = wb[k] = ' ';
                k++;
            }
            int bit = b >> (7 - i) & 1;
            nb[k] = i >= 1 && i <= 4 ? (char)('0' + bit) : '.';
            wb[k] = i >= 5 ? (char)('0' + bit) : '.';
        }
        nb[9] = wb[9] = 0;
        *rc = tree_line(t, level + 1, "%s = Field Number: %" PRIu32, nb, f->number);
        if (!*rc)
            *rc = tree_line(t, level + 1, "%s = Wire Type: %s (%d)", wb,
                            pb_wire_type_name(f->wire_type), f->wire_type);
    } else {
        *rc = tree_line(t, level + 1, "Field Number: %" PRIu32, f->number);
        if (!*rc)
            *rc = tree_line(t, level + 1, "Wire Type: %s (%d)", pb_wire_type_name(f->wire_type),
                            f->wire_type);
    }
    return level + 1;
}

/* "Value Length" (LEN only) and "Value: <hex>" */
static int tree_value(tree_ctx *t, int level, const pb_field *f)
{
    const uint8_t *vb;
    size_t vn;
    int rc = 0;
    if (f->wire_type == PB_WT_LEN) {
        vb = f->bytes;
        vn = (size_t)f->u;
        rc = tree_line(t, level, "Value Length: %zu", vn);
    } else {
        const uint8_t *p = t->base + f->offset;
        size_t tl = tag_len(p, f->size);
        vb = p + tl;
        vn = f->size - tl;
    }
    if (!rc)
        rc = spaces(t->out, 4 * level);
    if (!rc)
        rc = put(t->out, "Value: ");
    if (!rc)
        rc = hex(t->out, vb, vn < TREE_BYTES_MAX ? vn : TREE_BYTES_MAX);
    if (!rc && vn > TREE_BYTES_MAX)
        rc = put(t->out, "...");
    return rc ? rc : gw_buf_putc(t->out, '\n');
}

static int tree_field(void *u, const pb_value *v)
{
    tree_ctx *t = u;
    const pb_field *f = v->f;
    char num[40];
    int rc = 0;
    if (v->packed_item) {
        rc = list_item(t->out, &t->items, f->u);
        goto out;
    }
    int level = tree_head(t, v, &rc);
    if (!rc)
        rc = tree_value(t, level, f);
    if (rc)
        goto out;
    switch (v->kind) {
    case PB_KIND_VARINT:
        rc = tree_line(t, level, "[As uint64: %" PRIu64 "]", f->u);
        if (!rc && f->u >= (1ull << 63))
            rc = tree_line(t, level, "[As int64: %" PRId64 "]", (int64_t)f->u);
        else if (!rc && v->zigzag_better)
            rc = tree_line(t, level, "[As sint64 (zigzag): %" PRId64 "]", v->sval);
        break;
    case PB_KIND_I32:
    case PB_KIND_I64:
        rc = tree_line(t, level, "[As %s: %" PRIu64 "]", v->kind == PB_KIND_I32 ? "fixed32" : "fixed64",
                       f->u);
        if (!rc && v->float_plausible) {
            fmt_real(num, sizeof num, v->dval, v->kind == PB_KIND_I32);
            rc = tree_line(t, level, "[As %s: %s]", v->kind == PB_KIND_I32 ? "float" : "double", num);
        }
        break;
    case PB_KIND_STRING:
        rc = spaces(t->out, 4 * level);
        if (!rc)
            rc = put(t->out, "[As string: ");
        if (!rc) {
            size_t k = (size_t)f->u;
            if (k > TREE_BYTES_MAX) {
                k = TREE_BYTES_MAX;
                while (k > 0 && (f->bytes[k] & 0xc0) == 0x80)
                    k--; /* cut between characters */
            }
            rc = view_json_string(t->out, (const char *)f->bytes, k);
            if (!rc && k < (size_t)f->u)
                rc = put(t->out, "...");
        }
        if (!rc)
            rc = put(t->out, "]\n");
        if (!rc && v->ambiguous && f->u > 0)
            rc = tree_line(t, level, "[Also parses as a message]");
        break;
    default:
        break; /* bytes: the Value line says it all */
    }
out:
    t->err = rc;
    return rc != 0;
}

static int tree_enter(void *u, const pb_value *v)
{
    tree_ctx *t = u;
    int rc = 0;
    int level = tree_head(t, v, &rc);
    if (!rc && v->kind == PB_KIND_GROUP)
        rc = tree_line(t, level, "[As group]");
    else if (!rc)
        rc = tree_value(t, level, v->f);
    if (rc)
        goto out;
    if (v->kind == PB_KIND_PACKED) {
        rc = spaces(t->out, 4 * level);
        if (!rc)
            rc = put(t->out, "[As packed varints: ");
        t->items = 0;
    } else {
        rc = tree_line(t, level, "Message: <UNKNOWN>");
    }
out:
    t->err = rc;
    return rc != 0;
}

static int tree_leave(void *u, const pb_value *v)
{
    tree_ctx *t = u;
    int rc = v->kind == PB_KIND_PACKED ? list_end(t->out, t->items) : 0;
    t->err = rc;
    return rc != 0;
}

int view_pb_tree(gw_buf *out, const uint8_t *p, size_t n, int indent, const pb_opts *o)
{
    tree_ctx t = {out, p, indent < 0 ? 0 : indent, 0, 0};
    pb_visitor vis = {&t, tree_field, tree_enter, tree_leave};
    size_t bad = 0;
    int rc = tree_line(&t, t.indent, "Message: <UNKNOWN>");
    if (rc)
        return rc;
    rc = pb_walk_raw(p, n, o, &vis, &bad);
    if (rc == 1)
        return t.err;
    if (rc == GW_EPARSE)
        rc = tree_line(&t, t.indent + 1, "[Malformed: not a protobuf message from offset %zu]", bad);
    return rc;
}
