/* cli: argument parsing and wiring only. Each subcommand is one file with one entry point. */
#ifndef CLI_H
#define CLI_H

/* Exit codes, as tcpdump/grpcurl users expect them. */
#define CLI_EXIT_OK 0
#define CLI_EXIT_FAIL 1  /* runtime failure: bad or damaged input, I/O error */
#define CLI_EXIT_USAGE 2 /* bad arguments */

int cli_read_main(int argc, char **argv, int live);
int cli_serve_main(int argc, char **argv); /* cli_serve.c */
int cli_call_main(int argc, char **argv);  /* cli_call.c */
int cli_proxy_main(int argc, char **argv); /* cli_proxy.c */
int cli_demo_main(int argc, char **argv);  /* cli_demo.c */

/* "grpcwire: " + message on stderr. */
void cli_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Colour decision: --color=always|never|auto; auto = stdout is a tty and NO_COLOR is unset. */
int cli_want_color(const char *mode);

#endif
