/* hpack: the HPACK block decoder (RFC 7541 6) with representation reporting and mid-capture
 * tolerance.
 *
 * Mid-capture model. A decoder created unsynced (or after hpack_decoder_desync, or after an
 * error) knows only the entries inserted since. The encoder's table is then: our known entries
 * (newest) followed by older entries we never saw. Dynamic indexes past our known entries refer
 * to those and are reported unknown. Older entries are evicted first, so we evict a known entry
 * only when the known entries alone exceed the maximum; an entry whose name is unknown counts
 * its name as 0 octets, so we never evict early (we may keep an entry the encoder already
 * dropped, which a valid encoder never references). No older entry can remain once a size
 * update to 0 emptied the table, once the known entries leave no room for one (size + 32 >
 * maximum), or once a known entry was evicted (older ones go first). We are synced again when,
 * in addition, no entry with an unknown name remains.
 * Assumption: the maximum in force mid-capture is unknown; we take hpack_opts.max_table_size
 * (4096 by default, the protocol's initial value) until a size update says otherwise.
 *
 * Leniency compared with nghttp2's inflater: after a SETTINGS_HEADER_TABLE_SIZE decrease we do
 * not require the next block to start with a size update.
 *
 * Details the contract leaves open: opts NULL means defaults; name/value are NUL-terminated;
 * name_wire/value_wire count the string's data octets (not its length prefix); a callback that
 * stops the block does not stop decoding (later blocks need the table), and damage after that
 * point only desyncs the decoder; allocation failure returns GW_ENOMEM and desyncs too. */
#include <string.h>
#include "hpack.h"
#include "hpack_dyn.h"
#include "hpack_huff.h"
#include "gw_err.h"
#include "gw_mem.h"

/* A table maximum above this is clamped: SETTINGS come from the wire, and a 3-octet literal
 * costs a 32-octet entry, so an unclamped maximum would let a capture allocate far more than
 * its size. Real peers use 4 KiB to 64 KiB. */
#define HPACK_TABLE_CAP ((size_t)16 << 20)
#define SCRATCH_MIN 4096

/* Huffman memo. Peers that do not index some fields re-send them Huffman coded in every block
 * (h2load, on nghttp2, sends every request's :path as a literal without indexing, and a gRPC
 * :path is constant per method), and some send a literal name with every value (grpc-python's
 * grpc-timeout), so each decoder remembers its last few short strings sent without indexing and
 * literal names, by their wire octets. Decoding is a function of those octets (and of
 * max_string, fixed per decoder), so a hit is exact. Only successful decodes are remembered. */
#define MEMO_WIRE 48 /* longest remembered string, in wire octets */
#define MEMO_SLOTS 4
typedef struct memo_slot {
    uint8_t wire_len; /* 0: empty */
    uint8_t out_len;
    uint8_t wire[MEMO_WIRE];
    char out[MEMO_WIRE * 8 / 5];
} memo_slot;
typedef struct memo {
    memo_slot s[MEMO_SLOTS];
    unsigned next; /* replaced in turn */
} memo;

/* Block cache. Most blocks of a busy connection's responses and trailers are a few indexed
 * fields ("88c5": :status 200, a dynamic content-type) that leave the table as it was, so the
 * same octets decode to the same fields every time, until the table changes. Each decoder keeps
 * its last few such blocks (up to BC_WIRE octets, each octet a one-octet Indexed Header Field)
 * with their fields, tagged with the table's generation: a counter bumped by everything that
 * can change what an index resolves to or where its strings are (insertion, eviction, size
 * update, desync, an error, entries moved to a new arena).
 * A hit with the same octets and generation is exact: the same entries, hence the same
 * pointers, lengths and flags; the header list limit gives the same verdict. */
#define BC_WIRE 8
#define BC_SLOTS 4
typedef struct bc_slot {
    uint64_t gen; /* 0: empty */
    uint64_t key; /* the octets, first in the low byte */
    uint8_t n;    /* octets = fields */
    uint8_t unknown;
    uint32_t field_bytes; /* hpack_into.field_bytes */
    hpack_field f[BC_WIRE];
} bc_slot;
typedef struct bcache {
    bc_slot s[BC_SLOTS];
    unsigned next; /* replaced in turn */
} bcache;

typedef struct chunk {
    struct chunk *next;
    size_t cap;
    size_t used;
    char data[];
} chunk;

struct hpack_decoder {
    hpack_opts o;
    size_t limit;      /* SETTINGS_HEADER_TABLE_SIZE: the bound for size updates */
    hpack_dyn t;
    int older_unknown; /* entries from before the capture may sit past the known ones */
    chunk *chunks;     /* owned: scratch for the current block's strings */
    chunk *cur;
    memo *memo;        /* owned; allocated with the first string it could hold */
    uint64_t gen;      /* table generation (see bcache), from 1 */
    bcache *bc;        /* owned; allocated with the first block it could hold */
};

const char *hpack_rep_name(int rep)
{
    switch (rep) {
    case HPACK_INDEXED: return "Indexed Header Field";
    case HPACK_INC_INDEXED_NAME: return "Literal Header Field with Incremental Indexing - Indexed Name";
    case HPACK_INC_NEW_NAME: return "Literal Header Field with Incremental Indexing - New Name";
    case HPACK_NOIDX_INDEXED_NAME: return "Literal Header Field without Indexing - Indexed Name";
    case HPACK_NOIDX_NEW_NAME: return "Literal Header Field without Indexing - New Name";
    case HPACK_NEVER_INDEXED_NAME: return "Literal Header Field never Indexed - Indexed Name";
    case HPACK_NEVER_NEW_NAME: return "Literal Header Field never Indexed - New Name";
    default: return "Unknown representation";
    }
}

void hpack_opts_default(hpack_opts *o)
{
    o->max_table_size = 4096;      /* RFC 9113 6.5.2 initial SETTINGS_HEADER_TABLE_SIZE */
    o->max_header_list = 256 << 10;
    o->max_string = 64 << 10;
}

static size_t clamp_table(size_t max) { return max > HPACK_TABLE_CAP ? HPACK_TABLE_CAP : max; }

hpack_decoder *hpack_decoder_new(const hpack_opts *opts, int synced)
{
    hpack_decoder *d = gw_calloc(1, sizeof *d);
    if (!d)
        return NULL;
    if (opts)
        d->o = *opts;
    else
        hpack_opts_default(&d->o);
    d->limit = clamp_table(d->o.max_table_size);
    hpack_dyn_init(&d->t, d->limit);
    hpack_huff_win_prepare(); /* for the block decoder's own use of hpack_huff_fast */
    d->older_unknown = !synced;
    d->gen = 1;
    return d;
}

static void scratch_free(hpack_decoder *d)
{
    chunk *c = d->chunks;
    while (c) {
        chunk *next = c->next;
        gw_free(c);
        c = next;
    }
    d->chunks = d->cur = NULL;
}

void hpack_decoder_del(hpack_decoder *d)
{
    if (!d)
        return;
    hpack_dyn_free(&d->t);
    scratch_free(d);
    gw_free(d->memo);
    gw_free(d->bc);
    gw_free(d);
}

/* Sync is provable once no entry older than the capture can still be in the table: the known
 * entries leave no room for one, or one of them was evicted (older entries go first). */
static void check_resync(hpack_decoder *d, uint64_t evictions_before)
{
    if (d->older_unknown && (d->t.size + HPACK_ENTRY_OVERHEAD > d->t.max ||
                             d->t.evictions != evictions_before))
        d->older_unknown = 0;
}

void hpack_decoder_set_max_table_size(hpack_decoder *d, size_t max)
{
    d->limit = clamp_table(max);
    d->gen++;
    if (d->t.max > d->limit) {
        uint64_t ev = d->t.evictions;
        hpack_dyn_set_max(&d->t, d->limit);
        check_resync(d, ev);
    }
}

void hpack_decoder_desync(hpack_decoder *d)
{
    /* Blocks we missed inserted entries newer than ours, so even our entries' indexes moved. */
    hpack_dyn_clear(&d->t);
    d->older_unknown = 1;
    d->gen++;
}

const hpack_dyn *hpack_decoder_table(const hpack_decoder *d) { return &d->t; }

int hpack_decoder_synced(const hpack_decoder *d)
{
    return !d->older_unknown && d->t.unknown_names == 0;
}

/* Scratch: strings handed to the callback stay valid until the next call, so they are never
 * moved; chunks are chained, and merged into one at the start of the next block. */
static void scratch_reset(hpack_decoder *d)
{
    if (d->chunks && d->chunks->next) {
        size_t total = 0;
        for (chunk *c = d->chunks; c; c = c->next)
            total += c->cap;
        scratch_free(d);
        chunk *c = gw_malloc(sizeof *c + total);
        if (c) { /* on failure the next reservation tries again, smaller */
            c->next = NULL;
            c->cap = total;
            d->chunks = c;
        }
    }
    for (chunk *c = d->chunks; c; c = c->next)
        c->used = 0;
    d->cur = d->chunks;
}

static char *scratch_grow(hpack_decoder *d, size_t n)
{
    chunk *last = NULL;
    for (chunk *c = d->cur; c; c = c->next) {
        if (c->cap - c->used >= n) {
            d->cur = c;
            return c->data + c->used;
        }
        last = c;
    }
    if (!last)
        for (last = d->chunks; last && last->next; last = last->next)
            ;
    size_t cap = n > SCRATCH_MIN ? n : SCRATCH_MIN;
    if (last && last->cap * 2 > cap)
        cap = last->cap * 2; /* geometric: few chunks per block */
    chunk *c = gw_malloc(sizeof *c + cap);
    if (!c)
        return NULL;
    c->next = NULL;
    c->cap = cap;
    c->used = 0;
    if (last)
        last->next = c;
    else
        d->chunks = c;
    d->cur = c;
    return c->data;
}

/* After the first block the scratch is one chunk with room, so this rarely calls out. */
static inline char *scratch_reserve(hpack_decoder *d, size_t n)
{
    chunk *c = d->cur;
    if (c && c->cap - c->used >= n)
        return c->data + c->used;
    return scratch_grow(d, n);
}

/* Commits n octets (plus a NUL already written) of the last reservation. */
static inline void scratch_commit(hpack_decoder *d, size_t n) { d->cur->used += n + 1; }

/* RFC 7541 5.1: an N-bit prefix integer. Values over 2^32-1 and more than 5 continuation octets
 * (a shift past 28) are rejected, as nghttp2 does.
 *   +---+---+---+---+---+---+---+---+
 *   | ? | ? | ? | 1   1   1   1   1 |   prefix all ones: continuation follows
 *   | 1 |    Value-(2^N-1) LSB      |   7 bits each, least significant first
 *   | 0 |    Value-(2^N-1) MSB      |
 * The block is read through a pointer (*pp) and its end; each read advances *pp on success. */
static __attribute__((noinline)) int read_int_long(const uint8_t **pp, const uint8_t *end,
                                                   uint64_t v, uint32_t *out, const char **why)
{
    const uint8_t *p = *pp;
    for (unsigned shift = 0;; shift += 7) {
        if (p == end) {
            *why = "truncated integer";
            return GW_EPARSE;
        }
        uint8_t b = *p++;
        if (shift > 28) {
            *why = "integer overflow";
            return GW_EPARSE;
        }
        v += (uint64_t)(b & 0x7f) << shift;
        if (v > UINT32_MAX) {
            *why = "integer overflow";
            return GW_EPARSE;
        }
        if (!(b & 0x80))
            break;
    }
    *pp = p;
    *out = (uint32_t)v;
    return 0;
}

/* Most integers fit their prefix (mask: its bits): one octet, inline. */
static inline int read_int(const uint8_t **pp, const uint8_t *end, uint32_t mask, uint32_t *out,
                           const char **why)
{
    const uint8_t *p = *pp;
    if (p == end) {
        *why = "truncated integer";
        return GW_EPARSE;
    }
    uint32_t v = *p & mask;
    *pp = p + 1;
    if (v != mask) {
        *out = v;
        return 0;
    }
    return read_int_long(pp, end, v, out, why);
}

static const memo_slot *memo_find(const memo *m, const uint8_t *src, size_t n)
{
    for (unsigned i = 0; i < MEMO_SLOTS; i++)
        if (m->s[i].wire_len == n && memcmp(m->s[i].wire, src, n) == 0)
            return &m->s[i];
    return NULL;
}

static void memo_put(hpack_decoder *d, const uint8_t *src, size_t n, const char *out,
                     size_t out_len)
{
    if (!d->memo && !(d->memo = gw_calloc(1, sizeof *d->memo)))
        return; /* only a cache */
    memo_slot *m = &d->memo->s[d->memo->next];
    d->memo->next = (d->memo->next + 1) % MEMO_SLOTS;
    m->wire_len = (uint8_t)n;
    m->out_len = (uint8_t)out_len;
    memcpy(m->wire, src, n);
    memcpy(m->out, out, out_len);
}

/* RFC 7541 5.2: a string literal into scratch (NUL-terminated there). remember: the string is
 * likely to come again as a literal (a name, or the value of a field not indexed).
 *   +---+---+---+---+---+---+---+---+
 *   | H |    String Length (7+)     |
 *   +---+---------------------------+
 *   |  String Data (Length octets)  |
 */
static inline __attribute__((always_inline)) int read_str(hpack_decoder *d, const uint8_t **pp,
                                                         const uint8_t *end, const char **s,
                                                         size_t *len, uint8_t *huff,
                                                         uint32_t *wire, int remember,
                                                         const char **why)
{
    const uint8_t *src = *pp;
    if (src == end) {
        *why = "truncated integer";
        return GW_EPARSE;
    }
    uint32_t h = *src >> 7, n = *src & 0x7f;
    src++;
    if (n == 0x7f) {
        int rv = read_int_long(&src, end, n, &n, why);
        if (rv < 0)
            return rv;
    }
    if (n > d->o.max_string) {
        *why = "string over the limit";
        return GW_ECAP;
    }
    if ((size_t)(end - src) < n) {
        *why = "truncated string";
        return GW_EPARSE;
    }
    *pp = src + n;
    *huff = (uint8_t)h;
    *wire = n;
    /* Codes are at least 5 bits: at most 8n/5 symbols. */
    size_t cap = n, slack = 0;
    if (h) {
        cap = (size_t)n * 8 / 5;
        if (cap > d->o.max_string)
            cap = d->o.max_string;
        else
            slack = 2; /* no decode can exceed cap: room for the decoder's pair stores lets it
                          take its fast path */
    }
    char *p = scratch_reserve(d, cap + 1 + slack);
    if (!p) {
        *why = "out of memory";
        return GW_ENOMEM;
    }
    size_t got = n;
    const memo_slot *m;
    if (!h) {
        hpack_copy(p, (const char *)src, n);
    } else if (remember && n > 0 && n <= MEMO_WIRE && d->memo &&
               (m = memo_find(d->memo, src, n)) != NULL) {
        got = m->out_len;
        hpack_copy(p, m->out, got);
    } else {
        ptrdiff_t r = hpack_huff_decode_why(src, n, (uint8_t *)p, cap + slack, why);
        if (r < 0) {
            if (r == GW_ECAP)
                *why = "string over the limit";
            return (int)r;
        }
        got = (size_t)r;
        if (remember && n > 0 && n <= MEMO_WIRE)
            memo_put(d, src, n, p, got);
    }
    p[got] = 0;
    scratch_commit(d, got);
    *s = p;
    *len = got;
    return 0;
}

/* Resolves an index (RFC 7541 2.3.3) into f's name (and value when want_value). Dynamic
 * entries are not copied: a later insertion in this block may evict the entry, but its octets
 * are not reused until our next block (hpack_dyn_release), which the contract's "borrowed until
 * the next call" allows. */
static inline int lookup(hpack_decoder *d, uint32_t index, int want_value, hpack_field *f,
                         const char **why)
{
    const hpack_entry *e;
    if (index - 1 < 61) {
        e = &hpack_static_table[index - 1];
    } else {
        if (index == 0) {
            *why = "index 0";
            return GW_EPARSE;
        }
        e = hpack_dyn_get(&d->t, (size_t)index - 61);
        if (!e) {
            if (!d->older_unknown) {
                *why = "index beyond the table";
                return GW_EPARSE;
            }
            f->name = "";
            f->name_len = 0;
            f->unknown_name = 1;
            if (want_value) {
                f->value = "";
                f->value_len = 0;
                f->unknown_value = 1;
            }
            return 0;
        }
    }
    if (e->name_unknown) {
        f->name = "";
        f->name_len = 0;
        f->unknown_name = 1;
    } else {
        f->name = e->name;
        f->name_len = e->name_len;
        f->name_static = e->ref.name_static;
    }
    if (want_value) {
        f->value = e->value;
        f->value_len = e->value_len;
    }
    return 0;
}

/* The state of one block's decoding, shared by the loop in decode() and field(). Fields go to a
 * callback (hpack_decode_block), or to the end of a caller's growable array (hpack_decode_into),
 * which saves a copy and a call per field. */
typedef struct dstate {
    hpack_decoder *d;
    const uint8_t *c, *end; /* the octets left */
    int into;               /* fields go to arr, else to cb */
    int fields;             /* field() decoded a field (the fast path's show in nf) */
    int dropped;            /* growing arr failed: the rest of the block is decoded, not kept */
    int unknown;            /* some field had unknown_name or unknown_value */
    int stopped;            /* the callback asked to stop */
    int scratch;            /* field() reset the scratch for this block */
    hpack_field *arr;       /* into: nf fields of cap; the block's from nf0 */
    size_t nf, cap, nf0;
    size_t list;            /* the block's header list size (RFC 9113 6.5.2) so far */
    hpack_field_cb cb;      /* into: the spill (sees the fields not kept), may be NULL */
    void *u;
    const char *w;          /* why decoding failed */
    hpack_field spare;      /* the field being decoded when it has no slot in arr */
} dstate;

/* The array of cap fields is full: a larger one (doubling from 16) and its capacity, or NULL.
 * Out of line: it runs a few times per decoder. */
static __attribute__((noinline)) hpack_field *sink_grow(hpack_field *arr, size_t cap,
                                                        size_t *ncap)
{
    size_t nc = cap ? cap * 2 : 16;
    hpack_field *nf = nc <= SIZE_MAX / sizeof *nf ? gw_realloc(arr, nc * sizeof *nf) : NULL;
    *ncap = nc;
    return nf;
}

/* One representation at s->c, by the general path: every representation and every error.
 * Every member of the field is set on the way (no clearing first). Returns 0 or the error
 * (s->w says why). Out of line, so that decode()'s fast path keeps its registers. */
static __attribute__((noinline)) int field(dstate *s)
{
    hpack_decoder *d = s->d;
    hpack_field *f = &s->spare;
    uint32_t b = *s->c, index;
    int rv;
    if (!s->scratch) { /* (blocks that never come here keep the last one's strings) */
        scratch_reset(d);
        s->scratch = 1;
    }
    if (s->into && !s->dropped) {
        if (s->nf == s->cap) {
            size_t nc;
            hpack_field *na = sink_grow(s->arr, s->cap, &nc);
            if (na) {
                s->arr = na;
                s->cap = nc;
            } else {
                s->dropped = 1; /* nf then stays at cap */
            }
        }
        if (!s->dropped)
            f = &s->arr[s->nf];
    }
    f->unknown_name = f->unknown_value = 0;
    f->name_static = 0;
    f->name_huff = f->value_huff = 0;
    f->name_wire = f->value_wire = 0;
    if (b & 0x80) {
        /* 6.1 Indexed Header Field: 1 + 7-bit index. */
        f->rep = HPACK_INDEXED;
        if ((rv = read_int(&s->c, s->end, 0x7f, &index, &s->w)) < 0)
            return rv;
        f->index = index;
        if ((rv = lookup(d, index, 1, f, &s->w)) < 0)
            return rv;
    } else if ((b & 0xe0) == 0x20) {
        /* 6.3 Dynamic Table Size Update: 001 + 5-bit max size, only before the first field
         * (RFC 7541 4.2). */
        if (s->fields || s->nf != s->nf0) {
            s->w = "table size update after a field";
            return GW_EPARSE;
        }
        if ((rv = read_int(&s->c, s->end, 0x1f, &index, &s->w)) < 0)
            return rv;
        if (index > d->limit) {
            s->w = "table size update over the limit";
            return GW_EPARSE;
        }
        uint64_t ev = d->t.evictions;
        d->gen++;
        hpack_dyn_set_max(&d->t, index);
        check_resync(d, ev);
        return 0;
    } else {
        uint32_t mask;
        uint8_t rep;
        if (b & 0x40) {
            rep = HPACK_INC_INDEXED_NAME; /* 6.2.1: 01 + 6-bit name index */
            mask = 0x3f;
        } else if (b & 0x10) {
            rep = HPACK_NEVER_INDEXED_NAME; /* 6.2.3: 0001 + 4-bit name index */
            mask = 0x0f;
        } else {
            rep = HPACK_NOIDX_INDEXED_NAME; /* 6.2.2: 0000 + 4-bit name index */
            mask = 0x0f;
        }
        if ((rv = read_int(&s->c, s->end, mask, &index, &s->w)) < 0)
            return rv;
        int remember = rep != HPACK_INC_INDEXED_NAME;
        f->index = index;
        if (index == 0) {
            rep++; /* the New Name variant follows each Indexed Name one in the enum */
            /* A literal name comes again whatever the representation (grpc-python sends
             * grpc-timeout as a new name with incremental indexing in every request). */
            if ((rv = read_str(d, &s->c, s->end, &f->name, &f->name_len, &f->name_huff,
                               &f->name_wire, 1, &s->w)) < 0)
                return rv;
        } else if ((rv = lookup(d, index, 0, f, &s->w)) < 0) {
            return rv;
        }
        f->rep = rep;
        if ((rv = read_str(d, &s->c, s->end, &f->value, &f->value_len, &f->value_huff,
                           &f->value_wire, remember, &s->w)) < 0)
            return rv;
    }
    s->fields = 1;
    /* RFC 9113 6.5.2: name + value + 32 per field. */
    s->list += f->name_len + f->value_len + HPACK_ENTRY_OVERHEAD;
    if (s->list > d->o.max_header_list) {
        s->w = "header list over the limit";
        return GW_ECAP;
    }
    if (f->rep == HPACK_INC_INDEXED_NAME || f->rep == HPACK_INC_NEW_NAME) {
        uint64_t ev = d->t.evictions;
        d->gen++;
        if ((rv = hpack_dyn_insert(&d->t, f->name, f->name_len, f->value, f->value_len,
                                   f->unknown_name, f->name_static)) < 0) {
            s->w = "out of memory";
            return rv;
        }
        check_resync(d, ev);
    }
    if (s->into) {
        s->unknown |= f->unknown_name | f->unknown_value;
        if (f != &s->spare)
            s->nf++;
        else if (s->cb)
            s->cb(s->u, f);
    } else if (s->cb && s->cb(s->u, f) != 0) {
        /* After the callback asks to stop we still decode, silently: later blocks need the
         * table this one builds. */
        s->stopped = 1;
        s->cb = NULL;
    }
    return 0;
}

/* 6.2.1 Literal Header Field with Incremental Indexing, its name a known entry's (or a literal
 * the memo has), its value short: the value decoded straight into the dynamic table, and the
 * field made of the new entry, with no copy through scratch. What field() and hpack_dyn_insert
 * would do, settled, in their order (header list before insertion); anything else (an error, a
 * table to grow, an entry larger than the table) returns NULL having changed nothing but octets
 * of the arena not yet taken, and field() takes the representation. A busy gRPC client sends
 * one per request: grpc-timeout changes with every call. budget: max_header_list - list (the
 * caller takes the field's share off it). */
static __attribute__((noinline)) const uint8_t *
literal_inc(hpack_decoder *d, const uint8_t *c, const uint8_t *end, hpack_field *f, size_t budget)
{
    hpack_dyn *t = &d->t;
    uint32_t index = *c & 0x3f, n;
    const uint8_t *q = c + 1;
    const char *name;
    size_t nl;
    /* The field's members as they become known (the slot is the caller's to rewrite if this
     * gives up), so that they need no register until the end. */
    f->rep = HPACK_INC_INDEXED_NAME;
    f->name_huff = 0;
    f->name_wire = 0;
    f->unknown_name = f->unknown_value = 0;
    f->name_static = 0;
    if (q == end)
        return NULL;
    if (index == 0x3f) { /* one continuation octet at most */
        if (*q & 0x80)
            return NULL;
        index += *q++;
        if (q == end)
            return NULL;
    }
    f->index = index;
    if (index == 0) { /* a new name: sent as is, or Huffman coded and remembered */
        if (end - q < 2)
            return NULL;
        n = *q & 0x7f;
        f->rep = HPACK_INC_NEW_NAME;
        f->name_huff = *q >> 7;
        f->name_wire = n;
        q++;
        if (n == 0x7f || n > (size_t)(end - q) - 1 || n > d->o.max_string)
            return NULL;
        if (f->name_huff) {
            const memo_slot *m;
            if (n == 0 || n > MEMO_WIRE || !d->memo || !(m = memo_find(d->memo, q, n)))
                return NULL;
            name = m->out;
            nl = m->out_len;
        } else {
            name = (const char *)q;
            nl = n;
        }
        q += n;
    } else {
        const hpack_entry *e;
        if (index <= 61) {
            e = &hpack_static_table[index - 1];
        } else {
            if ((size_t)index - 62 >= t->count)
                return NULL;
            e = &t->ring[(t->top + 61 - index) & t->mask];
            if (e->name_unknown)
                return NULL;
        }
        name = e->name;
        nl = e->name_len;
        f->name_static = e->ref.name_static;
    }
    if (q == end)
        return NULL;
    uint32_t h = *q >> 7;
    n = *q & 0x7f;
    q++;
    if (n == 0x7f || n > (size_t)(end - q) || n > d->o.max_string)
        return NULL;
    f->value_huff = (uint8_t)h;
    f->value_wire = n;
    /* Room for name, value, NULs, and the Huffman decoder's pair store past the end. */
    size_t vmax = h ? (size_t)n * 8 / 5 : n, pos;
    if (vmax > d->o.max_string)
        return NULL;
    char *p = hpack_dyn_room(t, nl + vmax + 4, &pos);
    if (!p)
        return NULL;
    hpack_copy(p, name, nl);
    p[nl] = 0;
    char *v = p + nl + 1;
    size_t vl = n;
    if (h) {
        ptrdiff_t r = hpack_huff_fast(q, n, (uint8_t *)v); /* (table built: decoder_new) */
        if (r < 0)
            return NULL;
        vl = (size_t)r;
    } else {
        hpack_copy(v, (const char *)q, n);
    }
    v[vl] = 0;
    size_t need = HPACK_ENTRY_OVERHEAD + nl + vl;
    if (need > budget || need > t->max)
        return NULL;
    if (t->count == t->cap && t->size <= t->max - need)
        return NULL; /* no eviction frees a slot: the ring must grow */
    /* From here on, as decided. */
    uint64_t ev = t->evictions;
    d->gen++;
    hpack_dyn_evict_to(t, t->max - need);
    t->head = pos + nl + vl + 2;
    hpack_entry *e = &t->ring[t->top++ & t->mask];
    hpack_dyn_ref(e, p, nl, v, vl, f->name_static);
    e->size = (uint32_t)need;
    e->name_unknown = 0;
    t->count++;
    t->size += need;
    check_resync(d, ev);
    f->name = p;
    f->name_len = nl;
    f->value = v;
    f->value_len = vl;
    return q + n;
}

/* At the start of a block: the previous block's fields are no longer borrowed. After an arena
 * was outgrown this moves the entries into one (see hpack_dyn), so blocks cached with pointers
 * to them are stale: a new generation. */
static inline void release(hpack_decoder *d)
{
    if (d->t.retired)
        d->gen++;
    hpack_dyn_release(&d->t);
}

/* Ends a block's decoding: after an error the table is in an unknown state. */
static int finish(hpack_decoder *d, int rv, int stopped, const char *w, const char **why)
{
    if (rv < 0) {
        hpack_decoder_desync(d);
        if (stopped)
            rv = 0; /* the caller was done with this block; the decoder is now unsynced */
    }
    if (why)
        *why = rv < 0 ? w : NULL;
    return rv;
}

static void dstate_init(dstate *s, hpack_decoder *d, const uint8_t *p, size_t n, int into,
                        hpack_field *arr, size_t nf, size_t cap, hpack_field_cb cb, void *u)
{
    s->d = d;
    s->c = p;
    s->end = p + n;
    s->into = into;
    s->fields = s->dropped = s->unknown = s->stopped = s->scratch = 0;
    s->arr = arr;
    s->nf = s->nf0 = nf;
    s->cap = cap;
    s->list = 0;
    s->cb = cb;
    s->u = u;
    s->w = NULL;
}

int hpack_decode_block(hpack_decoder *d, const uint8_t *p, size_t n, hpack_field_cb cb, void *u,
                       const char **why)
{
    dstate s;
    int rv = 0;
    dstate_init(&s, d, p, n, 0, NULL, 0, 0, cb, u);
    release(d);
    while (s.c < s.end && (rv = field(&s)) == 0)
        ;
    return finish(d, rv, s.stopped, s.w, why);
}

/* The block's octets as a cache key when it may be cached: 1 to BC_WIRE octets, each a
 * one-octet Indexed Header Field (index 1..126). Else 0 (never a valid key: octets are >= 0x81). */
static inline uint64_t bc_key(const uint8_t *p, size_t n)
{
    if (n == 2) /* the usual response and trailers: two fields */
        return (uint8_t)(p[0] - 0x81) < 0x7e && (uint8_t)(p[1] - 0x81) < 0x7e
                   ? (uint64_t)p[0] | (uint64_t)p[1] << 8
                   : 0;
    if (n == 0 || n > BC_WIRE)
        return 0;
    uint64_t key = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] <= 0x80 || p[i] == 0xff)
            return 0;
        key |= (uint64_t)p[i] << (8 * i);
    }
    return key;
}

/* Runs of fields that are references to known entries, from c: what field() would do for
 * them, settled (an Indexed Header Field, its index in one octet or two (past 126: a table of
 * over 65 entries), with a slot for it; once growing the array failed, nf stays at cap: never
 * here). Most fields of a busy connection. Stops at anything else, or with *rv set when the
 * header list goes over budget (the field is then not counted). budget: as decode_miss's.
 * checked: 0 when the budget covers any fields the rest of the block can hold (each octet a
 * reference to the largest entry there can be), so that no field needs the check. */
static inline __attribute__((always_inline)) const uint8_t *
indexed_run(const hpack_dyn *t, const uint8_t *c, const uint8_t *end, hpack_field **fpp,
            const hpack_field *fend, size_t *budgetp, int checked, int *rv)
{
    hpack_field *fp = *fpp;
    size_t budget = *budgetp;
    /* Each field takes an octet at least: stopping lim octets on, no field lacks a slot. */
    const uint8_t *lim = (size_t)(fend - fp) < (size_t)(end - c) ? c + (fend - fp) : end;
    while (c < lim) {
        uint32_t b = *c;
        const hpack_entry *e;
        if (b - 0xbe <= 0xfe - 0xbe) { /* 62..126: the dynamic table's first 65 */
            if (b - 0xbe >= t->count)
                break;
            e = &t->ring[(t->top - 1 - (b - 0xbe)) & t->mask];
            if (e->name_unknown)
                break;
            *fp = e->ref;
            fp->index = b - 0x80;
            c++;
        } else if (b - 0x81 < 61) { /* (the static entry's ref has its index) */
            e = &hpack_static_table[b - 0x81];
            *fp = e->ref;
            c++;
        } else if (b == 0xff && end - c >= 2 && !(c[1] & 0x80)) { /* 127..254 */
            uint32_t index = 127 + c[1];
            if (index - 62 >= t->count)
                break;
            e = &t->ring[(t->top + 61 - index) & t->mask];
            if (e->name_unknown)
                break;
            *fp = e->ref;
            fp->index = index;
            c += 2;
        } else {
            break;
        }
        if (checked && e->size > budget) {
            *rv = GW_ECAP;
            break;
        }
        budget -= e->size;
        fp++;
    }
    *fpp = fp;
    *budgetp = budget;
    return c;
}

/* The decode of a block the cache did not have, into the caller's array; remembers the block
 * when it may be cached. References to known entries, and the usual literal with
 * incremental indexing, take fast paths; the rest, and whatever those do not settle, go
 * through field(), whose state is set up at its first use. Out of line, so that a cache hit
 * does not pay for the registers. */
/* arr + i, and fp - arr, for an array that may not exist yet (NULL + 0 is undefined). */
static inline hpack_field *field_at(hpack_field *arr, size_t i) { return arr ? arr + i : NULL; }
static inline size_t fields_before(const hpack_field *fp, const hpack_field *arr)
{
    return arr ? (size_t)(fp - arr) : 0;
}

static __attribute__((noinline)) int decode_miss(hpack_decoder *d, const uint8_t *p, size_t n,
                                                 hpack_into *io)
{
    const uint8_t *c = p, *end = p + n;
    hpack_field *arr = io->fields;
    hpack_field *fp = field_at(arr, io->nfields), *fend = field_at(arr, io->cap);
    const size_t nf0 = io->nfields, max_list = d->o.max_header_list;
    size_t budget = max_list; /* max_list - the header list size (RFC 9113 6.5.2) so far */
    dstate s;
    int general = 0, rv = 0; /* general: s is set up */
    const char *w = NULL;
    /* No field of the block needs the header list check when each of its octets could be a
     * reference to the largest entry there can be: 32 + the limit for the table's maximum (at
     * most 2^24), or a static one (under 80), and the list still fit. A literal, or a field
     * field() decodes, takes no more per octet. (The product is under 2^57.) */
    const int checked = !(n < ((size_t)1 << 32) &&
                          n * (HPACK_ENTRY_OVERHEAD + 80 + d->limit) < max_list);
    release(d);
    while (c < end) {
        const uint8_t *c0 = c;
        if (!arr || fp >= fend)
            ; /* no slot (or no array yet): the general path grows it */
        else if (!checked)
            c = indexed_run(&d->t, c, end, &fp, fend, &budget, 0, &rv);
        else
            c = indexed_run(&d->t, c, end, &fp, fend, &budget, 1, &rv);
        if (rv < 0) {
            w = "header list over the limit";
            goto out;
        }
        if (c == end)
            break;
        if (c != c0 && (*c & 0x80))
            continue; /* the run stopped for want of slots it may still have */
        if ((*c & 0xc0) == 0x40 && arr && fp < fend) {
            const uint8_t *next = literal_inc(d, c, end, fp, budget);
            if (next) {
                budget -= fp->name_len + fp->value_len + HPACK_ENTRY_OVERHEAD;
                fp++;
                c = next;
                continue;
            }
        }
        if (!general) {
            dstate_init(&s, d, c, (size_t)(end - c), 1, arr, 0, io->cap, io->spill, io->u);
            s.nf0 = nf0;
            general = 1;
        }
        s.c = c;
        s.nf = fields_before(fp, arr);
        s.list = max_list - budget;
        rv = field(&s);
        arr = s.arr;
        fp = field_at(arr, s.nf);
        if (rv < 0) {
            w = s.w;
            goto out;
        }
        c = s.c;
        fend = field_at(arr, s.cap);
        budget = max_list - s.list;
    }
out:
    io->fields = arr;
    io->nfields = fields_before(fp, arr);
    if (general) {
        io->cap = s.cap;
        io->dropped = s.dropped;
        io->unknown = s.unknown;
    } else {
        io->dropped = io->unknown = 0;
    }
    if (rv < 0) {
        io->field_bytes = 0;
        return finish(d, rv, 0, w, &io->why);
    }
    io->why = NULL;
    size_t got = io->nfields - nf0;
    if (io->dropped) {
        io->field_bytes = 0;
        return 0;
    }
    /* name + value + 2 per field, from the header list size (name + value + 32 per field). */
    io->field_bytes = max_list - budget - (HPACK_ENTRY_OVERHEAD - 2) * got;
    uint64_t key;
    if (got == n && (key = bc_key(p, n)) != 0) {
        if (!d->bc && !(d->bc = gw_calloc(1, sizeof *d->bc)))
            return rv; /* only a cache */
        bc_slot *bs = &d->bc->s[d->bc->next];
        d->bc->next = (d->bc->next + 1) % BC_SLOTS;
        bs->gen = d->gen;
        bs->key = key;
        bs->n = (uint8_t)n;
        bs->unknown = (uint8_t)io->unknown;
        bs->field_bytes = (uint32_t)io->field_bytes; /* at most 8 indexed fields: small */
        memcpy(bs->f, arr + nf0, n * sizeof bs->f[0]);
    }
    return rv;
}

/* A cache hit (see bcache): appends the slot's fields, or returns 0 when there is none. The
 * octets are compared as they come: a slot holds valid ones only, so equal octets are valid.
 * (No release() as decode_miss does: only a decode writes to the arena, and it releases
 * first.) */
static inline int bc_hit(const hpack_decoder *d, const uint8_t *p, size_t n, hpack_into *io)
{
    uint64_t key;
    if (n == 2) { /* the usual response and trailers: two fields */
        key = (uint64_t)p[0] | (uint64_t)p[1] << 8;
    } else {
        if (n - 1 >= BC_WIRE)
            return 0;
        key = 0;
        for (size_t i = 0; i < n; i++)
            key |= (uint64_t)p[i] << (8 * i);
    }
    const bcache *bc = d->bc;
    for (unsigned i = 0; i < BC_SLOTS; i++) {
        const bc_slot *s = &bc->s[i];
        if (s->key != key || s->gen != d->gen || s->n != n || io->cap - io->nfields < n)
            continue;
        hpack_field *dst = io->fields + io->nfields;
        for (size_t j = 0; j < n; j++)
            dst[j] = s->f[j];
        io->nfields += n;
        io->unknown = s->unknown;
        io->field_bytes = s->field_bytes;
        return 1;
    }
    return 0;
}

int hpack_decode_into(hpack_decoder *d, const uint8_t *p, size_t n, hpack_into *io)
{
    if (d->bc && bc_hit(d, p, n, io)) {
        io->dropped = 0;
        io->why = NULL;
        return 0;
    }
    return decode_miss(d, p, n, io);
}

int hpack_decode_block_into(hpack_decoder *d, const uint8_t *p, size_t n, hpack_field **fields,
                            size_t *nfields, size_t *cap, hpack_field_cb spill, void *u,
                            int *dropped, int *unknown, const char **why)
{
    hpack_into io = {*fields, *nfields, *cap, spill, u, 0, 0, NULL, 0};
    int rv = hpack_decode_into(d, p, n, &io);
    *fields = io.fields;
    *nfields = io.nfields;
    *cap = io.cap;
    *dropped = io.dropped;
    *unknown = io.unknown;
    if (why)
        *why = io.why;
    return rv;
}
