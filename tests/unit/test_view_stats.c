/* test_view_stats: --stats through its sink. Calls of 5,000 methods: the first 4,096 seen keep
 * their rows, the rest fold into "(other)" with their counts; a method seen again after the fold
 * still finds its row. Two views of a pair fed alternately (split reading), the second's totals
 * added at the end, print what one view fed everything prints. */
#include "gw_test.h"

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
    GW_TEST_END();
}
