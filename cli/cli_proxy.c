/* grpcwire proxy: the recording relay (src/rpc/rpc_proxy.h) wired to a pcap writer and to the
 * dissect pipeline with a view, so calls print as they pass and the capture can be opened later.
 * Wiring only. */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "common/gw_err.h"
#include "dissect/dissect.h"
#include "rpc/rpc_proxy.h"
#include "view/view.h"

#define DLT_ETHERNET 1

static rpc_proxy *g_proxy;

static void on_signal(int sig)
{
    (void)sig;
    if (g_proxy)
        rpc_proxy_stop(g_proxy); /* async-signal-safe: an eventfd write */
}

static void usage(FILE *f)
{
    fputs("usage: grpcwire proxy --listen ADDR --to ADDR [-w FILE] [view options]\n"
          "\n"
          "A TCP relay that needs no privileges: accepts on --listen, connects each client to\n"
          "--to, relays both ways, decodes the gRPC it carries as it passes, and with -w writes a\n"
          "pcap that Wireshark and tshark open as if captured on the wire between client and\n"
          "server (synthesized Ethernet/IP/TCP: handshake, sequence and ack numbers, FIN or RST).\n"
          "\n"
          "  --listen ADDR       where clients connect: 127.0.0.1:8080, [::1]:8080, :8080\n"
          "  --to ADDR           the server: host:port\n"
          "  -w FILE             also write the synthesized packets to FILE (pcap, '-' stdout)\n"
          "  --mss N             payload bytes per synthesized segment (default 65483)\n"
          "  --max-conns N       connections relayed at once (default 1024)\n"
          "Views, as in 'grpcwire read': the call log (default), --frames, -V/--tree,\n"
          "  --conversations, --stats, --json[=messages], --explain, --stream N, --conn N,\n"
          "  --h2-port PORT, -c COUNT (stop after COUNT records), --color=WHEN, -q (no log)\n"
          "SIGINT/SIGTERM: open connections are cut (recorded as RST), the summary is printed,\n"
          "exit 0.\n",
          f);
}

typedef struct pstate {
    dissect *d;
    view *v;
    cap_writer *wr;
    const char *wfile;
    uint64_t no;
    int quiet;
    int failed;
} pstate;

static void on_packet(void *u, int64_t ts_ns, const uint8_t *data, uint32_t len)
{
    pstate *st = u;
    cap_packet pkt;
    memset(&pkt, 0, sizeof pkt);
    pkt.no = ++st->no;
    pkt.ts_ns = ts_ns;
    pkt.caplen = pkt.wirelen = len;
    pkt.linktype = DLT_ETHERNET;
    pkt.file_offset = UINT64_MAX;
    pkt.data = data;
    if (st->wr && !st->failed && cap_writer_write(st->wr, ts_ns, data, len, len)) {
        cli_err("%s: write failed", st->wfile);
        st->failed = 1;
        rpc_proxy_stop(g_proxy);
    }
    if (dissect_packet(st->d, &pkt) == GW_ENOMEM) {
        cli_err("out of memory at packet %" PRIu64, pkt.no);
        st->failed = 1;
        rpc_proxy_stop(g_proxy);
    }
    if (view_done(st->v))
        rpc_proxy_stop(g_proxy);
}

static void on_event(void *u, int ev, const char *client, const char *server, const char *what)
{
    pstate *st = u;
    if (st->wr)
        cap_writer_flush(st->wr); /* a capture that can be opened while the proxy runs */
    if (st->quiet)
        return;
    fprintf(stderr, "grpcwire: proxy: %s \xe2\x86\x92 %s %s\n", client[0] ? client : "?",
            server[0] ? server : "?", ev == RPC_PROXY_OPEN ? "open" : what);
}

static int num(const char *s, unsigned long max, unsigned long *out)
{
    char *end;
    if (!s || !*s || *s == '-')
        return -1;
    unsigned long v = strtoul(s, &end, 10);
    if (*end || v == 0 || v > max)
        return -1;
    *out = v;
    return 0;
}

int cli_proxy_main(int argc, char **argv)
{
    rpc_proxy_opts po;
    view_opts vo;
    dissect_opts dopts;
    pstate st;
    int kind = VIEW_CALLS, rc = CLI_EXIT_OK;
    const char *color = "auto";
    rpc_proxy_opts_default(&po);
    view_opts_default(&vo);
    dissect_opts_default(&dopts);
    memset(&st, 0, sizeof st);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        unsigned long n;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return CLI_EXIT_OK;
        } else if (!strcmp(a, "--listen") && val) {
            po.listen = argv[++i];
        } else if (!strncmp(a, "--listen=", 9)) {
            po.listen = a + 9;
        } else if (!strcmp(a, "--to") && val) {
            po.to = argv[++i];
        } else if (!strncmp(a, "--to=", 5)) {
            po.to = a + 5;
        } else if (!strcmp(a, "-w") && val) {
            st.wfile = argv[++i];
        } else if (!strcmp(a, "--mss") && val) {
            if (num(argv[++i], RPC_PROXY_MAX_SEG, &n) || n < 64) {
                cli_err("--mss takes 64 to %d", RPC_PROXY_MAX_SEG);
                return CLI_EXIT_USAGE;
            }
            po.mss = (uint32_t)n;
        } else if (!strcmp(a, "--max-conns") && val) {
            if (num(argv[++i], 1000000, &n)) {
                cli_err("--max-conns takes a positive count");
                return CLI_EXIT_USAGE;
            }
            po.max_conns = (unsigned)n;
        } else if (!strcmp(a, "--frames")) {
            kind = VIEW_FRAMES;
        } else if (!strcmp(a, "-V") || !strcmp(a, "--tree")) {
            kind = VIEW_TREE;
        } else if (!strcmp(a, "--conversations")) {
            kind = VIEW_CONV;
        } else if (!strcmp(a, "--stats")) {
            kind = VIEW_STATS;
        } else if (!strcmp(a, "--json") || !strcmp(a, "--json=calls")) {
            vo.json = VIEW_JSON_CALLS;
        } else if (!strcmp(a, "--json=messages")) {
            vo.json = VIEW_JSON_MESSAGES;
        } else if (!strcmp(a, "--explain")) {
            vo.explain = 1;
        } else if (!strcmp(a, "-c") && val) {
            if (num(argv[++i], ~0UL, &n)) {
                cli_err("-c takes a positive count");
                return CLI_EXIT_USAGE;
            }
            vo.max_count = n;
        } else if ((!strcmp(a, "--stream") || !strcmp(a, "--conn")) && val) {
            char *end;
            unsigned long long v = strtoull(argv[++i], &end, 10);
            if (*end || !*argv[i] || v > 0x7fffffff) {
                cli_err("%s takes a number", a);
                return CLI_EXIT_USAGE;
            }
            if (a[2] == 's')
                vo.stream = (int64_t)v;
            else
                vo.conn = (int64_t)v;
        } else if (!strcmp(a, "--h2-port") && val) {
            if (num(argv[++i], 65535, &n) || dopts.n_h2_ports == DISSECT_MAX_H2_PORTS) {
                cli_err("--h2-port takes a port number (at most %d)", DISSECT_MAX_H2_PORTS);
                return CLI_EXIT_USAGE;
            }
            dopts.h2_ports[dopts.n_h2_ports++] = (uint16_t)n;
        } else if (!strncmp(a, "--color=", 8) || !strncmp(a, "--colour=", 9)) {
            color = strchr(a, '=') + 1;
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            st.quiet = 1;
        } else {
            cli_err("proxy: unknown or incomplete option '%s'", a);
            usage(stderr);
            return CLI_EXIT_USAGE;
        }
    }
    if (!po.listen || !po.to) {
        cli_err("proxy needs --listen ADDR and --to ADDR");
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    vo.out = stdout;
    vo.color = cli_want_color(color);
    vo.line_flush = 1;
    dopts.no_grpc = kind == VIEW_CONV;

    char msg[512], bound[128];
    dissect_sink sink;
    if (st.wfile && cap_writer_open(&st.wr, st.wfile, DLT_ETHERNET, 262144, msg, sizeof msg)) {
        cli_err("%s", msg);
        return CLI_EXIT_FAIL;
    }
    if (view_new(&st.v, kind, &vo, &sink) || dissect_new(&st.d, &dopts, &sink)) {
        cli_err("out of memory");
        rc = CLI_EXIT_FAIL;
        goto out;
    }
    rpc_proxy_cbs cb = {on_packet, on_event, &st};
    g_proxy = rpc_proxy_new(&po, &cb, bound, sizeof bound, msg, sizeof msg);
    if (!g_proxy) {
        cli_err("proxy: %s", msg);
        rc = CLI_EXIT_FAIL;
        goto out;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (!st.quiet)
        fprintf(stderr, "grpcwire: proxy listening at %s, relaying to %s%s%s\n", bound, po.to,
                st.wfile ? ", recording to " : "", st.wfile ? st.wfile : "");
    if (rpc_proxy_run(g_proxy)) {
        cli_err("proxy: event loop failed");
        rc = CLI_EXIT_FAIL;
    }
    dissect_finish(st.d);
    if (view_finish(st.v)) {
        cli_err("writing output failed");
        rc = CLI_EXIT_FAIL;
    }
    if (st.failed)
        rc = CLI_EXIT_FAIL;
    if (!st.quiet) {
        const dissect_stats dss = dissect_get_stats(st.d), *ds = &dss;
        fprintf(stderr, "grpcwire: %" PRIu64 " connections relayed, %" PRIu64
                        " packets recorded, %" PRIu64 " calls\n",
                rpc_proxy_total(g_proxy), st.no, ds->calls);
    }
out:
    rpc_proxy_del(g_proxy);
    g_proxy = NULL;
    dissect_del(st.d);
    view_del(st.v);
    if (st.wr) {
        if (cap_writer_flush(st.wr)) {
            cli_err("%s: write failed", st.wfile);
            rc = CLI_EXIT_FAIL;
        }
        cap_writer_del(st.wr);
    }
    return rc;
}
