/* view_json: the memoised header pairs and record heads give exactly the plain renderings. */
#include <stdlib.h>
#include <string.h>

#include "common/gw_mem.h"
#include "gw_test.h"
#include "pb/pb_schema.h"
#include "view/view_impl.h"
#include "view/view_pb.h"
#include "view/view_schema.h"

/* A pair laid out as a call's header lists are: name, one byte, value, one byte. */
typedef struct pair {
    char *blk;
    size_t nl, vl;
} pair;

static pair make(const char *name, size_t nl, const char *value, size_t vl)
{
    pair p = {malloc(nl + vl + 2), nl, vl};
    if (nl)
        memcpy(p.blk, name, nl);
    p.blk[nl] = '\0';
    if (vl)
        memcpy(p.blk + nl + 1, value, vl);
    p.blk[nl + 1 + vl] = '\0';
    return p;
}

/* Render p through memo m and plainly, each into a buffer of exactly the room promised, and
 * compare. */
static int check_one(view_json_memo *m, const char *a, size_t an, const char *b, size_t bn)
{
    size_t plain_room = 6 * (an + bn) + 7, room = plain_room + VIEW_JSON_PAIR_OUT;
    uint8_t *want = malloc(plain_room), *got = malloc(room);
    size_t wn = view_json_pair_into(want, a, an, b, bn);
    size_t gn = view_json_pair_memo(m, got, a, an, b, bn);
    int ok = wn == gn && memcmp(want, got, wn) == 0;
    if (!ok)
        fprintf(stderr, "pair %zu/%zu differs: %.*s vs %.*s\n", an, bn, (int)wn, (char *)want,
                (int)gn, (char *)got);
    free(want);
    free(got);
    return ok;
}

static int check_pair(view_json_memo *m, const pair *p)
{
    return check_one(m, p->blk, p->nl, p->blk + p->nl + 1, p->vl);
}

static size_t used_slots(const view_json_memo *m)
{
    size_t n = 0;
    for (size_t i = 0; i < VIEW_JSON_PAIRS; i++)
        n += m->pair[i].n != 0;
    return n;
}

#define S(x) x, sizeof(x) - 1

static void test_table(void)
{
    static const struct {
        const char *n;
        size_t nl;
        const char *v;
        size_t vl;
    } t[] = {
        {S(":method"), S("POST")},
        {S(":status"), S("200")},
        {S("content-type"), S("application/grpc")},
        {S("te"), S("trailers")},
        {S("grpc-message"), S("")},
        {S(""), S("")},
        {S(""), S("x")},
        {S("a"), S("")},
        {S("a"), S("b")},
        {S("ab"), S("c")},
        {S("a"), S("bc")}, /* the same bytes as the one before, split elsewhere */
        {S("abc"), S("")},
        {S(""), S("abc")},
        {S("quote\""), S("back\\slash")},
        {S("ctl"), S("\x01\x02\x1f\x7f")},
        {S("nl"), S("a\nb\r\tc\b\f")},
        {S("nul"), S("a\0b")},
        {S("a\0b"), S("c")},
        {S("utf8"), S("r\xc3\xa9sum\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80")},
        {S("bad-utf8"), S("\xff\xfe\xc3(\xe2\x82\xed\xa0\x80\xf4\x90\x80\x80")},
        {S("cut-utf8"), S("abc\xe2\x82")},
        {S("user-agent"), S("grpc-go/1.63.2")},
        {S("user-agent"), S("grpc-go/1.63.3")},
        {S("user-agent"), S("grpc-go/1.63.2 ")},
        {S("user-agent"), S("grpc-python/1.51.1 grpc-c/29.0.0 (linux; chttp2)")},
        {S("user-agent"), S("grpc-python/1.51.1 grpc-c/29.1.0 (linux; chttp2)")},
        {S("grpc-timeout"), S("4162923u")},
        {S("grpc-timeout"), S("4162924u")},
        {S("grpc-timeout"), S("416292u")},
        /* 63, 64 and 65 key bytes: 64 is the longest memoised */
        {S("x-63"), S("0123456789012345678901234567890123456789012345678901234567")},
        {S("x-64"), S("01234567890123456789012345678901234567890123456789012345678")},
        {S("x-65"), S("012345678901234567890123456789012345678901234567890123456789")},
        /* a rendering longer than a slot: every byte escaped */
        {S("esc"), S("\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01")},
        {S(":path"), S("/helloworld.Greeter/SayHello")},
        {S(":path"), S("/helloworld.Greeter/SayHellp")},
        {S(":path"), S("/helloworld.Greetex/SayHello")}, /* differs in the middle only */
    };
    size_t n = sizeof t / sizeof t[0];
    pair *p = malloc(n * sizeof *p);
    for (size_t i = 0; i < n; i++)
        p[i] = make(t[i].n, t[i].nl, t[i].v, t[i].vl);
    view_json_memo *m = calloc(1, sizeof *m);
    int ok = 1;
    for (int round = 0; round < 4; round++) /* the first fills the memo, the others hit it */
        for (size_t i = 0; i < n; i++)
            ok &= check_pair(m, &p[round & 1 ? n - 1 - i : i]);
    GW_CHECK(ok);
    GW_CHECK(used_slots(m) > n / 2); /* the memo was used */
    /* Pairs not laid out in one block (the value elsewhere) are rendered plainly. */
    ok = 1;
    for (size_t i = 0; i < n; i++) {
        char *v = malloc(t[i].vl + 1);
        memcpy(v, t[i].v, t[i].vl);
        ok &= check_one(m, p[i].blk, p[i].nl, v, t[i].vl);
        free(v);
    }
    GW_CHECK(ok);
    /* A very long name and value. */
    size_t big = 100000;
    char *nm = malloc(big), *val = malloc(big);
    for (size_t i = 0; i < big; i++) {
        nm[i] = (char)('a' + i % 26);
        val[i] = (char)(i * 7 + 1);
    }
    pair lp = make(nm, big, val, big);
    GW_CHECK(check_pair(m, &lp));
    GW_CHECK(check_pair(m, &lp));
    free(lp.blk);
    free(nm);
    free(val);
    for (size_t i = 0; i < n; i++)
        free(p[i].blk);
    free(p);
    free(m);
}

static uint64_t rng = 0x243f6a8885a308d3u;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

/* Many pairs, most of them from a small set that repeats, many changing on every use (as
 * grpc-timeout does), random bytes of every kind, lengths around the memo's limits: slots are
 * filled, kept and evicted; every rendering must still equal the plain one. */
static void test_random(void)
{
    enum { HOT = 60, ROUNDS = 40000 };
    static const char alpha[] = "abcdefghijklmnopqrstuvwxyz0123456789-:/.\"\\\x01\x7f\xc3\xa9\xff";
    pair hot[HOT];
    char nm[80], val[80];
    for (int i = 0; i < HOT; i++) {
        size_t nl = rnd() % 20, vl = rnd() % 50;
        for (size_t k = 0; k < nl; k++)
            nm[k] = alpha[rnd() % (sizeof alpha - 1)];
        for (size_t k = 0; k < vl; k++)
            val[k] = alpha[rnd() % (sizeof alpha - 1)];
        hot[i] = make(nm, nl, val, vl);
    }
    view_json_memo *m = calloc(1, sizeof *m);
    int ok = 1;
    for (int r = 0; r < ROUNDS && ok; r++) {
        if (rnd() % 4) {
            ok &= check_pair(m, &hot[rnd() % HOT]);
            continue;
        }
        /* a new pair; often a hot one with a byte changed or a length one off */
        pair base = hot[rnd() % HOT];
        size_t nl = base.nl, vl = base.vl;
        memcpy(nm, base.blk, nl);
        memcpy(val, base.blk + nl + 1, vl);
        switch (rnd() % 4) {
        case 0:
            if (vl)
                val[rnd() % vl] ^= (char)(1 + rnd() % 255);
            break;
        case 1:
            if (vl)
                vl--;
            break;
        case 2:
            val[vl++] = 'z';
            break;
        default:
            vl = rnd() % 70;
            for (size_t k = 0; k < vl; k++)
                val[k] = alpha[rnd() % (sizeof alpha - 1)];
        }
        pair q = make(nm, nl, val, vl);
        ok &= check_pair(m, &q);
        ok &= check_pair(m, &q);
        free(q.blk);
    }
    GW_CHECK(ok);
    GW_CHECK(used_slots(m) > HOT / 2);
    for (int i = 0; i < HOT; i++)
        free(hot[i].blk);
    free(m);
}

/* Call objects through a view whose memo is warm equal those of a fresh view. */
static grpc_kv *kvs(const char *const *s, size_t n)
{
    size_t total = 0;
    for (size_t i = 0; i < 2 * n; i++)
        total += strlen(s[i]) + 1;
    grpc_kv *kv = malloc(n * sizeof *kv + total);
    char *p = (char *)(kv + n);
    for (size_t i = 0; i < n; i++) {
        size_t a = strlen(s[2 * i]), b = strlen(s[2 * i + 1]);
        kv[i].name = p;
        kv[i].name_len = a;
        memcpy(p, s[2 * i], a + 1);
        p += a + 1;
        kv[i].value = p;
        kv[i].value_len = b;
        memcpy(p, s[2 * i + 1], b + 1);
        p += b + 1;
    }
    return kv;
}

static void make_call(grpc_call *c, uint64_t conn, int port, const char *path, const char *tmo)
{
    static const char *const resp[] = {":status", "200", "content-type", "application/grpc"};
    static const char *const tr[] = {"grpc-status", "0", "grpc-message", ""};
    const char *req[] = {":method", "POST", ":scheme", "http", ":path", path, ":authority",
                         "svc:50051", "content-type", "application/grpc", "te", "trailers",
                         "grpc-timeout", tmo};
    memset(c, 0, sizeof *c);
    c->conn_index = conn;
    c->stream = 1 + 2 * (uint32_t)conn;
    c->client.ipver = 4;
    c->client.addr[0] = 10;
    c->client.addr[3] = (uint8_t)conn;
    c->client.port = (uint16_t)port;
    c->server.ipver = conn & 1 ? 6 : 4;
    c->server.addr[0] = 10;
    c->server.addr[15] = 2;
    c->server.port = 50051;
    c->method = (char *)path;
    c->authority = "svc:50051";
    c->kind = "grpc";
    c->is_grpc = 1;
    c->timeout_raw = (char *)tmo;
    c->timeout_ns = 1000;
    c->req_headers = kvs(req, 7);
    c->n_req_headers = 7;
    c->resp_headers = kvs(resp, 2);
    c->n_resp_headers = 2;
    c->trailers = kvs(tr, 2);
    c->n_trailers = 2;
    c->http_status = 200;
    c->grpc_status = 0;
    c->implied_status = -1;
    c->rst_code = -1;
    c->t_start = 1700000000000000000 + (int64_t)conn * 1000;
    c->t_first_resp = c->t_start + 5000;
    c->t_end = c->t_start + 9000;
    c->complete = 1;
}

static void free_call(grpc_call *c)
{
    free(c->req_headers);
    free(c->resp_headers);
    free(c->trailers);
}

/* The text of call c as view v writes it. */
/* A JSON call-log view writing to a scratch file: view_del it, then fclose(o->out). */
static view *json_view(view_opts *o)
{
    view_opts_default(o);
    o->json = VIEW_JSON_CALLS;
    o->out = tmpfile();
    dissect_sink sink;
    view *v = NULL;
    GW_CHECK_INT(view_new(&v, VIEW_CALLS, o, &sink), 0);
    return v;
}

static char *render(view *v, const grpc_call *c, size_t *n)
{
    v->out.len = 0;
    view_json_call(v, c, NULL);
    *n = v->out.len;
    char *s = malloc(*n + 1);
    memcpy(s, v->out.data, *n);
    return s;
}

static void test_calls(void)
{
    view_opts o;
    view *warm = json_view(&o);
    if (!warm)
        return;
    static const char *const paths[] = {"/a.B/C", "/helloworld.Greeter/SayHello",
                                        "/x\"y/\\z\x01"};
    static const char *const tmos[] = {"1u", "4162923u", "99999999S", ""};
    int ok = 1;
    for (int r = 0; r < 300; r++) {
        grpc_call c;
        uint64_t conn = rnd() % 40; /* more connections than head slots: evictions */
        make_call(&c, conn, 40000 + (int)(rnd() % 3), paths[rnd() % 3], tmos[rnd() % 4]);
        view *fresh = NULL;
        dissect_sink sink;
        if (view_new(&fresh, VIEW_CALLS, &o, &sink) != 0)
            break;
        size_t an, bn;
        char *a = render(warm, &c, &an), *b = render(fresh, &c, &bn);
        ok &= an == bn && memcmp(a, b, an) == 0;
        free(a);
        free(b);
        fresh->out.len = 0;
        view_del(fresh);
        free_call(&c);
    }
    GW_CHECK(ok);
    warm->out.len = 0;
    view_del(warm);
    fclose(o.out);
}


/* The text after `key` in s up to the end of the JSON value that starts there ([...] or {...},
 * strings skipped), or NULL. */
static char *value_at(const char *s, size_t n, const char *key, size_t *vn)
{
    const char *k = memmem(s, n, key, strlen(key));
    if (!k)
        return NULL;
    const char *v = k + strlen(key), *e = s + n;
    int depth = 0, in_str = 0;
    for (const char *q = v; q < e; q++) {
        if (in_str) {
            if (*q == '\\')
                q++;
            else if (*q == '"')
                in_str = 0;
            continue;
        }
        if (*q == '"')
            in_str = 1;
        else if (*q == '[' || *q == '{')
            depth++;
        else if ((*q == ']' || *q == '}') && --depth == 0) {
            *vn = (size_t)(q + 1 - v);
            return (char *)v;
        }
    }
    return NULL;
}

/* A header list of n pairs drawn from a small pool that repeats (as a connection's do), with
 * changes: values that differ each time, lengths one off, the same bytes split elsewhere, long
 * pairs (past what a place keeps), bytes that need escaping; laid out as a call's block, or
 * (sometimes) each string on its own. The strings are in *blk (free it) or in kv's memory. */
static grpc_kv *random_list(size_t n, char **blk)
{
    static const char *const pool[][2] = {
        {":method", "POST"}, {":scheme", "http"}, {":path", "/helloworld.Greeter/SayHello"},
        {":path", "/a.B/C"}, {":authority", "svc:50051"}, {"content-type", "application/grpc"},
        {"user-agent", "grpc-go/1.63.2"}, {"te", "trailers"}, {":status", "200"},
        {"grpc-status", "0"}, {"grpc-message", ""}, {"ab", "c"}, {"a", "bc"}, {"", ""},
        {"x-long", "0123456789012345678901234567890123456789012345678901234567890123456789"},
        {"x-esc", "\"\\\x01\x7f\xc3\xa9\xff"},
        {"x-esc", "\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01"},
    };
    size_t np = sizeof pool / sizeof *pool, total = 1;
    char names[24][80], values[24][120];
    size_t nl[24], vl[24];
    for (size_t i = 0; i < n; i++) {
        size_t k = rnd() % 4 ? (i * 3 + rnd() % 2) % np : rnd() % np;
        nl[i] = strlen(pool[k][0]);
        vl[i] = strlen(pool[k][1]);
        memcpy(names[i], pool[k][0], nl[i]);
        memcpy(values[i], pool[k][1], vl[i]);
        switch (rnd() % 6) {
        case 0: /* a value of its own (grpc-timeout) */
            vl[i] = (size_t)snprintf(values[i], sizeof values[i], "%uu", rnd() % 100000000);
            break;
        case 1:
            if (vl[i])
                vl[i]--;
            break;
        default:
            break;
        }
        total += nl[i] + vl[i] + 2;
    }
    grpc_kv *kv = calloc(n ? n : 1, sizeof *kv);
    int apart = rnd() % 8 == 0;
    char *p = *blk = malloc(total + 1);
    for (size_t i = 0; i < n; i++) {
        if (apart) { /* not one block: rendered pair by pair */
            char *a = p, *b = p + nl[i] + 2; /* two bytes apart, or the value first */
            if (i % 2) {
                b = p;
                a = p + vl[i] + 1;
            }
            memcpy(a, names[i], nl[i]);
            memcpy(b, values[i], vl[i]);
            kv[i].name = a;
            kv[i].value = b;
            p += nl[i] + vl[i] + 2;
        } else {
            kv[i].name = p;
            memcpy(p, names[i], nl[i]);
            p += nl[i];
            *p++ = '\0';
            kv[i].value = p;
            memcpy(p, values[i], vl[i]);
            p += vl[i];
            *p++ = '\0';
        }
        kv[i].name_len = nl[i];
        kv[i].value_len = vl[i];
    }
    return kv;
}

/* Every header list of a call, through the per-connection places and the pair memo, is the
 * plain rendering (view_json_kv_list). */
/* c rendered by v: each of its three header lists as view_json_kv_list writes it. Frees the
 * lists and their blocks (b1..b3); step names the case in a failure. */
static int lists_as_listed(view *v, grpc_call *c, char *b1, char *b2, char *b3, size_t step)
{
    size_t n;
    char *text = render(v, c, &n);
    static const char *const keys[] = {"\"request_headers\":", "\"response_headers\":",
                                       "\"trailers\":"};
    const grpc_kv *lists[] = {c->req_headers, c->resp_headers, c->trailers};
    size_t counts[] = {c->n_req_headers, c->n_resp_headers, c->n_trailers};
    gw_buf want;
    gw_buf_init(&want, 0);
    int ok = 1;
    for (int k = 0; k < 3; k++) {
        size_t vn = 0;
        char *got = value_at(text, n, keys[k], &vn);
        gw_buf_reset(&want);
        view_json_kv_list(&want, lists[k], counts[k]);
        int same = got && vn == want.len && memcmp(got, want.data, vn) == 0;
        if (!same)
            fprintf(stderr, "step %zu %s\nwant %.*s\ngot  %.*s\n", step, keys[k], (int)want.len,
                    (char *)want.data, got ? (int)vn : 4, got ? got : "none");
        ok &= same;
    }
    gw_buf_free(&want);
    free(text);
    free(c->req_headers);
    free(c->resp_headers);
    free(c->trailers);
    free(b1);
    free(b2);
    free(b3);
    return ok;
}

static void test_lists(void)
{
    view_opts o;
    view *v = json_view(&o);
    if (!v)
        return;
    int ok = 1;
    for (int r = 0; r < 6000 && ok; r++) {
        grpc_call c;
        make_call(&c, rnd() % 40, 40000, "/a.B/C", "1u");
        free_call(&c);
        char *b1, *b2, *b3;
        c.n_req_headers = rnd() % 9 ? 5 + rnd() % 5 : rnd() % 24;
        c.req_headers = random_list(c.n_req_headers, &b1);
        c.n_resp_headers = rnd() % 4;
        c.resp_headers = random_list(c.n_resp_headers, &b2);
        c.n_trailers = rnd() % 4;
        c.trailers = random_list(c.n_trailers, &b3);
        ok &= lists_as_listed(v, &c, b1, b2, b3, r);
    }
    GW_CHECK(ok);
    v->out.len = 0;
    view_del(v);
    fclose(o.out);
}

/* A list of n pairs name<i>/value<i> on one block, with field `change` (if < n) given another
 * value of the same length (or one longer when `longer`); apart: each string on its own. */
static grpc_kv *seq_list(size_t n, size_t change, int longer, int apart, char **blk)
{
    grpc_kv *kv = calloc(n ? n : 1, sizeof *kv);
    char *p = *blk = malloc(n * 64 + 1);
    for (size_t i = 0; i < n; i++) {
        char name[32], value[32];
        int nl = snprintf(name, sizeof name, i % 3 ? "x-h%zu" : ":h%zu", i);
        int vl = snprintf(value, sizeof value, i == change ? (longer ? "VALUE-%zu!" : "VALUE-%zu")
                                                           : "value-%zu", i);
        kv[i].name = p;
        kv[i].name_len = (size_t)nl;
        memcpy(p, name, (size_t)nl + 1);
        p += nl + 1 + apart; /* apart: a byte between the name and the value */
        kv[i].value = p;
        kv[i].value_len = (size_t)vl;
        memcpy(p, value, (size_t)vl + 1);
        p += vl + 1;
    }
    return kv;
}

/* One connection's lists in a row, each differing from the one before at the first, a middle
 * or the last field, by value or by length; empty; longer than the places kept; not one block:
 * each as view_json_kv_list writes it. */
static void test_list_sequence(void)
{
    view_opts o;
    view *v = json_view(&o);
    if (!v)
        return;
    static const struct {
        size_t n, change;
        int longer, apart;
    } steps[] = {
        {8, 99, 0, 0}, {8, 99, 0, 0}, {8, 0, 0, 0}, {8, 99, 0, 0}, {8, 4, 0, 0}, {8, 4, 1, 0},
        {8, 7, 0, 0},  {8, 7, 1, 0},  {8, 7, 1, 0}, {0, 0, 0, 0},  {8, 99, 0, 0}, {7, 99, 0, 0},
        {9, 99, 0, 0}, {14, 99, 0, 0}, {14, 12, 0, 0}, {14, 3, 1, 0}, {24, 99, 0, 0},
        {8, 99, 0, 1}, {8, 2, 0, 1}, {8, 99, 0, 0}, {1, 0, 0, 0},  {1, 99, 0, 0}, {8, 99, 0, 0},
    };
    int ok = 1;
    for (size_t r = 0; r < sizeof steps / sizeof steps[0]; r++) {
        grpc_call c;
        make_call(&c, 3, 40000, "/a.B/C", "1u");
        free_call(&c);
        char *b1, *b2, *b3;
        c.n_req_headers = steps[r].n;
        c.req_headers = seq_list(steps[r].n, steps[r].change, steps[r].longer, steps[r].apart, &b1);
        c.n_resp_headers = steps[r].n / 2; /* another place of the same connection */
        c.resp_headers = seq_list(c.n_resp_headers, steps[r].change / 2, 0, 0, &b2);
        c.n_trailers = 0;
        c.trailers = seq_list(0, 0, 0, 0, &b3);
        ok &= lists_as_listed(v, &c, b1, b2, b3, r);
    }
    GW_CHECK(ok);
    v->out.len = 0;
    view_del(v);
    fclose(o.out);
}

/* The stretch of a call record from "http_status" to "request_headers" as docs/json.md spells
 * it, piece by piece: the reference for the pieces the writer joins in their common state. */
static void ref_status(gw_buf *b, const grpc_call *c)
{
    gw_buf_printf(b, "\"http_status\":");
    if (c->http_status < 0)
        gw_buf_printf(b, "null");
    else
        gw_buf_printf(b, "%lld", (long long)c->http_status);
    gw_buf_printf(b, ",\"grpc_status\":");
    if (c->grpc_status < 0)
        gw_buf_printf(b, "null");
    else
        gw_buf_printf(b, "%lld", (long long)c->grpc_status);
    gw_buf_printf(b, ",\"grpc_status_name\":");
    view_json_cstr(b, c->grpc_status >= 0 ? grpc_status_name((int)c->grpc_status) : NULL);
    gw_buf_printf(b, ",\"grpc_message\":");
    view_json_cstr(b, c->grpc_message);
    gw_buf_printf(b, ",\"implied_status\":");
    if (c->implied_status < 0)
        gw_buf_printf(b, "null");
    else
        gw_buf_printf(b, "%lld", (long long)c->implied_status);
    gw_buf_printf(b, ",\"implied_status_name\":");
    view_json_cstr(b, c->implied_status >= 0 ? grpc_status_name((int)c->implied_status) : NULL);
    gw_buf_printf(b, ",\"timeout\":");
    view_json_cstr(b, c->timeout_raw);
    gw_buf_printf(b, ",\"timeout_us\":%lld", (long long)(c->timeout_ns / 1000));
    gw_buf_printf(b, ",\"request_encoding\":");
    view_json_cstr(b, c->req_encoding);
    gw_buf_printf(b, ",\"response_encoding\":");
    view_json_cstr(b, c->resp_encoding);
    gw_buf_printf(b, ",\"trailers_only\":%s,\"rst_code\":", c->trailers_only ? "true" : "false");
    if (c->rst_code < 0) {
        gw_buf_printf(b, "null");
    } else {
        gw_buf_printf(b, "%lld,\"rst_name\":", (long long)c->rst_code);
        view_json_cstr(b, h2_error_name((uint32_t)c->rst_code));
        gw_buf_printf(b, ",\"rst_by\":\"%s\"", c->rst_by_client ? "client" : "server");
    }
    gw_buf_printf(b, ",\"request_headers\":");
}

/* Every combination of the states the writer joins (statuses null or not, 200 or not,
 * encodings, trailers-only, a reset) as the piece-by-piece reference writes it. */
static void test_status_pieces(void)
{
    view_opts o;
    view *v = json_view(&o);
    if (!v)
        return;
    static const int https[] = {200, 404, -1, 2000};
    static const int grpcs[] = {0, 5, -1, 16};
    static const char *const msgs[] = {NULL, "", "r\xc3\xa9sum\xc3\xa9 \"not\" found"};
    static const char *const encs[] = {NULL, "gzip", "identity"};
    gw_buf want;
    gw_buf_init(&want, 0);
    int ok = 1;
    for (int r = 0; r < 4 * 4 * 3 * 3 * 3 * 2 * 3 && ok; r++) {
        int x = r;
        grpc_call c;
        make_call(&c, (uint64_t)(r % 5), 40000, "/a.B/C", "1u");
        c.http_status = https[x % 4], x /= 4;
        c.grpc_status = grpcs[x % 4], x /= 4;
        c.implied_status = x % 2 ? 4 : -1;
        c.grpc_message = (char *)msgs[x % 3], x /= 3;
        c.req_encoding = (char *)encs[x % 3], x /= 3;
        c.resp_encoding = (char *)encs[x % 3], x /= 3;
        c.trailers_only = x % 2, x /= 2;
        c.rst_code = x % 3 == 0 ? -1 : 8;
        c.rst_by_client = x % 3 == 1;
        size_t n;
        char *text = render(v, &c, &n);
        gw_buf_reset(&want);
        ref_status(&want, &c);
        const char *at = memmem(text, n, "\"http_status\":", 14);
        int same = at && (size_t)(text + n - at) >= want.len && memcmp(at, want.data, want.len) == 0;
        if (!same)
            fprintf(stderr, "want %.*s\ngot  %.*s\n", (int)want.len, (char *)want.data,
                    at ? (int)want.len : 4, at ? at : "none");
        ok &= same;
        free(text);
        free_call(&c);
    }
    GW_CHECK(ok);
    gw_buf_free(&want);
    v->out.len = 0;
    view_del(v);
    fclose(o.out);
}

/* A message object as documented (docs/json.md), from the pieces: the reference for the
 * messages a call renders in place. */
static void ref_msg(gw_buf *b, const grpc_msg *m, const pb_schemas *s, const pb_msgdef *type,
                    int fields)
{
    gw_buf_printf(b, "{\"index\":%u,\"length\":%u,\"compressed\":%s,\"encoding\":", m->index,
                  m->length, m->compressed ? "true" : "false");
    view_json_cstr(b, m->encoding);
    VIEW_PUT(b, ",\"time\":\"");
    view_fmt_rfc3339(b, m->ts_ns);
    if (!m->data) {
        VIEW_PUT(b, "\",\"data\":null,\"fields\":null");
    } else {
        VIEW_PUT(b, "\",\"data\":\"");
        view_base64(b, m->data, m->data_len);
        VIEW_PUT(b, "\",\"fields\":");
        if (!fields)
            VIEW_PUT(b, "null");
        else if (type)
            view_schema_json(b, s, type, m->data, m->data_len, NULL);
        else
            view_pb_json(b, m->data, m->data_len, NULL);
    }
    if (m->data && type) {
        VIEW_PUT(b, ",\"message_type\":");
        view_json_cstr(b, type->full_name);
    }
    gw_buf_printf(b, ",\"decoded\":%s,\"truncated\":%s", m->decoded ? "true" : "false",
                  m->truncated ? "true" : "false");
    if (m->why) {
        VIEW_PUT(b, ",\"why\":");
        view_json_cstr(b, m->why);
    }
    gw_buf_putc(b, '}');
}

/* Messages rendered in place inside calls: every encoding (identity and near misses), with and
 * without data, fields, a message type (two types alternating, two schemas objects), a reason;
 * the same text as the reference. */
static void test_messages(void)
{
    pb_schemas *s1 = NULL, *s2 = NULL;
    GW_CHECK_INT(pb_schemas_new(&s1, NULL), 0);
    GW_CHECK_INT(pb_schemas_add_builtin(s1), 0);
    GW_CHECK_INT(pb_schemas_new(&s2, NULL), 0);
    GW_CHECK_INT(pb_schemas_add_builtin(s2), 0);
    view_opts o;
    view_opts_default(&o);
    o.json = VIEW_JSON_CALLS;
    o.out = tmpfile();
    dissect_sink sink;
    view *v[3] = {NULL, NULL, NULL};
    o.schemas = NULL;
    GW_CHECK_INT(view_new(&v[0], VIEW_CALLS, &o, &sink), 0);
    o.schemas = s1;
    GW_CHECK_INT(view_new(&v[1], VIEW_CALLS, &o, &sink), 0);
    o.schemas = s2;
    GW_CHECK_INT(view_new(&v[2], VIEW_CALLS, &o, &sink), 0);
    static const char *const encs[] = {"identity", "identit", "identityx", "gzip", "",
                                       "ident\"ty", NULL};
    static const char *const paths[] = {"/helloworld.Greeter/SayHello", "/a.B/C"};
    static const char *const kinds[] = {"grpc", "grpc+json", "grpc+proto"};
    uint8_t data[64];
    gw_buf want;
    gw_buf_init(&want, 0);
    int ok = 1;
    for (int r = 0; r < 3000 && ok; r++) {
        int vi = (int)(rnd() % 3);
        const pb_schemas *sc = vi == 1 ? s1 : vi == 2 ? s2 : NULL;
        grpc_call c;
        make_call(&c, rnd() % 5, 40000, paths[rnd() % 2], "1u");
        c.kind = kinds[rnd() % 3];
        c.is_grpc = rnd() % 8 != 0;
        grpc_msg m[2];
        memset(m, 0, sizeof m);
        for (int k = 0; k < 2; k++) {
            size_t n = rnd() % 4 == 0 ? 0 : rnd() % 60;
            for (size_t i = 0; i < n; i++) /* name (1) and a number (2), or noise */
                data[i] = rnd() % 3 ? (uint8_t)"\x0a\x05world\x10\x07"[i % 9] : (uint8_t)rnd();
            m[k].from_client = k == 0;
            m[k].index = (uint32_t)(rnd() % 3);
            m[k].length = (uint32_t)n;
            m[k].compressed = rnd() % 4 == 0;
            m[k].encoding = encs[rnd() % 7];
            m[k].data = rnd() % 10 == 0 ? NULL : data;
            m[k].data_len = m[k].data ? n : 0;
            m[k].decoded = rnd() % 8 != 0;
            m[k].truncated = rnd() % 8 == 0;
            m[k].why = rnd() % 6 == 0 ? "cut \"short\"" : NULL;
            m[k].ts_ns = c.t_start + (int64_t)(rnd() % 3000000000u);
        }
        c.msgs = m;
        c.n_msgs = 2;
        size_t n;
        char *text = render(v[vi], &c, &n);
        for (int k = 0; k < 2; k++) {
            const pb_msgdef *type = view_schema_type(sc, c.method, m[k].from_client);
            int fields = m[k].data && m[k].decoded && !m[k].truncated && c.is_grpc &&
                         strcmp(c.kind, "grpc+json") != 0;
            gw_buf_reset(&want);
            gw_buf_putc(&want, '[');
            ref_msg(&want, &m[k], sc, m[k].data ? type : NULL, fields);
            gw_buf_putc(&want, ']');
            size_t vn = 0;
            char *got = value_at(text, n, k ? "\"responses\":" : "\"requests\":", &vn);
            int same = got && vn == want.len && memcmp(got, want.data, vn) == 0;
            if (!same)
                fprintf(stderr, "want %.*s\ngot  %.*s\n", (int)want.len, (char *)want.data,
                        got ? (int)vn : 4, got ? got : "none");
            ok &= same;
        }
        free(text);
        free_call(&c);
    }
    GW_CHECK(ok);
    gw_buf_free(&want);
    for (int i = 0; i < 3; i++) {
        v[i]->out.len = 0;
        view_del(v[i]);
    }
    fclose(o.out);
    pb_schemas_del(s1);
    pb_schemas_del(s2);
}

int main(void)
{
    test_table();
    test_random();
    test_calls();
    test_lists();
    test_list_sequence();
    test_status_pieces();
    test_messages();
    GW_TEST_END();
}
