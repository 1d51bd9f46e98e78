/* The schema model: an arena for every definition, a symbol table (open addressing, capped),
 * linking of type references as files arrive (in any order: reflection sends files one by one),
 * lookups and the canonical dump the tests compare. */
#include "pb/pb_schema.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "common/gw_err.h"
#include "common/gw_mem.h"

#define BLOCK_MIN (64 * 1024)

struct arena_block {
    struct arena_block *next;
    size_t used, size;
    _Alignas(16) unsigned char data[];
};

typedef struct symbol {
    const char *name; /* NULL: empty slot */
    int kind;         /* 1 package, 2 message, 3 enum, 4 service; 0 a removed entry */
    void *ptr;
    const pb_filedef *file;
} symbol;

struct pb_schemas {
    pb_schema_limits lim;
    struct arena_block *blocks;
    size_t bytes;
    symbol *syms;
    size_t n_syms, cap_syms;
    pb_filedef **files;
    size_t n_files, cap_files;
    pb_fdef **exts;           /* every extension, for lookup by extendee */
    size_t n_exts, cap_exts;
    void **pending;           /* fields (tag 0) and methods (tag 1) with unresolved names */
    int *pending_tag;
    size_t n_pending, cap_pending;
    int guess;
    uint64_t gen;             /* pb_schemas_generation: unique across every pb_schemas */
};

/* Generations come from one counter, so (schemas, generation) never repeats even when a freed
 * pb_schemas' address is reused: a cache keyed by it cannot see a stale entry. */
static _Atomic uint64_t gen_counter;

static void bump(pb_schemas *s) { s->gen = atomic_fetch_add(&gen_counter, 1) + 1; }

uint64_t pb_schemas_generation(const pb_schemas *s) { return s ? s->gen : 0; }

void pb_schema_limits_default(pb_schema_limits *l)
{
    l->max_bytes = 64u << 20;
    l->max_files = 4096;
    l->max_symbols = 262144;
    l->max_source = 16u << 20;
    l->max_import_depth = 64;
    l->max_nesting = 64;
}

int pb_schemas_new(pb_schemas **out, const pb_schema_limits *lim)
{
    pb_schemas *s = gw_calloc(1, sizeof *s);
    *out = s;
    if (!s)
        return GW_ENOMEM;
    if (lim)
        s->lim = *lim;
    else
        pb_schema_limits_default(&s->lim);
    bump(s);
    return 0;
}

void pb_schemas_del(pb_schemas *s)
{
    if (!s)
        return;
    for (struct arena_block *b = s->blocks, *nx; b; b = nx) {
        nx = b->next;
        gw_free(b);
    }
    gw_free(s->syms);
    gw_free(s->files);
    gw_free(s->exts);
    gw_free(s->pending);
    gw_free(s->pending_tag);
    gw_free(s);
}

const pb_schema_limits *pb_schemas_limits(const pb_schemas *s) { return &s->lim; }
void pb_schemas_set_guess(pb_schemas *s, int on)
{
    s->guess = on;
    bump(s);
}
int pb_schemas_guess(const pb_schemas *s) { return s && s->guess; }

void *pb_arena_alloc(pb_schemas *s, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (n == 0)
        n = 16;
    struct arena_block *b = s->blocks;
    if (!b || b->size - b->used < n) {
        size_t size = n > BLOCK_MIN ? n : BLOCK_MIN;
        if (s->bytes + size > s->lim.max_bytes)
            return NULL;
        b = gw_malloc(sizeof *b + size);
        if (!b)
            return NULL;
        b->size = size;
        b->used = 0;
        b->next = s->blocks;
        s->blocks = b;
        s->bytes += size;
    }
    void *p = b->data + b->used;
    b->used += n;
    memset(p, 0, n);
    return p;
}

char *pb_arena_strndup(pb_schemas *s, const char *p, size_t n)
{
    char *d = pb_arena_alloc(s, n + 1);
    if (d) {
        memcpy(d, p, n);
        d[n] = 0;
    }
    return d;
}

void *pb_arena_push(pb_schemas *s, void **arr, size_t *n, size_t elsz)
{
    /* Capacity is implied by n: 4, then powers of two. */
    size_t k = *n;
    if (k == 0 || (k >= 4 && (k & (k - 1)) == 0)) {
        size_t cap = k < 4 ? 4 : k * 2;
        void *na = pb_arena_alloc(s, cap * elsz);
        if (!na)
            return NULL;
        if (k)
            memcpy(na, *arr, k * elsz);
        *arr = na;
    }
    (*n)++;
    return (char *)*arr + k * elsz;
}

char *pb_json_name(pb_schemas *s, const char *name)
{
    size_t n = strlen(name);
    char *d = pb_arena_alloc(s, n + 1);
    if (!d)
        return NULL;
    size_t j = 0;
    int up = 0;
    for (size_t i = 0; i < n; i++) {
        if (name[i] == '_') {
            up = 1;
        } else if (up) {
            d[j++] = (char)(name[i] >= 'a' && name[i] <= 'z' ? name[i] - 32 : name[i]);
            up = 0;
        } else {
            d[j++] = name[i];
        }
    }
    d[j] = 0;
    return d;
}

/* ---- symbols ----------------------------------------------------------------------------- */

static uint64_t hash_name(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)p[i]) * 1099511628211ull;
    return h;
}

static const char *skip_dot(const char *n) { return n && n[0] == '.' ? n + 1 : n; }

static symbol *sym_slot(const pb_schemas *s, const char *name, size_t n)
{
    if (!s->cap_syms)
        return NULL;
    size_t mask = s->cap_syms - 1, i = (size_t)hash_name(name, n) & mask;
    for (;;) {
        symbol *y = &s->syms[i];
        if (!y->name || (strlen(y->name) == n && memcmp(y->name, name, n) == 0))
            return y;
        i = (i + 1) & mask;
    }
}

static int sym_grow(pb_schemas *s)
{
    size_t ncap = s->cap_syms ? s->cap_syms * 2 : 256;
    symbol *old = s->syms;
    size_t ocap = s->cap_syms;
    s->syms = gw_calloc(ncap, sizeof *s->syms);
    if (!s->syms) {
        s->syms = old;
        return GW_ENOMEM;
    }
    s->cap_syms = ncap;
    for (size_t i = 0; i < ocap; i++)
        if (old[i].name)
            *sym_slot(s, old[i].name, strlen(old[i].name)) = old[i];
    gw_free(old);
    return 0;
}

/* First definition wins, except over a built-in (a user's or the server's schema is the truth). */
static int sym_add(pb_schemas *s, const char *name, int kind, void *ptr, const pb_filedef *f)
{
    if ((s->n_syms + 1) * 2 > s->cap_syms) {
        if (s->n_syms >= s->lim.max_symbols)
            return GW_ECAP;
        int e = sym_grow(s);
        if (e)
            return e;
    }
    symbol *y = sym_slot(s, name, strlen(name));
    if (y->name) {
        if (y->kind == 1 && kind == 1)
            return 0;
        if (y->kind != 0 && !(y->file && y->file->builtin && !f->builtin))
            return 0;
    } else {
        s->n_syms++;
    }
    y->name = name;
    y->kind = kind;
    y->ptr = ptr;
    y->file = kind == 1 ? NULL : f;
    return 0;
}

int pb_schemas_symbol_kind(const pb_schemas *s, const char *full_name, size_t len)
{
    symbol *y = sym_slot(s, full_name, len);
    return y && y->name ? y->kind : 0;
}

static void *sym_find(const pb_schemas *s, const char *name, int kind)
{
    if (!s || !name)
        return NULL;
    name = skip_dot(name);
    symbol *y = sym_slot(s, name, strlen(name));
    return y && y->name && y->kind == kind ? y->ptr : NULL;
}

const pb_msgdef *pb_schemas_find_message(const pb_schemas *s, const char *n) { return sym_find(s, n, 2); }
const pb_enumdef *pb_schemas_find_enum(const pb_schemas *s, const char *n) { return sym_find(s, n, 3); }
const pb_servicedef *pb_schemas_find_service(const pb_schemas *s, const char *n) { return sym_find(s, n, 4); }

const pb_filedef *pb_schemas_find_file(const pb_schemas *s, const char *name)
{
    for (size_t i = 0; s && i < s->n_files; i++)
        if (strcmp(s->files[i]->name, name) == 0)
            return s->files[i];
    return NULL;
}

size_t pb_schemas_n_files(const pb_schemas *s) { return s ? s->n_files : 0; }
const pb_filedef *pb_schemas_file(const pb_schemas *s, size_t i) { return s->files[i]; }

size_t pb_schemas_n_services(const pb_schemas *s)
{
    size_t n = 0;
    for (size_t i = 0; s && i < s->n_files; i++)
        n += s->files[i]->n_services;
    return n;
}

const pb_servicedef *pb_schemas_service(const pb_schemas *s, size_t i)
{
    for (size_t k = 0; k < s->n_files; k++) {
        if (i < s->files[k]->n_services)
            return s->files[k]->services[i];
        i -= s->files[k]->n_services;
    }
    return NULL;
}

const pb_methoddef *pb_schemas_find_method(const pb_schemas *s, const char *path)
{
    if (!s || !path || path[0] != '/')
        return NULL;
    const char *slash = strchr(path + 1, '/');
    if (!slash || slash == path + 1 || strchr(slash + 1, '/'))
        return NULL;
    symbol *y = sym_slot(s, path + 1, (size_t)(slash - path - 1));
    if (!y || !y->name || y->kind != 4)
        return NULL;
    const pb_servicedef *sv = y->ptr;
    for (size_t i = 0; i < sv->n_methods; i++)
        if (strcmp(sv->methods[i].name, slash + 1) == 0)
            return &sv->methods[i];
    return NULL;
}

/* The per-thread method cache: direct mapped, keyed by the path's length and its first and
 * last bytes. Each rendering thread has its own (no locks); an entry is valid only for the
 * (schemas, generation) the table was filled for, so a schema learned from reflection mid-run is
 * seen at the next lookup. Unknown methods are cached too (NULL): they are the common miss. */
#define MCACHE_SLOTS 64
#define MCACHE_PATH 96 /* longer paths are looked up directly */

typedef struct mcache_entry {
    size_t len;               /* 0: empty */
    const pb_methoddef *md;
    char path[MCACHE_PATH];
} mcache_entry;

typedef struct mcache {
    const pb_schemas *s;
    uint64_t gen;
    mcache_entry e[MCACHE_SLOTS];
} mcache;

static _Thread_local mcache tcache;

static size_t mcache_slot(const char *path, size_t len)
{
    uint64_t a = 0, z = 0;
    if (len >= 8) {
        memcpy(&a, path + 1, 7);
        memcpy(&z, path + len - 8, 8);
    } else {
        memcpy(&a, path, len);
    }
    uint64_t h = (a * 0x9e3779b97f4a7c15ull) ^ (z * 0xc2b2ae3d27d4eb4full) ^ len;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    return (size_t)(h >> 58) & (MCACHE_SLOTS - 1);
}

const pb_methoddef *pb_schemas_find_method_cached(const pb_schemas *s, const char *path)
{
    if (!s || !path || path[0] != '/')
        return NULL;
    size_t len = strlen(path);
    if (len >= MCACHE_PATH)
        return pb_schemas_find_method(s, path);
    mcache *mc = &tcache;
    if (mc->s != s || mc->gen != s->gen) {
        memset(mc, 0, sizeof *mc);
        mc->s = s;
        mc->gen = s->gen;
    }
    /* Two ways: slot i and its neighbour; a new entry goes first, pushing the old one over. */
    size_t i = mcache_slot(path, len);
    mcache_entry *e = &mc->e[i], *f = &mc->e[i ^ 1];
    if (e->len == len && memcmp(e->path, path, len) == 0)
        return e->md;
    if (f->len == len && memcmp(f->path, path, len) == 0)
        return f->md;
    const pb_methoddef *md = pb_schemas_find_method(s, path);
    if (e->len)
        memcpy(f, e, offsetof(mcache_entry, path) + e->len);
    e->len = len;
    memcpy(e->path, path, len);
    e->md = md;
    return md;
}

const pb_fdef *pb_schemas_find_extension(const pb_schemas *s, const char *extendee, uint32_t number)
{
    for (size_t i = 0; s && i < s->n_exts; i++) {
        const pb_fdef *f = s->exts[i];
        if (f->number == number && f->extendee && strcmp(skip_dot(f->extendee), extendee) == 0)
            return f;
    }
    return NULL;
}

const pb_fdef *pb_msg_field(const pb_msgdef *m, uint32_t number)
{
    for (size_t i = 0; m && i < m->n_fields; i++)
        if (m->fields[i].number == number)
            return &m->fields[i];
    return NULL;
}

const char *pb_enum_value_name(const pb_enumdef *e, int32_t number)
{
    for (size_t i = 0; e && i < e->n_vals; i++)
        if (e->vals[i].number == number)
            return e->vals[i].name;
    return NULL;
}

int pb_is_reflection_method(const char *path)
{
    /* Runs for every message: most paths differ within the first bytes. */
    static const char pre[] = "/grpc.r";
    if (!path)
        return 0;
    for (size_t i = 0; i < sizeof pre - 1; i++)
        if (path[i] != pre[i]) /* stops at the terminator of a shorter path */
            return 0;
    return strcmp(path, "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo") == 0 ||
           strcmp(path, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo") == 0;
}

/* ---- registering and linking -------------------------------------------------------------- */

static int add_msg_syms(pb_schemas *s, pb_filedef *f, pb_msgdef *m, int depth)
{
    if (depth > 200)
        return GW_ECAP;
    int e = sym_add(s, m->full_name, 2, m, f);
    for (size_t i = 0; !e && i < m->n_enums; i++)
        e = sym_add(s, m->enums[i]->full_name, 3, m->enums[i], f);
    for (size_t i = 0; !e && i < m->n_nested; i++)
        e = add_msg_syms(s, f, m->nested[i], depth + 1);
    return e;
}

static int add_package_syms(pb_schemas *s, pb_filedef *f)
{
    const char *p = f->package;
    for (size_t i = 0; p[i]; i++) {
        if (p[i + 1] == '.' || p[i + 1] == 0) {
            char *n = pb_arena_strndup(s, p, i + 1);
            if (!n)
                return GW_ECAP;
            int e = sym_add(s, n, 1, NULL, f);
            if (e)
                return e;
        }
    }
    return 0;
}

static int pending_add(pb_schemas *s, void *p, int tag)
{
    if (s->n_pending == s->cap_pending) {
        size_t nc = s->cap_pending ? s->cap_pending * 2 : 64;
        void **np = gw_realloc(s->pending, nc * sizeof *np);
        if (!np)
            return GW_ENOMEM;
        s->pending = np;
        int *nt = gw_realloc(s->pending_tag, nc * sizeof *nt);
        if (!nt)
            return GW_ENOMEM;
        s->pending_tag = nt;
        s->cap_pending = nc;
    }
    s->pending[s->n_pending] = p;
    s->pending_tag[s->n_pending++] = tag;
    return 0;
}

/* 1 when resolved. */
static int link_field(pb_schemas *s, pb_fdef *f)
{
    int ok = 1;
    if (f->type_name && f->type_name[0] == '.' && !f->msg && !f->en) {
        const pb_msgdef *m = sym_find(s, f->type_name, 2);
        const pb_enumdef *en = m ? NULL : sym_find(s, f->type_name, 3);
        if (m && f->type != PB_T_ENUM) {
            f->msg = m;
            if (!f->type)
                f->type = PB_T_MESSAGE;
        } else if (en && f->type != PB_T_MESSAGE && f->type != PB_T_GROUP) {
            f->en = en;
            if (!f->type)
                f->type = PB_T_ENUM;
        } else {
            ok = 0;
        }
    }
    return ok;
}

static int link_method(pb_schemas *s, pb_methoddef *md)
{
    if (!md->in)
        md->in = sym_find(s, md->input_type, 2);
    if (!md->out)
        md->out = sym_find(s, md->output_type, 2);
    return md->in && md->out;
}

static int link_msg(pb_schemas *s, pb_msgdef *m, int depth)
{
    int e = 0;
    for (size_t i = 0; !e && i < m->n_fields; i++)
        if (!link_field(s, &m->fields[i]))
            e = pending_add(s, &m->fields[i], 0);
    for (size_t i = 0; !e && i < m->n_extensions; i++) {
        if (!link_field(s, &m->extensions[i]))
            e = pending_add(s, &m->extensions[i], 0);
    }
    for (size_t i = 0; !e && i < m->n_nested && depth < 200; i++)
        e = link_msg(s, m->nested[i], depth + 1);
    return e;
}

static int add_exts(pb_schemas *s, pb_fdef *x, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s->n_exts == s->cap_exts) {
            size_t nc = s->cap_exts ? s->cap_exts * 2 : 16;
            pb_fdef **ne = gw_realloc(s->exts, nc * sizeof *ne);
            if (!ne)
                return GW_ENOMEM;
            s->exts = ne;
            s->cap_exts = nc;
        }
        s->exts[s->n_exts++] = &x[i];
    }
    return 0;
}

static int add_msg_exts(pb_schemas *s, pb_msgdef *m, int depth)
{
    int e = add_exts(s, m->extensions, m->n_extensions);
    for (size_t i = 0; !e && i < m->n_nested && depth < 200; i++)
        e = add_msg_exts(s, m->nested[i], depth + 1);
    return e;
}

int pb_schemas_register(pb_schemas *s, pb_filedef *f)
{
    /* Even a failed registration may have added symbols or linked references. */
    bump(s);
    if (s->n_files >= s->lim.max_files)
        return GW_ECAP;
    if (s->n_files == s->cap_files) {
        size_t nc = s->cap_files ? s->cap_files * 2 : 16;
        pb_filedef **nf = gw_realloc(s->files, nc * sizeof *nf);
        if (!nf)
            return GW_ENOMEM;
        s->files = nf;
        s->cap_files = nc;
    }
    int e = add_package_syms(s, f);
    for (size_t i = 0; !e && i < f->n_messages; i++)
        e = add_msg_syms(s, f, f->messages[i], 0);
    for (size_t i = 0; !e && i < f->n_enums; i++)
        e = sym_add(s, f->enums[i]->full_name, 3, f->enums[i], f);
    for (size_t i = 0; !e && i < f->n_services; i++)
        e = sym_add(s, f->services[i]->full_name, 4, f->services[i], f);
    if (e)
        return e;
    s->files[s->n_files++] = f;
    e = add_exts(s, f->extensions, f->n_extensions);
    for (size_t i = 0; !e && i < f->n_messages; i++)
        e = add_msg_exts(s, f->messages[i], 0);
    /* Earlier references the new file can satisfy, then the new file's own. */
    size_t k = 0;
    for (size_t i = 0; i < s->n_pending; i++) {
        int done = s->pending_tag[i] ? link_method(s, s->pending[i]) : link_field(s, s->pending[i]);
        if (!done) {
            s->pending[k] = s->pending[i];
            s->pending_tag[k++] = s->pending_tag[i];
        }
    }
    s->n_pending = k;
    for (size_t i = 0; !e && i < f->n_messages; i++)
        e = link_msg(s, f->messages[i], 0);
    for (size_t i = 0; !e && i < f->n_extensions; i++)
        if (!link_field(s, &f->extensions[i]))
            e = pending_add(s, &f->extensions[i], 0);
    for (size_t i = 0; !e && i < f->n_services; i++)
        for (size_t j = 0; !e && j < f->services[i]->n_methods; j++)
            if (!link_method(s, &f->services[i]->methods[j]))
                e = pending_add(s, &f->services[i]->methods[j], 1);
    return e;
}

/* ---- canonical dump ------------------------------------------------------------------------ */

static const char *const type_names[] = {
    "?", "double", "float", "int64", "uint64", "int32", "fixed64", "fixed32", "bool", "string",
    "group", "message", "bytes", "uint32", "enum", "sfixed32", "sfixed64", "sint32", "sint64",
};

static void dump_field(gw_buf *b, const pb_fdef *f, int ind, const char *what)
{
    gw_buf_printf(b, "%*s%s %s = %u %s %s", ind, "", what, f->name, f->number,
                  f->label == PB_L_REPEATED ? "repeated" : f->label == PB_L_REQUIRED ? "required" : "optional",
                  f->type >= 1 && f->type <= 18 ? type_names[f->type] : "?");
    if (f->type_name)
        gw_buf_printf(b, " %s", f->type_name);
    if (f->extendee)
        gw_buf_printf(b, " extends %s", f->extendee);
    gw_buf_printf(b, " json=%s", f->json_name ? f->json_name : "-");
    if (f->oneof_index >= 0)
        gw_buf_printf(b, " oneof=%d", f->oneof_index);
    if (f->proto3_optional)
        gw_buf_printf(b, " proto3_optional");
    if (f->packed >= 0)
        gw_buf_printf(b, " packed=%d", f->packed);
    gw_buf_putc(b, '\n');
}

static void dump_enum(gw_buf *b, const pb_enumdef *e, int ind)
{
    gw_buf_printf(b, "%*senum %s\n", ind, "", e->full_name);
    for (size_t i = 0; i < e->n_vals; i++)
        gw_buf_printf(b, "%*s  value %s = %d\n", ind, "", e->vals[i].name, e->vals[i].number);
    for (size_t i = 0; i < e->n_reserved; i++)
        gw_buf_printf(b, "%*s  reserved %d..%d\n", ind, "", e->reserved[i].start, e->reserved[i].end);
    for (size_t i = 0; i < e->n_reserved_names; i++)
        gw_buf_printf(b, "%*s  reserved %s\n", ind, "", e->reserved_names[i]);
}

static void dump_msg(gw_buf *b, const pb_msgdef *m, int ind, int depth)
{
    gw_buf_printf(b, "%*smessage %s%s\n", ind, "", m->full_name, m->map_entry ? " map_entry" : "");
    for (size_t i = 0; i < m->n_fields; i++)
        dump_field(b, &m->fields[i], ind + 2, "field");
    for (size_t i = 0; i < m->n_oneofs; i++)
        gw_buf_printf(b, "%*soneof %s\n", ind + 2, "", m->oneofs[i]);
    for (size_t i = 0; i < m->n_ext_ranges; i++)
        gw_buf_printf(b, "%*sextensions %d..%d\n", ind + 2, "", m->ext_ranges[i].start,
                      m->ext_ranges[i].end);
    for (size_t i = 0; i < m->n_reserved; i++)
        gw_buf_printf(b, "%*sreserved %d..%d\n", ind + 2, "", m->reserved[i].start, m->reserved[i].end);
    for (size_t i = 0; i < m->n_reserved_names; i++)
        gw_buf_printf(b, "%*sreserved %s\n", ind + 2, "", m->reserved_names[i]);
    for (size_t i = 0; i < m->n_extensions; i++)
        dump_field(b, &m->extensions[i], ind + 2, "extension");
    for (size_t i = 0; i < m->n_enums; i++)
        dump_enum(b, m->enums[i], ind + 2);
    for (size_t i = 0; i < m->n_nested && depth < 200; i++)
        dump_msg(b, m->nested[i], ind + 2, depth + 1);
}

int pb_schema_dump_file(gw_buf *b, const pb_filedef *f)
{
    gw_buf_printf(b, "file %s\npackage %s\nsyntax proto%d\n", f->name, f->package, f->syntax);
    for (size_t i = 0; i < f->n_deps; i++) {
        int pub = 0;
        for (size_t j = 0; j < f->n_public_deps; j++)
            pub |= f->public_deps[j] == (int32_t)i;
        gw_buf_printf(b, "import %s%s\n", pub ? "public " : "", f->deps[i]);
    }
    for (size_t i = 0; i < f->n_messages; i++)
        dump_msg(b, f->messages[i], 0, 0);
    for (size_t i = 0; i < f->n_enums; i++)
        dump_enum(b, f->enums[i], 0);
    for (size_t i = 0; i < f->n_extensions; i++)
        dump_field(b, &f->extensions[i], 0, "extension");
    for (size_t i = 0; i < f->n_services; i++) {
        const pb_servicedef *sv = f->services[i];
        gw_buf_printf(b, "service %s\n", sv->full_name);
        for (size_t j = 0; j < sv->n_methods; j++) {
            const pb_methoddef *md = &sv->methods[j];
            gw_buf_printf(b, "  rpc %s (%s%s) returns (%s%s)\n", md->name,
                          md->client_streaming ? "stream " : "", md->input_type,
                          md->server_streaming ? "stream " : "", md->output_type);
        }
    }
    return 0;
}
