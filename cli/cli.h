/* cli: argument parsing and wiring only. Each subcommand is one file with one entry point;
 * cli_spec.c runs the reflection scan beside read's main pass. */
#ifndef CLI_H
#define CLI_H
#include <stddef.h>
#include <stdio.h>

/* Exit codes, as tcpdump/grpcurl users expect them. */
#define CLI_EXIT_OK 0
#define CLI_EXIT_FAIL 1  /* runtime failure: bad or damaged input, I/O error */
#define CLI_EXIT_USAGE 2 /* bad arguments */

int cli_read_main(int argc, char **argv, int live);
int cli_serve_main(int argc, char **argv); /* cli_serve.c */
int cli_call_main(int argc, char **argv);  /* cli_call.c */
int cli_proxy_main(int argc, char **argv); /* cli_proxy.c */
int cli_demo_main(int argc, char **argv);  /* cli_demo.c */

/* A scan of a capture file for needles (cap_scan) on a thread of its own, while the caller
 * reads the file as if none were there, writing to cli_spec_out: that output is held (up to a
 * few MiB; more waits for the scan) until the scan has found nothing, then goes to fd, and
 * what follows goes straight there. When a needle is found the output is dropped and
 * cli_spec_found says so: the caller starts again without speculating. cli_spec.c. */
typedef struct cli_spec cli_spec;
struct cap_needle;
/* NULL when no thread or memory: scan first, then read. The needles must outlive the scan.
 * threads: the scan's reading threads (0: as many as pay). */
cli_spec *cli_spec_start(const char *file, const struct cap_needle *nd, size_t nnd,
                         unsigned threads, int fd);
FILE *cli_spec_out(cli_spec *s);
/* Waits for the scan: 1 when it found a needle (what was written is dropped), else 0. */
int cli_spec_found(cli_spec *s);
/* Waits for the scan, lets out what is held unless dropped, frees s. Nonzero when writing
 * failed. NULL is fine. */
int cli_spec_end(cli_spec *s);

/* "grpcwire: " + message on stderr. */
void cli_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Colour decision: --color=always|never|auto; auto = stdout is a tty and NO_COLOR is unset. */
int cli_want_color(const char *mode);

#endif
