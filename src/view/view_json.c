/* The NDJSON records: the public contract documented in docs/json.md. Extend, never break. */
#include "view/view_impl.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <string.h>

#include "common/gw_mem.h"
#include "common/gw_simd.h"
#include "view/view_pb.h"
#include "view/view_schema.h"

/* The writers below reserve an upper bound for a stretch of a record once and then write through
 * a cursor without checks; a stretch ends where another module's writer takes the buffer. */

/* Room for n more bytes of b, or NULL (out of memory: the stretch is left out). */
static inline uint8_t *room(gw_buf *b, size_t n)
{
    return gw_buf_room(b, n) ? NULL : b->data + b->len;
}

static inline void done(gw_buf *b, uint8_t *o) { b->len = (size_t)(o - b->data); }

#define LIT(o, lit) (memcpy((o), "" lit, sizeof(lit) - 1), (o) += sizeof(lit) - 1)
#define NUM_MAX 20 /* digits of a 64-bit integer, with the sign */

static inline uint8_t *put_u64(uint8_t *o, uint64_t v) { return o + gw_u64_into(o, v); }

static inline uint8_t *put_i64(uint8_t *o, int64_t v)
{
    if (v >= 0)
        return put_u64(o, (uint64_t)v);
    *o++ = '-';
    return put_u64(o, 0 - (uint64_t)v);
}

static inline uint8_t *put_bool(uint8_t *o, int v)
{
    if (v) {
        memcpy(o, "true", 4);
        return o + 4;
    }
    memcpy(o, "false", 5);
    return o + 5;
}

/* The length of a string that may be NULL, and the room its JSON needs (6n+2, or "null"). */
static inline size_t slen(const char *s) { return s ? strlen(s) : 0; }
#define STR_MAX(n) (6 * (n) + 4)

/* s (n bytes) as a JSON string, or null for NULL. */
static inline uint8_t *put_str(uint8_t *o, const char *s, size_t n)
{
    if (!s) {
        memcpy(o, "null", 4);
        return o + 4;
    }
    return o + view_json_string_into(o, s, n);
}

/* ,"key": then the integer, or null when negative. */
#define INT_OR_NULL_AT(o, key, v)                                                                  \
    do {                                                                                           \
        int64_t v_ = (v);                                                                          \
        LIT(o, ",\"" key "\":");                                                                   \
        if (v_ < 0)                                                                                \
            LIT(o, "null");                                                                        \
        else                                                                                       \
            o = put_u64(o, (uint64_t)v_);                                                          \
    } while (0)

void view_json_cstr(gw_buf *b, const char *s)
{
    if (s)
        view_json_string(b, s, strlen(s));
    else
        VIEW_PUT(b, "null");
}

/* Header lists longer than this (escaped, worst case) are written piece by piece. */
#define KV_DIRECT_MAX (256u << 10)

/* The room [["name","value"],...] needs at most: 8 bytes per pair around the escaped strings
 * (each at most 6 bytes per byte). The sum can not overflow: the bytes are all in memory. */
static size_t kv_max(const grpc_kv *kv, size_t n)
{
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += kv[i].name_len + kv[i].value_len;
    return 2 + 8 * n + 6 * bytes;
}

/* The first and last 8 bytes of the n >= 1 bytes at p; when n < 8, the bytes packed so that
 * (head, tail) still tells apart any two runs of the same length. */
static inline void ends8(const uint8_t *p, size_t n, uint64_t *head, uint64_t *tail)
{
    if (n >= 8) {
        memcpy(head, p, 8);
        memcpy(tail, p + n - 8, 8);
    } else if (n >= 4) {
        uint32_t x, y;
        memcpy(&x, p, 4);
        memcpy(&y, p + n - 4, 4);
        *head = *tail = x | (uint64_t)y << 32;
    } else {
        *head = *tail = p[0] | (uint64_t)p[n / 2] << 8 | (uint64_t)p[n - 1] << 16;
    }
}

/* 16 * k bytes from s to d in vector moves, where memcpy of a constant size becomes a rep movs
 * (about one instruction per 4 bytes under callgrind). */
#define COPY16S(d, s, k)                                                                           \
    do {                                                                                           \
        for (int c16_ = 0; c16_ < (k); c16_++) {                                                   \
            uint8_t t16_[16];                                                                      \
            memcpy(t16_, (s) + 16 * c16_, 16);                                                     \
            memcpy((d) + 16 * c16_, t16_, 16);                                                     \
        }                                                                                          \
    } while (0)

/* Most header pairs repeat from call to call, and finding one in the memo costs about 60% of
 * escaping it again (callgrind, small unary calls). The key is the name, the byte after it and the value, read as one run (a
 * call's header lists put each value one byte after its name); runs of up to 16 bytes are told
 * apart by their first and last 8 bytes alone. A value that changes on every call
 * (grpc-timeout) would evict the repeating pairs from their slots: a slot hit recently is kept,
 * its credit (hits) spent instead. */
static inline __attribute__((always_inline)) size_t pair_memo(view_json_memo *m, uint8_t *d,
                                                              const char *a, size_t an,
                                                              const char *b, size_t bn)
{
    const uint8_t *k = (const uint8_t *)a;
    size_t kl = an + 1 + bn;
    if ((uintptr_t)b != (uintptr_t)a + an + 1 || kl > VIEW_JSON_PAIR_KEY)
        return view_json_pair_into(d, a, an, b, bn);
    uint64_t head, tail;
    ends8(k, kl, &head, &tail);
    uint64_t h = ((head * 0x9e3779b97f4a7c15u) ^ tail ^ kl) * 0xff51afd7ed558ccdu;
    view_json_pair_slot *s = &m->pair[h >> 55 & (VIEW_JSON_PAIRS - 1)];
    if (s->head == head && s->tail == tail && s->kl == kl && s->nl == an && s->n) {
        size_t i = 8;
        for (; i + 8 < kl; i += 8) { /* the middle of runs over 16 bytes */
            uint64_t x, y;
            memcpy(&x, k + i, 8);
            memcpy(&y, s->key + i, 8);
            if (x != y)
                break;
        }
        if (i + 8 >= kl) {
            if (s->n <= 32) /* a fixed-size copy of the slot's (or its first 32 bytes) */
                COPY16S(d, s->out, 2);
            else
                COPY16S(d, s->out, VIEW_JSON_PAIR_OUT / 16);
            if (s->hits < 3)
                s->hits++;
            return s->n;
        }
    }
    size_t n = view_json_pair_into(d, a, an, b, bn);
    if (s->n && s->hits) {
        s->hits--;
    } else if (n <= VIEW_JSON_PAIR_OUT) {
        s->head = head;
        s->tail = tail;
        s->nl = (uint8_t)an;
        s->kl = (uint8_t)kl;
        s->n = (uint8_t)n;
        gw_copy_small(s->key, k, kl);
        COPY16S(s->out, d, VIEW_JSON_PAIR_OUT / 16); /* d has room for that much */
    }
    return n;
}

size_t view_json_pair_memo(view_json_memo *m, uint8_t *d, const char *a, size_t an, const char *b,
                           size_t bn)
{
    return pair_memo(m, d, a, an, b, bn);
}

/* A connection's calls send almost the same header lists: the response headers and trailers
 * are the same on every call, the request headers differ in :path and grpc-timeout. So each
 * pair is first compared with the pair at the same place of the list of the same kind the same
 * connection slot sent last: no hashing, and most pairs are there (callgrind, 73.8k small
 * unary calls: the three lists 98.4M -> 89.5M). What differs goes through the pair memo and
 * then takes the place.
 * Per thread, not per view (view_impl.h is not this file's): a place's rendering is taken only
 * when its key bytes equal, so which view filled it does not matter. */
#define LIST_SLOTS 16 /* connection slots, a power of two */
#define LIST_PAIRS 10 /* places kept per list; later pairs use the pair memo alone */
#define LIST_KEY 48   /* key bytes a place holds: the name, one byte, the value */
#define LIST_OUT 64   /* rendered bytes a place holds (always copied whole) */
typedef struct list_place {
    uint8_t kl, nl, n; /* key and name lengths, rendering's length; kl 0: empty */
    uint8_t key[LIST_KEY];
    uint8_t out[LIST_OUT];
} list_place;
typedef struct list_memo {
    list_place p[LIST_PAIRS];
} list_memo;
static _Thread_local list_memo lists[3 * LIST_SLOTS];

/* Whether the n bytes at a and b are equal, 1 <= n <= LIST_KEY; b is a place's key (so reads
 * of LIST_KEY bytes there stay inside), a is read only within its n bytes. */
static inline int same_key(const uint8_t *a, const uint8_t *b, size_t n)
{
#if GW_SIMD_X86
    if (n >= 16) {
        __m128i d = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(a + n - 16)),
                                  _mm_loadu_si128((const __m128i *)(b + n - 16)));
        for (size_t i = 0; i + 16 < n; i += 16)
            d = _mm_or_si128(d, _mm_xor_si128(_mm_loadu_si128((const __m128i *)(a + i)),
                                              _mm_loadu_si128((const __m128i *)(b + i))));
        return _mm_movemask_epi8(_mm_cmpeq_epi8(d, _mm_setzero_si128())) == 0xffff;
    }
#endif
    uint64_t x, y;
    if (n >= 8) {
        uint64_t d = 0;
        for (size_t i = 0; i + 8 < n; i += 8) {
            memcpy(&x, a + i, 8);
            memcpy(&y, b + i, 8);
            d |= x ^ y;
        }
        memcpy(&x, a + n - 8, 8);
        memcpy(&y, b + n - 8, 8);
        return (d | (x ^ y)) == 0;
    }
    if (n >= 4) {
        uint32_t p, q, r, t;
        memcpy(&p, a, 4);
        memcpy(&q, b, 4);
        memcpy(&r, a + n - 4, 4);
        memcpy(&t, b + n - 4, 4);
        return p == q && r == t;
    }
    return a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1];
}

/* A place's whole rendering to o (64 bytes, the room's VIEW_JSON_PAIR_OUT covers the excess):
 * vector moves, where memcpy of a constant 64 becomes a rep movs. */
static inline void copy_out(uint8_t *o, const uint8_t *s)
{
#if GW_SIMD_X86
    for (int i = 0; i < LIST_OUT; i += 16)
        _mm_storeu_si128((__m128i *)(o + i), _mm_loadu_si128((const __m128i *)(s + i)));
#else
    memcpy(o, s, LIST_OUT);
#endif
}

/* [["name","value"],...] into o, which has room for kv_max(kv, n) + VIEW_JSON_PAIR_OUT bytes,
 * through the places of lm. */
static uint8_t *kv_into(view_json_memo *m, list_memo *lm, uint8_t *o, const grpc_kv *kv, size_t n)
{
    *o++ = '[';
    size_t places = n < LIST_PAIRS ? n : LIST_PAIRS;
    for (size_t i = 0; i < n; i++) { /* kv: NULL if n 0 */
        *o = ','; /* overwritten before the first pair */
        o += i != 0;
        const grpc_kv *x = &kv[i];
        const char *a = x->name, *b = x->value;
        size_t an = x->name_len, bn = x->value_len, kl = an + 1 + bn, w;
        /* Keyed as the pair memo is: the name, the byte after it, the value, read as one run.
         * A place's kl is 0 (empty) or at most LIST_KEY, so an equal kl is in range. */
        int run = (uintptr_t)b == (uintptr_t)a + an + 1;
        if (i < places) {
            list_place *q = &lm->p[i];
            if (q->kl == kl && q->nl == an && run && same_key((const uint8_t *)a, q->key, kl)) {
                copy_out(o, q->out);
                o += q->n;
                continue;
            }
            w = pair_memo(m, o, a, an, b, bn);
            if (run && kl <= LIST_KEY && w <= LIST_OUT) {
                q->kl = (uint8_t)kl;
                q->nl = (uint8_t)an;
                q->n = (uint8_t)w;
                gw_copy_small(q->key, (const uint8_t *)a, kl);
                copy_out(q->out, o); /* o has room for VIEW_JSON_PAIR_OUT >= LIST_OUT */
            }
        } else {
            w = pair_memo(m, o, a, an, b, bn);
        }
        o += w;
    }
    *o++ = ']';
    return o;
}

void view_json_kv_list(gw_buf *b, const grpc_kv *kv, size_t n)
{
    gw_buf_putc(b, '[');
    for (size_t i = 0; i < n; i++) {
        if (i)
            gw_buf_putc(b, ',');
        gw_buf_putc(b, '[');
        view_json_string(b, kv[i].name, kv[i].name_len);
        gw_buf_putc(b, ',');
        view_json_string(b, kv[i].value, kv[i].value_len);
        gw_buf_putc(b, ']');
    }
    gw_buf_putc(b, ']');
}

/* A message object's body, rendered once (on the writer thread when there is one) and written
 * alone (--json=messages) and inside its call. It owns everything it reads except the view's
 * options, which stay put while jobs run (view_sync before changing schemas). */
typedef struct msg_job {
    view_job j;             /* first */
    grpc_msg m;             /* data -> owned or "", encoding -> enc or enc_short */
    uint8_t *owned;         /* the bytes: taken from the call (grpc_call_take_data) or copied */
    char *enc;              /* a long encoding name, owned; short ones live in enc_short */
    char enc_short[24];
    const pb_msgdef *type;  /* the method's message type, or NULL */
    int fields;             /* render "fields" (a decoded protobuf message) */
    int had_method;         /* the call's method was known when the job was made */
    const view_opts *o;
} msg_job;

/* strcmp(s, "identity") == 0 (the encoding of almost every message) without the call: a byte
 * at a time, stopping at the first difference (so never past the end of a shorter s). */
static int is_identity(const char *s)
{
    static const char want[] = "identity";
    size_t i = 0;
    while (i < sizeof want - 1 && s[i] == want[i])
        i++;
    return i == sizeof want - 1 && s[i] == '\0';
}

/* A message type's full name as a JSON string: the last few rendered on this thread are kept
 * (a call's request and response types alternate), keyed by the type's address and the
 * schemas' generation (which no other schemas object shares, and which changes when they do),
 * so an address can not stand for another type. Returns the bytes written to o, which has room
 * for STR_MAX of the name's length. */
static size_t type_name_into(uint8_t *o, const pb_schemas *s, const pb_msgdef *type)
{
    static _Thread_local struct {
        const pb_msgdef *type;
        uint64_t gen;
        size_t n;
        uint8_t text[112];
    } last[4];
    uint64_t gen = pb_schemas_generation(s);
    __typeof__(&last[0]) k = &last[(uintptr_t)type * 0x9e3779b97f4a7c15u >> 62];
    if (k->type == type && k->gen == gen && gen) {
        memcpy(o, k->text, k->n);
        return k->n;
    }
    size_t n = (size_t)(put_str(o, type->full_name, slen(type->full_name)) - o);
    if (gen && n <= sizeof k->text) {
        k->type = type;
        k->gen = gen;
        k->n = n;
        memcpy(k->text, o, n);
    }
    return n;
}

/* A message object's body: what message_render writes for a job, and the call for messages
 * rendered in place. */
static void render_msg(gw_buf *b, const grpc_msg *m, const pb_msgdef *type, int fields,
                       const view_opts *vo, size_t weight)
{
    (void)gw_buf_room(b, weight); /* one allocation instead of a doubling series */
    int ident = m->encoding && is_identity(m->encoding);
    size_t el = ident ? 0 : slen(m->encoding);
    uint8_t *o = room(b, 80 + 2 * NUM_MAX + STR_MAX(el));
    if (o) {
        /* A unary call's message: index 0, not compressed, identity; each run of constants
         * one piece. */
        if (m->index == 0) {
            LIT(o, "\"index\":0,\"length\":");
        } else {
            LIT(o, "\"index\":");
            o = put_u64(o, m->index);
            LIT(o, ",\"length\":");
        }
        o = put_u64(o, m->length);
        if (ident && !m->compressed) {
            LIT(o, ",\"compressed\":false,\"encoding\":\"identity\",\"time\":\"");
        } else {
            LIT(o, ",\"compressed\":");
            o = put_bool(o, m->compressed);
            if (ident)
                LIT(o, ",\"encoding\":\"identity\"");
            else {
                LIT(o, ",\"encoding\":");
                o = put_str(o, m->encoding, el);
            }
            LIT(o, ",\"time\":\"");
        }
        done(b, o);
    }
    view_fmt_rfc3339(b, m->ts_ns);
    if (!m->data) {
        VIEW_PUT(b, "\",\"data\":null,\"fields\":null");
    } else {
        o = room(b, 40 + (m->data_len + 2) / 3 * 4 + VIEW_BASE64_SLACK);
        if (o) {
            LIT(o, "\",\"data\":\"");
            o += view_base64_into(o, m->data, m->data_len);
            LIT(o, "\",\"fields\":");
            done(b, o);
        } else {
            VIEW_PUT(b, "\",\"data\":\"");
            view_base64(b, m->data, m->data_len);
            VIEW_PUT(b, "\",\"fields\":");
        }
        if (!fields)
            VIEW_PUT(b, "null");
        else if (type)
            view_schema_json(b, vo->schemas, type, m->data, m->data_len, &vo->pb);
        else
            view_pb_json(b, m->data, m->data_len, &vo->pb);
    }
    size_t tl = m->data && type ? slen(type->full_name) : 0, wl = slen(m->why);
    o = room(b, 80 + STR_MAX(tl) + STR_MAX(wl));
    if (!o)
        return;
    if (m->data && type) {
        LIT(o, ",\"message_type\":");
        o += type_name_into(o, vo->schemas, type);
    }
    LIT(o, ",\"decoded\":");
    o = put_bool(o, m->decoded);
    LIT(o, ",\"truncated\":");
    o = put_bool(o, m->truncated);
    if (m->why) {
        LIT(o, ",\"why\":");
        o = put_str(o, m->why, wl);
    }
    done(b, o);
}

static void message_render(view_job *vj, gw_buf *b)
{
    msg_job *x = (msg_job *)vj;
    render_msg(b, &x->m, x->type, x->fields, x->o, x->j.weight);
}

static void message_free(view_job *vj)
{
    msg_job *x = (msg_job *)vj;
    gw_big_put(x->owned); /* the next large message's pages */
    gw_free(x->enc);
    gw_free(x);
}

/* strcmp(s, "grpc+json") == 0 without the call: a byte at a time, stopping at the first
 * difference (so never past the end of a shorter s). */
static int is_grpc_json(const char *s)
{
    static const char want[] = "grpc+json";
    size_t i = 0;
    while (i < sizeof want - 1 && s[i] == want[i])
        i++;
    return i == sizeof want - 1 && s[i] == '\0';
}

/* Whether a message's "fields" are shown. */
static int show_fields(const grpc_call *c, const grpc_msg *m)
{
    return m->decoded && !m->truncated && c->is_grpc && !(c->kind && is_grpc_json(c->kind));
}

/* Base64 is 4/3 of the bytes, the fields about as much again. */
static size_t msg_weight(const grpc_msg *m) { return 256 + m->data_len * 3; }

/* The method's message type for a direction: view_schema_type with the method found once. */
static const pb_msgdef *md_type(const pb_methoddef *md, int from_client)
{
    if (!md)
        return NULL;
    return from_client ? md->in : md->out;
}

/* What a message's rendering needs besides its bytes: the type and whether to show fields. */
static void msg_setup(view *v, const grpc_call *c, msg_job *x)
{
    x->o = &v->o;
    x->had_method = c->method != NULL;
    if (x->m.data) {
        x->type = view_schema_type(v->o.schemas, c->method, x->m.from_client);
        x->fields = show_fields(c, &x->m);
    }
    x->j.weight = msg_weight(&x->m);
}

/* view_json_message_here with the method's definition already found (md_known). */
static void message_here(view *v, const grpc_call *c, const grpc_msg *m, int md_known,
                         const pb_methoddef *md)
{
    const pb_msgdef *type = NULL;
    int fields = 0;
    if (m->data) {
        type = md_known ? md_type(md, m->from_client)
                        : view_schema_type(v->o.schemas, c->method, m->from_client);
        fields = show_fields(c, m);
    }
    render_msg(&v->out, m, type, fields, &v->o, msg_weight(m));
}

void view_json_message_here(view *v, const grpc_call *c, const grpc_msg *m)
{
    message_here(v, c, m, 0, NULL);
}

view_job *view_json_message_job(view *v, const grpc_call *c, const grpc_msg *m, uint8_t *take)
{
    msg_job *x = gw_calloc(1, sizeof *x); /* owned by its references: view_job_unref */
    if (!x) {
        gw_free(take);
        return NULL;
    }
    x->j.render = message_render;
    x->j.free = message_free;
    atomic_init(&x->j.refs, 1);
    atomic_init(&x->j.state, 0);
    x->m = *m;
    const char *enc = m->encoding ? m->encoding : "identity";
    size_t el = strlen(enc);
    if (el < sizeof x->enc_short)
        x->m.encoding = memcpy(x->enc_short, enc, el + 1);
    else
        x->m.encoding = (x->enc = gw_strdup(enc)) ? x->enc : "identity";
    if (take) {
        x->owned = take;
        x->m.data = take;
    } else if (m->data && m->data_len) {
        x->owned = gw_malloc(m->data_len);
        if (x->owned)
            memcpy(x->owned, m->data, m->data_len);
        x->m.data = x->owned; /* out of memory: shown as not kept */
        if (!x->owned)
            x->m.data_len = 0;
    } else if (m->data) {
        x->m.data = (const uint8_t *)"";
    }
    msg_setup(v, c, x);
    return &x->j;
}

static int same_ep(const tcp_endpoint *a, const tcp_endpoint *b)
{
    return a->ipver == b->ipver && a->port == b->port && memcmp(a->addr, b->addr, 16) == 0;
}

/* {"type":T,"conn":..,"client":..,"server":..,"stream":..,"method":.. - what calls and
 * messages begin with. The stretch from the connection to the stream is the same for all of a
 * connection's records: rendered once, kept in v's memo. */
static void record_head(view *v, const char *type, size_t type_len, const grpc_call *c,
                        size_t ml)
{
    gw_buf *b = &v->out;
    view_json_head_slot *s = &v->jm.head[c->conn_index & (VIEW_JSON_HEADS - 1)];
    int hit = s->n && s->conn == c->conn_index && same_ep(&s->client, &c->client) &&
              same_ep(&s->server, &c->server);
    uint8_t *o = room(b, 80 + type_len + 2 * NUM_MAX + STR_MAX(ml) + (hit ? s->n : 0));
    if (!o)
        return;
    LIT(o, "{\"type\":\"");
    memcpy(o, type, type_len);
    o += type_len;
    if (hit) {
        memcpy(o, s->s, s->n);
        o += s->n;
    } else {
        uint8_t *from = o;
        LIT(o, "\",\"conn\":");
        o = put_u64(o, c->conn_index);
        LIT(o, ",\"client\":\"");
        done(b, o);
        size_t at = (size_t)(from - b->data);
        view_fmt_endpoint(b, &c->client);
        VIEW_PUT(b, "\",\"server\":\"");
        view_fmt_endpoint(b, &c->server);
        VIEW_PUT(b, "\",\"stream\":");
        size_t n = b->len - at;
        if (n <= sizeof s->s) {
            s->conn = c->conn_index;
            s->client = c->client;
            s->server = c->server;
            s->n = n;
            memcpy(s->s, b->data + at, n);
        } else {
            s->n = 0;
        }
        o = room(b, 40 + NUM_MAX + STR_MAX(ml));
        if (!o)
            return;
    }
    o = put_u64(o, c->stream);
    LIT(o, ",\"method\":");
    o = put_str(o, c->method, ml);
    done(b, o);
}

void view_json_message_head(view *v, const grpc_call *c, int from_client)
{
    gw_buf *b = &v->out;
    record_head(v, "message", 7, c, slen(c->method));
    if (from_client)
        VIEW_PUT(b, ",\"direction\":\"request\",");
    else
        VIEW_PUT(b, ",\"direction\":\"response\",");
}

/* jobs[i] renders c->msgs[i]; NULL entries are rendered here from the record (md: the method's
 * definition, found once for the call). */
static void messages_array(view *v, const grpc_call *c, int from_client, view_job **jobs,
                           const pb_methoddef *md)
{
    gw_buf *b = &v->out;
    /* What message_here would find for each message of the array, found once. */
    const pb_msgdef *type = md_type(md, from_client);
    int call_fields = c->is_grpc && !(c->kind && is_grpc_json(c->kind));
    gw_buf_putc(b, '[');
    int sep = 0;
    for (size_t i = 0; i < c->n_msgs; i++) {
        const grpc_msg *m = &c->msgs[i];
        if (m->from_client != from_client)
            continue;
        uint8_t *o = room(b, 2);
        if (o) {
            if (sep)
                *o++ = ',';
            *o++ = '{';
            done(b, o);
        }
        sep = 1;
        msg_job *x = jobs ? (msg_job *)jobs[i] : NULL;
        if (x && !x->had_method && c->method) {
            /* Made (--json=messages) before the request headers named the method: the call
             * shows what is known now, as a message rendered here would. */
            message_here(v, c, &x->m, 1, md);
        } else if (x) {
            view_put_job(v, &x->j, 1);
            jobs[i] = NULL; /* its reference went with it */
        } else { /* small, or its job could not be made: message_here, inline */
            int fields = m->data && m->decoded && !m->truncated && call_fields;
            render_msg(b, m, m->data ? type : NULL, fields, &v->o, msg_weight(m));
        }
        gw_buf_putc(b, '}');
    }
    gw_buf_putc(b, ']');
}

/* grpc-status-details-bin is a google.rpc.Status: {code (1), message (2), details (3): Any
 * {type_url (1), value (2)}}. Shown by name whatever schemas are loaded; bytes that are not a
 * Status fall back to the schemaless rendering. */
static int any_json(gw_buf *b, const uint8_t *p, size_t n)
{
    const uint8_t *url = NULL, *val = NULL;
    size_t url_len = 0, val_len = 0;
    for (size_t off = 0; off < n;) {
        pb_field f;
        ptrdiff_t k = pb_field_parse(p + off, n - off, &f);
        if (k <= 0 || f.wire_type != PB_WT_LEN || (f.number != 1 && f.number != 2))
            return -1;
        if (f.number == 1)
            url = f.bytes, url_len = (size_t)f.u;
        else
            val = f.bytes, val_len = (size_t)f.u;
        off += (size_t)k;
    }
    VIEW_PUT(b, "{\"type_url\":");
    view_json_string(b, url ? (const char *)url : "", url_len);
    VIEW_PUT(b, ",\"value\":\"");
    view_base64(b, val ? val : (const uint8_t *)"", val_len);
    VIEW_PUT(b, "\"}");
    return 0;
}

static void status_details_json(view *v, gw_buf *b, const uint8_t *p, size_t n)
{
    size_t mark = b->len;
    int64_t code = 0;
    const uint8_t *msg = NULL;
    size_t msg_len = 0, ndetails = 0, off = 0;
    gw_buf details;
    gw_buf_init(&details, 0);
    while (off < n) {
        pb_field f;
        ptrdiff_t k = pb_field_parse(p + off, n - off, &f);
        if (k <= 0)
            goto raw;
        if (f.number == 1 && f.wire_type == PB_WT_VARINT)
            code = (int64_t)(int32_t)f.u;
        else if (f.number == 2 && f.wire_type == PB_WT_LEN)
            msg = f.bytes, msg_len = (size_t)f.u;
        else if (f.number == 3 && f.wire_type == PB_WT_LEN) {
            if (ndetails++)
                gw_buf_putc(&details, ',');
            if (any_json(&details, f.bytes, (size_t)f.u))
                goto raw;
        } else
            goto raw;
        off += (size_t)k;
    }
    gw_buf_printf(b, "{\"code\":%lld,\"code_name\":", (long long)code);
    view_json_cstr(b, code >= 0 && code <= 16 ? grpc_status_name((int)code) : NULL);
    VIEW_PUT(b, ",\"message\":");
    view_json_string(b, msg ? (const char *)msg : "", msg_len);
    VIEW_PUT(b, ",\"details\":[");
    gw_buf_append(b, details.data, details.len);
    VIEW_PUT(b, "]}");
    gw_buf_free(&details);
    return;
raw:
    gw_buf_free(&details);
    b->len = mark;
    view_pb_json(b, p, n, &v->o.pb);
}

void view_json_call(view *v, const grpc_call *c, view_job **jobs)
{
    gw_buf *b = &v->out;
    size_t ml = slen(c->method);
    record_head(v, "call", 4, c, ml);
    char guess[256];
    double score;
    if (view_schema_call_guess(v->o.schemas, c, guess, sizeof guess, &score)) {
        VIEW_PUT(b, ",\"method_guess\":{\"method\":");
        view_json_cstr(b, guess);
        gw_buf_printf(b, ",\"score\":%.2f}", score);
    }
    size_t al = slen(c->authority), kl = slen(c->kind);
    uint8_t *o = room(b, 40 + STR_MAX(al) + STR_MAX(kl));
    if (o) {
        LIT(o, ",\"authority\":");
        o = put_str(o, c->authority, al);
        LIT(o, ",\"kind\":");
        o = put_str(o, c->kind, kl);
        LIT(o, ",\"start\":\"");
        done(b, o);
    }
    view_fmt_rfc3339(b, c->t_start);
    VIEW_PUT(b, "\",\"end\":\"");
    view_fmt_rfc3339(b, c->t_end);

    const char *gsn = c->grpc_status >= 0 ? grpc_status_name(c->grpc_status) : NULL;
    const char *isn = c->implied_status >= 0 ? grpc_status_name(c->implied_status) : NULL;
    size_t gsl = slen(gsn), gml = slen(c->grpc_message), isl = slen(isn);
    o = room(b, 200 + 5 * NUM_MAX + STR_MAX(gsl) + STR_MAX(gml) + STR_MAX(isl));
    if (o) {
        LIT(o, "\",\"duration_us\":");
        o = put_i64(o, (c->t_end - c->t_start) / 1000);
        INT_OR_NULL_AT(o, "first_response_us",
                       c->t_first_resp < 0 ? -1 : (c->t_first_resp - c->t_start) / 1000);
        if (c->http_status == 200)
            LIT(o, ",\"http_status\":200");
        else
            INT_OR_NULL_AT(o, "http_status", c->http_status);
        INT_OR_NULL_AT(o, "grpc_status", c->grpc_status);
        LIT(o, ",\"grpc_status_name\":");
        o = put_str(o, gsn, gsl);
        LIT(o, ",\"grpc_message\":");
        o = put_str(o, c->grpc_message, gml);
        if (c->implied_status < 0) { /* the common case, as one piece */
            LIT(o, ",\"implied_status\":null,\"implied_status_name\":null");
        } else {
            INT_OR_NULL_AT(o, "implied_status", c->implied_status);
            LIT(o, ",\"implied_status_name\":");
            o = put_str(o, isn, isl);
        }
        done(b, o);
    }
    if (c->status_details) {
        VIEW_PUT(b, ",\"grpc_status_details\":");
        status_details_json(v, b, c->status_details, c->status_details_len);
    }

    const char *rsn = c->rst_code >= 0 ? h2_error_name((uint32_t)c->rst_code) : NULL;
    size_t tol = slen(c->timeout_raw), rql = slen(c->req_encoding), rsl = slen(c->resp_encoding);
    size_t rnl = slen(rsn);
    size_t kv1 = kv_max(c->req_headers, c->n_req_headers);
    size_t kv2 = kv_max(c->resp_headers, c->n_resp_headers);
    size_t kv3 = kv_max(c->trailers, c->n_trailers);
    int kv_direct = kv1 <= KV_DIRECT_MAX && kv2 <= KV_DIRECT_MAX && kv3 <= KV_DIRECT_MAX;
    size_t need = 400 + 6 * NUM_MAX + STR_MAX(tol) + STR_MAX(rql) + STR_MAX(rsl) + STR_MAX(rnl);
    if (kv_direct)
        need += kv1 + kv2 + kv3 + VIEW_JSON_PAIR_OUT;
    o = room(b, need);
    if (o) {
        LIT(o, ",\"timeout\":");
        o = put_str(o, c->timeout_raw, tol);
        INT_OR_NULL_AT(o, "timeout_us", c->timeout_ns < 0 ? -1 : c->timeout_ns / 1000);
        if (!c->req_encoding && !c->resp_encoding && c->rst_code < 0) { /* common: one piece */
            if (c->trailers_only)
                LIT(o, ",\"request_encoding\":null,\"response_encoding\":null,"
                       "\"trailers_only\":true,\"rst_code\":null");
            else
                LIT(o, ",\"request_encoding\":null,\"response_encoding\":null,"
                       "\"trailers_only\":false,\"rst_code\":null");
        } else {
            LIT(o, ",\"request_encoding\":");
            o = put_str(o, c->req_encoding, rql);
            LIT(o, ",\"response_encoding\":");
            o = put_str(o, c->resp_encoding, rsl);
            LIT(o, ",\"trailers_only\":");
            o = put_bool(o, c->trailers_only);
            INT_OR_NULL_AT(o, "rst_code", c->rst_code);
        }
        if (c->rst_code >= 0) {
            LIT(o, ",\"rst_name\":");
            o = put_str(o, rsn, rnl);
            if (c->rst_by_client)
                LIT(o, ",\"rst_by\":\"client\"");
            else
                LIT(o, ",\"rst_by\":\"server\"");
        }
        LIT(o, ",\"request_headers\":");
        if (kv_direct) {
            list_memo *lm = &lists[3 * (c->conn_index & (LIST_SLOTS - 1))];
            o = kv_into(&v->jm, lm, o, c->req_headers, c->n_req_headers);
            LIT(o, ",\"response_headers\":");
            o = kv_into(&v->jm, lm + 1, o, c->resp_headers, c->n_resp_headers);
            LIT(o, ",\"trailers\":");
            o = kv_into(&v->jm, lm + 2, o, c->trailers, c->n_trailers);
        } else {
            done(b, o);
            view_json_kv_list(b, c->req_headers, c->n_req_headers);
            VIEW_PUT(b, ",\"response_headers\":");
            view_json_kv_list(b, c->resp_headers, c->n_resp_headers);
            VIEW_PUT(b, ",\"trailers\":");
            view_json_kv_list(b, c->trailers, c->n_trailers);
            o = room(b, 200 + 4 * NUM_MAX);
        }
    }
    if (o) {
        LIT(o, ",\"request_count\":");
        o = put_u64(o, c->n_req);
        LIT(o, ",\"response_count\":");
        o = put_u64(o, c->n_resp);
        LIT(o, ",\"request_bytes\":");
        o = put_u64(o, c->req_bytes);
        LIT(o, ",\"response_bytes\":");
        o = put_u64(o, c->resp_bytes);
        LIT(o, ",\"requests\":");
        done(b, o);
    }
    /* The method's definition, found once for both directions' messages. */
    const pb_methoddef *md =
        c->n_msgs ? pb_schemas_find_method_cached(v->o.schemas, c->method) : NULL;
    messages_array(v, c, 1, jobs, md);
    VIEW_PUT(b, ",\"responses\":");
    messages_array(v, c, 0, jobs, md);

    size_t an = 0;
    for (size_t i = 0; i < c->n_anomalies; i++)
        an += 1 + STR_MAX(slen(c->anomalies[i]));
    o = room(b, 120 + 2 * NUM_MAX + an);
    if (!o)
        return;
    LIT(o, ",\"messages_omitted\":");
    o = put_bool(o, c->msgs_dropped);
    LIT(o, ",\"first_packet\":");
    o = put_u64(o, c->first_pkt);
    LIT(o, ",\"last_packet\":");
    o = put_u64(o, c->last_pkt);
    LIT(o, ",\"complete\":");
    o = put_bool(o, c->complete);
    LIT(o, ",\"anomalies\":[");
    for (size_t i = 0; i < c->n_anomalies; i++) {
        if (i)
            *o++ = ',';
        o = put_str(o, c->anomalies[i], slen(c->anomalies[i]));
    }
    LIT(o, "]}\n");
    done(b, o);
}
