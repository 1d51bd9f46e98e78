/* grpc_msg: the 5-byte Length-Prefixed-Message deframer and message (de)compression.
 *
 *   Length-Prefixed-Message (PROTOCOL-HTTP2.md):
 *   +--------+--------+--------+--------+--------+=================+
 *   | flag   |         length (32-bit big endian)| message (length) |
 *   +--------+--------+--------+--------+--------+=================+
 *   flag bit 0: Compressed-Flag. grpc-web sets bit 7 on its trailer frame; the deframer keeps
 *   the whole byte in hdr[0] for a caller that cares.
 *
 * Loss: after grpc_deframer_reset the next prefix can only be guessed, so the deframer sits in
 * "lost" mode; the next feed (one DATA frame for grpc_call) is taken as a message start only if
 * its first byte looks like a flag byte (bits 1..6 clear); otherwise the whole feed is dropped and
 * the deframer keeps waiting. */
#include "grpc/grpc_msg.h"

#include <limits.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>
#ifdef GW_HAVE_ZSTD
#include <zstd.h>
#include <zstd_errors.h>
#endif

#include "common/gw_err.h"
#include "common/gw_mem.h"

#define PREFIX_LEN 5
#define IN_BODY PREFIX_LEN
#define RESERVE_MAX (4u << 20) /* a prefix may promise more than ever arrives */ /* hdr_have == 5: the prefix is complete, body bytes follow */

void grpc_deframer_init(grpc_deframer *d, size_t max_message)
{
    memset(d, 0, sizeof *d);
    gw_buf_init(&d->body, max_message);
}

void grpc_deframer_free(grpc_deframer *d)
{
    if (!d)
        return;
    gw_big_put(d->body.data); /* the next call's message may use its pages */
    gw_buf_init(&d->body, d->body.limit);
}

static void clear_message(grpc_deframer *d)
{
    d->hdr_have = 0;
    d->length = 0;
    d->compressed = 0;
    d->have = 0;
    d->overflow = 0;
    gw_buf_reset(&d->body);
}

static void emit(grpc_deframer *d, const uint8_t *body, size_t body_len, int truncated,
                 grpc_deframer_cb cb, void *u)
{
    grpc_frame_msg m;
    m.length = d->length;
    m.compressed = d->compressed;
    int none = d->overflow || d->skipping;
    m.body = none ? NULL : body;
    m.body_len = none ? 0 : body_len;
    m.truncated = truncated || d->overflow;
    m.skipped = d->skipping && !d->overflow;
    if (m.body == NULL && m.body_len == 0 && !none)
        m.body = (const uint8_t *)""; /* zero-length messages still have a (empty) body */
    if (cb)
        cb(u, &m);
}

int grpc_deframer_feed(grpc_deframer *d, const uint8_t *p, size_t n, grpc_deframer_cb cb, void *u)
{
    int rc = 0;
    if (n && d->lost) {
        if (d->hdr_have == 0 && (p[0] & 0x7e) != 0)
            return 0; /* not a message start: wait for the next DATA frame */
        d->lost = 0;
    }
    while (n > 0) {
        uint32_t len;
        if (d->hdr_have == 0 && n >= PREFIX_LEN &&
            (len = (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 8 | p[4]) <=
                n - PREFIX_LEN) {
            /* A whole message in the bytes given (every small message): straight from them,
             * with the state the general path has when it emits. */
            memcpy(d->hdr, p, PREFIX_LEN);
            d->hdr_have = PREFIX_LEN;
            d->compressed = p[0] & 1;
            d->length = len;
            d->have = len;
            d->overflow = len > gw_buf_limit(&d->body);
            d->skipping = d->discard;
            d->body.len = 0;
            emit(d, p + PREFIX_LEN, len, 0, cb, u);
            clear_message(d);
            p += PREFIX_LEN + (size_t)len;
            n -= PREFIX_LEN + (size_t)len;
            continue;
        }
        if (d->hdr_have < PREFIX_LEN) {
            size_t take = PREFIX_LEN - d->hdr_have;
            if (take > n)
                take = n;
            memcpy(d->hdr + d->hdr_have, p, take);
            d->hdr_have = (uint8_t)(d->hdr_have + take);
            p += take;
            n -= take;
            if (d->hdr_have < PREFIX_LEN)
                break;
            d->compressed = d->hdr[0] & 1;
            d->length = (uint32_t)d->hdr[1] << 24 | (uint32_t)d->hdr[2] << 16 |
                        (uint32_t)d->hdr[3] << 8 | d->hdr[4];
            d->have = 0;
            d->overflow = d->length > gw_buf_limit(&d->body);
            d->skipping = d->discard;
            gw_buf_reset(&d->body);
        }
        size_t want = d->length - d->have;
        size_t take = want < n ? want : n;
        if (take == want && d->body.len == 0 && !d->overflow && !d->skipping) {
            /* Whole body in this chunk: hand it out without copying. */
            d->have += (uint32_t)take;
            emit(d, p, take, 0, cb, u);
            clear_message(d);
        } else {
            if (!d->overflow && !d->skipping) {
                /* One allocation of the right size, not a doubling series of copies. */
                if (d->body.len == 0 && d->body.cap < d->length) {
                    size_t need = d->length < RESERVE_MAX ? d->length : RESERVE_MAX, cap;
                    uint8_t *b = gw_big_alloc(need, &cap); /* large: pages a freed one left */
                    if (b) { /* else the append below grows, or says GW_ENOMEM */
                        gw_big_put(d->body.data);
                        d->body.data = b;
                        d->body.cap = cap;
                    }
                }
                rc = gw_buf_append(&d->body, p, take);
                if (rc == GW_ECAP) {
                    d->overflow = 1; /* cannot happen (length checked), but never grow past it */
                    gw_buf_reset(&d->body);
                    rc = 0;
                } else if (rc) {
                    goto out;
                }
            }
            d->have += (uint32_t)take;
            if (d->have == d->length) {
                emit(d, d->body.data, d->body.len, 0, cb, u);
                clear_message(d);
            }
        }
        p += take;
        n -= take;
    }
out:
    return rc;
}

uint8_t *grpc_deframer_take(grpc_deframer *d, const uint8_t *body)
{
    if (!body || body != d->body.data || !d->body.len)
        return NULL;
    uint8_t *p = d->body.data;
    size_t limit = d->body.limit;
    gw_buf_init(&d->body, limit);
    return p;
}

int grpc_deframer_flush(grpc_deframer *d, grpc_deframer_cb cb, void *u)
{
    int was = grpc_deframer_pending(d);
    if (d->hdr_have == IN_BODY)
        emit(d, d->body.data, d->body.len, 1, cb, u);
    clear_message(d);
    return was;
}

void grpc_deframer_reset(grpc_deframer *d)
{
    clear_message(d);
    d->lost = 1;
}

int grpc_deframer_pending(const grpc_deframer *d)
{
    return d->hdr_have > 0;
}

/* ---- decompression ---- */

/* Not zeroed: zlib does not need it (its own default allocator is malloc), and zeroing a 32 KiB
 * window for every compressed message cost more than inflating it. */
static voidpf zalloc_hook(voidpf opaque, uInt items, uInt size)
{
    (void)opaque;
    if (size && items > SIZE_MAX / size)
        return Z_NULL;
    return gw_malloc((size_t)items * size);
}

static void zfree_hook(voidpf opaque, voidpf addr)
{
    (void)opaque;
    gw_free(addr);
}

/* Output allowed for n input bytes: min(max_out, n * max_ratio); 0 ratio means no ratio cap. */
static size_t out_allowed(size_t n, size_t max_out, unsigned max_ratio)
{
    size_t lim = max_out ? max_out : SIZE_MAX;
    if (max_ratio && n <= SIZE_MAX / max_ratio && n * max_ratio < lim)
        lim = n * max_ratio;
    return lim;
}

#define CHUNK 65536

static int inflate_with(int window_bits, const uint8_t *p, size_t n, gw_buf *out, size_t allowed)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    zs.zalloc = zalloc_hook;
    zs.zfree = zfree_hook;
    int zr = inflateInit2(&zs, window_bits);
    if (zr != Z_OK)
        return zr == Z_MEM_ERROR ? GW_ENOMEM : GW_EPARSE;
    int rc = 0;
    size_t produced = 0;
    zs.next_in = (Bytef *)(uintptr_t)p;
    /* zlib counts in uInt; feed at most UINT_MAX per round. */
    size_t in_left = n;
    for (;;) {
        if (zs.avail_in == 0 && in_left) {
            zs.avail_in = in_left > UINT_MAX ? UINT_MAX : (uInt)in_left;
            in_left -= zs.avail_in;
        }
        uint8_t one;
        size_t room = allowed - produced;
        if (room == 0) {
            /* At the cap: any further output means the message is over it. */
            zs.next_out = &one;
            zs.avail_out = 1;
        } else {
            size_t chunk = room < CHUNK ? room : CHUNK;
            rc = gw_buf_reserve(out, chunk);
            if (rc)
                goto out;
            zs.next_out = out->data + out->len;
            zs.avail_out = (uInt)chunk;
        }
        uInt before = zs.avail_out;
        zr = inflate(&zs, Z_NO_FLUSH);
        size_t got = before - zs.avail_out;
        if (room == 0 && got) {
            rc = GW_ECAP;
            goto out;
        }
        if (room) {
            out->len += got;
            produced += got;
        }
        if (zr == Z_STREAM_END) {
            if (zs.avail_in || in_left)
                rc = GW_EPARSE; /* bytes after the end of the compressed stream */
            goto out;
        }
        if (zr == Z_MEM_ERROR) {
            rc = GW_ENOMEM;
            goto out;
        }
        if (zr == Z_BUF_ERROR && zs.avail_in == 0 && in_left == 0) {
            rc = GW_EPARSE; /* input ended before the stream did */
            goto out;
        }
        if (zr != Z_OK && zr != Z_BUF_ERROR) {
            rc = GW_EPARSE;
            goto out;
        }
    }
out:
    inflateEnd(&zs);
    return rc;
}

#ifdef GW_HAVE_ZSTD
static int zstd_decode(const uint8_t *p, size_t n, gw_buf *out, size_t allowed)
{
    ZSTD_DCtx *z = ZSTD_createDCtx();
    if (!z)
        return GW_ENOMEM;
    /* Bound zstd's own window allocation by what we would accept as output anyway. */
    int wlog = 10;
    while (wlog < 27 && ((size_t)1 << wlog) < allowed)
        wlog++;
    ZSTD_DCtx_setParameter(z, ZSTD_d_windowLogMax, wlog);
    int rc = 0;
    size_t produced = 0, last = 1;
    ZSTD_inBuffer in = {p, n, 0};
    for (;;) {
        uint8_t one;
        size_t room = allowed - produced;
        ZSTD_outBuffer ob;
        if (room == 0) {
            ob.dst = &one;
            ob.size = 1;
        } else {
            size_t chunk = room < CHUNK ? room : CHUNK;
            rc = gw_buf_reserve(out, chunk);
            if (rc)
                goto out;
            ob.dst = out->data + out->len;
            ob.size = chunk;
        }
        ob.pos = 0;
        size_t r = ZSTD_decompressStream(z, &ob, &in);
        if (ZSTD_isError(r)) {
            rc = ZSTD_getErrorCode(r) == ZSTD_error_memory_allocation ? GW_ENOMEM : GW_EPARSE;
            if (ZSTD_getErrorCode(r) == ZSTD_error_frameParameter_windowTooLarge)
                rc = GW_ECAP;
            goto out;
        }
        if (room == 0 && ob.pos) {
            rc = GW_ECAP;
            goto out;
        }
        if (room) {
            out->len += ob.pos;
            produced += ob.pos;
        }
        last = r;
        if (in.pos == in.size && ob.pos < ob.size) {
            /* All input consumed and zstd had room to spare: nothing more to flush. */
            if (last != 0)
                rc = GW_EPARSE; /* a frame was cut short */
            goto out;
        }
    }
out:
    ZSTD_freeDCtx(z);
    return rc;
}
#endif

/* RFC 1950 2.2: CM = 8 and (CMF*256 + FLG) a multiple of 31. */
static int has_zlib_header(const uint8_t *p, size_t n)
{
    return n >= 2 && (p[0] & 0x0f) == 8 && (p[0] >> 4) <= 7 && ((p[0] << 8) | p[1]) % 31 == 0;
}

int grpc_decompress(const char *encoding, const uint8_t *p, size_t n, gw_buf *out, size_t max_out,
                    unsigned max_ratio)
{
    size_t start = out->len;
    size_t allowed = out_allowed(n, max_out, max_ratio);
    /* Never let the caller's buffer limit be exceeded either. */
    if (gw_buf_limit(out) - out->len < allowed)
        allowed = gw_buf_limit(out) - out->len;
    int rc;
    if (!encoding)
        return GW_EUNSUPPORTED;
    /* The buffer's own growth (doubling) must not allocate past what we accept either. */
    size_t saved_limit = gw_buf_limit(out);
    if (allowed < saved_limit - start)
        out->limit = start + allowed;
    if (strcasecmp(encoding, "identity") == 0) {
        rc = n > (max_out ? max_out : SIZE_MAX) ? GW_ECAP : gw_buf_append(out, p, n);
    } else if (strcasecmp(encoding, "gzip") == 0) {
        rc = inflate_with(16 + MAX_WBITS, p, n, out, allowed);
    } else if (strcasecmp(encoding, "deflate") == 0) {
        /* HTTP "deflate" means the zlib format, but some peers send raw deflate: accept both. */
        rc = inflate_with(has_zlib_header(p, n) ? MAX_WBITS : -MAX_WBITS, p, n, out, allowed);
#ifdef GW_HAVE_ZSTD
    } else if (strcasecmp(encoding, "zstd") == 0) {
        rc = zstd_decode(p, n, out, allowed);
#endif
    } else {
        rc = GW_EUNSUPPORTED;
    }
    out->limit = saved_limit;
    if (rc)
        out->len = start;
    return rc;
}

int grpc_compress_gzip(const uint8_t *p, size_t n, gw_buf *out)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    zs.zalloc = zalloc_hook;
    zs.zfree = zfree_hook;
    size_t start = out->len;
    if (n > UINT_MAX)
        return GW_ECAP;
    int zr = deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8,
                          Z_DEFAULT_STRATEGY);
    if (zr != Z_OK)
        return zr == Z_MEM_ERROR ? GW_ENOMEM : GW_EINVAL;
    size_t bound = deflateBound(&zs, (uLong)n) + 32;
    int rc = gw_buf_reserve(out, bound);
    if (rc)
        goto out;
    zs.next_in = (Bytef *)(uintptr_t)p;
    zs.avail_in = (uInt)n;
    zs.next_out = out->data + out->len;
    zs.avail_out = (uInt)bound;
    zr = deflate(&zs, Z_FINISH);
    if (zr != Z_STREAM_END) {
        rc = zr == Z_MEM_ERROR ? GW_ENOMEM : GW_EINVAL;
        goto out;
    }
    out->len += bound - zs.avail_out;
out:
    deflateEnd(&zs);
    if (rc)
        out->len = start;
    return rc;
}

int grpc_frame_encode(gw_buf *out, const uint8_t *p, size_t n, int gzip)
{
    const uint8_t *body = p;
    size_t len = n, mark = out->len;
    int rc = 0;
    gw_buf z;
    gw_buf_init(&z, 0);
    if (gzip) {
        rc = grpc_compress_gzip(p, n, &z);
        if (rc)
            goto out;
        body = z.data;
        len = z.len;
    }
    rc = GW_ECAP;
    if (len > UINT32_MAX)
        goto out;
    uint8_t hdr[5] = {(uint8_t)(gzip ? 1 : 0), (uint8_t)(len >> 24), (uint8_t)(len >> 16),
                      (uint8_t)(len >> 8), (uint8_t)len};
    rc = gw_buf_append(out, hdr, 5);
    if (!rc && len)
        rc = gw_buf_append(out, body, len);
    if (rc)
        out->len = mark;
out:
    gw_buf_free(&z);
    return rc;
}
