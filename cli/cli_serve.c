#include "cli.h"
/* Placeholder until src/rpc lands: the rpc helper replaces this file. */
int cli_serve_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    cli_err("serve is not built yet");
    return CLI_EXIT_FAIL;
}
