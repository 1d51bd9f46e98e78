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
#include "gw_cur.h"
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
 * can change what an index resolves to (insertion, eviction, size update, desync, an error).
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
 */
static int read_int_long(gw_cur *c, uint64_t v, uint32_t *out, const char **why)
{
    for (unsigned shift = 0;; shift += 7) {
        uint8_t b = gw_cur_u8(c);
        if (!gw_cur_ok(c)) {
            *why = "truncated integer";
            return GW_EPARSE;
        }
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
    *out = (uint32_t)v;
    return 0;
}

/* Most integers fit their prefix: one octet, inline. */
static inline int read_int(gw_cur *c, unsigned nbits, uint32_t *out, const char **why)
{
    uint32_t mask = (1u << nbits) - 1;
    if (c->err || c->p == c->end) {
        c->err = 1;
        *why = "truncated integer";
        return GW_EPARSE;
    }
    uint32_t v = *c->p++ & mask;
    if (v != mask) {
        *out = v;
        return 0;
    }
    return read_int_long(c, v, out, why);
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
static inline __attribute__((always_inline)) int read_str(hpack_decoder *d, gw_cur *c,
                                                         const char **s, size_t *len,
                                                         uint8_t *huff, uint32_t *wire,
                                                         int remember, const char **why)
{
    uint32_t n;
    int h = gw_cur_left(c) > 0 && (*c->p & 0x80);
    int rv = read_int(c, 7, &n, why);
    if (rv < 0)
        return rv;
    if (n > d->o.max_string) {
        *why = "string over the limit";
        return GW_ECAP;
    }
    const uint8_t *src = gw_cur_bytes(c, n);
    if (!src) {
        *why = "truncated string";
        return GW_EPARSE;
    }
    *huff = (uint8_t)h;
    *wire = n;
    /* Codes are at least 5 bits: at most 8n/5 symbols. */
    size_t cap = n, slack = 0;
    if (h) {
        cap = (size_t)n * 8 / 5;
        if (cap > d->o.max_string)
            cap = d->o.max_string;
        else
            slack = 2; /* no decode can exceed cap: room for the decoder's pair stores lets its
                          fast loop take every octet */
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
 * entries are not copied: a later insertion in this block may evict the entry, but the table
 * retires evicted buffers until our next block (hpack_dyn_release), which the contract's
 * "borrowed until the next call" allows. */
static inline int lookup(hpack_decoder *d, uint32_t index, int want_value, hpack_field *f,
                  const char **why)
{
    if (index - 1 < 61) {
        const hpack_static_entry *s = &hpack_static_table[index - 1];
        f->name = s->name;
        f->name_len = s->name_len;
        f->name_static = (uint8_t)index;
        if (want_value) {
            f->value = s->value;
            f->value_len = s->value_len;
        }
        return 0;
    }
    if (index == 0) {
        *why = "index 0";
        return GW_EPARSE;
    }
    const hpack_entry *e = hpack_dyn_get(&d->t, (size_t)index - 61);
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
    if (e->name_unknown) {
        f->name = "";
        f->name_len = 0;
        f->unknown_name = 1;
    } else {
        f->name = e->name;
        f->name_len = e->name_len;
        f->name_static = e->name_static;
    }
    if (want_value) {
        f->value = e->value;
        f->value_len = e->value_len;
    }
    return 0;
}

/* Where decoded fields go: a callback (hpack_decode_block), or the end of a caller's growable
 * array (hpack_decode_block_into), which saves a copy and a call per field. */
typedef struct sink {
    hpack_field **arr;
    size_t *n, *cap;
    int dropped; /* growing failed: the rest of the block's fields are decoded, not kept */
    int unknown; /* some field had unknown_name or unknown_value */
    size_t list; /* the block's header list size (RFC 9113 6.5.2) so far, kept fields or not */
    hpack_field_cb spill; /* sees the fields not kept; may be NULL */
    void *u;
} sink;

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

/* The one decoder; inlined into both entry points so that each has its own delivery. Every
 * member of the field is set on the way (no clearing first): it runs once per field. */
static inline __attribute__((always_inline)) int decode(hpack_decoder *d, const uint8_t *p,
                                                        size_t n, hpack_field_cb cb, void *u,
                                                        sink *k, const char **why)
{
    const char *w = NULL;
    int rv = 0, stopped = 0, fields = 0;
    size_t list = 0;
    hpack_field spare; /* the field being decoded when it has no slot in the array */
    /* The sink's array in locals (registers) until the end. */
    hpack_field *arr = k ? *k->arr : NULL;
    size_t nf = k ? *k->n : 0, cap = k ? *k->cap : 0;
    int dropped = 0, unknown = 0;
    gw_cur c = gw_cur_make(p, n);
    if (d->t.retired)
        hpack_dyn_release(&d->t); /* the previous block's fields are no longer borrowed */
    scratch_reset(d);
    /* c.err stays 0 inside the loop: every failed read leaves it. */
    while (c.p < c.end) {
        uint8_t b = *c.p;
        uint32_t index;
        hpack_field *f = &spare;
        /* (Once growing failed, nf stays at cap: no slot, as !dropped would say.) */
        if (k && (uint8_t)(b - 0x81) < 0x7e && nf < cap) {
            /* A one-octet Indexed Header Field of a known entry, into the array: the general
             * path below, with what it decides for such a field settled already. */
            index = b & 0x7f;
            const char *nm, *val;
            size_t nl, vl;
            uint8_t ns;
            if (index <= 61) {
                const hpack_static_entry *se = &hpack_static_table[index - 1];
                nm = se->name;
                nl = se->name_len;
                val = se->value;
                vl = se->value_len;
                ns = (uint8_t)index;
            } else {
                const hpack_entry *e = hpack_dyn_get(&d->t, (size_t)index - 61);
                if (!e || e->name_unknown)
                    goto general;
                nm = e->name;
                nl = e->name_len;
                val = e->value;
                vl = e->value_len;
                ns = e->name_static;
            }
            c.p++;
            f = &arr[nf];
            f->name = nm;
            f->name_len = nl;
            f->value = val;
            f->value_len = vl;
            f->rep = HPACK_INDEXED;
            f->index = index;
            f->name_huff = f->value_huff = 0;
            f->name_wire = f->value_wire = 0;
            f->unknown_name = f->unknown_value = 0;
            f->name_static = ns;
            fields = 1;
            list += nl + vl + HPACK_ENTRY_OVERHEAD;
            if (list > d->o.max_header_list) {
                w = "header list over the limit";
                rv = GW_ECAP;
                goto out;
            }
            nf++;
            continue;
        }
    general:
        if (k && !dropped) {
            if (nf == cap) {
                size_t nc;
                hpack_field *na = sink_grow(arr, cap, &nc);
                if (na) {
                    arr = na;
                    cap = nc;
                } else {
                    dropped = 1;
                }
            }
            if (!dropped)
                f = &arr[nf];
        }
        f->unknown_name = f->unknown_value = 0;
        f->name_static = 0;
        f->name_huff = f->value_huff = 0;
        f->name_wire = f->value_wire = 0;
        if (b & 0x80) {
            /* 6.1 Indexed Header Field: 1 + 7-bit index. Most fields of a busy connection. */
            f->rep = HPACK_INDEXED;
            index = b & 0x7f;
            if (index < 0x7f)
                c.p++;
            else if ((rv = read_int(&c, 7, &index, &w)) < 0)
                goto out;
            f->index = index;
            if ((rv = lookup(d, index, 1, f, &w)) < 0)
                goto out;
        } else if ((b & 0xe0) == 0x20) {
            /* 6.3 Dynamic Table Size Update: 001 + 5-bit max size, only before the first field
             * (RFC 7541 4.2). */
            if (fields) {
                w = "table size update after a field";
                rv = GW_EPARSE;
                goto out;
            }
            if ((rv = read_int(&c, 5, &index, &w)) < 0)
                goto out;
            if (index > d->limit) {
                w = "table size update over the limit";
                rv = GW_EPARSE;
                goto out;
            }
            uint64_t ev = d->t.evictions;
            d->gen++;
            hpack_dyn_set_max(&d->t, index);
            check_resync(d, ev);
            continue;
        } else {
            unsigned nbits;
            uint8_t rep;
            if (b & 0x40) {
                rep = HPACK_INC_INDEXED_NAME; /* 6.2.1: 01 + 6-bit name index */
                nbits = 6;
            } else if (b & 0x10) {
                rep = HPACK_NEVER_INDEXED_NAME; /* 6.2.3: 0001 + 4-bit name index */
                nbits = 4;
            } else {
                rep = HPACK_NOIDX_INDEXED_NAME; /* 6.2.2: 0000 + 4-bit name index */
                nbits = 4;
            }
            if ((rv = read_int(&c, nbits, &index, &w)) < 0)
                goto out;
            int remember = rep != HPACK_INC_INDEXED_NAME;
            f->index = index;
            if (index == 0) {
                rep++; /* the New Name variant follows each Indexed Name one in the enum */
                /* A literal name comes again whatever the representation (grpc-python sends
                 * grpc-timeout as a new name with incremental indexing in every request). */
                if ((rv = read_str(d, &c, &f->name, &f->name_len, &f->name_huff, &f->name_wire,
                                   1, &w)) < 0)
                    goto out;
            } else if ((rv = lookup(d, index, 0, f, &w)) < 0) {
                goto out;
            }
            f->rep = rep;
            if ((rv = read_str(d, &c, &f->value, &f->value_len, &f->value_huff, &f->value_wire,
                               remember, &w)) < 0)
                goto out;
        }
        fields = 1;
        /* RFC 9113 6.5.2: name + value + 32 per field. */
        list += f->name_len + f->value_len + HPACK_ENTRY_OVERHEAD;
        if (list > d->o.max_header_list) {
            w = "header list over the limit";
            rv = GW_ECAP;
            goto out;
        }
        if (f->rep == HPACK_INC_INDEXED_NAME || f->rep == HPACK_INC_NEW_NAME) {
            uint64_t ev = d->t.evictions;
            d->gen++;
            if ((rv = hpack_dyn_insert(&d->t, f->name, f->name_len, f->value, f->value_len,
                                       f->unknown_name)) < 0) {
                w = "out of memory";
                goto out;
            }
            if (f->name_static && d->t.count) { /* inserted: the newest entry */
                size_t e = d->t.first + d->t.count - 1;
                d->t.ring[e >= d->t.cap ? e - d->t.cap : e].name_static = f->name_static;
            }
            check_resync(d, ev);
        }
        if (k) {
            unknown |= f->unknown_name | f->unknown_value;
            if (f != &spare)
                nf++;
            else if (k->spill)
                k->spill(k->u, f);
        } else if (cb && cb(u, f) != 0) {
            /* After the callback asks to stop we still decode, silently: later blocks need
             * the table this one builds. */
            stopped = 1;
            cb = NULL;
        }
    }
out:
    if (k) {
        *k->arr = arr;
        *k->n = nf;
        *k->cap = cap;
        k->dropped = dropped;
        k->unknown = unknown;
        k->list = list;
    }
    if (rv < 0) {
        hpack_decoder_desync(d);
        if (stopped)
            rv = 0; /* the caller was done with this block; the decoder is now unsynced */
    }
    if (why)
        *why = rv < 0 ? w : NULL;
    return rv;
}

int hpack_decode_block(hpack_decoder *d, const uint8_t *p, size_t n, hpack_field_cb cb, void *u,
                       const char **why)
{
    return decode(d, p, n, cb, u, NULL, why);
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

/* Sum of name_len + value_len + 2 over the fields of a block decoded whole, from its header
 * list size (name + value + 32 per field). */
static inline size_t field_bytes(const sink *k, size_t nfields)
{
    return k->list - (size_t)(HPACK_ENTRY_OVERHEAD - 2) * nfields;
}

/* The decode of a block the cache did not have; remembers it when it may be cached (key). Out
 * of line, so that a hit does not pay for the decoder's registers. */
static __attribute__((noinline)) int decode_into(hpack_decoder *d, const uint8_t *p, size_t n,
                                                 uint64_t key, sink *k, size_t *bytes,
                                                 const char **why)
{
    size_t first = *k->n;
    int rv = decode(d, p, n, NULL, NULL, k, why);
    *bytes = rv == 0 && !k->dropped ? field_bytes(k, *k->n - first) : 0;
    if (key && rv == 0 && !k->dropped && *k->n - first == n) {
        if (!d->bc && !(d->bc = gw_calloc(1, sizeof *d->bc)))
            return rv; /* only a cache */
        bc_slot *s = &d->bc->s[d->bc->next];
        d->bc->next = (d->bc->next + 1) % BC_SLOTS;
        s->gen = d->gen;
        s->key = key;
        s->n = (uint8_t)n;
        s->unknown = (uint8_t)k->unknown;
        s->field_bytes = (uint32_t)*bytes; /* at most 8 indexed fields: small */
        memcpy(s->f, *k->arr + first, n * sizeof s->f[0]);
    }
    return rv;
}

/* A cache hit (see bcache): appends the slot's fields, or returns 0 when there is none. */
static inline int bc_hit(hpack_decoder *d, const uint8_t *p, size_t n, uint64_t key,
                         hpack_field *fields, size_t *nfields, size_t cap, int *unknown,
                         size_t *bytes)
{
    (void)p;
    for (unsigned i = 0; i < BC_SLOTS; i++) {
        const bc_slot *s = &d->bc->s[i];
        if (s->key != key || s->gen != d->gen || cap - *nfields < n)
            continue; /* (equal keys have equal lengths: octets are nonzero) */
        if (d->t.retired)
            hpack_dyn_release(&d->t); /* as decode(): earlier fields are no longer borrowed */
        hpack_field *dst = fields + *nfields;
        for (size_t j = 0; j < n; j++)
            dst[j] = s->f[j];
        *nfields += n;
        *unknown = s->unknown;
        *bytes = s->field_bytes;
        return 1;
    }
    return 0;
}

/* hpack_decode_into past the cache. Out of line too: the sink is the caller's only use of
 * the stack. */
static __attribute__((noinline)) int decode_miss(hpack_decoder *d, const uint8_t *p, size_t n,
                                                 uint64_t key, hpack_into *io)
{
    sink k = {&io->fields, &io->nfields, &io->cap, 0, 0, 0, io->spill, io->u};
    int rv = decode_into(d, p, n, key, &k, &io->field_bytes, &io->why);
    io->dropped = k.dropped;
    io->unknown = k.unknown;
    return rv;
}

int hpack_decode_into(hpack_decoder *d, const uint8_t *p, size_t n, hpack_into *io)
{
    uint64_t key = bc_key(p, n);
    if (key && d->bc && bc_hit(d, p, n, key, io->fields, &io->nfields, io->cap, &io->unknown,
                               &io->field_bytes)) {
        io->dropped = 0;
        io->why = NULL;
        return 0;
    }
    return decode_miss(d, p, n, key, io);
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
