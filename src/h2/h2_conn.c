/* h2_conn: per-direction state machines that turn tcp's ordered bytes and gaps into HTTP/2 frame
 * records. Each direction is in one of:
 *   PREFACE  first bytes of the direction: are they the client preface?
 *   AT0      offset 0 of a direction whose SYN was seen, not a preface: must be a frame boundary
 *   SCAN     looking for a frame boundary (capture began mid-connection, or after a gap)
 *   FRAMES   in sync: splitting frames (runs of whole common frames take frames_fast, the
 *            rest emit: the same records either way)
 *   OFF      the connection is not HTTP/2
 * Detection rule. A position is a frame boundary when `detect_run` frame headers, each plausible
 * (h2_frame_plausible), chain from it: header k+1 starts right after frame k's payload, and all
 * of them lie within `detect_max` bytes of the position. Several positions may qualify (a DATA
 * payload can hold a plausible header): the chain that completes first in the byte stream wins,
 * then the lowest position, so the outcome depends only on the bytes, never on how they were cut
 * into segments. Shortcuts: the client preface at the start of a direction settles it (and names
 * the client; recognised at offset 0 even without the SYN); at offset 0 of a direction whose SYN
 * was seen, once the connection is known to be HTTP/2, one plausible header is enough (that is
 * where the server's SETTINGS must be). A direction at offset 0 with its SYN seen that is
 * neither a preface nor a chain of plausible headers (e.g. "GET / HTTP/1.1") makes the
 * connection H2_NO at once; mid-stream, H2_NO comes when every position within `detect_max`
 * bytes of the first examined one has failed. Once the connection is HTTP/2, resynchronising
 * after a gap never gives up. Nothing is reported while undecided: when a direction finds its
 * first boundary, everything before it (gaps included) is one skip "not at a frame boundary".
 * Limitation: a chain that has not completed when the capture ends is never reported.
 * HPACK. The decoder of direction d decodes blocks sent by ep[d]. It is created synced when the
 * direction's frames start at its beginning (after the preface, or at offset 0 with the SYN
 * seen), unsynced otherwise. SETTINGS_HEADER_TABLE_SIZE sent by ep[d] bounds the decoder of the
 * other direction: while a SETTINGS is unacknowledged the bound is the largest of the value in
 * force and every pending one; each SETTINGS ACK from the peer puts the oldest pending value in
 * force. Anomalies found by h2_frame are on the record (f.anomaly); those about the sequence of
 * frames (header blocks, limits, gaps) go to on_anomaly. */
#include "h2/h2_conn.h"

#include <string.h>

#include "gw_buf.h"
#include "gw_err.h"
#include "gw_mem.h"

enum { DS_PREFACE = 1, DS_AT0, DS_SCAN, DS_FRAMES, DS_OFF };
enum { CH_FAIL, CH_NEED, CH_FOUND };

#define HTS_QUEUE 8 /* unacknowledged SETTINGS remembered per direction */

/* Which packet carried held bytes from `off` on (until the next piece). */
typedef struct piece {
    uint64_t off;
    uint64_t pkt;
    int64_t ts;
} piece;

/* A position whose chain of plausible headers is not finished: k headers checked so far, the
 * next one due at `next`. */
typedef struct cand {
    uint64_t pos, next;
    unsigned k;
} cand;

typedef struct hdir {
    h2_frame_rec rec; /* frames_fast's record (see there), zero at first; first member, so
                         that one register holds both in frames_fast */
    int st;
    int started;
    uint64_t next; /* next stream offset expected from tcp */

    /* PREFACE, AT0, SCAN: bytes held from stream offset s_off. */
    gw_buf s;
    uint64_t s_off;
    piece *pm; /* owned; npm pieces cover s */
    size_t npm, cappm;
    uint64_t unrep;     /* first offset neither framed nor reported as skipped */
    /* SCAN: positions before scan_next are decided or pending in pc (ascending); positions from
     * scan_lim on are not candidates (the detect_max budget while undecided). */
    uint64_t scan_next, scan_lim;
    cand *pc; /* owned */
    size_t npc, cappc;
    uint64_t pc_due; /* no pending chain can move before the held bytes reach this offset */

    /* FRAMES: a frame spanning on_data calls. */
    uint8_t hdr[H2_FRAME_HDR_LEN];
    size_t hlen;
    h2_frame cur;        /* its envelope once hlen == 9 */
    gw_buf fb;           /* its payload so far (capped at max_frame) */
    uint64_t fr_off, fr_pkt;
    uint64_t skip_left;  /* bytes of an unbufferable frame still to pass over */
    uint64_t skip_off;
    const char *skip_why;

    /* A header block waiting for CONTINUATION (RFC 9113 6.10). */
    int blk_on, blk_drop;
    int blk_err;
    const char *blk_why;
    uint32_t blk_stream;
    uint8_t blk_type, blk_es;
    unsigned ncont;
    size_t blk_total; /* encoded bytes, also when dropping */
    gw_buf blk;

    hpack_decoder *dec; /* owned; NULL until the first boundary (or when allocation failed) */

    /* SETTINGS_HEADER_TABLE_SIZE sent by ep[this direction]. */
    uint32_t hts_acked;
    uint32_t hts_q[HTS_QUEUE];
    unsigned hts_n;
} hdir;

struct h2_conn {
    h2_opts o;
    h2_callbacks cb;
    tcp_conn *tc; /* borrowed */
    int state;
    int told; /* on_detect called */
    hdir d[2];
    /* Fields of the block being delivered (io.fields, io.nfields); reused across blocks. */
    hpack_into io;
    unsigned spilled; /* pseudo_of() of the fields of the block that were not kept */
};

static const uint8_t empty_payload[1];

void h2_opts_default(h2_opts *o)
{
    memset(o, 0, sizeof *o);
    o->max_frame = 16777215;
    o->max_header_block = 256 * 1024;
    o->max_continuations = 64;
    o->detect_max = 64 * 1024;
    o->detect_budget = 4 * 1024 * 1024;
    o->detect_run = 3;
    o->force = 0;
    hpack_opts_default(&o->hpack);
}

/* ---- callbacks ---------------------------------------------------------------------------- */

static void skip(h2_conn *h, int dir, uint64_t off, uint64_t len, const char *why, uint64_t pkt,
                 int64_t ts)
{
    if (len && h->cb.on_skip)
        h->cb.on_skip(h->cb.u, h, dir, off, len, why, pkt, ts);
}

static void anomaly(h2_conn *h, int dir, uint32_t stream, uint64_t pkt, const char *what)
{
    if (h->cb.on_anomaly)
        h->cb.on_anomaly(h->cb.u, h, dir, stream, pkt, what);
}

static void advance(h2_conn *h, int dir);

/* The connection is HTTP/2. A direction waiting at offset 0 now needs only one plausible header:
 * settle it right away, so records come in the same order however the bytes were segmented. */
static void conn_yes(h2_conn *h)
{
    if (h->state == H2_YES && h->told)
        return;
    h->state = H2_YES;
    h->told = 1;
    if (h->cb.on_detect)
        h->cb.on_detect(h->cb.u, h, H2_YES);
    for (int i = 0; i < 2; i++) {
        h->d[i].scan_lim = UINT64_MAX; /* resynchronising never gives up */
        if (h->d[i].st == DS_AT0)
            advance(h, i);
    }
}

static void hold_free(hdir *d)
{
    gw_buf_free(&d->s);
    gw_free(d->pm);
    d->pm = NULL;
    d->npm = d->cappm = 0;
    gw_free(d->pc);
    d->pc = NULL;
    d->npc = d->cappc = 0;
}

static void conn_no(h2_conn *h)
{
    h->state = H2_NO;
    for (int i = 0; i < 2; i++) {
        h->d[i].st = DS_OFF;
        hold_free(&h->d[i]);
    }
    if (!h->told) {
        h->told = 1;
        if (h->cb.on_detect)
            h->cb.on_detect(h->cb.u, h, H2_NO);
    }
}

/* ---- HPACK bookkeeping -------------------------------------------------------------------- */

/* Bound for the decoder of direction e: set by what ep[1-e] announced. */
static void apply_bound(h2_conn *h, int e)
{
    const hdir *src = &h->d[!e];
    uint32_t b = src->hts_acked;
    for (unsigned i = 0; i < src->hts_n; i++)
        if (src->hts_q[i] > b)
            b = src->hts_q[i];
    if (h->d[e].dec)
        hpack_decoder_set_max_table_size(h->d[e].dec, b);
}

static void settings_seen(h2_conn *h, int dir, const h2_frame *f)
{
    if (f->stream_id != 0)
        return;
    if (f->flags & H2_FLAG_ACK) { /* acknowledges the oldest SETTINGS of the peer */
        hdir *peer = &h->d[!dir];
        if (!peer->hts_n)
            return;
        peer->hts_acked = peer->hts_q[0];
        memmove(peer->hts_q, peer->hts_q + 1, (peer->hts_n - 1) * sizeof peer->hts_q[0]);
        peer->hts_n--;
        apply_bound(h, dir);
        return;
    }
    hdir *me = &h->d[dir];
    uint32_t v = me->hts_n ? me->hts_q[me->hts_n - 1] : me->hts_acked;
    for (uint32_t i = 0; i < f->nsettings; i++) {
        uint16_t id;
        uint32_t val;
        h2_frame_setting(f, i, &id, &val);
        if (id == H2_SETTINGS_HEADER_TABLE_SIZE)
            v = val;
    }
    /* A flood of unacknowledged SETTINGS: the newest replaces the last slot; the bound stays the
     * maximum of what is queued, so it is never too tight, only late to shrink. */
    if (me->hts_n < HTS_QUEUE)
        me->hts_q[me->hts_n++] = v;
    else if (v > me->hts_q[HTS_QUEUE - 1])
        me->hts_q[HTS_QUEUE - 1] = v;
    apply_bound(h, !dir);
}

/* The direction's table may now hold entries we never saw. */
static void hpack_lost(h2_conn *h, int dir)
{
    if (h->d[dir].dec)
        hpack_decoder_desync(h->d[dir].dec);
}

/* Which pseudo-header says who sent the block: bit 0 :method (a request), bit 1 :status. */
static unsigned pseudo_of(const hpack_field *f)
{
    if (f->name_len != 7 || f->name[0] != ':')
        return 0;
    if (memcmp(f->name, ":method", 7) == 0)
        return 1;
    if (memcmp(f->name, ":status", 7) == 0)
        return 2;
    return 0;
}

/* A field the array had no room for (out of memory): it still tells who the sender is. */
static int spill(void *u, const hpack_field *f)
{
    h2_conn *h = u;
    h->spilled |= pseudo_of(f);
    return 0;
}

static void block_reset(hdir *d)
{
    d->blk_on = d->blk_drop = 0;
    d->blk_err = 0;
    d->blk_why = NULL;
    d->ncont = 0;
    d->blk_total = 0;
    d->blk.len = 0;
    if (d->blk.cap > 64 * 1024)
        gw_buf_free(&d->blk);
}

static void block_drop(h2_conn *h, int dir, int err, const char *why, uint64_t pkt)
{
    hdir *d = &h->d[dir];
    anomaly(h, dir, d->blk_stream, pkt, why);
    d->blk_drop = 1;
    d->blk_err = err;
    d->blk_why = why;
    d->blk.len = 0;
    hpack_lost(h, dir);
}

/* Decode a whole block onto r, setting every HPACK member of r (fields, nfields, hpack_err,
 * hpack_why, hpack_unknown, field_bytes); the caller set the other block members. */
static inline void block_decode(h2_conn *h, hdir *d, h2_frame_rec *r, const uint8_t *p, size_t n)
{
    h->io.nfields = 0;
    h->spilled = 0;
    if (!d->dec) {
        r->hpack_err = GW_ENOMEM;
        r->hpack_why = "no HPACK decoder (out of memory)";
        r->fields = NULL;
        r->nfields = 0;
        r->hpack_unknown = 0;
        r->field_bytes = 0;
        return;
    }
    int rc = hpack_decode_into(d->dec, p ? p : empty_payload, n, &h->io);
    r->hpack_err = rc;
    r->hpack_why = NULL;
    if (rc)
        r->hpack_why = h->io.why ? h->io.why : "HPACK decoding failed";
    else if (h->io.dropped) {
        r->hpack_err = GW_ENOMEM;
        r->hpack_why = "out of memory: some fields not shown";
    }
    r->fields = h->io.fields;
    r->nfields = h->io.nfields;
    r->hpack_unknown = h->io.unknown;
    r->field_bytes = h->io.field_bytes;
}

/* After block_decode of a HEADERS block sent by ep[dir]. Request headers say who the client is,
 * response headers who the server is, unless the handshake or the preface already did (a
 * capture begun mid-connection often shows a response before any request). Looked for only
 * then: with the handshake seen, never. Returns 1 when it told tcp, else 0. */
static inline int block_client(h2_conn *h, int dir)
{
    if (!h->tc ||
        (h->tc->client_how != TCP_CLIENT_UNKNOWN && h->tc->client_how != TCP_CLIENT_PORT))
        return 0;
    unsigned saw = h->spilled;
    for (size_t i = 0; i < h->io.nfields; i++)
        saw |= pseudo_of(&h->io.fields[i]);
    if (!saw)
        return 0;
    tcp_conn_set_client(h->tc, (saw & 1) ? dir : !dir);
    return 1;
}

/* The block is complete: decode it onto the record of the frame that ended it. The caller then
 * resets the block state. */
static inline void block_finish(h2_conn *h, int dir, h2_frame_rec *r, const uint8_t *p, size_t n)
{
    hdir *d = &h->d[dir];
    /* emit() set the other block fields of r to zero. */
    r->has_block = 1;
    r->block_stream = d->blk_stream;
    r->block_type = d->blk_type;
    r->block_end_stream = d->blk_es;
    r->block_len = d->blk_total;
    if (d->blk_drop) {
        r->hpack_err = d->blk_err;
        r->hpack_why = d->blk_why;
    } else {
        block_decode(h, d, r, p, n);
        if (r->block_type == H2_FRAME_HEADERS)
            block_client(h, dir);
    }
}

static void block_append(h2_conn *h, int dir, const h2_frame *f, uint64_t pkt)
{
    hdir *d = &h->d[dir];
    d->blk_total += f->data_len;
    if (d->blk_drop)
        return;
    if (!f->data) { /* malformed padding: the fragment's bounds are unknown */
        block_drop(h, dir, GW_EPARSE, "header block fragment unreadable", pkt);
        return;
    }
    int rc = gw_buf_append(&d->blk, f->data, f->data_len);
    if (rc == GW_ECAP)
        block_drop(h, dir, GW_ECAP, "header block larger than the limit", pkt);
    else if (rc)
        block_drop(h, dir, GW_ENOMEM, "header block dropped: out of memory", pkt);
}

static void blocks(h2_conn *h, int dir, h2_frame_rec *r)
{
    hdir *d = &h->d[dir];
    const h2_frame *f = &r->f;
    int end = (f->flags & H2_FLAG_END_HEADERS) != 0;
    if (d->blk_on && f->type != H2_FRAME_CONTINUATION) {
        anomaly(h, dir, d->blk_stream, r->last_pkt,
                "header block interrupted by another frame (RFC 9113 6.10)");
        hpack_lost(h, dir);
        block_reset(d);
    }
    switch (f->type) {
    case H2_FRAME_HEADERS:
    case H2_FRAME_PUSH_PROMISE:
        d->blk_on = 1;
        d->blk_stream = f->stream_id;
        d->blk_type = f->type;
        d->blk_es = f->type == H2_FRAME_HEADERS && (f->flags & H2_FLAG_END_STREAM);
        if (end && f->data) {
            d->blk_total = f->data_len;
            block_finish(h, dir, r, f->data, f->data_len); /* in place: the common case */
            /* block_reset, of what this path changed: every other member of the block state is
             * as the last reset left it (only a block in progress changes them). */
            d->blk_on = 0;
            d->blk_total = 0;
            return;
        }
        block_append(h, dir, f, r->last_pkt);
        break;
    case H2_FRAME_CONTINUATION:
        if (!d->blk_on) {
            anomaly(h, dir, f->stream_id, r->last_pkt, "CONTINUATION without a header block");
            hpack_lost(h, dir);
            return;
        }
        if (f->stream_id != d->blk_stream) {
            anomaly(h, dir, f->stream_id, r->last_pkt,
                    "CONTINUATION on another stream than its header block");
            hpack_lost(h, dir);
            block_reset(d);
            return;
        }
        if (++d->ncont > h->o.max_continuations && !d->blk_drop) {
            d->blk_total += f->data_len;
            block_drop(h, dir, GW_ECAP, "too many CONTINUATION frames", r->last_pkt);
        } else {
            block_append(h, dir, f, r->last_pkt);
        }
        break;
    default:
        return;
    }
    if (end) {
        block_finish(h, dir, r, d->blk.data, d->blk.len);
        block_reset(d);
    }
}

/* r->from_client: known once tcp or a layer above has settled who the client is. */
static int from_client(const h2_conn *h, int dir)
{
    return h->tc && h->tc->client_how != TCP_CLIENT_UNKNOWN ? h->tc->client == dir : -1;
}

/* ---- frames ------------------------------------------------------------------------------- */

/* The caller has set r's envelope (r->f), dir, off, first_pkt, last_pkt and ts_ns; fill in the
 * rest and hand the record up. Every member is set rather than clearing the whole record first:
 * this runs once per frame. */
static void emit(h2_conn *h, h2_frame_rec *r, const uint8_t *payload)
{
    int dir = r->dir;
    r->has_block = 0;
    r->block_stream = 0;
    r->block_type = 0;
    r->block_end_stream = 0;
    r->block_len = 0;
    r->fields = NULL;
    r->nfields = 0;
    r->hpack_err = 0;
    r->hpack_why = NULL;
    r->hpack_unknown = 0;
    r->field_bytes = 0;
    h2_frame_payload_parse(&r->f, payload ? payload : empty_payload);
    blocks(h, dir, r);
    if (r->f.type == H2_FRAME_SETTINGS)
        settings_seen(h, dir, &r->f);
    r->from_client = from_client(h, dir);
    if (h->cb.on_frame)
        h->cb.on_frame(h->cb.u, h, r);
}

static inline uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Most frames of a healthy connection arrive whole and are of four plain kinds:
 *   DATA           not PADDED, on a stream
 *   HEADERS        END_HEADERS, neither PADDED nor PRIORITY, on a stream: a whole header block
 *   WINDOW_UPDATE  length 4, increment not 0
 *   PING           length 8, on stream 0
 * With no header block waiting for CONTINUATION, h2_frame_payload_parse finds no anomaly in
 * these and blocks() has nothing to join, so the record emit() would make is built here without
 * either, for a run of such frames whole in p. The caller has set d->rec's dir, off, first_pkt,
 * last_pkt and ts_ns. d->rec outlives the call so it is not cleared per segment: what emit()
 * leaves zero is zero in it, except the block members after a HEADERS (has_block says so),
 * which the next other frame clears. Tests feed the same bytes whole and in pieces (a frame in
 * pieces takes emit()) and compare every member. Returns the bytes consumed: 0 when the first
 * frame is not whole or not one of these. */
__attribute__((noinline)) /* once per segment; inlined, it crowds its callers' registers */
static size_t frames_fast(h2_conn *h, hdir *d, const uint8_t *p, size_t n)
{
    h2_frame_rec *r = &d->rec;
    const uint8_t *q = p, *end = p + n;
    if (d->blk_on) /* every frame now continues the block or interrupts it */
        return 0;
    /* Only a block's pseudo-headers change who the client is (block_decode). */
    r->from_client = from_client(h, r->dir);
    while (end - q >= H2_FRAME_HDR_LEN) {
        uint32_t w0 = be32(q), len = w0 >> 8;
        if (len > h->o.max_frame || len > (size_t)(end - q) - H2_FRAME_HDR_LEN)
            break;
        uint8_t type = (uint8_t)w0, flags = q[4];
        uint32_t w1 = be32(q + 5), sid = w1 & 0x7fffffffu;
        const uint8_t *pl = q + H2_FRAME_HDR_LEN;
        uint32_t inc = 0;
        switch (type) {
        case H2_FRAME_DATA:
            if ((flags & H2_FLAG_PADDED) || !sid)
                goto out;
            break;
        case H2_FRAME_HEADERS:
            if ((flags & (H2_FLAG_PADDED | H2_FLAG_PRIORITY | H2_FLAG_END_HEADERS)) !=
                    H2_FLAG_END_HEADERS ||
                !sid)
                goto out;
            break;
        case H2_FRAME_WINDOW_UPDATE:
            if (len != 4 || !(inc = be32(pl) & 0x7fffffffu))
                goto out;
            break;
        case H2_FRAME_PING:
            if (len != 8 || sid)
                goto out;
            break;
        default:
            goto out;
        }
        r->f.length = len;
        r->f.type = q[3]; /* from q rather than type and flags: a 2-byte copy */
        r->f.flags = q[4];
        r->f.reserved = (uint8_t)(w1 >> 31);
        r->f.stream_id = sid;
        r->f.payload = pl;
        r->f.data = inc ? NULL : pl;
        r->f.data_len = inc ? 0 : len;
        r->f.window_increment = inc;
        q = pl + len;
        if (type == H2_FRAME_HEADERS) {
            r->has_block = 1;
            r->block_stream = sid;
            r->block_type = H2_FRAME_HEADERS;
            r->block_end_stream = flags & H2_FLAG_END_STREAM;
            r->block_len = len;
            block_decode(h, d, r, pl, len);
            if (block_client(h, r->dir))
                r->from_client = from_client(h, r->dir);
        } else if (r->has_block) {
            _Static_assert(offsetof(h2_frame_rec, field_bytes) + sizeof r->field_bytes ==
                               sizeof *r, "the block members end h2_frame_rec");
            memset(&r->has_block, 0, sizeof *r - offsetof(h2_frame_rec, has_block));
        }
        if (h->cb.on_frame)
            h->cb.on_frame(h->cb.u, h, r);
        r->off += H2_FRAME_HDR_LEN + r->f.length; /* from r: one value less kept over the call */
    }
out:
    return (size_t)(q - p);
}

/* A frame we will not buffer: pass over its bytes, and say so. */
static void oversized(h2_conn *h, int dir, const h2_frame *f, uint64_t off, uint64_t left,
                      const char *why, uint64_t pkt)
{
    hdir *d = &h->d[dir];
    d->skip_off = off;
    d->skip_left = left;
    d->skip_why = why;
    anomaly(h, dir, f->stream_id, pkt, why);
    /* A header block we cannot see leaves the table behind; other frames cost nothing. */
    if (d->blk_on || f->type == H2_FRAME_HEADERS || f->type == H2_FRAME_PUSH_PROMISE ||
        f->type == H2_FRAME_CONTINUATION) {
        hpack_lost(h, dir);
        block_reset(d);
    }
}

static void frames_feed(h2_conn *h, int dir, uint64_t off, const uint8_t *p, size_t n, uint64_t pkt,
                        int64_t ts)
{
    hdir *d = &h->d[dir];
    uint32_t maxf = h->o.max_frame;
    while (n > 0) {
        if (d->skip_left) {
            size_t take = d->skip_left < n ? (size_t)d->skip_left : n;
            d->skip_left -= take;
            off += take;
            p += take;
            n -= take;
            if (!d->skip_left)
                skip(h, dir, d->skip_off, off - d->skip_off, d->skip_why, pkt, ts);
            continue;
        }
        if (d->hlen == 0 && n >= H2_FRAME_HDR_LEN) { /* zero copy when the frame is all here */
            d->rec.dir = dir;
            d->rec.off = off;
            d->rec.first_pkt = d->rec.last_pkt = pkt;
            d->rec.ts_ns = ts;
            size_t adv = frames_fast(h, d, p, n);
            if (adv) {
                off += adv;
                p += adv;
                n -= adv;
                continue;
            }
            h2_frame_rec r;
            h2_frame_envelope(p, &r.f);
            if (r.f.length > maxf) {
                oversized(h, dir, &r.f, off, H2_FRAME_HDR_LEN + (uint64_t)r.f.length,
                          "frame larger than the frame size limit: skipped", pkt);
                continue;
            }
            if (n - H2_FRAME_HDR_LEN >= r.f.length) {
                r.dir = dir;
                r.off = off;
                r.first_pkt = r.last_pkt = pkt;
                r.ts_ns = ts;
                emit(h, &r, p + H2_FRAME_HDR_LEN);
                adv = H2_FRAME_HDR_LEN + r.f.length;
                off += adv;
                p += adv;
                n -= adv;
                continue;
            }
        }
        if (d->hlen < H2_FRAME_HDR_LEN) {
            if (d->hlen == 0) {
                d->fr_off = off;
                d->fr_pkt = pkt;
            }
            size_t take = H2_FRAME_HDR_LEN - d->hlen;
            if (take > n)
                take = n;
            memcpy(d->hdr + d->hlen, p, take);
            d->hlen += take;
            off += take;
            p += take;
            n -= take;
            if (d->hlen < H2_FRAME_HDR_LEN)
                return;
            h2_frame_hdr_parse(d->hdr, H2_FRAME_HDR_LEN, &d->cur);
            d->fb.len = 0;
            if (d->cur.length > maxf) {
                d->hlen = 0;
                oversized(h, dir, &d->cur, d->fr_off, H2_FRAME_HDR_LEN + (uint64_t)d->cur.length,
                          "frame larger than the frame size limit: skipped", pkt);
                d->skip_left = d->cur.length;
                continue;
            }
        } else {
            size_t need = d->cur.length - d->fb.len;
            size_t take = need < n ? need : n;
            if (gw_buf_append(&d->fb, p, take) != 0) {
                d->hlen = 0;
                oversized(h, dir, &d->cur, d->fr_off, H2_FRAME_HDR_LEN + (uint64_t)d->cur.length,
                          "frame dropped: out of memory", pkt);
                d->skip_left = need;
                d->fb.len = 0;
                continue;
            }
            off += take;
            p += take;
            n -= take;
        }
        if (d->fb.len == d->cur.length) {
            h2_frame_rec r;
            r.f = d->cur;
            r.dir = dir;
            r.off = d->fr_off;
            r.first_pkt = d->fr_pkt;
            r.last_pkt = pkt;
            r.ts_ns = ts;
            emit(h, &r, d->fb.len ? d->fb.data : NULL);
            d->hlen = 0;
            d->fb.len = 0;
            if (d->fb.cap > 64 * 1024) /* a big frame passed: do not keep its buffer per conn */
                gw_buf_free(&d->fb);
        }
    }
}

/* ---- detection and resynchronisation ------------------------------------------------------ */

static int sender_is_client(const h2_conn *h, int dir)
{
    if (!h->tc || h->tc->client_how < TCP_CLIENT_SYN)
        return -1;
    return h->tc->client == dir;
}

/* Follow the chain of plausible headers of candidate c over the held bytes (up to L). */
static int step(const h2_conn *h, const hdir *d, cand *c, unsigned run, int sic, uint64_t L,
                uint64_t *complete)
{
    for (;;) {
        if (c->next - c->pos + H2_FRAME_HDR_LEN > h->o.detect_max)
            return CH_FAIL;
        if (c->next + H2_FRAME_HDR_LEN > L)
            return CH_NEED;
        const uint8_t *q = d->s.data + (c->next - d->s_off);
        if (h2_frame_plausible(q, H2_FRAME_HDR_LEN, h->o.max_frame, sic) != 1)
            return CH_FAIL;
        if (++c->k >= run) {
            *complete = c->next + H2_FRAME_HDR_LEN;
            return CH_FOUND;
        }
        c->next += H2_FRAME_HDR_LEN + ((uint64_t)q[0] << 16 | (uint64_t)q[1] << 8 | q[2]);
    }
}

/* Does the chain from the first held byte hold? (AT0) */
static int chain0(const h2_conn *h, const hdir *d, unsigned run)
{
    cand c = {d->s_off, d->s_off, 0};
    uint64_t complete;
    return step(h, d, &c, run, sender_is_client(h, (int)(d - h->d)), d->s_off + d->s.len,
                &complete);
}

/* Advance every candidate over the held bytes. Of the chains that are complete, the one that
 * completed first in the byte stream wins (then the lowest position): the choice a byte-at-a-
 * time feed would make, so it does not depend on segmentation. Returns the winner's offset, or
 * UINT64_MAX. */
static uint64_t scan(const h2_conn *h, hdir *d)
{
    int sic = sender_is_client(h, (int)(d - h->d));
    unsigned run = h->o.detect_run;
    uint64_t L = d->s_off + d->s.len, best = UINT64_MAX, best_done = UINT64_MAX, done;
    if (L >= d->pc_due) { /* skip the walk while every pending chain still waits */
        size_t w = 0;
        d->pc_due = UINT64_MAX;
        for (size_t i = 0; i < d->npc; i++) {
            int r = step(h, d, &d->pc[i], run, sic, L, &done);
            if (r == CH_FOUND && (done < best_done || (done == best_done && d->pc[i].pos < best))) {
                best = d->pc[i].pos;
                best_done = done;
            } else if (r == CH_NEED) {
                d->pc[w++] = d->pc[i];
                if (d->pc[i].next + H2_FRAME_HDR_LEN < d->pc_due)
                    d->pc_due = d->pc[i].next + H2_FRAME_HDR_LEN;
            }
        }
        d->npc = w;
    }
    while (d->scan_next < d->scan_lim && d->scan_next + H2_FRAME_HDR_LEN <= L) {
        if (best != UINT64_MAX && d->scan_next + H2_FRAME_HDR_LEN > best_done)
            break; /* a chain from here cannot complete earlier */
        cand c = {d->scan_next, d->scan_next, 0};
        d->scan_next++;
        int r = step(h, d, &c, run, sic, L, &done);
        if (r == CH_FOUND && (done < best_done || (done == best_done && c.pos < best))) {
            best = c.pos;
            best_done = done;
        } else if (r == CH_NEED) {
            if (d->npc == d->cappc) {
                size_t nc = d->cappc ? d->cappc * 2 : 8;
                cand *np = gw_realloc(d->pc, nc * sizeof *np);
                if (!np)
                    continue; /* out of memory: this candidate is forgotten */
                d->pc = np;
                d->cappc = nc;
            }
            d->pc[d->npc++] = c;
            if (c.next + H2_FRAME_HDR_LEN < d->pc_due)
                d->pc_due = c.next + H2_FRAME_HDR_LEN;
        }
    }
    return best;
}

static void lookup(const hdir *d, uint64_t off, uint64_t *pkt, int64_t *ts)
{
    *pkt = 0;
    *ts = 0;
    for (size_t i = 0; i < d->npm && d->pm[i].off <= off; i++) {
        *pkt = d->pm[i].pkt;
        *ts = d->pm[i].ts;
    }
}

/* Drop held bytes no candidate needs any more. */
static void compact(hdir *d)
{
    if (d->st != DS_SCAN)
        return;
    uint64_t keep = d->npc && d->pc[0].pos < d->scan_next ? d->pc[0].pos : d->scan_next;
    if (keep <= d->s_off)
        return;
    if (keep > d->s_off + d->s.len)
        keep = d->s_off + d->s.len;
    gw_buf_consume(&d->s, (size_t)(keep - d->s_off));
    d->s_off = keep;
    size_t i = 0;
    while (i + 1 < d->npm && d->pm[i + 1].off <= keep)
        i++;
    memmove(d->pm, d->pm + i, (d->npm - i) * sizeof *d->pm);
    d->npm -= i;
    if (d->npm && d->pm[0].off < keep)
        d->pm[0].off = keep;
}

/* Hold as much of p as fits; returns the bytes taken (0 on allocation failure, or - never with
 * the window rule - when nothing can be dropped to make room). */
static size_t hold(hdir *d, uint64_t off, const uint8_t *p, size_t n, uint64_t pkt, int64_t ts)
{
    if (d->s.len == 0) {
        d->s_off = off;
        d->npm = 0;
    }
    size_t room = d->s.limit - d->s.len;
    if (room == 0) {
        compact(d);
        room = d->s.limit - d->s.len;
        if (room == 0)
            return 0;
    }
    size_t take = n < room ? n : room;
    if (!(d->npm && d->pm[d->npm - 1].pkt == pkt)) {
        if (d->npm == d->cappm) {
            size_t nc = d->cappm ? d->cappm * 2 : 8;
            piece *np = gw_realloc(d->pm, nc * sizeof *np);
            if (!np)
                return 0;
            d->pm = np;
            d->cappm = nc;
        }
        d->pm[d->npm++] = (piece){off, pkt, ts};
    }
    if (gw_buf_append(&d->s, p, take) != 0)
        return 0;
    return take;
}

static void scan_begin(h2_conn *h, hdir *d, uint64_t from)
{
    d->st = DS_SCAN;
    d->npc = 0;
    d->pc_due = UINT64_MAX;
    d->scan_next = from;
    size_t budget = h->o.detect_budget > h->o.detect_max ? h->o.detect_budget : h->o.detect_max;
    d->scan_lim = h->state == H2_YES ? UINT64_MAX : from + budget;
}

/* A frame boundary at s.data[c]: report what came before, then replay the held bytes as frames
 * with the packets that carried them. */
static void found(h2_conn *h, int dir, size_t c, int synced)
{
    hdir *d = &h->d[dir];
    uint64_t at = d->s_off + c, pkt;
    int64_t ts;
    lookup(d, at, &pkt, &ts);
    d->st = DS_FRAMES; /* before conn_yes, which advances directions still deciding */
    conn_yes(h);
    if (at > d->unrep)
        skip(h, dir, d->unrep, at - d->unrep, "not at a frame boundary", pkt, ts);
    d->unrep = at;
    if (!d->dec) {
        d->dec = hpack_decoder_new(&h->o.hpack, synced);
        apply_bound(h, dir);
    }
    d->hlen = 0;
    d->skip_left = 0;
    uint64_t end = d->s_off + d->s.len;
    for (size_t i = 0; i < d->npm; i++) {
        uint64_t a = d->pm[i].off > at ? d->pm[i].off : at;
        uint64_t b = i + 1 < d->npm ? d->pm[i + 1].off : end;
        if (a < b)
            frames_feed(h, dir, a, d->s.data + (a - d->s_off), (size_t)(b - a), d->pm[i].pkt,
                        d->pm[i].ts);
    }
    hold_free(d);
}

/* Decide what the held bytes are, as far as they allow. */
static void advance(h2_conn *h, int dir)
{
    hdir *d = &h->d[dir];
    for (;;) {
        switch (d->st) {
        case DS_PREFACE: {
            size_t m = d->s.len < H2_PREFACE_LEN ? d->s.len : H2_PREFACE_LEN;
            if (memcmp(d->s.data, H2_PREFACE, m) != 0) {
                int at0 = d->s_off == 0 && h->tc && h->tc->syn[dir];
                if (h->o.force) {
                    /* Forced: it is HTTP/2. Seen from the middle, the first byte starts a frame
                     * when a plausible header is there (a capture usually begins at a segment,
                     * and segments at frames); otherwise look for the boundary, with no budget. */
                    if (!at0 && d->s.len < H2_FRAME_HDR_LEN)
                        return;
                    if (at0 || h2_frame_plausible(d->s.data, d->s.len, h->o.max_frame,
                                                  sender_is_client(h, dir)) == 1) {
                        found(h, dir, 0, at0);
                        return;
                    }
                    conn_yes(h);
                    scan_begin(h, d, d->s_off);
                    continue;
                }
                if (at0)
                    d->st = DS_AT0;
                else
                    scan_begin(h, d, d->s_off);
                continue;
            }
            if (m < H2_PREFACE_LEN)
                return;
            uint64_t pkt;
            int64_t ts;
            lookup(d, d->s_off + H2_PREFACE_LEN - 1, &pkt, &ts);
            if (h->tc)
                tcp_conn_set_client(h->tc, dir);
            conn_yes(h);
            if (h->cb.on_preface)
                h->cb.on_preface(h->cb.u, h, dir, pkt, ts);
            d->unrep = d->s_off + H2_PREFACE_LEN;
            found(h, dir, H2_PREFACE_LEN, 1);
            return;
        }
        case DS_AT0:
            if (h->state == H2_YES) {
                if (d->s.len < H2_FRAME_HDR_LEN)
                    return;
                if (chain0(h, d, 1) == CH_FOUND) {
                    found(h, dir, 0, 1);
                    return;
                }
                scan_begin(h, d, d->s_off + 1);
                continue;
            }
            switch (chain0(h, d, h->o.detect_run)) {
            case CH_FOUND:
                found(h, dir, 0, 1);
                return;
            case CH_FAIL:
                conn_no(h);
                return;
            default:
                return;
            }
        case DS_SCAN: {
            uint64_t at = scan(h, d);
            if (at != UINT64_MAX)
                found(h, dir, (size_t)(at - d->s_off), 0);
            else if (h->state != H2_YES && d->scan_next >= d->scan_lim && d->npc == 0)
                conn_no(h); /* every position within detect_max failed */
            return;
        }
        default:
            return;
        }
    }
}

static void feed(h2_conn *h, int dir, uint64_t off, const uint8_t *p, size_t n, uint64_t pkt,
                 int64_t ts)
{
    hdir *d = &h->d[dir];
    while (n > 0) {
        if (d->st == DS_FRAMES) {
            frames_feed(h, dir, off, p, n, pkt, ts);
            return;
        }
        if (d->st == DS_OFF)
            return;
        size_t took = hold(d, off, p, n, pkt, ts);
        if (took == 0) { /* out of memory: these bytes cannot be examined */
            if (h->state != H2_YES) {
                conn_no(h);
                return;
            }
            if (off > d->unrep)
                skip(h, dir, d->unrep, off - d->unrep, "not at a frame boundary", pkt, ts);
            skip(h, dir, off, n, "bytes dropped: out of memory", pkt, ts);
            d->s.len = 0;
            d->npm = 0;
            scan_begin(h, d, off + n);
            d->unrep = off + n;
            return;
        }
        off += took;
        p += took;
        n -= took;
        advance(h, dir);
    }
}

static void start(h2_conn *h, int dir, uint64_t off, int by_gap)
{
    hdir *d = &h->d[dir];
    d->started = 1;
    d->next = off;
    d->unrep = off;
    d->s_off = off;
    if (!by_gap && (off == 0 || h->o.force))
        d->st = DS_PREFACE;
    else
        scan_begin(h, d, off);
}

static void gap(h2_conn *h, int dir, uint64_t off, uint64_t len, uint64_t pkt, int64_t ts)
{
    hdir *d = &h->d[dir];
    switch (d->st) {
    case DS_OFF:
        return;
    case DS_FRAMES:
        if (d->skip_left) {
            skip(h, dir, d->skip_off, off - d->skip_off, d->skip_why, pkt, ts);
            d->skip_left = 0;
        } else if (d->hlen) {
            skip(h, dir, d->fr_off, off - d->fr_off, "frame cut by a gap", pkt, ts);
        }
        d->hlen = 0;
        d->fb.len = 0;
        block_reset(d);
        break;
    default:
        if (h->state == H2_YES && off > d->unrep)
            skip(h, dir, d->unrep, off - d->unrep, "not at a frame boundary", pkt, ts);
        d->s.len = 0;
        d->npm = 0;
        break;
    }
    if (h->state == H2_YES) {
        skip(h, dir, off, len, "bytes lost in capture", pkt, ts);
        d->unrep = off + len;
    }
    if (d->dec && hpack_decoder_synced(d->dec)) {
        hpack_decoder_desync(d->dec);
        anomaly(h, dir, 0, pkt, "HPACK out of sync after gap");
    }
    scan_begin(h, d, off + len);
    d->s_off = off + len;
}

/* ---- API ---------------------------------------------------------------------------------- */

h2_conn *h2_conn_new(const h2_opts *opts, const h2_callbacks *cb, tcp_conn *tc)
{
    h2_conn *h = gw_calloc(1, sizeof *h);
    if (!h)
        return NULL;
    if (opts)
        h->o = *opts;
    else
        h2_opts_default(&h->o);
    if (h->o.max_frame > 16777215)
        h->o.max_frame = 16777215;
    if (h->o.detect_max < 64)
        h->o.detect_max = 64;
    if (h->o.detect_run < 1)
        h->o.detect_run = 1;
    if (h->o.max_header_block < 1)
        h->o.max_header_block = 1;
    if (cb)
        h->cb = *cb;
    h->tc = tc;
    h->io.spill = spill;
    h->io.u = h;
    h->state = h->o.force ? H2_YES : H2_DETECTING;
    for (int i = 0; i < 2; i++) {
        hdir *d = &h->d[i];
        gw_buf_init(&d->s, 2 * h->o.detect_max);
        gw_buf_init(&d->fb, h->o.max_frame ? h->o.max_frame : 1);
        gw_buf_init(&d->blk, h->o.max_header_block);
        d->hts_acked = (uint32_t)(h->o.hpack.max_table_size > UINT32_MAX ? UINT32_MAX
                                                                          : h->o.hpack.max_table_size);
    }
    return h;
}

void h2_conn_end(h2_conn *h)
{
    if (!h || h->state == H2_NO)
        return;
    for (int dir = 0; dir < 2; dir++) {
        hdir *d = &h->d[dir];
        if (d->st != DS_SCAN || d->s.len == 0)
            continue;
        /* No more bytes will come: a chain too short for detect_run still counts when it runs
         * exactly to the end of what was seen (the last packet ended on a frame boundary) and is
         * at least two frames long, or one once the other direction has shown HTTP/2. */
        uint64_t end = d->s_off + d->s.len, best = UINT64_MAX;
        unsigned need = h->state == H2_YES ? 1 : 2;
        for (size_t i = 0; i < d->npc; i++)
            if (d->pc[i].next == end && d->pc[i].k >= need && d->pc[i].pos < best)
                best = d->pc[i].pos;
        if (best != UINT64_MAX)
            found(h, dir, (size_t)(best - d->s_off), 0);
    }
}

void h2_conn_del(h2_conn *h)
{
    if (!h)
        return;
    for (int i = 0; i < 2; i++) {
        hdir *d = &h->d[i];
        hold_free(d);
        gw_buf_free(&d->fb);
        gw_buf_free(&d->blk);
        hpack_decoder_del(d->dec);
    }
    gw_free(h->io.fields);
    gw_free(h);
}

/* The usual segment of a healthy connection (h2_conn_data): a direction in sync (so the
 * connection is HTTP/2 and forcing changes nothing), bytes in step with no frame begun in
 * earlier ones. */
static int usual(const hdir *d, uint64_t off)
{
    return d->st == DS_FRAMES && off == d->next && !d->hlen && !d->skip_left;
}

/* Everything but the usual segment, apart so that h2_conn_data pays for none of it. */
__attribute__((noinline)) static void data_other(h2_conn *h, int dir, uint64_t off,
                                                 const uint8_t *p, size_t n, uint64_t pkt_no,
                                                 int64_t ts_ns)
{
    if (h->o.force)
        conn_yes(h);
    hdir *d = &h->d[dir];
    if (!d->started)
        start(h, dir, off, 0);
    if (off > d->next) /* tcp promised to report gaps; cope if it did not */
        gap(h, dir, d->next, off - d->next, pkt_no, ts_ns);
    if (off + n <= d->next)
        return;
    if (off < d->next) { /* overlap with what we already have */
        size_t cut = (size_t)(d->next - off);
        p += cut;
        n -= cut;
        off = d->next;
    }
    d->next = off + n;
    feed(h, dir, off, p, n, pkt_no, ts_ns);
}

void h2_conn_data(h2_conn *h, int dir, uint64_t off, const uint8_t *p, size_t n, uint64_t pkt_no,
                  int64_t ts_ns)
{
    if (!h || (dir != 0 && dir != 1) || h->state == H2_NO || n == 0 || !p)
        return;
    hdir *d = &h->d[dir];
    if (!usual(d, off)) {
        data_other(h, dir, off, p, n, pkt_no, ts_ns);
        return;
    }
    d->next = off + n;
    d->rec.dir = dir;
    d->rec.off = off;
    d->rec.first_pkt = d->rec.last_pkt = pkt_no;
    d->rec.ts_ns = ts_ns;
    size_t k = frames_fast(h, d, p, n);
    if (k < n) /* the rest from d->rec, which frames_fast kept up to date: fewer live values */
        frames_feed(h, d->rec.dir, d->rec.off, p + k, n - k, d->rec.last_pkt, d->rec.ts_ns);
}

void h2_conn_gap(h2_conn *h, int dir, uint64_t off, uint64_t len, uint64_t pkt_no, int64_t ts_ns)
{
    if (!h || (dir != 0 && dir != 1) || h->state == H2_NO || len == 0)
        return;
    if (h->o.force)
        conn_yes(h);
    hdir *d = &h->d[dir];
    if (!d->started)
        start(h, dir, off, 1);
    if (off + len <= d->next)
        return;
    uint64_t end = off + len;
    gap(h, dir, d->next, end - d->next, pkt_no, ts_ns);
    d->next = end;
}

int h2_conn_state(const h2_conn *h) { return h ? h->state : H2_DETECTING; }

tcp_conn *h2_conn_tcp(const h2_conn *h) { return h ? h->tc : NULL; }

int h2_conn_hpack_synced(const h2_conn *h, int dir)
{
    if (!h || (dir != 0 && dir != 1) || !h->d[dir].dec)
        return 0;
    return hpack_decoder_synced(h->d[dir].dec);
}
