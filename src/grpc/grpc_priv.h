/* grpc_priv: helpers shared by the grpc module's own files; not part of its contract. */
#ifndef GRPC_PRIV_H
#define GRPC_PRIV_H
#include <stddef.h>
#include <stdint.h>

/* Base64 as gRPC's -bin headers use it: standard alphabet (URL-safe also taken), padding
 * optional. out needs n*3/4+3 bytes. Returns the decoded length or -1 on a bad character,
 * misplaced padding or a dangling single character. */
ptrdiff_t grpc_base64_decode(const char *s, size_t n, uint8_t *out);

/* Tests only: on = 0 sends every DATA frame through the deframer, with the one-message-per-
 * frame path of grpc_call off, so that differential tests can run the same frames both ways;
 * on = 1 (the default) turns it back on. A process-wide switch, not for concurrent use. */
void grpc_call_fast_path(int on);

#endif
