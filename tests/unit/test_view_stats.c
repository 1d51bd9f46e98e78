/* test_view_stats: --stats through its sink. Calls of 5,000 methods: the first 4,096 seen keep
 * their rows, the rest fold into "(other)" with their counts; a method seen again after the fold
 * still finds its row. Two views of a pair fed alternately (split reading), the second's totals
 * added at the end, print what one view fed everything prints. Names that look alike to the
 * method cache stay apart; latencies at every bucket edge land where the floating-point
 * definition puts them. */
#include "gw_test.h"

#include <math.h>
#include <stdlib.h>

#include "common/gw_err.h"
#include "view/view.h"

static void call_of(grpc_call *c, char *method, int status, int64_t us)
{
    memset(c, 0, sizeof *c);
    c->method = method;
    c->grpc_status = status;
    c->implied_status = -1;
    c->http_status = 200;
    c->t_start = 1700000000000000000LL;
    c->t_end = c->t_start + us * 1000;
    c->n_req = c->n_resp = 1;
    c->req_bytes = 7;
    c->resp_bytes = 11;
    c->complete = 1;
}

/* Feed n calls of method "/m.S/Mk" (k = i % nm) to one view, or dealt to a pair's two. */
static char *run(int pair, int nm, int n, int json)
{
    FILE *f = tmpfile(); /* a real file: the pair writes merged text to its descriptor */
    view_opts o;
    view_opts_default(&o);
    o.out = f;
    o.json = json;
    view *v = NULL;
    dissect_sink s[2];
    GW_CHECK_INT(pair ? view_new_pair(&v, VIEW_STATS, &o, s) : view_new(&v, VIEW_STATS, &o, s), 0);
    if (!v)
        return NULL;
    char name[64];
    for (int i = 0; i < n; i++) {
        grpc_call c;
        snprintf(name, sizeof name, "/m.S/M%d", i % nm);
        call_of(&c, name, i % 7 == 0 ? 5 : 0, 10 + (i * 37) % 5000);
        int k = pair ? (i / 3) % 2 : 0;
        s[k].on_call_end(s[k].u, &c);
    }
    GW_CHECK_INT(view_finish(v), 0);
    view_del(v);
    long len = ftell(f);
    char *text = calloc(1, (size_t)len + 1);
    rewind(f);
    GW_CHECK_INT(fread(text, 1, (size_t)len, f), len);
    fclose(f);
    return text;
}

static int count_lines(const char *t, const char *needle)
{
    int n = 0;
    for (const char *p = t; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

/* Each method of names[] called calls[i] times (latency lat[i] us, or 10 us when lat is NULL),
 * through one view; the JSON it prints. */
static char *run_named(const char *const *names, const int *calls, const int64_t *lat, int n)
{
    FILE *f = tmpfile();
    view_opts o;
    view_opts_default(&o);
    o.out = f;
    o.json = VIEW_JSON_CALLS;
    view *v = NULL;
    dissect_sink s;
    GW_CHECK_INT(view_new(&v, VIEW_STATS, &o, &s), 0);
    if (!v)
        return NULL;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < calls[i]; k++) {
            grpc_call c;
            char *name = names[i] ? strdup(names[i]) : NULL; /* a fresh copy, as each call has */
            call_of(&c, name, 0, lat ? lat[i] : 10);
            s.on_call_end(s.u, &c);
            free(name);
        }
    GW_CHECK_INT(view_finish(v), 0);
    view_del(v);
    long len = ftell(f);
    char *text = calloc(1, (size_t)len + 1);
    rewind(f);
    GW_CHECK_INT(fread(text, 1, (size_t)len, f), len);
    fclose(f);
    return text;
}

/* Names that look alike to the method cache (same length, same first and last eight bytes),
 * of every length class it treats apart, stay apart and keep their counts. */
static void test_lookalikes(void)
{
    static const char *const names[] = {
        "/a.S/M", "/a.S/N", "/a.S/MM",                  /* shorter than 8 */
        "/pkg.Svc/Method", "/pkg.Svc/Mathod",           /* 8..16 */
        "/users.v1.Profiles/GetProfile", "/users.v2.Profiles/GetProfile", /* 17..32 */
        "/users.v1.Profiles/GetProfile2",
        "/shop.catalog.v2.Catalog/GetProduct", "/shop.catalog.v3.Catalog/GetProduct", /* > 32 */
        "/0123456789abcdeXghijklmnopqrstuv", "/0123456789abcdeYghijklmnopqrstuv", /* 33 */
        "/12345678", "/12345679", NULL,
    };
    static const int calls[] = {3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 47, 53, 37, 41, 43};
    enum { N = sizeof calls / sizeof calls[0] };
    /* in turn, so that every name follows a lookalike */
    const char *seq[N * 2];
    int one[N * 2];
    int n = 0;
    for (int r = 0; r < 2; r++)
        for (int i = 0; i < N; i++) {
            seq[n] = names[i];
            one[n++] = r ? calls[i] - 1 : 1;
        }
    char *t = run_named(seq, one, NULL, n);
    GW_CHECK(t != NULL);
    if (!t)
        return;
    GW_CHECK_INT(count_lines(t, "\"type\":\"method_stats\""), N);
    for (int i = 0; i < N; i++) {
        char want[128];
        snprintf(want, sizeof want, "\"method\":\"%s\",\"calls\":%d,",
                 names[i] ? names[i] : "(unknown method)", calls[i]);
        if (!strstr(t, want))
            fprintf(stderr, "missing %s\n", want);
        GW_CHECK(strstr(t, want) != NULL);
    }
    free(t);
}

/* The latency histogram's bucket, as first defined in floating point, read back through p50: a
 * method with one call of `us` and one far slower has p50 = the upper edge of us's bucket. */
static int bucket_fp(uint64_t us)
{
    if (us <= 1)
        return 0;
    int b = (int)(16.0 * log2((double)us)) + 1;
    return b >= 512 ? 511 : b;
}

static void test_buckets(void)
{
    enum { MAXN = 3000 };
    static char store[MAXN][32];
    static const char *names[MAXN];
    static int calls[MAXN];
    static int64_t lat[MAXN];
    int n = 0;
    for (int b = 60; b < 512 && n + 2 * 7 <= MAXN; b++)
        for (int d = -3; d <= 3; d++) {
            int64_t us = (int64_t)ceil(exp2((b - 1) / 16.0)) + d;
            if (us < 2)
                continue;
            snprintf(store[n], sizeof store[n], "/l/%lld", (long long)us);
            names[n] = store[n];
            calls[n] = 1;
            lat[n++] = us;
            names[n] = store[n - 1]; /* the slow call of the same method */
            calls[n] = 1;
            lat[n++] = 8000000000LL;
        }
    char *t = run_named(names, calls, lat, n);
    GW_CHECK(t != NULL);
    int bad = 0;
    for (int i = 0; t && i < n; i += 2) {
        char want[96];
        uint64_t p50 = (uint64_t)exp2((double)bucket_fp((uint64_t)lat[i]) / 16.0);
        snprintf(want, sizeof want, "\"method\":\"%s\",", names[i]);
        const char *at = strstr(t, want);
        const char *p = at ? strstr(at, "\"p50\":") : NULL;
        if (!p || strtoull(p + 6, NULL, 10) != p50) {
            if (bad++ < 5)
                fprintf(stderr, "%s: p50 %s, want %llu\n", names[i], p ? p + 6 : "?",
                        (unsigned long long)p50);
        }
    }
    GW_CHECK_INT(bad, 0);
    free(t);
}

int main(void)
{
    /* the fold: 5000 methods, every one called twice */
    char *t = run(0, 5000, 10000, VIEW_JSON_CALLS);
    GW_CHECK(t != NULL);
    if (t) {
        GW_CHECK_INT(count_lines(t, "\"type\":\"method_stats\""), 4097);
        GW_CHECK(strstr(t, "\"method\":\"(other)\",\"calls\":1808,") != NULL);
        GW_CHECK(strstr(t, "\"method\":\"/m.S/M4095\",\"calls\":2,") != NULL);
        GW_CHECK(strstr(t, "\"method\":\"/m.S/M4096\"") == NULL);
        GW_CHECK(strstr(t, "\"calls\":10000}") != NULL);
    }
    free(t);
    /* a pair prints what one view prints, text and JSON */
    for (int json = 0; json <= 1; json++) {
        char *a = run(0, 40, 20000, json), *b = run(1, 40, 20000, json);
        GW_CHECK(a && b && strcmp(a, b) == 0);
        GW_CHECK(a && strstr(a, "/m.S/M39") != NULL);
        free(a);
        free(b);
    }
    test_lookalikes();
    test_buckets();
    GW_TEST_END();
}
