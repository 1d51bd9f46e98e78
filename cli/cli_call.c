/* grpcwire call: a Greeter client (grpc-go's greeter_client in C). Wiring only. Exit status:
 * 0 OK, 64 + grpc-status otherwise (grpcurl's convention), 1 when the connection cannot be made,
 * 2 for bad arguments. */
#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "common/gw_err.h"
#include "common/gw_mem.h"
#include "grpc/grpc_call.h"
#include "rpc/rpc.h"

#define MAX_MD 64

typedef struct state {
    int verbose;
    int is_greeter;
    long max_print;  /* replies printed (0: all) */
    long n_replies;
    int status;
    char *message;
} state;

static void usage(FILE *f)
{
    fputs("usage: grpcwire call [ADDR] [options]\n"
          "  ADDR            server (default localhost:50051)\n"
          "  --name NAME     HelloRequest.name (default world)\n"
          "  --method M      SayHello (default), SayHelloStreamReply, SayHelloBidiStream, or a\n"
          "                  full path /package.Service/Method (request is a HelloRequest)\n"
          "  --stream N      streaming: server streaming (SayHelloStreamReply) prints at most N\n"
          "                  replies; with --method SayHelloBidiStream sends N requests\n"
          "  --timeout DUR   deadline, sent as grpc-timeout (e.g. 1s, 250ms, 1.5s, 2m)\n"
          "  --gzip          compress the request with gzip\n"
          "  -H 'name: value' request metadata (repeatable; -bin values are sent base64)\n"
          "  -v              print request headers, response headers and trailers\n"
          "  --interop-case NAME  test aid: run one of gRPC's interop cases (large_unary,\n"
          "                  ping_pong, ...; 'all' runs every one) against a grpc.testing\n"
          "                  TestService at ADDR; prints PASS/FAIL per case, exit 0 if all pass\n"
          "Exit status: 0 OK, 64 + grpc-status on error, 1 if it cannot connect, 2 usage.\n",
          f);
}

/* "1s", "250ms", "1.5s", "100us", "2m", "1h"; a bare number is seconds. -1 if malformed. */
static int64_t parse_duration(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || v < 0)
        return -1;
    double mul;
    if (!*end || !strcmp(end, "s")) mul = 1000;
    else if (!strcmp(end, "ms")) mul = 1;
    else if (!strcmp(end, "us") || !strcmp(end, "µs")) mul = 0.001;
    else if (!strcmp(end, "ns")) mul = 0.000001;
    else if (!strcmp(end, "m")) mul = 60000;
    else if (!strcmp(end, "h")) mul = 3600000;
    else return -1;
    double ms = v * mul;
    if (ms > 1e12)
        return -1;
    return ms > 0 && ms < 1 ? 1 : (int64_t)ms;
}

static void print_md(const char *prefix, const rpc_md *md, size_t n)
{
    for (size_t i = 0; i < n; i++)
        printf("%s%s: %s\n", prefix, md[i].name, md[i].value);
}

static void on_headers(rpc_ccall *c, void *u)
{
    state *st = u;
    if (st->verbose) {
        const rpc_md *md;
        size_t n = rpc_ccall_headers(c, &md);
        printf("< response headers\n");
        print_md("< ", md, n);
    }
}

static void on_message(rpc_ccall *c, const uint8_t *p, size_t n, void *u)
{
    state *st = u;
    st->n_replies++;
    if (st->max_print && st->n_replies > st->max_print)
        return;
    if (!st->is_greeter) {
        printf("reply %ld: %zu bytes\n", st->n_replies, n);
        return;
    }
    const char *s;
    size_t len;
    if (rpc_hello_decode(p, n, &s, &len) != 0)
        printf("reply %ld: not a HelloReply (%zu bytes)\n", st->n_replies, n);
    else
        printf("Greeting: %.*s\n", (int)len, s);
}

static void on_done(rpc_ccall *c, int status, const char *message, void *u)
{
    state *st = u;
    st->status = status;
    st->message = gw_strdup(message);
    if (st->verbose) {
        const rpc_md *md;
        size_t n = rpc_ccall_trailers(c, &md);
        if (n) {
            printf("< trailers\n");
            print_md("< ", md, n);
        } else {
            n = rpc_ccall_headers(c, &md);
            if (n) {
                printf("< trailers-only response\n");
                print_md("< ", md, n);
            }
        }
    }
}

/* gRPC's interop cases as a client (tests/interop/rpc_interop_cases.test.sh). */
static int run_interop(const char *addr, const char *name)
{
    int failed = 0, found = 0;
    signal(SIGPIPE, SIG_IGN);
    for (size_t i = 0; rpc_interop_cases[i]; i++) {
        const char *t = rpc_interop_cases[i];
        if (strcmp(name, "all") != 0 && strcmp(name, t) != 0)
            continue;
        char why[512];
        found = 1;
        if (rpc_interop_client(addr, t, why, sizeof why) == 0) {
            printf("PASS %s\n", t);
        } else {
            printf("FAIL %s: %s\n", t, why);
            failed = 1;
        }
        fflush(stdout);
    }
    if (!found) {
        cli_err("--interop-case: unknown case '%s'", name);
        return CLI_EXIT_USAGE;
    }
    return failed ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}

int cli_call_main(int argc, char **argv)
{
    const char *addr = "localhost:50051", *name = "world", *method = "SayHello";
    const char *interop_case = NULL;
    int method_set = 0;
    long stream = -1;
    rpc_call_opts o;
    rpc_md md[MAX_MD];
    char *mdbuf[MAX_MD];
    size_t n_md = 0;
    state st;
    int rc = CLI_EXIT_USAGE;
    memset(&o, 0, sizeof o);
    memset(&st, 0, sizeof st);
    st.status = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            rc = CLI_EXIT_OK;
            goto out;
        } else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
            st.verbose = 1;
        } else if (!strcmp(a, "--gzip")) {
            o.gzip = 1;
        } else if (!strcmp(a, "--name") && val) {
            name = argv[++i];
        } else if (!strcmp(a, "--method") && val) {
            method = argv[++i];
            method_set = 1;
        } else if (!strcmp(a, "--stream") && val) {
            char *end;
            stream = strtol(argv[++i], &end, 10);
            if (*end || stream < 0 || stream > 1000000) {
                cli_err("--stream wants a count 0..1000000");
                goto out;
            }
        } else if (!strcmp(a, "--interop-case") && val) {
            interop_case = argv[++i];
        } else if (!strcmp(a, "--timeout") && val) {
            o.timeout_ms = parse_duration(argv[++i]);
            if (o.timeout_ms <= 0) {
                cli_err("--timeout: bad duration '%s' (e.g. 1s, 250ms)", argv[i]);
                goto out;
            }
        } else if (!strcmp(a, "-H") && val) {
            const char *h = argv[++i];
            const char *colon = strchr(h, ':');
            if (!colon || colon == h || n_md == MAX_MD) {
                cli_err("-H wants 'name: value' (at most %d)", MAX_MD);
                goto out;
            }
            char *nm = gw_strndup(h, (size_t)(colon - h));
            if (!nm)
                goto out;
            for (char *q = nm; *q; q++)
                *q = (char)tolower((unsigned char)*q);
            const char *v = colon + 1;
            while (*v == ' ')
                v++;
            mdbuf[n_md] = nm;
            md[n_md].name = nm;
            md[n_md].value = v;
            md[n_md].value_len = strlen(v);
            n_md++;
        } else if (a[0] != '-' && i == 1) {
            addr = a;
        } else {
            cli_err("call: unknown or incomplete option '%s'", a);
            usage(stderr);
            goto out;
        }
    }
    if (interop_case) {
        rc = run_interop(addr, interop_case);
        goto out;
    }
    o.metadata = md;
    o.n_metadata = n_md;
    if (stream >= 0 && !method_set)
        method = "SayHelloStreamReply";
    char path[512];
    if (method[0] == '/')
        snprintf(path, sizeof path, "%s", method);
    else if (strchr(method, '/'))
        snprintf(path, sizeof path, "/%s", method);
    else
        snprintf(path, sizeof path, "/helloworld.Greeter/%s", method);
    st.is_greeter = 1;
    st.max_print = stream > 0 && strstr(path, "StreamReply") ? stream : 0;
    int bidi = strstr(path, "Bidi") != NULL;
    long n_req = bidi ? (stream > 0 ? stream : 1) : 1;

    signal(SIGPIPE, SIG_IGN);
    char why[256];
    rpc_channel *ch = rpc_channel_new(addr, why, sizeof why);
    if (!ch) {
        cli_err("could not connect to %s: %s", addr, why);
        rc = CLI_EXIT_FAIL;
        goto out;
    }
    rpc_client_cbs cb = {on_headers, on_message, on_done, &st};
    rpc_ccall *c = rpc_channel_call(ch, path, &o, &cb);
    if (!c) {
        cli_err("call: cannot start the call");
        rpc_channel_del(ch);
        rc = CLI_EXIT_FAIL;
        goto out;
    }
    if (st.verbose) {
        const rpc_md *rh;
        size_t n = rpc_ccall_request_headers(c, &rh);
        printf("> request headers\n");
        print_md("> ", rh, n);
    }
    gw_buf req;
    gw_buf_init(&req, 0);
    for (long k = 0; k < n_req; k++) {
        gw_buf_reset(&req);
        if (bidi && n_req > 1) {
            char nm[300];
            snprintf(nm, sizeof nm, "%s #%ld", name, k);
            rpc_hello_encode(&req, nm, strlen(nm));
        } else {
            rpc_hello_encode(&req, name, strlen(name));
        }
        rpc_ccall_send(c, req.data ? req.data : (const uint8_t *)"", req.len);
    }
    gw_buf_free(&req);
    rpc_ccall_close_send(c);
    int rr = rpc_channel_run(ch, -1);
    rpc_channel_del(ch);
    if (st.status < 0) {
        cli_err("call: %s", gw_strerror(rr ? rr : GW_ECLOSED));
        rc = 64 + RPC_UNAVAILABLE;
    } else if (st.status == RPC_OK) {
        rc = CLI_EXIT_OK;
    } else {
        cli_err("rpc error: code = %s (%d) desc = %s", grpc_status_name(st.status), st.status,
                st.message ? st.message : "");
        rc = 64 + (st.status > 16 || st.status < 0 ? RPC_UNKNOWN : st.status);
    }
out:
    for (size_t k = 0; k < n_md; k++)
        gw_free(mdbuf[k]);
    gw_free(st.message);
    fflush(stdout);
    return rc;
}
