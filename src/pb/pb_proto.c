/* Our own .proto parser (proto2 and proto3, protobuf.dev/reference/protobuf/proto3-spec and
 * proto2-spec): packages, imports (public, weak), nested messages and enums, maps, oneofs,
 * optional, groups, reserved, extensions, services. Options are parsed and dropped except packed,
 * json_name, default, map_entry-like structure. It builds the same model pb_desc.c builds from
 * protoc's descriptors, with type names resolved to fully qualified ones by protobuf's scoping
 * rules. Errors are "file:line:column: message". Bounds: source size, nesting, import depth. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/gw_err.h"
#include "common/gw_mem.h"
#include "pb/pb_schema.h"

enum { T_EOF, T_IDENT, T_INT, T_FLOAT, T_STR, T_SYM };

typedef struct tok {
    int kind;
    const char *p;
    size_t n;
    uint32_t line, col;
} tok;

typedef struct lsym {
    const char *name;
    int kind;
} lsym;

typedef struct loader {
    pb_schemas *s;
    const char *const *dirs;
    size_t n_dirs;
    const char *extra_dir;   /* directory of the top file, searched after dirs */
    const char *stack[80];   /* files being loaded, for cycles */
    int depth;
    char *err;
    size_t errlen;
} loader;

typedef struct parser {
    loader *ld;
    pb_schemas *s;
    const char *fname;
    const char *src;
    size_t n, pos;
    uint32_t line, col;
    tok t;
    pb_filedef *f;
    lsym *syms;
    size_t n_syms;
    int nesting;
    int code;
    jmp_buf jb; /* errors unwind the whole parse: everything lives in the arena, nothing leaks */
} parser;

static void fail_at(parser *P, uint32_t line, uint32_t col, int code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6), noreturn));
static void fail_at(parser *P, uint32_t line, uint32_t col, int code, const char *fmt, ...)
{
    loader *ld = P->ld;
    if (ld->err && ld->errlen) {
        int k = snprintf(ld->err, ld->errlen, "%s:%u:%u: ", P->fname, line, col);
        if (k >= 0 && (size_t)k < ld->errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(ld->err + k, ld->errlen - (size_t)k, fmt, ap);
            va_end(ap);
        }
    }
    P->code = code;
    longjmp(P->jb, 1);
}
#define FAIL(...) fail_at(P, P->t.line, P->t.col, GW_EPARSE, __VA_ARGS__)

static void *alloc(parser *P, size_t n)
{
    void *p = pb_arena_alloc(P->s, n);
    if (!p)
        fail_at(P, P->t.line, P->t.col, GW_ECAP, "schema size limit reached");
    return p;
}
static void *push(parser *P, void *arr, size_t *n, size_t elsz)
{
    void *p = pb_arena_push(P->s, arr, n, elsz);
    if (!p)
        fail_at(P, P->t.line, P->t.col, GW_ECAP, "schema size limit reached");
    return p;
}
static char *dupn(parser *P, const char *p, size_t n)
{
    char *d = pb_arena_strndup(P->s, p, n);
    if (!d)
        fail_at(P, P->t.line, P->t.col, GW_ECAP, "schema size limit reached");
    return d;
}
static char *join(parser *P, const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *d = alloc(P, la + lb + 2);
    memcpy(d, a, la);
    if (la)
        d[la++] = '.';
    memcpy(d + la, b, lb + 1);
    return d;
}

/* ---- lexer ------------------------------------------------------------------------------- */

static int is_alpha(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static int is_digit(int c) { return c >= '0' && c <= '9'; }

static void adv(parser *P)
{
    if (P->src[P->pos] == '\n') {
        P->line++;
        P->col = 1;
    } else {
        P->col++;
    }
    P->pos++;
}

static void next(parser *P)
{
    for (;;) {
        while (P->pos < P->n && (P->src[P->pos] == ' ' || P->src[P->pos] == '\t' ||
                                 P->src[P->pos] == '\n' || P->src[P->pos] == '\r' ||
                                 P->src[P->pos] == '\f' || P->src[P->pos] == '\v'))
            adv(P);
        if (P->pos + 1 < P->n && P->src[P->pos] == '/' && P->src[P->pos + 1] == '/') {
            while (P->pos < P->n && P->src[P->pos] != '\n')
                adv(P);
            continue;
        }
        if (P->pos + 1 < P->n && P->src[P->pos] == '/' && P->src[P->pos + 1] == '*') {
            uint32_t l = P->line, c = P->col;
            adv(P);
            adv(P);
            while (P->pos + 1 < P->n && !(P->src[P->pos] == '*' && P->src[P->pos + 1] == '/'))
                adv(P);
            if (P->pos + 1 >= P->n)
                fail_at(P, l, c, GW_EPARSE, "unterminated comment");
            adv(P);
            adv(P);
            continue;
        }
        break;
    }
    tok *t = &P->t;
    t->line = P->line;
    t->col = P->col;
    t->p = P->src + P->pos;
    size_t start = P->pos;
    if (P->pos >= P->n) {
        t->kind = T_EOF;
        t->n = 0;
        return;
    }
    int c = (unsigned char)P->src[P->pos];
    if (is_alpha(c)) {
        while (P->pos < P->n && (is_alpha(P->src[P->pos]) || is_digit(P->src[P->pos])))
            adv(P);
        t->kind = T_IDENT;
    } else if (is_digit(c) || (c == '.' && P->pos + 1 < P->n && is_digit(P->src[P->pos + 1]))) {
        t->kind = T_INT;
        if (c == '0' && P->pos + 1 < P->n && (P->src[P->pos + 1] == 'x' || P->src[P->pos + 1] == 'X')) {
            adv(P);
            adv(P);
            while (P->pos < P->n && (is_digit(P->src[P->pos]) || (P->src[P->pos] | 32) >= 'a') &&
                   (is_digit(P->src[P->pos]) || (P->src[P->pos] | 32) <= 'f'))
                adv(P);
        } else {
            while (P->pos < P->n) {
                char ch = P->src[P->pos];
                if (is_digit(ch)) {
                    adv(P);
                } else if (ch == '.') {
                    t->kind = T_FLOAT;
                    adv(P);
                } else if (ch == 'e' || ch == 'E') {
                    t->kind = T_FLOAT;
                    adv(P);
                    if (P->pos < P->n && (P->src[P->pos] == '+' || P->src[P->pos] == '-'))
                        adv(P);
                } else {
                    break;
                }
            }
        }
        if (P->pos < P->n && is_alpha(P->src[P->pos]))
            fail_at(P, t->line, t->col, GW_EPARSE, "bad number");
    } else if (c == '"' || c == '\'') {
        adv(P);
        while (P->pos < P->n && P->src[P->pos] != c && P->src[P->pos] != '\n') {
            if (P->src[P->pos] == '\\' && P->pos + 1 < P->n)
                adv(P);
            adv(P);
        }
        if (P->pos >= P->n || P->src[P->pos] != c)
            fail_at(P, t->line, t->col, GW_EPARSE, "unterminated string");
        adv(P);
        t->kind = T_STR;
    } else {
        adv(P);
        t->kind = T_SYM;
    }
    t->n = P->pos - start;
}

static int is_sym(const parser *P, char c) { return P->t.kind == T_SYM && P->t.p[0] == c; }
static int is_word(const parser *P, const char *w)
{
    return P->t.kind == T_IDENT && P->t.n == strlen(w) && memcmp(P->t.p, w, P->t.n) == 0;
}
static int accept(parser *P, char c)
{
    if (!is_sym(P, c))
        return 0;
    next(P);
    return 1;
}
static void expect(parser *P, char c)
{
    if (!accept(P, c))
        FAIL("expected '%c', found '%.*s'", c, (int)(P->t.n > 40 ? 40 : P->t.n), P->t.p);
}
static char *ident(parser *P, const char *what)
{
    if (P->t.kind != T_IDENT)
        FAIL("expected %s, found '%.*s'", what, (int)(P->t.n > 40 ? 40 : P->t.n), P->t.p);
    char *s = dupn(P, P->t.p, P->t.n);
    next(P);
    return s;
}
/* Look at the token after the current one. */
static tok peek(parser *P)
{
    size_t pos = P->pos;
    uint32_t line = P->line, col = P->col;
    tok cur = P->t;
    next(P);
    tok r = P->t;
    P->pos = pos;
    P->line = line;
    P->col = col;
    P->t = cur;
    return r;
}

/* A string literal's value (adjacent literals concatenated). Decoded straight into the arena:
 * the lexer may longjmp on the next token, so nothing here may own heap memory. */
static char *string_lit(parser *P, size_t *len)
{
    if (P->t.kind != T_STR)
        FAIL("expected a string");
    char *acc = NULL;
    size_t alen = 0;
    while (P->t.kind == T_STR) {
        char *d = alloc(P, alen + P->t.n + 1);
        if (alen)
            memcpy(d, acc, alen);
        size_t k = alen;
        const char *p = P->t.p + 1, *e = P->t.p + P->t.n - 1;
        while (p < e) {
            int ch = (unsigned char)*p++;
            if (ch == '\\' && p < e) {
                int x = (unsigned char)*p++;
                switch (x) {
                case 'n': ch = '\n'; break;
                case 't': ch = '\t'; break;
                case 'r': ch = '\r'; break;
                case 'a': ch = 7; break;
                case 'b': ch = 8; break;
                case 'f': ch = 12; break;
                case 'v': ch = 11; break;
                case 'x': case 'X': {
                    int v = 0, n = 0;
                    while (n < 2 && p < e && (is_digit(*p) || ((*p | 32) >= 'a' && (*p | 32) <= 'f'))) {
                        v = v * 16 + (is_digit(*p) ? *p - '0' : (*p | 32) - 'a' + 10);
                        p++;
                        n++;
                    }
                    ch = v;
                    break;
                }
                default:
                    if (x >= '0' && x <= '7') {
                        int v = x - '0', n = 1;
                        while (n < 3 && p < e && *p >= '0' && *p <= '7') {
                            v = v * 8 + (*p++ - '0');
                            n++;
                        }
                        ch = v & 0xff;
                    } else {
                        ch = x;
                    }
                }
            }
            d[k++] = (char)ch;
        }
        d[k] = 0;
        acc = d;
        alen = k;
        next(P);
    }
    *len = alen;
    return acc;
}

/* An integer literal with an optional sign, within lo..hi. */
static int64_t int_lit(parser *P, int64_t lo, int64_t hi, const char *what)
{
    int neg = 0;
    if (accept(P, '-'))
        neg = 1;
    else
        accept(P, '+');
    if (P->t.kind != T_INT)
        FAIL("expected %s", what);
    char buf[64];
    if (P->t.n >= sizeof buf)
        FAIL("%s out of range", what);
    memcpy(buf, P->t.p, P->t.n);
    buf[P->t.n] = 0;
    char *end;
    int base = buf[0] == '0' && (buf[1] == 'x' || buf[1] == 'X') ? 16 : buf[0] == '0' ? 8 : 10;
    unsigned long long v = strtoull(buf, &end, base);
    if (*end || v > (unsigned long long)INT64_MAX)
        FAIL("bad %s", what);
    int64_t x = neg ? -(int64_t)v : (int64_t)v;
    if (x < lo || x > hi)
        FAIL("%s out of range", what);
    next(P);
    return x;
}

/* ---- options ----------------------------------------------------------------------------- */

static void skip_aggregate(parser *P)
{
    int depth = 0;
    uint32_t l = P->t.line, c = P->t.col;
    do {
        if (P->t.kind == T_EOF)
            fail_at(P, l, c, GW_EPARSE, "unterminated option value");
        if (is_sym(P, '{') || is_sym(P, '<') || is_sym(P, '['))
            depth++;
        else if (is_sym(P, '}') || is_sym(P, '>') || is_sym(P, ']'))
            depth--;
        if (depth > 200)
            FAIL("option value nested too deeply");
        next(P);
    } while (depth > 0);
}

/* name: ident | '(' ['.'] full ')' then ('.' ident | '.' '(' ... ')')*; returns the simple name
 * when it is one plain identifier (for packed/json_name/default), else "". */
static const char *option_name(parser *P)
{
    const char *simple = "";
    int parts = 0;
    do {
        if (accept(P, '(')) {
            accept(P, '.');
            ident(P, "option name");
            while (accept(P, '.'))
                ident(P, "option name");
            expect(P, ')');
        } else {
            char *n = ident(P, "option name");
            if (!parts)
                simple = n;
        }
        parts++;
    } while (accept(P, '.'));
    return parts == 1 ? simple : "";
}

/* A constant; returns its text for strings/identifiers/numbers (NULL for aggregates). */
static char *option_value(parser *P, int *is_true)
{
    *is_true = 0;
    if (is_sym(P, '{')) {
        skip_aggregate(P);
        return NULL;
    }
    if (P->t.kind == T_STR) {
        size_t n;
        return string_lit(P, &n);
    }
    int neg = 0;
    if (accept(P, '-'))
        neg = 1;
    else
        accept(P, '+');
    if (P->t.kind != T_IDENT && P->t.kind != T_INT && P->t.kind != T_FLOAT)
        FAIL("expected an option value");
    char *v = alloc(P, P->t.n + 2);
    v[0] = '-';
    memcpy(v + 1, P->t.p, P->t.n);
    *is_true = is_word(P, "true");
    next(P);
    return neg ? v : v + 1;
}

/* `option x = y;` in a body: parsed and ignored. */
static void option_stmt(parser *P)
{
    next(P); /* option */
    option_name(P);
    expect(P, '=');
    int t;
    option_value(P, &t);
    expect(P, ';');
}

/* [a = b, ...] after a field or enum value. */
static void field_options(parser *P, pb_fdef *f)
{
    if (!accept(P, '['))
        return;
    do {
        const char *n = option_name(P);
        expect(P, '=');
        int t;
        char *v = option_value(P, &t);
        if (f && strcmp(n, "packed") == 0)
            f->packed = t;
        else if (f && strcmp(n, "json_name") == 0 && v)
            f->json_name = v;
        else if (f && strcmp(n, "default") == 0)
            f->default_value = v;
    } while (accept(P, ','));
    expect(P, ']');
}

/* ---- declarations ------------------------------------------------------------------------ */

static void add_lsym(parser *P, const char *name, int kind)
{
    lsym *y = push(P, (void **)&P->syms, &P->n_syms, sizeof *y);
    y->name = name;
    y->kind = kind;
}

static const struct {
    const char *name;
    int type;
} scalars[] = {
    {"double", PB_T_DOUBLE}, {"float", PB_T_FLOAT}, {"int64", PB_T_INT64}, {"uint64", PB_T_UINT64},
    {"int32", PB_T_INT32}, {"fixed64", PB_T_FIXED64}, {"fixed32", PB_T_FIXED32}, {"bool", PB_T_BOOL},
    {"string", PB_T_STRING}, {"bytes", PB_T_BYTES}, {"uint32", PB_T_UINT32},
    {"sfixed32", PB_T_SFIXED32}, {"sfixed64", PB_T_SFIXED64}, {"sint32", PB_T_SINT32},
    {"sint64", PB_T_SINT64},
};

/* A field type: a scalar, or a (possibly qualified) message/enum name resolved later. */
static void field_type(parser *P, pb_fdef *f, const char *scope)
{
    f->line = P->t.line;
    f->col = P->t.col;
    if (P->t.kind == T_IDENT) {
        for (size_t i = 0; i < sizeof scalars / sizeof scalars[0]; i++) {
            if (is_word(P, scalars[i].name)) {
                f->type = scalars[i].type;
                next(P);
                return;
            }
        }
    }
    const char *start = P->t.p;
    accept(P, '.');
    ident(P, "a type");
    while (is_sym(P, '.')) {
        next(P);
        ident(P, "a type");
    }
    const char *end = P->t.p;
    /* Rebuild without spaces that may sit between the parts. */
    char *n = alloc(P, (size_t)(end - start) + 1);
    size_t k = 0;
    for (const char *q = start; q < end; q++)
        if (is_alpha(*q) || is_digit(*q) || *q == '.')
            n[k++] = *q;
    n[k] = 0;
    f->type = 0;
    f->type_name = n;
    f->scope = scope;
}

static uint32_t field_number(parser *P)
{
    return (uint32_t)int_lit(P, 1, 536870911, "field number");
}

static pb_msgdef *new_msg(parser *P, const char *name, const char *scope)
{
    pb_msgdef *m = alloc(P, sizeof *m);
    m->name = name;
    m->full_name = join(P, scope, name);
    m->file = P->f;
    add_lsym(P, m->full_name, 2);
    return m;
}

static void message_body(parser *P, pb_msgdef *m);
static void enum_decl(parser *P, pb_enumdef ***arr, size_t *n, const char *scope);
static void extend_decl(parser *P, pb_fdef **arr, size_t *n, const char *scope);

static pb_fdef *new_field(parser *P, pb_fdef **arr, size_t *n)
{
    pb_fdef *f = push(P, (void **)arr, n, sizeof *f);
    f->oneof_index = -1;
    f->packed = -1;
    f->file = P->f;
    return f;
}

/* label? type name = N [opts] ;   or   label group Name = N [opts] { body } */
static void field_decl(parser *P, pb_msgdef *m, pb_fdef **arr, size_t *n, const char *scope,
                       int oneof, int in_extend)
{
    int label = PB_L_OPTIONAL, p3opt = 0;
    if (oneof < 0) {
        if (is_word(P, "optional")) {
            next(P);
            p3opt = P->f->syntax == 3;
        } else if (is_word(P, "required")) {
            if (P->f->syntax == 3)
                FAIL("required fields are not allowed in proto3");
            label = PB_L_REQUIRED;
            next(P);
        } else if (is_word(P, "repeated")) {
            label = PB_L_REPEATED;
            next(P);
        } else if (P->f->syntax == 2 && !in_extend) {
            FAIL("expected a label (optional, required or repeated)");
        }
    }
    pb_fdef *f = new_field(P, arr, n);
    f->label = label;
    f->proto3_optional = p3opt;
    f->oneof_index = oneof;
    if (is_word(P, "group") && peek(P).kind == T_IDENT) {
        next(P);
        uint32_t l = P->t.line, c = P->t.col;
        char *gname = ident(P, "group name");
        if (gname[0] < 'A' || gname[0] > 'Z')
            fail_at(P, l, c, GW_EPARSE, "a group's name must start with a capital letter");
        char *lower = dupn(P, gname, strlen(gname));
        for (char *q = lower; *q; q++)
            if (*q >= 'A' && *q <= 'Z')
                *q = (char)(*q + 32);
        f->name = lower;
        f->type = PB_T_GROUP;
        expect(P, '=');
        f->number = field_number(P);
        field_options(P, f);
        if (!m)
            FAIL("groups in extend blocks are not supported");
        pb_msgdef *g = new_msg(P, gname, m->full_name);
        pb_msgdef **slot = push(P, (void **)&m->nested, &m->n_nested, sizeof *slot);
        *slot = g;
        char *abs = alloc(P, strlen(g->full_name) + 2);
        abs[0] = '.';
        strcpy(abs + 1, g->full_name);
        f->type_name = abs;
        f->json_name = pb_json_name(P->s, f->name);
        expect(P, '{');
        P->nesting++;
        message_body(P, g);
        P->nesting--;
        return;
    }
    field_type(P, f, scope);
    f->name = ident(P, "field name");
    expect(P, '=');
    f->number = field_number(P);
    field_options(P, f);
    expect(P, ';');
    if (!f->json_name)
        f->json_name = pb_json_name(P->s, f->name);
    if (!f->json_name)
        fail_at(P, P->t.line, P->t.col, GW_ECAP, "schema size limit reached");
}

/* map<K, V> name = N [opts]; */
static void map_field(parser *P, pb_msgdef *m, int oneof)
{
    if (oneof >= 0)
        FAIL("map fields are not allowed in oneofs");
    next(P); /* map */
    expect(P, '<');
    pb_fdef key, val;
    memset(&key, 0, sizeof key);
    memset(&val, 0, sizeof val);
    uint32_t kl = P->t.line, kc = P->t.col;
    field_type(P, &key, m->full_name);
    if (key.type == 0 || key.type == PB_T_DOUBLE || key.type == PB_T_FLOAT || key.type == PB_T_BYTES)
        fail_at(P, kl, kc, GW_EPARSE, "invalid map key type");
    expect(P, ',');
    field_type(P, &val, m->full_name);
    expect(P, '>');
    char *name = ident(P, "field name");
    expect(P, '=');
    uint32_t number = field_number(P);
    pb_fdef *f = new_field(P, &m->fields, &m->n_fields);
    f->name = name;
    f->number = number;
    f->label = PB_L_REPEATED;
    f->type = PB_T_MESSAGE;
    field_options(P, f);
    expect(P, ';');
    f->json_name = pb_json_name(P->s, name);

    /* The entry type protoc generates: CamelCase of the field name + "Entry". */
    size_t ln = strlen(name);
    char *ename = alloc(P, ln + 6);
    size_t k = 0;
    int cap = 1;
    for (size_t i = 0; i < ln; i++) {
        if (name[i] == '_') {
            cap = 1;
        } else {
            ename[k++] = (char)(cap && name[i] >= 'a' && name[i] <= 'z' ? name[i] - 32 : name[i]);
            cap = 0;
        }
    }
    memcpy(ename + k, "Entry", 6);
    pb_msgdef *e = new_msg(P, ename, m->full_name);
    e->map_entry = 1;
    pb_msgdef **slot = push(P, (void **)&m->nested, &m->n_nested, sizeof *slot);
    *slot = e;
    char *abs = alloc(P, strlen(e->full_name) + 2);
    abs[0] = '.';
    strcpy(abs + 1, e->full_name);
    f->type_name = abs;
    pb_fdef *kf = new_field(P, &e->fields, &e->n_fields);
    *kf = key;
    kf->oneof_index = -1;
    kf->packed = -1;
    kf->file = P->f;
    kf->name = "key";
    kf->json_name = "key";
    kf->number = 1;
    kf->label = PB_L_OPTIONAL;
    pb_fdef *vf = new_field(P, &e->fields, &e->n_fields);
    *vf = val;
    vf->oneof_index = -1;
    vf->packed = -1;
    vf->file = P->f;
    vf->name = "value";
    vf->json_name = "value";
    vf->number = 2;
    vf->label = PB_L_OPTIONAL;
}

/* reserved 1, 2 to 5, 9 to max;  reserved "a", "b";  (enum: end inclusive) */
static void reserved_decl(parser *P, pb_range **r, size_t *nr, const char ***names, size_t *nn,
                          int is_enum)
{
    next(P);
    if (P->t.kind == T_STR) {
        do {
            size_t len;
            const char **slot = push(P, (void **)names, nn, sizeof *slot);
            *slot = string_lit(P, &len);
        } while (accept(P, ','));
    } else {
        do {
            int64_t lo = is_enum ? INT32_MIN : 1, hi = is_enum ? INT32_MAX : 536870911;
            int64_t a = int_lit(P, lo, hi, "reserved number"), b = a;
            if (is_word(P, "to")) {
                next(P);
                if (is_word(P, "max")) {
                    next(P);
                    b = hi;
                } else {
                    b = int_lit(P, lo, hi, "reserved number");
                }
            }
            if (b < a)
                FAIL("bad reserved range");
            pb_range *slot = push(P, (void **)r, nr, sizeof *slot);
            slot->start = (int32_t)a;
            slot->end = is_enum ? (int32_t)b : (int32_t)(b + 1);
        } while (accept(P, ','));
    }
    expect(P, ';');
}

static void extensions_decl(parser *P, pb_msgdef *m)
{
    next(P);
    do {
        int64_t a = int_lit(P, 1, 536870911, "extension number"), b = a;
        if (is_word(P, "to")) {
            next(P);
            if (is_word(P, "max")) {
                next(P);
                b = 536870911;
            } else {
                b = int_lit(P, 1, 536870911, "extension number");
            }
        }
        if (b < a)
            FAIL("bad extension range");
        pb_range *slot = push(P, (void **)&m->ext_ranges, &m->n_ext_ranges, sizeof *slot);
        slot->start = (int32_t)a;
        slot->end = (int32_t)(b + 1);
    } while (accept(P, ','));
    field_options(P, NULL);
    expect(P, ';');
}

static void oneof_decl(parser *P, pb_msgdef *m)
{
    next(P);
    char *name = ident(P, "oneof name");
    int idx = (int)m->n_oneofs;
    const char **slot = push(P, (void **)&m->oneofs, &m->n_oneofs, sizeof *slot);
    *slot = name;
    expect(P, '{');
    while (!accept(P, '}')) {
        if (P->t.kind == T_EOF)
            FAIL("unterminated oneof");
        if (is_word(P, "option"))
            option_stmt(P);
        else if (accept(P, ';'))
            ;
        else
            field_decl(P, m, &m->fields, &m->n_fields, m->full_name, idx, 0);
    }
}

static void message_body(parser *P, pb_msgdef *m)
{
    if (P->nesting > pb_schemas_limits(P->s)->max_nesting)
        FAIL("declarations nested too deeply");
    while (!accept(P, '}')) {
        if (P->t.kind == T_EOF)
            FAIL("unterminated message %s", m->name);
        if (accept(P, ';'))
            continue;
        if (is_word(P, "option")) {
            option_stmt(P);
        } else if (is_word(P, "message") && peek(P).kind == T_IDENT) {
            next(P);
            char *name = ident(P, "message name");
            pb_msgdef *nm = new_msg(P, name, m->full_name);
            pb_msgdef **slot = push(P, (void **)&m->nested, &m->n_nested, sizeof *slot);
            *slot = nm;
            expect(P, '{');
            P->nesting++;
            message_body(P, nm);
            P->nesting--;
        } else if (is_word(P, "enum") && peek(P).kind == T_IDENT) {
            enum_decl(P, &m->enums, &m->n_enums, m->full_name);
        } else if (is_word(P, "extend") && peek(P).kind == T_IDENT) {
            extend_decl(P, &m->extensions, &m->n_extensions, m->full_name);
        } else if (is_word(P, "extensions") && peek(P).kind == T_INT) {
            extensions_decl(P, m);
        } else if (is_word(P, "reserved") && (peek(P).kind == T_INT || peek(P).kind == T_STR)) {
            reserved_decl(P, &m->reserved, &m->n_reserved, &m->reserved_names,
                          &m->n_reserved_names, 0);
        } else if (is_word(P, "oneof") && peek(P).kind == T_IDENT) {
            oneof_decl(P, m);
        } else if (is_word(P, "map") && peek(P).kind == T_SYM && peek(P).p[0] == '<') {
            map_field(P, m, -1);
        } else {
            field_decl(P, m, &m->fields, &m->n_fields, m->full_name, -1, 0);
        }
    }
    /* proto3 optional: one synthetic oneof per field, after the real ones (as protoc does). */
    for (size_t i = 0; i < m->n_fields; i++) {
        pb_fdef *f = &m->fields[i];
        if (!f->proto3_optional)
            continue;
        size_t ln = strlen(f->name);
        char *on = alloc(P, ln + 2);
        on[0] = '_';
        memcpy(on + 1, f->name, ln + 1);
        f->oneof_index = (int)m->n_oneofs;
        const char **slot = push(P, (void **)&m->oneofs, &m->n_oneofs, sizeof *slot);
        *slot = on;
    }
}

static void enum_decl(parser *P, pb_enumdef ***arr, size_t *n, const char *scope)
{
    next(P);
    char *name = ident(P, "enum name");
    pb_enumdef *e = alloc(P, sizeof *e);
    e->name = name;
    e->full_name = join(P, scope, name);
    e->file = P->f;
    add_lsym(P, e->full_name, 3);
    pb_enumdef **slot = push(P, (void **)arr, n, sizeof *slot);
    *slot = e;
    expect(P, '{');
    while (!accept(P, '}')) {
        if (P->t.kind == T_EOF)
            FAIL("unterminated enum %s", name);
        if (accept(P, ';'))
            continue;
        if (is_word(P, "option")) {
            option_stmt(P);
        } else if (is_word(P, "reserved") && peek(P).kind != T_SYM) {
            reserved_decl(P, &e->reserved, &e->n_reserved, &e->reserved_names,
                          &e->n_reserved_names, 1);
        } else {
            pb_enumval *v = push(P, (void **)&e->vals, &e->n_vals, sizeof *v);
            v->name = ident(P, "enum value name");
            /* Enum values are siblings of the enum in the scope (C++ rules). */
            add_lsym(P, join(P, scope, v->name), 5);
            expect(P, '=');
            v->number = (int32_t)int_lit(P, INT32_MIN, INT32_MAX, "enum value");
            field_options(P, NULL);
            expect(P, ';');
        }
    }
    if (e->n_vals == 0)
        FAIL("enum %s has no values", name);
    if (P->f->syntax == 3 && e->vals[0].number != 0)
        FAIL("the first value of a proto3 enum must be zero");
}

static void extend_decl(parser *P, pb_fdef **arr, size_t *n, const char *scope)
{
    next(P);
    pb_fdef target;
    memset(&target, 0, sizeof target);
    field_type(P, &target, scope);
    if (!target.type_name)
        FAIL("extend needs a message type");
    expect(P, '{');
    while (!accept(P, '}')) {
        if (P->t.kind == T_EOF)
            FAIL("unterminated extend");
        if (accept(P, ';'))
            continue;
        size_t before = *n;
        field_decl(P, NULL, arr, n, scope, -1, 1);
        pb_fdef *f = &(*arr)[before];
        f->extendee = target.type_name;
        f->full_name = join(P, scope, f->name);
        f->proto3_optional = 0;
    }
}

static void service_decl(parser *P)
{
    next(P);
    char *name = ident(P, "service name");
    pb_servicedef *sv = alloc(P, sizeof *sv);
    sv->name = name;
    sv->full_name = join(P, P->f->package, name);
    sv->file = P->f;
    add_lsym(P, sv->full_name, 4);
    pb_servicedef **slot = push(P, (void **)&P->f->services, &P->f->n_services, sizeof *slot);
    *slot = sv;
    expect(P, '{');
    while (!accept(P, '}')) {
        if (P->t.kind == T_EOF)
            FAIL("unterminated service %s", name);
        if (accept(P, ';'))
            continue;
        if (is_word(P, "option")) {
            option_stmt(P);
            continue;
        }
        if (!is_word(P, "rpc"))
            FAIL("expected rpc or option in a service");
        next(P);
        pb_methoddef *md = push(P, (void **)&sv->methods, &sv->n_methods, sizeof *md);
        md->name = ident(P, "method name");
        for (int k = 0; k < 2; k++) {
            if (k == 1) {
                if (!is_word(P, "returns"))
                    FAIL("expected returns");
                next(P);
            }
            expect(P, '(');
            int stream = 0;
            if (is_word(P, "stream") && peek(P).kind != T_SYM) {
                next(P);
                stream = 1;
            } else if (is_word(P, "stream") && peek(P).kind == T_SYM && peek(P).p[0] == '.') {
                next(P);
                stream = 1;
            }
            pb_fdef tmp;
            memset(&tmp, 0, sizeof tmp);
            field_type(P, &tmp, P->f->package);
            if (!tmp.type_name)
                FAIL("a method's types must be messages");
            if (k == 0) {
                md->input_type = tmp.type_name;
                md->client_streaming = stream;
                md->line = tmp.line;
                md->col = tmp.col;
            } else {
                md->output_type = tmp.type_name;
                md->server_streaming = stream;
            }
            expect(P, ')');
        }
        if (accept(P, '{')) {
            while (!accept(P, '}')) {
                if (P->t.kind == T_EOF)
                    FAIL("unterminated rpc");
                if (accept(P, ';'))
                    continue;
                if (!is_word(P, "option"))
                    FAIL("expected option in an rpc body");
                option_stmt(P);
            }
        } else {
            expect(P, ';');
        }
    }
}

/* ---- name resolution --------------------------------------------------------------------- */

static int kind_of(parser *P, const char *name, size_t len)
{
    for (size_t i = 0; i < P->n_syms; i++)
        if (strlen(P->syms[i].name) == len && memcmp(P->syms[i].name, name, len) == 0)
            return P->syms[i].kind;
    const char *pk = P->f->package;
    size_t pl = strlen(pk);
    if (pl && len <= pl && memcmp(pk, name, len) == 0 && (len == pl || pk[len] == '.'))
        return 1;
    return pb_schemas_symbol_kind(P->s, name, len);
}

/* protobuf scoping: innermost scope outwards; the first component must exist in a scope for the
 * whole name to be looked up there (so an inner name shadows an outer one). Returns ".full" or
 * NULL. want: 0 a message or enum, 2 a message. */
static const char *resolve(parser *P, const char *name, const char *scope, int *kind)
{
    char buf[1024];
    *kind = 0;
    if (name[0] == '.') {
        *kind = kind_of(P, name + 1, strlen(name + 1));
        return (*kind == 2 || *kind == 3) ? name : NULL;
    }
    size_t first = strcspn(name, ".");
    size_t sl = strlen(scope), nl = strlen(name);
    if (sl + nl + 2 >= sizeof buf)
        return NULL;
    for (;;) {
        size_t k = 0;
        if (sl) {
            memcpy(buf, scope, sl);
            buf[sl] = '.';
            k = sl + 1;
        }
        memcpy(buf + k, name, nl + 1);
        int fk = kind_of(P, buf, k + first);
        if (fk) {
            int wk = kind_of(P, buf, k + nl);
            if (wk == 2 || wk == 3) {
                *kind = wk;
                char *r = alloc(P, k + nl + 2);
                r[0] = '.';
                memcpy(r + 1, buf, k + nl + 1);
                return r;
            }
            if (fk != 1 || first == nl)
                return NULL;
        }
        if (!sl)
            return NULL;
        while (sl && scope[sl - 1] != '.')
            sl--;
        if (sl)
            sl--;
    }
}

static void resolve_field(parser *P, pb_fdef *f)
{
    int k;
    if (f->extendee && f->extendee[0] != '.' ) {
        const char *r = resolve(P, f->extendee, f->scope ? f->scope : P->f->package, &k);
        if (!r || k != 2)
            fail_at(P, f->line, f->col, GW_EPARSE, "unknown message %s (extended)", f->extendee);
        f->extendee = r;
    }
    if (f->type != 0 || !f->type_name)
        return;
    const char *r = resolve(P, f->type_name, f->scope ? f->scope : P->f->package, &k);
    if (!r)
        fail_at(P, f->line, f->col, GW_EPARSE, "unknown type %s", f->type_name);
    f->type_name = r;
    f->type = k == 2 ? PB_T_MESSAGE : PB_T_ENUM;
    if (f->label == PB_L_REPEATED && f->packed == 1 && k == 2)
        fail_at(P, f->line, f->col, GW_EPARSE, "[packed = true] on a message field");
}

static void resolve_msg(parser *P, pb_msgdef *m, int depth)
{
    for (size_t i = 0; i < m->n_fields; i++)
        resolve_field(P, &m->fields[i]);
    for (size_t i = 0; i < m->n_extensions; i++)
        resolve_field(P, &m->extensions[i]);
    for (size_t i = 0; i < m->n_nested && depth < 200; i++)
        resolve_msg(P, m->nested[i], depth + 1);
}

static void resolve_all(parser *P)
{
    pb_filedef *f = P->f;
    for (size_t i = 0; i < f->n_messages; i++)
        resolve_msg(P, f->messages[i], 0);
    for (size_t i = 0; i < f->n_extensions; i++)
        resolve_field(P, &f->extensions[i]);
    for (size_t i = 0; i < f->n_services; i++) {
        pb_servicedef *sv = f->services[i];
        for (size_t j = 0; j < sv->n_methods; j++) {
            pb_methoddef *md = &sv->methods[j];
            int k1, k2;
            const char *in = resolve(P, md->input_type, f->package, &k1);
            const char *out = resolve(P, md->output_type, f->package, &k2);
            if (!in || k1 != 2)
                fail_at(P, md->line, md->col, GW_EPARSE, "unknown message %s", md->input_type);
            if (!out || k2 != 2)
                fail_at(P, md->line, md->col, GW_EPARSE, "unknown message %s", md->output_type);
            md->input_type = in;
            md->output_type = out;
        }
    }
}

/* ---- files and imports ------------------------------------------------------------------- */

static int load_named(loader *ld, const char *name, uint32_t line, uint32_t col, const char *from);

static int parse_text(loader *ld, const char *name, const char *text, size_t len, int builtin)
{
    parser *P = gw_calloc(1, sizeof *P);
    if (!P)
        return GW_ENOMEM;
    int rc = 0;
    P->ld = ld;
    P->s = ld->s;
    P->fname = name;
    P->src = text;
    P->n = len;
    P->line = 1;
    P->col = 1;
    if (setjmp(P->jb)) {
        rc = P->code ? P->code : GW_EPARSE;
        goto out;
    }
    if (len > pb_schemas_limits(P->s)->max_source)
        fail_at(P, 1, 1, GW_ECAP, "file larger than the schema source limit");
    pb_filedef *f = alloc(P, sizeof *f);
    P->f = f;
    f->name = dupn(P, name, strlen(name));
    f->package = "";
    f->syntax = 2;
    f->builtin = builtin;
    next(P);
    if (is_word(P, "syntax")) {
        next(P);
        expect(P, '=');
        size_t n;
        uint32_t l = P->t.line, c = P->t.col;
        char *v = string_lit(P, &n);
        if (strcmp(v, "proto3") == 0)
            f->syntax = 3;
        else if (strcmp(v, "proto2") != 0)
            fail_at(P, l, c, GW_EPARSE, "unsupported syntax \"%s\"", v);
        expect(P, ';');
    } else if (is_word(P, "edition")) {
        FAIL("editions are not supported");
    }
    int have_package = 0;
    while (P->t.kind != T_EOF) {
        if (accept(P, ';'))
            continue;
        if (is_word(P, "package")) {
            if (have_package)
                FAIL("more than one package statement");
            next(P);
            char *pk = ident(P, "package name");
            while (accept(P, '.'))
                pk = join(P, pk, ident(P, "package name"));
            f->package = pk;
            have_package = 1;
            expect(P, ';');
        } else if (is_word(P, "import")) {
            next(P);
            int pub = 0;
            if (is_word(P, "public")) {
                pub = 1;
                next(P);
            } else if (is_word(P, "weak")) {
                next(P);
            }
            uint32_t l = P->t.line, c = P->t.col;
            size_t n;
            char *dep = string_lit(P, &n);
            expect(P, ';');
            if (pub) {
                int32_t *ps = push(P, (void **)&f->public_deps, &f->n_public_deps, sizeof *ps);
                *ps = (int32_t)f->n_deps;
            }
            const char **ds = push(P, (void **)&f->deps, &f->n_deps, sizeof *ds);
            *ds = dep;
            int e = load_named(ld, dep, l, c, name);
            if (e) {
                /* The message is already in ld->err (from the import, or "not found" here). */
                P->code = e;
                longjmp(P->jb, 1);
            }
        } else if (is_word(P, "option")) {
            option_stmt(P);
        } else if (is_word(P, "message")) {
            next(P);
            char *mn = ident(P, "message name");
            pb_msgdef *m = new_msg(P, mn, f->package);
            pb_msgdef **slot = push(P, (void **)&f->messages, &f->n_messages, sizeof *slot);
            *slot = m;
            expect(P, '{');
            P->nesting = 1;
            message_body(P, m);
        } else if (is_word(P, "enum")) {
            enum_decl(P, &f->enums, &f->n_enums, f->package);
        } else if (is_word(P, "service")) {
            service_decl(P);
        } else if (is_word(P, "extend")) {
            extend_decl(P, &f->extensions, &f->n_extensions, f->package);
        } else {
            FAIL("unexpected '%.*s'", (int)(P->t.n > 40 ? 40 : P->t.n), P->t.p);
        }
    }
    resolve_all(P);
    rc = pb_schemas_register(P->s, f);
    if (rc && ld->err && ld->errlen)
        snprintf(ld->err, ld->errlen, "%s: %s", name, gw_strerror(rc));
out:
    gw_free(P);
    return rc;
}

static int read_file(const char *path, size_t cap, char **out, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return GW_ENOTFOUND;
    gw_buf b;
    gw_buf_init(&b, cap);
    char chunk[8192];
    size_t k;
    int e = 0;
    while (!e && (k = fread(chunk, 1, sizeof chunk, fp)) > 0)
        e = gw_buf_append(&b, chunk, k);
    if (!e && ferror(fp))
        e = GW_EIO;
    fclose(fp);
    if (!e)
        e = gw_buf_putc(&b, 0);
    if (e) {
        gw_buf_free(&b);
        return e;
    }
    *out = (char *)b.data;
    *len = b.len - 1;
    return 0;
}

/* An import: already loaded, on disk under a search directory, or a built-in. The error message
 * for a failure inside the import is already in ld->err; a missing import is reported at the
 * import statement (the caller adds the position). */
static int load_named(loader *ld, const char *name, uint32_t line, uint32_t col, const char *from)
{
    if (pb_schemas_find_file(ld->s, name))
        return 0;
    for (int i = 0; i < ld->depth; i++) {
        if (strcmp(ld->stack[i], name) == 0) {
            snprintf(ld->err, ld->errlen, "%s:%u:%u: import cycle through %s", from, line, col, name);
            return GW_EPARSE;
        }
    }
    if (ld->depth >= pb_schemas_limits(ld->s)->max_import_depth ||
        ld->depth >= (int)(sizeof ld->stack / sizeof ld->stack[0])) {
        snprintf(ld->err, ld->errlen, "%s:%u:%u: imports nested too deeply", from, line, col);
        return GW_ECAP;
    }
    char *text = NULL;
    size_t len = 0;
    int e = GW_ENOTFOUND, builtin = 0;
    char path[4096];
    for (size_t i = 0; e == GW_ENOTFOUND && i <= ld->n_dirs; i++) {
        const char *dir = i < ld->n_dirs ? ld->dirs[i] : ld->extra_dir;
        if (!dir || (size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
            continue;
        e = read_file(path, pb_schemas_limits(ld->s)->max_source, &text, &len);
    }
    if (e == GW_ENOTFOUND) {
        const char *b = pb_builtin_source(name);
        if (b) {
            ld->stack[ld->depth++] = name;
            e = parse_text(ld, name, b, strlen(b), 1);
            ld->depth--;
            return e;
        }
        if (from)
            snprintf(ld->err, ld->errlen, "%s:%u:%u: import \"%s\" not found", from, line, col, name);
        else
            snprintf(ld->err, ld->errlen, "%s: not found", name);
        return e;
    }
    if (e) {
        snprintf(ld->err, ld->errlen, "%s: %s", name, gw_strerror(e));
        return e;
    }
    ld->stack[ld->depth++] = name;
    e = parse_text(ld, name, text, len, builtin);
    ld->depth--;
    gw_free(text);
    return e;
}

int pb_schemas_parse_proto(pb_schemas *s, const char *name, const char *text, size_t len,
                           const char *const *dirs, size_t n_dirs, char *err, size_t errlen)
{
    char dummy[8];
    loader ld;
    memset(&ld, 0, sizeof ld);
    ld.s = s;
    ld.dirs = dirs;
    ld.n_dirs = n_dirs;
    ld.err = err && errlen ? err : dummy;
    ld.errlen = err && errlen ? errlen : sizeof dummy;
    ld.err[0] = 0;
    if (pb_schemas_find_file(s, name))
        return 0;
    ld.stack[ld.depth++] = name;
    return parse_text(&ld, name, text, len, 0);
}

int pb_schemas_builtin_parse(pb_schemas *s, const char *name, char *err, size_t errlen)
{
    char dummy[8];
    loader ld;
    memset(&ld, 0, sizeof ld);
    ld.s = s;
    ld.err = err && errlen ? err : dummy;
    ld.errlen = err && errlen ? errlen : sizeof dummy;
    ld.err[0] = 0;
    return load_named(&ld, name, 0, 0, NULL);
}

int pb_schemas_load_proto(pb_schemas *s, const char *path, const char *const *dirs, size_t n_dirs,
                          char *err, size_t errlen)
{
    char dummy[8];
    loader ld;
    memset(&ld, 0, sizeof ld);
    ld.s = s;
    ld.dirs = dirs;
    ld.n_dirs = n_dirs;
    ld.err = err && errlen ? err : dummy;
    ld.errlen = err && errlen ? errlen : sizeof dummy;
    ld.err[0] = 0;
    /* A relative path that is not there is looked for in the search directories, as protoc
     * does with `protoc -I dir file.proto`. */
    char inpath[4096];
    if (path[0] != '/' && access(path, F_OK) != 0)
        for (size_t i = 0; i < n_dirs; i++) {
            int k = snprintf(inpath, sizeof inpath, "%s/%s", dirs[i], path);
            if (k > 0 && (size_t)k < sizeof inpath && access(inpath, F_OK) == 0) {
                path = inpath;
                break;
            }
        }
    /* The import name: the path relative to the search directory that holds it (as protoc). */
    const char *name = path;
    while (name[0] == '.' && name[1] == '/')
        name += 2;
    for (size_t i = 0; i < n_dirs; i++) {
        size_t dl = strlen(dirs[i]);
        while (dl > 1 && dirs[i][dl - 1] == '/')
            dl--;
        if (strcmp(dirs[i], ".") != 0 && strncmp(path, dirs[i], dl) == 0 && path[dl] == '/') {
            name = path + dl + 1;
            break;
        }
    }
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (slash && (size_t)(slash - path) < sizeof dir) {
        memcpy(dir, path, (size_t)(slash - path));
        dir[slash - path] = 0;
        ld.extra_dir = dir;
    } else {
        ld.extra_dir = ".";
    }
    if (pb_schemas_find_file(s, name))
        return 0;
    char *text;
    size_t len;
    int e = read_file(path, s ? pb_schemas_limits(s)->max_source : 0, &text, &len);
    if (e) {
        snprintf(ld.err, ld.errlen, "%s: %s", path,
                 e == GW_ENOTFOUND ? "cannot open" : gw_strerror(e));
        return e;
    }
    ld.stack[ld.depth++] = name;
    e = parse_text(&ld, name, text, len, 0);
    gw_free(text);
    return e;
}
