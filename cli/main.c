/* grpcwire: see and speak gRPC on the wire. Subcommand dispatch. */
#include <stdarg.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

void cli_err(const char *fmt, ...)
{
    va_list ap;
    fputs("grpcwire: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int cli_want_color(const char *mode)
{
    if (mode && strcmp(mode, "always") == 0)
        return 1;
    if (mode && strcmp(mode, "never") == 0)
        return 0;
    const char *nc = getenv("NO_COLOR");
    if (nc && *nc)
        return 0;
    return isatty(STDOUT_FILENO);
}

static void usage(FILE *f)
{
    fputs("usage: grpcwire <command> [options]\n"
          "\n"
          "See gRPC on the wire:\n"
          "  read     dissect a pcap/pcapng file: calls, frames, tree, JSON, statistics\n"
          "  live     the same, live from a network interface\n"
          "  proxy    record without root: a TCP relay that decodes and writes a pcap\n"
          "  demo     the seed's walk-through in one command: server, client, proxy, views\n"
          "\n"
          "Speak gRPC:\n"
          "  serve    the helloworld Greeter server\n"
          "  call     a Greeter client: SayHello and friends\n"
          "\n"
          "Options for every command: --help. grpcwire --version prints the version.\n"
          "See grpcwire(1) for the whole manual.\n",
          f);
}

int main(int argc, char **argv)
{
#ifdef M_MMAP_THRESHOLD
    /* glibc raises its mmap threshold each time a large block is freed, after which megabyte
     * messages come from the heap and fragment it: peak RSS then grew with the capture (a 512 MiB
     * mix of small calls and 1 MB messages, --json=messages: 39 -> 67 MiB with two threads).
     * A fixed threshold keeps large blocks in their own mappings. */
    mallopt(M_MMAP_THRESHOLD, 256 << 10);
#endif
    if (argc < 2) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-v") == 0 || strcmp(cmd, "version") == 0) {
        printf("grpcwire %s\n", GW_VERSION);
        return CLI_EXIT_OK;
    }
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(cmd, "read") == 0)
        return cli_read_main(argc - 1, argv + 1, 0);
    if (strcmp(cmd, "live") == 0)
        return cli_read_main(argc - 1, argv + 1, 1);
    if (strcmp(cmd, "serve") == 0)
        return cli_serve_main(argc - 1, argv + 1);
    if (strcmp(cmd, "call") == 0)
        return cli_call_main(argc - 1, argv + 1);
    if (strcmp(cmd, "proxy") == 0)
        return cli_proxy_main(argc - 1, argv + 1);
    if (strcmp(cmd, "demo") == 0)
        return cli_demo_main(argc - 1, argv + 1);
    cli_err("unknown command '%s' (try grpcwire --help)", cmd);
    return CLI_EXIT_USAGE;
}
