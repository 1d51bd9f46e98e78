/* grpcwire demo: the seed's walk-through in one command, with no root, no network and no other
 * program. Our Greeter server on a free loopback port, the recording proxy in front of it (a
 * thread), our client's SayHello("world") through the proxy, then the recorded capture read back
 * with the views the seed used. Wiring only. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "common/gw_buf.h"
#include "common/gw_err.h"
#include "common/gw_mem.h"
#include "grpc/grpc_call.h"
#include "rpc/rpc.h"
#include "rpc/rpc_proxy.h"
#include "capture/cap.h"

#define DLT_ETHERNET 1

typedef struct demo {
    rpc_proxy *proxy;
    cap_writer *wr;
    int write_failed;
    int run_rc;
} demo;

static void on_packet(void *u, int64_t ts_ns, const uint8_t *data, uint32_t len)
{
    demo *d = u;
    if (!d->write_failed && cap_writer_write(d->wr, ts_ns, data, len, len))
        d->write_failed = 1;
}

static void *proxy_thread(void *u)
{
    demo *d = u;
    d->run_rc = rpc_proxy_run(d->proxy);
    return NULL;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void usage(FILE *f)
{
    fputs("usage: grpcwire demo [-w FILE] [--name NAME] [--color=WHEN]\n"
          "Starts the Greeter server on a free loopback port and the recording proxy in front of\n"
          "it, calls SayHello(NAME) through the proxy, then shows what went over the wire: the\n"
          "packets, the request and response layer by layer, the call, and every frame\n"
          "explained. Writes the capture to FILE (default grpcwire-demo.pcap). No root needed.\n",
          f);
}

/* One step of the walk-through: the command a reader can type, then its output. */
static int step(const char *title, const char *const *args, int n, const char *color)
{
    char *argv[16];
    char colorarg[32];
    int argc = 0;
    printf("\n== %s\n$ grpcwire read", title);
    for (int i = 0; i < n; i++)
        printf(" %s", args[i]);
    printf("\n\n");
    fflush(stdout);
    argv[argc++] = (char *)"read";
    snprintf(colorarg, sizeof colorarg, "--color=%s", color);
    argv[argc++] = colorarg;
    argv[argc++] = (char *)"-q";
    for (int i = 0; i < n && argc < 15; i++)
        argv[argc++] = (char *)args[i];
    argv[argc] = NULL;
    int rc = cli_read_main(argc, argv, 0);
    fflush(stdout);
    return rc;
}

int cli_demo_main(int argc, char **argv)
{
    const char *wfile = "grpcwire-demo.pcap", *name = "world", *color = "auto";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return CLI_EXIT_OK;
        } else if (!strcmp(a, "-w") && i + 1 < argc) {
            wfile = argv[++i];
        } else if (!strcmp(a, "--name") && i + 1 < argc) {
            name = argv[++i];
        } else if (!strncmp(a, "--color=", 8)) {
            color = a + 8;
        } else {
            cli_err("demo: unknown or incomplete option '%s'", a);
            usage(stderr);
            return CLI_EXIT_USAGE;
        }
    }
    if (strcmp(wfile, "-") == 0) {
        cli_err("demo: -w needs a file (the walk-through reads it back)");
        return CLI_EXIT_USAGE;
    }
    signal(SIGPIPE, SIG_IGN);

    int rc = CLI_EXIT_FAIL, started = 0, thread = 0;
    char msg[512], sbound[128], pbound[128], to[160];
    demo d;
    pthread_t th;
    memset(&d, 0, sizeof d);
    rpc_channel *ch = NULL;
    gw_buf req, reply;
    gw_buf_init(&req, 0);
    gw_buf_init(&reply, 0);

    /* 1. The server: one loop thread, a free port on 127.0.0.1. */
    rpc_server_opts so;
    rpc_server_opts_default(&so);
    so.threads = 1;
    rpc_server *srv = rpc_server_new(&so);
    if (!srv || rpc_greeter_register(srv) ||
        rpc_server_listen(srv, "127.0.0.1:0", sbound, sizeof sbound) || rpc_server_start(srv)) {
        cli_err("demo: cannot start the Greeter server on 127.0.0.1");
        goto out;
    }
    started = 1;
    const char *colon = strrchr(sbound, ':');
    const char *sport = colon ? colon + 1 : "50051";
    snprintf(to, sizeof to, "127.0.0.1:%s", sport);

    /* 2. The recording proxy in front of it. */
    if (cap_writer_open(&d.wr, wfile, DLT_ETHERNET, 262144, msg, sizeof msg)) {
        cli_err("demo: %s", msg);
        goto out;
    }
    rpc_proxy_opts po;
    rpc_proxy_opts_default(&po);
    po.listen = "127.0.0.1:0";
    po.to = to;
    rpc_proxy_cbs cb = {on_packet, NULL, &d};
    d.proxy = rpc_proxy_new(&po, &cb, pbound, sizeof pbound, msg, sizeof msg);
    if (!d.proxy) {
        cli_err("demo: proxy: %s", msg);
        goto out;
    }
    if (pthread_create(&th, NULL, proxy_thread, &d) != 0) {
        cli_err("demo: cannot start the proxy thread");
        goto out;
    }
    thread = 1;
    printf("server listening at %s (helloworld.Greeter)\n", to);
    printf("recording proxy at %s \xe2\x86\x92 %s, writing %s\n", pbound, to, wfile);

    /* 3. The client, as grpc-go's greeter_client does it: SayHello with a 1 s deadline. */
    ch = rpc_channel_new(pbound, msg, sizeof msg);
    if (!ch) {
        cli_err("demo: could not connect to the proxy at %s: %s", pbound, msg);
        goto out;
    }
    rpc_call_opts co;
    memset(&co, 0, sizeof co);
    co.timeout_ms = 1000;
    char *gmsg = NULL;
    rpc_hello_encode(&req, name, strlen(name));
    int st = rpc_unary(ch, "/helloworld.Greeter/SayHello", req.data ? req.data : (const uint8_t *)"",
                       req.len, &co, &reply, &gmsg);
    const char *greet;
    size_t glen;
    if (st == RPC_OK && rpc_hello_decode(reply.data, reply.len, &greet, &glen) == 0) {
        printf("Greeting: %.*s\n", (int)glen, greet);
    } else {
        cli_err("demo: SayHello failed: %s", st < 0 ? gw_strerror(st) : grpc_status_name(st));
        gw_free(gmsg);
        goto out;
    }
    gw_free(gmsg);
    fflush(stdout);
    rpc_channel_del(ch); /* the client closes: FIN, the server answers with its own */
    ch = NULL;
    for (int i = 0; i < 300 && rpc_proxy_active(d.proxy) > 0; i++)
        sleep_ms(10);
    rpc_proxy_stop(d.proxy);
    pthread_join(th, NULL);
    thread = 0;
    if (cap_writer_flush(d.wr) || d.write_failed) {
        cli_err("demo: writing %s failed", wfile);
        goto out;
    }
    cap_writer_del(d.wr);
    d.wr = NULL;

    /* 4. The walk-through, from the recorded packets. */
    const char *frames[] = {"--frames", wfile};
    const char *tree[] = {"-V", "--stream", "1", wfile};
    const char *calls[] = {wfile};
    const char *explain[] = {"--frames", "--explain", wfile};
    int r = step("The packets: TCP handshake, the HTTP/2 preface and SETTINGS, the call on "
                 "stream 1, the close", frames, 2, color);
    if (!r)
        r = step("The request and the response, layer by layer (packets with frames of stream 1)",
                 tree, 4, color);
    if (!r)
        r = step("The call, as the call log shows it", calls, 1, color);
    if (!r)
        r = step("Every frame explained", explain, 3, color);
    if (r) {
        cli_err("demo: reading %s back failed", wfile);
        goto out;
    }
    printf("\n== Open the capture yourself\n"
           "  wireshark %s\n"
           "  tshark -r %s -d tcp.port==%s,http2 -V\n"
           "  grpcwire read -V %s\n",
           wfile, wfile, sport, wfile);
    rc = CLI_EXIT_OK;
out:
    fflush(stdout);
    rpc_channel_del(ch);
    if (thread) {
        rpc_proxy_stop(d.proxy);
        pthread_join(th, NULL);
    }
    rpc_proxy_del(d.proxy);
    if (d.wr) {
        cap_writer_flush(d.wr);
        cap_writer_del(d.wr);
    }
    if (srv) {
        if (started) {
            rpc_server_shutdown(srv);
            rpc_server_wait(srv);
        }
        rpc_server_del(srv);
    }
    gw_buf_free(&req);
    gw_buf_free(&reply);
    return rc;
}
