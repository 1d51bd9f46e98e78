/* gw_cur: a bounds-checked read cursor. A read past the end sets a sticky error and returns 0,
 * so a parser reads a whole unit and checks gw_cur_ok() once. Header-only; never allocates. */
#ifndef GW_CUR_H
#define GW_CUR_H
#include <stddef.h>
#include <stdint.h>

typedef struct gw_cur {
    const uint8_t *p;   /* next byte */
    const uint8_t *end; /* one past the last byte */
    int err;            /* sticky: set by the first read past the end */
} gw_cur;

static inline gw_cur gw_cur_make(const uint8_t *p, size_t n)
{
    gw_cur c = {p, p + n, 0};
    return c;
}
static inline size_t gw_cur_left(const gw_cur *c) { return c->err ? 0 : (size_t)(c->end - c->p); }
static inline int gw_cur_ok(const gw_cur *c) { return !c->err; }
static inline int gw_cur_need(gw_cur *c, size_t n)
{
    if (c->err || (size_t)(c->end - c->p) < n) {
        c->err = 1;
        return 0;
    }
    return 1;
}
static inline uint8_t gw_cur_u8(gw_cur *c)
{
    if (!gw_cur_need(c, 1))
        return 0;
    return *c->p++;
}
static inline uint16_t gw_cur_be16(gw_cur *c)
{
    if (!gw_cur_need(c, 2))
        return 0;
    uint16_t v = (uint16_t)(c->p[0] << 8 | c->p[1]);
    c->p += 2;
    return v;
}
static inline uint32_t gw_cur_be24(gw_cur *c)
{
    if (!gw_cur_need(c, 3))
        return 0;
    uint32_t v = (uint32_t)c->p[0] << 16 | (uint32_t)c->p[1] << 8 | c->p[2];
    c->p += 3;
    return v;
}
static inline uint32_t gw_cur_be32(gw_cur *c)
{
    if (!gw_cur_need(c, 4))
        return 0;
    uint32_t v = (uint32_t)c->p[0] << 24 | (uint32_t)c->p[1] << 16 | (uint32_t)c->p[2] << 8 | c->p[3];
    c->p += 4;
    return v;
}
static inline uint64_t gw_cur_be64(gw_cur *c)
{
    uint64_t hi = gw_cur_be32(c);
    return hi << 32 | gw_cur_be32(c);
}
static inline uint16_t gw_cur_le16(gw_cur *c)
{
    if (!gw_cur_need(c, 2))
        return 0;
    uint16_t v = (uint16_t)(c->p[1] << 8 | c->p[0]);
    c->p += 2;
    return v;
}
static inline uint32_t gw_cur_le32(gw_cur *c)
{
    if (!gw_cur_need(c, 4))
        return 0;
    uint32_t v = (uint32_t)c->p[3] << 24 | (uint32_t)c->p[2] << 16 | (uint32_t)c->p[1] << 8 | c->p[0];
    c->p += 4;
    return v;
}
static inline uint64_t gw_cur_le64(gw_cur *c)
{
    uint64_t lo = gw_cur_le32(c);
    return lo | (uint64_t)gw_cur_le32(c) << 32;
}
/* Borrow n bytes; NULL (and the sticky error) when fewer remain. */
static inline const uint8_t *gw_cur_bytes(gw_cur *c, size_t n)
{
    if (!gw_cur_need(c, n))
        return NULL;
    const uint8_t *b = c->p;
    c->p += n;
    return b;
}
static inline void gw_cur_skip(gw_cur *c, size_t n) { (void)gw_cur_bytes(c, n); }
/* Protobuf base-128 varint, at most 10 bytes; an over-long or unterminated one sets the error. */
static inline uint64_t gw_cur_varint(gw_cur *c)
{
    uint64_t v = 0;
    for (int i = 0; i < 10; i++) {
        if (!gw_cur_need(c, 1))
            return 0;
        uint8_t b = *c->p++;
        if (i == 9 && b > 1) {
            c->err = 1;
            return 0;
        }
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80))
            return v;
    }
    c->err = 1;
    return 0;
}

/* A borrowed byte range: valid for the lifetime the producing API states. */
typedef struct gw_slice {
    const uint8_t *base;
    size_t len;
} gw_slice;

#endif
