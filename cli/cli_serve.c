/* grpcwire serve: the helloworld Greeter server (grpc-go's greeter_server in C). Wiring only. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "common/gw_err.h"
#include "rpc/rpc.h"

static rpc_server *g_srv;

static void on_signal(int sig)
{
    (void)sig;
    if (g_srv)
        rpc_server_shutdown(g_srv); /* async-signal-safe: eventfd writes */
}

static void usage(FILE *f)
{
    fputs("usage: grpcwire serve [--listen ADDR] [--threads N] [--interop]\n"
          "  --listen ADDR   address to listen on (default [::]:50051, dual stack)\n"
          "  --threads N     event-loop threads (default: one per CPU it may run on)\n"
          "  --interop       also serve grpc.testing.TestService, for gRPC's interop clients\n"
          "Serves helloworld.Greeter (SayHello, SayHelloStreamReply, SayHelloBidiStream) over\n"
          "h2c. SIGINT/SIGTERM: graceful shutdown (in-flight calls finish), exit 0.\n",
          f);
}

int cli_serve_main(int argc, char **argv)
{
    const char *listen = "[::]:50051";
    int interop = 0;
    rpc_server_opts o;
    rpc_server_opts_default(&o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return CLI_EXIT_OK;
        } else if (!strcmp(a, "--interop")) {
            interop = 1;
        } else if (!strcmp(a, "--listen") && i + 1 < argc) {
            listen = argv[++i];
        } else if (!strncmp(a, "--listen=", 9)) {
            listen = a + 9;
        } else if (!strcmp(a, "--threads") && i + 1 < argc) {
            char *end;
            long n = strtol(argv[++i], &end, 10);
            if (*end || n < 1 || n > 64) {
                cli_err("--threads wants 1..64");
                return CLI_EXIT_USAGE;
            }
            o.threads = (int)n;
        } else {
            cli_err("serve: unknown or incomplete option '%s'", a);
            usage(stderr);
            return CLI_EXIT_USAGE;
        }
    }
    rpc_server *s = rpc_server_new(&o);
    char bound[128];
    int rc = s ? rpc_greeter_register(s) : GW_ENOMEM;
    if (!rc && interop)
        rc = rpc_interop_register(s);
    if (rc) {
        cli_err("serve: %s", gw_strerror(rc));
        rpc_server_del(s);
        return CLI_EXIT_FAIL;
    }
    rc = rpc_server_listen(s, listen, bound, sizeof bound);
    if (rc) {
        if (rc == GW_ESYS)
            cli_err("failed to listen on %s: %m", listen);
        else
            cli_err("failed to listen on %s: %s", listen, rc == GW_EINVAL ? "bad address" : gw_strerror(rc));
        rpc_server_del(s);
        return CLI_EXIT_FAIL;
    }
    g_srv = s;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    rc = rpc_server_start(s);
    if (rc) {
        cli_err("serve: cannot start: %s", gw_strerror(rc));
        rpc_server_shutdown(s);
        rpc_server_wait(s);
        g_srv = NULL;
        rpc_server_del(s);
        return CLI_EXIT_FAIL;
    }
    printf("server listening at %s\n", bound);
    fflush(stdout);
    rpc_server_wait(s);
    g_srv = NULL;
    rpc_server_del(s);
    return CLI_EXIT_OK;
}
