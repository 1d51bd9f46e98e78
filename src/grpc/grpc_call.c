/* grpc_call: calls assembled from the HTTP/2 frame records of one connection.
 *
 * A call is keyed by its (client-initiated, odd) stream id. It is created by the first HEADERS
 * block or DATA frame seen on that stream; a call first seen by anything but its request
 * HEADERS was already running when the capture began (method NULL, complete = 0, both
 * deframers in "lost" mode so they resynchronise on the next plausible message start).
 *
 * Decisions the specs leave to us (documented here because views print them):
 * - implied_status, when no grpc-status arrived: RST_STREAM code (PROTOCOL-HTTP2.md "Errors"),
 *   then GOAWAY (UNAVAILABLE), then a non-200 HTTP status (http-grpc-status-mapping.md), then a
 *   200 response that ended by a HEADERS block without grpc-status -> UNKNOWN (the mapping's
 *   "200 is UNKNOWN") or by DATA END_STREAM without trailers -> INTERNAL (what grpc-go reports).
 *   Left -1 for non-gRPC calls and for calls whose end was not seen.
 * - complete = 1 when request headers were seen, nothing was lost, and the call ended on the
 *   wire: END_STREAM both ways, RST_STREAM, or GOAWAY. A call cut by grpc_conn_close (end of
 *   capture, TCP close) or evicted by max_streams is never complete.
 * - t_end is the time of the call's last frame, also for calls ended by grpc_conn_close.
 * - Server push (even streams) and PUSH_PROMISE blocks are ignored: gRPC never uses them.
 * - A frame whose sender cannot be told (from_client -1 and no :method/:status and no earlier
 *   frame that settled the client side) is ignored rather than guessed.
 * - grpc-web-text bodies are base64 text, not deframed: only their bytes are counted.
 * - Messages retained per call: max_retained bytes of data and at most MAX_MSG_RECORDS records.
 * - Options left 0 take the default, except max_retained (0 keeps no data) and max_ratio
 *   (0 = no ratio cap). */
#include "grpc/grpc_call.h"

#include <stddef.h>
#include <string.h>

#include "common/gw_err.h"
#include "common/gw_mem.h"
#include "grpc/grpc_msg.h"
#include "grpc/grpc_priv.h"

#define NBUCKETS 256        /* power of two */
#define CLOSED_RING 256     /* recently ended streams whose stray frames are ignored */
#define MAX_MSG_RECORDS 65536
#define SCRATCH_KEEP (1u << 20)
#define MSGS_INLINE 2        /* message records held in the call (a unary call's two) */
#define ARENA_INLINE 1024    /* a typical call's header strings fit */
#define FREE_CALLS 32        /* ended calls kept per connection for reuse */

enum { REQ = 0, RESP = 1 }; /* direction index: REQ is client -> server */

typedef struct call_st {
    grpc_call c; /* what callbacks see */
    grpc_conn *g;
    struct call_st *hnext, *prev, *next;
    uint64_t msg_first_pkt[2]; /* first packet of the message in progress */
    int client_dir;            /* tcp direction of the client, -1 unknown */
    uint8_t req_hdrs, resp_hdrs;
    uint8_t ended[2];
    uint8_t resp_end_by_data;
    uint8_t trailers_seen;
    uint8_t lost;
    uint8_t status_unknown; /* trailers came, but grpc-status may be among fields from before
                               the capture: the status is unknown, not UNKNOWN */
    uint8_t keep_all;    /* a reflection call: its responses teach schemas, keep every body */
    uint8_t lost_mid;    /* created mid-call: undone if the request headers turn up after all
                            (detection can settle a direction only at the connection's end) */
    uint8_t normal_end;
    int64_t rst_ts;      /* when RST_STREAM came; the call lingers for frames in flight */
    uint8_t web_text;
    uint8_t web;      /* kind is "grpc-web": trailers come in the body */
    uint8_t raw_resp; /* the response is not gRPC-framed (error status, other content-type) */
    uint8_t ep_set;   /* 1 + the client index set_endpoints copied the endpoints for, 0 none */
    size_t header_bytes;
    size_t retained;
    size_t msgs_cap;
    /* The call's strings and header arrays: bump-allocated here, then in chunks; all freed with
     * the call. Bounded by max_header_bytes plus the few values copied from them. */
    struct chunk *chunks;
    size_t arena_used;
    grpc_deframer df[2]; /* zeroed with the rest, then given their limit (grpc_deframer_init) */
    /* From here on not cleared for a new call: message records are written before they are
     * read. */
    grpc_msg msgs_inline[MSGS_INLINE]; /* c.msgs until a call has more */
    _Alignas(max_align_t) char arena[ARENA_INLINE];
} call_st;

/* Zeroed for a new call: everything before the message records. */
#define CALL_RESET_BYTES offsetof(call_st, msgs_inline)

typedef struct chunk {
    struct chunk *next;
    size_t cap, used;
    _Alignas(max_align_t) char data[];
} chunk;

struct grpc_conn {
    grpc_opts o;
    grpc_callbacks cb;
    h2_conn *h;
    call_st *bucket[NBUCKETS];
    call_st *head, *tail; /* open calls in creation order */
    unsigned nopen;
    uint32_t closed[CLOSED_RING];
    unsigned nclosed, closed_pos;
    uint32_t max_sid;   /* highest stream a call was made for: newer ones cannot be closed */
    call_st *free_calls; /* ended calls for reuse, linked by next */
    unsigned nfree;
    int client_dir;
    unsigned nlinger;   /* calls reset and lingering (see on_rst) */
    size_t reset_bytes; /* CALL_RESET_BYTES, in a variable so that the compiler calls the
                           library's memset rather than inlining a rep stos */
    gw_buf scratch; /* decompressed message, reused */
    tcp_conn *tc;   /* h2_conn_tcp(h), fixed for the connection's life */
};

/* After RST_STREAM a call stays open this long (capture time) for the frames its peer had
 * already sent: a client cancelling at its deadline crosses the server's DEADLINE_EXCEEDED
 * trailers on the wire, and those trailers belong to the call. */
#define RST_LINGER_NS (100 * 1000000LL)

/* Context of one deframer feed or flush. */
typedef struct msg_ctx {
    call_st *cs;
    int d;
    const char *trunc_why; /* why a flushed message is cut short */
    int64_t ts;
    uint64_t last_pkt;
    uint64_t next_first_pkt;
} msg_ctx;

void grpc_opts_default(grpc_opts *o)
{
    memset(o, 0, sizeof *o);
    o->max_message = 16u << 20;
    o->max_decompressed = 16u << 20;
    o->max_ratio = 1000;
    o->max_retained = 1u << 20;
    o->max_streams = 1024;
    o->max_header_bytes = 64u << 10;
    o->keep = GRPC_KEEP_ALL;
}

/* grpc_deframer_pending, inline: asked several times per frame. */
static inline int pending(const grpc_deframer *d) { return d->hdr_have > 0; }

static void anomaly(call_st *cs, const char *what)
{
    for (size_t i = 0; i < cs->c.n_anomalies; i++)
        if (cs->c.anomalies[i] == what)
            return;
    if (cs->c.n_anomalies < sizeof cs->c.anomalies / sizeof cs->c.anomalies[0])
        cs->c.anomalies[cs->c.n_anomalies++] = what;
}

/* strstr(path, "/grpc.reflection.") for the n bytes of a path copied as a C string (a NUL in
 * them ends it), without strstr's per-call setup: Horspool's search, which looks at one byte
 * per 17 of a path that has no match (a path is two or three such windows). */
static int mentions_reflection(const char *path, size_t n)
{
    static const char needle[] = "/grpc.reflection.";
    enum { NL = sizeof needle - 1 };
    /* NL minus Horspool's shift for each byte of needle[0..NL-2] (its last occurrence there):
     * 0 for the bytes not in it, whose shift is the whole needle. */
    static const uint8_t back[256] = {
        ['/'] = 1, ['g'] = 2,  ['p'] = 4,  ['.'] = 6,  ['r'] = 7,  ['f'] = 9,  ['l'] = 10,
        ['e'] = 11, ['c'] = 12, ['t'] = 13, ['i'] = 14, ['o'] = 15, ['n'] = 16,
    };
    for (size_t i = 0; n >= NL && i <= n - NL;) {
        unsigned char last = (unsigned char)path[i + NL - 1];
        if (last == '.' && memcmp(path + i, needle, NL) == 0)
            return memchr(path, 0, i) == NULL; /* the first match: none before a NUL */
        i += NL - back[last];
    }
    return 0;
}

/* ---- header fields ---- */

/* Exact equality of n bytes with a literal: for a constant n, a few word compares once
 * inlined (overlapping loads of the first and last 8 or 4 bytes). */
static inline int lit_eq(const char *s, const char *lit, size_t n)
{
    if (n >= 8 && n <= 16) {
        uint64_t a, b, c, d;
        memcpy(&a, s, 8);
        memcpy(&b, lit, 8);
        memcpy(&c, s + n - 8, 8);
        memcpy(&d, lit + n - 8, 8);
        return ((a ^ b) | (c ^ d)) == 0;
    }
    if (n >= 4 && n < 8) {
        uint32_t a, b, c, d;
        memcpy(&a, s, 4);
        memcpy(&b, lit, 4);
        memcpy(&c, s + n - 4, 4);
        memcpy(&d, lit + n - 4, 4);
        return ((a ^ b) | (c ^ d)) == 0;
    }
    return memcmp(s, lit, n) == 0;
}

static inline unsigned char fold(unsigned char c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

/* Case-blind, as strncasecmp in the C locale (the one the program runs in), of n bytes with a
 * literal that has no NUL among them; stops at the first differing byte. */
static int fold_eq(const char *s, const char *lit, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (fold((unsigned char)s[i]) != fold((unsigned char)lit[i]))
            return 0;
    return 1;
}

/* Case-blind equality; HTTP/2 sends lowercase, so the exact compare settles nearly every call. */
static inline int ci_eq(const char *s, const char *lit, size_t n)
{
    return lit_eq(s, lit, n) || fold_eq(s, lit, n);
}

/* The fields a call reads from a block, found in one pass; first occurrence wins. H_NONE is a
 * slot for the fields it does not look for. */
enum { H_NONE, H_PATH, H_AUTHORITY, H_HOST, H_CT, H_ENC, H_TIMEOUT, H_METHOD, H_STATUS, H_N };

/* Names are lowercase in HTTP/2: every exact candidate is tried before any case-blind one, so
 * a near miss (":scheme" against ":method") costs word compares only. */
static inline int name_is(const hpack_field *f, const char *lit, size_t n)
{
    return lit_eq(f->name, lit, n);
}

/* Some byte of the n (4 to 16) is in 'A'..'Z': only then can a name that is not exactly a
 * lowercase literal still equal it case-blind. Overlapping words, 0x80 marking each such byte. */
static inline int has_upper(const char *s, size_t n)
{
    uint64_t a, b;
    if (n >= 8) {
        memcpy(&a, s, 8);
        memcpy(&b, s + n - 8, 8);
    } else {
        uint32_t x, y;
        memcpy(&x, s, 4);
        memcpy(&y, s + n - 4, 4);
        a = x;
        b = y;
    }
    const uint64_t lo7 = 0x7f7f7f7f7f7f7f7full, hi = 0x8080808080808080ull;
    uint64_t ua = (a & lo7) + 0x3f3f3f3f3f3f3f3full, za = (a & lo7) + 0x2525252525252525ull;
    uint64_t ub = (b & lo7) + 0x3f3f3f3f3f3f3f3full, zb = (b & lo7) + 0x2525252525252525ull;
    return (((ua & ~za & ~a) | (ub & ~zb & ~b)) & hi) != 0;
}

static int name_ci(const hpack_field *f, const char *lit, size_t n)
{
    return ((unsigned char)f->name[0] | 0x20) == (unsigned char)lit[0] && fold_eq(f->name, lit, n);
}

/* A name of a length we look for that is none of those names exactly, with capitals in it
 * (rare: HTTP/2 forbids them): the case-blind match. */
static __attribute__((noinline)) int classify_ci(const hpack_field *f)
{
    switch (f->name_len) {
    case 4:
        return name_ci(f, "host", 4) ? H_HOST : H_NONE;
    case 5:
        return name_ci(f, ":path", 5) ? H_PATH : H_NONE;
    case 7:
        return name_ci(f, ":method", 7) ? H_METHOD : name_ci(f, ":status", 7) ? H_STATUS : H_NONE;
    case 10:
        return name_ci(f, ":authority", 10) ? H_AUTHORITY : H_NONE;
    case 12:
        return name_ci(f, "content-type", 12)   ? H_CT
               : name_ci(f, "grpc-timeout", 12) ? H_TIMEOUT
                                                : H_NONE;
    case 13:
        return name_ci(f, "grpc-encoding", 13) ? H_ENC : H_NONE;
    default:
        return H_NONE;
    }
}

/* H_* of the name of each static table entry (RFC 7541 Appendix A), H_NONE for the others
 * and for 0: a field whose name the decoder knows to be a static one (hpack_field.name_static)
 * is classified without a compare. Static names are lowercase, so the case-blind match agrees. */
static const uint8_t static_id[256] = {
    [1] = H_AUTHORITY, [2] = H_METHOD,  [3] = H_METHOD,  [4] = H_PATH,    [5] = H_PATH,
    [8] = H_STATUS,    [9] = H_STATUS,  [10] = H_STATUS, [11] = H_STATUS, [12] = H_STATUS,
    [13] = H_STATUS,   [14] = H_STATUS, [31] = H_CT,     [38] = H_HOST,
};

/* A name of a length classify looks for that is none of its names exactly. Out of line: the
 * word constants of has_upper would cost classify registers for every block. */
static __attribute__((noinline)) int near_miss(const hpack_field *f)
{
    return has_upper(f->name, f->name_len) ? classify_ci(f) : H_NONE;
}

/* Returns what storing every field costs against max_header_bytes (see copy_block): the
 * record's field_bytes when the decoder counted it (want_sum 0), else added up here. */
static inline __attribute__((always_inline)) size_t classify_fields(const h2_frame_rec *fr,
                                                                    const hpack_field *h[H_N],
                                                                    int want_sum)
{
    size_t sum = 0;
    memset(h, 0, H_N * sizeof *h);
    /* Walked backwards, every match overwriting its slot: the first occurrence is what stays,
     * without a test per field. Bounds in locals: the stores into h could otherwise alias
     * fr->fields. */
    const hpack_field *begin = fr->fields, *f = fr->nfields ? begin + fr->nfields : begin;
    while (f > begin) {
        f--;
        if (want_sum)
            sum += f->name_len + f->value_len + 2;
        int id = static_id[f->name_static]; /* H_NONE for 0 (not known to be static) */
        if (!f->name_static && !f->unknown_name) { /* (name_static never with unknown_name) */
            switch (f->name_len) {
            case 4:
                id = name_is(f, "host", 4) ? H_HOST : -1;
                break;
            case 5:
                id = name_is(f, ":path", 5) ? H_PATH : -1;
                break;
            case 7:
                id = name_is(f, ":method", 7)   ? H_METHOD
                     : name_is(f, ":status", 7) ? H_STATUS
                                                : -1;
                break;
            case 10:
                id = name_is(f, ":authority", 10) ? H_AUTHORITY : -1;
                break;
            case 12:
                id = name_is(f, "content-type", 12)   ? H_CT
                     : name_is(f, "grpc-timeout", 12) ? H_TIMEOUT
                                                      : -1;
                break;
            case 13:
                id = name_is(f, "grpc-encoding", 13) ? H_ENC : -1;
                break;
            default:
                break;
            }
            if (id < 0) /* a length we look for, but not one of its names exactly */
                id = near_miss(f);
        }
        h[id] = f;
    }
    return want_sum ? sum : fr->field_bytes;
}

static inline __attribute__((always_inline)) size_t classify(const h2_frame_rec *fr,
                                                             const hpack_field *h[H_N])
{
    return fr->field_bytes ? classify_fields(fr, h, 0) : classify_fields(fr, h, 1);
}

/* n bytes from the call's arena, aligned for any type; NULL when out of memory. */
static void *arena_alloc(call_st *cs, size_t n)
{
    const size_t al = _Alignof(max_align_t);
    n = (n + al - 1) & ~(al - 1);
    if (n <= ARENA_INLINE - cs->arena_used) {
        void *p = cs->arena + cs->arena_used;
        cs->arena_used += n;
        return p;
    }
    chunk *k = cs->chunks;
    if (!k || n > k->cap - k->used) {
        size_t cap = k ? k->cap * 2 : ARENA_INLINE * 2;
        if (cap < n)
            cap = n;
        k = gw_malloc(sizeof *k + cap);
        if (!k)
            return NULL;
        k->next = cs->chunks;
        k->cap = cap;
        k->used = 0;
        cs->chunks = k;
    }
    void *p = k->data + k->used;
    k->used += n;
    return p;
}

/* memcpy, with short strings (nearly every header name and value) inline. */
static inline void copy_str(char *d, const char *s, size_t n)
{
    if (n < 64)
        gw_copy_small(d, s, n);
    else
        memcpy(d, s, n);
}

static __attribute__((noinline)) char *arena_strdup_slow(call_st *cs, const char *s, size_t n)
{
    char *d = arena_alloc(cs, n + 1);
    if (!d)
        return NULL;
    if (n)
        memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

/* The common case (a short string, room in the inline arena) inline: arena_alloc's first case
 * and gw_copy_small. */
static inline __attribute__((always_inline)) char *arena_strdup(call_st *cs, const char *s,
                                                                 size_t n)
{
    size_t need = (n + _Alignof(max_align_t)) & ~(_Alignof(max_align_t) - 1); /* n + 1, aligned */
    if (n >= 64 || need > ARENA_INLINE - cs->arena_used)
        return arena_strdup_slow(cs, s, n);
    char *d = cs->arena + cs->arena_used;
    cs->arena_used += need;
    gw_copy_small(d, s, n);
    d[n] = '\0';
    return d;
}

/* First occurrence wins; the caller passes fields already known to be set. */
static inline __attribute__((always_inline)) void set_str(call_st *cs, char **dst,
                                                          const hpack_field *f)
{
    if (*dst || !f || f->unknown_value)
        return;
    *dst = arena_strdup(cs, f->value, f->value_len);
}

/* Copy a header block within the call's max_header_bytes, into the call's arena. sum: what
 * classify() returned for the block. */
static void copy_block_slow(call_st *cs, const h2_frame_rec *fr, size_t sum, grpc_kv **out,
                            size_t *nout)
{
    size_t budget = cs->g->o.max_header_bytes - cs->header_bytes;
    size_t n = fr->nfields, total = sum;
    if (sum > budget) { /* keep the fields that fit, in order */
        total = 0;
        for (n = 0; n < fr->nfields; n++) {
            const hpack_field *f = &fr->fields[n];
            size_t need = f->name_len + f->value_len + 2;
            if (need > budget - total)
                break;
            total += need;
        }
    }
    if (n < fr->nfields)
        anomaly(cs, "header fields over max_header_bytes were not kept");
    *out = NULL;
    *nout = 0;
    if (cs->g->o.no_header_lists) {
        cs->header_bytes += total;
        return;
    }
    if (n == 0)
        return;
    grpc_kv *kv = arena_alloc(cs, n * sizeof *kv + total);
    if (!kv) {
        anomaly(cs, "out of memory");
        return;
    }
    char *blk = (char *)(kv + n);
    char *p = blk;
    for (size_t i = 0; i < n; i++) {
        const hpack_field *f = &fr->fields[i];
        kv[i].name = p;
        kv[i].name_len = f->name_len;
        copy_str(p, f->name, f->name_len);
        p += f->name_len;
        *p++ = '\0';
        kv[i].value = p;
        kv[i].value_len = f->value_len;
        copy_str(p, f->value, f->value_len);
        p += f->value_len;
        *p++ = '\0';
    }
    cs->header_bytes += total;
    *out = kv;
    *nout = n;
}

/* The common case inline: no header lists wanted (--stats, the call log) and the block within
 * max_header_bytes: only its size counts. */
static inline void copy_block(call_st *cs, const h2_frame_rec *fr, size_t sum, grpc_kv **out,
                              size_t *nout)
{
    const grpc_opts *o = &cs->g->o;
    if (o->no_header_lists && sum <= o->max_header_bytes - cs->header_bytes) {
        cs->header_bytes += sum;
        *out = NULL;
        *nout = 0;
        return;
    }
    copy_block_slow(cs, fr, sum, out, nout);
}

static void block_anomalies(call_st *cs, const h2_frame_rec *fr)
{
    if (fr->hpack_err) {
        anomaly(cs, "header block could not be fully decoded");
        cs->lost = 1;
    }
    if (fr->hpack_unknown) {
        anomaly(cs, "header fields refer to entries from before the capture");
        cs->lost = 1;
    }
}

/* Content-Type -> kind (PROTOCOL-HTTP2.md "application/grpc" [("+proto" / "+json" / {custom})],
 * PROTOCOL-WEB.md for grpc-web). Parameters after ';' are ignored. */
static const char kind_web[] = "grpc-web";

static const char *kind_of_slow(const char *ct, size_t ctlen, int *web_text)
{
    *web_text = 0;
    if (!ct)
        return NULL;
    ctlen = strnlen(ct, ctlen); /* a NUL inside the value ends it, as for the stored copy */
    const char *semi = memchr(ct, ';', ctlen);
    size_t n = semi ? (size_t)(semi - ct) : ctlen;
    while (n && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
        n--;
    const char *pre = "application/grpc";
    size_t pl = strlen(pre);
    if (n < pl || !ci_eq(ct, pre, pl))
        return NULL;
    const char *rest = ct + pl;
    size_t rl = n - pl;
#define REST_IS(s) (rl == strlen(s) && ci_eq(rest, s, rl))
#define REST_STARTS(s) (rl >= strlen(s) && ci_eq(rest, s, strlen(s)))
    if (rl == 0)
        return "grpc";
    if (REST_IS("+proto"))
        return "grpc+proto";
    if (REST_IS("+json"))
        return "grpc+json";
    if (REST_IS("-web-text") || REST_STARTS("-web-text+")) {
        *web_text = 1;
        return "grpc-web-text";
    }
    if (REST_IS("-web") || REST_STARTS("-web+"))
        return kind_web;
    if (rest[0] == '+')
        return "grpc"; /* a custom message format */
    return NULL;
#undef REST_IS
#undef REST_STARTS
}

static inline const char *kind_of(const char *ct, size_t ctlen, int *web_text)
{
    if (ct && ctlen == 16 && lit_eq(ct, "application/grpc", 16)) {
        *web_text = 0;
        return "grpc"; /* what nearly every call sends, settled without the general path */
    }
    return kind_of_slow(ct, ctlen, web_text);
}

/* NULL (or ct == NULL): not gRPC, kind "http". */
static void set_kind(call_st *cs, const char *ct, size_t ctlen)
{
    int web_text;
    const char *k = kind_of(ct, ctlen, &web_text);
    cs->c.is_grpc = k != NULL;
    cs->c.kind = k ? k : "http";
    cs->web_text = (uint8_t)web_text;
    cs->web = k == kind_web;
}

static int parse_status_slow(const char *s, size_t n)
{
    if (n == 0 || n > 9)
        return -1;
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* Decimal digits, -1 if anything else or empty or over 9 digits. The common lengths (":status"
 * 200, "grpc-status" 0) inline. */
static inline int parse_status(const char *s, size_t n)
{
    if (n == 3) {
        unsigned a = (unsigned char)s[0] - '0', b = (unsigned char)s[1] - '0',
                 c = (unsigned char)s[2] - '0';
        return a <= 9 && b <= 9 && c <= 9 ? (int)(a * 100 + b * 10 + c) : -1;
    }
    if (n == 1) {
        unsigned a = (unsigned char)s[0] - '0';
        return a <= 9 ? (int)a : -1;
    }
    return parse_status_slow(s, n);
}

/* grpc-status, grpc-message, grpc-status-details-bin from a trailers (or Trailers-Only) block. */
static void take_status(call_st *cs, const char *v, size_t vlen)
{
    if (cs->c.grpc_status >= 0)
        return;
    cs->c.grpc_status = parse_status(v, vlen);
    if (cs->c.grpc_status < 0)
        anomaly(cs, "malformed grpc-status");
}

static void take_message(call_st *cs, const char *v, size_t vlen)
{
    if (cs->c.grpc_message)
        return;
    if (vlen == 0) { /* grpc-go's OK: what grpc_message_unescape writes for it */
        cs->c.grpc_message = arena_strdup(cs, "", 0);
        return;
    }
    cs->c.grpc_message = arena_alloc(cs, vlen + 1);
    if (cs->c.grpc_message)
        grpc_message_unescape(v, vlen, cs->c.grpc_message);
}

static void take_details(call_st *cs, const char *v, size_t vlen)
{
    if (cs->c.status_details)
        return;
    uint8_t *out = arena_alloc(cs, vlen / 4 * 3 + 3 + vlen);
    if (!out)
        return;
    ptrdiff_t dl;
    if (vlen && v[0] == 0) {
        /* gRPC's true-binary metadata (C-core, negotiated with SETTINGS 0xfe03): a NUL
         * first byte, then the raw bytes instead of base64. */
        memcpy(out, v + 1, vlen - 1);
        dl = (ptrdiff_t)(vlen - 1);
    } else {
        dl = grpc_base64_decode(v, vlen, out);
    }
    if (dl < 0) {
        anomaly(cs, "malformed grpc-status-details-bin");
        return;
    }
    cs->c.status_details = out;
    cs->c.status_details_len = (size_t)dl;
}

/* grpc-status, grpc-message, grpc-status-details-bin (names case-blind). Returns 1 for
 * grpc-status (whatever its value), else 0. */
static inline int take_trailer_field(call_st *cs, const char *name, size_t nlen, const char *v,
                                     size_t vlen)
{
    switch (nlen) {
    case 11:
        if (!ci_eq(name, "grpc-status", 11))
            return 0;
        take_status(cs, v, vlen);
        return 1;
    case 12:
        if (ci_eq(name, "grpc-message", 12))
            take_message(cs, v, vlen);
        return 0;
    case 23:
        if (ci_eq(name, "grpc-status-details-bin", 23))
            take_details(cs, v, vlen);
        return 0;
    default:
        return 0;
    }
}

static int take_trailers(call_st *cs, const h2_frame_rec *fr)
{
    int has_status = 0;
    const hpack_field *end = fr->nfields ? fr->fields + fr->nfields : fr->fields; /* may be NULL */
    for (const hpack_field *f = fr->fields; f < end; f++) {
        if (f->unknown_name || f->unknown_value)
            continue;
        has_status |= take_trailer_field(cs, f->name, f->name_len, f->value, f->value_len);
    }
    return has_status;
}

/* ---- call table ---- */

static unsigned bucket_of(uint32_t sid) { return (sid >> 1) & (NBUCKETS - 1); }

static call_st *find_call(grpc_conn *g, uint32_t sid)
{
    for (call_st *cs = g->bucket[bucket_of(sid)]; cs; cs = cs->hnext)
        if (cs->c.stream == sid)
            return cs;
    return NULL;
}

static int recently_closed(const grpc_conn *g, uint32_t sid)
{
    if (sid > g->max_sid)
        return 0; /* client streams only go up (RFC 9113 5.1.1): the common case, a new call */
    for (unsigned i = 0; i < g->nclosed; i++)
        if (g->closed[i] == sid)
            return 1;
    return 0;
}

static void unlink_call(grpc_conn *g, call_st *cs)
{
    call_st **pp = &g->bucket[bucket_of(cs->c.stream)];
    while (*pp && *pp != cs)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = cs->hnext;
    if (cs->prev)
        cs->prev->next = cs->next;
    else
        g->head = cs->next;
    if (cs->next)
        cs->next->prev = cs->prev;
    else
        g->tail = cs->prev;
    g->nopen--;
    g->closed[g->closed_pos] = cs->c.stream;
    g->closed_pos = (g->closed_pos + 1) % CLOSED_RING;
    if (g->nclosed < CLOSED_RING)
        g->nclosed++;
}

/* Frees what the call owns; the call itself is kept for reuse, up to FREE_CALLS. */
static void free_call(grpc_conn *g, call_st *cs)
{
    grpc_call *c = &cs->c;
    if (cs->retained) /* some message kept bytes */
        for (size_t i = 0; i < c->n_msgs; i++)
            if (c->msgs[i].data && c->msgs[i].data_len)
                gw_big_put((void *)(uintptr_t)c->msgs[i].data);
    if (c->msgs != cs->msgs_inline)
        gw_free(c->msgs);
    for (int d = REQ; d <= RESP; d++)
        if (cs->df[d].body.data) /* grpc_deframer_free, for the few that buffered */
            grpc_deframer_free(&cs->df[d]);
    for (chunk *k = cs->chunks, *next; k; k = next) {
        next = k->next;
        gw_free(k);
    }
    if (g && g->nfree < FREE_CALLS) {
        cs->next = g->free_calls;
        g->free_calls = cs;
        g->nfree++;
    } else {
        gw_free(cs);
    }
}

static void set_endpoints(grpc_conn *g, call_st *cs)
{
    tcp_conn *tc = g->tc;
    if (!tc)
        return;
    int cl = cs->client_dir >= 0   ? cs->client_dir
             : g->client_dir >= 0  ? g->client_dir
             : tc->client_how != 0 ? tc->client
                                   : 0;
    cl = cl ? 1 : 0;
    if (cs->ep_set == 1 + cl)
        return; /* the same copy as at the call's start: a connection's endpoints never change */
    cs->ep_set = (uint8_t)(1 + cl);
    cs->c.conn_index = tc->index;
    cs->c.client = tc->ep[cl];
    cs->c.server = tc->ep[1 - cl];
}

static void settle(call_st *cs)
{
    grpc_call *c = &cs->c;
    if (c->grpc_status >= 0)
        c->implied_status = -1;
    else if (c->rst_code >= 0)
        c->implied_status = grpc_status_from_h2_error((uint32_t)c->rst_code);
    else if (c->goaway)
        c->implied_status = 14; /* UNAVAILABLE */
    else if (!c->is_grpc)
        c->implied_status = -1;
    else if (c->http_status >= 0 && c->http_status != 200)
        c->implied_status = grpc_status_from_http(c->http_status);
    else if (cs->status_unknown)
        c->implied_status = -1;
    else if (cs->ended[RESP])
        c->implied_status = cs->resp_end_by_data ? 13 /* INTERNAL */ : 2 /* UNKNOWN */;
    else
        c->implied_status = -1;
    c->complete = cs->req_hdrs && !cs->lost && !cs->lost_mid && cs->normal_end;
}

static void msg_cb(void *u, const grpc_frame_msg *fm);
static const char why_skipped[] = "body not kept (the view does not show it)";

static void flush_dir(call_st *cs, int d, const char *why)
{
    msg_ctx x = {cs, d, why, cs->c.t_end, cs->c.last_pkt, cs->c.last_pkt};
    grpc_deframer_flush(&cs->df[d], msg_cb, &x);
}

/* The call ends: callbacks, then everything it owns is freed. */
static void finish(grpc_conn *g, call_st *cs)
{
    if (cs->rst_ts) {
        cs->rst_ts = 0;
        g->nlinger--;
    }
    for (int d = REQ; d <= RESP; d++)
        if (pending(&cs->df[d])) {
            if (cs->c.rst_code < 0 && !cs->c.goaway)
                anomaly(cs, "message truncated at end of call");
            flush_dir(cs, d, "call ended mid-message");
        }
    settle(cs);
    set_endpoints(g, cs);
    unlink_call(g, cs);
    if (g->cb.on_call_end)
        g->cb.on_call_end(g->cb.u, &cs->c);
    free_call(g, cs);
}

static call_st *call_new(grpc_conn *g, uint32_t sid, const h2_frame_rec *fr)
{
    if (g->nopen >= g->o.max_streams && g->head) {
        anomaly(g->head, "evicted: too many open streams");
        g->head->lost = 1;
        finish(g, g->head);
    }
    call_st *cs = g->free_calls;
    if (cs) {
        g->free_calls = cs->next;
        g->nfree--;
        memset(cs, 0, g->reset_bytes);
    } else if (!(cs = gw_calloc(1, sizeof *cs))) {
        return NULL;
    }
    if (sid > g->max_sid)
        g->max_sid = sid;
    cs->g = g;
    cs->c.msgs = cs->msgs_inline;
    cs->msgs_cap = MSGS_INLINE;
    cs->client_dir = -1;
    grpc_call *c = &cs->c;
    c->stream = sid;
    c->timeout_ns = -1;
    c->is_grpc = 1; /* until a content-type says otherwise (mid-connection calls) */
    c->kind = "grpc";
    c->http_status = -1;
    c->grpc_status = -1;
    c->implied_status = -1;
    c->rst_code = -1;
    c->t_start = fr->ts_ns;
    c->t_first_resp = -1;
    c->t_end = fr->ts_ns;
    c->first_pkt = fr->first_pkt;
    c->last_pkt = fr->last_pkt;
    /* grpc_deframer_init on the zeroed deframers: their buffers' limit. */
    cs->df[REQ].body.limit = cs->df[RESP].body.limit = g->o.max_message ? g->o.max_message
                                                                          : SIZE_MAX;
    cs->df[REQ].discard = cs->df[RESP].discard = g->o.keep == GRPC_KEEP_NONE;
    unsigned b = bucket_of(sid);
    cs->hnext = g->bucket[b];
    g->bucket[b] = cs;
    cs->prev = g->tail;
    if (g->tail)
        g->tail->next = cs;
    else
        g->head = cs;
    g->tail = cs;
    g->nopen++;
    return cs;
}

static void start_call(grpc_conn *g, call_st *cs)
{
    if (!cs->req_hdrs) {
        /* Mid-connection: where messages begin is a guess. */
        anomaly(cs, "request headers not captured");
        cs->lost_mid = 1;
        if (!pending(&cs->df[REQ]))
            cs->df[REQ].lost = 1;
        if (!cs->resp_hdrs)
            cs->df[RESP].lost = 1;
    }
    set_endpoints(g, cs);
    if (g->cb.on_call_start)
        g->cb.on_call_start(g->cb.u, &cs->c);
}

/* Frames normally come in time order, but a direction settled late (h2_conn_end) replays older
 * frames after newer ones: keep the earliest and latest. */
static void drop_anomaly(call_st *cs, const char *what)
{
    grpc_call *c = &cs->c;
    for (size_t i = 0; i < c->n_anomalies; i++)
        if (strcmp(c->anomalies[i], what) == 0) {
            memmove(&c->anomalies[i], &c->anomalies[i + 1],
                    (c->n_anomalies - i - 1) * sizeof c->anomalies[0]);
            c->n_anomalies--;
            return;
        }
}

static void touch(call_st *cs, const h2_frame_rec *fr, int from_client)
{
    if (fr->ts_ns > cs->c.t_end)
        cs->c.t_end = fr->ts_ns;
    if (fr->ts_ns < cs->c.t_start)
        cs->c.t_start = fr->ts_ns;
    if (fr->last_pkt > cs->c.last_pkt)
        cs->c.last_pkt = fr->last_pkt;
    if (fr->first_pkt && fr->first_pkt < cs->c.first_pkt)
        cs->c.first_pkt = fr->first_pkt;
    if (!from_client && (cs->c.t_first_resp < 0 || fr->ts_ns < cs->c.t_first_resp))
        cs->c.t_first_resp = fr->ts_ns;
    if (cs->client_dir < 0 && (fr->dir == 0 || fr->dir == 1))
        cs->client_dir = from_client ? fr->dir : 1 - fr->dir;
}

/* touch() for the frame that created the call: call_new took its times and packets already. */
static inline void touch_first(call_st *cs, const h2_frame_rec *fr, int from_client)
{
    if (!from_client)
        cs->c.t_first_resp = fr->ts_ns;
    if (fr->dir == 0 || fr->dir == 1)
        cs->client_dir = from_client ? fr->dir : 1 - fr->dir;
}

/* END_STREAM in direction d. */
static void end_dir(call_st *cs, int d, int64_t ts, uint64_t pkt)
{
    if (pending(&cs->df[d])) {
        anomaly(cs, "message truncated at END_STREAM");
        msg_ctx x = {cs, d, "stream ended mid-message", ts, pkt, pkt};
        grpc_deframer_flush(&cs->df[d], msg_cb, &x);
    }
    cs->ended[d] = 1;
}

static void maybe_finish(grpc_conn *g, call_st *cs)
{
    if (cs->ended[REQ] && cs->ended[RESP]) {
        cs->normal_end = 1;
        finish(g, cs);
    } else if (cs->rst_ts && cs->ended[cs->c.rst_by_client ? RESP : REQ]) {
        finish(g, cs); /* reset, and the other side has said its last word too */
    }
}

/* ---- messages ---- */

/* *own: the bytes of m->data handed over by the deframer (grpc_deframer_take), or NULL; set to
 * NULL when the record keeps them. */
static void retain(call_st *cs, const grpc_msg *m, uint8_t **own)
{
    grpc_call *c = &cs->c;
    if (c->n_msgs >= MAX_MSG_RECORDS) {
        c->msgs_dropped = 1;
        return;
    }
    if (c->n_msgs == cs->msgs_cap) {
        size_t ncap = cs->msgs_cap * 2;
        grpc_msg *nm = gw_realloc(c->msgs == cs->msgs_inline ? NULL : c->msgs, ncap * sizeof *nm);
        if (!nm) {
            c->msgs_dropped = 1;
            return;
        }
        if (c->msgs == cs->msgs_inline)
            memcpy(nm, cs->msgs_inline, sizeof cs->msgs_inline);
        c->msgs = nm;
        cs->msgs_cap = ncap;
    }
    grpc_msg *r = &c->msgs[c->n_msgs++]; /* written in place: m is not in c->msgs */
    *r = *m;
    r->data = NULL;
    if (m->data) {
        if (m->data_len == 0) {
            r->data = (const uint8_t *)"";
        } else if (m->data_len <= cs->g->o.max_retained - cs->retained) {
            size_t cap;
            uint8_t *copy = *own ? *own : gw_big_alloc(m->data_len, &cap);
            if (copy) {
                if (!*own)
                    memcpy(copy, m->data, m->data_len);
                *own = NULL;
                r->data = copy;
                cs->retained += m->data_len;
            }
        }
        if (!r->data)
            c->msgs_dropped = 1;
    }
    if (!r->data)
        r->data_len = 0;
}

uint8_t *grpc_call_take_data(grpc_call *c, size_t i)
{
    if (i >= c->n_msgs || !c->msgs[i].data || !c->msgs[i].data_len)
        return NULL;
    uint8_t *p = (uint8_t *)(uintptr_t)c->msgs[i].data;
    c->msgs[i].data = NULL; /* the record keeps its length for the caller; free_call skips it */
    return p;
}

/* grpc-web carries trailers in the body: a frame with flag bit 7 holding "name: value\r\n"
 * lines (PROTOCOL-WEB.md). */
static void web_trailers(call_st *cs, const uint8_t *p, size_t n)
{
    const char *s = (const char *)p, *end = s + n;
    int has_status = 0;
    cs->trailers_seen = 1;
    while (s < end) {
        const char *eol = memchr(s, '\n', (size_t)(end - s));
        const char *le = eol ? eol : end;
        const char *colon = memchr(s, ':', (size_t)(le - s));
        if (colon) {
            const char *v = colon + 1, *ve = le;
            while (v < ve && (*v == ' ' || *v == '\t'))
                v++;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            size_t nlen = (size_t)(colon - s);
            has_status |= take_trailer_field(cs, s, nlen, v, (size_t)(ve - v));
        }
        s = eol ? eol + 1 : end;
    }
    if (!has_status)
        anomaly(cs, "trailers without grpc-status");
}

/* A complete message (or what is left of one) in direction d: its record, then the callback.
 * From the deframer (msg_cb) or straight from a DATA frame that holds exactly one message. */
static void deliver(call_st *cs, int d, const grpc_frame_msg *fm, const msg_ctx *x)
{
    grpc_conn *g = cs->g;
    grpc_call *c = &cs->c;
    const char *enc = d == REQ ? c->req_encoding : c->resp_encoding;
    grpc_msg m; /* every member set below (the struct has no padding) */
    m.decoded = 0;
    m.truncated = 0;
    m.why = NULL;
    m.from_client = d == REQ;
    m.index = d == REQ ? c->n_req++ : c->n_resp++;
    m.length = fm->length;
    m.compressed = fm->compressed;
    m.encoding = enc ? enc : "identity";
    m.first_pkt = cs->msg_first_pkt[d];
    m.last_pkt = x->last_pkt;
    m.ts_ns = x->ts;
    if (d == REQ)
        c->req_bytes += fm->length;
    else
        c->resp_bytes += fm->length;
    m.data = fm->body;
    m.data_len = fm->body_len;
    if (g->o.keep == GRPC_KEEP_FIRST && !cs->keep_all)
        cs->df[d].discard = 1; /* the preview has its message; count the rest */
    if (fm->skipped) {
        m.why = why_skipped;
    } else if (fm->truncated) {
        m.truncated = 1;
        m.why = fm->body ? x->trunc_why : "message larger than max_message";
        if (!m.why)
            m.why = "message cut short";
    } else if (fm->compressed) {
        if (!enc || (strlen(enc) == 8 && ci_eq(enc, "identity", 8))) {
            anomaly(cs, "compressed flag without grpc-encoding");
            m.why = "compressed flag set without grpc-encoding";
        } else {
            gw_buf_reset(&g->scratch);
            int rc = grpc_decompress(enc, fm->body, fm->body_len, &g->scratch, g->o.max_decompressed,
                                     g->o.max_ratio);
            if (rc == 0) {
                m.data = g->scratch.data ? g->scratch.data : (const uint8_t *)"";
                m.data_len = g->scratch.len;
                m.decoded = 1;
            } else {
                m.why = rc == GW_EUNSUPPORTED ? "unsupported grpc-encoding"
                        : rc == GW_ECAP       ? "decompressed size or ratio over the limit"
                        : rc == GW_ENOMEM     ? "out of memory while decompressing"
                                              : "corrupt compressed message";
                anomaly(cs, m.why);
            }
        }
    } else {
        m.decoded = 1;
    }
    /* The deframer's buffer becomes the retained copy when it holds exactly these bytes. */
    uint8_t *own = m.data && m.data == fm->body && fm->body == cs->df[d].body.data
                       ? grpc_deframer_take(&cs->df[d], fm->body)
                       : NULL;
    retain(cs, &m, &own); /* first, so that on_message may take the retained bytes */
    if (g->cb.on_message)
        g->cb.on_message(g->cb.u, c, &m);
    if (own)
        gw_big_put(own); /* not kept: m.data pointed at it until here */
    if (g->scratch.cap > SCRATCH_KEEP) {
        gw_big_put(g->scratch.data);
        gw_buf_init(&g->scratch, 0);
    }
    cs->msg_first_pkt[d] = x->next_first_pkt;
}

static void msg_cb(void *u, const grpc_frame_msg *fm)
{
    msg_ctx *x = u;
    call_st *cs = x->cs;
    int d = x->d;
    if (cs->web && (cs->df[d].hdr[0] & 0x80) && d == RESP &&
        !fm->truncated && !fm->compressed) {
        web_trailers(cs, fm->body, fm->body_len);
        cs->msg_first_pkt[d] = x->next_first_pkt;
        return;
    }
    deliver(cs, d, fm, x);
}

/* A DATA frame that holds exactly one whole message while the deframer is idle: what nearly
 * every small call sends. The message goes straight to deliver() with the records the deframer
 * would have produced (the deframer keeps no state from a message once it is emitted); a
 * discarded body (--stats, or after the call log's preview) is recorded in place. Anything
 * else - a split prefix, several messages, a gap, grpc-web, over max_message - takes the
 * general path. Returns 1 if the frame was handled. Tested against the deframer. */
static int one_message(call_st *cs, int d, const h2_frame_rec *fr)
{
    grpc_deframer *df = &cs->df[d];
    const uint8_t *p = fr->f.data;
    size_t n = fr->f.data_len;
    if (n < 5 || df->hdr_have || df->lost || cs->web)
        return 0;
    uint32_t len = (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 8 | p[4];
    if (len != n - 5 || len > gw_buf_limit(&df->body))
        return 0;
    grpc_call *c = &cs->c;
    if (df->discard && c->n_msgs < cs->msgs_cap) {
        /* The record is all the callback gets too (data NULL both ways): write it once. */
        grpc_msg *r = &c->msgs[c->n_msgs++];
        const char *enc = d == REQ ? c->req_encoding : c->resp_encoding;
        r->from_client = d == REQ;
        if (d == REQ) {
            r->index = c->n_req++;
            c->req_bytes += len;
        } else {
            r->index = c->n_resp++;
            c->resp_bytes += len;
        }
        r->length = len;
        r->compressed = p[0] & 1;
        r->encoding = enc ? enc : "identity";
        r->data = NULL;
        r->data_len = 0;
        r->decoded = 0;
        r->truncated = 0;
        r->why = why_skipped;
        r->first_pkt = fr->first_pkt;
        r->last_pkt = fr->last_pkt;
        r->ts_ns = fr->ts_ns;
        grpc_conn *g = cs->g;
        if (g->cb.on_message)
            g->cb.on_message(g->cb.u, c, r);
        cs->msg_first_pkt[d] = fr->first_pkt;
        return 1;
    }
    grpc_frame_msg fm = {len, p[0] & 1, df->discard ? NULL : p + 5, df->discard ? 0 : len, 0,
                         df->discard};
    msg_ctx x = {cs, d, NULL, fr->ts_ns, fr->last_pkt, fr->first_pkt};
    cs->msg_first_pkt[d] = fr->first_pkt;
    deliver(cs, d, &fm, &x);
    return 1;
}

static int fast_path_off; /* grpc_call_fast_path(0), for differential tests */

void grpc_call_fast_path(int on) { fast_path_off = !on; }

/* The general path: DATA bytes through the deframer. */
static void feed(call_st *cs, int d, const h2_frame_rec *fr)
{
    if (!pending(&cs->df[d]))
        cs->msg_first_pkt[d] = fr->first_pkt;
    msg_ctx x = {cs, d, NULL, fr->ts_ns, fr->last_pkt, fr->first_pkt};
    if (grpc_deframer_feed(&cs->df[d], fr->f.data, fr->f.data_len, msg_cb, &x)) {
        anomaly(cs, "out of memory");
        cs->lost = 1;
        grpc_deframer_reset(&cs->df[d]);
    }
}

/* ---- frames ---- */

static int sender_is_client(grpc_conn *g, const h2_frame_rec *fr)
{
    int fc = fr->from_client;
    if (fc != 0 && fc != 1) {
        fc = -1;
        if (fr->has_block) {
            const hpack_field *h[H_N];
            classify(fr, h);
            fc = h[H_METHOD] ? 1 : h[H_STATUS] ? 0 : -1;
        }
        if (fc < 0 && g->client_dir >= 0 && (fr->dir == 0 || fr->dir == 1))
            fc = fr->dir == g->client_dir;
    }
    if (fc >= 0 && g->client_dir < 0 && (fr->dir == 0 || fr->dir == 1))
        g->client_dir = fc ? fr->dir : 1 - fr->dir;
    return fc;
}

static void request_headers(grpc_conn *g, call_st *cs, const h2_frame_rec *fr)
{
    grpc_call *c = &cs->c;
    const hpack_field *h[H_N];
    size_t sum = classify(fr, h);
    const hpack_field *method = h[H_METHOD];
    if (cs->req_hdrs) {
        /* A second request block: only trailers are legal, and gRPC sends none. */
        if (cs->ended[REQ])
            anomaly(cs, "HEADERS after END_STREAM");
        else if (!fr->block_end_stream)
            anomaly(cs, "request HEADERS block without END_STREAM after the headers");
        else
            anomaly(cs, "request trailers (gRPC sends none)");
    } else if (method) {
        if (c->n_req > 0 || (c->t_first_resp >= 0 && c->t_first_resp < fr->ts_ns))
            anomaly(cs, "DATA before HEADERS");
        if (cs->lost_mid && c->n_req == 0 && !pending(&cs->df[REQ])) {
            /* The request's start was seen after all: nothing of it is missing. */
            cs->lost_mid = 0;
            cs->df[REQ].lost = 0;
            drop_anomaly(cs, "request headers not captured");
        }
        block_anomalies(cs, fr);
        copy_block(cs, fr, sum, &c->req_headers, &c->n_req_headers);
        set_str(cs, &c->method, h[H_PATH]);
        if (c->method && mentions_reflection(c->method, h[H_PATH]->value_len)) {
            cs->keep_all = 1;
            cs->df[REQ].discard = cs->df[RESP].discard = 0;
        }
        set_str(cs, &c->authority, h[H_AUTHORITY] ? h[H_AUTHORITY] : h[H_HOST]);
        set_str(cs, &c->content_type, h[H_CT]);
        set_str(cs, &c->req_encoding, h[H_ENC]);
        const hpack_field *to = h[H_TIMEOUT];
        if (to && !to->unknown_value) {
            set_str(cs, &c->timeout_raw, to);
            c->timeout_ns = grpc_timeout_parse(to->value, to->value_len);
            if (c->timeout_ns < 0)
                anomaly(cs, "malformed grpc-timeout");
        }
        const hpack_field *ctf = h[H_CT];
        if ((!ctf && fr->hpack_unknown) || (ctf && ctf->unknown_value)) {
            /* The content-type is among the fields the capture began too late to know: that is
             * not "another content type". Assume gRPC, as for calls seen mid-stream. */
            anomaly(cs, "content-type unknown (HPACK entry from before the capture)");
        } else {
            /* c->content_type, when set, is the copy of ctf's value_len octets made above:
             * kind_of measures it with strnlen, so its length need not be counted here. */
            set_kind(cs, c->content_type, c->content_type ? ctf->value_len : 0);
        }
        cs->req_hdrs = 1;
        c->t_start = fr->ts_ns;
        if (c->first_pkt > fr->first_pkt)
            c->first_pkt = fr->first_pkt;
    } else {
        /* Client block without :method on a stream we did not see start: its trailers. */
        block_anomalies(cs, fr);
        anomaly(cs, "request trailers (gRPC sends none)");
    }
    if (fr->block_end_stream && !cs->ended[REQ])
        end_dir(cs, REQ, fr->ts_ns, fr->last_pkt);
    (void)g;
}

/* Trailers without a readable grpc-status: missing (a protocol violation), or - when the block
 * referred to HPACK entries from before the capture - perhaps just not known to us. */
static void unknown_or_missing_status(call_st *cs, const h2_frame_rec *fr)
{
    if (fr->hpack_unknown) {
        cs->status_unknown = 1;
        anomaly(cs, "grpc-status unknown (HPACK entry from before the capture)");
    } else {
        anomaly(cs, "trailers without grpc-status");
    }
}

/* A trailers block (END_STREAM after the response headers, or with no response headers seen).
 * sum: what classify() returns for it. */
static void trailers(call_st *cs, const h2_frame_rec *fr, size_t sum)
{
    grpc_call *c = &cs->c;
    block_anomalies(cs, fr);
    if (!cs->resp_hdrs && !cs->req_hdrs)
        anomaly(cs, "response headers not captured");
    copy_block(cs, fr, sum, &c->trailers, &c->n_trailers);
    cs->trailers_seen = 1;
    if (!take_trailers(cs, fr) && c->is_grpc)
        unknown_or_missing_status(cs, fr);
    end_dir(cs, RESP, fr->ts_ns, fr->last_pkt);
}

static void response_headers(grpc_conn *g, call_st *cs, const h2_frame_rec *fr)
{
    grpc_call *c = &cs->c;
    if (cs->resp_hdrs) {
        /* Trailers (or a block after them): of the fields only their size counts here. */
        if (cs->ended[RESP] || cs->trailers_seen) {
            anomaly(cs, "HEADERS after END_STREAM");
        } else if (!fr->block_end_stream) {
            anomaly(cs, "response HEADERS block without END_STREAM after the headers");
        } else {
            size_t sum = fr->field_bytes;
            for (size_t i = 0; !fr->field_bytes && i < fr->nfields; i++)
                sum += fr->fields[i].name_len + fr->fields[i].value_len + 2;
            trailers(cs, fr, sum);
        }
        return;
    }
    const hpack_field *h[H_N];
    size_t sum = classify(fr, h);
    const hpack_field *st = h[H_STATUS];
    int status = st && !st->unknown_value ? parse_status(st->value, st->value_len) : -1;
    if (!cs->resp_hdrs && status >= 100 && status < 200 && !fr->block_end_stream)
        return; /* interim response (RFC 9113 8.1): the real headers follow */
    if (cs->ended[RESP] || cs->trailers_seen) {
        anomaly(cs, "HEADERS after END_STREAM");
    } else if (!cs->resp_hdrs && (st || !fr->block_end_stream)) {
        block_anomalies(cs, fr);
        copy_block(cs, fr, sum, &c->resp_headers, &c->n_resp_headers);
        cs->resp_hdrs = 1;
        c->http_status = status;
        if (!st)
            anomaly(cs, "response HEADERS without :status");
        else if (status < 0)
            anomaly(cs, "malformed :status");
        set_str(cs, &c->resp_encoding, h[H_ENC]);
        const hpack_field *ct = h[H_CT];
        int ct_unknown = !ct && fr->hpack_unknown; /* it may be among the unknown fields */
        if (ct_unknown) {
            /* Keep what the call is thought to be: the response does not say otherwise. */
        } else if (!cs->req_hdrs) {
            /* Mid-connection: the response says what the call is. */
            set_kind(cs, ct ? ct->value : NULL, ct ? ct->value_len : 0);
        } else if (c->is_grpc) {
            int web_text;
            int resp_grpc = ct && kind_of(ct->value, ct->value_len, &web_text) != NULL;
            /* An error page from a proxy or a non-gRPC server: its body is not messages. */
            if (!resp_grpc || (status >= 0 && status != 200))
                cs->raw_resp = 1;
            if (!resp_grpc && status == 200)
                anomaly(cs, "response content-type is not gRPC");
        }
        if (fr->block_end_stream) {
            if (take_trailers(cs, fr)) {
                c->trailers_only = 1;
                c->trailers = c->resp_headers;
                c->n_trailers = c->n_resp_headers;
            } else if (c->is_grpc && status == 200) {
                unknown_or_missing_status(cs, fr);
            }
            end_dir(cs, RESP, fr->ts_ns, fr->last_pkt);
        }
    } else if (!fr->block_end_stream) {
        anomaly(cs, "response HEADERS block without END_STREAM after the headers");
    } else {
        trailers(cs, fr, sum);
    }
    (void)g;
}

static void on_headers(grpc_conn *g, const h2_frame_rec *fr, int fc)
{
    uint32_t sid = fr->block_stream;
    if (sid == 0 || !(sid & 1) || fc < 0)
        return;
    call_st *cs = find_call(g, sid);
    int created = 0;
    if (!cs) {
        if (recently_closed(g, sid))
            return;
        cs = call_new(g, sid, fr);
        if (!cs)
            return;
        created = 1;
        touch_first(cs, fr, fc);
    } else {
        touch(cs, fr, fc);
    }
    if (fc)
        request_headers(g, cs, fr);
    else
        response_headers(g, cs, fr);
    if (created)
        start_call(g, cs);
    maybe_finish(g, cs);
}

static void on_data(grpc_conn *g, const h2_frame_rec *fr, int fc)
{
    uint32_t sid = fr->f.stream_id;
    if (sid == 0 || !(sid & 1) || fc < 0)
        return;
    call_st *cs = find_call(g, sid);
    if (!cs) {
        if (recently_closed(g, sid))
            return;
        cs = call_new(g, sid, fr);
        if (!cs)
            return;
        start_call(g, cs);
        touch_first(cs, fr, fc);
    } else {
        touch(cs, fr, fc);
    }
    int d = fc ? REQ : RESP;
    if (cs->ended[d])
        anomaly(cs, "DATA after END_STREAM");
    else if (d == RESP && !cs->resp_hdrs && cs->req_hdrs)
        anomaly(cs, "DATA before HEADERS");
    if (fr->f.data_len && fr->f.data) {
        if (cs->c.is_grpc && !cs->web_text && !(d == RESP && cs->raw_resp)) {
            if (fast_path_off || !one_message(cs, d, fr))
                feed(cs, d, fr);
        } else if (d == REQ) {
            cs->c.req_bytes += fr->f.data_len;
        } else {
            cs->c.resp_bytes += fr->f.data_len;
        }
    }
    if (fr->f.flags & H2_FLAG_END_STREAM) {
        if (d == RESP && !cs->ended[RESP])
            cs->resp_end_by_data = 1;
        if (d == RESP && cs->c.is_grpc && !cs->raw_resp && !cs->trailers_seen &&
            !cs->c.trailers_only && !cs->web)
            anomaly(cs, "response ended without trailers");
        end_dir(cs, d, fr->ts_ns, fr->last_pkt);
    }
    maybe_finish(g, cs);
}

static void on_rst(grpc_conn *g, const h2_frame_rec *fr, int fc)
{
    call_st *cs = find_call(g, fr->f.stream_id);
    if (!cs)
        return;
    if (fc >= 0)
        touch(cs, fr, fc);
    else {
        cs->c.t_end = fr->ts_ns;
        cs->c.last_pkt = fr->last_pkt;
    }
    if (cs->rst_ts)
        return; /* a second RST for a call already reset */
    cs->c.rst_code = fr->f.error_code;
    cs->c.rst_by_client = fc == 1;
    cs->normal_end = 1;
    cs->rst_ts = fr->ts_ns ? fr->ts_ns : 1;
    g->nlinger++;
    maybe_finish(g, cs);
}

/* End the reset calls whose linger is over (all of them when now is INT64_MAX). */
static void end_lingering(grpc_conn *g, int64_t now)
{
    call_st *next;
    for (call_st *cs = g->head; cs && g->nlinger; cs = next) {
        next = cs->next;
        if (cs->rst_ts && now - cs->rst_ts >= RST_LINGER_NS)
            finish(g, cs);
    }
}

static void on_goaway(grpc_conn *g, const h2_frame_rec *fr, int fc)
{
    if (fc == 1)
        return; /* a client's GOAWAY names server-initiated streams: gRPC has none */
    call_st *next;
    for (call_st *cs = g->head; cs; cs = next) {
        next = cs->next;
        if (cs->c.stream <= fr->f.last_stream_id)
            continue;
        cs->c.goaway = 1;
        cs->c.t_end = fr->ts_ns;
        cs->c.last_pkt = fr->last_pkt;
        cs->normal_end = 1;
        finish(g, cs);
    }
}

grpc_conn *grpc_conn_new(const grpc_opts *opts, const grpc_callbacks *cb, h2_conn *h)
{
    grpc_conn *g = gw_calloc(1, sizeof *g);
    if (!g)
        return NULL;
    grpc_opts def;
    grpc_opts_default(&def);
    g->o = opts ? *opts : def;
    if (!g->o.max_message)
        g->o.max_message = def.max_message;
    if (!g->o.max_decompressed)
        g->o.max_decompressed = def.max_decompressed;
    if (!g->o.max_streams)
        g->o.max_streams = def.max_streams;
    if (!g->o.max_header_bytes)
        g->o.max_header_bytes = def.max_header_bytes;
    if (cb)
        g->cb = *cb;
    g->h = h;
    g->tc = h ? h2_conn_tcp(h) : NULL;
    g->client_dir = -1;
    g->reset_bytes = CALL_RESET_BYTES;
    gw_buf_init(&g->scratch, 0);
    return g;
}

void grpc_conn_frame(grpc_conn *g, const h2_frame_rec *fr)
{
    if (!g || !fr)
        return;
    if (g->nlinger)
        end_lingering(g, fr->ts_ns);
    int fc = sender_is_client(g, fr);
    if (fr->has_block && fr->block_type == H2_FRAME_HEADERS)
        on_headers(g, fr, fc);
    if (fr->f.type == H2_FRAME_DATA) /* the most frequent first */
        on_data(g, fr, fc);
    else if (fr->f.type == H2_FRAME_RST_STREAM)
        on_rst(g, fr, fc);
    else if (fr->f.type == H2_FRAME_GOAWAY)
        on_goaway(g, fr, fc);
}

void grpc_conn_skip(grpc_conn *g, int dir, uint64_t len)
{
    if (!g || len == 0)
        return;
    for (call_st *cs = g->head; cs; cs = cs->next) {
        int cd = cs->client_dir >= 0 ? cs->client_dir : g->client_dir;
        /* Bytes lost in a direction whose half of the call has ended cannot belong to it. */
        if (cd >= 0 && cs->ended[dir == cd ? REQ : RESP])
            continue;
        anomaly(cs, "bytes lost in capture");
        cs->lost = 1;
        for (int d = REQ; d <= RESP; d++) {
            if (cd >= 0 && (dir == cd) != (d == REQ))
                continue;
            flush_dir(cs, d, "bytes lost in capture");
            grpc_deframer_reset(&cs->df[d]);
        }
    }
}

void grpc_conn_close(grpc_conn *g, int64_t ts_ns)
{
    if (!g)
        return;
    (void)ts_ns; /* t_end stays the call's last frame; see the file comment */
    while (g->head)
        finish(g, g->head);
}

void grpc_conn_del(grpc_conn *g)
{
    if (!g)
        return;
    call_st *next;
    for (call_st *cs = g->head; cs; cs = next) {
        next = cs->next;
        free_call(NULL, cs);
    }
    for (call_st *cs = g->free_calls; cs; cs = next) {
        next = cs->next;
        gw_free(cs);
    }
    gw_buf_free(&g->scratch);
    gw_free(g);
}
